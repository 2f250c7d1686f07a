//! Logs go through `tracing` to stderr; `-v`/`-q` choose the default level and `RUST_LOG`
//! overrides it.
//!
//! The proxy writes one line per request, so lines are batched: a request appends its line to a
//! shared buffer and goes on, and a background thread writes whatever has piled up once per
//! [`BATCH_WINDOW`]. At tens of thousands of requests a second that is a handful of writes and
//! thread wake-ups a second instead of one per request, and no request ever waits for a slow
//! terminal.
//!
//! The lines are `tracing`'s default ones (`Full` format, no target), but the common line, a
//! message and nothing else outside any span, is written by [`Line`] without `tracing`'s field
//! visitor and its character-by-character escaping, and every timestamp takes its date and time
//! of day from a once-a-second copy ([`Clock`]): both were most of a request's log line. The
//! request log line itself skips `tracing` altogether when it would be written uncoloured:
//! [`Direct`] takes its parts from the server (`repox_proxy::access_log`) and writes the same
//! text into a per-thread buffer, timestamped with the server's own clock reading.

use std::cell::{Cell, RefCell};
use std::fmt::{self, Write as _};
use std::io::{self, Write};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use repox_proxy::access_log;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::{self, Format, Full, Writer};
use tracing_subscriber::fmt::time::FormatTime;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, MakeWriter};
use tracing_subscriber::registry::LookupSpan;

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
    // Span and field directives (`[span]=debug`) make the filter's answer depend on where an
    // event happens: only a plain filter can be asked once for the request lines.
    let plain_filter = std::env::var("RUST_LOG").map_or(true, |f| !f.contains('['));
    let ansi = std::env::var_os("NO_COLOR").is_none()
        && std::io::IsTerminal::is_terminal(&std::io::stderr());
    let installed = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(Lines(shared.clone()))
        .with_ansi(ansi)
        .event_format(Line::default())
        .try_init()
        .is_ok();
    if installed
        && plain_filter
        && !ansi
        && tracing::enabled!(target: access_log::TARGET, Level::INFO)
    {
        access_log::install(Box::new(Direct(shared.clone())));
    }
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

/// Timestamps as `tracing`'s default (`2026-12-07T00:02:09.123456Z`, UTC, microseconds), with
/// the part up to the seconds formatted once a second per thread instead of on every line.
#[derive(Clone, Copy, Default)]
struct Clock;

/// Length of `2026-12-07T00:02:09`.
const SECOND_LEN: usize = 19;

thread_local! {
    /// The second (Unix time) last written on this thread and its text.
    static SECOND: Cell<(u64, [u8; SECOND_LEN])> = const { Cell::new((u64::MAX, [0; SECOND_LEN])) };
}

impl Clock {
    fn write(w: &mut impl fmt::Write, now: SystemTime) -> fmt::Result {
        let Ok(since) = now.duration_since(UNIX_EPOCH) else {
            // Before 1970: no cache, the plain formatting.
            return write!(w, "{}", humantime::format_rfc3339_micros(now));
        };
        let secs = since.as_secs();
        let (cached, mut text) = SECOND.get();
        if cached != secs {
            let mut s = String::with_capacity(32);
            write!(s, "{}", humantime::format_rfc3339_seconds(now))?;
            match s.as_bytes().get(..SECOND_LEN) {
                Some(head) if s.len() == SECOND_LEN + 1 => text.copy_from_slice(head),
                // Past year 9999: not worth a cache.
                _ => return write!(w, "{}", humantime::format_rfc3339_micros(now)),
            }
            SECOND.set((secs, text));
        }
        let mut line = [0u8; SECOND_LEN + 8];
        line[..SECOND_LEN].copy_from_slice(&text);
        line[SECOND_LEN] = b'.';
        let mut micros = since.subsec_micros();
        for digit in line[SECOND_LEN + 1..SECOND_LEN + 7].iter_mut().rev() {
            *digit = b'0' + (micros % 10) as u8;
            micros /= 10;
        }
        line[SECOND_LEN + 7] = b'Z';
        w.write_str(std::str::from_utf8(&line).map_err(|_| fmt::Error)?)
    }
}

