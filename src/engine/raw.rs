//! Plain HTTP/1.1 GETs to the engine, for the calls bollard cannot make for
//! us: the unversioned `/version` that API negotiation needs, `/system/df`
//! in the shape engines before API 1.52 send, and the label re-checks before
//! a prune removes something (read as plain JSON, so no field of a newer or
//! older engine's answer can make the safety check fail to parse).

use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;

/// GET `path` (`/version`, `/v1.41/system/df`) from the engine at `host`.
pub async fn get(host: &str, path: &str, timeout: Duration) -> Result<Vec<u8>> {
    let (status, body) = get_with_status(host, path, timeout).await?;
    if !status.is_success() {
        bail!("{status}: {}", String::from_utf8_lossy(&body).trim());
    }
    Ok(body)
}

/// GET returning the status too, for callers that treat 404 ("gone") as an
/// answer rather than an error.
pub async fn get_with_status(host: &str, path: &str, timeout: Duration) -> Result<(hyper::StatusCode, Vec<u8>)> {
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

async fn request<T>(io: TokioIo<T>, path: &str) -> Result<(hyper::StatusCode, Vec<u8>)>
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
    Ok((status, body.to_vec()))
}
