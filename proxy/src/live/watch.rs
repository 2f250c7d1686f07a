//! Reloads the config file when it changes and on SIGHUP.
//!
//! The file's directory is watched (`notify`: inotify on Linux), not the file itself: editors
//! and `repox`'s own writes replace the file by a rename, which a watch on the old inode would
//! miss. Events come in bursts (write, close, rename), so a reload waits for
//! [`DEBOUNCE`] of quiet first. A directory that does not exist yet is looked for again every
//! few seconds, so a zero-config server picks up the file the settings API or the user creates.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};
use std::time::Duration;

use notify::{EventKind, RecursiveMode, Watcher};
use tokio::sync::mpsc;

use crate::server::App;

/// Quiet time after the last event before the file is read.
pub const DEBOUNCE: Duration = Duration::from_millis(200);

/// How often a missing directory is looked for, and a dropped app noticed.
const RECHECK: Duration = Duration::from_secs(2);

/// Why a reload starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Trigger {
    File,
    Hangup,
}

/// Names `path` as the config file of `app` and reloads it whenever it changes or the process
/// gets SIGHUP, for as long as the app lives. Call it inside the server's runtime.
pub fn watch(app: &Arc<App>, path: PathBuf) {
    app.live().set_file(path.clone());
    let (tx, rx) = mpsc::unbounded_channel();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::hangup()) {
            Ok(mut hangups) => {
                let tx = tx.clone();
                let weak = Arc::downgrade(app);
                tokio::spawn(async move {
                    while hangups.recv().await.is_some() && weak.strong_count() > 0 {
                        if tx.send(Trigger::Hangup).is_err() {
                            break;
                        }
                    }
                });
            }
            Err(e) => tracing::warn!("cannot listen for SIGHUP: {e}; the file watch still works"),
        }
    }
    tokio::spawn(run(Arc::downgrade(app), path, tx, rx));
}

async fn run(
    app: Weak<App>,
    path: PathBuf,
    tx: mpsc::UnboundedSender<Trigger>,
    mut rx: mpsc::UnboundedReceiver<Trigger>,
) {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
        _ => PathBuf::from("."),
    };
    let mut watcher = None;
    loop {
        if watcher.is_none() && dir.is_dir() {
            watcher = start(&dir, &path, tx.clone());
        }
        let trigger = tokio::select! {
            trigger = rx.recv() => trigger,
            () = tokio::time::sleep(RECHECK) => None,
        };
        let Some(app) = app.upgrade() else {
            break;
        };
        let Some(mut trigger) = trigger else {
            continue;
        };
        // Wait for the burst to end; a SIGHUP inside it still counts as one.
        loop {
            tokio::time::sleep(DEBOUNCE).await;
            let mut more = false;
            while let Ok(next) = rx.try_recv() {
                more = true;
                if next == Trigger::Hangup {
                    trigger = Trigger::Hangup;
                }
            }
            if !more {
                break;
            }
        }
        if trigger == Trigger::Hangup {
            tracing::info!("SIGHUP: reloading {}", path.display());
        }
        if let Ok(changes) = super::reload(&app).await
            && changes.is_empty()
            && trigger == Trigger::Hangup
        {
            tracing::info!("{} reloaded: no repository changed", path.display());
        }
    }
}

/// Watches `dir` for changes of the file `path` names.
fn start(
    dir: &Path,
    path: &Path,
    tx: mpsc::UnboundedSender<Trigger>,
) -> Option<notify::RecommendedWatcher> {
    let name = path.file_name()?.to_owned();
    let handler = move |event: notify::Result<notify::Event>| {
        let Ok(event) = event else {
            return;
        };
        // Reading the file (as a reload does) is no change.
        if matches!(event.kind, EventKind::Access(_)) {
            return;
        }
        if event
            .paths
            .iter()
            .any(|p| p.file_name() == Some(name.as_os_str()))
        {
            let _ = tx.send(Trigger::File);
        }
    };
    let watched = notify::recommended_watcher(handler)
        .and_then(|mut w| w.watch(dir, RecursiveMode::NonRecursive).map(|()| w));
    match watched {
        Ok(w) => {
            tracing::info!(
                "watching {} for changes (SIGHUP also reloads it)",
                path.display()
            );
            Some(w)
        }
        Err(e) => {
            tracing::warn!(
                "cannot watch {} for changes: {e}; send SIGHUP to reload it",
                dir.display()
            );
            None
        }
    }
}
