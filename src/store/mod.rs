//! The history database: opening it safely, migrating it, and the overlap
//! lock. All SQL text lives in `migrations/` (the tables), `views.sql` (the
//! public views, each defined once), [`write`] (a pass in), [`read`] (typed
//! rows and series out) and [`retention`] (thinning). The connection is
//! [`Store`]'s own: the rest of the program writes through its methods and
//! reads through a [`read::Reader`], never with SQL of its own (the `sql`
//! command, which runs the user's, is the one door).
//!
//! Opening is defensive because the path comes from the user and the file
//! holds months of history: anything that is not a stackwatch database is
//! refused before SQLite is allowed to write a single byte to it.

pub mod lock;
pub mod read;
pub mod retention;
pub mod write;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use rusqlite::{Connection, OpenFlags};

mod embedded {
    refinery::embed_migrations!("migrations");
}

/// `PRAGMA application_id` of a stackwatch database ('STWC').
pub const APPLICATION_ID: i32 = 0x5354_5743;

/// The public views, each defined once (see the file's header for how it
/// is applied).
const VIEWS_SQL: &str = include_str!("views.sql");

/// The last migration that creates and drops views itself. Its text cannot
/// change, and it drops views by name, so it and those before it run with
/// the views they expect; migrations after it change tables only.
const LAST_MIGRATION_WITH_VIEWS: i32 = 8;

/// What `PRAGMA user_version` holds while the views are those of
/// `views.sql`.
pub const VIEWS_CHECKSUM: i32 = views_checksum(VIEWS_SQL.as_bytes());

/// FNV-1a of the views' text as a positive `i32`, never 0 (0 is SQLite's
/// default `user_version`: views not created from the file yet). A hash of
/// our own because std's `DefaultHasher` may change between Rust releases.
const fn views_checksum(text: &[u8]) -> i32 {
    let mut hash: u32 = 0x811c_9dc5;
    let mut i = 0;
    while i < text.len() {
        hash ^= text[i] as u32;
        hash = hash.wrapping_mul(0x0100_0193);
        i += 1;
    }
    match (hash & 0x7fff_ffff) as i32 {
        0 => 1,
        h => h,
    }
}

/// An open history database. The connection stays inside the store:
/// callers write a pass or prune record through the methods in [`write`]
/// and [`retention`], and read through a [`read::Reader`].
pub struct Store {
    conn: Connection,
    pub path: PathBuf,
}

impl Store {
    /// A consistent view of the history for one report, page or scrape.
    pub fn reader(&self) -> Result<read::Reader<'_>> {
        read::Reader::new(&self.conn).map_err(|e| sql_error(e, &self.path, "read"))
    }

    /// The connection itself, for the `sql` command alone: it runs the
    /// user's own queries over the public views. Everything else reads and
    /// writes through typed methods.
    pub fn user_sql_connection(&self) -> &Connection {
        &self.conn
    }

    /// Checkpoints the write-ahead log and rebuilds the file, giving free
    /// pages back to the filesystem.
    pub fn vacuum(&self) -> rusqlite::Result<()> {
        self.conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE); VACUUM;")
    }
}

/// Newest schema version this build knows.
pub fn schema_version() -> i64 {
    embedded::migrations::runner().get_migrations().iter().map(|m| i64::from(m.version())).max().unwrap_or(0)
}

/// The schema version of the database at `path`, read without the checks
/// of opening it; None when there is no readable stackwatch database there.
pub fn applied_schema_version(path: &Path) -> Option<i64> {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).ok()?;
    conn.query_row(read::MAX_MIGRATION, [], |r| r.get(0)).ok()
}

