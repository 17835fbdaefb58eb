//! The HTTP server of `stackwatch serve`: `/metrics`, `/healthz` and the dashboard (`/`,
//! `/stack/...`, `/volume/...`, rendered by [`crate::dashboard`]) over HTTP/1.1.
//!
//! hyper's own HTTP/1 server on a single-threaded runtime: a scrape is a
//! few indexed reads of the database (in the blocking pool, so a slow disk
//! never stalls the accept loop), and nothing here calls the engine.
//!
//! Clients that never read, or never send, must not keep a normal scrape
//! waiting nor hold memory:
//! - every connection is accepted at once; past [`MAX_CONNECTIONS`] the
//!   oldest one is told to close (an idle one closes at once, one in the
//!   middle of a response after it), so new clients never queue behind
//!   stuck ones;
//! - a connection must send its request headers within [`HEADER_TIMEOUT`],
//!   closes after [`IDLE_TIMEOUT`] without reading or writing a byte, and a
//!   write that makes no progress for [`WRITE_TIMEOUT`] ends it;
//! - a scrape is rendered once per change of the database (or the project
//!   files) and every response shares that one buffer, so a hundred
//!   clients holding a response hold one copy of it, and scrapes are
//!   rendered one at a time.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context as TaskContext, Poll};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result, anyhow};
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{ACCEPT, ALLOW, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{Notify, Semaphore};
use tokio::time::Sleep;

use crate::config::Config;
use crate::history::owners::Projects;
use crate::metrics::{self, exposition::Format, exposition::render};
use crate::store::{self};
use crate::time::{format_duration, iso_utc, now_unix};
use crate::{dashboard, signals, untrusted};

/// Connections kept open; a new one past this closes the oldest.
const MAX_CONNECTIONS: usize = 64;
/// Connections alive at all, closing ones included (each closes within
/// [`WRITE_TIMEOUT`]); past this, new ones wait in the kernel's queue.
const MAX_SOCKETS: usize = 512;
/// A client must send its request headers within this long.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// A connection that neither reads nor writes a byte for this long is closed.
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// A response the client does not read for this long is abandoned.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// A rendered scrape is reused while the files it came from are unchanged,
/// but never for longer than this.
const SCRAPE_REUSE: Duration = Duration::from_secs(60);

struct State {
    db: PathBuf,
    config: Config,
    projects: Option<(PathBuf, bool)>,
    max_age: Duration,
    /// The last scrape of each format, shared by every response.
    scrapes: tokio::sync::Mutex<Vec<Rendered>>,
}

struct Rendered {
    format: Format,
    inputs: Vec<FileStamp>,
    at: Instant,
    body: Bytes,
}

/// Size and modification time of one file a scrape is read from.
type FileStamp = (PathBuf, u64, Option<SystemTime>);

/// What `serve` is asked to serve, and where.
pub struct Serving {
    pub config: Config,
    pub db: PathBuf,
    /// The projects directory and whether it was named explicitly.
    pub projects: Option<(PathBuf, bool)>,
    pub listen: SocketAddr,
    /// `/healthz` fails when the newest pass is older than this.
    pub max_age: Duration,
    pub quiet: bool,
}

/// Serves until SIGTERM or SIGINT.
pub fn run(req: Serving) -> Result<()> {
    let Serving { config, db, projects, listen, max_age, quiet } = req;
    // Fail at start, not at the first scrape, on a wrong --db or --projects.
    store::open_read_only(&db, config.database.busy_timeout)?;
    Projects::load_from(projects.as_ref())?;
    if !listen.ip().is_loopback() {
        eprintln!(
            "stackwatch: warning: listening on {} (not loopback): the metrics name every stack, container, volume \
             and owner on this box; keep the port behind a firewall, or use --listen 127.0.0.1:PORT",
            listen
        );
    }
    let state = Arc::new(State { db, config, projects, max_age, scrapes: tokio::sync::Mutex::new(Vec::new()) });

    // The same handling as collect's: a signal between two accepts is not lost.
    signals::install();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(serve(listen, state, quiet))
}

async fn serve(addr: SocketAddr, state: Arc<State>, quiet: bool) -> Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
        let hint = match e.kind() {
            std::io::ErrorKind::AddrInUse => "; something else listens there, pick another port with --listen",
            std::io::ErrorKind::PermissionDenied => "; ports below 1024 need root, pick another with --listen",
            std::io::ErrorKind::AddrNotAvailable => "; that address is not on this machine",
            _ => "",
        };
        anyhow!("cannot listen on {addr}: {e}{hint}")
    })?;
    let local = listener.local_addr()?;
    if !quiet {
        // Tests and humans read the real port from here (useful with port 0).
        eprintln!(
            "stackwatch: serving http://{local}/metrics, /healthz and the dashboard at / from {}",
            state.db.display()
        );
    }
    let sockets = Arc::new(Semaphore::new(MAX_SOCKETS));
    let open = Arc::new(Mutex::new(Open::default()));
    // One wait for SIGINT/SIGTERM for the server's life, not one per
    // connection (making one sets up its signal streams).
    let stop = signals::arrived();
    tokio::pin!(stop);
    loop {
        let permit = tokio::select! {
            p = sockets.clone().acquire_owned() => p?,
            _ = &mut stop => return Ok(()),
        };
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                // Out of file descriptors and the like: wait, do not die.
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = &mut stop => return Ok(()),
        };
        let (id, close) = open.lock().expect("connection table").add();
        let (state, open) = (state.clone(), open.clone());
        tokio::spawn(async move {
            let io = Timed::new(stream);
            let handling = io.handling.clone();
            let service = service_fn(move |req| {
                // Not idle while we prepare the answer, however long it takes.
                let busy = Handling::start(&handling);
                let state = state.clone();
                async move {
                    let r = handle(req, state).await;
                    drop(busy);
                    r
                }
            });
            let conn = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .serve_connection(TokioIo::new(io), service);
            tokio::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                () = close.notified() => {
                    // Idle: closes now; mid-response: after it, or when the
                    // write timeout gives up on the client.
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
            open.lock().expect("connection table").remove(id);
            drop(permit);
        });
    }
}

