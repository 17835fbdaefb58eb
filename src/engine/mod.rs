//! The only module that talks to Docker. Everything above it sees typed
//! results and errors that already say which engine and what to do.
//!
//! Calls are the cheap ones (list, inspect, one-shot stats, the engine's
//! log of recent events) plus, for sizes, at most one whole `system df`
//! per pass (API 1.42+ engines also answer a cheap one for the image and
//! build-cache totals alone).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use bollard::errors::Error as BollardError;
use bollard::models::{
    ContainerInspectResponse, ContainerStatsResponse, ContainerSummary, EventMessage, ImageSummary, SystemInfo,
    SystemVersion, Volume,
};
use bollard::query_parameters::{
    EventsOptions, InspectContainerOptions, ListContainersOptions, ListImagesOptions, ListVolumesOptions,
    RemoveContainerOptions, RemoveImageOptions, RemoveVolumeOptions, StatsOptions, TagImageOptions,
};
use bollard::{API_DEFAULT_VERSION, BollardRequest, ClientVersion, Docker};
use futures_util::StreamExt;

use crate::config::DockerConfig;
use endpoint::Endpoint;

pub mod disk_usage;
mod endpoint;
mod raw;
pub mod tls;

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
    /// How raw requests reach the engine (bollard has its own copy).
    endpoint: Endpoint,
}

fn parse_version(s: &str) -> Option<ClientVersion> {
    let (maj, min) = s.trim().split_once('.')?;
    Some(ClientVersion { major_version: maj.parse().ok()?, minor_version: min.parse().ok()? })
}

fn connect_at(host: &str, ep: &Endpoint, timeout: Duration, version: &ClientVersion) -> Result<Docker> {
    let secs = timeout.as_secs().max(1);
    let docker = match ep {
        Endpoint::Unix(_) => Docker::connect_with_unix(host, secs, version),
        Endpoint::Tcp(addr) => Docker::connect_with_http(&format!("tcp://{addr}"), secs, version),
        // Our own transport rather than bollard's `ssl` feature: bollard's
        // also trusts the system's roots for the engine, and reads the
        // client key only mid-handshake, where a bad one goes unreported.
        Endpoint::Tls { addr, .. } => {
            let ep = Arc::new(ep.clone());
            let transport = move |req: BollardRequest| {
                let ep = Arc::clone(&ep);
                async move {
                    raw::send(&ep, req).await.map_err(|f| match f {
                        raw::Failure::Connect(err) => BollardError::IOError { err },
                        raw::Failure::Http(err) => BollardError::HyperResponseError { err },
                    })
                }
            };
            Docker::connect_with_custom_transport(transport, Some(format!("https://{addr}")), secs, version)
        }
    };
    docker.map_err(|e| explain(e, host, "connect to"))
}

