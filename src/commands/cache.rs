//! `repox cache stats|ls|rm|gc`: the cache seen through its entry index, on a stopped server's
//! directory or beside a running server (SQLite's locking lets both write the index; the server
//! re-reads the totals and re-checks its in-memory entries every second).

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use anyhow::Context;
use repox_proxy::store::evict::{Collected, collect};
use repox_proxy::store::{FsStore, Index, Store, walk};

use crate::cli::{CacheCommand, GlobalArgs, ServeArgs};
use crate::settings::{self, Hinted};

/// Entries listed per index query.
const PAGE: usize = 1000;

pub fn run(global: &GlobalArgs, cmd: CacheCommand) -> anyhow::Result<ExitCode> {
    let cache = match &cmd {
        CacheCommand::Stats(cache)
        | CacheCommand::Ls { cache, .. }
        | CacheCommand::Rm { cache, .. }
        | CacheCommand::Gc { cache, .. } => cache,
    };
    let serve = ServeArgs {
        listen: None,
        cache_dir: cache.cache_dir.clone(),
        offline: false,
        workers: None,
    };
    let config = settings::load(global, Some(&serve))?;
    let dir = config.server.cache_dir.clone().unwrap_or_default();
    if let Some(url) = &config.storage.url {
        return Err(Hinted {
            message: format!("`repox cache` works on local caches, and [storage] url is `{url}`"),
            hint: "bound an S3 bucket with its lifecycle rules (see docs/storage.md)".to_owned(),
        }
        .into());
    }
    if !dir.join("data-v1").is_dir() {
        return Err(Hinted {
            message: format!("no repox cache in `{}`", dir.display()),
            hint: "pass the directory `repox serve` uses with --cache-dir".to_owned(),
        }
        .into());
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let store = FsStore::open(&dir)
            .with_context(|| format!("cannot open the cache in `{}`", dir.display()))?;
        let index = store.index().cloned().context("the store has no index")?;
        index_once(&index).await?;
        match cmd {
            CacheCommand::Stats(_) => stats(&index, &dir),
            CacheCommand::Ls { prefix, .. } => ls(&index, prefix.as_deref().unwrap_or("")),
            CacheCommand::Rm { path, .. } => rm(&store, &path).await,
            CacheCommand::Gc { dry_run, .. } => gc(&store, &index, &config.storage, dry_run).await,
        }
    })
}

/// A cache written by a version without the index is indexed now, once.
async fn index_once(index: &Arc<Index>) -> anyhow::Result<()> {
    let Some(root) = index.files().map(Path::to_owned) else {
        return Ok(());
    };
    if index.state(walk::WALKED)?.is_some() {
        return Ok(());
    }
    eprintln!("Indexing the cache (once; later commands and starts read the index)…");
    let index = index.clone();
    tokio::task::spawn_blocking(move || walk::walk_once(&index, &root, &|| false)).await??;
    Ok(())
}

fn stats(index: &Index, dir: &Path) -> anyhow::Result<ExitCode> {
    index.refresh()?;
    println!("cache: {}", dir.display());
    println!(
        "{:<20} {:>10} {:>16} {:>10}",
        "REPOSITORY", "ENTRIES", "BYTES", "SIZE"
    );
    for repo in index.usage()? {
        println!(
            "{:<20} {:>10} {:>16} {:>10}",
            repo.repo,
            repo.entries,
            repo.bytes,
            human(repo.bytes)
        );
    }
    println!(
        "{:<20} {:>10} {:>16} {:>10}",
        "total",
        index.entries(),
        index.bytes(),
        human(index.bytes())
    );
    Ok(ExitCode::SUCCESS)
}

fn ls(index: &Index, prefix: &str) -> anyhow::Result<ExitCode> {
    let prefix = prefix.trim_start_matches('/');
    let mut after: Option<String> = None;
    let mut out = std::io::stdout().lock();
    loop {
        let page = index.list(prefix, after.as_deref(), PAGE)?;
        let Some(last) = page.last() else { break };
        after = Some(last.key.clone());
        for e in &page {
            let when = humantime::format_rfc3339_seconds(
                UNIX_EPOCH + Duration::from_millis(e.last_access),
            );
            if let Err(err) = writeln_entry(&mut out, &e.key, e.size, &when.to_string()) {
                // A closed pipe (`| head`) ends the listing, quietly.
                if err.kind() == std::io::ErrorKind::BrokenPipe {
                    return Ok(ExitCode::SUCCESS);
                }
                return Err(err.into());
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn writeln_entry(
    out: &mut impl std::io::Write,
    key: &str,
    size: u64,
    when: &str,
) -> std::io::Result<()> {
    writeln!(out, "{key}\t{size}\t{when}")
}

async fn rm(store: &FsStore, path: &str) -> anyhow::Result<ExitCode> {
    let path = path.trim_start_matches('/');
    if path.is_empty() {
        return Err(Hinted {
            message: "refusing to remove the whole cache".to_owned(),
            hint: "name a repository (`repox cache rm maven`) or stop the server and delete the directory".to_owned(),
        }
        .into());
    }
    let (mut entries, mut bytes) = (0u64, 0u64);
    if !path.ends_with('/')
        && let Some(freed) = store.delete(path).await?
    {
        entries += 1;
        bytes += freed;
    }
    let prefix = if path.ends_with('/') {
        path.to_owned()
    } else {
        format!("{path}/")
    };
    let purged = store.purge(&prefix).await?;
    entries += purged.entries;
    bytes += purged.bytes;
    if entries == 0 {
        return Err(Hinted {
            message: format!("nothing cached at `{path}`"),
            hint: "see what is cached with `repox cache ls PREFIX`".to_owned(),
        }
        .into());
    }
    println!("Removed {entries} entries ({}).", human(bytes));
    Ok(ExitCode::SUCCESS)
}

async fn gc(
    store: &FsStore,
    index: &Arc<Index>,
    limits: &repox_proxy::config::StorageConfig,
    dry_run: bool,
) -> anyhow::Result<ExitCode> {
    if limits.max_size.is_none() && limits.unused_for.is_none() {
        println!("Nothing to do: the config sets neither [storage] max_size nor unused_for.");
        return Ok(ExitCode::SUCCESS);
    }
    let done: Collected = collect(store as &dyn Store, index, limits, dry_run).await?;
    let verb = if dry_run { "Would remove" } else { "Removed" };
    if dry_run {
        for (reason, list) in [("unused", &done.unused), ("over max_size", &done.over_size)] {
            for e in list {
                println!("would remove {}\t{}\t({reason})", e.key, e.size);
            }
        }
    }
    println!(
        "{verb} {} unused and {} least recently used entries ({}); {} {} held.",
        done.unused.len(),
        done.over_size.len(),
        human(done.freed()),
        human(done.bytes_after),
        if dry_run { "would be" } else { "now" },
    );
    Ok(ExitCode::SUCCESS)
}

/// Bytes in binary units, one decimal.
fn human(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::human;

    #[test]
    fn sizes_read_in_binary_units() {
        assert_eq!(human(0), "0 B");
        assert_eq!(human(1023), "1023 B");
        assert_eq!(human(1536), "1.5 KiB");
        assert_eq!(human(50 << 30), "50.0 GiB");
    }
}