/// Open connections, oldest first, each with the signal that closes it.
#[derive(Default)]
struct Open {
    next: u64,
    live: BTreeMap<u64, Arc<Notify>>,
}

impl Open {
    /// Registers a new connection; past [`MAX_CONNECTIONS`] the oldest is
    /// told to close and no longer counts.
    fn add(&mut self) -> (u64, Arc<Notify>) {
        while self.live.len() >= MAX_CONNECTIONS {
            if let Some((_, oldest)) = self.live.pop_first() {
                // Stored if the connection is not waiting yet.
                oldest.notify_one();
            }
        }
        self.next += 1;
        let close = Arc::new(Notify::new());
        self.live.insert(self.next, close.clone());
        (self.next, close)
    }

    fn remove(&mut self, id: u64) {
        self.live.remove(&id);
    }
}

/// A socket whose reads and writes fail with `TimedOut` when they make no
/// progress: a pending write for [`WRITE_TIMEOUT`], a pending read (an idle
/// keep-alive connection) for [`IDLE_TIMEOUT`]. Any byte moved either way
/// restarts both clocks.
struct Timed<T> {
    io: T,
    /// Requests being answered: the idle clock waits while any is.
    handling: Arc<AtomicUsize>,
    idle: Duration,
    write: Duration,
    read_stall: Option<Pin<Box<Sleep>>>,
    write_stall: Option<Pin<Box<Sleep>>>,
}

impl<T> Timed<T> {
    fn new(io: T) -> Timed<T> {
        Timed::with_limits(io, IDLE_TIMEOUT, WRITE_TIMEOUT)
    }

    fn with_limits(io: T, idle: Duration, write: Duration) -> Timed<T> {
        Timed { io, handling: Arc::new(AtomicUsize::new(0)), idle, write, read_stall: None, write_stall: None }
    }

    fn progressed(&mut self) {
        self.read_stall = None;
        self.write_stall = None;
    }

    /// `Pending` until the stall clock (started now if need be) runs out.
    fn stalled(clock: &mut Option<Pin<Box<Sleep>>>, limit: Duration, cx: &mut TaskContext<'_>) -> Poll<()> {
        clock.get_or_insert_with(|| Box::pin(tokio::time::sleep(limit))).as_mut().poll(cx)
    }
}

/// One request being answered on a connection, until dropped.
struct Handling(Arc<AtomicUsize>);

