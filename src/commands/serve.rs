//! `repox serve`: run the proxy until SIGINT/SIGTERM.

use std::process::ExitCode;

use anyhow::Context;

use crate::cli::{GlobalArgs, ServeArgs};
use crate::settings;

pub fn run(global: &GlobalArgs, args: &ServeArgs) -> anyhow::Result<ExitCode> {
    let config = settings::load(global, Some(args))?;
    // The blocking pool keeps tokio's bounds (512 threads, 10 s idle): capped at 32 it saved
    // ~0.5 MiB at peak, but a large miss's digest follower (`hashing.rs`) holds a blocking
    // thread while it waits for the writer's next chunk, which needs the pool too, so a low cap
    // could stall concurrent misses. Idle threads exit after 10 s.
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder
        .enable_all()
        .on_thread_park(crate::allocator::worker_parks);
    // Unset, tokio starts one worker per core (or `TOKIO_WORKER_THREADS`), like nginx's
    // `worker_processes auto`: right for a server with cores to spare. Where other busy
    // processes share a few cores, fewer workers sometimes gave a lower tail and sometimes a
    // lower rate (docs/performance.md, "Workers and the tail at 32 connections"): measure.
    if let Some(workers) = config.server.workers {
        builder.worker_threads(workers.get());
    }
    let runtime = builder.build()?;
    let offline = if config.server.offline {
        "; offline: serving only what is cached, no upstream is asked"
    } else {
        ""
    };
    let workers = match runtime.metrics().num_workers() {
        1 => "1 worker".to_owned(),
        n => format!("{n} workers"),
    };
    runtime.block_on(async {
        let server = repox_proxy::Server::bind(config)
            .await
            .context("cannot start the proxy")?;
        tracing::info!(
            "repox listening on {}://{} (cache: {}; {workers}{offline})",
            if server.is_tls() { "https" } else { "http" },
            server.local_addr(),
            server.cache_dir().display()
        );
        repox_proxy::live::watch(server.app(), settings::live_config_path(global)?);
        server
            .run(repox_proxy::shutdown_signal())
            .await
            .context("the proxy stopped with an error")
    })?;
    Ok(ExitCode::SUCCESS)
}
