//! Files the report writes: the knowledge file's generated block and the
//! vault items. Every write is atomic (temporary file in the same
//! directory, fsync, rename), so a reader never sees half a file and a
//! crash leaves the old one.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::paths::write_atomic;

pub const BEGIN: &str = "<!-- stackwatch:begin -->";
pub const END: &str = "<!-- stackwatch:end -->";
const BEGIN_PREFIX: &str = "<!-- stackwatch:begin";
const VAULT_PREFIX: &str = "stackwatch-";

/// `existing` with the text between the markers replaced by `block`;
/// everything outside the markers is kept byte for byte. Without markers the
/// block is appended with a fresh pair.
pub fn splice(existing: &str, block: &str) -> Result<String> {
    let body = block.trim_end_matches('\n');
    match existing.find(BEGIN_PREFIX) {
        Some(b) => {
            let after_begin = existing[b..].find('\n').map(|n| b + n + 1).unwrap_or(existing.len());
            let Some(e) = existing[after_begin..].find(END).map(|e| after_begin + e) else {
                bail!("it has a `{BEGIN}` marker but no `{END}` after it; fix the markers by hand");
            };
            Ok(format!("{}{body}\n{}", &existing[..after_begin], &existing[e..]))
        }
        None => {
            let sep = if existing.is_empty() || existing.ends_with("\n\n") {
                ""
            } else if existing.ends_with('\n') {
                "\n"
            } else {
                "\n\n"
            };
            Ok(format!("{existing}{sep}{BEGIN}\n{body}\n{END}\n"))
        }
    }
}

/// Where writing `path` really lands: a symlink (or a chain of them) is
/// followed to its target, so that the link stays a link and the file it
/// points to is the one updated. The target need not exist yet.
pub fn resolve_target(path: &Path) -> Result<PathBuf> {
    let mut p = path.to_path_buf();
    for _ in 0..40 {
        match std::fs::symlink_metadata(&p) {
            Ok(m) if m.file_type().is_symlink() => {
                let link = std::fs::read_link(&p).with_context(|| format!("cannot read symlink {}", p.display()))?;
                p = match p.parent() {
                    Some(dir) if link.is_relative() => dir.join(link),
                    _ => link,
                };
            }
            _ => return Ok(p),
        }
    }
    bail!("{} is a loop of symlinks; point it at a file", path.display())
}

/// What `update_knowledge` needs, checked without writing anything: its
/// target's directory exists and is writable, and the file, if there is
/// one, can be read and has usable markers. `report` runs this before
/// writing any output; `doctor` runs the same check.
pub fn check_knowledge(path: &Path) -> Result<()> {
    let target = resolve_target(path)?;
    let via = if target != path { format!(" (the target of symlink {})", path.display()) } else { String::new() };
    let dir = target.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    if dir.exists() && !dir.is_dir() {
        bail!("knowledge file {}{via}: {} is not a directory", target.display(), dir.display());
    }
    if !dir.is_dir() {
        bail!("knowledge file {}{via}: its directory {} does not exist", target.display(), dir.display());
    }
    if let Some(why) = crate::paths::unwritable(&target) {
        bail!("knowledge file {}{via} cannot be written: {why}", target.display());
    }
    if target.is_dir() {
        bail!("knowledge file {}{via} is a directory", target.display());
    }
    match std::fs::read_to_string(&target) {
        Ok(text) => splice(&text, "").map(|_| ()).with_context(|| format!("knowledge file {}", target.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("cannot read knowledge file {}", target.display())),
    }
}

/// The vault directory can be created or written to (`report` creates it).
pub fn check_vault(dir: &Path) -> Result<()> {
    if dir.exists() && !dir.is_dir() {
        bail!("vault {} is not a directory", dir.display());
    }
    match crate::paths::unwritable(dir) {
        Some(why) => bail!("vault directory {} cannot be written: {why}", dir.display()),
        None => Ok(()),
    }
}

/// Replaces the generated block of the knowledge file, writing through a
/// symlink to its target (atomically, in the target's directory). Returns
/// whether the file changed.
pub fn update_knowledge(path: &Path, block: &str) -> Result<bool> {
    let target = resolve_target(path)?;
    let existing = match std::fs::read_to_string(&target) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => {
            return Err(e).with_context(|| format!("cannot read knowledge file {}", target.display()));
        }
    };
    let updated = splice(&existing, block).with_context(|| format!("knowledge file {}", target.display()))?;
    if updated == existing {
        return Ok(false);
    }
    write_atomic(&target, updated.as_bytes())?;
    Ok(true)
}

