//! One upstream repository: its HTTP client (own timeouts, proxy and credentials) and how a
//! response from it is judged.
//!
//! The client never decompresses: repox stores and forwards bytes exactly as the origin sent
//! them, so digests and `Content-Length` stay true.
//!
//! Where the client may go is fenced by `fence.rs`: its redirect policy and DNS resolver are
//! installed here, and [`Upstream::url_for`] / [`Upstream::allows`] apply its rules.
//!
//! TLS: every client verifies upstream certificates with the platform's roots. `[server]
//! ca_certificates` (a TLS-inspecting corporate proxy, an internal Nexus behind a private CA)
//! adds the CA certificates of its PEM file for every upstream, and an upstream's own
//! `ca_certificates` adds those of its file on top: trust only ever grows, so naming a file
//! for one upstream never takes the corporate CA away from it. The same trust covers the
//! upstream's `proxy`: a tunnel through an HTTP proxy carries TLS to the upstream, checked by
//! the same settings. The TLS settings are built once per process and per distinct set of CA
//! file contents, not once per client (see [`shared_tls`]).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use http::{HeaderMap, StatusCode, header};
use percent_encoding::percent_decode_str;
use tokio_rustls::rustls;
use url::Url;

use crate::breaker::Breaker;
use crate::config::UpstreamConfig;
pub use crate::fence::OutsideBase;
use crate::fence::{GuardedDns, Reach, push_under, redirect_allowed};
use crate::path::RepoPath;

/// An upstream with a ready client.
#[derive(Debug)]
pub struct Upstream {
    /// Name from the config.
    pub name: String,
    /// Base URL, ending in `/`, without credentials (see [`Upstream::new`]).
    pub base: Url,
    /// Tier; lower is tried first.
    pub priority: i32,
    /// Whether HEAD is trusted (else probe with GET).
    pub head: bool,
    /// No bytes for this long = stalled.
    pub idle_timeout: Duration,
    /// Connect timeout (also bounds the wait for response headers, with `idle_timeout`).
    pub connect_timeout: Duration,
    /// Marks the upstream down after consecutive failures (see `breaker.rs`).
    pub breaker: Breaker,
    client: reqwest::Client,
    auth: Option<Credentials>,
    reach: Arc<Reach>,
    /// The upstream's `proxy` without credentials, to name it in errors.
    proxy: Option<String>,
    /// The CA files the client was built with (the server's, then its own), to notice a
    /// changed file.
    ca: Vec<CaFile>,
}

/// A CA file and the bytes read from it; `Debug` shows the path only.
struct CaFile {
    path: PathBuf,
    pem: Vec<u8>,
}

/// Which key named a CA file, for its errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaKey {
    /// `[server] ca_certificates`.
    Server,
    /// The upstream's own `ca_certificates`.
    Upstream,
}

impl std::fmt::Display for CaKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CaKey::Server => "[server] ca_certificates",
            CaKey::Upstream => "ca_certificates",
        })
    }
}

/// The CA files an upstream of `config` trusts on top of the platform's roots: the server's
/// (`[server] ca_certificates`, as resolved) first, then its own; a file named twice is read
/// once.
fn ca_files<'a>(config: &'a UpstreamConfig, server: Option<&'a Path>) -> Vec<(CaKey, &'a Path)> {
    let own = config.ca_certificates.as_ref().map(|f| f.path());
    let mut files: Vec<(CaKey, &Path)> = server.map(|p| (CaKey::Server, p)).into_iter().collect();
    if let Some(own) = own.filter(|own| server != Some(*own)) {
        files.push((CaKey::Upstream, own));
    }
    files
}

impl std::fmt::Debug for CaFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CaFile({:?})", self.path)
    }
}

/// A user name and password or token; `Debug` never prints the secret.
#[derive(Clone, PartialEq, Eq)]
struct Credentials {
    user: String,
    secret: Option<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials({:?}, ***)", self.user)
    }
}

