//! What the user sees while a warm runs and after it: an indicatif display on a terminal (one
//! overall bar with files, bytes, rate and ETA, plus one line per active download), plain log
//! lines otherwise, and a summary at the end (fetched, already cached, skipped and failed, each
//! with why), as text or as JSON.
//!
//! The downloader only talks to the [`Progress`] trait; [`Recorder`] keeps every outcome for the
//! summary and forwards to the display.

use std::collections::HashMap;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::{HumanBytes, MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;

use super::fetch::{Fetch, FetchError, Fetched, Role};
use super::{Origin, SkipKind, Skipped};

/// Progress events from the downloader and the resolver. Every method has a no-op default.
pub trait Progress: Send + Sync {
    /// A stage that is not a download (resolving), shown as a message.
    fn phase(&self, _message: &str) {}
    /// A request was sent.
    fn started(&self, _id: u64, _fetch: &Fetch) {}
    /// Its response says how long the body is.
    fn sized(&self, _id: u64, _len: Option<u64>) {}
    /// More of the body arrived.
    fn advanced(&self, _id: u64, _bytes: u64) {}
    /// The request is over.
    fn finished(&self, _id: u64, _fetch: &Fetch, _result: &Result<Fetched, FetchError>) {}
    /// A warning to show now (above any bars).
    fn warn(&self, message: &str) {
        eprintln!("warning: {message}");
    }
}

/// How to show progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Display {
    /// indicatif bars on stderr.
    Bars,
    /// One line per file on stderr.
    Lines,
    /// Only failures.
    Quiet,
}

impl Display {
    pub fn choose(quiet: bool) -> Display {
        let terminal = std::io::IsTerminal::is_terminal(&std::io::stderr());
        match (quiet, terminal) {
            (true, _) => Display::Quiet,
            (false, true) => Display::Bars,
            (false, false) => Display::Lines,
        }
    }
}

/// One finished request, as the summary lists it.
#[derive(Debug, Clone, Serialize)]
pub struct Record {
    pub label: String,
    pub url: String,
    pub role: Role,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    /// `hit`, `miss`, … as repox said.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache: Option<String>,
    pub bytes: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Keeps every outcome and forwards events to the display.
pub struct Recorder {
    display: Arc<dyn Progress>,
    records: Mutex<Vec<Record>>,
    warnings: Mutex<Vec<String>>,
}

impl Recorder {
    pub fn new(display: Arc<dyn Progress>) -> Recorder {
        Recorder {
            display,
            records: Mutex::default(),
            warnings: Mutex::default(),
        }
    }

    pub fn records(&self) -> Vec<Record> {
        self.records.lock().expect("records").clone()
    }

    pub fn warnings(&self) -> Vec<String> {
        self.warnings.lock().expect("warnings").clone()
    }
}

impl Progress for Recorder {
    fn phase(&self, message: &str) {
        self.display.phase(message);
    }
    fn started(&self, id: u64, fetch: &Fetch) {
        self.display.started(id, fetch);
    }
    fn sized(&self, id: u64, len: Option<u64>) {
        self.display.sized(id, len);
    }
    fn advanced(&self, id: u64, bytes: u64) {
        self.display.advanced(id, bytes);
    }
    fn finished(&self, id: u64, fetch: &Fetch, result: &Result<Fetched, FetchError>) {
        let (cache, bytes, error) = match result {
            Ok(f) => (Some(f.cache.clone()), f.bytes, None),
            Err(e) => (None, 0, Some(e.to_string())),
        };
        self.records.lock().expect("records").push(Record {
            label: fetch.label.clone(),
            url: fetch.url.to_string(),
            role: fetch.role,
            origin: fetch.origin.as_ref().map(Origin::to_string),
            cache,
            bytes,
            error,
        });
        self.display.finished(id, fetch, result);
    }
    fn warn(&self, message: &str) {
        self.warnings
            .lock()
            .expect("warnings")
            .push(message.to_owned());
        self.display.warn(message);
    }
}

/// Plain lines on stderr (or only failures).
pub struct Lines {
    pub quiet: bool,
}

impl Progress for Lines {
    fn phase(&self, message: &str) {
        if !self.quiet {
            eprintln!("{message}");
        }
    }
    fn finished(&self, _id: u64, fetch: &Fetch, result: &Result<Fetched, FetchError>) {
        match result {
            Err(e) => eprintln!("failed   {}: {e}", fetch.label),
            Ok(_) if self.quiet => {}
            Ok(f) if f.was_cached() => eprintln!("cached   {}", fetch.label),
            Ok(f) if f.cache == "absent" => eprintln!("absent   {} (optional)", fetch.label),
            Ok(f) => eprintln!("fetched  {} ({})", fetch.label, HumanBytes(f.bytes)),
        }
    }
    fn warn(&self, message: &str) {
        eprintln!("warning: {message}");
    }
}

/// The indicatif display: an overall bar and one bar per active download.
pub struct Bars {
    multi: MultiProgress,
    overall: ProgressBar,
    active: Mutex<HashMap<u64, ProgressBar>>,
    bytes: AtomicU64,
    started: Instant,
}

/// The overall line before the first request: no bar, which would be drawn full at `0/0`.
const PLANNING: &str = "{spinner:.green} [{elapsed_precise}] {msg}";
/// The overall line once files are being fetched.
const FETCHING: &str =
    "{spinner:.green} [{elapsed_precise}] [{bar:30.cyan/blue}] {pos}/{len} files {msg} (eta {eta})";

impl Bars {
    pub fn new() -> Bars {
        let bars = Bars::to(ProgressDrawTarget::stderr_with_hz(10));
        bars.overall.enable_steady_tick(Duration::from_millis(120));
        bars
    }

