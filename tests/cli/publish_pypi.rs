//! `repox configure pip uv maven --publish REPO` (issue 14): into a throwaway HOME, then a real
//! `twine upload -r repox` with nothing but the `.pypirc` that configure wrote publishes a wheel
//! to the hosted repository of a running `repox serve`; uv gets its `publish-url` and Maven the
//! `<distributionManagement>` to paste.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::repox_server::RepoxServer;

const PASSWORD: &str = "publish-pw";

/// Writes a minimal pure-Python wheel of `demo-pub 1.0` with python3's zipfile.
fn build_wheel(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("demo_pub-1.0-py3-none-any.whl");
    let script = r#"
import sys, zipfile
with zipfile.ZipFile(sys.argv[1], "w") as z:
    z.writestr("demo_pub/__init__.py", "VERSION = '1.0'\n")
    z.writestr("demo_pub-1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: demo-pub\nVersion: 1.0\n")
    z.writestr("demo_pub-1.0.dist-info/WHEEL", "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
    z.writestr("demo_pub-1.0.dist-info/RECORD", "")
"#;
    let status = Command::new("python3")
        .args(["-c", script])
        .arg(&path)
        .status()
        .unwrap();
    assert!(status.success());
    path
}

fn repox(config: &Path, home: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_repox"));
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("NO_COLOR", "1")
        .arg("--config")
        .arg(config);
    cmd
}

#[test]
fn configure_publish_lets_twine_upload_with_what_it_wrote() {
    if !crate::clients_support::client_runs("twine", &["--version"], "pip install twine") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let config = "[repositories.pypi-releases]\nkind = \"pypi\"\nhosted = true\n";
    let config_path = tmp.path().join("repox.toml");
    fs_err::write(&config_path, config).unwrap();
    let home = tmp.path().join("home");
    fs_err::create_dir_all(&home).unwrap();
    let mut add = repox(&config_path, &home)
        .args([
            "user",
            "add",
            "alice",
            "--password-stdin",
            "--role",
            "write",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(
        &mut add.stdin.take().unwrap(),
        format!("{PASSWORD}\n").as_bytes(),
    )
    .unwrap();
    assert!(add.wait().unwrap().success());
    let server = RepoxServer::start(tmp.path(), config);

    let out = repox(&config_path, &home)
        .args([
            "configure",
            "pip",
            "uv",
            "maven",
            "--yes",
            "--url",
            &server.url(),
        ])
        .args(["--publish", "pypi-releases", "--user", "alice"])
        .args(["--password-env", "REPOX_PASSWORD"])
        .env("REPOX_PASSWORD", PASSWORD)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!stdout.contains(PASSWORD), "configure printed the password");
    assert!(stdout.contains("twine upload -r repox"), "{stdout}");
    assert!(stdout.contains("<distributionManagement>"), "{stdout}");
    let upload_url = format!("{}pypi-releases/", server.url());
    assert!(
        stdout.contains(&format!("<url>{upload_url}</url>")),
        "{stdout}"
    );

    let pypirc = home.join(".pypirc");
    let text = fs_err::read_to_string(&pypirc).unwrap();
    assert!(
        text.contains(&format!("repository = {upload_url}")),
        "{text}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs_err::metadata(&pypirc).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "a .pypirc with a password is private");
    }
    let uv_toml = fs_err::read_to_string(home.join(".config/uv/uv.toml")).unwrap();
    assert!(
        uv_toml.contains(&format!("publish-url = \"{upload_url}\"")),
        "{uv_toml}"
    );

    let wheel = build_wheel(tmp.path());
    let twine = Command::new("twine")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", &home)
        .env("NO_PROXY", "*")
        .args([
            "upload",
            "--non-interactive",
            "--disable-progress-bar",
            "-r",
            "repox",
        ])
        .arg(&wheel)
        .output()
        .unwrap();
    assert!(
        twine.status.success(),
        "twine: {}{}\nrepox log:\n{}",
        String::from_utf8_lossy(&twine.stdout),
        String::from_utf8_lossy(&twine.stderr),
        server.log()
    );
    assert!(
        server.logged("POST /pypi-releases/ 200"),
        "{}",
        server.log()
    );
}