/// Why an upstream could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamSetupError {
    /// `password_env` names an unset variable.
    #[error("upstream `{upstream}`: environment variable `{var}` (password_env) is not set")]
    MissingSecret {
        /// Upstream name.
        upstream: String,
        /// The variable.
        var: String,
    },
    /// `ca_certificates` (the upstream's or the server's) names a file that is not a usable
    /// PEM file of CA certificates. The server's file is named without the upstream: every
    /// upstream has the same problem.
    #[error("{}cannot use `{key}` file `{}`: {why}", upstream_prefix(upstream, *key), path.display())]
    CaCertificates {
        /// Upstream name.
        upstream: String,
        /// The key that names the file.
        key: CaKey,
        /// The file.
        path: PathBuf,
        /// What is wrong, with the fix.
        why: String,
    },
    /// The HTTP client could not be built (bad proxy URL, TLS setup).
    #[error("upstream `{upstream}`: cannot build its HTTP client")]
    Client {
        /// Upstream name.
        upstream: String,
        /// Why.
        source: reqwest::Error,
    },
}

fn upstream_prefix(upstream: &str, key: CaKey) -> String {
    match key {
        CaKey::Server => String::new(),
        CaKey::Upstream => format!("upstream `{upstream}`: "),
    }
}

impl UpstreamSetupError {
    /// True when the error is not this upstream's own but the server's (`[server]
    /// ca_certificates`), so that a message need not name a repository.
    pub fn is_server_wide(&self) -> bool {
        matches!(
            self,
            UpstreamSetupError::CaCertificates {
                key: CaKey::Server,
                ..
            }
        )
    }
}

/// How one upstream answered a request for a path.
#[derive(Debug)]
pub enum Verdict {
    /// A usable 2xx response.
    Found(reqwest::Response),
    /// 304 to a conditional request.
    NotModified,
    /// 404/410, or a 200 with an HTML page where an artifact was expected.
    Missing,
    /// Anything else: 5xx, 401/403, 407, connection errors.
    Failed(Fault),
    /// No response headers in time.
    TimedOut,
}

/// Why an upstream failed: one line for people (`/-/health`, logs, 502 bodies), and the HTTP
/// status when it answered with one, so that the breaker tells an answer from an outage by the
/// status and never by the wording (`breaker::outage`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// The status of the answer; `None` for connection errors and the like.
    pub status: Option<StatusCode>,
    /// The failure on one line.
    pub why: String,
}

impl Fault {
    /// A failure with no HTTP status (a connection error, a body cut short, …).
    pub fn new(why: impl Into<String>) -> Fault {
        Fault {
            status: None,
            why: why.into(),
        }
    }
}

impl From<String> for Fault {
    fn from(why: String) -> Fault {
        Fault::new(why)
    }
}

impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.why)
    }
}

/// The TLS settings every upstream client starts from, made once per process: reqwest would
/// read and parse the platform's root certificates for each client it builds (13 upstreams in
/// the default configuration: ~40 ms and a copy of the roots each). The same as reqwest's own:
/// the platform verifier, TLS 1.2 and 1.3, ALPN h2 then http/1.1. `None` when the platform
/// verifier cannot be made (no root certificates): each client then reports reqwest's error.
fn shared_tls() -> Option<&'static rustls::ClientConfig> {
    static TLS: OnceLock<Option<rustls::ClientConfig>> = OnceLock::new();
    TLS.get_or_init(|| {
        let provider = crypto_provider();
        let verifier = rustls_platform_verifier::Verifier::new(provider.clone()).ok()?;
        client_tls(provider, Arc::new(verifier)).ok()
    })
    .as_ref()
}

fn crypto_provider() -> Arc<rustls::crypto::CryptoProvider> {
    rustls::crypto::CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
}

/// Client TLS settings around `verifier`: TLS 1.2 and 1.3, ALPN h2 then http/1.1.
fn client_tls(
    provider: Arc<rustls::crypto::CryptoProvider>,
    verifier: Arc<rustls_platform_verifier::Verifier>,
) -> Result<rustls::ClientConfig, rustls::Error> {
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(tls)
}

