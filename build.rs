//! The release link of the `repox` binary places the functions a serving server runs first in
//! `.text`, in the order `link/symbol-order.txt` lists them (`scripts/symbol-order` regenerates
//! it). The kernel maps a program's code 64 KiB around each page fault, so functions spread over
//! the whole program drag most of it into memory; grouped, an idle server holds a few MiB of
//! code instead (docs/performance.md, "Memory").
//!
//! Only link arguments of the binary change, so no crate is rebuilt for them. They are added
//! when the linker accepts them (LLD: rustc's default on x86_64 Linux since 1.90; not GNU ld):
//! a one-line program is linked with them first, with the same rustc, flags and linker.
//! Names the binary no longer has are ignored (`--no-warn-symbol-ordering`).

use std::env;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let Some(dir) = env::var_os("CARGO_MANIFEST_DIR") else {
        return;
    };
    let order = Path::new(&dir).join("link").join("symbol-order.txt");
    println!("cargo:rerun-if-changed={}", order.display());
    if env::var("PROFILE").as_deref() != Ok("release") || !order.is_file() {
        return;
    }
    let args = [
        format!("-Wl,--symbol-ordering-file={}", order.display()),
        "-Wl,--no-warn-symbol-ordering".to_owned(),
    ];
    if links_with(&args) {
        for arg in args {
            println!("cargo:rustc-link-arg-bins={arg}");
        }
    }
}

/// Whether an empty program links with `args` added, as the binary will be linked.
fn links_with(args: &[String]) -> bool {
    let (Some(rustc), Some(out)) = (env::var_os("RUSTC"), env::var_os("OUT_DIR")) else {
        return false;
    };
    let probe = PathBuf::from(out).join("symbol-order-probe");
    let mut cmd = Command::new(rustc);
    cmd.args(["--crate-name", "probe", "--crate-type", "bin", "--edition", "2021"])
        .arg("-o")
        .arg(&probe);
    if let Ok(target) = env::var("TARGET") {
        cmd.args(["--target", &target]);
    }
    if let Ok(linker) = env::var("RUSTC_LINKER") {
        cmd.arg(format!("-Clinker={linker}"));
    }
    if let Ok(flags) = env::var("CARGO_ENCODED_RUSTFLAGS") {
        cmd.args(flags.split('\x1f').filter(|f| !f.is_empty()));
    }
    for arg in args {
        cmd.arg(format!("-Clink-arg={arg}"));
    }
    cmd.arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let Ok(mut child) = cmd.spawn() else {
        return false;
    };
    if let Some(mut stdin) = child.stdin.take() {
        use std::io::Write;
        if stdin.write_all(b"fn main() {}\n").is_err() {
            let _ = child.kill();
        }
    }
    let linked = child.wait().is_ok_and(|status| status.success());
    let _ = std::fs::remove_file(&probe);
    linked
}
