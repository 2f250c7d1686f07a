//! `repox advisories import FILE`: reads an OSV zip export and adds it to the advisory list in
//! the cache directory, which `repox serve` turns into refusals (`policy/advisories.rs`).

use std::process::ExitCode;

use anyhow::Context;
use repox_proxy::policy::advisories::Advisories;

use crate::cli::{AdvisoriesCommand, GlobalArgs, ServeArgs};
use crate::settings::{self, Hinted};

pub fn run(global: &GlobalArgs, cmd: AdvisoriesCommand) -> anyhow::Result<ExitCode> {
    let AdvisoriesCommand::Import { file, cache } = cmd;
    let serve = ServeArgs {
        listen: None,
        cache_dir: cache.cache_dir,
        offline: false,
        workers: None,
    };
    let config = settings::load(global, Some(&serve))?;
    let dir = config.server.cache_dir.clone().unwrap_or_default();
    let reader = fs_err::File::open(&file).map_err(|e| Hinted {
        message: e.to_string(),
        hint: "download an export such as https://osv-vulnerabilities.storage.googleapis.com/PyPI/all.zip"
            .to_owned(),
    })?;
    let (imported, skipped) = Advisories::from_zip(std::io::BufReader::new(reader), &file)?;
    let count = imported.advisories.len();
    let malicious = imported.advisories.iter().filter(|a| a.malicious).count();
    let mut all = Advisories::load(&dir);
    all.merge(imported);
    let path = all
        .save(&dir)
        .with_context(|| format!("cannot write the advisory list into `{}`", dir.display()))?;
    println!(
        "imported {count} advisory entries from {} ({malicious} malicious: their versions are refused)",
        file.display()
    );
    if skipped > 0 {
        println!("skipped {skipped} members that are not OSV advisories");
    }
    println!(
        "{} now holds {} entries; a running `repox serve` on this cache applies them at once",
        path.display(),
        all.advisories.len()
    );
    Ok(ExitCode::SUCCESS)
}