/// The TLS settings of upstreams with CA files: the platform's roots plus the CA
/// certificates of `pems` (the files' bytes). The `Err` names the file at fault (its index)
/// and says what is wrong with it and how to fix it.
fn tls_with_extra_roots(pems: &[Vec<u8>]) -> Result<rustls::ClientConfig, (usize, String)> {
    let provider = crypto_provider();
    let verifier = extra_roots_verifier(pems, provider.clone())?;
    client_tls(provider, verifier).map_err(|e| (pems.len().saturating_sub(1), e.to_string()))
}

/// The verifier for the platform's roots plus the CA certificates of `pems`. Upstreams whose
/// files hold the same bytes share one (the platform's roots are read once for them); it lives
/// as long as a client uses it, so a reload that changes a file does not keep the old one.
fn extra_roots_verifier(
    pems: &[Vec<u8>],
    provider: Arc<rustls::crypto::CryptoProvider>,
) -> Result<Arc<rustls_platform_verifier::Verifier>, (usize, String)> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    type Verifiers = Mutex<HashMap<Vec<Vec<u8>>, Weak<rustls_platform_verifier::Verifier>>>;
    static VERIFIERS: OnceLock<Verifiers> = OnceLock::new();
    const FIX: &str = "it must hold one or more `-----BEGIN CERTIFICATE-----` blocks (convert a \
                       DER file with `openssl x509 -inform der -in ca.der -out ca.pem`)";
    let mut verifiers = VERIFIERS
        .get_or_init(Verifiers::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    verifiers.retain(|_, v| v.strong_count() > 0);
    if let Some(verifier) = verifiers.get(pems).and_then(Weak::upgrade) {
        return Ok(verifier);
    }
    let mut files = Vec::with_capacity(pems.len());
    for (i, pem) in pems.iter().enumerate() {
        let roots = CertificateDer::pem_slice_iter(pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| (i, format!("not a PEM file ({e}); {FIX}")))?;
        if roots.is_empty() {
            return Err((i, format!("no PEM certificate in it; {FIX}")));
        }
        files.push(roots);
    }
    let unusable =
        |e: rustls::Error| format!("a certificate in it is not usable as a CA ({e}); {FIX}");
    let roots: Vec<_> = files.iter().flatten().cloned().collect();
    let verifier =
        match rustls_platform_verifier::Verifier::new_with_extra_roots(roots, provider.clone()) {
            Ok(verifier) => Arc::new(verifier),
            Err(e) => {
                // Which file holds the certificate the platform refused: each alone tells.
                let alone = |roots: &Vec<CertificateDer<'static>>| {
                    rustls_platform_verifier::Verifier::new_with_extra_roots(
                        roots.clone(),
                        provider.clone(),
                    )
                    .err()
                };
                let at = files.iter().position(|roots| alone(roots).is_some());
                return Err((at.unwrap_or(files.len().saturating_sub(1)), unusable(e)));
            }
        };
    verifiers.insert(pems.to_vec(), Arc::downgrade(&verifier));
    Ok(verifier)
}

/// Reads a CA file named by `key`; the `Err` says why it cannot be read and what to do.
fn read_ca_file(path: &Path, key: CaKey) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => match key {
            CaKey::Upstream => {
                format!("{e}; point `ca_certificates` at the PEM file of the upstream's CA")
            }
            CaKey::Server => format!(
                "{e}; point `[server] ca_certificates` at the PEM file of the CA every upstream \
                 should trust"
            ),
        },
        std::io::ErrorKind::IsADirectory => {
            format!("{e}; name the PEM file itself, not its directory")
        }
        _ => format!("{e}; make the file readable by the user repox runs as"),
    })
}

