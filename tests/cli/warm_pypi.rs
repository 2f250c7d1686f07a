//! `repox warm` for Python, against a fixture index (see `tests/fixtures/warm/e2e/build.py`):
//! resolution picks what pip would per target (wheel tags, markers, extras, requires-python,
//! yanked files, pre-releases), a conflict fails naming it, and after warming requirements or
//! any lock format, pip and uv install through repox with the index stopped.

use std::path::Path;
use std::process::Command;

use crate::fixture_server::FixtureServer;
use crate::repox_server::RepoxServer;
use crate::warm_support::{assert_success, config, e2e, have, labels, run_client, summary, warm};

fn pypi_config(dir: &Path, upstream: &FixtureServer) -> std::path::PathBuf {
    config(dir, &[("pypi", format!("{}pypi/simple/", upstream.url()))])
}

/// The package files a dry run would fetch, by file name.
fn would_fetch(summary: &serde_json::Value) -> Vec<String> {
    let mut files: Vec<String> = summary["would_fetch"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["label"].as_str().unwrap().to_owned())
        .filter(|l| l.ends_with(".whl") || l.ends_with(".tar.gz"))
        .collect();
    files.sort();
    files
}

#[test]
fn each_platform_gets_the_wheel_pip_would_pick() {
    let tmp = tempfile::tempdir().unwrap();
    let upstream = FixtureServer::start(&e2e("upstream"));
    let config = pypi_config(tmp.path(), &upstream);
    let requirements = e2e("inputs/requirements.txt");
    let out = warm(
        &config,
        &[
            "--dry-run",
            "--json",
            "--python",
            "3.12",
            "--platform",
            "manylinux_2_28_x86_64",
            "--platform",
            "macosx_11_0_arm64",
            "--platform",
            "win_amd64",
            "--platform",
            "musllinux_1_2_x86_64",
            requirements.to_str().unwrap(),
        ],
    );
    assert_success(&out, "repox warm --dry-run");
    let summary = summary(&out);
    assert_eq!(
        would_fetch(&summary),
        [
            "app-1.0-py3-none-any.whl",
            // 2.0 is newest; it needs lib-c<2.
            "lib_a-2.0-py3-none-any.whl",
            // Windows only (a marker), and 0.6 is yanked.
            "lib_b-0.5-py3-none-any.whl",
            // Not 2.0 (lib-a 2.0 excludes it) nor the 3.0rc1 pre-release.
            "lib_c-1.0-py3-none-any.whl",
            "lib_d-1.0-py3-none-any.whl",
            // From lib-d's extra `fast`; 2.0 needs Python 3.13.
            "lib_e-1.0-py3-none-any.whl",
            "native-1.0-cp312-cp312-macosx_11_0_arm64.whl",
            "native-1.0-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
            "native-1.0-cp312-cp312-win_amd64.whl",
            // No wheel fits musllinux: the sdist.
            "native-1.0.tar.gz",
        ],
        "{summary:#}"
    );
    // A dry run downloads no package file (it asks with HEAD whether repox has them).
    assert!(
        !upstream
            .requests()
            .keys()
            .any(|p| !p.starts_with("HEAD ") && (p.ends_with(".whl") || p.ends_with(".tar.gz"))),
        "{:#?}",
        upstream.requests()
    );

    // Python 3.13 on Linux: lib-e 2.0 now fits, and native's only match is the abi3 wheel.
    let out = warm(
        &config,
        &[
            "--dry-run",
            "--json",
            "--python",
            "3.13",
            "--platform",
            "manylinux_2_28_x86_64",
            requirements.to_str().unwrap(),
        ],
    );
    assert_success(&out, "repox warm --dry-run --python 3.13");
    let files = would_fetch(&crate::warm_support::summary(&out));
    assert!(
        files.contains(&"lib_e-2.0-py3-none-any.whl".to_owned()),
        "{files:?}"
    );
    assert!(
        files.contains(&"native-1.0-cp39-abi3-manylinux_2_17_x86_64.whl".to_owned()),
        "{files:?}"
    );
    assert!(!files.iter().any(|f| f.starts_with("lib_b")), "{files:?}");
}

#[test]
fn conflicting_requirements_fail_naming_the_conflict() {
    let tmp = tempfile::tempdir().unwrap();
    let upstream = FixtureServer::start(&e2e("upstream"));
    let config = pypi_config(tmp.path(), &upstream);
    let requirements = e2e("inputs/requirements-conflict.txt");
    let out = warm(
        &config,
        &[
            "--python",
            "3.12",
            "--platform",
            "manylinux_2_28_x86_64",
            requirements.to_str().unwrap(),
        ],
    );
    assert!(!out.status.success(), "a conflict must fail the warm");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("lib-a ==2.0 depends on lib-c <2")
            || stderr.contains("lib-a 2.0 depends on lib-c <2"),
        "{stderr}"
    );
    assert!(stderr.contains("lib-c >=2"), "{stderr}");
}

