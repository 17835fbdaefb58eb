//! Writing the history: one pass in one transaction ([`insert_pass`]), the
//! engine's container events and event gaps, and the record of each prune.
//! Every statement here is keyed so it touches only the rows it must.

use std::collections::HashMap;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::Store;
use super::read::HOST_ID;
use crate::model::labels::{Labels, NameList};
use crate::model::snapshot::{Snapshot, StackKey};

// Identity rows change rarely. Each upsert writes only when a value really
// changed (an unconditional one dirties a page per object per pass), and the
// id is then looked up through the unique index.
const UPSERT_HOST: &str = "INSERT INTO hosts (engine_id, hostname) VALUES (?1, ?2)
     ON CONFLICT (engine_id) DO UPDATE SET hostname = excluded.hostname
     WHERE hosts.hostname IS NOT excluded.hostname";

const INSERT_PASS: &str = "INSERT INTO passes (host_id, started_at, duration_ms, engine_version, api_version,
        hostname, docker_root, fs_total_bytes, fs_used_bytes, fs_free_bytes, containers, volumes, images,
        error_count, stackwatch_version, stats_method, images_bytes, build_cache_bytes, docker_totals_at)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)";

const UPSERT_FILESYSTEM: &str = "INSERT OR IGNORE INTO filesystems (host_id, device, mount_point) VALUES (?1, ?2, ?3)";
const FILESYSTEM_ID: &str = "SELECT id FROM filesystems WHERE host_id = ?1 AND device = ?2 AND mount_point = ?3";
const INSERT_FILESYSTEM_SAMPLE: &str = "INSERT INTO filesystem_samples (pass_id, fs_ref, total_bytes, used_bytes,
        free_bytes, docker_root) VALUES (?1, ?2, ?3, ?4, ?5, ?6)";

const INSERT_ERROR: &str =
    "INSERT INTO pass_errors (pass_id, object_kind, object_name, message) VALUES (?1, ?2, ?3, ?4)";

// A stack's compose paths are kept as last seen (V6); a pass that cannot
// see them (only its volumes are left) keeps the known ones.
const UPSERT_STACK: &str = "INSERT INTO stacks (host_id, kind, name, working_dir, config_files)
     VALUES (?1, ?2, ?3, ?4, ?5)
     ON CONFLICT (host_id, kind, name) DO UPDATE SET working_dir = COALESCE(excluded.working_dir, stacks.working_dir),
        config_files = COALESCE(excluded.config_files, stacks.config_files)
     WHERE stacks.working_dir IS NOT COALESCE(excluded.working_dir, stacks.working_dir)
        OR stacks.config_files IS NOT COALESCE(excluded.config_files, stacks.config_files)";
const STACK_ID: &str = "SELECT id FROM stacks WHERE host_id = ?1 AND kind = ?2 AND name = ?3";

const INSERT_STACK_SAMPLE: &str = "INSERT INTO stack_samples (pass_id, stack_id, containers, running, rw_bytes,
        log_bytes, volume_bytes, disk_bytes, mem_bytes, unknown_sizes)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)";

const UPSERT_CONTAINER: &str = "INSERT INTO containers (host_id, container_id, stack_id, service, created_at, labels,
        image, image_id, log_driver)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
     ON CONFLICT (host_id, container_id) DO UPDATE SET stack_id = excluded.stack_id,
        service = excluded.service, labels = excluded.labels, image = excluded.image, image_id = excluded.image_id,
        log_driver = excluded.log_driver
     WHERE containers.stack_id IS NOT excluded.stack_id OR containers.service IS NOT excluded.service
        OR containers.labels IS NOT excluded.labels OR containers.image IS NOT excluded.image
        OR containers.image_id IS NOT excluded.image_id OR containers.log_driver IS NOT excluded.log_driver";
const CONTAINER_ID: &str = "SELECT id FROM containers WHERE host_id = ?1 AND container_id = ?2";
// Spans change every pass, so they live in narrow rows of their own: the
// identity rows (labels and all) are only written when something changed.
const UPSERT_CONTAINER_SPAN: &str = "INSERT INTO container_spans (container_ref, host_id, first_pass, last_pass)
     VALUES (?1, ?2, ?3, ?3) ON CONFLICT (container_ref) DO UPDATE SET last_pass = excluded.last_pass";

// A sample's key is pass_id * 2^32 + container_ref (V6): a pass's samples
// are one rowid range, written in key order so pages fill as they append.
const INSERT_CONTAINER_SAMPLE: &str = "INSERT INTO container_samples (sample_key, cpu_ns, mem_bytes,
        net_rx_bytes, net_tx_bytes, blkio_read_bytes, blkio_write_bytes, pids, log_bytes, rw_bytes, rw_measured_at)
     VALUES ((?1 << 32) + ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)";

// Change tables (V5): a row only when something differs from the object's
// newest row, which is one seek in the (object, pass) primary key.
const LATEST_CONTAINER_STATE: &str = "SELECT name, state, health, restart_count, exit_code, oom_killed, started_at,
        mem_limit_bytes, rw_method FROM container_states WHERE container_ref = ?1 ORDER BY pass_id DESC LIMIT 1";
const INSERT_CONTAINER_STATE: &str = "INSERT INTO container_states (container_ref, pass_id, name, state, health,
        restart_count, exit_code, oom_killed, started_at, mem_limit_bytes, rw_method)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)";

const UPSERT_VOLUME: &str =
    "INSERT INTO volumes (host_id, name, driver, created_at, labels, kind) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
     ON CONFLICT (host_id, name) DO UPDATE SET driver = excluded.driver, created_at = excluded.created_at,
        labels = excluded.labels, kind = excluded.kind
     WHERE volumes.driver IS NOT excluded.driver OR volumes.created_at IS NOT excluded.created_at
        OR volumes.labels IS NOT excluded.labels OR volumes.kind IS NOT excluded.kind";
const VOLUME_ID: &str = "SELECT id FROM volumes WHERE host_id = ?1 AND name = ?2";
const UPSERT_VOLUME_SPAN: &str = "INSERT INTO volume_spans (volume_ref, host_id, first_pass, last_pass)
     VALUES (?1, ?2, ?3, ?3) ON CONFLICT (volume_ref) DO UPDATE SET last_pass = excluded.last_pass";