    /// Bars drawn on `target`, without the steady tick.
    fn to(target: ProgressDrawTarget) -> Bars {
        let multi = MultiProgress::with_draw_target(target);
        let overall = multi.add(ProgressBar::new(0));
        overall.set_style(ProgressStyle::with_template(PLANNING).expect("valid template"));
        Bars {
            multi,
            overall,
            active: Mutex::default(),
            bytes: AtomicU64::new(0),
            started: Instant::now(),
        }
    }

    /// A handle for writing log lines without tearing the bars.
    pub fn multi(&self) -> MultiProgress {
        self.multi.clone()
    }

    fn update_message(&self) {
        let bytes = self.bytes.load(Ordering::Relaxed);
        let secs = self.started.elapsed().as_secs_f64().max(0.001);
        self.overall.set_message(format!(
            "{} at {}/s",
            HumanBytes(bytes),
            HumanBytes((bytes as f64 / secs) as u64)
        ));
    }

    pub fn finish(&self) {
        self.overall.finish_and_clear();
        let _ = self.multi.clear();
    }
}

impl Default for Bars {
    fn default() -> Self {
        Self::new()
    }
}

impl Progress for Bars {
    fn phase(&self, message: &str) {
        self.overall.set_message(message.to_owned());
    }
    fn started(&self, id: u64, fetch: &Fetch) {
        if self.overall.length() == Some(0) {
            self.overall.set_style(
                ProgressStyle::with_template(FETCHING)
                    .expect("valid template")
                    .progress_chars("=> "),
            );
        }
        self.overall.inc_length(1);
        let bar = self.multi.add(ProgressBar::new_spinner());
        bar.set_style(
            ProgressStyle::with_template("  {spinner} {wide_msg} {bytes:>10} {bytes_per_sec:>12}")
                .expect("valid template"),
        );
        bar.set_message(fetch.label.clone());
        self.active.lock().expect("bars").insert(id, bar);
    }
    fn sized(&self, id: u64, len: Option<u64>) {
        if let (Some(len), Some(bar)) = (len, self.active.lock().expect("bars").get(&id)) {
            bar.set_length(len);
            bar.set_style(
                ProgressStyle::with_template(
                    "  {spinner} {wide_msg} {bytes:>10}/{total_bytes:<10} {bytes_per_sec:>12}",
                )
                .expect("valid template"),
            );
        }
    }
    fn advanced(&self, id: u64, bytes: u64) {
        if let Some(bar) = self.active.lock().expect("bars").get(&id) {
            bar.inc(bytes);
        }
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
        self.update_message();
    }
    fn finished(&self, id: u64, fetch: &Fetch, result: &Result<Fetched, FetchError>) {
        if let Some(bar) = self.active.lock().expect("bars").remove(&id) {
            bar.finish_and_clear();
            self.multi.remove(&bar);
        }
        self.overall.inc(1);
        if let Err(e) = result {
            let _ = self.multi.println(format!("failed   {}: {e}", fetch.label));
        }
    }
    fn warn(&self, message: &str) {
        let _ = self.multi.println(format!("warning: {message}"));
    }
}

/// Writes tracing output above the bars.
#[derive(Clone)]
pub struct BarWriter(pub Option<MultiProgress>);

impl Write for BarWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match &self.0 {
            Some(multi) => multi.suspend(|| std::io::stderr().write_all(buf))?,
            None => std::io::stderr().write_all(buf)?,
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// The end-of-run summary.
#[derive(Debug, Serialize)]
pub struct Summary {
    pub dry_run: bool,
    pub fetched: Vec<Record>,
    pub cached: Vec<Record>,
    /// Optional index files no upstream has (`maven-metadata.xml` on some repositories).
    pub absent: Vec<Record>,
    pub skipped: Vec<SkipRecord>,
    pub failed: Vec<Failure>,
    pub warnings: Vec<String>,
    /// `--dry-run`: the package files a warm would fetch.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub would_fetch: Vec<Planned>,
    pub seconds: f64,
}

/// A skipped input entry.
#[derive(Debug, Clone, Serialize)]
pub struct SkipRecord {
    pub what: String,
    pub origin: String,
    pub why: String,
}

/// Something that failed: a request, a resolution, or an input line warm cannot read.
#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    pub what: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    pub error: String,
}

/// A package file `--dry-run` would fetch.
#[derive(Debug, Clone, Serialize)]
pub struct Planned {
    pub label: String,
    pub role: Role,
    pub url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
    /// Whether repox already has it (from a HEAD request).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cached: Option<bool>,
}

impl Summary {
    pub fn new(
        records: Vec<Record>,
        skipped: &[Skipped],
        mut failed: Vec<Failure>,
        warnings: Vec<String>,
        dry_run: bool,
        seconds: f64,
    ) -> Summary {
        let mut skips = Vec::new();
        for s in skipped {
            match s.kind {
                SkipKind::Unsupported => skips.push(SkipRecord {
                    what: s.what.clone(),
                    origin: s.origin.to_string(),
                    why: s.why.clone(),
                }),
                // Input warm cannot read is the user's to fix: it fails the run.
                SkipKind::Invalid => failed.push(Failure {
                    what: s.what.clone(),
                    url: None,
                    origin: Some(s.origin.to_string()),
                    error: s.why.clone(),
                }),
            }
        }
        let mut fetched = Vec::new();
        let mut cached = Vec::new();
        let mut absent = Vec::new();
        for record in records {
            match (&record.error, record.cache.as_deref()) {
                (Some(error), _) => failed.push(Failure {
                    what: record.label.clone(),
                    url: Some(record.url.clone()),
                    origin: record.origin.clone(),
                    error: error.clone(),
                }),
                (None, Some("hit" | "revalidated" | "stale")) => cached.push(record),
                (None, Some("absent")) => absent.push(record),
                (None, _) => fetched.push(record),
            }
        }
        let by_label = |a: &Record, b: &Record| (a.role, &a.label).cmp(&(b.role, &b.label));
        fetched.sort_by(by_label);
        cached.sort_by(by_label);
        Summary {
            dry_run,
            fetched,
            cached,
            absent,
            skipped: skips,
            failed,
            warnings,
            would_fetch: Vec::new(),
            seconds,
        }
    }

