//! `ca_certificates` as `repox serve` reads it, an upstream's and the server-wide one: a
//! relative path is found beside the config file, and a missing file stops the start with one
//! line naming the key (and the upstream for its own file), the file and the fix. (Fetching through an HTTPS upstream is tested in `proxy/tests/it/tls_upstream.rs`.)

use std::path::Path;

use crate::serve::{repox, spawn_serve, wait_healthy};

/// A CA certificate whose key was thrown away: usable as a trust anchor only.
const FIXTURE_CA: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/tls/test-ca.pem"
);

/// Writes `etc/repox.toml`: a `[server]` on port 0 (the child says which port it bound) with the lines `server`, then `rest`,
/// naming `certs/corp-ca.pem` (relative to `etc/`), which is not there yet. `repox serve` must
/// stop with an `error: ` line ending in `missing(<the CA's path>)`; with the fixture CA copied
/// there, it must start and its health must name `healthy`.
fn missing_then_present(
    server: &str,
    rest: &str,
    missing: impl Fn(&Path) -> String,
    healthy: &str,
) {
    let home = tempfile::tempdir().unwrap();
    let config = home.path().join("etc/repox.toml");
    std::fs::create_dir_all(home.path().join("etc/certs")).unwrap();
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:0\"\ncache_dir = \"{}\"\n{server}{rest}",
            home.path().join("cache").display()
        ),
    )
    .unwrap();
    let ca = home.path().join("etc/certs/corp-ca.pem");

    let out = repox(home.path())
        .args(["--config", config.to_str().unwrap(), "serve"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    let line = err
        .lines()
        .find(|l| l.starts_with("error: "))
        .unwrap_or_default();
    assert!(line.ends_with(&missing(&ca)), "{err}");

    std::fs::copy(FIXTURE_CA, &ca).unwrap();
    let log = home.path().join("repox.log");
    let (mut child, addr) = spawn_serve(
        repox(home.path()).args(["--config", config.to_str().unwrap(), "serve"]),
        &log,
    );
    let health = wait_healthy(addr, &mut child, &log);
    let _ = child.kill();
    let _ = child.wait();
    assert!(health.contains(healthy), "{health}");
}

#[test]
fn ca_certificates_is_read_beside_the_config_file_and_a_missing_one_stops_the_start() {
    missing_then_present(
        "",
        "\n[repositories.maven]\nkind = \"maven\"\n\n\
         [[repositories.maven.upstreams]]\nname = \"nexus\"\n\
         url = \"https://nexus.corp.example/repository/maven-public/\"\n\
         ca_certificates = \"certs/corp-ca.pem\"\n",
        |ca| {
            format!(
                "upstream `nexus`: cannot use `ca_certificates` file `{}`: No such file or \
                 directory (os error 2); point `ca_certificates` at the PEM file of the \
                 upstream's CA",
                ca.display()
            )
        },
        "\"nexus\"",
    );
}

#[test]
fn the_server_wide_ca_certificates_is_read_beside_the_config_file_and_a_missing_one_stops_the_start()
 {
    // With the file there, the built-in repositories all start trusting it.
    missing_then_present(
        "ca_certificates = \"certs/corp-ca.pem\"\n",
        "",
        |ca| {
            format!(
                ": cannot use `[server] ca_certificates` file `{}`: No such file or directory \
                 (os error 2); point `[server] ca_certificates` at the PEM file of the CA every \
                 upstream should trust",
                ca.display()
            )
        },
        "\"central\"",
    );
}