const LATEST_VOLUME_STATE: &str = "SELECT pass_id, present, in_use, mounted_by, read_only FROM volume_states
     WHERE volume_ref = ?1 ORDER BY pass_id DESC LIMIT 1";
const VOLUME_STATE_LINKS: &str =
    "SELECT stack_id, via FROM volume_stacks WHERE volume_ref = ?1 AND pass_id = ?2 ORDER BY stack_id";
const INSERT_VOLUME_STATE: &str =
    "INSERT INTO volume_states (volume_ref, pass_id, present, in_use, mounted_by, read_only)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
const LATEST_VOLUME_SIZE: &str = "SELECT pass_id, size_bytes, method, unsized_reason, measured_at, checked_at
     FROM volume_sizes WHERE volume_ref = ?1 ORDER BY pass_id DESC LIMIT 1";
const INSERT_VOLUME_SIZE: &str = "INSERT INTO volume_sizes (volume_ref, pass_id, size_bytes, method, measured_at,
        unsized_reason, checked_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?5)";
/// The same size measured again: only how fresh it is changes, in place.
const CONFIRM_VOLUME_SIZE: &str = "UPDATE volume_sizes SET checked_at = ?3 WHERE volume_ref = ?1 AND pass_id = ?2";
/// Volumes the host's previous pass saw and this one did not.
const VOLUMES_GONE: &str = "SELECT volume_ref FROM volume_spans WHERE host_id = ?1 AND last_pass = ?2";
/// The host's newest pass before this one is written. `+host_id` keeps the
/// planner off the (host, time) index, which would read and sort all of the
/// host's passes: walking ids down from the newest stops at the first match.
const PREVIOUS_PASS: &str = "SELECT id FROM passes WHERE +host_id = ?1 ORDER BY id DESC LIMIT 1";

const UPSERT_SIZE_STATE: &str = "INSERT INTO size_state (host_id, kind, object, size_bytes, method, measured_at,
        attempted_at, walk_ms, walk_files, unsized_reason) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
     ON CONFLICT (host_id, kind, object) DO UPDATE SET size_bytes = excluded.size_bytes, method = excluded.method,
        measured_at = excluded.measured_at, attempted_at = excluded.attempted_at, walk_ms = excluded.walk_ms,
        walk_files = excluded.walk_files, unsized_reason = excluded.unsized_reason";

/// Objects gone from the engine are forgotten after a week.
const FORGET_SIZE_STATE: &str = "DELETE FROM size_state WHERE host_id = ?1 AND attempted_at < ?2";

const INSERT_VOLUME_STACK: &str =
    "INSERT OR IGNORE INTO volume_stacks (volume_ref, pass_id, stack_id, via) VALUES (?1, ?2, ?3, ?4)";

const UPSERT_IMAGE: &str = "INSERT INTO images (host_id, image_id, created_at, labels) VALUES (?1, ?2, ?3, ?4)
     ON CONFLICT (host_id, image_id) DO UPDATE SET labels = excluded.labels
     WHERE images.labels IS NOT excluded.labels";
const IMAGE_ID: &str = "SELECT id FROM images WHERE host_id = ?1 AND image_id = ?2";

const UPSERT_IMAGE_SPAN: &str = "INSERT INTO image_spans (image_ref, host_id, first_pass, last_pass)
     VALUES (?1, ?2, ?3, ?3) ON CONFLICT (image_ref) DO UPDATE SET last_pass = excluded.last_pass";
const LATEST_IMAGE_STATE: &str = "SELECT pass_id, present, tags, size_bytes, containers, managed FROM image_states
     WHERE image_ref = ?1 ORDER BY pass_id DESC LIMIT 1";
const IMAGE_STATE_STACKS: &str =
    "SELECT stack_id FROM image_stacks WHERE image_ref = ?1 AND pass_id = ?2 ORDER BY stack_id";
const INSERT_IMAGE_STATE: &str = "INSERT INTO image_states (image_ref, pass_id, present, tags, size_bytes,
        containers, managed) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
const INSERT_IMAGE_STACK: &str =
    "INSERT OR IGNORE INTO image_stacks (image_ref, pass_id, stack_id) VALUES (?1, ?2, ?3)";
// An event is stored once, whoever saw it first (V8's key).
const INSERT_EVENT: &str = "INSERT OR IGNORE INTO event_rows (host_id, container_id, at_ns, action, name, stack_kind,
        stack, service, health, exit_code, signal, oom, source)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)";
const INSERT_EVENT_GAP: &str = "INSERT OR IGNORE INTO event_gap_rows (host_id, from_ns, to_ns, reason, noted_at)
     VALUES (?1, ?2, ?3, ?4, ?5)";

/// Records an interval whose events may be missing, noted at `noted_at`.
fn insert_event_gap(
    conn: &Connection,
    host_id: i64,
    gap: &crate::model::snapshot::EventGap,
    noted_at: i64,
) -> rusqlite::Result<()> {
    conn.prepare_cached(INSERT_EVENT_GAP)?.execute(params![host_id, gap.from_ns, gap.to_ns, gap.reason, noted_at])?;
    Ok(())
}

/// Stores container events; those already stored are skipped.
fn insert_events(
    conn: &Connection,
    host_id: i64,
    events: &[crate::model::snapshot::ContainerEvent],
    source: &str,
) -> rusqlite::Result<usize> {
    let mut st = conn.prepare_cached(INSERT_EVENT)?;
    let mut added = 0;
    for e in events {
        added += st.execute(params![
            host_id,
            e.container_id,
            e.at_ns,
            e.action,
            e.name,
            e.stack.as_ref().map(|k| k.kind.as_str()),
            e.stack.as_ref().map(|k| k.name.as_str()),
            e.service,
            e.health,
            e.exit_code,
            e.signal,
            e.oom,
            source
        ])?;
    }
    Ok(added)
}

/// Images the host's previous pass saw and this one did not.
const IMAGES_GONE: &str = "SELECT image_ref FROM image_spans WHERE host_id = ?1 AND last_pass = ?2";

