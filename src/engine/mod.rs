//! The only module that talks to Docker. Everything above it sees typed
//! results and errors that already say which engine and what to do.
//!
//! Calls are the cheap ones (list, inspect, one-shot stats) plus at most
//! one `system df` per pass for sizes.

use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use bollard::errors::Error as BollardError;
use bollard::models::{
    ContainerInspectResponse, ContainerStatsResponse, ContainerSummary, ImageSummary, SystemInfo, SystemVersion, Volume,
};
use bollard::query_parameters::{
    InspectContainerOptions, ListContainersOptions, ListImagesOptions, ListVolumesOptions, StatsOptions,
};
use bollard::{API_DEFAULT_VERSION, ClientVersion, Docker};
use futures_util::StreamExt;

pub mod disk_usage;
mod raw;

pub const DEFAULT_HOST: &str = "unix:///var/run/docker.sock";

pub struct Engine {
    docker: Docker,
    /// As given (`unix:///var/run/docker.sock`, `tcp://...`), for messages.
    pub host: String,
    /// The engine runs on this machine, so paths it reports (log files, its
    /// root directory) may be readable here.
    pub local: bool,
    pub api_version: String,
    pub engine_version: String,
    timeout: Duration,
}

fn parse_version(s: &str) -> Option<ClientVersion> {
    let (maj, min) = s.trim().split_once('.')?;
    Some(ClientVersion { major_version: maj.parse().ok()?, minor_version: min.parse().ok()? })
}

fn connect_at(host: &str, timeout: Duration, version: &ClientVersion) -> Result<Docker> {
    let secs = timeout.as_secs().max(1);
    let docker = if unix_path(host).is_some() {
        Docker::connect_with_unix(host, secs, version)
    } else {
        Docker::connect_with_http(host, secs, version)
    };
    docker.map_err(|e| explain(e, host, "connect to"))
}

fn unix_path(host: &str) -> Option<&str> {
    host.strip_prefix("unix://").or_else(|| host.starts_with('/').then_some(host))
}

/// The socket file itself, checked first so the message names the real
/// problem (absent, or not ours to open) instead of a generic I/O error.
fn check_socket(path: &str) -> Result<()> {
    match std::fs::metadata(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(anyhow!(
            "cannot reach the Docker engine: socket {path} does not exist; is dockerd running? \
             (set DOCKER_HOST or --docker-host to another engine)"
        )),
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => Err(anyhow!(
            "cannot reach the Docker engine at unix://{path}: {}",
            hint(std::io::ErrorKind::PermissionDenied).unwrap_or_default()
        )),
        Err(e) => Err(anyhow!("cannot reach the Docker engine: socket {path}: {e}")),
    }
}

fn hint(kind: std::io::ErrorKind) -> Option<&'static str> {
    match kind {
        std::io::ErrorKind::PermissionDenied => Some(
            "permission denied on the socket; run as root or add this user to the `docker` group \
             (then log in again)",
        ),
        std::io::ErrorKind::ConnectionRefused => Some("connection refused; is dockerd running?"),
        std::io::ErrorKind::NotFound => Some("socket not found; is dockerd running?"),
        _ => None,
    }
}

