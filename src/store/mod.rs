//! The history database: opening it safely, migrating it, and the overlap
//! lock. All SQL text lives in `migrations/`, in [`write`] (a pass in),
//! [`read`] (typed rows and series out) and [`retention`] (thinning).
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

pub struct Store {
    pub conn: Connection,
    pub path: PathBuf,
}

/// Newest schema version this build knows.
pub fn schema_version() -> i64 {
    embedded::migrations::runner().get_migrations().iter().map(|m| i64::from(m.version())).max().unwrap_or(0)
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
    embedded::migrations::runner().set_grouped(true).run(&mut conn).map_err(|e| {
        let hint = if std::fs::metadata(path).is_ok_and(|m| m.permissions().readonly()) {
            "; the file is read-only, make it writable by this user"
        } else {
            ""
        };
        anyhow!("cannot migrate database {} to schema {}: {e}{hint}", path.display(), schema_version())
    })?;
    Ok(Store { conn, path: path.to_path_buf() })
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
    Ok(Store { conn, path: path.to_path_buf() })
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
    let fs = crate::collect::host::fs_usage(dir)?;
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

    #[test]
    fn directory_and_missing_file_errors_say_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        let err = open_for_write(dir.path(), Duration::from_secs(1)).err().unwrap().to_string();
        assert!(err.contains("is a directory"), "{err}");
        let err = open_read_only(&dir.path().join("none.db"), Duration::from_secs(1)).err().unwrap().to_string();
        assert!(err.contains("run `stackwatch collect` first"), "{err}");
    }
}