/// The error `insert_pass_checked` returns when told to stop.
fn stopped() -> rusqlite::Error {
    rusqlite::Error::SqliteFailure(
        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_INTERRUPT),
        Some("stopped before commit; the pass was rolled back".into()),
    )
}

/// Where one pass's rows go: its transaction, its host, its own row, and
/// the host's previous pass (what that saw and this one did not is gone).
/// One method per kind of object, in the order a pass is written.
struct PassRows<'t> {
    tx: &'t Connection,
    host_id: i64,
    pass_id: i64,
    previous: Option<i64>,
}

type StackIdOf<'a> = dyn Fn(&StackKey) -> rusqlite::Result<i64> + 'a;
type StopIfAsked<'a> = dyn FnMut() -> rusqlite::Result<()> + 'a;

impl<'t> PassRows<'t> {
    /// The host's row (created on its first pass) and the pass's own.
    fn start(tx: &'t Connection, snap: &Snapshot) -> rusqlite::Result<PassRows<'t>> {
        let h = &snap.host;
        let host_id = host_id(tx, &h.engine_id, &h.hostname)?;
        let previous: Option<i64> = tx.query_row(PREVIOUS_PASS, [host_id], |r| r.get(0)).optional()?;
        tx.execute(
            INSERT_PASS,
            params![
                host_id,
                snap.started_at,
                snap.duration_ms,
                h.engine_version,
                h.api_version,
                h.hostname,
                h.docker_root,
                h.fs.map(|f| f.total_bytes),
                h.fs.map(|f| f.used_bytes),
                h.fs.map(|f| f.free_bytes),
                snap.containers.len() as i64,
                snap.volumes.len() as i64,
                snap.images.len() as i64,
                snap.errors.len() as i64,
                env!("CARGO_PKG_VERSION"),
                snap.stats_method,
                snap.docker_totals.images_bytes,
                snap.docker_totals.build_cache_bytes,
                snap.docker_totals.measured_at,
            ],
        )?;
        let pass_id = tx.last_insert_rowid();
        Ok(PassRows { tx, host_id, pass_id, previous })
    }

    fn filesystems(&self, snap: &Snapshot) -> rusqlite::Result<()> {
        let (tx, host_id, pass_id) = (self.tx, self.host_id, self.pass_id);
        let mut upsert = tx.prepare_cached(UPSERT_FILESYSTEM)?;
        let mut sample = tx.prepare_cached(INSERT_FILESYSTEM_SAMPLE)?;
        for f in &snap.filesystems {
            // SQLite integers are signed; a device number is an opaque id.
            let device = f.device as i64;
            upsert.execute(params![host_id, device, f.mount_point])?;
            let id: i64 =
                tx.prepare_cached(FILESYSTEM_ID)?.query_row(params![host_id, device, f.mount_point], |r| r.get(0))?;
            sample.execute(params![
                pass_id,
                id,
                f.usage.total_bytes,
                f.usage.used_bytes,
                f.usage.free_bytes,
                f.docker_root
            ])?;
        }
        Ok(())
    }

    fn errors(&self, snap: &Snapshot) -> rusqlite::Result<()> {
        let (tx, pass_id) = (self.tx, self.pass_id);
        let mut insert = tx.prepare_cached(INSERT_ERROR)?;
        for e in &snap.errors {
            insert.execute(params![pass_id, e.kind, e.name, e.message])?;
        }
        Ok(())
    }

    /// Each stack's row and totals; returns the stacks' row ids.
    fn stacks<'s>(
        &self,
        snap: &'s Snapshot,
        stop_if_asked: &mut StopIfAsked<'_>,
    ) -> rusqlite::Result<HashMap<&'s StackKey, i64>> {
        let (tx, host_id, pass_id) = (self.tx, self.host_id, self.pass_id);
        let mut stack_ids: HashMap<&StackKey, i64> = HashMap::new();
        let mut upsert = tx.prepare_cached(UPSERT_STACK)?;
        let mut sample = tx.prepare_cached(INSERT_STACK_SAMPLE)?;
        for s in &snap.stacks {
            stop_if_asked()?;
            let key = params![host_id, s.key.kind.as_str(), s.key.name];
            upsert.execute(params![host_id, s.key.kind.as_str(), s.key.name, s.working_dir, s.config_files])?;
            let id: i64 = tx.prepare_cached(STACK_ID)?.query_row(key, |r| r.get(0))?;
            stack_ids.insert(&s.key, id);
            sample.execute(params![
                pass_id,
                id,
                s.containers,
                s.running,
                s.rw_bytes,
                s.log_bytes,
                s.volume_bytes,
                s.disk_bytes,
                s.mem_bytes,
                s.unknown_sizes,
            ])?;
        }
        Ok(stack_ids)
    }

    /// Identity, span, state when it changed, and samples in key order.
    fn containers(
        &self,
        snap: &Snapshot,
        stack_id: &StackIdOf<'_>,
        stop_if_asked: &mut StopIfAsked<'_>,
    ) -> rusqlite::Result<()> {
        let (tx, host_id, pass_id) = (self.tx, self.host_id, self.pass_id);
        let mut upsert = tx.prepare_cached(UPSERT_CONTAINER)?;
        let mut span = tx.prepare_cached(UPSERT_CONTAINER_SPAN)?;
        let mut sample = tx.prepare_cached(INSERT_CONTAINER_SAMPLE)?;
        let mut latest = tx.prepare_cached(LATEST_CONTAINER_STATE)?;
        let mut state = tx.prepare_cached(INSERT_CONTAINER_STATE)?;
        let mut samples = Vec::with_capacity(snap.containers.len());
        for c in &snap.containers {
            stop_if_asked()?;
            let Some(key) = &c.stack else { continue };
            let labels = Labels::to_json(&c.labels);
            upsert.execute(params![
                host_id,
                c.id,
                stack_id(key)?,
                c.service,
                c.created_at,
                labels,
                c.image,
                c.image_id,
                c.log_driver
            ])?;
            let id: i64 = tx.prepare_cached(CONTAINER_ID)?.query_row(params![host_id, c.id], |r| r.get(0))?;
            span.execute(params![id, host_id, pass_id])?;
            samples.push((id, c));
            let now = ContainerStateRow::of(c, c.stats.and_then(|s| s.mem_limit_bytes));
            let before = latest.query_row([id], ContainerStateRow::from_row).optional()?;
            if before.as_ref() != Some(&now) {
                state.execute(params![
                    id,
                    pass_id,
                    now.name,
                    now.state,
                    now.health,
                    now.restart_count,
                    now.exit_code,
                    now.oom_killed,
                    now.started_at,
                    now.mem_limit_bytes,
                    now.rw_method
                ])?;
            }
        }
        samples.sort_unstable_by_key(|(id, _)| *id);
        if let Some((id, _)) = samples.last().filter(|(id, _)| *id >= 1 << 32) {
            // It would land in the next pass's key range.
            return Err(rusqlite::Error::ToSqlConversionFailure(
                format!("container row id {id} does not fit a sample key (2^32 containers)").into(),
            ));
        }
        for (id, c) in samples {
            let s = c.stats.unwrap_or_default();
            sample.execute(params![
                pass_id,
                id,
                s.cpu_ns,
                s.mem_bytes,
                s.net_rx_bytes,
                s.net_tx_bytes,
                s.blkio_read_bytes,
                s.blkio_write_bytes,
                s.pids,
                c.log_bytes,
                c.rw_bytes,
                c.rw_measured_at
            ])?;
        }
        Ok(())
    }

    /// Volumes and bind mounts: identity, span, state and size when they changed.
    fn volumes(
        &self,
        snap: &Snapshot,
        stack_id: &StackIdOf<'_>,
        stop_if_asked: &mut StopIfAsked<'_>,
    ) -> rusqlite::Result<()> {
        let (tx, host_id, pass_id, previous) = (self.tx, self.host_id, self.pass_id, self.previous);
        let mut upsert = tx.prepare_cached(UPSERT_VOLUME)?;
        let mut span = tx.prepare_cached(UPSERT_VOLUME_SPAN)?;
        let mut latest_state = tx.prepare_cached(LATEST_VOLUME_STATE)?;
        let mut latest_links = tx.prepare_cached(VOLUME_STATE_LINKS)?;
        let mut state = tx.prepare_cached(INSERT_VOLUME_STATE)?;
        let mut link = tx.prepare_cached(INSERT_VOLUME_STACK)?;
        let mut latest_size = tx.prepare_cached(LATEST_VOLUME_SIZE)?;
        let mut size = tx.prepare_cached(INSERT_VOLUME_SIZE)?;
        let mut confirm = tx.prepare_cached(CONFIRM_VOLUME_SIZE)?;
        for v in &snap.volumes {
            stop_if_asked()?;
            let labels = Labels::to_json(&v.labels);
            upsert.execute(params![host_id, v.name, v.driver, v.created_at, labels, v.kind.as_str()])?;
            let id: i64 = tx.prepare_cached(VOLUME_ID)?.query_row(params![host_id, v.name], |r| r.get(0))?;
            span.execute(params![id, host_id, pass_id])?;
            let mounted = NameList::to_json(&v.mounted_by);
            let mut links = Vec::with_capacity(v.stacks.len());
            for (key, via) in &v.stacks {
                links.push((stack_id(key)?, via.as_str().to_string()));
            }
            links.sort();
            links.dedup_by_key(|l| l.0);
            let now =
                VolumeState { present: true, in_use: v.in_use(), mounted_by: mounted, read_only: v.read_only, links };
            let before = match latest_state
                .query_row([id], |r| Ok((r.get::<_, i64>(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))
                .optional()?
            {
                Some((at, present, in_use, mounted_by, read_only)) => Some(VolumeState {
                    present,
                    in_use,
                    mounted_by,
                    read_only,
                    links: latest_links
                        .query_map([id, at], |r| Ok((r.get(0)?, r.get(1)?)))?
                        .collect::<rusqlite::Result<_>>()?,
                }),
                None => None,
            };
            if before.as_ref() != Some(&now) {
                state.execute(params![id, pass_id, now.present, now.in_use, now.mounted_by, now.read_only])?;
                for (stack, via) in &now.links {
                    link.execute(params![id, pass_id, stack, via])?;
                }
            }
            // A new row only when what is known changes; the same size
            // measured again just moves the old row's checked_at.
            let measured = (v.size_bytes, v.size_method.map(str::to_string), v.unsized_reason.clone());
            let before = latest_size
                .query_row([id], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        (r.get(1)?, r.get(2)?, r.get(3)?),
                        r.get::<_, Option<i64>>(4)?,
                        r.get::<_, Option<i64>>(5)?,
                    ))
                })
                .optional()?;
            match before {
                Some((at, known, measured_at, checked_at)) if known == measured => {
                    let checked = checked_at.or(measured_at);
                    if let Some(t) = v.size_measured_at.filter(|t| checked.is_none_or(|c| *t > c)) {
                        confirm.execute(params![id, at, t])?;
                    }
                }
                _ => {
                    size.execute(params![id, pass_id, measured.0, measured.1, v.size_measured_at, measured.2])?;
                }
            }
        }
        // What the previous pass saw and this one did not is gone from here on.
        for id in gone_since(tx, VOLUMES_GONE, host_id, previous)? {
            state.execute(params![id, pass_id, false, false, "[]", None::<bool>])?;
        }
        Ok(())
    }

    fn images(
        &self,
        snap: &Snapshot,
        stack_id: &StackIdOf<'_>,
        stop_if_asked: &mut StopIfAsked<'_>,
    ) -> rusqlite::Result<()> {
        let (tx, host_id, pass_id, previous) = (self.tx, self.host_id, self.pass_id, self.previous);
        let mut upsert = tx.prepare_cached(UPSERT_IMAGE)?;
        let mut span = tx.prepare_cached(UPSERT_IMAGE_SPAN)?;
        let mut latest_state = tx.prepare_cached(LATEST_IMAGE_STATE)?;
        let mut latest_stacks = tx.prepare_cached(IMAGE_STATE_STACKS)?;
        let mut state = tx.prepare_cached(INSERT_IMAGE_STATE)?;
        let mut link = tx.prepare_cached(INSERT_IMAGE_STACK)?;
        for i in &snap.images {
            stop_if_asked()?;
            let labels = Labels::to_json(&i.labels);
            upsert.execute(params![host_id, i.id, i.created_at, labels])?;
            let id: i64 = tx.prepare_cached(IMAGE_ID)?.query_row(params![host_id, i.id], |r| r.get(0))?;
            span.execute(params![id, host_id, pass_id])?;
            let mut stacks = i.stacks.iter().map(stack_id).collect::<rusqlite::Result<Vec<i64>>>()?;
            stacks.sort_unstable();
            stacks.dedup();
            let now = ImageState {
                present: true,
                tags: NameList::to_json(&i.tags),
                size_bytes: i.size_bytes,
                containers: i.containers,
                managed: i.managed,
                stacks,
            };
            let before = match latest_state
                .query_row([id], |r| Ok((r.get::<_, i64>(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)))
                .optional()?
            {
                Some((at, present, tags, size_bytes, containers, managed)) => Some(ImageState {
                    present,
                    tags,
                    size_bytes,
                    containers,
                    managed,
                    stacks: latest_stacks.query_map([id, at], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?,
                }),
                None => None,
            };
            if before.as_ref() != Some(&now) {
                state.execute(params![
                    id,
                    pass_id,
                    now.present,
                    now.tags,
                    now.size_bytes,
                    now.containers,
                    now.managed
                ])?;
                for stack in &now.stacks {
                    link.execute(params![id, pass_id, stack])?;
                }
            }
        }
        for id in gone_since(tx, IMAGES_GONE, host_id, previous)? {
            state.execute(params![id, pass_id, false, "[]", None::<i64>, 0, false])?;
        }
        Ok(())
    }

    /// What was measured this pass, for the next pass's size plan.
    fn size_state(&self, snap: &Snapshot) -> rusqlite::Result<()> {
        let (tx, host_id) = (self.tx, self.host_id);
        let mut up = tx.prepare_cached(UPSERT_SIZE_STATE)?;
        for u in &snap.size_updates {
            up.execute(params![
                host_id,
                u.kind,
                u.object,
                u.bytes,
                u.method,
                u.measured_at,
                u.attempted_at,
                u.walk_ms,
                u.walk_files,
                u.unsized_reason
            ])?;
        }
        tx.execute(FORGET_SIZE_STATE, params![host_id, snap.started_at - 7 * 86_400])?;
        Ok(())
    }

    fn events(&self, snap: &Snapshot) -> rusqlite::Result<()> {
        let (tx, host_id) = (self.tx, self.host_id);
        insert_events(tx, host_id, &snap.events, "collect")?;
        if let Some(g) = &snap.event_gap {
            insert_event_gap(tx, host_id, g, snap.started_at)?;
        }
        Ok(())
    }
}

/// Objects (by `spans`, a *_GONE query) that the host's previous pass saw
/// and this pass, whose spans are already extended, did not.
fn gone_since(tx: &Connection, spans: &str, host_id: i64, previous: Option<i64>) -> rusqlite::Result<Vec<i64>> {
    let Some(previous) = previous else { return Ok(Vec::new()) };
    tx.prepare_cached(spans)?.query_map(params![host_id, previous], |r| r.get(0))?.collect()
}

/// What `container_states` records; a new row is written when it changes.
#[derive(Debug, PartialEq)]
struct ContainerStateRow {
    name: String,
    state: crate::model::snapshot::ContainerState,
    health: Option<String>,
    restart_count: Option<i64>,
    exit_code: Option<i64>,
    oom_killed: Option<bool>,
    started_at: Option<i64>,
    mem_limit_bytes: Option<i64>,
    rw_method: Option<String>,
}

impl ContainerStateRow {
    fn of(c: &crate::model::snapshot::ContainerSample, mem_limit_bytes: Option<i64>) -> ContainerStateRow {
        ContainerStateRow {
            name: c.name.clone(),
            state: c.state.clone(),
            health: c.health.clone(),
            restart_count: c.restart_count,
            exit_code: c.exit_code,
            oom_killed: c.oom_killed,
            started_at: c.started_at,
            mem_limit_bytes,
            rw_method: c.rw_method.map(str::to_string),
        }
    }

    fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ContainerStateRow> {
        Ok(ContainerStateRow {
            name: r.get(0)?,
            state: r.get(1)?,
            health: r.get(2)?,
            restart_count: r.get(3)?,
            exit_code: r.get(4)?,
            oom_killed: r.get(5)?,
            started_at: r.get(6)?,
            mem_limit_bytes: r.get(7)?,
            rw_method: r.get(8)?,
        })
    }
}

/// What `volume_states` (with its `volume_stacks` rows) records.
#[derive(Debug, PartialEq)]
struct VolumeState {
    present: bool,
    in_use: bool,
    mounted_by: String,
    read_only: Option<bool>,
    /// (stack id, via), sorted by stack id.
    links: Vec<(i64, String)>,
}

/// What `image_states` (with its `image_stacks` rows) records.
#[derive(Debug, PartialEq)]
struct ImageState {
    present: bool,
    tags: String,
    size_bytes: Option<i64>,
    containers: i64,
    managed: bool,
    /// Stack ids, sorted.
    stacks: Vec<i64>,
}

/// The host row for an engine, created when the engine has never been collected.
fn host_id(conn: &Connection, engine_id: &str, hostname: &str) -> rusqlite::Result<i64> {
    conn.execute(UPSERT_HOST, params![engine_id, hostname])?;
    conn.query_row(HOST_ID, [engine_id], |r| r.get(0))
}

// ---------------------------------------------------------------------------
// Prunes (migration V3). Each removal is its own small transaction, written
// right after the engine confirmed it, so an interrupted prune still
// accounts for everything it removed.
// ---------------------------------------------------------------------------

/// One removed object.
pub struct Removed<'a> {
    pub kind: &'a str,
    pub object_id: &'a str,
    pub name: &'a str,
    pub stack: Option<&'a str>,
    pub reason: &'a str,
    pub size_bytes: Option<i64>,
}

