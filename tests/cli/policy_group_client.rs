//! A real pip resolving through a group whose own `deny` rules refuse what its member allows:
//! the group's pages leave the versions out, so pip installs the newest version the group
//! allows, finds nothing for a project denied whole, and the member alone still serves both.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use crate::fixture_server::FixtureServer;
use crate::repox_server::RepoxServer;
use crate::warm_support::{e2e, have};

fn pip_install(index: &str, target: &Path, requirement: &str) -> Output {
    Command::new("pip3")
        .args([
            "install",
            "--no-deps",
            "--no-cache-dir",
            "--disable-pip-version-check",
            "--target",
        ])
        .arg(target)
        .arg("--index-url")
        .arg(index)
        .arg(requirement)
        .env("PIP_CONFIG_FILE", "/dev/null")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn installed(target: &Path) -> Vec<String> {
    let mut found: Vec<String> = fs_err::read_dir(target)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".dist-info"))
        .collect();
    found.sort();
    found
}

#[test]
fn pip_installs_what_a_group_s_deny_rules_leave() {
    if !have("pip3", "apt-get install python3-pip") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let upstream = FixtureServer::start(&e2e("upstream"));
    let config = format!(
        "[repositories.pypi]\nkind = \"pypi\"\n\n[[repositories.pypi.upstreams]]\nname = \"fixture\"\nurl = \"{}pypi/simple/\"\n\n\
         [repositories.pypi-all]\nkind = \"pypi\"\nmembers = [\"pypi\"]\ndeny = [\"lib-a==2.0\", \"lib-c\"]\n",
        upstream.url()
    );
    let serve = RepoxServer::start(tmp.path(), &config);
    let group = format!("{}pypi-all/simple/", serve.url());
    let member = format!("{}pypi/simple/", serve.url());
    let log = || serve.log();

    let through_group = tmp.path().join("group");
    let out = pip_install(&group, &through_group, "lib-a");
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        log()
    );
    assert_eq!(installed(&through_group), ["lib_a-1.0.dist-info"]);

    let pinned = pip_install(&group, &tmp.path().join("pinned"), "lib-a==2.0");
    assert!(
        !pinned.status.success(),
        "lib-a 2.0 installed through the group"
    );
    let denied = pip_install(&group, &tmp.path().join("denied"), "lib-c");
    assert!(
        !denied.status.success(),
        "lib-c installed through the group"
    );
    let stderr = String::from_utf8_lossy(&denied.stderr);
    assert!(
        stderr.contains("No matching distribution found for lib-c"),
        "{stderr}"
    );

    let direct = tmp.path().join("member");
    let out = pip_install(&member, &direct, "lib-a");
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        log()
    );
    assert_eq!(
        installed(&direct),
        ["lib_a-2.0.dist-info"],
        "the member has no rule"
    );
}
