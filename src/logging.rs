//! Logs go through `tracing` to stderr; `-v`/`-q` choose the default level and `RUST_LOG`
//! overrides it.
//!
//! The proxy writes one line per request, so lines are batched: a request appends its line to
//! its thread's own buffer and goes on, and a background thread collects every thread's lines
//! and writes them once per [`BATCH_WINDOW`]. At tens of thousands of requests a second that is a
//! handful of writes and thread wake-ups a second instead of one per request, no request ever
//! waits for a slow terminal, and the runtime's workers do not take turns at one lock (a buffer
//! shared by all of them bounced its lock and its end between their caches on every line).
//! Each line carries the monotonic time it was logged at; the writer merges the threads' lines in
//! that order and holds back those logged after it began collecting ([`Shared::collect`]), so
//! a connection whose requests moved between workers still gets its lines in order.
//!
//! The lines are `tracing`'s default ones (`Full` format, no target), but the common line, a
//! message and nothing else outside any span, is written by [`Line`] without `tracing`'s field
//! visitor and its character-by-character escaping, and every timestamp takes its date and time
//! of day from a once-a-second copy ([`Clock`]): both were most of a request's log line.

use std::cell::{Cell, RefCell};
use std::fmt::{self, Write as _};
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering, fence};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::{self, Format, Full, Writer};
use tracing_subscriber::fmt::time::FormatTime;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, MakeWriter};
use tracing_subscriber::registry::LookupSpan;

/// How long the writer thread lets lines collect after the first one of a batch arrives.
const BATCH_WINDOW: Duration = Duration::from_millis(50);
/// A thread's lines beyond this much unwritten text (stderr blocked) are dropped and counted.
const MAX_PENDING: usize = 16 * 1024 * 1024;

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
        .with_writer(Writers(shared.clone()))
        .with_ansi(
            std::env::var_os("NO_COLOR").is_none()
                && std::io::IsTerminal::is_terminal(&std::io::stderr()),
        )
        .event_format(Line::default())
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
        self.shared.close();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Unwritten lines: one thread's, or a batch's.
#[derive(Default)]
struct Lines {
    text: Vec<u8>,
    /// When each line was logged, and where it ends in `text`.
    ends: Vec<(Instant, usize)>,
    dropped: u64,
    /// Set once the guard is gone: nothing collects lines any more.
    closed: bool,
}

impl Lines {
    fn push(&mut self, at: Instant, line: &[u8]) {
        self.text.extend_from_slice(line);
        self.ends.push((at, self.text.len()));
    }

    fn line(&self, i: usize) -> &[u8] {
        let start = i.checked_sub(1).map_or(0, |prev| self.ends[prev].1);
        &self.text[start..self.ends[i].1]
    }

    fn clear(&mut self) {
        self.text.clear();
        self.ends.clear();
        self.dropped = 0;
    }
}

/// One thread's buffer: its own lock, which only the writer thread's collection ever contends.
#[derive(Default)]
struct ThreadLines(Mutex<Lines>);

static NEXT_SHARED: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// This thread's buffer in each [`Shared`] it logged to, by [`Shared::id`] (the binary has
    /// one `Shared`; tests make more).
    static MINE: RefCell<Vec<(u64, Arc<ThreadLines>)>> = const { RefCell::new(Vec::new()) };
}

struct Shared {
    id: u64,
    /// Every thread's buffer, added by its first line; dropped by the writer once the thread is
    /// gone and its lines are written.
    threads: Mutex<Vec<Arc<ThreadLines>>>,
    writer: Mutex<Writing>,
    ready: Condvar,
    /// [`Writing::asleep`], for a thread to read without the lock when its buffer was empty.
    asleep: AtomicBool,
    /// Set by the guard: a thread's first buffer made after this writes directly.
    closed: AtomicBool,
}

#[derive(Default)]
struct Writing {
    /// The writer found nothing to write and waits for `ready`.
    asleep: bool,
    closed: bool,
}

