//! What the collector can see of the engine's files directly: container
//! log files. Everything
//! here returns `None` when the path is not visible (the collector runs in
//! a container, or without permission), which is stored as unknown.

use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// Bytes on disk (allocated blocks) of a container's logs.
///
/// json-file keeps `<id>-json.log` plus rotated `<id>-json.log.1`, `.2.gz`,
/// ...; the local driver keeps `local-logs/` under the container directory;
/// `none` keeps nothing. Other drivers ship logs elsewhere: unknown.
pub fn log_bytes(driver: &str, log_path: Option<&str>, docker_root: Option<&str>, id: &str) -> Option<i64> {
    match driver {
        "none" => Some(0),
        "json-file" => {
            let path = Path::new(log_path.filter(|p| !p.is_empty())?);
            let dir = path.parent()?;
            let base = path.file_name()?.as_bytes();
            let mut total = 0i64;
            let mut found = false;
            for entry in std::fs::read_dir(dir).ok()?.flatten() {
                let name = entry.file_name();
                let n = name.as_bytes();
                let ours = n == base || (n.starts_with(base) && n.get(base.len()) == Some(&b'.'));
                if let (true, Ok(m)) = (ours, entry.metadata()) {
                    total += allocated(&m);
                    found = true;
                }
            }
            // A container that never wrote has no file yet: that is 0, not unknown.
            found.then_some(total).or(Some(0))
        }
        "local" => {
            let dir = Path::new(docker_root?).join("containers").join(id).join("local-logs");
            let mut total = 0i64;
            for entry in std::fs::read_dir(&dir).ok()?.flatten() {
                if let Ok(m) = entry.metadata() {
                    total += allocated(&m);
                }
            }
            Some(total)
        }
        _ => None,
    }
}

fn allocated(m: &std::fs::Metadata) -> i64 {
    (m.blocks() as i64) * 512
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_file_logs_count_rotated_files_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("abc-json.log");
        std::fs::write(&log, vec![b'x'; 100_000]).unwrap();
        std::fs::write(dir.path().join("abc-json.log.1"), vec![b'y'; 50_000]).unwrap();
        std::fs::write(dir.path().join("config.v2.json"), vec![b'z'; 80_000]).unwrap();
        let n = log_bytes("json-file", log.to_str(), None, "abc").unwrap();
        assert!((150_000..=150_000 + 2 * 65_536).contains(&n), "{n}");
    }

    #[test]
    fn invisible_logs_are_unknown_but_driver_none_is_zero() {
        assert_eq!(log_bytes("json-file", Some("/nonexistent/dir/x-json.log"), None, "x"), None);
        assert_eq!(log_bytes("journald", None, Some("/var/lib/docker"), "x"), None);
        assert_eq!(log_bytes("none", None, None, "x"), Some(0));
        assert_eq!(log_bytes("local", None, Some("/nonexistent"), "x"), None);
    }
}