/// Writes `contents` unless the file already holds exactly that, so a rerun
/// with nothing new touches no file. Returns whether it wrote.
pub fn write_if_changed(path: &Path, contents: &[u8]) -> Result<bool> {
    if std::fs::read(path).is_ok_and(|old| old == contents) {
        return Ok(false);
    }
    write_atomic(path, contents)?;
    Ok(true)
}

/// stackwatch's own items already in the vault directory.
pub fn existing_vault_items(dir: &Path) -> Result<Vec<String>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(e).with_context(|| format!("cannot read vault directory {}", dir.display()));
        }
    };
    let mut names: Vec<String> = entries
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n.starts_with(VAULT_PREFIX) && n.ends_with(".md"))
        .collect();
    names.sort();
    Ok(names)
}

pub fn vault_path(dir: &Path, file: &str) -> PathBuf {
    dir.join(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splice_keeps_everything_outside_the_markers_byte_for_byte() {
        let before = "# Guide\r\nkeep  this\n\n<!-- stackwatch:begin (generated) -->\nold\nstuff\n<!-- stackwatch:end -->\ntrailer\tbytes\n";
        let out = splice(before, "new block\n").unwrap();
        assert_eq!(
            out,
            "# Guide\r\nkeep  this\n\n<!-- stackwatch:begin (generated) -->\nnew block\n<!-- stackwatch:end -->\ntrailer\tbytes\n"
        );
        assert_eq!(splice(&out, "new block").unwrap(), out, "idempotent");
    }

    #[test]
    fn splice_appends_markers_when_missing_and_refuses_a_lone_begin() {
        assert_eq!(splice("notes", "b").unwrap(), "notes\n\n<!-- stackwatch:begin -->\nb\n<!-- stackwatch:end -->\n");
        assert_eq!(splice("", "b").unwrap(), "<!-- stackwatch:begin -->\nb\n<!-- stackwatch:end -->\n");
        assert!(splice("<!-- stackwatch:begin -->\nno end", "b").is_err());
    }

    #[test]
    fn atomic_write_replaces_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("k.md");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        assert!(write_atomic(&dir.path().join("missing/k.md"), b"x").is_err());
    }
}

#[cfg(test)]
mod knowledge_paths {
    use super::*;

    #[test]
    fn a_symlinked_knowledge_file_is_updated_through_the_link() {
        let dir = tempfile::tempdir().unwrap();
        let real_dir = dir.path().join("repo/knowledge");
        std::fs::create_dir_all(&real_dir).unwrap();
        let target = real_dir.join("sibling-stacks.md");
        std::fs::write(&target, "guide\n").unwrap();
        let link = dir.path().join("sibling-stacks.md");
        std::os::unix::fs::symlink("repo/knowledge/sibling-stacks.md", &link).unwrap();
        check_knowledge(&link).unwrap();
        assert!(update_knowledge(&link, "block").unwrap());
        assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink(), "the link stays a link");
        assert_eq!(std::fs::read_to_string(&target).unwrap(), format!("guide\n\n{BEGIN}\nblock\n{END}\n"));
        // The temporary file lived in the target's directory and is gone.
        assert_eq!(std::fs::read_dir(&real_dir).unwrap().count(), 1);
        assert!(!update_knowledge(&link, "block").unwrap(), "nothing new: nothing written");
    }

    #[test]
    fn checks_refuse_what_the_write_would_fail_on() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("no-such-dir/sibling-stacks.md");
        let err = format!("{:#}", check_knowledge(&missing).unwrap_err());
        assert!(err.contains("does not exist"), "{err}");
        let lone = dir.path().join("lone.md");
        std::fs::write(&lone, "<!-- stackwatch:begin -->\nno end\n").unwrap();
        assert!(check_knowledge(&lone).is_err());
        check_knowledge(&dir.path().join("new.md")).unwrap();
        let file = dir.path().join("file");
        std::fs::write(&file, "x").unwrap();
        assert!(check_vault(&file).is_err());
        check_vault(&dir.path().join("vault/pending")).unwrap();
    }
}

#[cfg(test)]
mod shipped {
    use super::*;

    /// The repo's knowledge file carries guidance and one empty block.
    #[test]
    fn shipped_knowledge_file_has_one_empty_block() {
        let text =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/knowledge/sibling-stacks.md")).unwrap();
        assert_eq!(text.matches(BEGIN_PREFIX).count(), 1);
        assert_eq!(text.matches(END).count(), 1);
        assert!(text.contains(&format!("{BEGIN}\n{END}\n")));
        let filled = splice(&text, "## Sibling Stacks\n").unwrap();
        assert_eq!(filled, text.replace(&format!("{BEGIN}\n{END}"), &format!("{BEGIN}\n## Sibling Stacks\n{END}")));
    }
}