/// Error of [`Clock::wall`] and larger than the lag of any line: a once-a-second anchor.
const ANCHOR_AGE: Duration = Duration::from_secs(1);

thread_local! {
    /// A monotonic reading and the wall clock's at the same moment, for [`Clock::wall`].
    static ANCHOR: Cell<Option<(Instant, SystemTime)>> = const { Cell::new(None) };
}

impl Clock {
    /// The wall-clock time of the monotonic reading `at`, from a pair of readings taken at most
    /// [`ANCHOR_AGE`] before on this thread: the request line needs no clock reading of its own.
    fn wall(at: Instant) -> SystemTime {
        let (instant, system) = match ANCHOR.get() {
            Some((i, s)) if at >= i && at - i < ANCHOR_AGE => (i, s),
            _ => {
                let anchor = (Instant::now(), SystemTime::now());
                ANCHOR.set(Some(anchor));
                anchor
            }
        };
        match at.checked_duration_since(instant) {
            Some(after) => system + after,
            None => system.checked_sub(instant - at).unwrap_or(system),
        }
    }
}

impl FormatTime for Clock {
    fn format_time(&self, w: &mut Writer<'_>) -> fmt::Result {
        Clock::write(w, SystemTime::now())
    }
}

/// The request log's writer ([`access_log::Writer`]), installed when `tracing` would write the
/// line uncoloured and unfiltered: the same text as [`Line`], formatted in a buffer per thread.
struct Direct(Arc<Shared>);

thread_local! {
    /// The line being written on this thread.
    static TEXT: RefCell<String> = RefCell::new(String::with_capacity(256));
}

impl Direct {
    fn format(text: &mut String, line: &access_log::Line<'_>) -> fmt::Result {
        Clock::write(text, Clock::wall(line.at))?;
        text.push_str("  INFO ");
        // Written plainly and checked once: the dozen pieces of a line checked one by one
        // (most a byte or two, each call with its own set-up) cost more than the writing. A
        // piece needs escaping exactly when the whole message does (pieces are whole `str`s).
        let message = text.len();
        line.write_message(text)?;
        if text.get(message..).is_some_and(needs_escape) {
            text.truncate(message);
            line.write_message(&mut Escaping {
                out: text,
                escape: true,
            })?;
        }
        text.push('\n');
        Ok(())
    }
}

impl access_log::Writer for Direct {
    fn write(&self, line: &access_log::Line<'_>) {
        let reused = TEXT.try_with(|text| {
            let mut text = text.try_borrow_mut().ok()?;
            text.clear();
            Direct::format(&mut text, line).ok()?;
            self.0.append(text.as_bytes());
            Some(())
        });
        if !matches!(reused, Ok(Some(()))) {
            // The thread is exiting (or this is a line inside a line): a buffer of its own.
            let mut text = String::new();
            if Direct::format(&mut text, line).is_ok() {
                self.0.append(text.as_bytes());
            }
        }
    }
}

/// The event formatter: `tracing`'s `Full` format without the target, with a short way for a
/// plain message outside spans (the request log line), which gives the same text.
struct Line {
    full: Format<Full, Clock>,
}

impl Default for Line {
    fn default() -> Self {
        Line {
            full: format::format().with_target(false).with_timer(Clock),
        }
    }
}

impl<S, N> FormatEvent<S, N> for Line
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        let fields = meta.fields();
        // Colours, other fields and span names are `tracing`'s to write.
        if writer.has_ansi_escapes()
            || fields.len() != 1
            || fields.field("message").is_none()
            || ctx.event_scope().is_some()
        {
            return self.full.format_event(ctx, writer, event);
        }
        Clock.format_time(&mut writer)?;
        // `tracing`'s level column: five wide, right-aligned.
        writer.write_str(match *meta.level() {
            Level::TRACE => " TRACE ",
            Level::DEBUG => " DEBUG ",
            Level::INFO => "  INFO ",
            Level::WARN => "  WARN ",
            Level::ERROR => " ERROR ",
        })?;
        let mut message = Message {
            out: Escaping {
                out: &mut writer,
                escape: true,
            },
            result: Ok(()),
        };
        message.out.escape = message.out.out.sanitizes_ansi_escapes();
        event.record(&mut message);
        message.result?;
        writer.write_char('\n')
    }
}

