//! `repox warm` for npm: a package-lock.json (v3) and a yarn.lock (v1) naming registry.npmjs.org
//! are warmed from a fixture registry; with the registry stopped, `npm ci` installs through
//! repox.

use std::process::Command;

use crate::fixture_server::FixtureServer;
use crate::repox_server::RepoxServer;
use crate::warm_support::{assert_success, config, e2e, have, labels, run_client, summary, warm};

#[test]
fn package_lock_and_yarn_lock_then_npm_ci_with_the_registry_gone() {
    if !have("npm", "apt-get install npm") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let upstream = FixtureServer::start(&e2e("upstream"));
    let config = config(tmp.path(), &[("npm", format!("{}npm/", upstream.url()))]);
    let lock = e2e("inputs/npm/package-lock.json");
    let yarn = e2e("inputs/npm/yarn.lock");
    let args = ["--json", lock.to_str().unwrap(), yarn.to_str().unwrap()];

    let first = warm(&config, &args);
    assert_success(&first, "repox warm");
    let first = summary(&first);
    assert_eq!(
        labels(&first, "fetched"),
        [
            "@scope/util (packument)",
            "@scope/util (packument, abbreviated)",
            "@scope/util@2.0.0",
            "left-pad (packument)",
            "left-pad (packument, abbreviated)",
            "left-pad@1.3.0",
        ],
        "{first:#}"
    );
    assert!(labels(&first, "failed").is_empty(), "{first:#}");
    // Each tarball was asked of the registry once, though both lock files name it.
    let requests = upstream.requests();
    assert_eq!(
        requests.get("npm/left-pad/-/left-pad-1.3.0.tgz"),
        Some(&1),
        "{requests:#?}"
    );

    // A second warm finds the tarballs cached.
    let second = summary(&warm(&config, &args));
    assert_eq!(
        labels(&second, "cached")
            .iter()
            .filter(|l| l.contains('@') && !l.contains("packument"))
            .count(),
        2,
        "{second:#}"
    );

    upstream.stop();
    let serve = RepoxServer::with_config(&config);
    let project = tmp.path().join("app");
    fs_err::create_dir_all(&project).unwrap();
    for file in ["package.json", "package-lock.json"] {
        fs_err::copy(e2e("inputs/npm").join(file), project.join(file)).unwrap();
    }
    let npmrc = tmp.path().join("npmrc");
    fs_err::write(&npmrc, "").unwrap();
    run_client(
        Command::new("npm")
            .current_dir(&project)
            .args(["ci", "--no-audit", "--no-fund", "--registry"])
            .arg(format!("{}npm/", serve.url()))
            .env("npm_config_userconfig", &npmrc)
            .env("npm_config_cache", tmp.path().join("npm-cache"))
            .env("npm_config_update_notifier", "false"),
        &serve,
        "npm ci",
    );
    for package in ["left-pad", "@scope/util"] {
        assert!(
            project
                .join("node_modules")
                .join(package)
                .join("package.json")
                .is_file(),
            "npm ci did not install {package}"
        );
    }
}