    pub fn success(&self) -> bool {
        self.failed.is_empty()
    }

    /// The human-readable summary.
    pub fn render(&self, verbose: bool) -> String {
        let mut out = String::new();
        let bytes = |records: &[Record]| HumanBytes(records.iter().map(|r| r.bytes).sum());
        let packages =
            |records: &[Record]| records.iter().filter(|r| r.role == Role::Package).count();
        if self.dry_run {
            let packages: Vec<&Planned> = self
                .would_fetch
                .iter()
                .filter(|p| p.role == Role::Package)
                .collect();
            let cached = packages.iter().filter(|p| p.cached == Some(true)).count();
            out.push_str(&format!(
                "would fetch {} ({} already cached) and {}; read {} to plan\n",
                count(packages.len(), "package file"),
                cached,
                count(self.would_fetch.len() - packages.len(), "index file"),
                count(self.fetched.len() + self.cached.len(), "index file"),
            ));
            for p in &self.would_fetch {
                let size = p
                    .bytes
                    .map(|b| format!(" ({})", HumanBytes(b)))
                    .unwrap_or_default();
                let state = if p.cached == Some(true) {
                    " [cached]"
                } else {
                    ""
                };
                out.push_str(&format!("  {}{size}{state}\n    {}\n", p.label, p.url));
            }
        } else {
            out.push_str(&format!(
                "fetched {} ({}, {}), already cached {} ({}, {}), skipped {}, failed {} in \
                 {:.1}s\n",
                count(self.fetched.len(), "file"),
                count(packages(&self.fetched), "package"),
                bytes(&self.fetched),
                self.cached.len(),
                count(packages(&self.cached), "package"),
                bytes(&self.cached),
                self.skipped.len(),
                self.failed.len(),
                self.seconds
            ));
            if !self.absent.is_empty() {
                let (n, verb) = match self.absent.len() {
                    1 => ("1 optional index file".to_owned(), "is"),
                    n => (format!("{n} optional index files"), "are"),
                };
                out.push_str(&format!("{n} {verb} on no upstream (-v lists them)\n"));
            }
            if verbose {
                for r in &self.fetched {
                    out.push_str(&format!(
                        "  fetched {} ({})\n",
                        r.label,
                        HumanBytes(r.bytes)
                    ));
                }
                for r in &self.cached {
                    out.push_str(&format!("  cached  {}\n", r.label));
                }
                for r in &self.absent {
                    out.push_str(&format!("  absent  {}\n", r.label));
                }
            }
        }
        if !self.skipped.is_empty() {
            out.push_str("skipped:\n");
            for s in &self.skipped {
                out.push_str(&format!("  {}: {}: {}\n", s.origin, s.what, s.why));
            }
        }
        if !self.failed.is_empty() {
            out.push_str("failed:\n");
            for f in &self.failed {
                let origin = f
                    .origin
                    .as_deref()
                    .map(|o| format!("{o}: "))
                    .unwrap_or_default();
                let error = f.error.replace('\n', "\n    ");
                out.push_str(&format!("  {origin}{}: {error}\n", f.what));
            }
        }
        out
    }
}

/// `n` and `noun`, with an `s` unless `n` is 1: "1 package", "2 packages".
pub fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn record(label: &str, cache: Option<&str>, error: Option<&str>) -> Record {
        Record {
            label: label.into(),
            url: format!("http://r/{label}"),
            role: Role::Package,
            origin: None,
            cache: cache.map(String::from),
            bytes: 2048,
            error: error.map(String::from),
        }
    }