/// How `host` would be reached: the certificate directory when over TLS,
/// `None` for plain TCP or a socket. Loads the certificates, so their
/// problems show without an engine (for `doctor`).
pub fn tls_for(host: &str, docker: &DockerConfig) -> Result<Option<tls::CertDir>> {
    Ok(Endpoint::resolve(host, docker, &tls::process_env)?.tls().map(|c| c.dir.clone()))
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

/// The first request to an engine failed: one line saying why, most
/// specific first (a TLS mismatch or certificate problem, then the I/O
/// error kind, then whatever was said).
fn not_reached(e: &anyhow::Error, host: &str, ep: &Endpoint) -> anyhow::Error {
    let dir = ep.tls().map(|c| &c.dir);
    if let Some(t) = tls::rustls_error(e.chain()) {
        return anyhow!("cannot reach the Docker engine at {host}: {}", tls::reason(t, host, dir));
    }
    let text = format!("{e:#}");
    if matches!(ep, Endpoint::Tcp(_)) {
        if tls::is_plain_http_refusal(&text) {
            return anyhow!(tls::needs_tls(host));
        }
        // A TLS server that is not Go's answers plain HTTP with TLS bytes,
        // which do not parse as HTTP.
        if e.chain().any(|c| c.downcast_ref::<hyper::Error>().is_some_and(|h| h.is_parse())) {
            return anyhow!(
                "cannot reach the Docker engine at {host}: it did not answer in HTTP (TLS on this port?); {}",
                tls::needs_tls_fix(host)
            );
        }
    }
    let kind = e.chain().find_map(|c| c.downcast_ref::<std::io::Error>()).map(|io| io.kind());
    match kind.and_then(hint) {
        Some(h) => anyhow!("cannot reach the Docker engine at {host}: {h}"),
        None => anyhow!("cannot reach the Docker engine at {host}: {text}"),
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
    ///
    /// A `tcp://` engine is spoken to over TLS when the environment or
    /// `docker` says so (see `tls::for_engine`); certificates are loaded
    /// before anything is sent.
    pub async fn connect(host: &str, docker: &DockerConfig) -> Result<Engine> {
        let timeout = docker.timeout;
        let host = if host.starts_with('/') { format!("unix://{host}") } else { host.to_string() };
        let endpoint = Endpoint::resolve(&host, docker, &tls::process_env)?;
        if let Some(path) = unix_path(&host) {
            check_socket(path)?;
        }
        let body = raw::get(&endpoint, "/version", timeout).await.map_err(|e| not_reached(&e, &host, &endpoint))?;
        let version: SystemVersion = serde_json::from_slice(&body)
            .with_context(|| format!("the Docker engine at {host} sent an unreadable /version answer"))?;
        let server = version
            .api_version
            .as_deref()
            .and_then(parse_version)
            .ok_or_else(|| anyhow!("the Docker engine at {host} did not say which API version it speaks"))?;
        let chosen = if server < *API_DEFAULT_VERSION { server } else { *API_DEFAULT_VERSION };
        let docker = connect_at(&host, &endpoint, timeout, &chosen)?;
        Ok(Engine {
            docker,
            local: unix_path(&host).is_some(),
            api_version: format!("{}.{}", chosen.major_version, chosen.minor_version),
            engine_version: version.version.unwrap_or_else(|| "unknown".into()),
            timeout,
            host,
            endpoint,
        })
    }

    /// The certificate directory when the engine is spoken to over TLS.
    pub fn tls(&self) -> Option<&tls::CertDir> {
        self.endpoint.tls().map(|c| &c.dir)
    }

    pub fn api_at_least(&self, major: usize, minor: usize) -> bool {
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
        if self.api_at_least(1, 42) {
            return self.system_df("?type=container&type=volume").await;
        }
        // The whole walk is made anyway: keep its totals too.
        let path = format!("/v{}/system/df", self.api_version);
        let body = self.system_df_body(&path).await?;
        let mut usage = disk_usage::parse(&body)?;
        usage.totals = disk_usage::parse_totals(&body).ok();
        Ok(usage)
    }

    /// Image-layer and build-cache bytes as the engine counts them. API 1.42+
    /// answers for just those two, which costs it no volume or layer walk;
    /// older engines only answer the whole `system df`, so callers ask them
    /// at the size interval.
    pub async fn docker_totals(&self) -> Result<crate::model::snapshot::DockerTotals> {
        let filter = if self.api_at_least(1, 42) { "?type=image&type=build-cache" } else { "" };
        let path = format!("/v{}/system/df{filter}", self.api_version);
        let body = self.system_df_body(&path).await?;
        disk_usage::parse_totals(&body)
    }

    /// The engine runs one disk-usage walk at a time and refuses a second
    /// ("a disk usage operation is already running"), e.g. a `docker system
    /// df` someone typed, or another stackwatch. Waiting for it is cheaper
    /// than starting over next pass, so retry until the request timeout.
    async fn system_df(&self, filter: &str) -> Result<disk_usage::DiskUsage> {
        let path = format!("/v{}/system/df{filter}", self.api_version);
        disk_usage::parse(&self.system_df_body(&path).await?)
    }

    async fn system_df_body(&self, path: &str) -> Result<Vec<u8>> {
        let deadline = std::time::Instant::now() + self.timeout;
        loop {
            match raw::get(&self.endpoint, path, self.timeout).await {
                Ok(body) => return Ok(body),
                Err(e) if is_df_busy(&e) && std::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
                Err(e) => return Err(anyhow!("cannot read disk usage from the Docker engine at {}: {e:#}", self.host)),
            }
        }
    }

    /// Every event the engine still holds, up to now: its log of recent
    /// events is an in-memory list of a few hundred, whatever their type
    /// (healthcheck `exec_*` events fill it too). Asking from the epoch
    /// rather than from the previous pass costs the same (the engine scans
    /// that list either way) and shows how far back the list reaches, which
    /// is how a caller knows whether events were dropped.
    pub async fn events(&self) -> Result<Vec<EventMessage>> {
        // `until` with sub-second precision: a whole second in the future
        // would hold the stream open, waiting for it.
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        let until = format!("{}.{:09}", now.as_secs(), now.subsec_nanos());
        let opts = EventsOptions { since: Some("1".into()), until: Some(until), filters: None };
        let mut stream = self.docker.events(Some(opts));
        let mut out = Vec::new();
        // With `until` set the engine sends what it has and closes the stream.
        let read = async {
            while let Some(event) = stream.next().await {
                out.push(event.map_err(|e| explain(e, &self.host, "read events from"))?);
            }
            anyhow::Ok(())
        };
        match tokio::time::timeout(self.timeout, read).await {
            Ok(r) => r.map(|()| out),
            Err(_) => {
                bail!("the Docker engine at {} did not finish sending its events within {:?}", self.host, self.timeout)
            }
        }
    }

    /// The engine's container events from `since` (`secs.nanos`) on, as
    /// they happen: the stream stays open until the engine goes away.
    pub fn event_stream(&self, since: &str) -> impl futures_util::Stream<Item = Result<EventMessage>> + '_ {
        let filters = HashMap::from([("type".to_string(), vec!["container".to_string()])]);
        let opts = EventsOptions { since: Some(since.to_string()), until: None, filters: Some(filters) };
        self.docker.events(Some(opts)).map(move |e| e.map_err(|e| explain(e, &self.host, "follow events from")))
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

/// What the engine answered to a removal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Removal {
    Removed,
    /// Already gone: someone else removed it meanwhile.
    Gone,
    /// The engine refused (in use, running, has dependent images); its reason.
    Refused(String),
}

/// An object as the engine describes it right now, reduced to what a prune
/// re-checks before removing it.
#[derive(Debug, Clone, Default)]
pub struct ObjectNow {
    pub labels: BTreeMap<String, String>,
    /// Container state (`exited`, `running`, ...).
    pub state: Option<String>,
    /// Image tags.
    pub tags: Vec<String>,
    /// Image or container id as the engine has it.
    pub id: Option<String>,
}

/// The engine-side filter for one label, `key=value`.
fn label_filter(key: &str, value: &str) -> HashMap<String, Vec<String>> {
    HashMap::from([("label".to_string(), vec![format!("{key}={value}")])])
}

fn json_labels(v: Option<&serde_json::Value>) -> BTreeMap<String, String> {
    v.and_then(|l| l.as_object())
        .map(|m| m.iter().filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string()))).collect())
        .unwrap_or_default()
}