impl Handling {
    fn start(count: &Arc<AtomicUsize>) -> Handling {
        count.fetch_add(1, Ordering::Relaxed);
        Handling(count.clone())
    }
}

impl Drop for Handling {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

fn timed_out(what: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::TimedOut, what.to_string())
}

impl<T: AsyncRead + Unpin> AsyncRead for Timed<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        let before = buf.filled().len();
        match Pin::new(&mut this.io).poll_read(cx, buf) {
            Poll::Ready(r) => {
                if buf.filled().len() > before {
                    this.progressed();
                }
                Poll::Ready(r)
            }
            Poll::Pending if this.handling.load(Ordering::Relaxed) > 0 => {
                this.read_stall = None;
                Poll::Pending
            }
            Poll::Pending => match Self::stalled(&mut this.read_stall, this.idle, cx) {
                Poll::Ready(()) => Poll::Ready(Err(timed_out("idle connection"))),
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Timed<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        let this = &mut *self;
        match Pin::new(&mut this.io).poll_write(cx, buf) {
            Poll::Ready(r) => {
                if r.as_ref().is_ok_and(|n| *n > 0) {
                    this.progressed();
                }
                Poll::Ready(r)
            }
            Poll::Pending => match Self::stalled(&mut this.write_stall, this.write, cx) {
                Poll::Ready(()) => Poll::Ready(Err(timed_out("the client does not read"))),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let this = &mut *self;
        match Pin::new(&mut this.io).poll_write_vectored(cx, bufs) {
            Poll::Ready(r) => {
                if r.as_ref().is_ok_and(|n| *n > 0) {
                    this.progressed();
                }
                Poll::Ready(r)
            }
            Poll::Pending => match Self::stalled(&mut this.write_stall, this.write, cx) {
                Poll::Ready(()) => Poll::Ready(Err(timed_out("the client does not read"))),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

fn respond(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    r.headers_mut().insert(CONTENT_TYPE, content_type.parse().expect("static content type"));
    r
}

async fn handle(req: Request<Incoming>, state: Arc<State>) -> Result<Response<Full<Bytes>>, Infallible> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let mut r = respond(StatusCode::METHOD_NOT_ALLOWED, "text/plain; charset=utf-8", "GET or HEAD only\n");
        r.headers_mut().insert(ALLOW, "GET, HEAD".parse().expect("static header"));
        return Ok(r);
    }
    let head = req.method() == Method::HEAD;
    let response = match req.uri().path() {
        "/metrics" => {
            // Prometheus asks for OpenMetrics in its Accept header when it wants it.
            let format = match req.headers().get(ACCEPT).and_then(|a| a.to_str().ok()) {
                Some(a) if a.contains("application/openmetrics-text") => Format::OpenMetrics,
                _ => Format::Prometheus,
            };
            match shared_scrape(&state, format).await {
                Ok(Ok(body)) => respond(StatusCode::OK, format.content_type(), body),
                Ok(Err(e)) => respond(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "text/plain; charset=utf-8",
                    format!("stackwatch: {}\n", untrusted::line(&format!("{e:#}"), 2000)),
                ),
                Err(_) => respond(StatusCode::INTERNAL_SERVER_ERROR, "text/plain; charset=utf-8", "scrape failed\n"),
            }
        }
        "/healthz" => {
            let st = state.clone();
            let (status, text) = tokio::task::spawn_blocking(move || health(&st, now_unix()))
                .await
                .unwrap_or_else(|_| (StatusCode::INTERNAL_SERVER_ERROR, "health check failed\n".into()));
            respond(status, "text/plain; charset=utf-8", text)
        }
        p if p == "/" || p.starts_with("/stack/") || p.starts_with("/volume/") => {
            let st = state.clone();
            let (path, query) = (p.to_string(), req.uri().query().map(str::to_string));
            match tokio::task::spawn_blocking(move || dashboard_page(&st, &path, query.as_deref())).await {
                Ok(page) => respond(
                    StatusCode::from_u16(page.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                    "text/html; charset=utf-8",
                    page.body,
                ),
                Err(_) => respond(StatusCode::INTERNAL_SERVER_ERROR, "text/plain; charset=utf-8", "page failed\n"),
            }
        }
        _ => respond(StatusCode::NOT_FOUND, "text/plain; charset=utf-8", "not found: try /, /metrics or /healthz\n"),
    };
    if head {
        let (parts, _) = response.into_parts();
        return Ok(Response::from_parts(parts, Full::new(Bytes::new())));
    }
    Ok(response)
}

/// The scrape for `format`: the last one rendered while the database and
/// the project files are as they were then (and it is not too old), else a
/// new one. One scrape renders at a time; the others wait for it and share
/// its buffer.
async fn shared_scrape(state: &Arc<State>, format: Format) -> Result<Result<Bytes>, tokio::task::JoinError> {
    let mut scrapes = state.scrapes.lock().await;
    let st = state.clone();
    let inputs = tokio::task::spawn_blocking(move || stamps(&st)).await?;
    if let Some(r) = scrapes.iter().find(|r| r.format == format && r.inputs == inputs && r.at.elapsed() < SCRAPE_REUSE)
    {
        return Ok(Ok(r.body.clone()));
    }
    let st = state.clone();
    let rendered = tokio::task::spawn_blocking(move || scrape(&st, format)).await?;
    Ok(rendered.map(|text| {
        let body = Bytes::from(text);
        scrapes.retain(|r| r.format != format);
        scrapes.push(Rendered { format, inputs, at: Instant::now(), body: body.clone() });
        body
    }))
}

/// What a scrape reads: the database with its write-ahead log, and the
/// project files (`*.toml`, as [`Projects::load`] reads them). A commit or
/// checkpoint changes one of the first two.
fn stamps(state: &State) -> Vec<FileStamp> {
    let stamp = |p: &Path| {
        let m = std::fs::metadata(p).ok();
        (p.to_path_buf(), m.as_ref().map_or(0, |m| m.len()), m.and_then(|m| m.modified().ok()))
    };
    let wal = PathBuf::from(format!("{}-wal", state.db.display()));
    let mut out = vec![stamp(&state.db), stamp(&wal)];
    // No projects directory configured: no project files to watch.
    let Some((projects_dir, _)) = state.projects.as_ref() else { return out };
    out.push(stamp(projects_dir));
    if let Ok(dir) = std::fs::read_dir(projects_dir) {
        let mut files: Vec<PathBuf> = dir
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect();
        files.sort();
        out.extend(files.iter().map(|p| stamp(p)));
    }
    out
}

/// One scrape: the projects are re-read so ownership edits show up without
/// a restart, and the database is opened afresh (read-only) each time.
fn scrape(state: &State, format: Format) -> Result<String> {
    let projects = Projects::load_from(state.projects.as_ref())?;
    let st = store::open_read_only(&state.db, state.config.database.busy_timeout)?;
    let families = metrics::build(&st.reader()?, &state.config, &projects)?;
    Ok(render(&families, format))
}

/// A dashboard page, read like a scrape: the projects and the database
/// afresh each time, so it shows the newest pass without a restart.
fn dashboard_page(state: &State, path: &str, query: Option<&str>) -> dashboard::Page {
    let page = (|| -> Result<dashboard::Page> {
        let projects = Projects::load_from(state.projects.as_ref())?;
        let st = store::open_read_only(&state.db, state.config.database.busy_timeout)?;
        Ok(dashboard::route(&st.reader()?, &state.config, &projects, path, query, now_unix())
            .unwrap_or(dashboard::Page { status: 404, body: "not found\n".into() }))
    })();
    page.unwrap_or_else(|e| dashboard::Page {
        status: 500,
        body: format!("<!DOCTYPE html><p>stackwatch: {}</p>\n", dashboard::svg::esc(&format!("{e:#}"))),
    })
}

/// 200 while the newest pass of any host is younger than `max_age`; 503
/// when the database cannot be read, holds no pass, or the collector
/// stopped. One line per host either way, so a person sees which is old.
fn health(state: &State, now: i64) -> (StatusCode, String) {
    let result = (|| -> Result<Vec<(String, i64)>> {
        let st = store::open_read_only(&state.db, state.config.database.busy_timeout)?;
        let mut out = Vec::new();
        let history = st.reader()?;
        for h in history.hosts().context("cannot read hosts")? {
            out.push((h.hostname.clone(), history.pass(h.latest_pass)?.started_at));
        }
        Ok(out)
    })();
    let hosts = match result {
        Ok(h) => h,
        Err(e) => {
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                format!("unhealthy: {}\n", untrusted::line(&format!("{e:#}"), 2000)),
            );
        }
    };
    let max_age = state.max_age.as_secs() as i64;
    let newest = hosts.iter().map(|(_, t)| *t).max();
    let mut body = match newest {
        None => {
            return (StatusCode::SERVICE_UNAVAILABLE, "unhealthy: no pass recorded yet; is collect running?\n".into());
        }
        Some(t) if now - t > max_age => format!(
            "unhealthy: the newest pass is {} old (more than {}); is `stackwatch collect` still running?\n",
            format_duration(Duration::from_secs((now - t).max(0) as u64)),
            format_duration(state.max_age)
        ),
        Some(_) => "ok\n".to_string(),
    };
    for (host, t) in &hosts {
        body.push_str(&format!(
            "host {}: newest pass {} ({} old)\n",
            untrusted::line(host, 120),
            iso_utc(*t),
            format_duration(Duration::from_secs((now - t).max(0) as u64))
        ));
    }
    let ok = newest.is_some_and(|t| now - t <= max_age);
    (if ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE }, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A connected pair on loopback: the server side, and a client that
    /// sends nothing and never reads.
    async fn pair() -> (tokio::net::TcpStream, std::net::TcpStream) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().await.unwrap();
        (server, client)
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
    }

    #[test]
    fn a_client_that_never_reads_times_the_write_out() {
        runtime().block_on(async {
            let (server, _client) = pair().await;
            let mut io = Timed::with_limits(server, Duration::from_secs(60), Duration::from_millis(300));
            let chunk = vec![b'x'; 1 << 20];
            let started = Instant::now();
            let err = loop {
                match std::future::poll_fn(|cx| Pin::new(&mut io).poll_write(cx, &chunk)).await {
                    Ok(_) => assert!(started.elapsed() < Duration::from_secs(30), "the kernel buffers never filled"),
                    Err(e) => break e,
                }
            };
            assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
        });
    }

    #[test]
    fn an_idle_connection_times_out_and_progress_restarts_the_clock() {
        runtime().block_on(async {
            let (server, mut client) = pair().await;
            let mut io = Timed::with_limits(server, Duration::from_millis(300), Duration::from_secs(60));
            let mut byte = [0u8; 1];
            // A byte within the limit is progress...
            std::io::Write::write_all(&mut client, b"a").unwrap();
            let mut buf = ReadBuf::new(&mut byte);
            std::future::poll_fn(|cx| Pin::new(&mut io).poll_read(cx, &mut buf)).await.unwrap();
            assert_eq!(buf.filled(), b"a");
            // ...as is a request being answered, however long...
            let busy = Handling::start(&io.handling);
            let mut buf = ReadBuf::new(&mut byte);
            let waited = tokio::time::timeout(
                Duration::from_millis(600),
                std::future::poll_fn(|cx| Pin::new(&mut io).poll_read(cx, &mut buf)),
            )
            .await;
            assert!(waited.is_err(), "no idle timeout while answering: {waited:?}");
            drop(busy);
            // ...then silence ends it.
            let started = Instant::now();
            let mut buf = ReadBuf::new(&mut byte);
            let err = std::future::poll_fn(|cx| Pin::new(&mut io).poll_read(cx, &mut buf)).await.unwrap_err();
            assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
            assert!(started.elapsed() >= Duration::from_millis(300));
        });
    }

    #[test]
    fn past_the_cap_the_oldest_connection_is_told_to_close() {
        let mut open = Open::default();
        let first: Vec<(u64, Arc<Notify>)> = (0..MAX_CONNECTIONS).map(|_| open.add()).collect();
        assert_eq!(open.live.len(), MAX_CONNECTIONS);
        let (newest, _) = open.add();
        assert_eq!(open.live.len(), MAX_CONNECTIONS);
        assert!(!open.live.contains_key(&first[0].0) && open.live.contains_key(&newest));
        // The oldest got the signal even though nobody waited for it yet.
        runtime().block_on(async {
            tokio::time::timeout(Duration::from_secs(1), first[0].1.notified()).await.expect("told to close");
        });
    }
}