/// Refuses paths that hold something other than a (possibly empty)
/// stackwatch database, looking only at the bytes on disk.
pub fn check_file(path: &Path) -> Result<()> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => {
            return Err(e).with_context(|| format!("cannot read database {}", path.display()));
        }
    };
    if meta.is_dir() {
        bail!("database path {} is a directory; give a file path with --db", path.display());
    }
    if meta.len() == 0 {
        return Ok(());
    }
    let mut head = [0u8; 100];
    let mut f = std::fs::File::open(path).with_context(|| format!("cannot open database {}", path.display()))?;
    let n = read_up_to(&mut f, &mut head).with_context(|| format!("cannot read database {}", path.display()))?;
    if n < 100 || &head[..16] != b"SQLite format 3\0" {
        bail!(
            "{} is not a SQLite database (is --db pointing at the wrong file?); it was left untouched",
            path.display()
        );
    }
    if let Some(expected) = header_size(&head).filter(|e| meta.len() < *e) {
        bail!(
            "{} is truncated ({} bytes, its header says {expected}); it was left untouched: restore it from a \
             backup, or move it aside to start a new history",
            path.display(),
            meta.len()
        );
    }
    Ok(())
}

/// The database size its header vouches for, when it vouches for one: the
/// page count is only valid while the "version-valid-for" number equals
/// the change counter (SQLite file format, section 1.3.7). A file shorter
/// than that lost its tail; SQLite would notice only when it reads a
/// missing page, possibly half-way through a write.
fn header_size(head: &[u8; 100]) -> Option<u64> {
    let be32 = |o: usize| u32::from_be_bytes([head[o], head[o + 1], head[o + 2], head[o + 3]]);
    let page_size = match u16::from_be_bytes([head[16], head[17]]) {
        1 => 65_536,
        p if p >= 512 && p.is_power_of_two() => u64::from(p),
        _ => return None,
    };
    let pages = u64::from(be32(28));
    (pages > 0 && be32(92) == be32(24)).then_some(pages * page_size)
}

fn read_up_to(f: &mut std::fs::File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// Fails early, before an engine pass is spent, when the database (or the
/// directory it would be created in) is not writable by this user.
pub fn check_writable(path: &Path) -> Result<()> {
    if let Some(why) = crate::paths::unwritable(path) {
        bail!("cannot write the database at {}: {why} (use --db for another path)", path.display());
    }
    Ok(())
}

/// Checks identity and schema version before SQLite may touch anything.
///
/// An `immutable` read-only connection takes no locks and creates no
/// `-wal`/`-shm` files (a plain read-only one leaves both behind), so a
/// database we refuse is left exactly as it was, sidecars included. It may
/// miss what only the write-ahead log holds, so the real connection checks
/// again; this look only makes refusing side-effect free.
pub fn precheck(path: &Path) -> Result<()> {
    if std::fs::metadata(path).map(|m| m.len() == 0).unwrap_or(true) {
        return Ok(());
    }
    let conn = Connection::open_with_flags(
        immutable_uri(path),
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_URI | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| sql_error(e, path, "open"))?;
    verify_identity(&conn, path)
}

/// Opens (creating when absent) and migrates the database for writing.
pub fn open_for_write(path: &Path, busy_timeout: Duration) -> Result<Store> {
    check_file(path)?;
    precheck(path)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create database directory {}", dir.display()))?;
    }
    let mut conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| sql_error(e, path, "open"))?;
    conn.busy_timeout(busy_timeout).map_err(|e| sql_error(e, path, "configure"))?;
    verify_identity(&conn, path)?;
    conn.pragma_update(None, "journal_mode", "WAL").map_err(|e| sql_error(e, path, "enable WAL on"))?;
    conn.pragma_update(None, "synchronous", "NORMAL").map_err(|e| sql_error(e, path, "configure"))?;
    let migrations = embedded::migrations::runner().get_migrations().clone();
    migrate(&mut conn, &migrations, VIEWS_SQL).map_err(|e| {
        let hint = if std::fs::metadata(path).is_ok_and(|m| m.permissions().readonly()) {
            "; the file is read-only, make it writable by this user"
        } else {
            ""
        };
        anyhow!("cannot migrate database {} to schema {}: {e}{hint}", path.display(), schema_version())
    })?;
    Ok(Store { conn, path: path.to_path_buf() })
}