/// `reason` of a removal asked for but not yet confirmed: `pending: exited`.
/// Written before the engine is asked, so a prune killed mid-removal still
/// leaves a row for an object that may be gone; settled right after, or by
/// the next prune of that engine ([`pending_removals`]).
pub const PENDING: &str = "pending: ";

/// A removal left pending by an interrupted prune.
pub struct PendingRemoval {
    pub id: i64,
    pub kind: String,
    pub object_id: String,
    pub name: String,
    /// The reason without the pending mark.
    pub reason: String,
}

impl Store {
    /// The host row for an engine, created when the engine has never been
    /// collected.
    pub fn host_id(&self, engine_id: &str, hostname: &str) -> rusqlite::Result<i64> {
        host_id(&self.conn, engine_id, hostname)
    }

    /// Stores a batch of container events and the intervals whose events
    /// may be missing (noted at `noted_at`) in one transaction; returns how
    /// many events were new.
    pub fn insert_events(
        &mut self,
        host_id: i64,
        events: &[crate::model::snapshot::ContainerEvent],
        gaps: &[crate::model::snapshot::EventGap],
        noted_at: i64,
        source: &str,
    ) -> rusqlite::Result<usize> {
        let tx = self.conn.transaction()?;
        let added = insert_events(&tx, host_id, events, source)?;
        for g in gaps {
            insert_event_gap(&tx, host_id, g, noted_at)?;
        }
        tx.commit()?;
        Ok(added)
    }

