//! The HTTP/1.1 fast lane: plain-TCP connections (Linux, zero-copy) are served by this loop of
//! our own for as long as their requests are the plainest kind, the kind a cache hit is: `GET`
//! or `HEAD`, HTTP/1.1, no body (no `Content-Length` but `0`, no `Transfer-Encoding`), no
//! `Expect`, no `Upgrade`, a `Connection` of `keep-alive`/`close` at most, a target in origin
//! form. hyper's per-request machinery (its dispatcher, head encoder, boxed header-read sleep,
//! `Date` reading the clock on every poll) was about a quarter of a hit's user time.
//!
//! The first request the lane does not serve itself, anything malformed or too large included,
//! hands the connection to hyper for the rest of its life, with the bytes already read in front
//! ([`Exit::HandOff`], `rewind.rs`): hyper then answers exactly as it always did (400, 431,
//! uploads, `100-continue`, HTTP/1.0, h2c's preface).
//!
//! What the lane keeps of hyper: `[server] header_read_timeout` for every head (from the start
//! of the connection or the end of the last response, so it closes idle connections too),
//! pipelined requests (the bytes after one head wait in the buffer for the next), at most
//! [`HTTP1_MAX_BUF`] of head, a graceful stop ([`Stop`]: an idle connection closes, a response
//! under way finishes), and the same response framing: hyper's rules for `Content-Length`,
//! `Transfer-Encoding: chunked`, `HEAD`, `204`/`304`, `Connection: close`, and a `date` header
//! when the response has none. The wire differs from hyper's only in header order: `connection`,
//! `content-length`/`transfer-encoding` and `date` come after the response's other headers.
//!
//! Bodies go out as hyper sent them: each frame of the response's [`EdgeBody`] is written to the
//! [`ZeroCopyStream`], which sends a file stretch in place of its placeholder (`zerocopy.rs`
//! keeps its rules: the page-cache probe, the placeholder check, a short file aborting the
//! connection), and the head goes out with the first frame in one `writev`/`sendmsg`.

use std::future::{Future, poll_fn};
use std::io::{self, IoSlice};
use std::mem::MaybeUninit;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::Poll;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, header};
use hyper::body::Body as _;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::Notify;

use super::HTTP1_MAX_BUF;
use super::RequestBody;
use super::timer::head_clock;
use super::zerocopy::{self, EdgeBody, Segments, ZeroCopyStream};
use crate::server::Front;

/// hyper's limit on a request's header lines; a head with more is handed to hyper.
const MAX_HEADERS: usize = 100;
/// The read buffer's first size (hyper's too); it grows up to [`HTTP1_MAX_BUF`].
const INITIAL_BUF: usize = 8 * 1024;

/// What every connection of the lane shares: the header-read timeout and the stop signal.
pub(crate) struct Lane {
    header_timeout: Duration,
    stop: Stop,
}

impl Lane {
    pub(crate) fn new(header_timeout: Duration) -> Lane {
        Lane {
            header_timeout,
            stop: Stop::default(),
        }
    }

    /// Stops the lane's connections: idle ones close now, the others after their response.
    pub(crate) fn stop(&self) {
        self.stop.stopped.store(true, Ordering::Release);
        self.stop.notify.notify_waiters();
    }
}

/// The server stopping. A connection registers for the notification once (the first time it
/// waits for a head) and then reads the flag, one atomic load, instead of polling a shared
/// lock each time it waits.
#[derive(Default)]
struct Stop {
    stopped: AtomicBool,
    notify: Notify,
}

impl Stop {
    fn stopped(&self) -> bool {
        self.stopped.load(Ordering::Acquire)
    }
}

/// How a connection left the lane.
pub(crate) enum Exit {
    /// It is closed (the client left, a timeout, `Connection: close`, the server stopping, a
    /// failed response).
    Closed,
    /// A request the lane does not serve: hyper takes the connection, with these bytes (already
    /// read from it) first.
    HandOff(ZeroCopyStream, Bytes),
}

