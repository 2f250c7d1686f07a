//! Reading and writing client configuration files safely.
//!
//! A write goes to a temporary file in the same directory and is renamed over the target, so a
//! client never sees half a file; the target's permissions are kept, except that a file that
//! holds a secret is made readable by its owner only. A symlinked file (dotfile managers) is written
//! through the link instead of replacing it.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context as _;

/// A UTF-8 byte order mark; kept on write when the file had one.
const BOM: &str = "\u{feff}";

/// The text of an existing file, `None` when it does not exist.
pub fn read(path: &Path) -> anyhow::Result<Option<String>> {
    match fs_err::read(path) {
        Ok(bytes) => match String::from_utf8(bytes) {
            Ok(text) => Ok(Some(text)),
            Err(e) => Err(crate::settings::Hinted {
                message: format!(
                    "{} is not UTF-8 text (invalid byte at offset {})",
                    path.display(),
                    e.utf8_error().valid_up_to()
                ),
                hint: "convert the file to UTF-8, then run the command again".to_owned(),
            }
            .into()),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Splits a leading byte order mark off `text`.
pub fn split_bom(text: &str) -> (&'static str, &str) {
    match text.strip_prefix(BOM) {
        Some(rest) => (BOM, rest),
        None => ("", text),
    }
}

/// The path a write to `path` must really go to: the end of a symlink chain.
pub fn resolve(path: &Path) -> PathBuf {
    match fs_err::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => {
            std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
        }
        _ => path.to_path_buf(),
    }
}

/// Replaces (or creates) `path` with `contents` atomically.
pub fn write_atomic(path: &Path, contents: &[u8], secret: bool) -> anyhow::Result<()> {
    let path = resolve(path);
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    fs_err::create_dir_all(dir)?;
    let name = path
        .file_name()
        .with_context(|| format!("{} has no file name", path.display()))?
        .to_string_lossy()
        .into_owned();
    let previous = std::fs::metadata(&path).ok();

    let (tmp_path, mut file) = create_temp(dir, &name)?;
    let result = (|| -> anyhow::Result<()> {
        file.write_all(contents)?;
        if let Some(meta) = &previous {
            fs_err::set_permissions(&tmp_path, meta.permissions())?;
        }
        if secret {
            // Also when the old file was readable by others: Python's netrc module, for one,
            // refuses such a file once it holds a password.
            restrict(&tmp_path)?;
        }
        file.sync_all()?;
        drop(file);
        fs_err::rename(&tmp_path, &path)?;
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp_path);
    }
    result.with_context(|| format!("cannot write {}", path.display()))
}

/// Removes `path` if it exists.
pub fn remove(path: &Path) -> anyhow::Result<()> {
    match fs_err::remove_file(resolve(path)) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e.into()),
    }
}

fn create_temp(dir: &Path, name: &str) -> anyhow::Result<(PathBuf, fs_err::File)> {
    for attempt in 0..100u32 {
        let tmp = dir.join(format!(
            ".{name}.repox-{}-{attempt}.tmp",
            std::process::id()
        ));
        match fs_err::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
        {
            Ok(file) => return Ok((tmp, file)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e.into()),
        }
    }
    anyhow::bail!("cannot create a temporary file in {}", dir.display())
}

/// Owner-only permissions (no-op off Unix).
pub fn restrict(path: &Path) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = if path.is_dir() { 0o700 } else { 0o600 };
        fs_err::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_creates_dirs_and_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/b/conf");
        write_atomic(&path, b"one", false).unwrap();
        write_atomic(&path, b"two", false).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "two");
        let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("a/b"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(leftovers, vec![std::ffi::OsString::from("conf")]);
    }

    #[cfg(unix)]
    #[test]
    fn write_keeps_mode_and_follows_symlinks() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("dotfiles/npmrc");
        std::fs::create_dir_all(real.parent().unwrap()).unwrap();
        std::fs::write(&real, "old").unwrap();
        std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o640)).unwrap();
        let link = dir.path().join(".npmrc");
        std::os::unix::fs::symlink(&real, &link).unwrap();

        write_atomic(&link, b"new", false).unwrap();
        assert!(
            std::fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(std::fs::read_to_string(&real).unwrap(), "new");
        let mode = std::fs::metadata(&real).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640);
    }

    #[cfg(unix)]
    #[test]
    fn new_secret_files_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("credentials.toml");
        write_atomic(&path, b"token", true).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        write_atomic(&path, b"token2", true).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn read_rejects_non_utf8() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pip.conf");
        std::fs::write(&path, b"[global]\nindex-url = \xff\n").unwrap();
        let err = read(&path).unwrap_err().to_string();
        assert!(err.contains("pip.conf is not UTF-8"), "{err}");
        assert!(read(&dir.path().join("missing")).unwrap().is_none());
    }
}