/// Brings the tables to the newest of `migrations`, then the views to
/// `views_sql`. Each step is its own transaction and can be repeated: an
/// interrupted upgrade leaves `user_version` at 0, so the next writer
/// finishes it and readers meanwhile refuse with a clear message.
fn migrate(conn: &mut Connection, migrations: &[refinery::Migration], views_sql: &str) -> Result<()> {
    let newest = migrations.iter().map(|m| m.version()).max().unwrap_or(0);
    let oldest_view_free = LAST_MIGRATION_WITH_VIEWS.min(newest);
    if applied_version(conn)? < i64::from(oldest_view_free) {
        refinery::Runner::new(migrations)
            .set_grouped(true)
            .set_target(refinery::Target::Version(oldest_view_free))
            .run(conn)?;
    }
    if applied_version(conn)? < i64::from(newest) {
        // A migration that rebuilds a table must not trip on a view using it.
        let tx = conn.transaction()?;
        drop_views(&tx)?;
        tx.commit()?;
    }
    // Also when nothing is pending: refinery then checks that the applied
    // migrations are the ones this build knows.
    refinery::Runner::new(migrations).set_grouped(true).run(conn)?;
    ensure_views(conn, views_sql)?;
    Ok(())
}

fn applied_version(conn: &Connection) -> rusqlite::Result<i64> {
    if conn.query_row(read::HAS_MIGRATION_TABLE, [], |r| r.get::<_, i64>(0))? == 0 {
        return Ok(0);
    }
    conn.query_row(read::MAX_MIGRATION, [], |r| r.get(0))
}

/// Drops every view (all of them are ours: the database is stackwatch's)
/// and records that none from `views.sql` are left.
fn drop_views(conn: &Connection) -> rusqlite::Result<()> {
    let names: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'view'")?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    for name in names {
        conn.execute_batch(&format!("DROP VIEW \"{}\"", name.replace('"', "\"\"")))?;
    }
    conn.pragma_update(None, "user_version", 0)
}

/// Recreates the views from `views_sql` unless `user_version` says they
/// already are its views. Checked again inside a write transaction, so two
/// writers opening at once recreate them once.
fn ensure_views(conn: &mut Connection, views_sql: &str) -> rusqlite::Result<()> {
    let wanted = views_checksum(views_sql.as_bytes());
    let stored = |c: &Connection| c.pragma_query_value(None, "user_version", |r| r.get::<_, i32>(0));
    if stored(conn)? == wanted {
        return Ok(());
    }
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    if stored(&tx)? == wanted {
        return Ok(());
    }
    drop_views(&tx)?;
    tx.execute_batch(views_sql)?;
    tx.pragma_update(None, "user_version", wanted)?;
    tx.commit()
}

/// Opens an existing database without ever writing to it.
pub fn open_read_only(path: &Path, busy_timeout: Duration) -> Result<Store> {
    if !path.exists() {
        bail!("no history database at {}; run `stackwatch collect` first (or pass --db)", path.display());
    }
    check_file(path)?;
    precheck(path)?;
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        .map_err(|e| sql_error(e, path, "open"))?;
    conn.busy_timeout(busy_timeout).map_err(|e| sql_error(e, path, "configure"))?;
    if let Err(e) = conn.query_row(read::COUNT_TABLES, [], |r| r.get::<_, i64>(0)) {
        return read_without_index(path, e);
    }
    verify_identity(&conn, path)?;
    // Readers never migrate (they may not be allowed to write); an older
    // schema lacks views they need.
    let found: i64 = conn.query_row(read::MAX_MIGRATION, [], |r| r.get(0)).unwrap_or(0);
    if found < schema_version() {
        bail!(
            "{} has schema version {found}, older than this stackwatch's {}; run `stackwatch collect` (or `stackwatch compact`) once to upgrade it",
            path.display(),
            schema_version()
        );
    }
    own_views(&conn, path)?;
    Ok(Store { conn, path: path.to_path_buf() })
}

