//! Zero-copy file bodies: the bytes of a cached file, and of a file a fill is still writing, go
//! from the page cache to the socket with `sendfile`, never through a buffer of ours.
//!
//! A client tailing a fill ([`growing_body`]) is sent each stretch of the staged file as far as
//! the fill allows (`respond::tail_limits`: what is written, and the last byte only once the
//! body is verified). The staged file only grows (a resumed transfer appends, another upstream
//! starts a new file) so a stretch queued for the socket keeps its bytes even when the fill
//! fails after it: that fill's clients are cut off at their next stretch, short of the last
//! byte. What the fill has just written is in the page cache, so the probe below finds it there.
//!
//! hyper writes only bytes it holds, so the file is sent *under* hyper, by the connection's IO
//! ([`ZeroCopyStream`], plain TCP on Linux only). A file body on such a connection yields, for
//! each stretch of the file, a placeholder: a [`Bytes`] pointing into the private, never written
//! [`PLACEHOLDER`], of the stretch's length (so hyper counts it against `Content-Length` like any
//! chunk), after queueing the stretch (a [`Segment`]) for the connection. hyper queues body
//! chunks as they are (`writev(true)`, its `WriteStrategy::Queue`) and hands them to
//! [`ZeroCopyStream::poll_write_vectored`], which writes ordinary slices with `writev` and sends
//! the file stretch in place of a placeholder slice.
//!
//! Placeholder bytes must never reach a client, hence three rules:
//! - A body produces placeholders only once the edge has *attached* it ([`attach`]), after the
//!   router is done with the response: code that reads a response body inside the router (a
//!   group merging its members' answers) reads real bytes. The edge attaches only HTTP/1 responses
//!   on a [`ZeroCopyStream`]; HTTP/2 (h2c shares the port) and TLS keep the chunk path.
//! - Between the body and hyper sits [`EdgeBody`], which checks that every placeholder arrives
//!   unaltered and in order (its offset in [`PLACEHOLDER`] is a tag, its length the stretch's)
//!   before it moves the stretch to the connection's queue: a layer that copied, cut or dropped a
//!   chunk fails the response instead of sending zeros.
//! - The IO sends a placeholder slice only when it is exactly the rest of the first queued
//!   stretch; anything else, or a file shorter than the stretch, is an error that aborts the
//!   connection (the client sees a body shorter than its `Content-Length`).
//!
//! `sendfile` blocks the calling thread while the disk reads. A stretch is therefore sent this way
//! only when a `RWF_NOWAIT` probe finds its first and last byte in the page cache
//! (`store/chunks.rs`; a probe that found a stretch cached stands for it 100 ms); otherwise that
//! stretch is read into a pooled buffer as before, with the part that is not cached read on the
//! blocking pool.

use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, ready};

