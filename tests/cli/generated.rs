//! The checked-in `completions/` and `man/` are what `repox generate` writes from the current
//! clap definitions: a flag added without regenerating them fails here, naming the command.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

const REGENERATE: &str = "cargo run -- generate --out-dir .";
const DIRS: [&str; 2] = ["completions", "man"];

#[test]
fn completions_and_man_pages_are_up_to_date() {
    let tmp = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_repox"))
        .arg("generate")
        .arg("--out-dir")
        .arg(tmp.path())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "repox generate failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let fresh = files(tmp.path());
    let checked_in = files(Path::new(env!("CARGO_MANIFEST_DIR")));
    assert!(!fresh.is_empty(), "repox generate wrote nothing");

    let mut problems = Vec::new();
    for (path, bytes) in &fresh {
        match checked_in.get(path) {
            None => problems.push(format!("missing: {}", path.display())),
            Some(old) if old != bytes => problems.push(format!("stale: {}", path.display())),
            Some(_) => {}
        }
    }
    for path in checked_in.keys().filter(|p| !fresh.contains_key(*p)) {
        problems.push(format!("no longer generated: {}", path.display()));
    }
    // `repox generate` only writes files, so pages of removed subcommands must be deleted first.
    let hint = if problems.iter().any(|p| p.starts_with("no longer")) {
        format!("rm -r completions man && {REGENERATE}")
    } else {
        REGENERATE.to_owned()
    };
    assert!(
        problems.is_empty(),
        "generated files are out of date:\n  {}\nhint: run `{hint}` and commit the result",
        problems.join("\n  ")
    );
}

/// Every file below `root/completions` and `root/man`, by path relative to `root`.
fn files(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut found = BTreeMap::new();
    let mut pending: Vec<PathBuf> = DIRS.iter().map(|d| root.join(d)).collect();
    while let Some(dir) = pending.pop() {
        let Ok(entries) = fs_err::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                let relative = path.strip_prefix(root).unwrap().to_owned();
                found.insert(relative, fs_err::read(&path).unwrap());
            }
        }
    }
    found
}

#[test]
fn man_pages_link_only_pages_that_exist_and_show_values_and_variables() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let man = files(root);
    let pages: Vec<String> = man
        .keys()
        .filter_map(|p| p.strip_prefix("man").ok()?.to_str().map(str::to_owned))
        .collect();
    for (path, bytes) in man.iter().filter(|(p, _)| p.starts_with("man")) {
        let text = String::from_utf8_lossy(bytes);
        // Every `repox\-x(1)` reference names a page that is there.
        for (i, _) in text.match_indices("(1)") {
            let start = text[..i].rfind(char::is_whitespace).map_or(0, |s| s + 1);
            let page = format!("{}.1", text[start..i].replace("\\-", "-"));
            assert!(
                pages.contains(&page),
                "{} links {page}, which does not exist",
                path.display()
            );
        }
    }
    let serve = String::from_utf8_lossy(&man[Path::new("man/repox-serve.1")]).into_owned();
    let synopsis = serve
        .lines()
        .skip_while(|l| *l != ".SH SYNOPSIS")
        .nth(1)
        .unwrap();
    assert!(
        synopsis.contains("[\\-\\-listen <ADDR>]")
            && synopsis.contains("[\\-\\-cache\\-dir <DIR>]"),
        "{synopsis}"
    );
    for var in [
        "REPOX_LISTEN",
        "REPOX_CACHE_DIR",
        "REPOX_OFFLINE",
        "REPOX_CONFIG",
    ] {
        assert!(
            serve.contains(&format!("\\fB{var}\\fR")),
            "{var} not in repox-serve.1"
        );
    }
    let bash = String::from_utf8_lossy(&man[Path::new("completions/repox.bash")]).into_owned();
    assert!(
        !bash.contains("generate"),
        "bash completion offers the hidden `generate`"
    );
    assert!(bash.contains(" serve "), "{bash}");
}
