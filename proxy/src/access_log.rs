//! The request log line: one per answered client request, written by the server's envelope.
//!
//! By default the line is a `tracing` event (INFO, target `repox_proxy::server`) like every
//! other log line. A binary that formats `tracing`'s lines itself may install a [`Writer`] that
//! takes the line's parts directly instead: a hit then skips `tracing`'s dispatch, its field
//! visitor and the formatting of `format_args!` pieces, which were about a tenth of a cached
//! hit's user time. The installer must write the same text and honour the same filter (the
//! `repox` binary installs one only when the line would be written and uncoloured; its
//! `logging.rs` holds the two ways to the same text in a test).

use std::fmt;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use http::Method;

/// The target of the request log's `tracing` events (the server module's, as always).
pub const TARGET: &str = "repox_proxy::server";

/// The parts of one request's log line: `GET /maven/a/b.jar 200 hit upstream=central 0.3ms`.
#[derive(Debug, Clone, Copy)]
pub struct Line<'a> {
    /// The request's method.
    pub method: &'a Method,
    /// The request's path, credentials already masked.
    pub path: &'a str,
    /// The answer's status code.
    pub status: u16,
    /// The cache's part (`hit`, `miss`, …), `-` when none.
    pub cache: &'a str,
    /// The upstream that supplied the bytes, if any.
    pub upstream: Option<&'a str>,
    /// How long the request took.
    pub elapsed: Duration,
    /// When it was answered (the envelope's clock reading, for the line's timestamp).
    pub at: Instant,
}

impl Line<'_> {
    /// Writes the message (everything after the level) piece by piece, without `format_args!`.
    pub fn write_message(&self, out: &mut impl fmt::Write) -> fmt::Result {
        out.write_str(self.method.as_str())?;
        out.write_char(' ')?;
        out.write_str(self.path)?;
        out.write_char(' ')?;
        out.write_str(itoa::Buffer::new().format(self.status))?;
        out.write_char(' ')?;
        out.write_str(self.cache)?;
        out.write_str(" upstream=")?;
        out.write_str(self.upstream.unwrap_or("-"))?;
        out.write_char(' ')?;
        Tenths(self.elapsed).write(out)?;
        out.write_str("ms")
    }
}

impl fmt::Display for Line<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_message(f)
    }
}

/// Milliseconds with one decimal, rounded, written from integers: `{:.1}` of an `f64` is a
/// slow exact float formatting, on every request's log line.
pub(crate) struct Tenths(pub(crate) Duration);

impl Tenths {
    fn write(&self, out: &mut impl fmt::Write) -> fmt::Result {
        let micros = u64::try_from(self.0.as_micros()).unwrap_or(u64::MAX - 50);
        let tenths = (micros + 50) / 100;
        out.write_str(itoa::Buffer::new().format(tenths / 10))?;
        out.write_char('.')?;
        out.write_str(itoa::Buffer::new().format(tenths % 10))
    }
}

impl fmt::Display for Tenths {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write(f)
    }
}

/// Takes the request log's lines in place of `tracing`.
pub trait Writer: Send + Sync + 'static {
    /// Writes one line.
    fn write(&self, line: &Line<'_>);
}

static WRITER: OnceLock<Box<dyn Writer>> = OnceLock::new();

/// Sends the process's request log lines to `writer` from now on instead of `tracing`; false
/// (and nothing changes) when one was installed already.
pub fn install(writer: Box<dyn Writer>) -> bool {
    WRITER.set(writer).is_ok()
}

/// Writes one request log line.
pub(crate) fn write(line: &Line<'_>) {
    match WRITER.get() {
        Some(writer) => writer.write(line),
        None => tracing::info!(target: TARGET, "{line}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_is_the_old_format_s() {
        let line = |status, upstream, micros| {
            Line {
                method: &Method::GET,
                path: "/maven/a/b.jar",
                status,
                cache: "hit",
                upstream,
                elapsed: Duration::from_micros(micros),
                at: Instant::now(),
            }
            .to_string()
        };
        assert_eq!(
            line(200, Some("central"), 1_249),
            "GET /maven/a/b.jar 200 hit upstream=central 1.2ms"
        );
        assert_eq!(
            line(404, None, 1_250),
            "GET /maven/a/b.jar 404 hit upstream=- 1.3ms"
        );
        assert_eq!(
            line(200, None, 0),
            "GET /maven/a/b.jar 200 hit upstream=- 0.0ms"
        );
        assert!(line(200, None, 123_456).ends_with(" 123.5ms"));
        assert!(line(200, None, 10_000_000_000).ends_with(" 10000000.0ms"));
    }
}
