//! Logs go through `tracing` to stderr; `-v`/`-q` choose the default level and `RUST_LOG`
//! overrides it. Lines are written by a background thread, so the proxy's one line per request
//! never makes a request wait for the terminal.

use tracing_subscriber::EnvFilter;

/// Keep the returned guard alive until exit: dropping it flushes the last lines.
pub fn init(verbose: u8, quiet: bool) -> tracing_appender::non_blocking::WorkerGuard {
    let default = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "info",
        (false, 1) => "debug",
        (false, _) => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        EnvFilter::new(format!(
            "{default},hyper=warn,reqwest=warn,rustls=warn,h2=warn"
        ))
    });
    // The worker drains every queued line, then flushes: one write per burst, not per line.
    let stderr = std::io::BufWriter::with_capacity(64 * 1024, std::io::stderr());
    let (writer, guard) = tracing_appender::non_blocking(stderr);
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_target(false)
        .with_ansi(
            std::env::var_os("NO_COLOR").is_none()
                && std::io::IsTerminal::is_terminal(&std::io::stderr()),
        )
        .try_init();
    guard
}
