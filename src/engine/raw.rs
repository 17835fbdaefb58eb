//! Plain HTTP/1.1 requests to the engine, over whatever `Endpoint` reaches
//! it. Used for the calls bollard cannot make for us: the unversioned
//! `/version` that API negotiation needs, `/system/df` in the shape engines
//! before API 1.52 send, and the label re-checks before a prune removes
//! something (read as plain JSON, so no field of a newer or older engine's
//! answer can make the safety check fail to parse). `send` is also
//! bollard's transport to TLS engines.

use std::time::Duration;

use anyhow::{Result, anyhow, bail};
use http_body_util::{BodyExt, Empty};
use hyper::body::{Body, Bytes, Incoming};
use hyper_util::rt::TokioIo;

use super::endpoint::Endpoint;

/// GET `path` (`/version`, `/v1.41/system/df`) from the engine.
pub async fn get(ep: &Endpoint, path: &str, timeout: Duration) -> Result<Vec<u8>> {
    let (status, body) = get_with_status(ep, path, timeout).await?;
    if !status.is_success() {
        bail!("{status}: {}", String::from_utf8_lossy(&body).trim());
    }
    Ok(body)
}

/// GET returning the status too, for callers that treat 404 ("gone") as an
/// answer rather than an error.
pub async fn get_with_status(ep: &Endpoint, path: &str, timeout: Duration) -> Result<(hyper::StatusCode, Vec<u8>)> {
    let fut = async {
        let req = hyper::Request::get(path).body(Empty::<Bytes>::new())?;
        let res = send(ep, req).await.map_err(|e| match e {
            Failure::Connect(io) => anyhow::Error::new(io).context(format!("cannot connect to {}", target(ep))),
            Failure::Http(h) => anyhow::Error::new(h),
        })?;
        let status = res.status();
        let body = res.into_body().collect().await?.to_bytes();
        Ok((status, body.to_vec()))
    };
    tokio::time::timeout(timeout, fut).await.map_err(|_| anyhow!("no answer within {}s", timeout.as_secs()))?
}

fn target(ep: &Endpoint) -> &str {
    match ep {
        Endpoint::Unix(p) => p,
        Endpoint::Tcp(a) | Endpoint::Tls { addr: a, .. } => a,
    }
}

/// Where an exchange broke: opening the connection (refused, TLS
/// handshake) or the HTTP exchange on it.
#[derive(Debug)]
pub enum Failure {
    Connect(std::io::Error),
    Http(hyper::Error),
}

/// One request on a connection of its own (as bollard's own TLS client
/// does: it keeps no idle connections either). The response body streams;
/// the connection lives until it is read or dropped.
pub async fn send<B>(ep: &Endpoint, mut req: hyper::Request<B>) -> Result<hyper::Response<Incoming>, Failure>
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    // bollard hands over absolute URIs (https://host:port/v1.41/...); an
    // HTTP/1.1 connection wants the path, and dockerd the Host header.
    if let Some(pq) = req.uri().path_and_query().cloned() {
        *req.uri_mut() = hyper::Uri::from(pq);
    }
    let host = ep.addr().unwrap_or("docker");
    if !req.headers().contains_key(hyper::header::HOST) {
        let value = hyper::header::HeaderValue::from_str(host)
            .unwrap_or_else(|_| hyper::header::HeaderValue::from_static("docker"));
        req.headers_mut().insert(hyper::header::HOST, value);
    }
    let io = ep.open().await.map_err(Failure::Connect)?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io)).await.map_err(Failure::Http)?;
    tokio::spawn(conn);
    sender.send_request(req).await.map_err(Failure::Http)
}
