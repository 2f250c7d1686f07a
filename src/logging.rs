//! Logs go through `tracing` to stderr; `-v`/`-q` choose the default level and `RUST_LOG`
//! overrides it.
//!
//! The proxy writes one line per request, so lines are batched: a request appends its line to a
//! shared buffer and goes on, and a background thread writes whatever has piled up once per
//! [`BATCH_WINDOW`]. At tens of thousands of requests a second that is a handful of writes and
//! thread wake-ups a second instead of one per request, and no request ever waits for a slow
//! terminal.

use std::io::{self, Write};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

/// How long the writer thread lets lines collect after the first one of a batch arrives.
const BATCH_WINDOW: Duration = Duration::from_millis(50);
/// Lines beyond this much unwritten text (stderr blocked) are dropped and counted.
const MAX_PENDING: usize = 64 * 1024 * 1024;

/// Sets up logging. Keep the returned guard alive until exit: dropping it writes the last lines.
pub fn init(verbose: u8, quiet: bool) -> Guard {
    let default = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "info",
        (false, 1) => "debug",
        (false, _) => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        EnvFilter::new(format!(
            "{default},hyper=warn,reqwest=warn,rustls=warn,h2=warn"
        ))
    });
    let shared = Arc::new(Shared::default());
    let thread = {
        let shared = shared.clone();
        std::thread::Builder::new()
            .name("repox-log".into())
            .spawn(move || shared.write_batches(&mut io::stderr()))
            .ok()
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(Lines(shared.clone()))
        .with_target(false)
        .with_ansi(
            std::env::var_os("NO_COLOR").is_none()
                && std::io::IsTerminal::is_terminal(&std::io::stderr()),
        )
        .try_init();
    Guard { shared, thread }
}

/// Flushes the pending lines and stops the writer thread when dropped.
pub struct Guard {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.ready.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[derive(Default)]
struct Shared {
    state: Mutex<Pending>,
    ready: Condvar,
}

#[derive(Default)]
struct Pending {
    text: Vec<u8>,
    dropped: u64,
    closed: bool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Pending> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn append(&self, line: &[u8]) {
        let mut pending = self.lock();
        if pending.closed {
            // After the guard is gone nothing drains the buffer: write directly.
            drop(pending);
            let _ = io::stderr().write_all(line);
            return;
        }
        if pending.text.len() + line.len() > MAX_PENDING {
            pending.dropped += 1;
            return;
        }
        let wake = pending.text.is_empty();
        pending.text.extend_from_slice(line);
        drop(pending);
        if wake {
            self.ready.notify_one();
        }
    }

    /// The writer thread: waits for a first line, lets a batch collect, writes it; returns once
    /// the guard is dropped and everything is written.
    fn write_batches(&self, out: &mut dyn Write) {
        let mut batch = Vec::new();
        loop {
            let mut pending = self.lock();
            while pending.text.is_empty() && !pending.closed {
                pending = self.ready.wait(pending).unwrap_or_else(|e| e.into_inner());
            }
            if !pending.closed {
                drop(pending);
                std::thread::sleep(BATCH_WINDOW);
                pending = self.lock();
            }
            std::mem::swap(&mut pending.text, &mut batch);
            let dropped = std::mem::take(&mut pending.dropped);
            let closed = pending.closed;
            drop(pending);
            if dropped > 0 {
                let _ = writeln!(
                    batch,
                    "repox: {dropped} log lines dropped while stderr was blocked"
                );
            }
            let _ = out.write_all(&batch).and_then(|()| out.flush());
            batch.clear();
            if closed && self.lock().text.is_empty() {
                return;
            }
        }
    }
}

/// The `MakeWriter` handed to `tracing`: each formatted event arrives as one `write_all`.
struct Lines(Arc<Shared>);

impl<'a> MakeWriter<'a> for Lines {
    type Writer = &'a Shared;

    fn make_writer(&'a self) -> &'a Shared {
        &self.0
    }
}

impl Write for &Shared {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.append(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_written_before_the_guard_drops_all_arrive_in_order() {
        let shared = Arc::new(Shared::default());
        let out = Arc::new(Mutex::new(Vec::new()));
        let thread = {
            let (shared, out) = (shared.clone(), out.clone());
            std::thread::spawn(move || {
                let mut sink = Vec::new();
                shared.write_batches(&mut sink);
                out.lock().unwrap().extend_from_slice(&sink);
            })
        };
        for i in 0..1000 {
            (&*shared)
                .write_all(format!("line {i}\n").as_bytes())
                .unwrap();
        }
        drop(Guard {
            shared,
            thread: Some(thread),
        });
        let text = String::from_utf8(out.lock().unwrap().clone()).unwrap();
        let expected: String = (0..1000).map(|i| format!("line {i}\n")).collect();
        assert_eq!(text, expected);
    }
}