/// Removal calls used by `stackwatch prune`. Every one of them is the
/// engine's non-forced removal, so the engine itself refuses a running
/// container, an image a container uses, or a mounted volume, as a second
/// line of defence behind the prune's own checks.
impl Engine {
    /// Containers carrying the label, any state, with writable-layer sizes.
    pub async fn containers_with_label(&self, key: &str, value: &str) -> Result<Vec<ContainerSummary>> {
        let opts = ListContainersOptions {
            all: true,
            size: true,
            filters: Some(label_filter(key, value)),
            ..Default::default()
        };
        self.docker.list_containers(Some(opts)).await.map_err(|e| explain(e, &self.host, "list containers on"))
    }

    /// Top-level images carrying the label (tagged or dangling).
    pub async fn images_with_label(&self, key: &str, value: &str) -> Result<Vec<ImageSummary>> {
        let opts = ListImagesOptions { all: false, filters: Some(label_filter(key, value)), ..Default::default() };
        self.docker.list_images(Some(opts)).await.map_err(|e| explain(e, &self.host, "list images on"))
    }

    /// Image ids other images are built on (their `Parent`, intermediate
    /// images included): the engine refuses to remove those, and only
    /// after untagging an image in several repositories would it say so.
    pub async fn parent_images(&self) -> Result<HashSet<String>> {
        let opts = ListImagesOptions { all: true, ..Default::default() };
        let all = self.docker.list_images(Some(opts)).await.map_err(|e| explain(e, &self.host, "list images on"))?;
        Ok(all.into_iter().map(|i| i.parent_id).filter(|p| !p.is_empty()).collect())
    }

    /// Puts `tag` (`repo:tag`, as the engine lists it) back on image `id`.
    pub async fn tag_image(&self, id: &str, tag: &str) -> Result<()> {
        let (repo, tag) = match tag.rsplit_once(':') {
            Some((repo, t)) if !t.contains('/') => (repo, t),
            _ => (tag, "latest"),
        };
        let opts = TagImageOptions { repo: Some(repo.to_string()), tag: Some(tag.to_string()) };
        self.docker.tag_image(id, Some(opts)).await.map_err(|e| explain(e, &self.host, "tag an image on"))
    }

    pub async fn volumes_with_label(&self, key: &str, value: &str) -> Result<Vec<Volume>> {
        let opts = ListVolumesOptions { filters: Some(label_filter(key, value)) };
        let list = self.docker.list_volumes(Some(opts)).await.map_err(|e| explain(e, &self.host, "list volumes on"))?;
        Ok(list.volumes.unwrap_or_default())
    }