    #[test]
    fn summary_sorts_outcomes_and_invalid_input_fails() {
        let skipped = vec![
            Skipped {
                what: "-e ./lib".into(),
                origin: Origin::new(Path::new("r.txt"), Some(3)),
                why: "local source".into(),
                kind: SkipKind::Unsupported,
            },
            Skipped {
                what: "x y z".into(),
                origin: Origin::new(Path::new("r.txt"), Some(4)),
                why: "not a requirement".into(),
                kind: SkipKind::Invalid,
            },
        ];
        let summary = Summary::new(
            vec![
                record("b.whl", Some("miss"), None),
                record("a.whl", Some("hit"), None),
                record("c.whl", None, Some("404")),
            ],
            &skipped,
            Vec::new(),
            Vec::new(),
            false,
            1.0,
        );
        assert!(!summary.success());
        let text = summary.render(false);
        assert_eq!(
            text,
            "fetched 1 file (1 package, 2.00 KiB), already cached 1 (1 package, 2.00 KiB), \
             skipped 1, failed 2 in 1.0s\n\
             skipped:\n  r.txt:3: -e ./lib: local source\n\
             failed:\n  r.txt:4: x y z: not a requirement\n  c.whl: 404\n"
        );
    }

    /// What an indicatif draw target shows: every line written, in order.
    #[derive(Debug, Clone, Default)]
    struct Screen(Arc<Mutex<Vec<String>>>);

    impl indicatif::TermLike for Screen {
        fn width(&self) -> u16 {
            120
        }
        fn move_cursor_up(&self, _n: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_down(&self, _n: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_right(&self, _n: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_left(&self, _n: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn write_line(&self, s: &str) -> std::io::Result<()> {
            self.write_str(s)
        }
        fn write_str(&self, s: &str) -> std::io::Result<()> {
            if !s.is_empty() {
                self.0.lock().unwrap().push(s.to_owned());
            }
            Ok(())
        }
        fn clear_line(&self) -> std::io::Result<()> {
            Ok(())
        }
        fn flush(&self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn the_overall_bar_is_not_drawn_full_before_the_first_file() {
        let screen = Screen::default();
        let bars = Bars::to(ProgressDrawTarget::term_like(Box::new(screen.clone())));
        bars.phase("resolving 3 requirements");
        let before = screen.0.lock().unwrap().join("\n");
        assert!(before.contains("resolving 3 requirements"), "{before}");
        assert!(
            !before.contains("0/0") && !before.contains("=="),
            "{before}"
        );
        let fetch = Fetch {
            url: url::Url::parse("http://r/a-1.0.whl").unwrap(),
            accept: None,
            expect: Vec::new(),
            label: "a-1.0.whl".into(),
            role: Role::Package,
            origin: None,
            keep_body: false,
            optional: false,
        };
        bars.started(1, &fetch);
        bars.overall.tick();
        let after = screen.0.lock().unwrap().join("\n");
        assert!(after.contains("0/1 files"), "{after}");
    }

    #[test]
    fn counts_are_singular_for_one() {
        assert_eq!(count(1, "package"), "1 package");
        assert_eq!(count(0, "package"), "0 packages");
        assert_eq!(count(2, "index file"), "2 index files");
    }
}