/// What the lane makes of the bytes of a head.
enum Verdict {
    /// Not a whole head yet.
    Partial,
    /// Not the lane's: hyper's.
    Other,
    /// A request the lane serves.
    Serve(Head),
}

/// A request head the lane serves, as offsets into the buffer it was parsed from.
#[derive(Debug)]
struct Head {
    method: Method,
    target: (usize, usize),
    /// `Connection: close`.
    close: bool,
    /// The head's length in the buffer.
    len: usize,
}

/// A header line's name and value, as (offset, length) pairs into the head.
type HeaderAt = [usize; 4];

/// Serves `io` until it closes or a request needs hyper. `segments` is `io`'s queue.
pub(crate) async fn serve(
    mut io: ZeroCopyStream,
    segments: &Arc<Segments>,
    front: &Front,
    peer: SocketAddr,
    lane: &Lane,
) -> Exit {
    let mut buf = BytesMut::with_capacity(INITIAL_BUF);
    let mut at: Vec<HeaderAt> = Vec::new();
    let mut out: Vec<u8> = Vec::with_capacity(512);
    let sleep = tokio::time::sleep(lane.header_timeout);
    tokio::pin!(sleep);
    let stop = lane.stop.notify.notified();
    tokio::pin!(stop);
    let mut registered = false;
    loop {
        let mut deadline = None;
        let head = loop {
            match inspect(&buf, &mut at) {
                Verdict::Serve(head) => break head,
                Verdict::Other => return Exit::HandOff(io, buf.freeze()),
                Verdict::Partial => {}
            }
            if buf.len() >= HTTP1_MAX_BUF {
                // hyper answers 431.
                return Exit::HandOff(io, buf.freeze());
            }
            let room = HTTP1_MAX_BUF - buf.len();
            if buf.capacity() - buf.len() < 1024 {
                buf.reserve(INITIAL_BUF.min(room));
            }
            let idle = buf.is_empty();
            let read = poll_fn(|cx| {
                let mut limited = (&mut buf).limit(room);
                if let Poll::Ready(read) =
                    tokio_util::io::poll_read_buf(Pin::new(&mut io), cx, &mut limited)
                {
                    return Poll::Ready(read.map(Wait::Read));
                }
                if !registered {
                    registered = true;
                    let _ = stop.as_mut().poll(cx);
                }
                if idle && lane.stop.stopped() {
                    return Poll::Ready(Ok(Wait::Stop));
                }
                let deadline = *deadline.get_or_insert_with(|| {
                    let deadline =
                        tokio::time::Instant::from_std(head_clock()) + lane.header_timeout;
                    sleep.as_mut().reset(deadline);
                    deadline
                });
                if sleep.as_mut().poll(cx).is_ready() && sleep.deadline() == deadline {
                    return Poll::Ready(Ok(Wait::Timeout));
                }
                Poll::Pending
            })
            .await;
            match read {
                Ok(Wait::Read(n)) if n > 0 => {}
                // The client left, its head took too long (hyper closes without an answer
                // too), or the server stops.
                Ok(_) | Err(_) => return Exit::Closed,
            }
        };
        let bytes = buf.split_to(head.len).freeze();
        let Some(req) = request(&bytes, &head, &at) else {
            // A name or value `http` does not take: hyper's to answer.
            let mut read = BytesMut::from(&bytes[..]);
            read.extend_from_slice(&buf);
            return Exit::HandOff(io, read.freeze());
        };
        drop(bytes);
        let method = head.method.clone();
        let resp = front.call(req, peer).await;
        let resp = zerocopy::attach(resp, segments);
        let close = head.close || lane.stop.stopped();
        match respond(&mut io, &mut out, resp, method == Method::HEAD, close).await {
            Ok(true) if !lane.stop.stopped() => {}
            Ok(_) => {
                let _ = io.shutdown().await;
                return Exit::Closed;
            }
            Err(e) => {
                tracing::debug!("response to {peer} failed: {e}");
                return Exit::Closed;
            }
        }
    }
}

enum Wait {
    Read(usize),
    Timeout,
    Stop,
}