impl Default for Shared {
    fn default() -> Self {
        Shared {
            id: NEXT_SHARED.fetch_add(1, Ordering::Relaxed),
            threads: Mutex::default(),
            writer: Mutex::default(),
            ready: Condvar::new(),
            asleep: AtomicBool::new(false),
            closed: AtomicBool::new(false),
        }
    }
}

impl Shared {
    fn append(&self, line: &[u8]) {
        let at = Instant::now();
        let first = MINE.try_with(|mine| {
            let mut mine = mine.borrow_mut();
            let own = match mine.iter().find(|(id, _)| *id == self.id) {
                Some((_, own)) => own.clone(),
                None => {
                    let own = self.register();
                    mine.push((self.id, own.clone()));
                    own
                }
            };
            self.append_to(&own, at, line)
        });
        // A thread's locals are being destroyed as it exits: a buffer of its own for this line.
        let first = first.unwrap_or_else(|_| self.append_to(&self.register(), at, line));
        if first {
            // Either the writer, going to sleep, sees this line, or this sees it asleep.
            fence(Ordering::SeqCst);
            if self.asleep.load(Ordering::SeqCst) {
                self.wake();
            }
        }
    }

    fn register(&self) -> Arc<ThreadLines> {
        let mut threads = lock(&self.threads);
        let own = Arc::new(ThreadLines(Mutex::new(Lines {
            closed: self.closed.load(Ordering::SeqCst),
            ..Lines::default()
        })));
        threads.push(own.clone());
        own
    }

    /// Appends to a thread's buffer; true when it was empty (the writer may be asleep).
    fn append_to(&self, own: &ThreadLines, at: Instant, line: &[u8]) -> bool {
        let mut lines = lock(&own.0);
        if lines.closed {
            // After the guard is gone nothing collects the buffer: write directly.
            drop(lines);
            let _ = io::stderr().write_all(line);
            return false;
        }
        if lines.text.len() + line.len() > MAX_PENDING {
            lines.dropped += 1;
            return false;
        }
        let first = lines.ends.is_empty();
        lines.push(at, line);
        first
    }

    fn wake(&self) {
        let mut writing = lock(&self.writer);
        if writing.asleep {
            writing.asleep = false;
            self.asleep.store(false, Ordering::SeqCst);
            self.ready.notify_one();
        }
    }

    fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        lock(&self.writer).closed = true;
        self.ready.notify_one();
    }

    /// Takes every thread's lines and puts those logged before it began (all of them once
    /// `closed`), in the order they were logged, into `batch`; later ones wait in `held`.
    ///
    /// Why that keeps a connection's lines in order when its task moved between threads: its
    /// next line is timed after its previous one was in that thread's buffer. If the next line
    /// is written now (timed before this began), the previous one was in its buffer before
    /// this began too, so it is taken now and sorted before it.
    fn collect(&self, held: &mut Lines, spare: &mut Vec<Lines>, batch: &mut Lines, closed: bool) {
        let began = Instant::now();
        let mut taken = vec![std::mem::take(held)];
        lock(&self.threads).retain(|thread| {
            let mut lines = lock(&thread.0);
            if !lines.ends.is_empty() || lines.dropped > 0 {
                let mut empty = spare.pop().unwrap_or_default();
                std::mem::swap(&mut *lines, &mut empty);
                lines.closed = closed;
                taken.push(empty);
            }
            // Only this list holds it once its thread is gone.
            Arc::strong_count(thread) > 1 || !lines.ends.is_empty()
        });
        let mut order: Vec<(Instant, usize, usize)> = taken
            .iter()
            .enumerate()
            .flat_map(|(t, lines)| lines.ends.iter().enumerate().map(move |(i, e)| (e.0, t, i)))
            .collect();
        // Stable: a thread's lines keep their order (`held` first) among equal times.
        order.sort_by_key(|&(at, _, _)| at);
        *held = spare.pop().unwrap_or_default();
        for (at, t, i) in order {
            let line = taken[t].line(i);
            if closed || at <= began {
                batch.text.extend_from_slice(line);
            } else {
                held.push(at, line);
            }
        }
        for mut lines in taken {
            batch.dropped += lines.dropped;
            lines.clear();
            spare.push(lines);
        }
    }

    /// The writer thread: waits for a first line, lets a batch collect, writes it; returns once
    /// the guard is dropped and everything is written.
    fn write_batches(&self, out: &mut dyn Write) {
        let (mut held, mut spare, mut batch) = (Lines::default(), Vec::new(), Lines::default());
        loop {
            let mut writing = lock(&self.writer);
            while writing.asleep && !writing.closed {
                writing = self.ready.wait(writing).unwrap_or_else(|e| e.into_inner());
            }
            let mut closed = writing.closed;
            drop(writing);
            if !closed {
                std::thread::sleep(BATCH_WINDOW);
                closed = lock(&self.writer).closed;
            }
            self.collect(&mut held, &mut spare, &mut batch, closed);
            if batch.dropped > 0 {
                let _ = writeln!(
                    batch.text,
                    "repox: {} log lines dropped while stderr was blocked",
                    batch.dropped
                );
            }
            let wrote = !batch.text.is_empty();
            let _ = out.write_all(&batch.text).and_then(|()| out.flush());
            batch.clear();
            if closed {
                return;
            }
            if !wrote && held.ends.is_empty() {
                self.sleep_unless_lines();
            }
        }
    }

    /// Marks the writer asleep, unless a thread has lines (it may have looked before this).
    fn sleep_unless_lines(&self) {
        lock(&self.writer).asleep = true;
        self.asleep.store(true, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        let waiting = lock(&self.threads)
            .iter()
            .any(|thread| !lock(&thread.0).ends.is_empty());
        if waiting {
            self.wake();
        }
    }
}