/// Views from another build's `views.sql` (or none, an upgrade cut short)
/// may lack columns or rows this build reads, and recreating them is a
/// write, which a reader must not do. So this connection gets its own as
/// TEMP views, which live in the connection's temporary schema and shadow
/// the file's of the same name; the next writer replaces the file's.
fn own_views(conn: &Connection, path: &Path) -> Result<()> {
    let views: i32 = conn.pragma_query_value(None, "user_version", |r| r.get(0)).unwrap_or(0);
    if views == VIEWS_CHECKSUM {
        return Ok(());
    }
    conn.execute_batch(&VIEWS_SQL.replace("CREATE VIEW ", "CREATE TEMP VIEW ")).map_err(|e| {
        anyhow!(
            "{}'s views were not made by this stackwatch and it could not read through its own ({e}); run \
             `stackwatch collect` (or `stackwatch compact`) once to recreate them",
            path.display()
        )
    })
}

/// On a full filesystem a reader cannot build the WAL's shared-memory
/// index (`-shm`) and SQLite answers "disk I/O error", which would hide
/// the whole history exactly when someone needs it. When the write-ahead
/// log is empty every committed pass is in the main file, so an immutable
/// connection (no index, no locks) reads all of it. Otherwise the error
/// stands, explained.
fn read_without_index(path: &Path, e: rusqlite::Error) -> Result<Store> {
    let io = matches!(&e, rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::SystemIoFailure);
    let wal = PathBuf::from(format!("{}-wal", path.display()));
    let wal_empty = std::fs::metadata(&wal).map(|m| m.len() == 0).unwrap_or(true);
    if !(io && wal_empty) {
        return Err(sql_error(e, path, "read"));
    }
    let conn = Connection::open_with_flags(
        immutable_uri(path),
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_URI | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| sql_error(e, path, "open"))?;
    verify_identity(&conn, path)?;
    own_views(&conn, path)?;
    eprintln!(
        "stackwatch: warning: {}: {}; reading the history without its shared-memory index (nothing is pending \
         in its write-ahead log, so nothing is missed)",
        path.display(),
        disk_full(path).unwrap_or_else(|| "the database's index file cannot be used".into())
    );
    Ok(Store { conn, path: path.to_path_buf() })
}

/// `file:<path>?immutable=1`, percent-encoded.
fn immutable_uri(path: &Path) -> String {
    let mut uri = String::from("file:");
    for &b in std::os::unix::ffi::OsStrExt::as_bytes(path.as_os_str()) {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'/' | b'-' | b'_' | b'.' | b'~' => uri.push(b as char),
            _ => uri.push_str(&format!("%{b:02X}")),
        }
    }
    uri.push_str("?immutable=1");
    uri
}

/// "the filesystem under X is full (N free)" when it (nearly) is. SQLite
/// reports a full disk as `SQLITE_FULL` only for some writes; creating the
/// WAL index or journal on a full filesystem surfaces as a generic I/O
/// error, so the filesystem itself is asked.
fn disk_full(path: &Path) -> Option<String> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let fs = crate::disk::fs_usage(dir)?;
    (fs.free_bytes < 1_000_000).then(|| {
        format!("the filesystem under {} is full ({} free)", dir.display(), crate::model::units::bytes(fs.free_bytes))
    })
}