/// Parses `buf` and says whether it holds a whole head the lane serves; `at` gets its header
/// lines.
fn inspect(buf: &[u8], at: &mut Vec<HeaderAt>) -> Verdict {
    if buf.is_empty() {
        return Verdict::Partial;
    }
    let mut headers = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut []);
    let len = match req.parse_with_uninit_headers(buf, &mut headers) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Verdict::Partial,
        Err(_) => return Verdict::Other,
    };
    let method = match req.method {
        Some("GET") => Method::GET,
        Some("HEAD") => Method::HEAD,
        _ => return Verdict::Other,
    };
    if req.version != Some(1) {
        return Verdict::Other;
    }
    let Some(target) = req.path.filter(|p| p.starts_with('/')) else {
        return Verdict::Other;
    };
    let base = buf.as_ptr() as usize;
    let offset = |s: &[u8]| (s.as_ptr() as usize).wrapping_sub(base);
    let mut close = false;
    at.clear();
    for h in req.headers.iter() {
        let name = h.name.as_bytes();
        if name.eq_ignore_ascii_case(b"content-length") {
            if h.value != b"0" {
                return Verdict::Other;
            }
        } else if name.eq_ignore_ascii_case(b"transfer-encoding")
            || name.eq_ignore_ascii_case(b"expect")
            || name.eq_ignore_ascii_case(b"upgrade")
        {
            return Verdict::Other;
        } else if name.eq_ignore_ascii_case(b"connection") {
            for token in h.value.split(|&b| b == b',') {
                let token = token.trim_ascii();
                if token.eq_ignore_ascii_case(b"close") {
                    close = true;
                } else if !token.eq_ignore_ascii_case(b"keep-alive") {
                    return Verdict::Other;
                }
            }
        }
        at.push([offset(name), name.len(), offset(h.value), h.value.len()]);
    }
    Verdict::Serve(Head {
        method,
        target: (offset(target.as_bytes()), target.len()),
        close,
        len,
    })
}

/// The request of `head`, parsed from `bytes`, sharing its memory; `None` when `http` refuses
/// a part of it.
fn request(bytes: &Bytes, head: &Head, at: &[HeaderAt]) -> Option<http::Request<RequestBody>> {
    let slice = |(start, len): (usize, usize)| {
        bytes
            .get(start..start + len)
            .map(|_| bytes.slice(start..start + len))
    };
    let uri = Uri::from_maybe_shared(slice(head.target)?).ok()?;
    let mut headers = HeaderMap::with_capacity(at.len());
    for &[name, name_len, value, value_len] in at {
        let name = HeaderName::from_bytes(bytes.get(name..name + name_len)?).ok()?;
        let value = HeaderValue::from_maybe_shared(slice((value, value_len))?).ok()?;
        headers.append(name, value);
    }
    let mut req = http::Request::new(RequestBody::Empty);
    *req.method_mut() = head.method.clone();
    *req.uri_mut() = uri;
    *req.headers_mut() = headers;
    Some(req)
}

/// How a response's body goes on the wire.
#[derive(Debug, PartialEq)]
enum Framing {
    /// None at all (`HEAD`, `204`, `304`, an empty body).
    Empty,
    Length(u64),
    Chunked,
}