    /// Writes one pass in one IMMEDIATE transaction: it lands whole or not at
    /// all, and it takes the write lock up front so a busy database fails fast
    /// (after the busy timeout) rather than half-way through.
    pub fn insert_pass(&mut self, snap: &Snapshot) -> rusqlite::Result<i64> {
        self.insert_pass_checked(snap, &mut || true)
    }

    /// [`insert_pass`], asking `keep_going` between rows and right before the
    /// commit: `false` (a signal arrived) drops the transaction, so nothing of
    /// the pass is left, and returns an `SQLITE_INTERRUPT` error.
    pub fn insert_pass_checked(
        &mut self,
        snap: &Snapshot,
        keep_going: &mut dyn FnMut() -> bool,
    ) -> rusqlite::Result<i64> {
        let mut stop_if_asked = || if keep_going() { Ok(()) } else { Err(stopped()) };
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let rows = PassRows::start(&tx, snap)?;
        stop_if_asked()?;
        rows.filesystems(snap)?;
        rows.errors(snap)?;
        let stack_ids = rows.stacks(snap, &mut stop_if_asked)?;
        let stack_id = |k: &StackKey| {
            stack_ids.get(k).copied().ok_or_else(|| {
                rusqlite::Error::ToSqlConversionFailure(format!("stack {}/{} has no totals row", k.kind, k.name).into())
            })
        };
        rows.containers(snap, &stack_id, &mut stop_if_asked)?;
        rows.volumes(snap, &stack_id, &mut stop_if_asked)?;
        rows.images(snap, &stack_id, &mut stop_if_asked)?;
        stop_if_asked()?;
        rows.size_state(snap)?;
        rows.events(snap)?;
        let pass_id = rows.pass_id;
        tx.commit()?;
        Ok(pass_id)
    }