impl Engine {
    /// Connects and negotiates the API version with the engine.
    ///
    /// bollard's own negotiation asks `/vX.Y/version` at bollard's newest
    /// API, which older engines refuse outright ("client version 1.53 is
    /// too new"), and a fixed floor fails on engines that raised their
    /// minimum (Docker 29 refuses anything below 1.44). The unversioned
    /// `/version` is answered by every engine, so we ask that and speak
    /// min(engine, bollard).
    pub async fn connect(host: &str, timeout: Duration) -> Result<Engine> {
        let host = if host.starts_with('/') { format!("unix://{host}") } else { host.to_string() };
        if let Some(path) = unix_path(&host) {
            check_socket(path)?;
        } else if !(host.starts_with("tcp://") || host.starts_with("http://")) {
            bail!("unsupported Docker host `{host}`; use unix:///path/to/docker.sock or tcp://host:port");
        }
        let body = raw::get(&host, "/version", timeout).await.map_err(|e| {
            let kind = e.chain().find_map(|c| c.downcast_ref::<std::io::Error>()).map(|io| io.kind());
            match kind.and_then(hint) {
                Some(h) => anyhow!("cannot reach the Docker engine at {host}: {h}"),
                None => anyhow!("cannot reach the Docker engine at {host}: {e:#}"),
            }
        })?;
        let version: SystemVersion = serde_json::from_slice(&body)
            .with_context(|| format!("the Docker engine at {host} sent an unreadable /version answer"))?;
        let server = version
            .api_version
            .as_deref()
            .and_then(parse_version)
            .ok_or_else(|| anyhow!("the Docker engine at {host} did not say which API version it speaks"))?;
        let chosen = if server < *API_DEFAULT_VERSION { server } else { *API_DEFAULT_VERSION };
        let docker = connect_at(&host, timeout, &chosen)?;
        Ok(Engine {
            docker,
            local: unix_path(&host).is_some(),
            api_version: format!("{}.{}", chosen.major_version, chosen.minor_version),
            engine_version: version.version.unwrap_or_else(|| "unknown".into()),
            timeout,
            host,
        })
    }

    fn api_at_least(&self, major: usize, minor: usize) -> bool {
        parse_version(&self.api_version).is_some_and(|v| (v.major_version, v.minor_version) >= (major, minor))
    }

    pub async fn info(&self) -> Result<SystemInfo> {
        self.docker.info().await.map_err(|e| explain(e, &self.host, "query"))
    }

    /// Every container, running or not, without sizes (sizes come from
    /// `disk_usage`, once, instead of per list).
    pub async fn containers(&self) -> Result<Vec<ContainerSummary>> {
        let opts = ListContainersOptions { all: true, size: false, ..Default::default() };
        self.docker.list_containers(Some(opts)).await.map_err(|e| explain(e, &self.host, "list containers on"))
    }

    /// `None` when the container vanished since it was listed.
    pub async fn inspect(&self, id: &str) -> Result<Option<ContainerInspectResponse>> {
        match self.docker.inspect_container(id, None::<InspectContainerOptions>).await {
            Ok(c) => Ok(Some(c)),
            Err(e) if is_gone(&e) => Ok(None),
            Err(e) => Err(explain(e, &self.host, "inspect a container on")),
        }
    }

    /// One sample of a running container's counters, without the engine's
    /// one-second wait for a second CPU sample (`one-shot`). `None` when the
    /// container stopped or vanished meanwhile.
    pub async fn stats(&self, id: &str) -> Result<Option<ContainerStatsResponse>> {
        let opts = StatsOptions { stream: false, one_shot: true };
        let mut stream = self.docker.stats(id, Some(opts));
        match stream.next().await {
            Some(Ok(s)) => Ok(Some(s)),
            Some(Err(e)) if is_gone(&e) => Ok(None),
            Some(Err(e)) => Err(explain(e, &self.host, "read stats from")),
            None => Ok(None),
        }
    }

    /// The engine's own size accounting: volumes, writable layers, images.
    /// Costly on big hosts (it walks every volume), so called once a pass.
    pub async fn disk_usage(&self) -> Result<disk_usage::DiskUsage> {
        // API 1.42 added `type`, which spares the engine the image and
        // build-cache walks we do not use.
        let filter = if self.api_at_least(1, 42) { "?type=container&type=volume" } else { "" };
        let path = format!("/v{}/system/df{filter}", self.api_version);
        // The engine runs one `system df` at a time and refuses a second
        // with "a disk usage operation is already running" (another tool,
        // another collector of the same engine): wait for it, within the
        // request timeout, instead of losing this pass's sizes.
        let deadline = tokio::time::Instant::now() + self.timeout;
        let body = loop {
            match raw::get(&self.host, &path, self.timeout).await {
                Err(e) if is_df_busy(&e) && tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
                r => {
                    break r.map_err(|e| {
                        anyhow!("cannot read disk usage from the Docker engine at {}: {e:#}", self.host)
                    })?;
                }
            }
        };
        disk_usage::parse(&body)
    }

