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
    if let Some(workers) = config.server.workers {
        builder.worker_threads(workers.get());
    }
    // EXPERIMENT (branch tail, to be removed): tokio's knobs from the environment.
    let knob = |name: &str| std::env::var(name).ok().and_then(|v| v.parse::<u32>().ok());
    if let Some(v) = knob("REPOX_EXP_EVENT_INTERVAL") {
        builder.event_interval(v);
    }
    if let Some(v) = knob("REPOX_EXP_GLOBAL_QUEUE_INTERVAL") {
        builder.global_queue_interval(v);
    }
    if let Some(v) = knob("REPOX_EXP_MAX_BLOCKING") {
        builder.max_blocking_threads(v as usize);
    }
    if let Some(v) = knob("REPOX_EXP_KEEP_ALIVE_MS") {
        builder.thread_keep_alive(std::time::Duration::from_millis(u64::from(v)));
    }
    let runtime = builder.build()?;
    let offline = if config.server.offline {
        "; offline: serving only what is cached, no upstream is asked"
    } else {
        ""
    };
    runtime.block_on(async {
        let server = repox_proxy::Server::bind(config)
            .await
            .context("cannot start the proxy")?;
        tracing::info!(
            "repox listening on {}://{} (cache: {}{offline})",
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
