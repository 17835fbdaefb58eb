//! `GET /system/df`, read by hand.
//!
//! bollard models only the API 1.52 shape of this response (`VolumeUsage`,
//! `ContainerUsage`), so against engines 20-28 its typed call returns
//! nothing. We send the request over our own HTTP/1.1 connection and accept
//! both shapes: the legacy top-level `Volumes`/`Containers` arrays and the
//! newer `*Usage.Items`.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use serde::Deserialize;

/// Sizes the engine reports, keyed by volume name and container id.
/// A size of -1 (the engine's "not computed") is left out.
#[derive(Debug, Default)]
pub struct DiskUsage {
    pub volumes: HashMap<String, i64>,
    pub containers_rw: HashMap<String, i64>,
}

#[derive(Deserialize, Default)]
struct Raw {
    #[serde(rename = "Volumes", default)]
    volumes: Option<Vec<RawVolume>>,
    #[serde(rename = "Containers", default)]
    containers: Option<Vec<RawContainer>>,
    #[serde(rename = "VolumeUsage", default)]
    volume_usage: Option<Items<RawVolume>>,
    #[serde(rename = "ContainerUsage", default)]
    container_usage: Option<Items<RawContainer>>,
}

#[derive(Deserialize)]
struct Items<T> {
    #[serde(rename = "Items", default = "Vec::new")]
    items: Vec<T>,
}

#[derive(Deserialize)]
struct RawVolume {
    #[serde(rename = "Name")]
    name: String,
    #[serde(rename = "UsageData", default)]
    usage: Option<RawUsage>,
}

#[derive(Deserialize)]
struct RawUsage {
    #[serde(rename = "Size")]
    size: i64,
}

#[derive(Deserialize)]
struct RawContainer {
    #[serde(rename = "Id")]
    id: String,
    #[serde(rename = "SizeRw", default)]
    size_rw: Option<i64>,
}

pub fn parse(body: &[u8]) -> Result<DiskUsage> {
    let raw: Raw = serde_json::from_slice(body).context("unexpected /system/df response")?;
    let vols = raw.volumes.into_iter().flatten().chain(raw.volume_usage.into_iter().flat_map(|u| u.items));
    let ctrs = raw.containers.into_iter().flatten().chain(raw.container_usage.into_iter().flat_map(|u| u.items));
    Ok(DiskUsage {
        volumes: vols.filter_map(|v| v.usage.map(|u| (v.name, u.size)).filter(|(_, s)| *s >= 0)).collect(),
        // The engine omits `SizeRw` when it is 0 (Go's omitempty).
        containers_rw: ctrs
            .filter_map(|c| Some(c.size_rw.unwrap_or(0)).filter(|s| *s >= 0).map(|s| (c.id, s)))
            .collect(),
    })
}

/// GET `path` (already versioned, e.g. `/v1.41/system/df`) from the engine.
pub async fn get(host: &str, path: &str, timeout: Duration) -> Result<Vec<u8>> {
    let fut = async {
        if let Some(sock) = host.strip_prefix("unix://") {
            let stream =
                tokio::net::UnixStream::connect(sock).await.with_context(|| format!("cannot connect to {sock}"))?;
            request(TokioIo::new(stream), path).await
        } else if let Some(addr) = host.strip_prefix("tcp://").or_else(|| host.strip_prefix("http://")) {
            let stream = tokio::net::TcpStream::connect(addr.trim_end_matches('/'))
                .await
                .with_context(|| format!("cannot connect to {addr}"))?;
            request(TokioIo::new(stream), path).await
        } else {
            bail!("unsupported Docker host `{host}`")
        }
    };
    tokio::time::timeout(timeout, fut).await.map_err(|_| anyhow!("no answer within {}s", timeout.as_secs()))?
}

async fn request<T>(io: TokioIo<T>, path: &str) -> Result<Vec<u8>>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io).await?;
    let driver = tokio::spawn(conn);
    let req = hyper::Request::get(path).header(hyper::header::HOST, "docker").body(Empty::<Bytes>::new())?;
    let res = sender.send_request(req).await?;
    let status = res.status();
    let body = res.into_body().collect().await?.to_bytes();
    driver.abort();
    if !status.is_success() {
        bail!("{status}: {}", String::from_utf8_lossy(&body).trim());
    }
    Ok(body.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_shape_from_engines_before_api_1_52() {
        let body = br#"{"LayersSize":1,"Images":[],"Containers":[{"Id":"abc","SizeRw":4096},{"Id":"def"},{"Id":"ghi","SizeRw":-1}],
            "Volumes":[{"Name":"data","UsageData":{"Size":1048576,"RefCount":1}},
                       {"Name":"uncounted","UsageData":{"Size":-1,"RefCount":-1}}],"BuildCache":null}"#;
        let du = parse(body).unwrap();
        assert_eq!(du.volumes.get("data"), Some(&1_048_576));
        assert_eq!(du.volumes.get("uncounted"), None);
        assert_eq!(du.containers_rw.get("abc"), Some(&4096));
        assert_eq!(du.containers_rw.get("ghi"), None);
        assert_eq!(du.containers_rw.get("def"), Some(&0), "omitted SizeRw is 0");
    }

    #[test]
    fn new_shape_from_api_1_52() {
        let body = br#"{"VolumeUsage":{"TotalSize":5,"Items":[{"Name":"v","UsageData":{"Size":5,"RefCount":0}}]},
            "ContainerUsage":{"Items":[{"Id":"c","SizeRw":7}]}}"#;
        let du = parse(body).unwrap();
        assert_eq!(du.volumes.get("v"), Some(&5));
        assert_eq!(du.containers_rw.get("c"), Some(&7));
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(parse(b"not json").is_err());
    }
}
