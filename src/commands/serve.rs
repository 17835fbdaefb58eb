//! `stackwatch serve`: `/metrics` and `/healthz` over HTTP/1.1.
//!
//! hyper's own HTTP/1 server on a single-threaded runtime: a scrape is a
//! few indexed reads of the database (in the blocking pool, so a slow disk
//! never stalls the accept loop), and nothing here calls the engine.
//! Connections are bounded in number and must send their headers in time,
//! so a stuck or hostile client cannot pile up sockets.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{ACCEPT, ALLOW, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::sync::Semaphore;

use crate::cli::{Global, ServeArgs};
use crate::config::Config;
use crate::metrics::{self, exposition::Format, exposition::render};
use crate::report::owners::Projects;
use crate::store::{self, queries};
use crate::time::{format_duration, iso_utc, now_unix};
use crate::{inert, paths};

/// Connections served at once; more wait in the kernel's accept queue.
const MAX_CONNECTIONS: usize = 64;
/// A client must send its request headers within this long.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

struct State {
    db: PathBuf,
    config: Config,
    projects: Option<(PathBuf, bool)>,
    max_age: Duration,
}

pub fn run(global: &Global, args: &ServeArgs) -> Result<()> {
    let config = Config::load(global.config.as_deref())?;
    let db = paths::database(global.db.clone(), config.database.path.clone());
    let projects = paths::projects(args.projects.as_deref(), config.report.projects_dir.as_deref());
    // Fail at start, not at the first scrape, on a wrong --db or --projects.
    store::open_read_only(&db, config.database.busy_timeout)?;
    Projects::load_from(projects.as_ref())?;
    let state = Arc::new(State { db, config, projects, max_age: args.max_age.0 });

    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(serve(args.listen, state, global.quiet))
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
        eprintln!("stackwatch: serving http://{local}/metrics and /healthz from {}", state.db.display());
    }
    let limit = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    loop {
        let permit = tokio::select! {
            p = limit.clone().acquire_owned() => p?,
            _ = tokio::signal::ctrl_c() => return Ok(()),
            _ = term.recv() => return Ok(()),
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
            _ = tokio::signal::ctrl_c() => return Ok(()),
            _ = term.recv() => return Ok(()),
        };
        let state = state.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| handle(req, state.clone()));
            let _ = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service)
                .await;
            drop(permit);
        });
    }
}

fn respond(status: StatusCode, content_type: &str, body: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut().insert(CONTENT_TYPE, content_type.parse().expect("static content type"));
    r
}

async fn handle(req: Request<Incoming>, state: Arc<State>) -> Result<Response<Full<Bytes>>, Infallible> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let mut r = respond(StatusCode::METHOD_NOT_ALLOWED, "text/plain; charset=utf-8", "GET or HEAD only\n".into());
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
            let st = state.clone();
            match tokio::task::spawn_blocking(move || scrape(&st, format)).await {
                Ok(Ok(text)) => respond(StatusCode::OK, format.content_type(), text),
                Ok(Err(e)) => respond(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "text/plain; charset=utf-8",
                    format!("stackwatch: {}\n", inert::line(&format!("{e:#}"), 2000)),
                ),
                Err(_) => {
                    respond(StatusCode::INTERNAL_SERVER_ERROR, "text/plain; charset=utf-8", "scrape failed\n".into())
                }
            }
        }
        "/healthz" => {
            let st = state.clone();
            let (status, text) = tokio::task::spawn_blocking(move || health(&st, now_unix()))
                .await
                .unwrap_or_else(|_| (StatusCode::INTERNAL_SERVER_ERROR, "health check failed\n".into()));
            respond(status, "text/plain; charset=utf-8", text)
        }
        "/" => respond(
            StatusCode::OK,
            "text/html; charset=utf-8",
            "<html><body><a href=\"/metrics\">/metrics</a> <a href=\"/healthz\">/healthz</a></body></html>\n".into(),
        ),
        _ => {
            respond(StatusCode::NOT_FOUND, "text/plain; charset=utf-8", "not found: try /metrics or /healthz\n".into())
        }
    };
    if head {
        let (parts, _) = response.into_parts();
        return Ok(Response::from_parts(parts, Full::new(Bytes::new())));
    }
    Ok(response)
}

/// One scrape: the projects are re-read so ownership edits show up without
/// a restart, and the database is opened afresh (read-only) each time.
fn scrape(state: &State, format: Format) -> Result<String> {
    let projects = Projects::load_from(state.projects.as_ref())?;
    let st = store::open_read_only(&state.db, state.config.database.busy_timeout)?;
    let families = metrics::build(&st.conn, &state.config, &projects)?;
    Ok(render(&families, format))
}

/// 200 while the newest pass of any host is younger than `max_age`; 503
/// when the database cannot be read, holds no pass, or the collector
/// stopped. One line per host either way, so a person sees which is old.
fn health(state: &State, now: i64) -> (StatusCode, String) {
    let result = (|| -> Result<Vec<(String, i64)>> {
        let st = store::open_read_only(&state.db, state.config.database.busy_timeout)?;
        let mut out = Vec::new();
        for h in queries::hosts(&st.conn).context("cannot read hosts")? {
            out.push((h.hostname.clone(), queries::pass(&st.conn, h.latest_pass)?.started_at));
        }
        Ok(out)
    })();
    let hosts = match result {
        Ok(h) => h,
        Err(e) => {
            return (StatusCode::SERVICE_UNAVAILABLE, format!("unhealthy: {}\n", inert::line(&format!("{e:#}"), 2000)));
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
            inert::line(host, 120),
            iso_utc(*t),
            format_duration(Duration::from_secs((now - t).max(0) as u64))
        ));
    }
    let ok = newest.is_some_and(|t| now - t <= max_age);
    (if ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE }, body)
}