use axum::response::Response;
use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use futures_util::stream::BoxStream;
use hyper::body::{Frame, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use crate::repository::Notes;
use crate::store;

/// Whether this platform sends files this way (`sendfile` as rustix offers it: Linux).
pub(crate) const AVAILABLE: bool = cfg!(target_os = "linux");

/// The longest stretch of a file one placeholder stands for (the read path's chunk size).
const SEGMENT: usize = store::Body::CHUNK;
/// Placeholders start at one of this many offsets, which tells one from the next.
const TAGS: usize = 4096;
/// What one round of `sendfile` moves: Linux splices through a pipe of 16 buffers, one page each
/// (4 KiB pages on the machines that matter here).
const SENDFILE_ROUND: usize = 16 * 4096;
/// What placeholders point into. Never written (it is immutable) and never read by us, so its
/// pages are never faulted in: it costs address space, not memory.
static PLACEHOLDER: [u8; SEGMENT + TAGS] = [0; SEGMENT + TAGS];
static NEXT_TAG: AtomicUsize = AtomicUsize::new(0);

/// Where `slice` starts in [`PLACEHOLDER`], if it points into it.
fn placeholder_at(slice: &[u8]) -> Option<usize> {
    let base = PLACEHOLDER.as_ptr() as usize;
    let at = (slice.as_ptr() as usize).wrapping_sub(base);
    (at < PLACEHOLDER.len() && !slice.is_empty()).then_some(at)
}

/// A stretch of an open file to send in place of the placeholder at `tag`.
struct Segment {
    file: store::Body,
    offset: u64,
    len: usize,
    tag: usize,
    /// Bytes of it sent so far.
    sent: usize,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn broken(why: &'static str) -> io::Error {
    io::Error::other(format!("zero-copy body: {why}"))
}

/// A connection's queue of file stretches, in the order hyper holds their placeholders.
#[derive(Default)]
pub(crate) struct Segments(Mutex<VecDeque<Segment>>);

/// A plain TCP connection that sends file stretches in place of placeholder slices.
pub(crate) struct ZeroCopyStream {
    tcp: TcpStream,
    segments: Arc<Segments>,
    /// Bytes of a response head the kernel holds back (`MSG_MORE`) for the stretch that follows.
    corked: usize,
}

impl ZeroCopyStream {
    /// The stream, and the queue its responses' bodies fill ([`attach`]).
    pub(crate) fn new(tcp: TcpStream) -> (ZeroCopyStream, Arc<Segments>) {
        let segments = Arc::new(Segments::default());
        let stream = ZeroCopyStream {
            tcp,
            segments: segments.clone(),
            corked: 0,
        };
        (stream, segments)
    }

    /// Sends (part of) the first queued stretch for the placeholder `slice` at `at`.
    fn poll_send(
        &mut self,
        cx: &mut Context<'_>,
        slice: &[u8],
        at: usize,
    ) -> Poll<io::Result<usize>> {
        let mut queue = lock(&self.segments.0);
        let Some(seg) = queue.front_mut() else {
            return Poll::Ready(Err(broken("a placeholder with no file segment")));
        };
        if at != seg.tag + seg.sent || slice.len() != seg.len - seg.sent {
            return Poll::Ready(Err(broken(
                "a placeholder that is not the next file segment",
            )));
        }
        let Some(file) = seg.file.local_file() else {
            return Poll::Ready(Err(broken("a segment of a body that is not a file")));
        };
        let len = first_send(self.corked, slice.len());
        loop {
            ready!(self.tcp.poll_write_ready(cx))?;
            let mut offset = seg.offset + seg.sent as u64;
            match self.tcp.try_io(tokio::io::Interest::WRITABLE, || {
                send_file(&self.tcp, file, &mut offset, len)
            }) {
                Ok(0) => return Poll::Ready(Err(broken("the file is shorter than its entry"))),
                Ok(n) => {
                    self.corked = 0;
                    seg.sent += n;
                    if seg.sent == seg.len {
                        queue.pop_front();
                    }
                    return Poll::Ready(Ok(n));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

/// How much of a `len`-byte stretch to send first when `corked` bytes of head wait for it: up to
/// the end of `sendfile`'s first round, so the first call ends with head and 64 KiB pushed and the
/// rest follows in a second call. Measured, not derived (docs/performance.md, "BBR's start-up
/// and the first send"): with head and body in one call, 96% of 256 loopback connections left
/// BBR's start-up within their first responses and paced every later one; ended at the first
/// round, 52-79% stayed (a synthetic server with the same pattern: 98-100%, like nginx's head
/// written alone). A 100 KB hit at 256 connections costs 17% less CPU; one more system call
/// costs 2-5 µs a hit at one connection.
fn first_send(corked: usize, len: usize) -> usize {
    if (1..SENDFILE_ROUND).contains(&corked) {
        len.min(SENDFILE_ROUND - corked)
    } else {
        len
    }
}

#[cfg(target_os = "linux")]
fn send_file(
    socket: &TcpStream,
    file: &std::fs::File,
    offset: &mut u64,
    len: usize,
) -> io::Result<usize> {
    rustix::fs::sendfile(socket, file, Some(offset), len).map_err(io::Error::from)
}

#[cfg(not(target_os = "linux"))]
fn send_file(
    _socket: &TcpStream,
    _file: &std::fs::File,
    _offset: &mut u64,
    _len: usize,
) -> io::Result<usize> {
    Err(io::Error::from(io::ErrorKind::Unsupported))
}

/// Writes `bufs` (a response head) with `MSG_MORE`: the kernel holds them until the file
/// stretch that follows, so head and body leave in the same segments instead of the head alone.
#[cfg(target_os = "linux")]
fn send_more(socket: &TcpStream, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
    use rustix::net::{SendAncillaryBuffer, SendFlags, sendmsg};
    let mut control = SendAncillaryBuffer::default();
    sendmsg(socket, bufs, &mut control, SendFlags::MORE).map_err(io::Error::from)
}

#[cfg(not(target_os = "linux"))]
fn send_more(_socket: &TcpStream, _bufs: &[IoSlice<'_>]) -> io::Result<usize> {
    Err(io::Error::from(io::ErrorKind::Unsupported))
}

impl AsyncRead for ZeroCopyStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_read(cx, buf)
    }
}

impl AsyncWrite for ZeroCopyStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_vectored(cx, &[IoSlice::new(buf)])
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let Some(first) = bufs.iter().position(|b| !b.is_empty()) else {
            return Poll::Ready(Ok(0));
        };
        let bufs = &bufs[first..];
        if let Some(at) = placeholder_at(&bufs[0]) {
            return this.poll_send(cx, &bufs[0], at);
        }
        if lock(&this.segments.0).front().is_some_and(|s| s.sent > 0) {
            return Poll::Ready(Err(broken("bytes between the parts of a file segment")));
        }
        let Some(plain) = bufs.iter().position(|b| placeholder_at(b).is_some()) else {
            this.corked = 0; // a plain write pushes what was held back
            return Pin::new(&mut this.tcp).poll_write_vectored(cx, bufs);
        };
        // A file stretch follows: the plain bytes (a response head) wait for it in the kernel.
        loop {
            ready!(this.tcp.poll_write_ready(cx))?;
            match this.tcp.try_io(tokio::io::Interest::WRITABLE, || {
                send_more(&this.tcp, &bufs[..plain])
            }) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Ok(n) => {
                    this.corked += n;
                    return Poll::Ready(Ok(n));
                }
                result => return Poll::Ready(result),
            }
        }
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_shutdown(cx)
    }
}

/// What a file body and the edge share: whether the body may yield placeholders, and the
/// stretch it yielded one for that the edge has not passed on yet.
#[derive(Default)]
struct Offer {
    attached: AtomicBool,
    /// One at a time (a queue was an allocation a hit): the edge takes each as it passes, and
    /// while one waits (a layer holding a frame back) the body reads its bytes instead.
    yielded: Mutex<Option<Segment>>,
}

/// A response extension: the response's body is a [`FileBody`] that can send by placeholder.
#[derive(Clone)]
pub(crate) struct ZeroCopy(Arc<Offer>);

/// The bytes `[start, end)` of a file body as a response body, and the extension that lets the
/// edge attach it; until then (and when it never is) it reads chunks like any file body.
pub(crate) fn file_body(file: store::Body, start: u64, end: u64) -> (axum::body::Body, ZeroCopy) {
    body_of(file, start, end, None, None)
}

/// The bytes from `start` of a body a fill is still writing: `limits` yields how far it may be
/// read each time that grows (`respond::tail_limits`: what is written and, for the last byte,
/// verified) and ends with the body; an error there ends the response short. `len` is where the
/// body ends when known. A file body on an attached connection sends each stretch written so
/// far with `sendfile`, like a hit: the page cache holds what the fill just wrote.
pub(crate) fn growing_body(
    file: store::Body,
    start: u64,
    len: Option<u64>,
    limits: BoxStream<'static, io::Result<u64>>,
) -> (axum::body::Body, ZeroCopy) {
    body_of(file, start, start, Some(limits), len)
}

fn body_of(
    file: store::Body,
    start: u64,
    end: u64,
    more: Option<BoxStream<'static, io::Result<u64>>>,
    len: Option<u64>,
) -> (axum::body::Body, ZeroCopy) {
    let offer = Arc::new(Offer::default());
    let body = FileBody {
        file,
        pos: start,
        end,
        more,
        len,
        offer: offer.clone(),
        reading: None,
    };
    (axum::body::Body::new(body), ZeroCopy(offer))
}

/// Lets a response leaving the router on a zero-copy HTTP/1 connection send its file body by
/// placeholder (when it has one), checked by its [`EdgeBody`].
pub(crate) fn attach(mut resp: Response, segments: &Arc<Segments>) -> http::Response<EdgeBody> {
    let zero_copy = resp
        .extensions_mut()
        .get_mut::<Notes>()
        .and_then(|notes| notes.zero_copy.take());
    let Some(ZeroCopy(offer)) = zero_copy else {
        return resp.map(EdgeBody::plain);
    };
    offer.attached.store(true, Ordering::Release);
    let segments = segments.clone();
    resp.map(|inner| EdgeBody {
        inner,
        attached: Some((offer, segments)),
    })
}

/// A file's bytes `[pos, end)`: placeholders once attached, where the page cache holds them;
/// chunks read into buffers otherwise. A growing file's `end` moves as `more` says.
struct FileBody {
    file: store::Body,
    pos: u64,
    end: u64,
    /// The ends to come, for a file still being written; `None` once it ended.
    more: Option<BoxStream<'static, io::Result<u64>>>,
    /// Where a growing file's body ends, when known.
    len: Option<u64>,
    offer: Arc<Offer>,
    reading: Option<BoxFuture<'static, io::Result<Bytes>>>,
}

impl hyper::body::Body for FileBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let this = self.get_mut();
        loop {
            if let Some(reading) = &mut this.reading {
                let chunk = ready!(reading.as_mut().poll(cx));
                this.reading = None;
                return Poll::Ready(Some(match chunk {
                    Ok(chunk) => {
                        this.pos += chunk.len() as u64;
                        Ok(Frame::data(chunk))
                    }
                    Err(e) => {
                        this.pos = this.end;
                        Err(e)
                    }
                }));
            }
            if this.pos >= this.end {
                let Some(more) = &mut this.more else {
                    return Poll::Ready(None);
                };
                match ready!(more.poll_next_unpin(cx)) {
                    Some(Ok(end)) => {
                        this.end = this.end.max(end);
                        continue;
                    }
                    Some(Err(e)) => {
                        this.more = None;
                        return Poll::Ready(Some(Err(e)));
                    }
                    None => {
                        this.more = None;
                        return Poll::Ready(None);
                    }
                }
            }
            let len = (this.end - this.pos).min(SEGMENT as u64) as usize;
            if this.offer.attached.load(Ordering::Acquire) && this.file.is_cached(this.pos, len) {
                let mut yielded = lock(&this.offer.yielded);
                if yielded.is_none() {
                    let tag = NEXT_TAG.fetch_add(1, Ordering::Relaxed) % TAGS;
                    *yielded = Some(Segment {
                        file: this.file.clone(),
                        offset: this.pos,
                        len,
                        tag,
                        sent: 0,
                    });
                    drop(yielded);
                    this.pos += len as u64;
                    let placeholder = Bytes::from_static(&PLACEHOLDER[tag..tag + len]);
                    return Poll::Ready(Some(Ok(Frame::data(placeholder))));
                }
            }
            let (file, pos) = (this.file.clone(), this.pos);
            this.reading = Some(Box::pin(
                async move { file.read_some(pos, len as u64).await },
            ));
        }
    }

    fn is_end_stream(&self) -> bool {
        self.more.is_none() && self.pos >= self.end && self.reading.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        match (&self.more, self.len) {
            (None, _) => SizeHint::with_exact(self.end.saturating_sub(self.pos)),
            (Some(_), Some(len)) => SizeHint::with_exact(len.saturating_sub(self.pos)),
            (Some(_), None) => SizeHint::default(),
        }
    }
}

/// Every response body as the edge hands it to hyper: the response's own body (not boxed
/// again: that was an allocation a hit). An attached file body's frames pass through it, and each
/// placeholder's stretch goes to the connection once it is sure the placeholder is the one the
/// file body yielded.
pub(crate) struct EdgeBody {
    inner: axum::body::Body,
    /// The attached body's offer and the connection's queue of stretches.
    attached: Option<(Arc<Offer>, Arc<Segments>)>,
}

impl EdgeBody {
    /// A body with no placeholders to check.
    pub(crate) fn plain(inner: axum::body::Body) -> EdgeBody {
        EdgeBody {
            inner,
            attached: None,
        }
    }
}

impl hyper::body::Body for EdgeBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = self.get_mut();
        let frame = ready!(Pin::new(&mut this.inner).poll_frame(cx));
        if let Some((offer, segments)) = &this.attached
            && let Some(Ok(frame)) = &frame
            && let Some(data) = frame.data_ref()
        {
            let mut yielded = lock(&offer.yielded);
            match placeholder_at(data) {
                Some(at) => match yielded.take() {
                    Some(seg) if seg.tag == at && seg.len == data.len() => {
                        lock(&segments.0).push_back(seg);
                    }
                    _ => return Poll::Ready(Some(Err(axum::Error::new(altered())))),
                },
                None if yielded.is_some() => {
                    return Poll::Ready(Some(Err(axum::Error::new(altered()))));
                }
                None => {}
            }
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

fn altered() -> io::Error {
    broken("a layer altered a placeholder between the file body and hyper")
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn file_of(data: &[u8]) -> store::Body {
        let mut file = tempfile::tempfile().unwrap();
        io::Write::write_all(&mut file, data).unwrap();
        store::Body::File(Arc::new(file))
    }

    fn data(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i % 251) as u8 + 1).collect()
    }

    /// Writes a head (may be empty) and one body chunk as hyper and the lane do: both in each
    /// vectored write, until nothing is left. The size of each write.
    async fn write_like_hyper(stream: &mut ZeroCopyStream, head: &[u8], data: &[u8]) -> Vec<usize> {
        let (mut head, mut data) = (head, data);
        let mut writes = Vec::new();
        while !data.is_empty() {
            let n = std::future::poll_fn(|cx| {
                let bufs = [IoSlice::new(head), IoSlice::new(data)];
                Pin::new(&mut *stream).poll_write_vectored(cx, &bufs)
            })
            .await
            .unwrap();
            let from_head = n.min(head.len());
            head = &head[from_head..];
            data = &data[n - from_head..];
            writes.push(n);
        }
        writes
    }

    async fn pair() -> (ZeroCopyStream, Arc<Segments>, TcpStream) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap());
        let (client, accepted) = tokio::join!(client, listener.accept());
        let (stream, segments) = ZeroCopyStream::new(accepted.unwrap().0);
        (stream, segments, client.unwrap())
    }

    #[tokio::test]
    async fn a_placeholder_with_no_segment_is_an_error() {
        let (mut stream, _segments, _client) = pair().await;
        let err = stream.write_all(&PLACEHOLDER[..10]).await.unwrap_err();
        assert!(err.to_string().contains("no file segment"), "{err}");
    }

    #[tokio::test]
    async fn an_attached_body_sends_the_file_through_the_stream() {
        let want = data(600_000);
        let (mut stream, segments, mut client) = pair().await;
        let (body, offer) = file_body(file_of(&want), 1, 600_000);
        let mut resp = Response::new(body);
        crate::repository::notes(&mut resp).zero_copy = Some(offer);
        let mut body = attach(resp, &segments).into_body();
        let reader = tokio::spawn(async move {
            let mut got = vec![0; 599_999 + 5];
            client.read_exact(&mut got).await.unwrap();
            got
        });
        stream.write_all(b"head:").await.unwrap();
        let mut placeholders = 0;
        while let Some(frame) = body.frame().await {
            let data = frame.unwrap().into_data().unwrap();
            placeholders += usize::from(placeholder_at(&data).is_some());
            write_like_hyper(&mut stream, b"", &data).await;
        }
        assert_eq!(placeholders, 3, "all of it by sendfile");
        let got = reader.await.unwrap();
        assert_eq!(&got[..5], b"head:");
        assert!(
            got[5..] == want[1..],
            "the file's bytes, not the placeholder's"
        );
        assert!(lock(&segments.0).is_empty());
    }

    /// hyper hands a response head and the first placeholder over in one vectored write: the head
    /// is held back, the first `sendfile` ends where its first round does, the rest follows in
    /// the next, and the bytes are exact.
    #[tokio::test]
    async fn a_held_back_head_and_the_first_send_fill_one_sendfile_round() {
        let want = data(100_000);
        let head = b"HTTP/1.1 200 OK\r\n\r\n";
        let (mut stream, segments, mut client) = pair().await;
        let (body, offer) = file_body(file_of(&want), 0, 100_000);
        let mut resp = Response::new(body);
        crate::repository::notes(&mut resp).zero_copy = Some(offer);
        let mut body = attach(resp, &segments).into_body();
        let placeholder = body.frame().await.unwrap().unwrap().into_data().unwrap();
        assert!(body.frame().await.is_none(), "one placeholder for 100 KB");
        let reader = tokio::spawn(async move {
            let mut got = vec![0; head.len() + 100_000];
            client.read_exact(&mut got).await.unwrap();
            got
        });
        let writes = write_like_hyper(&mut stream, head, &placeholder).await;
        assert_eq!(writes[..2], [head.len(), SENDFILE_ROUND - head.len()]);
        assert_eq!(writes.iter().sum::<usize>(), head.len() + 100_000);
        let got = reader.await.unwrap();
        assert_eq!(&got[..head.len()], head);
        assert!(got[head.len()..] == want[..], "the file's bytes");
        // A plain write pushes the held-back bytes: the next stretch is not cut short.
        stream.corked = 7;
        stream.write_all(b"x").await.unwrap();
        assert_eq!(stream.corked, 0);
    }

    #[test]
    fn only_a_held_back_head_cuts_the_first_send_short() {
        assert_eq!(first_send(0, 100_000), 100_000);
        assert_eq!(first_send(300, 100_000), SENDFILE_ROUND - 300);
        assert_eq!(first_send(300, 1_000), 1_000);
        assert_eq!(first_send(SENDFILE_ROUND, 100_000), 100_000);
        assert_eq!(first_send(SENDFILE_ROUND + 1, 100_000), 100_000);
    }

    /// A body of a file still being written: placeholders up to each limit as it comes (one
    /// per stretch of at most a segment), the file's bytes on the socket, and an error of the
    /// limits (a failed fill) ends the body with that error after what was sent.
    #[tokio::test]
    async fn a_growing_body_sends_each_stretch_as_far_as_its_limits_allow() {
        let want = data(600_000);
        for fails in [false, true] {
            let (mut stream, segments, mut client) = pair().await;
            let limits: Vec<io::Result<u64>> = match fails {
                false => vec![Ok(100_000), Ok(300_000), Ok(600_000)],
                true => vec![Ok(100_000), Err(io::Error::other("fill failed"))],
            };
            let limits = Box::pin(futures_util::stream::iter(limits));
            let (body, offer) = growing_body(file_of(&want), 0, Some(600_000), limits);
            let mut resp = Response::new(body);
            crate::repository::notes(&mut resp).zero_copy = Some(offer);
            let mut body = attach(resp, &segments).into_body();
            let mut lens = Vec::new();
            let mut failed = false;
            while let Some(frame) = body.frame().await {
                let Ok(frame) = frame else {
                    failed = true;
                    break;
                };
                let data = frame.into_data().unwrap();
                assert!(placeholder_at(&data).is_some(), "all of it by sendfile");
                lens.push(data.len());
                write_like_hyper(&mut stream, b"", &data).await;
            }
            drop(stream);
            let mut got = Vec::new();
            client.read_to_end(&mut got).await.unwrap();
            assert_eq!(failed, fails);
            if fails {
                assert_eq!(lens, [100_000]);
            } else {
                assert_eq!(lens, [100_000, 200_000, SEGMENT, 300_000 - SEGMENT]);
            }
            assert!(got == want[..got.len()], "the file's bytes");
            assert_eq!(got.len(), lens.iter().sum::<usize>());
        }
    }

    #[tokio::test]
    async fn an_unattached_body_reads_real_bytes() {
        let want = data(300_000);
        let (body, _offer) = file_body(file_of(&want), 0, 300_000);
        let got = body.collect().await.unwrap().to_bytes();
        assert!(got == want[..]);
    }

    #[tokio::test]
    async fn a_copied_placeholder_fails_the_body_instead_of_sending_zeros() {
        let want = data(100_000);
        let (_stream, segments, _client) = pair().await;
        let (body, offer) = file_body(file_of(&want), 0, 100_000);
        // A layer that copies every chunk, between the file body and the edge.
        let copied = axum::body::Body::from_stream(
            body.into_data_stream()
                .map_ok(|chunk| Bytes::copy_from_slice(&chunk)),
        );
        let mut resp = Response::new(copied);
        crate::repository::notes(&mut resp).zero_copy = Some(offer);
        let mut body = attach(resp, &segments).into_body();
        let err = body.frame().await.unwrap().unwrap_err();
        assert!(err.to_string().contains("altered"), "{err}");
        assert!(
            lock(&segments.0).is_empty(),
            "nothing queued for the socket"
        );
    }

    #[tokio::test]
    async fn a_placeholder_that_is_not_the_next_segment_is_an_error() {
        let want = data(10_000);
        let (mut stream, segments, _client) = pair().await;
        lock(&segments.0).push_back(Segment {
            file: file_of(&want),
            offset: 0,
            len: 10_000,
            tag: 7,
            sent: 0,
        });
        let err = stream.write_all(&PLACEHOLDER[8..10_008]).await.unwrap_err();
        assert!(err.to_string().contains("not the next"), "{err}");
        let err = stream.write_all(&PLACEHOLDER[7..100]).await.unwrap_err();
        assert!(err.to_string().contains("not the next"), "{err}");
    }

    #[tokio::test]
    async fn a_file_shorter_than_its_segment_is_an_error() {
        let (mut stream, segments, _client) = pair().await;
        lock(&segments.0).push_back(Segment {
            file: file_of(&data(10)),
            offset: 0,
            len: 20,
            tag: 0,
            sent: 0,
        });
        let err = stream.write_all(&PLACEHOLDER[..20]).await.unwrap_err();
        assert!(err.to_string().contains("shorter"), "{err}");
    }

    use futures_util::TryStreamExt;
}