/// The `MakeWriter` handed to `tracing`: each formatted event arrives as one `write_all`.
struct Writers(Arc<Shared>);

impl<'a> MakeWriter<'a> for Writers {
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

impl FormatTime for Clock {
    fn format_time(&self, w: &mut Writer<'_>) -> fmt::Result {
        Clock::write(w, SystemTime::now())
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
    out: Escaping<'a, 'w>,
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

/// Terminal control characters in a message written as `tracing` writes them (`\x1b`, …), so
/// that a logged path cannot drive the operator's terminal; text without any goes in one piece.
struct Escaping<'a, 'w> {
    out: &'a mut Writer<'w>,
    escape: bool,
}

impl fmt::Write for Escaping<'_, '_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        // 0xc2 leads the UTF-8 of U+0080..=U+00BF, where the C1 controls are.
        if !self.escape
            || !s
                .bytes()
                .any(|b| matches!(b, 0x1b | 0x07 | 0x08 | 0x0c | 0x7f | 0xc2))
        {
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

    /// Runs a writer thread over `shared` into a buffer; drop the guard to get what it wrote.
    fn writer(shared: &Arc<Shared>) -> (Guard, Arc<Mutex<Vec<u8>>>) {
        let out = Arc::new(Mutex::new(Vec::new()));
        let thread = {
            let (shared, out) = (shared.clone(), out.clone());
            std::thread::spawn(move || {
                let mut sink = Vec::new();
                shared.write_batches(&mut sink);
                out.lock().unwrap().extend_from_slice(&sink);
            })
        };
        let guard = Guard {
            shared: shared.clone(),
            thread: Some(thread),
        };
        (guard, out)
    }

    #[test]
    fn lines_from_many_threads_all_arrive_in_order_per_thread() {
        let shared = Arc::new(Shared::default());
        let (guard, out) = writer(&shared);
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let shared = shared.clone();
                std::thread::spawn(move || {
                    for i in 0..2000 {
                        (&*shared)
                            .write_all(format!("thread {t} line {i}\n").as_bytes())
                            .unwrap();
                        if i % 500 == 0 {
                            // Let some batches go out between lines.
                            std::thread::sleep(Duration::from_millis(60));
                        }
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        drop(guard);
        let text = String::from_utf8(out.lock().unwrap().clone()).unwrap();
        let mut next = [0; 8];
        for line in text.lines() {
            let words: Vec<&str> = line.split(' ').collect();
            let (t, i): (usize, usize) = (words[1].parse().unwrap(), words[3].parse().unwrap());
            assert_eq!(i, next[t], "thread {t}: {line}");
            next[t] += 1;
        }
        assert_eq!(next, [2000; 8]);
    }

    #[test]
    fn a_sequence_passed_between_threads_keeps_its_order() {
        // Like a connection whose requests run on one worker and then the other: each line is
        // logged after the previous one, on whichever thread holds the token.
        const LAST: usize = 20_000;
        let shared = Arc::new(Shared::default());
        let (guard, out) = writer(&shared);
        let (to_a, from_main) = std::sync::mpsc::channel::<usize>();
        let (to_b, from_a) = std::sync::mpsc::channel::<usize>();
        let (to_a_again, from_b) = std::sync::mpsc::channel::<usize>();
        let a = {
            let shared = shared.clone();
            std::thread::spawn(move || {
                let inbox = [from_main, from_b];
                let mut which = 0;
                while let Ok(n) = inbox[which].recv() {
                    (&*shared).write_all(format!("{n}\n").as_bytes()).unwrap();
                    if n == LAST || to_b.send(n + 1).is_err() {
                        break;
                    }
                    which = 1;
                }
            })
        };
        let b = {
            let shared = shared.clone();
            std::thread::spawn(move || {
                while let Ok(n) = from_a.recv() {
                    (&*shared).write_all(format!("{n}\n").as_bytes()).unwrap();
                    if n == LAST || to_a_again.send(n + 1).is_err() {
                        break;
                    }
                }
            })
        };
        to_a.send(0).unwrap();
        b.join().unwrap();
        a.join().unwrap();
        drop(guard);
        let text = String::from_utf8(out.lock().unwrap().clone()).unwrap();
        let got: Vec<usize> = text.lines().map(|l| l.parse().unwrap()).collect();
        assert_eq!(got, (0..=LAST).collect::<Vec<_>>());
    }

    #[test]
    fn lines_logged_after_a_collection_began_wait_for_the_next() {
        let shared = Arc::new(Shared::default());
        let (a, b) = (shared.register(), shared.register());
        let now = Instant::now();
        // As if `b`'s line was timed while the writer was already collecting.
        shared.append_to(&b, now + Duration::from_secs(3600), b"late\n");
        shared.append_to(&a, now, b"early\n");
        let (mut held, mut spare, mut batch) = (Lines::default(), Vec::new(), Lines::default());
        shared.collect(&mut held, &mut spare, &mut batch, false);
        assert_eq!(batch.text, b"early\n");
        assert_eq!(held.text, b"late\n");
        batch.clear();
        shared.append_to(&a, now + Duration::from_secs(1), b"next\n");
        shared.collect(&mut held, &mut spare, &mut batch, true);
        assert_eq!(batch.text, b"next\nlate\n");
    }

    #[test]
    fn a_thread_s_lines_beyond_the_limit_are_counted() {
        let shared = Arc::new(Shared::default());
        let line = vec![b'x'; 1024 * 1024];
        for _ in 0..(MAX_PENDING / line.len() + 3) {
            (&*shared).write_all(&line).unwrap();
        }
        let mut batch = Lines::default();
        shared.collect(&mut Lines::default(), &mut Vec::new(), &mut batch, true);
        assert_eq!(batch.text.len(), MAX_PENDING);
        assert_eq!(batch.dropped, 3);
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
        let mut batch = Lines::default();
        out.collect(&mut Lines::default(), &mut Vec::new(), &mut batch, true);
        let text = String::from_utf8(batch.text).unwrap();
        text.lines().map(str::to_owned).collect()
    }

    #[test]
    fn lines_are_tracing_s_own_but_for_the_cached_timestamp() {
        let ours = Arc::new(Shared::default());
        let theirs = Arc::new(Shared::default());
        let build = |shared: &Arc<Shared>| {
            tracing_subscriber::fmt()
                .with_max_level(Level::DEBUG)
                .with_writer(Writers(shared.clone()))
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
