//! Following the engine's container events as they
//! happen, for boxes busy enough that the engine's short list of recent
//! events overflows between two passes.
//!
//! Events are written in small batches (each a short transaction taken
//! under the collect lock with no wait: while a pass holds it, the batch
//! waits in memory for the next tick), so neither `collect` nor the
//! watcher holds the other up for long. An event is stored once whoever
//! sees it first (V8's key), so collect adds nothing a watcher stored.
//! When the engine goes away the watcher reconnects with backoff and, as a
//! pass does, records the interval its list no longer covers as a gap.
//! SIGTERM or SIGINT: what was received is written, then it exits 0.

use std::path::Path;
use std::time::Duration;

use anyhow::Result;
use futures_util::StreamExt;

use super::events::{container_event, now_ns, select, time_ns};
use crate::config::Config;
use crate::engine::Engine;
use crate::model::snapshot::{ContainerEvent, EventGap};
use crate::store::{self, lock};
use crate::time::now_unix;
use crate::{signals, untrusted};

/// A batch is written at least every `--flush-every`, or when it holds
/// this many events.
const BATCH: usize = 500;
const MAX_BACKOFF: Duration = Duration::from_secs(30);

#[derive(Default)]
struct Pending {
    events: Vec<ContainerEvent>,
    gaps: Vec<EventGap>,
}

/// Follows the events of the engine at `host` into the database at `db`
/// until SIGTERM or SIGINT, writing a batch at least every `flush_every`;
/// `quiet` keeps it to errors.
pub fn follow(config: &Config, db: &Path, host: &str, flush_every: Duration, quiet: bool) -> Result<()> {
    let host = host.to_string();
    signals::install();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    // The engine answers before the database is opened (and created).
    let first = runtime.block_on(Engine::connect(&host, &config.docker))?;
    let info = runtime.block_on(first.info())?;
    let engine_id = info.id.clone().filter(|s| !s.is_empty()).unwrap_or_else(|| host.clone());
    let hostname = info.name.clone().unwrap_or_else(|| "unknown".into());
    let mut st = store::open_for_write(db, config.database.busy_timeout)?;
    let host_id = {
        let _lock = lock::acquire(db, config.database.lock_wait)?;
        st.host_id(&engine_id, &hostname).map_err(|e| store::sql_error(e, db, "record the host in"))?
    };
    // From the start of the engine's previous pass, as a pass would.
    let start = st
        .reader()?
        .previous_pass_start(&engine_id)
        .map_err(|e| store::sql_error(e, db, "read the previous pass from"))?
        .map(|s| s.saturating_mul(1_000_000_000))
        .unwrap_or_else(now_ns);
    if !quiet {
        eprintln!("stackwatch: watching the events of {} into {}", untrusted::line(&host, 200), db.display());
    }

    let mut pending = Pending::default();
    let mut stored = 0usize;
    let mut flush = |pending: &mut Pending, wait: Duration| -> Result<()> {
        if pending.events.is_empty() && pending.gaps.is_empty() {
            return Ok(());
        }
        // A pass in progress holds the lock: keep the batch for the next tick.
        let Ok(_lock) = lock::acquire(db, wait) else { return Ok(()) };
        stored += st
            .insert_events(host_id, &pending.events, &pending.gaps, now_unix(), "watch")
            .map_err(|e| store::sql_error(e, db, "write events to"))?;
        *pending = Pending::default();
        Ok(())
    };

    let mut engine = Some(first);
    // Until when the watcher has seen everything (Unix nanoseconds).
    let mut seen_until = start;
    let mut backoff = Duration::from_secs(1);
    let mut reconnecting = false;
    let outcome: Result<()> = runtime.block_on(async {
        // One wait for SIGINT/SIGTERM for the whole run, polled by every
        // select below (making one sets up its signal streams).
        let stop = signals::arrived();
        tokio::pin!(stop);
        loop {
            if signals::pending().is_some() {
                return Ok(());
            }
            let e = match engine.take() {
                Some(e) => e,
                None => match Engine::connect(&host, &config.docker).await {
                    Ok(e) => e,
                    Err(err) => {
                        if !quiet {
                            eprintln!(
                                "stackwatch: warning: {}; retrying in {}s",
                                untrusted::line(&format!("{err:#}"), 300),
                                backoff.as_secs()
                            );
                        }
                        tokio::select! {
                            () = tokio::time::sleep(backoff) => {}
                            _ = &mut stop => return Ok(()),
                        }
                        backoff = (backoff * 2).min(MAX_BACKOFF);
                        continue;
                    }
                },
            };
            // What the engine still holds since `seen_until`, and whether
            // its list still reaches back that far.
            let asked = now_ns();
            match e.events().await {
                Ok(messages) => {
                    let (events, gap) = select(&messages, seen_until);
                    pending.events.extend(events);
                    // After a lost stream an empty list is an engine that
                    // started afresh: what it held before went with it.
                    let gap = match gap {
                        Some(g) if reconnecting => Some(EventGap { reason: "reconnect", ..g }),
                        None if reconnecting && messages.is_empty() => {
                            Some(EventGap { from_ns: seen_until, to_ns: asked, reason: "reconnect" })
                        }
                        other => other,
                    };
                    pending.gaps.extend(gap);
                }
                Err(err) => {
                    eprintln!("stackwatch: warning: {}", untrusted::line(&format!("{err:#}"), 300));
                    tokio::select! {
                        () = tokio::time::sleep(backoff) => {}
                        _ = &mut stop => return Ok(()),
                    }
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    continue;
                }
            }
            backoff = Duration::from_secs(1);
            seen_until = asked;
            let since = format!("{}.{:09}", asked / 1_000_000_000, asked % 1_000_000_000);
            let mut stream = Box::pin(e.event_stream(&since));
            let mut tick = tokio::time::interval(flush_every);
            let ended = loop {
                tokio::select! {
                    next = stream.next() => match next {
                        Some(Ok(m)) => {
                            if let Some(at) = time_ns(&m) {
                                seen_until = seen_until.max(at);
                                pending.events.extend(container_event(&m, at));
                            }
                            if pending.events.len() >= BATCH {
                                flush(&mut pending, Duration::ZERO)?;
                            }
                        }
                        Some(Err(err)) => break Some(err),
                        None => break None,
                    },
                    _ = tick.tick() => {
                        seen_until = seen_until.max(now_ns().saturating_sub(1_000_000_000));
                        flush(&mut pending, Duration::ZERO)?;
                    }
                    _ = &mut stop => return Ok(()),
                }
            };
            if !quiet {
                let why = ended.map(|e| format!("{e:#}")).unwrap_or_else(|| "the engine closed the stream".into());
                eprintln!("stackwatch: warning: lost the event stream ({}); reconnecting", untrusted::line(&why, 300));
            }
            flush(&mut pending, Duration::ZERO)?;
            reconnecting = true;
        }
    });
    // Whatever arrived is written before exiting, waiting for a pass if one
    // holds the lock.
    flush(&mut pending, config.database.lock_wait)?;
    if !pending.events.is_empty() || !pending.gaps.is_empty() {
        anyhow::bail!(
            "{} events received could not be written: another stackwatch held {} past [database] lock_wait",
            pending.events.len(),
            lock::lock_path(db).display()
        );
    }
    outcome?;
    if !quiet {
        eprintln!("stackwatch: stopped; {stored} events stored");
    }
    Ok(())
}
