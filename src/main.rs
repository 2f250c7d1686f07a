//! `repox`: parse, set up logging, run the command, map the outcome to an exit code.

mod allocator;
mod cli;
mod commands;
mod configure;
#[cfg(test)]
#[path = "../proxy/src/fuzz.rs"]
mod fuzz;
mod logging;
mod settings;
mod warm;

use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = cli::Cli::parse_blaming_env();
    let log = logging::init(cli.global.verbose, cli.global.quiet);
    let result = commands::run(cli);
    drop(log);
    match result {
        Ok(code) => code,
        Err(err) => {
            if is_broken_pipe(&err) {
                return ExitCode::SUCCESS;
            }
            eprintln!("error: {err:#}");
            if let Some(hint) = err.downcast_ref::<settings::Hinted>() {
                eprintln!("\nhint: {}", hint.hint);
            }
            ExitCode::FAILURE
        }
    }
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain()
        .filter_map(|e| e.downcast_ref::<std::io::Error>())
        .any(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
}
