//! Publishing with the real npm (issue 14): `npm publish` of a package made in the test into a
//! hosted repository, then `npm install` of a project that depends on it through the group,
//! which also brings its public dependency from the proxy member. dist-tags, deprecate, a
//! refused republish and unpublish go through npm too.

use crate::clients_support::client_runs;
use crate::publish_support::{Hosting, text};

fn npm(h: &Hosting, dir: &std::path::Path, args: &[&str]) -> std::process::Command {
    let mut cmd = h.client("npm", dir);
    cmd.args(args)
        .env("npm_config_cache", h.tmp.path().join("npm-cache"))
        .env("npm_config_update_notifier", "false")
        .env("npm_config_audit", "false")
        .env("npm_config_fund", "false");
    cmd
}

#[test]
fn npm_publishes_to_the_hosted_repository_and_installs_through_the_group() {
    if !client_runs("npm", &["--version"], "apt-get install npm") {
        return;
    }
    let h = Hosting::start("npm", "npm/");
    let releases = h.url("npm-releases");
    let public = h.url("npm-public");
    let host = h.host();
    fs_err::write(
        h.home.join(".npmrc"),
        format!(
            "registry={public}\n//{host}/npm-releases/:_authToken={}\n",
            h.token
        ),
    )
    .unwrap();

    let lib = h.tmp.path().join("internal-lib");
    fs_err::create_dir_all(&lib).unwrap();
    let manifest = |version: &str| {
        format!(
            r#"{{"name": "internal-lib", "version": "{version}", "main": "index.js",
                "dependencies": {{"left-pad": "^1.3.0"}}}}"#
        )
    };
    fs_err::write(lib.join("package.json"), manifest("1.0.0")).unwrap();
    fs_err::write(lib.join("index.js"), "module.exports = 'internal';\n").unwrap();
    let registry = format!("--registry={releases}");
    h.succeeds(&mut npm(&h, &lib, &["publish", &registry]), "npm publish");
    h.fails(
        &mut npm(&h, &lib, &["publish", &registry]),
        "a second npm publish of 1.0.0",
        // npm checks the packument first; the server's own 409 is in proxy/tests/it/hosted_npm.rs.
        "cannot publish over the previously published versions",
    );
    fs_err::write(lib.join("package.json"), manifest("1.1.0")).unwrap();
    h.succeeds(
        &mut npm(&h, &lib, &["publish", &registry, "--tag", "next"]),
        "npm publish --tag next",
    );

    h.succeeds(
        &mut npm(
            &h,
            &lib,
            &["dist-tag", "add", "internal-lib@1.0.0", "stable", &registry],
        ),
        "npm dist-tag add",
    );
    let out = h.succeeds(
        &mut npm(&h, &lib, &["dist-tag", "ls", "internal-lib", &registry]),
        "npm dist-tag ls",
    );
    let tags = text(&out.stdout);
    for want in ["latest: 1.0.0", "next: 1.1.0", "stable: 1.0.0"] {
        assert!(tags.contains(want), "{want} not in:\n{tags}");
    }
    h.succeeds(
        &mut npm(
            &h,
            &lib,
            &["dist-tag", "rm", "internal-lib", "stable", &registry],
        ),
        "npm dist-tag rm",
    );
    h.succeeds(
        &mut npm(
            &h,
            &lib,
            &["deprecate", "internal-lib@1.1.0", "use 1.0.0", &registry],
        ),
        "npm deprecate",
    );
    let out = h.succeeds(
        &mut npm(
            &h,
            &lib,
            &["view", "internal-lib@1.1.0", "deprecated", &registry],
        ),
        "npm view deprecated",
    );
    assert!(
        text(&out.stdout).contains("use 1.0.0"),
        "{}",
        text(&out.stdout)
    );
    h.succeeds(
        &mut npm(&h, &lib, &["unpublish", "internal-lib@1.1.0", &registry]),
        "npm unpublish of a fresh version",
    );

    let app = h.tmp.path().join("app");
    fs_err::create_dir_all(&app).unwrap();
    fs_err::write(
        app.join("package.json"),
        r#"{"name": "app", "version": "1.0.0", "dependencies": {"internal-lib": "^1.0.0"}}"#,
    )
    .unwrap();
    h.succeeds(
        &mut npm(&h, &app, &["install"]),
        "npm install through the group",
    );
    let installed =
        fs_err::read_to_string(app.join("node_modules/internal-lib/package.json")).unwrap();
    assert!(installed.contains("\"1.0.0\""), "{installed}");
    assert!(
        app.join("node_modules/left-pad/package.json").is_file(),
        "the public dependency came through the group's proxy member"
    );
    let lock = fs_err::read_to_string(app.join("package-lock.json")).unwrap();
    assert!(
        lock.contains("/npm-releases/internal-lib/-/internal-lib-1.0.0.tgz"),
        "{lock}"
    );
}

