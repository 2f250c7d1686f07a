//! The connection edge below the request handling ([`Front`]): what happens between `accept`
//! and the first request reaching it. Each connection takes a slot of its client address
//! ([`PerAddress`], so one address cannot hold every socket), is wrapped in TLS when `[server]
//! tls_cert`/`tls_key` are set ([`tls_acceptor`]), and is served by hyper (HTTP/1.1 with a
//! header-read timeout on a timer of the connection's own ([`timer`]), or HTTP/2) with the peer
//! address handed to [`Front`] with every request. A plain TCP connection on Linux
//! sends cached files' bytes with `sendfile` ([`zerocopy`]) and is served by the HTTP/1.1 fast
//! lane ([`h1`]) until a request needs hyper.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::TlsAcceptor;

use crate::server::{Front, StartError};

mod h1;
mod rewind;
mod timer;
pub(crate) mod zerocopy;

pub(crate) use h1::Lane;
pub(crate) use timer::ConnTimer;

/// hyper's HTTP/1 buffer limit: it reads request heads up to this size (a larger head is
/// answered 431) and keeps polling a response body for more chunks while less than this is
/// queued for the socket. Its default (about 400 KiB) let each connection of a busy server hold
/// that much of a file body in memory; with this, a connection holds at most this plus one chunk
/// (`store/chunks.rs`), so memory stays near nginx's at hundreds of connections.
pub(crate) const HTTP1_MAX_BUF: usize = 16 * 1024;

/// A request's body as [`Front`] takes it: hyper's, or none (a request of the fast lane).
/// One type, not a generic, so the router is compiled once.
pub(crate) enum RequestBody {
    Hyper(hyper::body::Incoming),
    Empty,
}

impl hyper::body::Body for RequestBody {
    type Data = bytes::Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<bytes::Bytes>, hyper::Error>>> {
        match self.get_mut() {
            RequestBody::Hyper(body) => std::pin::Pin::new(body).poll_frame(cx),
            RequestBody::Empty => std::task::Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            RequestBody::Hyper(body) => body.is_end_stream(),
            RequestBody::Empty => true,
        }
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        match self {
            RequestBody::Hyper(body) => body.size_hint(),
            RequestBody::Empty => hyper::body::SizeHint::with_exact(0),
        }
    }
}

/// [`Front`] as a hyper service that gives it every request's peer address. On a
/// [`zerocopy::ZeroCopyStream`] (its queue is `segments`), file bodies of HTTP/1 responses are
/// attached to it.
pub(crate) fn with_peer(
    front: Front,
    peer: SocketAddr,
    segments: Option<Arc<zerocopy::Segments>>,
) -> impl hyper::service::Service<
    http::Request<hyper::body::Incoming>,
    Response = http::Response<zerocopy::EdgeBody>,
    Error = std::convert::Infallible,
    Future = impl Future<Output = Result<http::Response<zerocopy::EdgeBody>, std::convert::Infallible>>
             + Send,
> + Clone
+ Send
+ 'static {
    hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
        // h2c shares the port: an HTTP/2 response keeps the chunk path.
        let segments = segments.clone().filter(|_| {
            matches!(
                req.version(),
                http::Version::HTTP_10 | http::Version::HTTP_11
            )
        });
        let resp = front.call(req.map(RequestBody::Hyper), peer);
        async move {
            let resp = resp.await;
            Ok(match &segments {
                Some(segments) => zerocopy::attach(resp, segments),
                None => resp.map(zerocopy::EdgeBody::plain),
            })
        }
    })
}

/// Serves one plain TCP connection: where the platform has zero-copy, in the fast lane until a
/// request needs hyper (`watcher` held meanwhile, so a graceful stop waits for it).
pub(crate) async fn serve_plain(
    builder: &auto::Builder<TokioExecutor>,
    watcher: hyper_util::server::graceful::Watcher,
    tcp: tokio::net::TcpStream,
    front: Front,
    peer: SocketAddr,
    lane: &Lane,
) {
    if zerocopy::AVAILABLE {
        let (io, segments) = zerocopy::ZeroCopyStream::new(tcp);
        let (io, read) = match h1::serve(io, &segments, &front, peer, lane).await {
            h1::Exit::Closed => return,
            h1::Exit::HandOff(io, read) => (io, read),
        };
        let io = rewind::Rewind::new(read, io);
        serve_connection(builder, watcher, io, with_peer(front, peer, Some(segments))).await;
    } else {
        serve_connection(builder, watcher, tcp, with_peer(front, peer, None)).await;
    }
}