/// Writes `resp` (to a `HEAD` when `head`) and says whether the connection stays open.
async fn respond(
    io: &mut ZeroCopyStream,
    out: &mut Vec<u8>,
    resp: http::Response<EdgeBody>,
    head: bool,
    close: bool,
) -> io::Result<bool> {
    let (parts, mut body) = resp.into_parts();
    out.clear();
    let (framing, close) = encode_head(out, parts.status, &parts.headers, &body, head, close)?;
    drop(parts);
    let mut head_out = true;
    let mut sent: u64 = 0;
    if framing != Framing::Empty {
        loop {
            // Head and first frame in one write when the frame is ready; the head alone first
            // when it is not (a fill still writing), as hyper does.
            let frame = match poll_fn(|cx| Poll::Ready(Pin::new(&mut body).poll_frame(cx))).await {
                Poll::Ready(frame) => frame,
                Poll::Pending => {
                    if head_out {
                        write_all(io, &mut [IoSlice::new(out)]).await?;
                        head_out = false;
                    }
                    poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await
                }
            };
            let data = match frame {
                None => break,
                Some(Err(e)) => return Err(io::Error::other(e)),
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) if !data.is_empty() => data,
                    // Empty chunks and trailers: hyper sends neither here.
                    _ => continue,
                },
            };
            let head_part = if head_out { &out[..] } else { &[][..] };
            match framing {
                Framing::Length(len) => {
                    sent += data.len() as u64;
                    if sent > len {
                        return Err(io::Error::other("a body longer than its length"));
                    }
                    write_all(io, &mut [IoSlice::new(head_part), IoSlice::new(&data)]).await?;
                    head_out = false;
                    if sent == len {
                        break;
                    }
                }
                Framing::Chunked => {
                    let mut size_line = [0; 18];
                    let size = chunk_size(data.len(), &mut size_line);
                    let end: &[u8] = if body.is_end_stream() {
                        b"\r\n0\r\n\r\n"
                    } else {
                        b"\r\n"
                    };
                    write_all(
                        io,
                        &mut [
                            IoSlice::new(head_part),
                            IoSlice::new(size),
                            IoSlice::new(&data),
                            IoSlice::new(end),
                        ],
                    )
                    .await?;
                    head_out = false;
                    if end.len() > 2 {
                        return Ok(!close);
                    }
                }
                Framing::Empty => {}
            }
        }
    }
    match framing {
        Framing::Length(len) if sent < len => {
            if head_out {
                write_all(io, &mut [IoSlice::new(out)]).await?;
            }
            // The client sees a body shorter than its length, as with hyper.
            return Err(io::Error::other("a body shorter than its length"));
        }
        Framing::Chunked => {
            let head_part = if head_out { &out[..] } else { &[][..] };
            write_all(
                io,
                &mut [IoSlice::new(head_part), IoSlice::new(b"0\r\n\r\n")],
            )
            .await?;
        }
        _ if head_out => write_all(io, &mut [IoSlice::new(out)]).await?,
        _ => {}
    }
    Ok(!close)
}

/// A chunk's size line: `n` in upper-case hex (as hyper writes it) and CRLF, in `line`.
fn chunk_size(n: usize, line: &mut [u8; 18]) -> &[u8] {
    let room = line.len();
    let mut rest = &mut line[..];
    // At most 16 digits and CRLF: the write cannot run out of room.
    let _ = std::io::Write::write_fmt(&mut rest, format_args!("{n:X}\r\n"));
    let len = room - rest.len();
    &line[..len]
}