#[test]
fn npm_publish_with_a_wrong_token_is_refused() {
    if !client_runs("npm", &["--version"], "apt-get install npm") {
        return;
    }
    let h = Hosting::start("npm", "npm/");
    let lib = h.tmp.path().join("lib");
    fs_err::create_dir_all(&lib).unwrap();
    fs_err::write(
        lib.join("package.json"),
        r#"{"name": "anon-lib", "version": "1.0.0"}"#,
    )
    .unwrap();
    let registry = format!("--registry={}", h.url("npm-releases"));
    // Without any token npm refuses by itself (ENEEDAUTH); a wrong one reaches repox.
    fs_err::write(
        h.home.join(".npmrc"),
        format!("//{}/npm-releases/:_authToken=repox-wrong\n", h.host()),
    )
    .unwrap();
    h.fails(
        &mut npm(&h, &lib, &["publish", &registry]),
        "npm publish with a wrong token",
        "401",
    );
    assert!(
        h.serve.logged("PUT /npm-releases/anon-lib 401"),
        "{}",
        h.serve.log()
    );
}

#[test]
fn npm_login_stores_a_repox_token_that_publishes() {
    if !client_runs("npm", &["--version"], "apt-get install npm") {
        return;
    }
    let h = Hosting::start("npm", "npm/");
    let releases = h.url("npm-releases");
    let registry = format!("--registry={releases}");
    let mut login = npm(
        &h,
        h.tmp.path(),
        &["login", "--auth-type=legacy", &registry],
    );
    login
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = login.spawn().unwrap();
    // npm reads each answer after printing its prompt: answering both at once loses the
    // password, so the password goes in once "Password:" shows (bounded wait).
    let mut stdout = child.stdout.take().unwrap();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let reader = {
        let seen = seen.clone();
        std::thread::spawn(move || {
            use std::io::Read as _;
            let mut buf = [0u8; 256];
            while let Ok(n) = stdout.read(&mut buf) {
                if n == 0 {
                    break;
                }
                seen.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        })
    };
    let mut stdin = child.stdin.take().unwrap();
    let prompted = |what: &str| {
        (0..600).any(|_| {
            let found = text(&seen.lock().unwrap()).contains(what);
            if !found {
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            found
        })
    };
    {
        use std::io::Write as _;
        assert!(
            prompted("Username:"),
            "npm login never asked for the user name"
        );
        writeln!(stdin, "{}", crate::publish_support::USER).unwrap();
        assert!(
            prompted("Password:"),
            "npm login never asked for the password"
        );
        writeln!(stdin, "{}", crate::publish_support::PASSWORD).unwrap();
    }
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    reader.join().unwrap();
    assert!(
        out.status.success(),
        "npm login: {}{}\n{}",
        text(&seen.lock().unwrap()),
        text(&out.stderr),
        h.serve.log()
    );
    let npmrc = fs_err::read_to_string(h.home.join(".npmrc")).unwrap();
    assert!(
        npmrc.contains("/npm-releases/:_authToken=repox-"),
        "{npmrc}"
    );
    let lib = h.tmp.path().join("lib");
    fs_err::create_dir_all(&lib).unwrap();
    fs_err::write(
        lib.join("package.json"),
        r#"{"name": "logged-lib", "version": "1.0.0"}"#,
    )
    .unwrap();
    h.succeeds(
        &mut npm(&h, &lib, &["publish", &registry]),
        "npm publish after npm login",
    );
    assert!(!h.serve.log().contains(crate::publish_support::PASSWORD));
}
