//! The one check every real-client test (pip, uv, npm, cargo, mvn, py-rattler) makes before
//! driving its client. A missing client fails the test, so a passing run means the client really
//! ran; `REPOX_SKIP_MISSING_CLIENTS=1` turns the failure into a skip that is announced on stderr
//! past the test harness's output capture. `scripts/test` installs the clients. The proxy's
//! integration tests include this same file (`#[path]` in `proxy/tests/it/main.rs`).

use std::ffi::OsStr;
use std::io::Write as _;
use std::process::{Command, Stdio};

/// Set (to anything but `0` or empty) to skip, loudly, the client tests whose client is missing.
pub const SKIP_VAR: &str = "REPOX_SKIP_MISSING_CLIENTS";

/// True when `program args…` runs and exits 0.
pub fn runs(program: impl AsRef<OsStr>, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Whether a client test may go on. `missing` names what is absent (empty: all present);
/// `install` says how to get it. Without [`SKIP_VAR`] a missing client fails the test.
pub fn clients_present(missing: &[&str], install: &str) -> bool {
    let skip = std::env::var(SKIP_VAR).is_ok_and(|v| !v.is_empty() && v != "0");
    present_or_skipped(missing, install, skip)
}

fn present_or_skipped(missing: &[&str], install: &str, skip: bool) -> bool {
    if missing.is_empty() {
        return true;
    }
    let what = missing.join(", ");
    assert!(
        skip,
        "this test drives a real client and {what} is missing: {install} (or run scripts/test, \
         which installs every client); set {SKIP_VAR}=1 to skip instead"
    );
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("a client test");
    // Straight to the stderr handle: libtest captures `eprintln!`, not this.
    let _ = writeln!(
        std::io::stderr(),
        "\n*** SKIPPED {test}: {what} is missing ({SKIP_VAR} is set); install: {install}\n"
    );
    false
}

/// [`clients_present`] for one program that must answer `program args…`.
pub fn client_runs(program: &str, args: &[&str], install: &str) -> bool {
    let missing = if runs(program, args) {
        vec![]
    } else {
        vec![program]
    };
    clients_present(&missing, install)
}

#[test]
#[should_panic(expected = "this test drives a real client and nonexistent-client is missing")]
fn a_missing_client_fails_the_test() {
    present_or_skipped(&["nonexistent-client"], "nowhere", false);
}

#[test]
fn a_missing_client_is_skipped_only_when_asked() {
    assert!(!present_or_skipped(
        &["nonexistent-client"],
        "nowhere",
        true
    ));
    assert!(present_or_skipped(&[], "nowhere", false));
    assert!(!runs("/nonexistent/client", &["--version"]));
}