/// Writes the message field of an event.
struct Message<'a, 'w> {
    out: Escaping<'a, Writer<'w>>,
    result: fmt::Result,
}

impl Visit for Message<'_, '_> {
    fn record_str(&mut self, _field: &Field, value: &str) {
        self.result = self.out.write_str(value);
    }

    fn record_debug(&mut self, _field: &Field, value: &dyn fmt::Debug) {
        self.result = write!(self.out, "{value:?}");
    }
}

/// Whether `s` holds a character [`Escaping`] rewrites. Nearly every piece of a line is
/// printable ASCII: one pass without early exit (which the compiler does 16 or 32 bytes at a
/// time) proves that, where six comparisons a byte with an exit each took 2% of a hit's user
/// time; the rest (a tab, `é`, a control character) gets the exact test.
fn needs_escape(s: &str) -> bool {
    let outside = s
        .bytes()
        .fold(false, |any, b| any | (b.wrapping_sub(0x20) > 0x7e - 0x20));
    // 0xc2 leads the UTF-8 of U+0080..=U+00BF, where the C1 controls are.
    outside
        && s.bytes()
            .any(|b| matches!(b, 0x1b | 0x07 | 0x08 | 0x0c | 0x7f | 0xc2))
}

/// Terminal control characters in a message written as `tracing` writes them (`\x1b`, …), so
/// that a logged path cannot drive the operator's terminal; text without any goes in one piece.
struct Escaping<'a, W> {
    out: &'a mut W,
    escape: bool,
}