impl Upstream {
    /// Builds the client for `config`, trusting `server_ca` (the server's
    /// `[server] ca_certificates`, resolved) beside the upstream's own CA file.
    pub fn new(
        config: &UpstreamConfig,
        server_ca: Option<&Path>,
    ) -> Result<Upstream, UpstreamSetupError> {
        let client_err = |source| UpstreamSetupError::Client {
            upstream: config.name.clone(),
            source,
        };
        // Credentials written into the URL (`https://user:pass@host/`) become basic auth: the
        // base URL itself, which health, logs and error messages show, never carries them.
        let mut base = config.url.clone();
        let in_url = (!base.username().is_empty() || base.password().is_some()).then(|| {
            let decode = |s: &str| percent_decode_str(s).decode_utf8_lossy().into_owned();
            Credentials {
                user: decode(base.username()),
                secret: base.password().map(decode),
            }
        });
        let _ = base.set_username("");
        let _ = base.set_password(None);
        let reach = Arc::new(Reach::new(&base).through(config.proxy.as_ref()));
        let policy_reach = reach.clone();
        let policy = reqwest::redirect::Policy::custom(move |attempt| {
            match redirect_allowed(&policy_reach, attempt.previous(), attempt.url()) {
                Ok(()) => attempt.follow(),
                Err(why) => attempt.error(why),
            }
        });
        let mut builder = reqwest::Client::builder()
            .redirect(policy)
            .dns_resolver(GuardedDns(reach.clone()))
            .connect_timeout(config.connect_timeout)
            .pool_idle_timeout(Duration::from_secs(90))
            .tcp_nodelay(true)
            .user_agent(concat!("repox/", env!("CARGO_PKG_VERSION")));
        let files = ca_files(config, server_ca);
        let ca_err = |i: usize, why| {
            let (key, path) = files[i.min(files.len().saturating_sub(1))];
            UpstreamSetupError::CaCertificates {
                upstream: config.name.clone(),
                key,
                path: path.to_owned(),
                why,
            }
        };
        let mut ca = Vec::with_capacity(files.len());
        for (i, (key, path)) in files.iter().enumerate() {
            let pem = read_ca_file(path, *key).map_err(|why| ca_err(i, why))?;
            ca.push(CaFile {
                path: path.to_path_buf(),
                pem,
            });
        }
        if ca.is_empty() {
            if let Some(tls) = shared_tls() {
                builder = builder.tls_backend_preconfigured(tls.clone());
            }
        } else {
            let pems: Vec<Vec<u8>> = ca.iter().map(|f| f.pem.clone()).collect();
            let tls = tls_with_extra_roots(&pems).map_err(|(i, why)| ca_err(i, why))?;
            builder = builder.tls_backend_preconfigured(tls);
        }
        if let Some(proxy) = &config.proxy {
            builder = builder.proxy(reqwest::Proxy::all(proxy.as_str()).map_err(client_err)?);
        }
        let client = builder.build().map_err(client_err)?;
        let auth = match (&config.username, &config.password_env) {
            (user, Some(var)) => {
                let secret = std::env::var(var).map_err(|_| UpstreamSetupError::MissingSecret {
                    upstream: config.name.clone(),
                    var: var.clone(),
                })?;
                Some(Credentials {
                    user: user.clone().unwrap_or_default(),
                    secret: Some(secret),
                })
            }
            (Some(user), None) => Some(Credentials {
                user: user.clone(),
                secret: None,
            }),
            (None, None) => in_url,
        };
        Ok(Upstream {
            name: config.name.clone(),
            base,
            priority: config.priority,
            head: config.head,
            idle_timeout: config.idle_timeout,
            connect_timeout: config.connect_timeout,
            breaker: Breaker::new(
                &config.name,
                config.breaker_failures,
                config.breaker_backoff,
                config.breaker_backoff_max,
            ),
            client,
            auth,
            reach,
            proxy: config.proxy.as_ref().map(shown_proxy),
            ca,
        })
    }

    /// True when `config` (this upstream's settings, as they are now) with `server_ca` (the
    /// server's file, as it is now) names other CA files than its client was built with, or one
    /// of them no longer holds what it was built with (changed, gone or unreadable): a reload
    /// builds the upstream again, which reads the files anew or reports why it cannot.
    pub fn trust_changed(&self, config: &UpstreamConfig, server_ca: Option<&Path>) -> bool {
        let files = ca_files(config, server_ca);
        files.len() != self.ca.len()
            || files.iter().zip(&self.ca).any(|((_, path), built)| {
                *path != built.path || std::fs::read(path).ok().as_ref() != Some(&built.pem)
            })
    }

