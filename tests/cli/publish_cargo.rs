//! Publishing with the real cargo (issue 14): `cargo publish` of a crate made in the test into a
//! hosted registry, `cargo yank` and `--undo`, then `cargo build` of a crate that depends on it
//! through the group. Nothing comes from the internet: the crate has no dependencies.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::publish_support::Hosting;

fn cargo(h: &Hosting, dir: &Path, args: &[&str]) -> Command {
    let program = std::env::var_os("CARGO")
        .map(PathBuf::from)
        .unwrap_or_else(|| "cargo".into());
    let mut cmd = h.client(program, dir);
    cmd.args(args)
        .env("CARGO_HOME", h.home.join(".cargo"))
        .env("CARGO_NET_RETRY", "0")
        .env("CARGO_TARGET_DIR", h.tmp.path().join("target"));
    if let Some(rustc) = real_rustc() {
        cmd.env("RUSTC", rustc);
    }
    cmd
}

/// The toolchain's own rustc: the rustup proxy on PATH would look for toolchains in the test's
/// throwaway HOME.
fn real_rustc() -> Option<PathBuf> {
    let out = Command::new("rustc")
        .args(["--print", "sysroot"])
        .output()
        .ok()?;
    let sysroot = String::from_utf8(out.stdout).ok()?;
    let rustc = Path::new(sysroot.trim()).join("bin/rustc");
    rustc.is_file().then_some(rustc)
}

#[test]
fn cargo_publishes_to_the_hosted_registry_and_builds_through_the_group() {
    let h = Hosting::start("cargo", "cargo/index/");
    let host = h.host();
    let cargo_home = h.home.join(".cargo");
    fs_err::create_dir_all(&cargo_home).unwrap();
    fs_err::write(
        cargo_home.join("config.toml"),
        format!(
            "[registries.releases]\nindex = \"sparse+http://{host}/cargo-releases/index/\"\n\
             credential-provider = \"cargo:token\"\n\
             [registries.public]\nindex = \"sparse+http://{host}/cargo-public/index/\"\n"
        ),
    )
    .unwrap();
    fs_err::write(
        cargo_home.join("credentials.toml"),
        format!("[registries.releases]\ntoken = \"{}\"\n", h.token),
    )
    .unwrap();

    let lib = h.tmp.path().join("internal-lib");
    fs_err::create_dir_all(lib.join("src")).unwrap();
    fs_err::write(
        lib.join("Cargo.toml"),
        "[package]\nname = \"internal-lib\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\
         description = \"test\"\nlicense = \"MIT\"\n",
    )
    .unwrap();
    fs_err::write(lib.join("src/lib.rs"), "pub fn answer() -> u32 { 42 }\n").unwrap();
    let publish = [
        "publish",
        "--registry",
        "releases",
        "--allow-dirty",
        "--no-verify",
    ];
    h.succeeds(&mut cargo(&h, &lib, &publish), "cargo publish");
    h.fails(
        &mut cargo(&h, &lib, &publish),
        "a second cargo publish of 0.1.0",
        "already",
    );
    let index = h.get("cargo-releases/index/in/te/internal-lib");
    assert!(index.contains("\"cksum\":\""), "{index}");

    let yank = ["yank", "internal-lib@0.1.0", "--registry", "releases"];
    h.succeeds(&mut cargo(&h, &lib, &yank), "cargo yank");
    assert!(
        h.get("cargo-releases/index/in/te/internal-lib")
            .contains("\"yanked\":true")
    );
    let undo = [
        "yank",
        "--undo",
        "internal-lib@0.1.0",
        "--registry",
        "releases",
    ];
    h.succeeds(&mut cargo(&h, &lib, &undo), "cargo yank --undo");
    assert!(
        h.get("cargo-releases/index/in/te/internal-lib")
            .contains("\"yanked\":false")
    );

    let app = h.tmp.path().join("app");
    fs_err::create_dir_all(app.join("src")).unwrap();
    fs_err::write(
        app.join("Cargo.toml"),
        "[package]\nname = \"app\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\
         [dependencies]\ninternal-lib = { version = \"0.1\", registry = \"public\" }\n",
    )
    .unwrap();
    fs_err::write(
        app.join("src/main.rs"),
        "fn main() { assert_eq!(internal_lib::answer(), 42); }\n",
    )
    .unwrap();
    h.succeeds(
        &mut cargo(&h, &app, &["build"]),
        "cargo build through the group",
    );
    let lock = fs_err::read_to_string(app.join("Cargo.lock")).unwrap();
    assert!(lock.contains("name = \"internal-lib\""), "{lock}");
}

#[test]
fn cargo_publish_needs_a_token() {
    let h = Hosting::start("cargo", "cargo/index/");
    let host = h.host();
    let cargo_home = h.home.join(".cargo");
    fs_err::create_dir_all(&cargo_home).unwrap();
    fs_err::write(
        cargo_home.join("config.toml"),
        format!(
            "[registries.releases]\nindex = \"sparse+http://{host}/cargo-releases/index/\"\n\
             credential-provider = \"cargo:token\"\n"
        ),
    )
    .unwrap();
    fs_err::write(
        cargo_home.join("credentials.toml"),
        "[registries.releases]\ntoken = \"repox-wrong\"\n",
    )
    .unwrap();
    let lib = h.tmp.path().join("lib");
    fs_err::create_dir_all(lib.join("src")).unwrap();
    fs_err::write(
        lib.join("Cargo.toml"),
        "[package]\nname = \"lib-x\"\nversion = \"0.1.0\"\nedition = \"2021\"\n",
    )
    .unwrap();
    fs_err::write(lib.join("src/lib.rs"), "").unwrap();
    let publish = [
        "publish",
        "--registry",
        "releases",
        "--allow-dirty",
        "--no-verify",
    ];
    h.fails(
        &mut cargo(&h, &lib, &publish),
        "cargo publish with a wrong token",
        "401",
    );
}