/// A database is ours when it carries our application id, or when it is
/// brand new (no tables). Anything else, or a newer schema, is refused.
fn verify_identity(conn: &Connection, path: &Path) -> Result<()> {
    let app_id: i32 =
        conn.pragma_query_value(None, "application_id", |r| r.get(0)).map_err(|e| sql_error(e, path, "read"))?;
    let tables: i64 = conn.query_row(read::COUNT_TABLES, [], |r| r.get(0)).map_err(|e| sql_error(e, path, "read"))?;
    if tables == 0 && app_id == 0 {
        return Ok(());
    }
    if app_id != APPLICATION_ID {
        bail!(
            "{} is a SQLite database that stackwatch did not create; refusing to touch it (point --db at another file)",
            path.display()
        );
    }
    let has_history: i64 =
        conn.query_row(read::HAS_MIGRATION_TABLE, [], |r| r.get(0)).map_err(|e| sql_error(e, path, "read"))?;
    if has_history == 1 {
        let found: i64 =
            conn.query_row(read::MAX_MIGRATION, [], |r| r.get(0)).map_err(|e| sql_error(e, path, "read"))?;
        if found > schema_version() {
            bail!(
                "{} has schema version {found}, newer than this stackwatch knows ({}); upgrade stackwatch, the database was left untouched",
                path.display(),
                schema_version()
            );
        }
    }
    Ok(())
}

/// Turns SQLite's terse codes into what happened and what to do.
pub fn sql_error(e: rusqlite::Error, path: &Path, doing: &str) -> anyhow::Error {
    use rusqlite::ErrorCode as C;
    let p = path.display();
    if let rusqlite::Error::SqliteFailure(f, _) = &e {
        if matches!(f.code, C::DiskFull | C::SystemIoFailure | C::CannotOpen)
            && let Some(full) = disk_full(path)
        {
            return anyhow!(
                "cannot {doing} database {p}: {full}; free space there and run again (nothing was written by this \
                 run, the history recorded so far is intact)"
            );
        }
        let hint = match f.code {
            C::DatabaseBusy | C::DatabaseLocked => {
                Some(format!("database {p} stayed locked by another process; retry, or raise [database] busy_timeout"))
            }
            C::DiskFull => Some(format!(
                "disk full while writing {p}; free space on that filesystem (this pass was not recorded, earlier history is intact)"
            )),
            C::ReadOnly | C::PermissionDenied | C::CannotOpen => Some(format!(
                "cannot {doing} database {p}: {e}; check that the file and its directory are writable by this user"
            )),
            C::NotADatabase | C::DatabaseCorrupt => Some(format!(
                "{p} is corrupt or not a SQLite database ({e}); it was left untouched, move it aside to start a new history"
            )),
            _ => None,
        };
        if let Some(h) = hint {
            return anyhow!(h);
        }
    }
    anyhow!("cannot {doing} database {p}: {e}")
}

