//! `repox warm` against an index without PEP 658 metadata (the e2e fixture index with every
//! `.metadata` file and `data-*-metadata` attribute removed; it also ignores `Range`): the warm
//! follows dependencies through the metadata repox generates, or, with generation off, by
//! reading each wheel's `METADATA` itself; an offline `pip install -r` of the unpinned
//! requirements then succeeds. A fully pinned file warns about nothing it pins.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::fixture_server::FixtureServer;
use crate::repox_server::RepoxServer;
use crate::warm_support::{assert_success, config, e2e, have, labels, run_client, summary, warm};

/// A copy of the e2e PyPI upstream below `dir` without PEP 658 metadata; `drop` removes the
/// page lines naming these files too.
fn upstream_without_metadata(dir: &Path, drop: &[&str]) -> PathBuf {
    let root = dir.join("upstream");
    copy_tree(&e2e("upstream/pypi"), &root.join("pypi"));
    strip(&root.join("pypi"), drop);
    root
}

fn copy_tree(from: &Path, to: &Path) {
    fs_err::create_dir_all(to).unwrap();
    for entry in fs_err::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            fs_err::copy(entry.path(), target).unwrap();
        }
    }
}

fn strip(dir: &Path, drop: &[&str]) {
    for entry in fs_err::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if path.is_dir() {
            strip(&path, drop);
        } else if name.ends_with(".metadata") {
            fs_err::remove_file(&path).unwrap();
        } else if name == "index.html" {
            let text = fs_err::read_to_string(&path).unwrap();
            let kept: Vec<String> = text
                .lines()
                .filter(|l| !drop.iter().any(|d| l.contains(d)))
                .map(|l| {
                    let mut l = l.to_owned();
                    for attr in ["data-dist-info-metadata", "data-core-metadata"] {
                        while let Some(at) = l.find(&format!(" {attr}=\"")) {
                            let end = l[at + attr.len() + 3..].find('"').unwrap();
                            l.replace_range(at..at + attr.len() + 4 + end, "");
                        }
                    }
                    l
                })
                .collect();
            assert!(!kept.join("\n").contains("metadata="), "{}", path.display());
            fs_err::write(&path, kept.join("\n")).unwrap();
        }
    }
}

/// A config for `upstream`, with `generate_metadata` set when given.
fn pypi_config(dir: &Path, upstream: &FixtureServer, generate: Option<bool>) -> PathBuf {
    let path = config(dir, &[("pypi", format!("{}pypi/simple/", upstream.url()))]);
    if let Some(generate) = generate {
        let text = fs_err::read_to_string(&path).unwrap().replace(
            "kind = \"pypi\"\n",
            &format!("kind = \"pypi\"\ngenerate_metadata = {generate}\n"),
        );
        fs_err::write(&path, text).unwrap();
    }
    path
}

/// Warms the unpinned `requirements.txt`, then installs it with pip with the index stopped.
fn warm_then_install_offline(generate: Option<bool>) {
    let tmp = tempfile::tempdir().unwrap();
    let upstream = FixtureServer::start(&upstream_without_metadata(tmp.path(), &[]));
    let config = pypi_config(tmp.path(), &upstream, generate);
    let requirements = e2e("inputs/requirements.txt");
    let out = warm(&config, &["--json", requirements.to_str().unwrap()]);
    assert_success(&out, "repox warm");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("not followed"), "{stderr}");
    let first = summary(&out);
    assert!(labels(&first, "failed").is_empty(), "{first:#}");
    let mut done = labels(&first, "fetched");
    done.extend(labels(&first, "cached"));
    for dep in [
        "lib_a-2.0",
        "lib_c-1.0",
        "lib_d-1.0",
        "lib_e-1.0",
        "native-1.0",
    ] {
        assert!(
            done.iter().any(|l| l.starts_with(dep)),
            "{dep} (a dependency of app) was warmed: {done:?}"
        );
    }

    upstream.stop();
    let serve = RepoxServer::with_config(&config);
    let index = format!("{}pypi/simple/", serve.url());
    let target = tmp.path().join("pip-target");
    run_client(
        Command::new("pip3")
            .args([
                "install",
                "--no-cache-dir",
                "--disable-pip-version-check",
                "--target",
            ])
            .arg(&target)
            .arg("--index-url")
            .arg(&index)
            .arg("-r")
            .arg(&requirements)
            .env("PIP_CONFIG_FILE", "/dev/null"),
        &serve,
        "pip install with the index stopped",
    );
    for module in ["app", "lib_a", "lib_c", "lib_d", "lib_e", "native"] {
        assert!(
            target.join(module).join("__init__.py").is_file(),
            "{module} not installed"
        );
    }
}

#[test]
fn warm_follows_generated_metadata_then_pip_installs_offline() {
    if have("pip3", "apt-get install python3-pip") {
        warm_then_install_offline(None);
    }
}

#[test]
fn warm_reads_wheels_when_repox_does_not_generate_metadata() {
    if have("pip3", "apt-get install python3-pip") {
        warm_then_install_offline(Some(false));
    }
}

/// `lib-a` has only an sdist here (nothing to read its dependencies from): an unpinned
/// requirement warns that they are not followed; in a fully pinned file, which pins them
/// too, nothing is said.
#[test]
fn a_fully_pinned_file_gets_no_dependency_warnings() {
    let tmp = tempfile::tempdir().unwrap();
    let root = upstream_without_metadata(tmp.path(), &["lib_a-1.0-py3-none-any", "lib_a-2.0-"]);
    let upstream = FixtureServer::start(&root);
    let config = pypi_config(tmp.path(), &upstream, None);
    let pinned = tmp.path().join("pinned.txt");
    fs_err::write(
        &pinned,
        "# uv pip compile output\napp==1.0\nlib-a==1.0\nlib-c==1.0\nlib-d[fast]==1.0\nlib-e==1.0\nnative==1.0\n",
    )
    .unwrap();
    let out = warm(&config, &["--json", pinned.to_str().unwrap()]);
    assert_success(&out, "repox warm of a pinned file");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("not followed"), "{stderr}");
    assert!(labels(&summary(&out), "failed").is_empty());

    let loose = tmp.path().join("loose.txt");
    fs_err::write(&loose, "lib-a>=1.0\n").unwrap();
    let out = warm(&config, &["--json", loose.to_str().unwrap()]);
    assert_success(&out, "repox warm of an unpinned file");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("lib-a 1.0: its dependencies are not followed"),
        "{stderr}"
    );
}