    /// The URL of `path` on this upstream: its segments, encoded, pushed onto the base.
    pub fn url_for(&self, path: &RepoPath) -> Result<Url, OutsideBase> {
        push_under(&self.base, path.url_segments(), path.is_dir())
    }

    /// Resolves the base host once (if it is a name), so that [`Upstream::allows`] knows
    /// whether this upstream lives on an internal address.
    pub async fn learn_reach(&self) {
        self.reach.internal_ok_resolved().await;
    }

    /// Whether repox may fetch `url` for this upstream (a URL from its documents or a stored
    /// entry): http(s), and no loopback, link-local or private address unless the upstream is
    /// configured on one. The `Err` says why, for the log.
    pub fn allows(&self, url: &Url) -> Result<(), String> {
        self.reach.allows(url)
    }

    /// A request without this upstream's credentials, for URLs a client had a say in.
    pub fn anonymous_request(&self, method: http::Method, url: Url) -> reqwest::RequestBuilder {
        self.client
            .request(method, url)
            .header(header::ACCEPT_ENCODING, "identity")
    }

    /// A request with this upstream's credentials. A user name with no password is basic auth
    /// without password; a secret with no user name is sent as a bearer token. Credentials go
    /// only to the upstream's own origin: an index may link files on other hosts (PEP 503), and
    /// those must not see them.
    pub fn request(&self, method: http::Method, url: Url) -> reqwest::RequestBuilder {
        let same_origin = url.origin() == self.base.origin();
        let builder = self
            .client
            .request(method, url)
            .header(header::ACCEPT_ENCODING, "identity");
        match &self.auth {
            _ if !same_origin => builder,
            Some(c) if c.user.is_empty() => {
                builder.bearer_auth(c.secret.as_deref().unwrap_or_default())
            }
            Some(c) => builder.basic_auth(&c.user, c.secret.as_deref()),
            None => builder,
        }
    }

    /// How long to wait for response headers.
    pub fn header_timeout(&self) -> Duration {
        self.connect_timeout.saturating_add(self.idle_timeout)
    }

    /// Sends a request and judges the answer. `reject_html` treats a 2xx HTML page as missing
    /// (mirrors that answer "not found" with an index page).
    pub async fn send(&self, request: reqwest::RequestBuilder, reject_html: bool) -> Verdict {
        match tokio::time::timeout(self.header_timeout(), request.send()).await {
            Err(_) => Verdict::TimedOut,
            Ok(Err(e)) if e.is_timeout() => Verdict::TimedOut,
            Ok(Err(e)) if tunnel_refused(&e) => Verdict::Failed(Fault::new(format!(
                "{}; {}",
                error_chain(&e),
                status_error(
                    StatusCode::PROXY_AUTHENTICATION_REQUIRED,
                    self.proxy.as_deref()
                )
            ))),
            Ok(Err(e)) => Verdict::Failed(Fault::new(send_error(&e, self.refused_by(&e)))),
            Ok(Ok(resp)) => judge(resp, reject_html, self.proxy.as_deref()),
        }
    }

    /// The proxy whose certificate `e` refused, when it was the proxy's and not the
    /// upstream's: the URL requested is plain HTTP, so the only TLS there was is the one to
    /// the proxy, or the refusal came while opening the tunnel ([`in_tunnel`]).
    fn refused_by(&self, e: &reqwest::Error) -> Option<&str> {
        let proxy = self.proxy.as_deref()?;
        let plain = e.url().unwrap_or(&self.base).scheme() == "http";
        (plain || in_tunnel(e)).then_some(proxy)
    }
}

