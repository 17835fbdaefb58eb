//! Where an engine listens and how a byte stream to it is opened: a unix
//! socket, plain TCP, or TCP with TLS. bollard (through a custom transport,
//! for TLS) and the raw requests in `raw.rs` both open their connections
//! here, so the two can never disagree about how an engine is reached.

use anyhow::{Result, bail};
use tokio::io::{AsyncRead, AsyncWrite};

use super::tls::{self, Env};
use crate::config::DockerConfig;

/// The ports the docker CLI assumes for a `tcp://` address without one.
const PLAIN_PORT: &str = "2375";
const TLS_PORT: &str = "2376";

#[derive(Debug, Clone)]
pub enum Endpoint {
    /// Path of the socket.
    Unix(String),
    /// `host:port`.
    Tcp(String),
    /// `host:port`, and the TLS client for it.
    Tls { addr: String, client: tls::Client },
}

/// A connection to an engine, whichever kind.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

impl Endpoint {
    /// Parses `host` (`unix://`, `tcp://`, `http://`, `https://`) and, for
    /// TLS, loads the certificates now, so their problems are reported
    /// before anything is sent.
    pub fn resolve(host: &str, docker: &DockerConfig, env: Env) -> Result<Endpoint> {
        if let Some(path) = host.strip_prefix("unix://") {
            return Ok(Endpoint::Unix(path.to_string()));
        }
        let Some(addr) = ["tcp://", "http://", "https://"].iter().find_map(|s| host.strip_prefix(s)) else {
            bail!(
                "unsupported Docker host `{host}`; use unix:///path/to/docker.sock, tcp://host:port \
                 (TLS with DOCKER_TLS_VERIFY or [docker] tls_verify) or https://host:port"
            );
        };
        let addr = addr.trim_end_matches('/');
        if addr.is_empty() || addr.contains('/') {
            bail!("unsupported Docker host `{host}`; a TCP engine is tcp://host:port, without a path");
        }
        let dir = tls::for_engine(host, docker, env)?;
        let with_port = |default: &str| match tls::split_port(addr) {
            (_, Some(_)) => addr.to_string(),
            (h, None) => format!("{h}:{default}"),
        };
        Ok(match dir {
            None => Endpoint::Tcp(with_port(PLAIN_PORT)),
            Some(dir) => {
                let addr = with_port(TLS_PORT);
                let client = tls::load(host, &addr, &dir)?;
                Endpoint::Tls { addr, client }
            }
        })
    }

    pub fn tls(&self) -> Option<&tls::Client> {
        match self {
            Endpoint::Tls { client, .. } => Some(client),
            _ => None,
        }
    }

    /// `host:port` for TCP engines.
    pub fn addr(&self) -> Option<&str> {
        match self {
            Endpoint::Unix(_) => None,
            Endpoint::Tcp(a) | Endpoint::Tls { addr: a, .. } => Some(a),
        }
    }

    /// A connected stream, the TLS handshake done. A TLS failure is an
    /// `io::Error` carrying the `rustls::Error` (see `tls::rustls_error`).
    pub async fn open(&self) -> std::io::Result<Box<dyn Io>> {
        Ok(match self {
            Endpoint::Unix(path) => Box::new(tokio::net::UnixStream::connect(path).await?),
            Endpoint::Tcp(addr) => Box::new(tokio::net::TcpStream::connect(addr.as_str()).await?),
            Endpoint::Tls { addr, client } => {
                let tcp = tokio::net::TcpStream::connect(addr.as_str()).await?;
                let connector = tokio_rustls::TlsConnector::from(client.config.clone());
                Box::new(connector.connect(client.server_name.clone(), tcp).await?)
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(host: &str) -> Result<Endpoint> {
        Endpoint::resolve(host, &DockerConfig::default(), &|_| None)
    }

    #[test]
    fn addresses_parse_with_the_docker_cli_default_ports() {
        assert!(matches!(resolve("unix:///x.sock").unwrap(), Endpoint::Unix(p) if p == "/x.sock"));
        assert!(matches!(resolve("tcp://h:1234/").unwrap(), Endpoint::Tcp(a) if a == "h:1234"));
        assert!(matches!(resolve("tcp://h").unwrap(), Endpoint::Tcp(a) if a == "h:2375"));
        assert!(matches!(resolve("http://[::1]").unwrap(), Endpoint::Tcp(a) if a == "[::1]:2375"));
        assert!(resolve("ftp://x").unwrap_err().to_string().contains("unsupported Docker host"));
        assert!(resolve("tcp://h:1/v1.41").unwrap_err().to_string().contains("without a path"));
    }
}