    pub fn insert_prune_run(&self, host_id: i64, started_at: i64, label: &str, volumes: bool) -> rusqlite::Result<i64> {
        self.conn.execute(
            "INSERT INTO prune_runs (host_id, started_at, label, volumes, stackwatch_version) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![host_id, started_at, label, volumes, env!("CARGO_PKG_VERSION")],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    pub fn insert_prune_removal(&self, run_id: i64, at: i64, r: &Removed<'_>) -> rusqlite::Result<i64> {
        self.conn.execute(
            "INSERT INTO prune_removals (run_id, removed_at, object_kind, object_id, name, stack, reason, size_bytes)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![run_id, at, r.kind, r.object_id, r.name, r.stack, r.reason, r.size_bytes],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    /// The removal the row `id` stood for happened: its reason loses the
    /// pending mark. A row another prune settled away meanwhile (it saw the
    /// object still there, just before the removal) is written again.
    pub fn confirm_prune_removal(&self, id: i64, run_id: i64, at: i64, r: &Removed<'_>) -> rusqlite::Result<()> {
        let n = self.conn.execute(
            "UPDATE prune_removals SET reason = ?2, removed_at = ?3 WHERE rowid = ?1",
            params![id, r.reason, at],
        )?;
        if n == 0 {
            self.insert_prune_removal(run_id, at, r)?;
        }
        Ok(())
    }

    /// The removal the row `id` stood for did not happen.
    pub fn drop_prune_removal(&self, id: i64) -> rusqlite::Result<()> {
        self.conn.execute("DELETE FROM prune_removals WHERE rowid = ?1", [id])?;
        Ok(())
    }

    /// Removals on a host that a prune asked for and never settled.
    pub fn pending_removals(&self, host_id: i64) -> rusqlite::Result<Vec<PendingRemoval>> {
        self.conn
            .prepare(
                "SELECT r.rowid, r.object_kind, r.object_id, r.name, substr(r.reason, length(?2) + 1)
             FROM prune_removals r JOIN prune_runs pr ON pr.id = r.run_id
             WHERE pr.host_id = ?1 AND substr(r.reason, 1, length(?2)) = ?2 ORDER BY r.rowid",
            )?
            .query_map(params![host_id, PENDING], |r| {
                Ok(PendingRemoval {
                    id: r.get(0)?,
                    kind: r.get(1)?,
                    object_id: r.get(2)?,
                    name: r.get(3)?,
                    reason: r.get(4)?,
                })
            })?
            .collect()
    }

    /// Settles a pending removal that only took tags off (the engine then
    /// refused the removal and they could not be put back): no bytes freed.
    pub fn settle_prune_untagged(&self, id: i64, reason: &str) -> rusqlite::Result<()> {
        self.conn
            .execute("UPDATE prune_removals SET reason = ?2, size_bytes = 0 WHERE rowid = ?1", params![id, reason])?;
        Ok(())
    }

    /// Settles a pending removal: the object is gone, so the row stands, with its reason.
    pub fn settle_prune_removal(&self, id: i64, reason: &str) -> rusqlite::Result<()> {
        self.conn.execute("UPDATE prune_removals SET reason = ?2 WHERE rowid = ?1", params![id, reason])?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::Duration;

    use super::*;
    use crate::collect::aggregate;
    use crate::model::snapshot::*;

    fn snapshot(at: i64, volume_size: Option<i64>) -> Snapshot {
        let harb = StackKey { kind: StackKind::Compose, name: "harb".into() };
        let mut anvil = ContainerSample {
            id: "c1".into(),
            name: "harb-anvil-1".into(),
            stack: Some(harb.clone()),
            service: Some("anvil".into()),
            image: "anvil:latest".into(),
            image_id: Some("sha256:i1".into()),
            state: ContainerState::Running,
            restart_count: Some(2),
            rw_bytes: Some(40_000_000),
            log_bytes: None,
            mounts: vec!["harb_chain".into()],
            ..Default::default()
        };
        anvil.stats = Some(Stats { mem_bytes: Some(5_000), cpu_ns: Some(7), ..Default::default() });
        let containers = vec![anvil];
        let mut volumes = vec![VolumeSample {
            name: "harb_chain".into(),
            driver: "local".into(),
            labels: BTreeMap::from([("com.docker.compose.project".into(), "harb".into())]),
            size_bytes: volume_size,
            size_method: volume_size.map(|_| "engine"),
            ..Default::default()
        }];
        let mut images =
            vec![ImageSample { id: "sha256:i1".into(), tags: vec!["anvil:latest".into()], ..Default::default() }];
        let stacks = aggregate::attribute(&containers, &mut volumes, &mut images);
        Snapshot {
            started_at: at,
            duration_ms: 12,
            host: HostInfo {
                engine_id: "E1".into(),
                hostname: "box".into(),
                engine_version: "28.0.0".into(),
                api_version: "1.48".into(),
                docker_root: Some("/var/lib/docker".into()),
                fs: None,
                root_visible: false,
            },
            containers,
            volumes,
            images,
            stacks,
            ..Default::default()
        }
    }

    type ContainerRow =
        (String, String, String, String, String, String, Option<String>, i64, i64, i64, Option<i64>, String);

    #[test]
    fn contract_views_have_their_columns_and_keep_unknown_as_null() {
        let dir = tempfile::tempdir().unwrap();
        let mut st = crate::store::open_for_write(&dir.path().join("h.db"), Duration::from_secs(1)).unwrap();
        st.insert_pass(&snapshot(1_795_608_000, Some(1_000))).unwrap();
        st.insert_pass(&snapshot(1_795_608_300, None)).unwrap();
        let c = &st.conn;

        let row: ContainerRow = c
            .query_row(
                "SELECT host, stack, service, container, image, state, health, restart_count, mem_bytes, rw_bytes, log_bytes, sampled_at FROM latest_containers",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?, r.get(8)?, r.get(9)?, r.get(10)?, r.get(11)?)),
            )
            .unwrap();
        assert_eq!(row.0, "box");
        assert_eq!((row.1.as_str(), row.2.as_str(), row.3.as_str()), ("harb", "anvil", "harb-anvil-1"));
        assert_eq!((row.7, row.8, row.9, row.10), (2, 5_000, 40_000_000, None));
        assert_eq!(row.11, "2026-11-25T12:05:00Z");

        let vol: (String, String, Option<i64>, bool, String) = c
            .query_row(
                "SELECT host, stack, size_bytes, in_use, sampled_at FROM latest_volumes WHERE volume = 'harb_chain'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )
            .unwrap();
        assert_eq!(vol, ("box".into(), "harb".into(), None, true, "2026-11-25T12:05:00Z".into()));

        let stack: (String, String, String, i64, i64, Option<i64>, Option<i64>, String, i64) = c
            .query_row(
                "SELECT host, stack, kind, containers, running, disk_bytes, mem_bytes, sampled_at, unknown_sizes FROM latest_stacks",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?, r.get(8)?)),
            )
            .unwrap();
        assert_eq!(stack.2, "compose");
        assert_eq!((stack.3, stack.4, stack.5, stack.6), (1, 1, Some(40_000_000), Some(5_000)));
        assert_eq!(stack.8, 2, "log and volume sizes unknown in the latest pass");

        let history: Vec<(String, String, String, Option<i64>)> = c
            .prepare("SELECT host, stack, sampled_at, disk_bytes FROM stack_disk_history ORDER BY sampled_at")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(
            history,
            vec![
                ("box".into(), "harb".into(), "2026-11-25T12:00:00Z".into(), Some(40_001_000)),
                ("box".into(), "harb".into(), "2026-11-25T12:05:00Z".into(), Some(40_000_000)),
            ]
        );
        assert_eq!(st.reader().unwrap().summary().unwrap().passes, 2);
        let (hosts, stacks, containers): (i64, i64, i64) = c
            .query_row(
                "SELECT (SELECT count(*) FROM hosts), (SELECT count(*) FROM stacks), (SELECT count(*) FROM containers)",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap();
        assert_eq!((hosts, stacks, containers), (1, 1, 1), "identities are not duplicated across passes");
    }

    /// The README's contract: these views start with exactly these columns,
    /// in this order (new columns are only ever appended).
    #[test]
    fn contract_views_start_with_the_documented_columns_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let st = crate::store::open_for_write(&dir.path().join("h.db"), Duration::from_secs(1)).unwrap();
        let contract: [(&str, &[&str]); 8] = [
            (
                "latest_containers",
                &[
                    "host",
                    "stack",
                    "service",
                    "container",
                    "image",
                    "state",
                    "health",
                    "restart_count",
                    "mem_bytes",
                    "rw_bytes",
                    "log_bytes",
                    "sampled_at",
                ],
            ),
            ("latest_volumes", &["host", "stack", "volume", "size_bytes", "in_use", "sampled_at"]),
            (
                "latest_stacks",
                &["host", "stack", "kind", "containers", "running", "disk_bytes", "mem_bytes", "sampled_at"],
            ),
            ("stack_disk_history", &["host", "stack", "sampled_at", "disk_bytes"]),
            ("host_names", &["host", "hostname", "engine_id", "host_id"]),
            (
                "container_history",
                &[
                    "host",
                    "stack",
                    "service",
                    "container",
                    "sampled_at",
                    "state",
                    "health",
                    "restart_count",
                    "cpu_ns",
                    "mem_bytes",
                    "rw_bytes",
                    "log_bytes",
                    "pass_id",
                    "container_id",
                    "sampled_unix",
                    "engine_id",
                    "mem_peak_bytes",
                ],
            ),
            (
                "latest_images",
                &[
                    "host",
                    "image_id",
                    "tags",
                    "size_bytes",
                    "containers",
                    "managed",
                    "stacks",
                    "sampled_at",
                    "engine_id",
                ],
            ),
            (
                "image_history",
                &[
                    "host",
                    "image_id",
                    "sampled_at",
                    "tags",
                    "size_bytes",
                    "containers",
                    "managed",
                    "stacks",
                    "pass_id",
                    "sampled_unix",
                    "engine_id",
                ],
            ),
        ];
        for (view, columns) in contract {
            let names: Vec<String> = st
                .conn
                .prepare(&format!("SELECT name FROM pragma_table_info('{view}')"))
                .unwrap()
                .query_map([], |r| r.get(0))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            assert_eq!(&names[..columns.len()], columns, "{view}");
        }
    }

    /// Two engines on one machine share a hostname; the views must still
    /// tell their rows apart, and a one-engine history keeps plain names.
    #[test]
    fn engines_sharing_a_hostname_get_distinct_host_names_in_every_view() {
        let dir = tempfile::tempdir().unwrap();
        let mut st = crate::store::open_for_write(&dir.path().join("h.db"), Duration::from_secs(1)).unwrap();
        st.insert_pass(&snapshot(1_795_608_000, Some(1_000))).unwrap();
        let one: Vec<String> = st
            .conn
            .prepare("SELECT DISTINCT host FROM latest_stacks")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(one, vec!["box".to_string()]);

        let mut second = snapshot(1_795_608_060, Some(2_000));
        second.host.engine_id = "ENGINE-TWO-0123456789".into();
        st.insert_pass(&second).unwrap();
        for view in
            ["latest_stacks", "latest_containers", "latest_volumes", "latest_images", "stack_disk_history", "pass_log"]
        {
            let rows: Vec<(String, String)> = st
                .conn
                .prepare(&format!("SELECT DISTINCT host, engine_id FROM {view} ORDER BY host"))
                .unwrap()
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            assert_eq!(
                rows,
                vec![
                    ("box@E1".to_string(), "E1".to_string()),
                    ("box@ENGINE-TWO-012".to_string(), "ENGINE-TWO-0123456789".to_string())
                ],
                "{view}"
            );
        }
        let volumes: Vec<(String, Option<i64>)> = st
            .conn
            .prepare("SELECT host, size_bytes FROM latest_volumes ORDER BY host")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(volumes, vec![("box@E1".into(), Some(1_000)), ("box@ENGINE-TWO-012".into(), Some(2_000))]);
        let hosts: Vec<String> = st.reader().unwrap().hosts().unwrap().into_iter().map(|h| h.hostname).collect();
        assert_eq!(hosts, vec!["box@E1", "box@ENGINE-TWO-012"]);
    }

    /// What repeats from pass to pass is written once; a change, a vanished
    /// volume and its return each write one row.
    #[test]
    fn change_tables_get_a_row_only_when_something_changed() {
        let dir = tempfile::tempdir().unwrap();
        let mut st = crate::store::open_for_write(&dir.path().join("h.db"), Duration::from_secs(1)).unwrap();
        let rows = |c: &Connection, t: &str| -> i64 {
            c.query_row(&format!("SELECT count(*) FROM {t}"), [], |r| r.get(0)).unwrap()
        };
        for i in 0..5 {
            st.insert_pass(&snapshot(1_000 + i * 300, Some(1_000))).unwrap();
        }
        let c = &st.conn;
        assert_eq!(rows(c, "container_samples"), 5, "counters every pass");
        assert_eq!((rows(c, "container_states"), rows(c, "volume_states"), rows(c, "volume_sizes")), (1, 1, 1));

        let mut restarted = snapshot(2_500, Some(2_000));
        restarted.containers[0].restart_count = Some(3);
        st.insert_pass(&restarted).unwrap();
        let mut gone = snapshot(2_800, Some(2_000));
        gone.volumes.clear();
        gone.stacks = aggregate::attribute(&gone.containers, &mut gone.volumes, &mut gone.images);
        st.insert_pass(&gone).unwrap();
        st.insert_pass(&snapshot(3_100, Some(2_000))).unwrap();
        let c = &st.conn;
        assert_eq!(rows(c, "container_states"), 3, "the restart, then back to 2 restarts");
        assert_eq!(rows(c, "volume_sizes"), 2);
        let states: Vec<(i64, bool)> = c
            .prepare(
                "SELECT p.started_at, vs.present FROM volume_states vs JOIN passes p ON p.id = vs.pass_id ORDER BY 1",
            )
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(states, vec![(1_000, true), (2_800, false), (3_100, true)]);
        let seen: Vec<(i64, Option<i64>)> = c
            .prepare("SELECT sampled_unix, size_bytes FROM volume_history ORDER BY 1")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let times: Vec<i64> = seen.iter().map(|s| s.0).collect();
        assert_eq!(times, vec![1_000, 1_300, 1_600, 1_900, 2_200, 2_500, 3_100], "absent at 2800");
        assert_eq!(seen[5].1, Some(2_000));
        let restarts: Vec<i64> = c
            .prepare("SELECT restart_count FROM container_history ORDER BY pass_id")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(restarts, vec![2, 2, 2, 2, 2, 3, 2, 2]);
    }

    #[test]
    fn a_failed_pass_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let mut st = crate::store::open_for_write(&dir.path().join("h.db"), Duration::from_secs(1)).unwrap();
        st.insert_pass(&snapshot(100, Some(1))).unwrap();
        // A container whose stack has no totals row makes the insert fail
        // half-way; the transaction must roll everything back.
        let mut bad = snapshot(200, Some(1));
        bad.containers[0].stack = Some(StackKey { kind: StackKind::Swarm, name: "ghost".into() });
        assert!(st.insert_pass(&bad).is_err());
        assert_eq!(st.reader().unwrap().summary().unwrap().passes, 1);
        let samples: i64 = st.conn.query_row("SELECT count(*) FROM stack_samples", [], |r| r.get(0)).unwrap();
        assert_eq!(samples, 1);
    }
}