/// True when the certificate refusal under `e` happened while the tunnel through the proxy was
/// being opened, not in the TLS to the origin inside it. Told by the shape of the error, with
/// types only (no message text): reqwest makes the origin's handshake itself once the tunnel
/// is open, and its `io::Error` (rustls's error inside) is then the very connect error that
/// hyper-util's client reports. The handshake with the proxy is made by hyper-rustls's
/// connector inside hyper-util's tunnel, whose error (`TunnelError`, a private type) wraps it
/// one level or more deeper. Without hyper-util's connect error in the chain, the upstream is
/// blamed, as when no proxy is set. Both shapes are tested (`tls_upstream.rs`), so an upgrade
/// that changes them fails a test rather than the message.
fn in_tunnel(e: &(dyn std::error::Error + 'static)) -> bool {
    if certificate_error(e).is_none() {
        return false;
    }
    let Some(connect) = causes(e)
        .find_map(|c| c.downcast_ref::<hyper_util::client::legacy::Error>())
        .and_then(std::error::Error::source)
    else {
        return false;
    };
    let origin_handshake = connect
        .downcast_ref::<std::io::Error>()
        .and_then(std::io::Error::get_ref)
        .is_some_and(|inner| inner.is::<rustls::Error>());
    !origin_handshake
}

/// True when the proxy answered the tunnel's `CONNECT` with 407 Proxy Authentication Required.
/// hyper-util reports it as its `TunnelError::ProxyAuthRequired`, a type it does not export,
/// so it is known by its text; this only adds a hint to the message (a failed tunnel is an
/// outage whatever its text), and `tls_upstream.rs` tests the hint, so an upgrade that
/// rewords it fails a test rather than the message.
fn tunnel_refused(e: &(dyn std::error::Error + 'static)) -> bool {
    causes(e).any(|c| c.to_string() == "tunnel error: proxy authorization required")
}

/// A proxy URL as errors show it: never its `user:password@`. (Its own form, trailing `/`
/// included: `breaker::redact` rewrites every URL in a failure so.)
fn shown_proxy(url: &Url) -> String {
    let mut url = url.clone();
    let _ = url.set_username("");
    let _ = url.set_password(None);
    url.into()
}

/// A failed request on one line, saying so when a certificate was refused: the upstream's,
/// or that of `proxy` when the refusal came from the TLS to the upstream's proxy.
fn send_error(e: &reqwest::Error, proxy: Option<&str>) -> String {
    let text = error_chain(e);
    let Some(why) = certificate_error(e) else {
        return text;
    };
    let (whose, url) = match proxy {
        Some(proxy) => (
            format!("the TLS certificate of the upstream's proxy {proxy}"),
            "proxy URL",
        ),
        None => ("the upstream's TLS certificate".to_owned(), "URL"),
    };
    let hint = match why {
        rustls::CertificateError::NotValidForName
        | rustls::CertificateError::NotValidForNameContext { .. } => format!(
            "{whose} is not valid for its host name (is the {url} the name the certificate was \
             made for?)"
        ),
        rustls::CertificateError::Expired
        | rustls::CertificateError::ExpiredContext { .. }
        | rustls::CertificateError::NotValidYet
        | rustls::CertificateError::NotValidYetContext { .. } => {
            format!("{whose} is outside its validity period")
        }
        _ => {
            let cover = if proxy.is_some() {
                " (the same settings cover the upstream's proxy)"
            } else {
                ""
            };
            format!(
                "{whose} is not trusted; if a private CA signed it, name the CA's PEM file in \
                 this upstream's `ca_certificates` (or in `[server] ca_certificates`, for every \
                 upstream){cover}"
            )
        }
    };
    format!("{text}; {hint}")
}

/// `e` and the errors under it. rustls's error travels inside `io::Error`s (two, nested),
/// whose `source()` skips what they wrap: look inside each one.
fn causes<'e>(
    e: &'e (dyn std::error::Error + 'static),
) -> impl Iterator<Item = &'e (dyn std::error::Error + 'static)> {
    std::iter::successors(Some(e), |e| {
        match e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
            None => e.source(),
        }
    })
}