    /// `system df` including images, for what a prune would free.
    pub async fn disk_usage_with_images(&self) -> Result<disk_usage::DiskUsage> {
        let filter = if self.api_at_least(1, 42) { "?type=image&type=volume&type=container" } else { "" };
        self.system_df(filter).await
    }

    async fn current(&self, path: &str, what: &str) -> Result<Option<serde_json::Value>> {
        let path = format!("/v{}{path}", self.api_version);
        let (status, body) = raw::get_with_status(&self.endpoint, &path, self.timeout)
            .await
            .map_err(|e| anyhow!("cannot inspect {what} on the Docker engine at {}: {e:#}", self.host))?;
        if status == hyper::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !status.is_success() {
            bail!(
                "the Docker engine at {} refused to inspect {what}: {status} {}",
                self.host,
                String::from_utf8_lossy(&body).trim()
            );
        }
        serde_json::from_slice(&body)
            .map(Some)
            .with_context(|| format!("the Docker engine at {} sent an unreadable answer for {what}", self.host))
    }

    /// The container now, or `None` when it is gone.
    pub async fn current_container(&self, id: &str) -> Result<Option<ObjectNow>> {
        let Some(v) = self.current(&format!("/containers/{id}/json"), &format!("container {id}")).await? else {
            return Ok(None);
        };
        Ok(Some(ObjectNow {
            labels: json_labels(v.pointer("/Config/Labels")),
            state: v.pointer("/State/Status").and_then(|s| s.as_str()).map(str::to_string),
            tags: Vec::new(),
            id: v.get("Id").and_then(|s| s.as_str()).map(str::to_string),
        }))
    }

    pub async fn current_image(&self, reference: &str) -> Result<Option<ObjectNow>> {
        let Some(v) = self.current(&format!("/images/{reference}/json"), &format!("image {reference}")).await? else {
            return Ok(None);
        };
        let tags = v
            .get("RepoTags")
            .and_then(|t| t.as_array())
            .map(|a| {
                a.iter().filter_map(|t| t.as_str()).filter(|t| *t != "<none>:<none>").map(str::to_string).collect()
            })
            .unwrap_or_default();
        Ok(Some(ObjectNow {
            labels: json_labels(v.pointer("/Config/Labels")),
            state: None,
            tags,
            id: v.get("Id").and_then(|s| s.as_str()).map(str::to_string),
        }))
    }

    pub async fn current_volume(&self, name: &str) -> Result<Option<ObjectNow>> {
        let Some(v) = self.current(&format!("/volumes/{name}"), &format!("volume {name}")).await? else {
            return Ok(None);
        };
        Ok(Some(ObjectNow { labels: json_labels(v.get("Labels")), ..Default::default() }))
    }

    /// Removes a stopped container (not its volumes; never forced).
    pub async fn remove_container(&self, id: &str) -> Result<Removal> {
        let opts = RemoveContainerOptions { v: false, force: false, link: false };
        removal(self.docker.remove_container(id, Some(opts)).await, &self.host, "remove a container on")
    }

    /// Removes an image by id, or one tag of it by name (never forced).
    pub async fn remove_image(&self, reference: &str) -> Result<Removal> {
        let opts = RemoveImageOptions { force: false, noprune: false, ..Default::default() };
        removal(
            self.docker.remove_image(reference, Some(opts), None).await.map(|_| ()),
            &self.host,
            "remove an image on",
        )
    }

    /// Removes a volume (never forced: the engine refuses one in use).
    pub async fn remove_volume(&self, name: &str) -> Result<Removal> {
        let opts = RemoveVolumeOptions { force: false };
        removal(self.docker.remove_volume(name, Some(opts)).await, &self.host, "remove a volume on")
    }
}

fn is_df_busy(e: &anyhow::Error) -> bool {
    format!("{e:#}").contains("disk usage operation is already running")
}

fn removal(r: Result<(), BollardError>, host: &str, doing: &str) -> Result<Removal> {
    match r {
        Ok(()) => Ok(Removal::Removed),
        Err(BollardError::DockerResponseServerError { status_code: 404, .. }) => Ok(Removal::Gone),
        Err(BollardError::DockerResponseServerError { status_code: 409, message }) => Ok(Removal::Refused(message)),
        Err(e) => Err(explain(e, host, doing)),
    }
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
    if let Some(t) = tls::rustls_error(chain(&e)) {
        return anyhow!("cannot {doing} the Docker engine at {host}: {}", tls::reason(t, host, None));
    }
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

fn chain<'a>(e: &'a (dyn std::error::Error + 'static)) -> impl Iterator<Item = &'a (dyn std::error::Error + 'static)> {
    std::iter::successors(Some(e), |e| e.source())
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
        let err = rt.block_on(Engine::connect("ftp://x", &DockerConfig::default())).err().unwrap();
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