/// Serves one connection (HTTP/1.1 or HTTP/2) until it closes or the server stops.
pub(crate) async fn serve_connection<I, S>(
    builder: &auto::Builder<TokioExecutor>,
    watcher: hyper_util::server::graceful::Watcher,
    io: I,
    service: S,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: hyper::service::Service<
            http::Request<hyper::body::Incoming>,
            Response = http::Response<zerocopy::EdgeBody>,
            Error = std::convert::Infallible,
        > + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    let conn = builder.serve_connection(TokioIo::new(io), service);
    if let Err(e) = watcher.watch(conn).await {
        tracing::debug!("connection ended: {e}");
    }
}

/// Open connections per client address.
pub(crate) struct PerAddress {
    max: usize,
    open: Mutex<HashMap<IpAddr, usize>>,
    last_refusal_logged: Mutex<Option<Instant>>,
}

/// One connection's place in [`PerAddress`]; given back when dropped.
pub(crate) struct Slot {
    limit: Arc<PerAddress>,
    ip: IpAddr,
}

impl PerAddress {
    pub(crate) fn new(max: usize) -> PerAddress {
        PerAddress {
            max,
            open: Mutex::default(),
            last_refusal_logged: Mutex::default(),
        }
    }

    /// True at most once a second, for the "refusing connections" log line.
    pub(crate) fn may_log_refusal(&self) -> bool {
        let mut last = self
            .last_refusal_logged
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if last.is_some_and(|at| at.elapsed() < Duration::from_secs(1)) {
            return false;
        }
        *last = Some(Instant::now());
        true
    }

    /// A slot for one more connection from `ip`, or `None` when it holds `max` already.
    pub(crate) fn take(self: &Arc<Self>, ip: IpAddr) -> Option<Slot> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let n = open.entry(ip).or_default();
        if *n >= self.max {
            return None;
        }
        *n += 1;
        Some(Slot {
            limit: self.clone(),
            ip,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.limit.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = open.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

/// The TLS acceptor for `tls_cert`/`tls_key`, with the crypto provider reqwest uses
/// (aws-lc-rs). Both or neither must be set.
pub(crate) fn tls_acceptor(
    server: &crate::config::ServerConfig,
) -> Result<Option<TlsAcceptor>, StartError> {
    use tokio_rustls::rustls;
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let (cert, key) = match (&server.tls_cert, &server.tls_key) {
        (None, None) => return Ok(None),
        (Some(cert), Some(key)) => (cert, key),
        (Some(cert), None) => {
            return Err(StartError::Tls {
                key: "tls_cert",
                path: cert.clone(),
                why: "`tls_key` is not set; set both or neither".into(),
            });
        }
        (None, Some(key)) => {
            return Err(StartError::Tls {
                key: "tls_key",
                path: key.clone(),
                why: "`tls_cert` is not set; set both or neither".into(),
            });
        }
    };
    let bad = |key: &'static str, path: &Path, why: String| StartError::Tls {
        key,
        path: path.to_owned(),
        why,
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<_, _>>())
        .map_err(|e| {
            bad(
                "tls_cert",
                cert,
                format!("{e} (expected a PEM certificate chain)"),
            )
        })?;
    if certs.is_empty() {
        return Err(bad(
            "tls_cert",
            cert,
            "no PEM certificate in the file".into(),
        ));
    }
    let private = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| bad("tls_key", key, format!("{e} (expected a PEM private key)")))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| bad("tls_cert", cert, e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, private)
        .map_err(|e| {
            bad(
                "tls_key",
                key,
                format!("{e} (does the key match the certificate?)"),
            )
        })?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Some(TlsAcceptor::from(Arc::new(config))))
}
