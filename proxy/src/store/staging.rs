//! Cleaning [`super::FsStore`]'s staging directory (`tmp/`). A fill's staged file is deleted when the fill ends, but a
//! process killed with `kill -9` (or a crash, or a power cut) leaves its files behind. Each
//! staged file's name carries the pid of the process that made it (`fill-<pid>-…`), so at
//! start-up and periodically a server removes the files of processes that are gone, while the
//! files of another live instance sharing the cache directory are kept. Any file older than
//! `max_age` (longer than a download may run) is removed whoever made it, which also covers pid
//! reuse and other pid namespaces.

use std::path::Path;
use std::time::Duration;

/// The name prefix of this process's staged files.
pub(super) fn prefix() -> String {
    format!("fill-{}-", std::process::id())
}

/// The pid in a staged file's name, if it has one.
fn owner(name: &str) -> Option<u32> {
    name.strip_prefix("fill-")?.split('-').next()?.parse().ok()
}

/// True when a process with this pid exists (unknown platforms: assume it does).
fn alive(pid: u32) -> bool {
    if pid == std::process::id() {
        return true;
    }
    if cfg!(target_os = "linux") {
        Path::new("/proc").join(pid.to_string()).exists()
    } else {
        true
    }
}

/// Removes staged files of dead processes, and every staged file older than `max_age`.
/// Returns how many were removed.
pub(super) fn clean(dir: &Path, max_age: Duration) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .is_ok_and(|t| t.elapsed().unwrap_or_default() > max_age);
        let orphan = owner(&name).is_some_and(|pid| !alive(pid));
        if (old || orphan) && std::fs::remove_file(entry.path()).is_ok() {
            removed += 1;
        }
    }
    if removed > 0 {
        tracing::info!(dir = %dir.display(), "removed {removed} staging files of ended downloads");
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_of_dead_processes_go_and_live_ones_stay() {
        let dir = tempfile::tempdir().unwrap();
        let ours = tempfile::Builder::new()
            .prefix(&prefix())
            .tempfile_in(dir.path())
            .unwrap();
        // pid 0 is never a process of ours; on Linux no /proc/4194305 (above pid_max) exists.
        let dead = dir.path().join("fill-4194305-abc");
        std::fs::write(&dead, b"partial").unwrap();
        let unrelated = dir.path().join("notes.txt");
        std::fs::write(&unrelated, b"x").unwrap();
        let removed = clean(dir.path(), Duration::from_secs(3600));
        assert!(ours.path().exists(), "a live process's file is kept");
        assert!(unrelated.exists(), "a young file without a pid is kept");
        if cfg!(target_os = "linux") {
            assert_eq!(removed, 1);
            assert!(!dead.exists());
        }
        assert_eq!(
            clean(dir.path(), Duration::ZERO),
            2 + usize::from(!cfg!(target_os = "linux"))
        );
        assert!(!ours.path().exists(), "anything older than max_age goes");
    }
}