/// The certificate verification error under `e`, if that is why it failed.
fn certificate_error<'e>(
    e: &'e (dyn std::error::Error + 'static),
) -> Option<&'e rustls::CertificateError> {
    causes(e).find_map(|e| match e.downcast_ref::<rustls::Error>() {
        Some(rustls::Error::InvalidCertificate(why)) => Some(why),
        _ => None,
    })
}

/// The verdict on a response; `proxy` is the upstream's (shown form), to name it when it asks
/// for credentials.
fn judge(resp: reqwest::Response, reject_html: bool, proxy: Option<&str>) -> Verdict {
    let status = resp.status();
    if status.is_success() {
        if reject_html && is_html(resp.headers()) {
            return Verdict::Missing;
        }
        return Verdict::Found(resp);
    }
    match status {
        StatusCode::NOT_MODIFIED => Verdict::NotModified,
        StatusCode::NOT_FOUND | StatusCode::GONE => Verdict::Missing,
        _ => Verdict::Failed(Fault {
            status: Some(status),
            why: status_error(status, proxy),
        }),
    }
}

/// An error status on one line: `HTTP <code> <reason>`, and for 407 what to do about it.
fn status_error(status: StatusCode, proxy: Option<&str>) -> String {
    if status != StatusCode::PROXY_AUTHENTICATION_REQUIRED {
        return format!("HTTP {status}");
    }
    // Without a `proxy` setting, the 407 came from one the HTTP client found in the
    // environment (`HTTP_PROXY`, …) or from one in the network path.
    let whose = match proxy {
        Some(proxy) => format!("the upstream's proxy {proxy}"),
        None => "a proxy between repox and the upstream".to_owned(),
    };
    proxy_credentials_hint(&whose)
}

/// A proxy's 407 on one line: `whose` asks for credentials, set or check them in the
/// upstream's `proxy` URL. No `://` in the hint: `breaker::redact` rewrites URLs.
fn proxy_credentials_hint(whose: &str) -> String {
    format!(
        "{whose} asks for credentials (HTTP 407 Proxy Authentication Required): set them, or \
         check them, as `user:password@` in this upstream's `proxy` URL"
    )
}

/// True when the headers announce an HTML page.
pub fn is_html(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("text/html"))
}

/// True for paths of binary artifacts, whose body can never be an HTML page whatever its
/// `Content-Type` says (a mirror's error or maintenance page sent as `application/octet-stream`).
pub fn binary_artifact(path: &str) -> bool {
    const SUFFIXES: &[&str] = &[
        ".jar", ".war", ".aar", ".ear", ".zip", ".whl", ".tar.gz", ".tgz", ".crate", ".conda",
        ".tar.bz2", ".tar.xz", ".tar.zst", ".egg", ".gz", ".bz2", ".zst",
    ];
    let path = path.to_ascii_lowercase();
    // cargo downloads are `.../<crate>/<version>/download`.
    path.ends_with("/download") || SUFFIXES.iter().any(|s| path.ends_with(s))
}

/// True when a body starts like an HTML page: `<!DOCTYPE html` or `<html`, case-insensitive,
/// after an optional UTF-8 byte order mark and whitespace.
pub fn looks_like_html(start: &[u8]) -> bool {
    let start = start.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(start);
    let i = start
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(start.len());
    let head: Vec<u8> = start[i..]
        .iter()
        .take(14)
        .map(u8::to_ascii_lowercase)
        .collect();
    head.starts_with(b"<!doctype html") || head.starts_with(b"<html")
}

/// An error and its causes on one line, conda tokens masked (reqwest names the URL).
pub fn error_chain(e: &dyn std::error::Error) -> String {
    crate::error::redact(&chain(e))
}

fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !s.contains(&text) {
            s.push_str(": ");
            s.push_str(&text);
        }
        source = cause.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_proxy_is_shown_without_its_credentials() {
        let url = Url::parse("https://deployer:s3cret@proxy.corp.example:3128/").unwrap();
        assert_eq!(shown_proxy(&url), "https://proxy.corp.example:3128/");
        let url = Url::parse("http://127.0.0.1:8080").unwrap();
        assert_eq!(shown_proxy(&url), "http://127.0.0.1:8080/");
    }

    #[test]
    fn a_refusal_outside_hyper_util_s_connect_error_is_not_the_tunnel_s() {
        // The shape hyper-rustls gives a refused handshake (an io::Error around rustls's, in
        // another): with no connect error of hyper-util's around it, the upstream is blamed.
        let refused = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let inner = std::io::Error::new(std::io::ErrorKind::InvalidData, refused);
        let nested = std::io::Error::other(inner);
        assert!(certificate_error(&nested).is_some());
        assert!(!in_tunnel(&nested));
        assert!(!in_tunnel(&std::io::Error::other("not a certificate")));
    }

    #[test]
    fn html_is_sniffed_after_bom_and_whitespace() {
        assert!(looks_like_html(b"<!DOCTYPE html><html>"));
        assert!(looks_like_html(b"\xEF\xBB\xBF \r\n\t<HTML lang=en>"));
        assert!(looks_like_html(b"  <!doctype HTML>"));
        assert!(!looks_like_html(b"PK\x03\x04<html>"));
        assert!(!looks_like_html(b"<?xml version=\"1.0\"?><project/>"));
        assert!(!looks_like_html(b""));
    }

    #[test]
    fn binary_artifacts_by_suffix() {
        for p in [
            "a/b/c-1.0.jar",
            "x-1.0-py3-none-any.whl",
            "tarballs/a/a-1.0.tgz",
            "linux-64/p-1-0.conda",
            "pkg-1.tar.bz2",
        ] {
            assert!(binary_artifact(p), "{p}");
        }
        for p in [
            "a/b/c-1.0.pom",
            "simple/x/",
            "a/maven-metadata.xml",
            "x.jar.sha1",
        ] {
            assert!(!binary_artifact(p), "{p}");
        }
    }

    #[test]
    fn the_same_ca_file_content_shares_one_verifier_while_it_is_used() {
        let pem = |name: &str| {
            let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
            params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
            params
                .distinguished_name
                .push(rcgen::DnType::CommonName, name);
            let key = rcgen::KeyPair::generate().unwrap();
            params.self_signed(&key).unwrap().pem().into_bytes()
        };
        let (a, b) = (pem("a"), pem("b"));
        let verifier = |pems: &[Vec<u8>]| extra_roots_verifier(pems, crypto_provider()).unwrap();
        let first = verifier(std::slice::from_ref(&a));
        assert!(Arc::ptr_eq(&first, &verifier(std::slice::from_ref(&a))));
        assert!(!Arc::ptr_eq(&first, &verifier(std::slice::from_ref(&b))));
        let both = verifier(&[a.clone(), b.clone()]);
        assert!(!Arc::ptr_eq(&first, &both));
        assert!(Arc::ptr_eq(&both, &verifier(&[a.clone(), b.clone()])));
        let weak = Arc::downgrade(&first);
        drop(first);
        assert!(weak.upgrade().is_none(), "the cache does not keep it alive");
        let (at, err) = extra_roots_verifier(&[a, b"# nothing here\n".to_vec()], crypto_provider())
            .unwrap_err();
        assert_eq!(at, 1, "the second file is at fault");
        assert!(err.starts_with("no PEM certificate in it; "), "{err}");
    }

    #[test]
    fn credentials_in_the_url_move_to_basic_auth() {
        let url = Url::parse("https://alice:s%3Acret@repo.example/m/").unwrap();
        let up = Upstream::new(&UpstreamConfig::new("m", url), None).unwrap();
        assert_eq!(up.base.as_str(), "https://repo.example/m/");
        let auth = up.auth.clone().unwrap();
        assert_eq!(
            (auth.user.as_str(), auth.secret.as_deref()),
            ("alice", Some("s:cret"))
        );
        assert!(!format!("{up:?}").contains("s:cret"));
    }
}