    pub async fn volumes(&self) -> Result<Vec<Volume>> {
        let list = self
            .docker
            .list_volumes(None::<ListVolumesOptions>)
            .await
            .map_err(|e| explain(e, &self.host, "list volumes on"))?;
        Ok(list.volumes.unwrap_or_default())
    }

    pub async fn images(&self) -> Result<Vec<ImageSummary>> {
        let opts = ListImagesOptions { all: false, ..Default::default() };
        self.docker.list_images(Some(opts)).await.map_err(|e| explain(e, &self.host, "list images on"))
    }
}

fn is_df_busy(e: &anyhow::Error) -> bool {
    format!("{e:#}").contains("disk usage operation is already running")
}

/// 404 (no such container) and 409 (not running) mean the object moved on
/// while we looked: normal on a live engine, not an error.
fn is_gone(e: &BollardError) -> bool {
    matches!(e, BollardError::DockerResponseServerError { status_code: 404 | 409, .. })
}

/// One line: which engine, what we were doing, and the likely fix.
pub fn explain(e: BollardError, host: &str, doing: &str) -> anyhow::Error {
    let io_kind = match &e {
        BollardError::IOError { err } => Some(err.kind()),
        other => io_kind_in(other),
    };
    let text = e.to_string();
    let hint = match io_kind.and_then(hint) {
        Some(h) => Some(h),
        None if matches!(e, BollardError::RequestTimeoutError) => {
            Some("the engine did not answer in time; it may be overloaded (raise [docker] timeout)")
        }
        None => None,
    };
    match (hint, &e) {
        (Some(h), _) => anyhow!("cannot {doing} the Docker engine at {host}: {h}"),
        (None, BollardError::DockerResponseServerError { status_code, message }) => {
            anyhow!(
                "the Docker engine at {host} refused to {doing_short}: {status_code} {message}",
                doing_short = doing
                    .trim_end_matches(" on")
                    .trim_end_matches(" from")
                    .trim_end_matches(" with")
                    .trim_end_matches(" to")
            )
        }
        _ => anyhow!("cannot {doing} the Docker engine at {host}: {text}"),
    }
}

fn io_kind_in(e: &(dyn std::error::Error + 'static)) -> Option<std::io::ErrorKind> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            return Some(io.kind());
        }
        cur = err.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_concurrent_system_df_is_recognised_as_busy() {
        let busy = anyhow!("500 Internal Server Error: {{\"message\":\"a disk usage operation is already running\"}}");
        assert!(is_df_busy(&busy.context("system df")));
        assert!(!is_df_busy(&anyhow!("500 Internal Server Error: boom")));
    }

    #[test]
    fn versions_parse() {
        assert_eq!(parse_version("1.41"), Some(ClientVersion { major_version: 1, minor_version: 41 }));
        assert_eq!(parse_version("junk"), None);
    }

    #[test]
    fn missing_socket_names_it_and_the_fix() {
        let msg = check_socket("/nonexistent/docker.sock").err().unwrap().to_string();
        assert!(msg.contains("/nonexistent/docker.sock") && msg.contains("is dockerd running"), "{msg}");
    }

    #[test]
    fn unsupported_host_scheme_is_refused() {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let err = rt.block_on(Engine::connect("ftp://x", Duration::from_secs(1))).err().unwrap();
        assert!(err.to_string().contains("unsupported Docker host"), "{err}");
    }

    #[test]
    fn permission_denied_is_recognised_through_the_error_chain() {
        let io = std::io::Error::new(std::io::ErrorKind::PermissionDenied, "denied");
        let e = BollardError::IOError { err: io };
        let msg = explain(e, "unix:///var/run/docker.sock", "reach").to_string();
        assert!(msg.contains("docker` group"), "{msg}");
        assert!(msg.contains("unix:///var/run/docker.sock"), "{msg}");
    }
}