#[cfg(test)]
mod fault_tests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_database_is_created_with_our_identity_and_schema() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/dir/history.db");
        let store = open_for_write(&path, Duration::from_secs(1)).unwrap();
        let id: i32 = store.conn.pragma_query_value(None, "application_id", |r| r.get(0)).unwrap();
        assert_eq!(id, APPLICATION_ID);
        let mode: String = store.conn.pragma_query_value(None, "journal_mode", |r| r.get(0)).unwrap();
        assert_eq!(mode, "wal");
        drop(store);
        // Opening again is a no-op migration.
        open_for_write(&path, Duration::from_secs(1)).unwrap();
        open_read_only(&path, Duration::from_secs(1)).unwrap();
    }

    #[test]
    fn garbage_file_is_refused_and_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.db");
        let junk: Vec<u8> = (0..5000u32).map(|i| (i * 7 % 251) as u8).collect();
        std::fs::write(&path, &junk).unwrap();
        let err = open_for_write(&path, Duration::from_secs(1)).err().unwrap().to_string();
        assert!(err.contains("is not a SQLite database"), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), junk);
        assert!(!dir.path().join("h.db-wal").exists());
    }

    #[test]
    fn foreign_sqlite_database_is_refused_and_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("other.db");
        {
            let c = Connection::open(&path).unwrap();
            c.execute_batch("CREATE TABLE notes(x); INSERT INTO notes VALUES (1);").unwrap();
        }
        let before = std::fs::read(&path).unwrap();
        let err = open_for_write(&path, Duration::from_secs(1)).err().unwrap().to_string();
        assert!(err.contains("stackwatch did not create"), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), before);
    }

    #[test]
    fn newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.db");
        drop(open_for_write(&path, Duration::from_secs(1)).unwrap());
        {
            let c = Connection::open(&path).unwrap();
            c.execute(
                "INSERT INTO refinery_schema_history (version, name, applied_on, checksum) VALUES (999, 'future', '', '0')",
                [],
            )
            .unwrap();
        }
        let before = std::fs::read(&path).unwrap();
        let mtime = std::fs::metadata(&path).unwrap().modified().unwrap();
        for open in [open_for_write, open_read_only] {
            let err = open(&path, Duration::from_secs(1)).err().unwrap().to_string();
            assert!(err.contains("schema version 999") && err.contains("upgrade stackwatch"), "{err}");
            assert!(err.contains("left untouched"), "{err}");
        }
        assert_eq!(std::fs::read(&path).unwrap(), before);
        assert_eq!(std::fs::metadata(&path).unwrap().modified().unwrap(), mtime);
        for side in ["-wal", "-shm", "-journal"] {
            assert!(!Path::new(&format!("{}{side}", path.display())).exists(), "{side} left behind");
        }
    }

    fn user_version(c: &Connection) -> i32 {
        c.pragma_query_value(None, "user_version", |r| r.get(0)).unwrap()
    }

    fn view_count(c: &Connection) -> usize {
        let n: i64 = c.query_row("SELECT count(*) FROM sqlite_master WHERE type = 'view'", [], |r| r.get(0)).unwrap();
        usize::try_from(n).unwrap()
    }

    #[test]
    fn a_changed_views_file_recreates_the_views() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.db");
        let mut st = open_for_write(&path, Duration::from_secs(1)).unwrap();
        assert_eq!(user_version(&st.conn), VIEWS_CHECKSUM);
        assert_eq!(view_count(&st.conn), VIEWS_SQL.matches("CREATE VIEW ").count());
        // Another build's views file: one view with an extra column.
        let from = "CREATE VIEW event_gaps AS\nSELECT h.host AS host,";
        let changed =
            VIEWS_SQL.replacen(from, "CREATE VIEW event_gaps AS\nSELECT h.host AS host, 'other' AS marker,", 1);
        assert_ne!(views_checksum(changed.as_bytes()), VIEWS_CHECKSUM);
        ensure_views(&mut st.conn, &changed).unwrap();
        assert_eq!(user_version(&st.conn), views_checksum(changed.as_bytes()));
        st.conn.query_row("SELECT count(marker) FROM event_gaps", [], |r| r.get::<_, i64>(0)).unwrap();
        drop(st);
        // This build's writer puts its own views back, all of them.
        let st = open_for_write(&path, Duration::from_secs(1)).unwrap();
        assert_eq!(user_version(&st.conn), VIEWS_CHECKSUM);
        let err = st.conn.query_row("SELECT count(marker) FROM event_gaps", [], |r| r.get::<_, i64>(0));
        assert!(err.is_err(), "the other build's column is gone");
        assert_eq!(view_count(&st.conn), VIEWS_SQL.matches("CREATE VIEW ").count());
        open_read_only(&path, Duration::from_secs(1)).unwrap();
    }

    #[test]
    fn a_reader_meeting_views_it_did_not_make_reads_through_its_own_and_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.db");
        drop(open_for_write(&path, Duration::from_secs(1)).unwrap());
        {
            // As left by a build with another views file: one view has a
            // column this build's lacks, another lacks one this build reads.
            let mut c = Connection::open(&path).unwrap();
            let from = "CREATE VIEW event_gaps AS\nSELECT h.host AS host,";
            let other = VIEWS_SQL
                .replacen(from, "CREATE VIEW event_gaps AS\nSELECT h.host AS host, 'other' AS marker,", 1)
                .replacen("\n       p.error_count,", "", 1);
            assert_ne!(other.matches("error_count").count(), VIEWS_SQL.matches("error_count").count());
            ensure_views(&mut c, &other).unwrap();
            c.query_row("SELECT count(marker) FROM event_gaps", [], |r| r.get::<_, i64>(0)).unwrap();
        }
        let before = std::fs::read(&path).unwrap();
        let st = open_read_only(&path, Duration::from_secs(1)).unwrap();
        assert!(st.conn.query_row("SELECT count(marker) FROM event_gaps", [], |r| r.get::<_, i64>(0)).is_err());
        st.conn.query_row("SELECT count(error_count) FROM pass_log", [], |r| r.get::<_, i64>(0)).unwrap();
        assert_eq!(st.reader().unwrap().summary().unwrap().passes, 0);
        drop(st);
        assert_eq!(std::fs::read(&path).unwrap(), before, "the reader wrote nothing");
        // An upgrade cut short between dropping the views and recreating
        // them leaves none.
        {
            let c = Connection::open(&path).unwrap();
            drop_views(&c).unwrap();
            assert_eq!(view_count(&c), 0);
        }
        let st = open_read_only(&path, Duration::from_secs(1)).unwrap();
        st.conn.query_row("SELECT count(*) FROM latest_stacks", [], |r| r.get::<_, i64>(0)).unwrap();
        drop(st);
        // The next writer puts this build's views in the file.
        let st = open_for_write(&path, Duration::from_secs(1)).unwrap();
        assert_eq!(user_version(&st.conn), VIEWS_CHECKSUM);
        assert_eq!(view_count(&st.conn), VIEWS_SQL.matches("CREATE VIEW ").count());
    }

    #[test]
    fn views_are_dropped_before_a_later_migration_rebuilds_their_tables() {
        // Two table rebuilds in one migration: after the first, prune_log
        // points at a dropped table, and SQLite refuses the second rename.
        let rebuild = "ALTER TABLE prune_runs RENAME TO prune_runs_old;
             CREATE TABLE prune_runs AS SELECT * FROM prune_runs_old;
             DROP TABLE prune_runs_old;
             ALTER TABLE prune_removals RENAME TO prune_removals_old;
             CREATE TABLE prune_removals AS SELECT * FROM prune_removals_old;
             DROP TABLE prune_removals_old;";
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.db");
        drop(open_for_write(&path, Duration::from_secs(1)).unwrap());
        let mut conn = Connection::open(&path).unwrap();
        {
            let tx = conn.transaction().unwrap();
            let err = tx.execute_batch(rebuild).err().map(|e| e.to_string()).unwrap_or_default();
            assert!(err.contains("prune_log"), "with the views in place the rebuild fails: {err:?}");
        }
        let mut migrations = embedded::migrations::runner().get_migrations().clone();
        let next = schema_version() + 1;
        migrations.push(refinery::Migration::unapplied(&format!("V{next}__rebuild_prunes"), rebuild).unwrap());
        migrate(&mut conn, &migrations, VIEWS_SQL).unwrap();
        assert_eq!(applied_version(&conn).unwrap(), next);
        assert_eq!(user_version(&conn), VIEWS_CHECKSUM);
        assert_eq!(view_count(&conn), VIEWS_SQL.matches("CREATE VIEW ").count());
        let rows: i64 = conn.query_row("SELECT count(*) FROM prune_log", [], |r| r.get(0)).unwrap();
        assert_eq!(rows, 0);
    }

    #[test]
    fn directory_and_missing_file_errors_say_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        let err = open_for_write(dir.path(), Duration::from_secs(1)).err().unwrap().to_string();
        assert!(err.contains("is a directory"), "{err}");
        let err = open_read_only(&dir.path().join("none.db"), Duration::from_secs(1)).err().unwrap().to_string();
        assert!(err.contains("run `stackwatch collect` first"), "{err}");
    }
}