/// Writes every byte of `bufs`, placeholders passed on as they are.
async fn write_all(io: &mut ZeroCopyStream, mut bufs: &mut [IoSlice<'_>]) -> io::Result<()> {
    IoSlice::advance_slices(&mut bufs, 0);
    while !bufs.is_empty() {
        let n = poll_fn(|cx| Pin::new(&mut *io).poll_write_vectored(cx, bufs)).await?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        IoSlice::advance_slices(&mut bufs, n);
    }
    Ok(())
}

/// Writes the head of a response with `status` and `headers` into `out`, framed as hyper
/// frames it (`proto/h1/role.rs`, `Server::encode`), and says how the body goes and whether
/// the connection closes after it (`close` asked for, or the response says so).
fn encode_head(
    out: &mut Vec<u8>,
    status: StatusCode,
    headers: &HeaderMap,
    body: &EdgeBody,
    head: bool,
    mut close: bool,
) -> io::Result<(Framing, bool)> {
    if status.is_informational() {
        // hyper does not send these from a service either.
        return Err(io::Error::other("a 1xx response"));
    }
    let no_content = matches!(status, StatusCode::NO_CONTENT | StatusCode::NOT_MODIFIED);
    let can_body = !head && !no_content;
    if status == StatusCode::OK {
        out.extend_from_slice(b"HTTP/1.1 200 OK\r\n");
    } else {
        out.extend_from_slice(b"HTTP/1.1 ");
        out.extend_from_slice(status.as_str().as_bytes());
        out.push(b' ');
        out.extend_from_slice(status.canonical_reason().unwrap_or("<none>").as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    let mut date = false;
    for (name, value) in headers {
        match *name {
            header::CONTENT_LENGTH
            | header::TRANSFER_ENCODING
            | header::CONNECTION
            | header::TRAILER => continue,
            header::DATE => date = true,
            _ => {}
        }
        line(out, name.as_str().as_bytes(), value.as_bytes());
    }
    // `Connection`: its values on one line, with `close` when the connection closes.
    let mut values = headers.get_all(header::CONNECTION).iter().peekable();
    if values.peek().is_some() || close {
        out.extend_from_slice(b"connection: ");
        let mut said_close = false;
        for (i, value) in values.enumerate() {
            if i > 0 {
                out.extend_from_slice(b", ");
            }
            out.extend_from_slice(value.as_bytes());
            said_close |= value
                .as_bytes()
                .split(|&b| b == b',')
                .any(|t| t.trim_ascii().eq_ignore_ascii_case(b"close"));
        }
        if close && !said_close {
            if !out.ends_with(b"connection: ") {
                out.extend_from_slice(b", ");
            }
            out.extend_from_slice(b"close");
        }
        close |= said_close;
        out.extend_from_slice(b"\r\n");
    }
    // hyper's view of the body: none at all, a known length, or unknown.
    let known = if body.is_end_stream() {
        None
    } else {
        Some(body.size_hint().exact())
    };
    let mut codings = headers.get_all(header::TRANSFER_ENCODING).iter().peekable();
    let length = headers.get(header::CONTENT_LENGTH);
    let framing = if codings.peek().is_some() && can_body {
        out.extend_from_slice(b"transfer-encoding: ");
        let mut last = &b""[..];
        for (i, value) in codings.enumerate() {
            if i > 0 {
                out.extend_from_slice(b", ");
            }
            out.extend_from_slice(value.as_bytes());
            last = value.as_bytes();
        }
        let chunked = last
            .rsplit(|&b| b == b',')
            .next()
            .is_some_and(|t| t.trim_ascii().eq_ignore_ascii_case(b"chunked"));
        if !chunked {
            out.extend_from_slice(b", chunked");
        }
        out.extend_from_slice(b"\r\n");
        Framing::Chunked
    } else if let Some(value) = length
        && (known.is_some() || head)
    {
        // A body's own length wins over the header's (hyper trusts it too); an empty body
        // keeps the header only for `HEAD`.
        let len = match known {
            Some(Some(len)) => len,
            Some(None) => std::str::from_utf8(value.as_bytes())
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
                .ok_or_else(|| io::Error::other("an illegal content-length in a response"))?,
            None => 0,
        };
        line(out, b"content-length", value.as_bytes());
        Framing::Length(len)
    } else {
        match known {
            Some(None) if can_body => {
                out.extend_from_slice(b"transfer-encoding: chunked\r\n");
                Framing::Chunked
            }
            Some(None) => Framing::Empty,
            None | Some(Some(0)) => {
                if can_body {
                    out.extend_from_slice(b"content-length: 0\r\n");
                }
                Framing::Empty
            }
            Some(Some(len)) => {
                if !no_content {
                    line(
                        out,
                        b"content-length",
                        itoa::Buffer::new().format(len).as_bytes(),
                    );
                }
                Framing::Length(len)
            }
        }
    };
    let framing = if can_body && framing != Framing::Length(0) {
        framing
    } else {
        Framing::Empty
    };
    if !date {
        out.extend_from_slice(b"date: ");
        out.extend_from_slice(&now_date());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    Ok((framing, close))
}

fn line(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// The length of an HTTP date (`Mon, 07 Dec 2026 16:39:25 GMT`).
const DATE_LEN: usize = 29;

thread_local! {
    /// The second and its `date` value, formatted once a second per worker thread.
    static DATE: std::cell::Cell<(u64, [u8; DATE_LEN])> = const { std::cell::Cell::new((u64::MAX, [0; DATE_LEN])) };
}

/// The `date` header's value now, from the coarse clock (a tick late at most), formatted once a
/// second per thread (hyper read the precise clock for it on every poll of a connection).
fn now_date() -> [u8; DATE_LEN] {
    let secs = crate::store::clock::unix_millis() / 1000;
    DATE.with(|cell| {
        let (at, date) = cell.get();
        if at == secs {
            return date;
        }
        let mut date = [b' '; DATE_LEN];
        let text = httpdate::fmt_http_date(std::time::UNIX_EPOCH + Duration::from_secs(secs));
        let n = text.len().min(DATE_LEN);
        date[..n].copy_from_slice(&text.as_bytes()[..n]);
        cell.set((secs, date));
        date
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;
    use tokio::net::TcpStream;

    fn verdict(head: &str) -> Verdict {
        inspect(head.as_bytes(), &mut Vec::new())
    }

    fn served(head: &str) -> Option<Head> {
        match verdict(head) {
            Verdict::Serve(head) => Some(head),
            _ => None,
        }
    }

    fn handed_over(head: &str) -> bool {
        matches!(verdict(head), Verdict::Other)
    }

    #[test]
    fn only_the_plainest_requests_are_the_lanes() {
        let get = served("GET /maven/a.jar?x=1 HTTP/1.1\r\nHost: h\r\n\r\n").unwrap();
        assert_eq!(get.method, Method::GET);
        assert!(!get.close);
        assert!(served("HEAD / HTTP/1.1\r\n\r\n").is_some());
        assert!(served("GET / HTTP/1.1\r\nContent-Length: 0\r\n\r\n").is_some());
        let close = served("GET / HTTP/1.1\r\nConnection: Keep-Alive, CLOSE\r\n\r\n").unwrap();
        assert!(close.close);
        for other in [
            "POST / HTTP/1.1\r\nContent-Length: 1\r\n\r\nx",
            "PUT / HTTP/1.1\r\n\r\n",
            "get / HTTP/1.1\r\n\r\n",
            "GET / HTTP/1.0\r\n\r\n",
            "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
            "GET / HTTP/1.1\r\nContent-Length: 5\r\n\r\n",
            "GET / HTTP/1.1\r\nContent-Length: 00\r\n\r\n",
            "GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
            "GET / HTTP/1.1\r\nContent-Length: 0\r\nTransfer-Encoding: chunked\r\n\r\n",
            "GET / HTTP/1.1\r\nExpect: 100-continue\r\n\r\n",
            "GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n",
            "GET / HTTP/1.1\r\nConnection: upgrade\r\n\r\n",
            "GET / HTTP/1.1\r\nConnection: \r\n\r\n",
            "GET http://h/ HTTP/1.1\r\n\r\n",
            "GET * HTTP/1.1\r\n\r\n",
            "GET / HTTP/1.1\r\nbad header\r\n\r\n",
        ] {
            assert!(handed_over(other), "{other:?}");
        }
        assert!(matches!(
            verdict("GET / HTTP/1.1\r\nHost: h\r\n"),
            Verdict::Partial
        ));
        assert!(matches!(verdict(""), Verdict::Partial));
    }

    #[test]
    fn the_request_shares_the_heads_bytes() {
        let text = "GET /a/b?c HTTP/1.1\r\nHost: h\r\nX-A: 1\r\nx-a: 2\r\n\r\nGET /next";
        let mut at = Vec::new();
        let Verdict::Serve(head) = inspect(text.as_bytes(), &mut at) else {
            panic!("not served");
        };
        assert_eq!(&text[head.len..], "GET /next");
        let bytes = Bytes::copy_from_slice(&text.as_bytes()[..head.len]);
        let req = request(&bytes, &head, &at).unwrap();
        assert_eq!(req.uri().path(), "/a/b");
        assert_eq!(req.uri().query(), Some("c"));
        assert_eq!(req.headers()["host"], "h");
        let xa: Vec<_> = req.headers().get_all("x-a").iter().collect();
        assert_eq!(xa, ["1", "2"]);
        assert_eq!(req.version(), http::Version::HTTP_11);
        assert!(req.body().is_end_stream());
    }

    #[test]
    fn chunk_sizes_are_upper_case_hex() {
        let mut line = [0; 18];
        assert_eq!(chunk_size(0, &mut line), b"0\r\n");
        assert_eq!(chunk_size(1, &mut line), b"1\r\n");
        assert_eq!(chunk_size(255, &mut line), b"FF\r\n");
        assert_eq!(chunk_size(0x4_0000, &mut line), b"40000\r\n");
        assert_eq!(chunk_size(usize::MAX, &mut line).len(), 18);
    }

    async fn pair() -> (ZeroCopyStream, TcpStream) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap());
        let (client, accepted) = tokio::join!(client, listener.accept());
        let (stream, _segments) = ZeroCopyStream::new(accepted.unwrap().0);
        (stream, client.unwrap())
    }

    /// What `respond` puts on the wire for `resp`, and whether it keeps the connection.
    async fn wire(
        resp: http::Response<axum::body::Body>,
        head: bool,
        close: bool,
    ) -> (String, bool) {
        let (mut io, mut client) = pair().await;
        let resp = resp.map(EdgeBody::plain);
        let keep = respond(&mut io, &mut Vec::new(), resp, head, close)
            .await
            .unwrap();
        drop(io);
        let mut got = String::new();
        client.read_to_string(&mut got).await.unwrap();
        (got, keep)
    }

    fn without_date(wire: &str) -> String {
        let (head, body) = wire.split_once("\r\n\r\n").unwrap();
        let dates = head.lines().filter(|l| l.starts_with("date: ")).count();
        assert_eq!(dates, 1, "one date header: {head}");
        let head: Vec<&str> = head.lines().filter(|l| !l.starts_with("date: ")).collect();
        format!("{}\r\n\r\n{body}", head.join("\r\n"))
    }

    #[tokio::test]
    async fn responses_are_framed_as_hyper_frames_them() {
        let ok = |body: axum::body::Body| {
            http::Response::builder()
                .header("x-a", "1")
                .body(body)
                .unwrap()
        };
        // A known length.
        let (got, keep) = wire(ok("hello".into()), false, false).await;
        assert_eq!(
            without_date(&got),
            "HTTP/1.1 200 OK\r\nx-a: 1\r\ncontent-length: 5\r\n\r\nhello"
        );
        assert!(keep);
        // An unknown length: chunked, with its terminator.
        let stream = futures_util::stream::iter([
            Ok::<_, io::Error>(Bytes::from("ab")),
            Ok(Bytes::new()),
            Ok(Bytes::from(vec![b'c'; 300])),
        ]);
        let (got, _) = wire(ok(axum::body::Body::from_stream(stream)), false, false).await;
        assert_eq!(
            without_date(&got),
            format!(
                "HTTP/1.1 200 OK\r\nx-a: 1\r\ntransfer-encoding: chunked\r\n\r\n2\r\nab\r\n12C\r\n{}\r\n0\r\n\r\n",
                "c".repeat(300)
            )
        );
        // HEAD: the length of the GET, no body.
        let mut resp = ok(axum::body::Body::empty());
        resp.headers_mut()
            .insert(header::CONTENT_LENGTH, HeaderValue::from(1234));
        let (got, _) = wire(resp, true, false).await;
        assert_eq!(
            without_date(&got),
            "HTTP/1.1 200 OK\r\nx-a: 1\r\ncontent-length: 1234\r\n\r\n"
        );
        // An empty body: `content-length: 0`; a 304: no length at all; a 404 with its reason.
        let (got, _) = wire(ok(axum::body::Body::empty()), false, false).await;
        assert!(
            without_date(&got).ends_with("x-a: 1\r\ncontent-length: 0\r\n\r\n"),
            "{got}"
        );
        let mut resp = ok(axum::body::Body::empty());
        *resp.status_mut() = StatusCode::NOT_MODIFIED;
        let (got, _) = wire(resp, false, false).await;
        assert_eq!(
            without_date(&got),
            "HTTP/1.1 304 Not Modified\r\nx-a: 1\r\n\r\n"
        );
        let mut resp = ok("no".into());
        *resp.status_mut() = StatusCode::NOT_FOUND;
        let (got, _) = wire(resp, false, false).await;
        assert!(got.starts_with("HTTP/1.1 404 Not Found\r\n"), "{got}");
        // A response that has its own date keeps it, alone.
        let mut resp = ok("x".into());
        resp.headers_mut().insert(
            header::DATE,
            HeaderValue::from_static("Tue, 02 Jan 2024 03:04:05 GMT"),
        );
        let (got, _) = wire(resp, false, false).await;
        assert!(
            got.contains("date: Tue, 02 Jan 2024 03:04:05 GMT\r\n"),
            "{got}"
        );
    }

    #[tokio::test]
    async fn connection_close_is_said_and_kept() {
        let (got, keep) = wire(http::Response::new("x".into()), false, true).await;
        assert!(!keep);
        assert!(got.contains("\r\nconnection: close\r\n"), "{got}");
        let resp = http::Response::builder()
            .header(header::CONNECTION, "close")
            .body("x".into())
            .unwrap();
        let (got, keep) = wire(resp, false, false).await;
        assert!(!keep, "the response's own close");
        assert_eq!(got.matches("close").count(), 1, "{got}");
    }

    #[tokio::test]
    async fn a_body_shorter_than_its_length_fails_the_response() {
        let (mut io, _client) = pair().await;
        let stream = futures_util::stream::iter([Ok::<_, io::Error>(Bytes::from("ab"))]);
        let resp = http::Response::builder()
            .header(header::CONTENT_LENGTH, "5")
            .body(axum::body::Body::from_stream(stream))
            .unwrap()
            .map(EdgeBody::plain);
        assert!(
            respond(&mut io, &mut Vec::new(), resp, false, false)
                .await
                .is_err()
        );
    }

    #[test]
    fn the_date_is_an_http_date_of_now() {
        let date = now_date();
        let text = std::str::from_utf8(&date).unwrap();
        let parsed = httpdate::parse_http_date(text).unwrap();
        let age = std::time::SystemTime::now().duration_since(parsed).unwrap();
        assert!(age < Duration::from_secs(2), "{text}");
    }

    /// Every head the lane serves builds a request or is handed over; nothing panics.
    fn check(bytes: &[u8]) -> Result<(), proptest::test_runner::TestCaseError> {
        let mut at = Vec::new();
        if let Verdict::Serve(head) = inspect(bytes, &mut at) {
            proptest::prop_assert!(head.len <= bytes.len());
            let bytes = Bytes::copy_from_slice(&bytes[..head.len]);
            if let Some(req) = request(&bytes, &head, &at) {
                proptest::prop_assert!(matches!(*req.method(), Method::GET | Method::HEAD));
                proptest::prop_assert!(req.uri().scheme().is_none());
                proptest::prop_assert!(!req.headers().contains_key(header::TRANSFER_ENCODING));
                proptest::prop_assert!(
                    req.headers()
                        .get_all(header::CONTENT_LENGTH)
                        .iter()
                        .all(|v| v == "0")
                );
            }
        }
        Ok(())
    }

    const SAMPLES: &[&str] = &[
        "GET /maven/org/a/1.0/a-1.0.jar HTTP/1.1\r\nHost: localhost:8080\r\nUser-Agent: Apache-Maven/3.9\r\nAccept-Encoding: gzip\r\nConnection: keep-alive\r\n\r\n",
        "HEAD /pypi/simple/requests/ HTTP/1.1\r\nhost: h\r\nContent-Length: 0\r\nconnection: close\r\n\r\nGET / HTTP/1.1\r\n\r\n",
        "POST /npm/-/npm/v1/security/audits HTTP/1.1\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n{}",
    ];

    proptest::proptest! {
        #![proptest_config(crate::fuzz::config())]

        #[test]
        fn mutated_heads_are_served_or_handed_over(text in crate::fuzz::mutated(SAMPLES)) {
            check(text.as_bytes())?;
        }

        #[test]
        fn random_bytes_are_served_or_handed_over(bytes in crate::fuzz::bytes()) {
            check(&bytes)?;
        }
    }
}
