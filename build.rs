//! Link arguments of the release `repox` binary that shrink what a running server keeps
//! resident (docs/performance.md, "Memory": "Hot code first, packed relocations"):
//!
//! - the functions a serving server runs go first in `.text`, in the order
//!   `link/symbol-order.txt` lists them (`scripts/symbol-order` regenerates it). The kernel
//!   maps a program's code 64 KiB around each page fault, so functions spread over the whole
//!   program drag most of it into memory; grouped, they take a few MiB;
//! - relative relocations are packed (`-z pack-relative-relocs`, DT_RELR): the dynamic loader
//!   reads every relocation of the position-independent binary at start-up, and as RELA
//!   entries they took 0.8 MiB that stayed resident.
//!
//! Only link arguments change, so no crate is rebuilt for them. Each is added when it works
//! here, tried on a one-line program with the same rustc, flags and linker first: the order
//! needs a linker that takes it (LLD, rustc's default on x86_64 Linux since 1.90; not GNU ld),
//! packed relocations a linker that writes them and, when the build runs where the binary is
//! built for, a C library that applies them (glibc 2.36+; the program is run). Names the
//! binary no longer has are ignored (`--no-warn-symbol-ordering`).

use std::env;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if env::var("PROFILE").as_deref() != Ok("release") {
        return; // nor is the order watched: a new one rebuilds no test or debug binary
    }
    let Some(dir) = env::var_os("CARGO_MANIFEST_DIR") else {
        return;
    };
    let order = Path::new(&dir).join("link").join("symbol-order.txt");
    println!("cargo:rerun-if-changed={}", order.display());
    let mut args = Vec::new();
    if order.is_file() {
        let order_args = [
            format!("-Wl,--symbol-ordering-file={}", order.display()),
            "-Wl,--no-warn-symbol-ordering".to_owned(),
        ];
        if links_with(&order_args) {
            args.extend(order_args);
        }
    }
    let relr = ["-Wl,-z,pack-relative-relocs".to_owned()];
    if links_with(&relr) {
        args.extend(relr);
    }
    for arg in args {
        println!("cargo:rustc-link-arg-bins={arg}");
    }
}

/// Whether a program that prints (through trait objects, so relocated pointers) links with
/// `args` added, as the binary will be linked, and, when built for this machine, runs.
fn links_with(args: &[String]) -> bool {
    let (Some(rustc), Some(out)) = (env::var_os("RUSTC"), env::var_os("OUT_DIR")) else {
        return false;
    };
    let probe = PathBuf::from(out).join("link-probe");
    let mut cmd = Command::new(rustc);
    cmd.args(["--crate-name=probe", "--crate-type=bin", "-o"]);
    cmd.arg(&probe);
    let target = env::var("TARGET").ok();
    if let Some(target) = &target {
        cmd.args(["--target", target]);
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
        if stdin
            .write_all(b"fn main() { println!(\"{}\", 42); }\n")
            .is_err()
        {
            let _ = child.kill();
        }
    }
    let mut works = child.wait().is_ok_and(|status| status.success());
    if works && target.is_some() && target == env::var("HOST").ok() {
        works = Command::new(&probe)
            .output()
            .is_ok_and(|o| o.status.success() && o.stdout == b"42\n");
    }
    let _ = std::fs::remove_file(&probe);
    works
}