impl<W: fmt::Write> fmt::Write for Escaping<'_, W> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if !self.escape || !needs_escape(s) {
            return self.out.write_str(s);
        }
        for ch in s.chars() {
            match ch {
                '\x1b' => self.out.write_str("\\x1b")?,
                '\x07' => self.out.write_str("\\x07")?,
                '\x08' => self.out.write_str("\\x08")?,
                '\x0c' => self.out.write_str("\\x0c")?,
                '\x7f' => self.out.write_str("\\x7f")?,
                '\u{80}'..='\u{9f}' => write!(self.out, "\\u{{{:x}}}", ch as u32)?,
                _ => self.out.write_char(ch)?,
            }
        }
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

    /// What `write` makes of each event under `subscriber`, one line each.
    fn lines_of(
        subscriber: impl Subscriber + Send + Sync + 'static,
        out: &Arc<Shared>,
    ) -> Vec<String> {
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!("GET /maven/a/b.jar 200 hit upstream=- {}ms", 1.5);
            tracing::warn!("a path with \x1b[31m, \u{85}, \x07 and é");
            tracing::error!("{} failed", "x");
            tracing::debug!("debug line");
            tracing::info!(answer = 42, "with a field");
            tracing::info_span!("outer", n = 1).in_scope(|| tracing::info!("in a span"));
        });
        let text = String::from_utf8(std::mem::take(&mut out.lock().text)).unwrap();
        text.lines().map(str::to_owned).collect()
    }

    #[test]
    fn lines_are_tracing_s_own_but_for_the_cached_timestamp() {
        let ours = Arc::new(Shared::default());
        let theirs = Arc::new(Shared::default());
        let build = |shared: &Arc<Shared>| {
            tracing_subscriber::fmt()
                .with_max_level(Level::DEBUG)
                .with_writer(Lines(shared.clone()))
                .with_ansi(false)
        };
        let ours_lines = lines_of(build(&ours).event_format(Line::default()).finish(), &ours);
        let theirs_lines = lines_of(build(&theirs).with_target(false).finish(), &theirs);
        assert_eq!(ours_lines.len(), 6, "{ours_lines:?}");
        for (a, b) in ours_lines.iter().zip(&theirs_lines) {
            // `2026-12-07T00:02:09.123456Z`: the same shape, then the same text.
            let (a_time, a_rest) = a.split_at(27);
            let (b_time, b_rest) = b.split_at(27);
            assert_eq!(a_rest, b_rest);
            assert_eq!(a_time.len(), b_time.len());
            assert!(
                a_time.ends_with('Z') && a_time.as_bytes()[10] == b'T',
                "{a_time}"
            );
        }
        assert!(ours_lines[1].contains("\\x1b[31m, \\u{85}, \\x07 and é"));
    }

    #[test]
    fn request_lines_written_directly_are_tracing_s_own() {
        let theirs = Arc::new(Shared::default());
        let subscriber = tracing_subscriber::fmt()
            .with_writer(Lines(theirs.clone()))
            .with_ansi(false)
            .with_target(false)
            .finish();
        let paths = ["/maven/a/b.jar", "/pypi/\x1b[31m\u{85}\x07é/x.whl"];
        let upstreams = [Some("central"), None];
        let mut ours = String::new();
        tracing::subscriber::with_default(subscriber, || {
            for (path, upstream) in paths.into_iter().zip(upstreams) {
                let line = access_log::Line {
                    method: &reqwest::Method::GET,
                    path,
                    status: 200,
                    cache: "hit",
                    upstream,
                    elapsed: Duration::from_micros(1_250),
                    at: Instant::now(),
                };
                tracing::info!(target: access_log::TARGET, "{line}");
                Direct::format(&mut ours, &line).unwrap();
            }
        });
        let theirs = String::from_utf8(std::mem::take(&mut theirs.lock().text)).unwrap();
        let (ours, theirs): (Vec<_>, Vec<_>) = (ours.lines().collect(), theirs.lines().collect());
        assert_eq!(ours.len(), 2);
        assert_eq!(theirs.len(), 2);
        for (a, b) in ours.iter().zip(&theirs) {
            assert_eq!(a[27..], b[27..]);
            assert!(a[..27].ends_with('Z') && a.as_bytes()[10] == b'T', "{a}");
        }
        assert!(ours[0].ends_with("  INFO GET /maven/a/b.jar 200 hit upstream=central 1.3ms"));
        assert!(ours[1].contains("\\x1b[31m\\u{85}\\x07é/x.whl 200 hit upstream=- "));
    }

    #[test]
    fn the_wall_clock_of_a_reading_is_the_system_s() {
        let close = |a: SystemTime, b: SystemTime| {
            let d = a
                .duration_since(b)
                .or_else(|_| b.duration_since(a))
                .unwrap();
            d < Duration::from_millis(50)
        };
        let now = Instant::now();
        assert!(close(Clock::wall(now), SystemTime::now()));
        // A reading older than the anchor, and one long after it.
        let later = now + Duration::from_secs(5);
        assert!(close(
            Clock::wall(later),
            SystemTime::now() + Duration::from_secs(5)
        ));
        assert!(close(Clock::wall(now), SystemTime::now()));
    }

    #[test]
    fn the_quick_escape_test_agrees_with_the_exact_one() {
        let exact = |s: &str| {
            s.bytes()
                .any(|b| matches!(b, 0x1b | 0x07 | 0x08 | 0x0c | 0x7f | 0xc2))
        };
        let mut pieces: Vec<String> = (0..0x300u32)
            .filter_map(char::from_u32)
            .map(|c| format!("/maven/org/a{c}b/x.jar"))
            .collect();
        pieces.extend(["", " ", "~", "GET", "a\tb", "é", "\u{85}", "\x1b[31m"].map(String::from));
        for piece in &pieces {
            assert_eq!(needs_escape(piece), exact(piece), "{piece:?}");
        }
        assert!(pieces.iter().any(|p| needs_escape(p)));
    }

    #[test]
    fn the_cached_second_gives_the_same_timestamps() {
        let base = UNIX_EPOCH + Duration::from_secs(1_796_601_729);
        // Within one second, across seconds, back in time, and the first second of a year.
        let times = [0, 999_999, 1_000_000, 59_000_007, 3_000_000, 86_400_000_000]
            .map(|micros| base + Duration::from_micros(micros))
            .into_iter()
            .chain([UNIX_EPOCH + Duration::from_secs(1_830_297_600)]);
        for t in times {
            let mut ours = String::new();
            Clock::write(&mut ours, t).unwrap();
            assert_eq!(ours, humantime::format_rfc3339_micros(t).to_string());
        }
    }
}
