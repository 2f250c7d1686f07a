//! `repox warm FILE...`: parse the inputs, fill repox with what they name, print the summary.
//! The work is in `crate::warm`; this module turns flags into options, sets up the display and
//! the logging that goes with it, and maps the outcome to an exit code.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use tracing_subscriber::EnvFilter;

use crate::cli::{GlobalArgs, WarmArgs};
use crate::settings;
use crate::warm::report::{BarWriter, Bars, Display, Lines, Progress, Recorder};
use crate::warm::session::{self, Options};
use crate::warm::tags::Environment;
use crate::warm::{self, Plan, Want};

pub fn run(global: &GlobalArgs, args: &WarmArgs) -> anyhow::Result<ExitCode> {
    let config = settings::load(global, None)?;
    // Every input is read before anything is fetched: a broken file stops the run at once.
    let mut plan = Plan::default();
    for file in &args.files {
        plan.merge(warm::parse_file(file, args.format)?);
    }
    plan.dedup();
    let needs_resolution = plan
        .items
        .iter()
        .any(|i| matches!(i, Want::PypiRequirement(_)));
    let environments = if needs_resolution {
        Environment::all(&args.python, &args.platform)?
    } else {
        Vec::new()
    };
    let options = Options {
        jobs: usize::from(args.jobs),
        dry_run: args.dry_run,
        server: args.server.clone(),
        environments,
        user: args.user.clone(),
    };

    let display = Display::choose(global.quiet);
    let bars = (display == Display::Bars).then(|| Arc::new(Bars::new()));
    let shown: Arc<dyn Progress> = match &bars {
        Some(bars) => bars.clone(),
        None => Arc::new(Lines {
            quiet: display == Display::Quiet,
        }),
    };
    let recorder = Arc::new(Recorder::new(shown));

    // Log lines (the in-process proxy's among them) go above the bars, and the proxy's
    // per-request lines only with -v: the warm's own display says what is fetched.
    let writer = BarWriter(bars.as_ref().map(|b| b.multi()));
    let dispatch = log_dispatch(global, writer);
    let runtime = {
        let dispatch = dispatch.clone();
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .on_thread_start(move || {
                // Held for the thread's life: the runtime's threads end with it.
                std::mem::forget(tracing::dispatcher::set_default(&dispatch));
            })
            .build()?
    };
    let summary = tracing::dispatcher::with_default(&dispatch, || {
        runtime.block_on(session::run(&config, plan, &options, recorder.clone()))
    });
    if let Some(bars) = &bars {
        bars.finish();
    }
    runtime.shutdown_background();
    let summary = summary?;
    if args.json {
        let json = serde_json::to_string_pretty(&summary).context("cannot write the summary")?;
        println!("{json}");
    } else if !(global.quiet && summary.success()) {
        eprint!("{}", summary.render(global.verbose > 0));
    }
    Ok(if summary.success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// A tracing dispatcher like the global one, writing through `writer`, with the proxy's
/// per-request logging at `warn` unless `-v` (or `RUST_LOG`) asks for more.
fn log_dispatch(global: &GlobalArgs, writer: BarWriter) -> tracing::Dispatch {
    let default = match (global.quiet, global.verbose) {
        (true, _) => "error",
        (false, 0) => "info,repox_proxy=warn",
        (false, 1) => "debug",
        (false, _) => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        EnvFilter::new(format!(
            "{default},hyper=warn,reqwest=warn,rustls=warn,h2=warn,pubgrub=warn"
        ))
    });
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(move || writer.clone())
        .with_target(false)
        .with_ansi(
            std::env::var_os("NO_COLOR").is_none()
                && std::io::IsTerminal::is_terminal(&std::io::stderr()),
        )
        .finish();
    tracing::Dispatch::new(subscriber)
}