#[test]
fn requirements_then_pip_and_uv_install_with_the_index_gone() {
    if !have("pip3", "apt-get install python3-pip") || !have("uv", "pip install uv") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let upstream = FixtureServer::start(&e2e("upstream"));
    let config = pypi_config(tmp.path(), &upstream);
    let requirements = e2e("inputs/requirements.txt");
    // No --python/--platform: this machine, where pip and uv will install.
    let out = warm(&config, &["--json", requirements.to_str().unwrap()]);
    assert_success(&out, "repox warm");
    let first = summary(&out);
    assert!(labels(&first, "failed").is_empty(), "{first:#}");
    // Both page variants clients negotiate (the second is made from the stored first).
    let mut done = labels(&first, "fetched");
    done.extend(labels(&first, "cached"));
    for page in ["native (project page)", "native (project page, HTML)"] {
        assert!(done.contains(&page.to_owned()), "{first:#}");
    }

    upstream.stop();
    let serve = RepoxServer::with_config(&config);
    let index = format!("{}pypi/simple/", serve.url());
    let pip_target = tmp.path().join("pip-target");
    run_client(
        Command::new("pip3")
            .args([
                "install",
                "--no-cache-dir",
                "--disable-pip-version-check",
                "--target",
            ])
            .arg(&pip_target)
            .arg("--index-url")
            .arg(&index)
            .arg("-r")
            .arg(&requirements)
            .env("PIP_CONFIG_FILE", "/dev/null"),
        &serve,
        "pip install with the index stopped",
    );
    let uv_target = tmp.path().join("uv-target");
    run_client(
        Command::new("uv")
            .args([
                "pip",
                "install",
                "--no-cache",
                "--python",
                "python3",
                "--target",
            ])
            .arg(&uv_target)
            .arg("--index-url")
            .arg(&index)
            .arg("-r")
            .arg(&requirements)
            .env("UV_NO_CONFIG", "1")
            .env("UV_CACHE_DIR", tmp.path().join("uv-cache")),
        &serve,
        "uv pip install with the index stopped",
    );
    for target in [&pip_target, &uv_target] {
        for module in ["app", "lib_a", "lib_c", "lib_d", "lib_e", "native"] {
            assert!(
                target.join(module).join("__init__.py").is_file(),
                "{module} not installed in {}",
                target.display()
            );
        }
        let native = fs_err::read_to_string(target.join("native/__init__.py")).unwrap();
        assert!(
            native.contains("manylinux"),
            "not the Linux wheel: {native}"
        );
    }
}

#[test]
fn every_lock_format_then_installs_with_the_index_gone() {
    if !have("pip3", "apt-get install python3-pip") || !have("uv", "pip install uv") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let upstream = FixtureServer::start(&e2e("upstream"));
    let config = pypi_config(tmp.path(), &upstream);
    // Every lock names the same files: each warm must end with all of them in the cache.
    let locked = [
        "app-1.0-py3-none-any.whl",
        "lib_a-2.0-py3-none-any.whl",
        "lib_c-1.0-py3-none-any.whl",
        "lib_d-1.0-py3-none-any.whl",
        "lib_e-1.0-py3-none-any.whl",
    ];
    for (i, input) in [
        "pylock.toml",
        "uv.lock",
        "poetry.lock",
        "Pipfile.lock",
        "pdm.lock",
        "requirements-hashed.txt",
    ]
    .into_iter()
    .enumerate()
    {
        let path = e2e("inputs").join(input);
        let out = warm(&config, &["--json", path.to_str().unwrap()]);
        assert_success(&out, &format!("repox warm {input}"));
        let summary = summary(&out);
        assert!(
            labels(&summary, "failed").is_empty(),
            "{input}: {summary:#}"
        );
        let mut done = labels(&summary, "fetched");
        done.extend(labels(&summary, "cached"));
        for file in locked {
            assert!(
                done.iter().any(|l| l == file),
                "{input}: {file} missing: {summary:#}"
            );
        }
        if i > 0 {
            assert!(
                labels(&summary, "fetched")
                    .iter()
                    .all(|l| !l.ends_with(".whl")),
                "{input}: a file was downloaded again: {summary:#}"
            );
        }
    }
    // The locks name native's files for every platform, not only this machine's.
    let native = upstream
        .requests()
        .keys()
        .filter(|p| p.contains("/native-1.0") && !p.ends_with(".metadata"))
        .count();
    assert_eq!(native, 6, "{:#?}", upstream.requests());

    upstream.stop();
    let serve = RepoxServer::with_config(&config);
    let index = format!("{}pypi/simple/", serve.url());
    run_client(
        Command::new("pip3")
            .args([
                "install",
                "--no-cache-dir",
                "--disable-pip-version-check",
                "--require-hashes",
                "--target",
            ])
            .arg(tmp.path().join("pip-target"))
            .arg("--index-url")
            .arg(&index)
            .arg("-r")
            .arg(e2e("inputs/requirements-hashed.txt"))
            .env("PIP_CONFIG_FILE", "/dev/null"),
        &serve,
        "pip install --require-hashes with the index stopped",
    );
    run_client(
        Command::new("uv")
            .args([
                "pip",
                "install",
                "--no-cache",
                "--python",
                "python3",
                "--target",
            ])
            .arg(tmp.path().join("uv-target"))
            .arg("--index-url")
            .arg(&index)
            .arg("-r")
            .arg(e2e("inputs/requirements-hashed.txt"))
            .env("UV_NO_CONFIG", "1")
            .env("UV_CACHE_DIR", tmp.path().join("uv-cache")),
        &serve,
        "uv pip install --require-hashes with the index stopped",
    );
}
