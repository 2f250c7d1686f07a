//! One upstream repository: its HTTP client (own timeouts, proxy and credentials) and how a
//! response from it is judged.
//!
//! The client never decompresses: repox stores and forwards bytes exactly as the origin sent
//! them, so digests and `Content-Length` stay true.
//!
//! Where an upstream may be reached is fenced in three places: URLs built from a request push
//! encoded segments onto the base and are refused unless they still lie under it
//! ([`push_under`]); URLs taken from an upstream's documents and redirects must be http(s) and
//! may not name a loopback, link-local or private address ([`Reach`]) unless the upstream itself
//! is configured on one; host names are resolved by a resolver that drops such addresses under
//! the same rule, so a DNS name cannot smuggle them in either.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderMap, StatusCode, header};
use percent_encoding::percent_decode_str;
use url::{Host, Url};

use crate::config::UpstreamConfig;
use crate::path::RepoPath;

/// Redirect hops followed for one request.
const MAX_REDIRECTS: usize = 5;

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
    client: reqwest::Client,
    auth: Option<Credentials>,
    reach: Arc<Reach>,
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

/// A URL built from a request that would not lie under the upstream's base (answered 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the path does not stay below the upstream's base URL")]
pub struct OutsideBase;

impl From<OutsideBase> for crate::error::Failure {
    fn from(e: OutsideBase) -> Self {
        crate::error::Failure::BadRequest(e.to_string())
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
    /// The HTTP client could not be built (bad proxy URL, TLS setup).
    #[error("upstream `{upstream}`: cannot build its HTTP client")]
    Client {
        /// Upstream name.
        upstream: String,
        /// Why.
        source: reqwest::Error,
    },
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
    /// Anything else: 5xx, 401/403, connection errors.
    Failed(String),
    /// No response headers in time.
    TimedOut,
}

impl Upstream {
    /// Builds the client for `config`.
    pub fn new(config: &UpstreamConfig) -> Result<Upstream, UpstreamSetupError> {
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
        let reach = Arc::new(Reach::new(&base));
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
            client,
            auth,
            reach,
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
        self.connect_timeout + self.idle_timeout
    }

    /// Sends a request and judges the answer. `reject_html` treats a 2xx HTML page as missing
    /// (mirrors that answer "not found" with an index page).
    pub async fn send(&self, request: reqwest::RequestBuilder, reject_html: bool) -> Verdict {
        match tokio::time::timeout(self.header_timeout(), request.send()).await {
            Err(_) => Verdict::TimedOut,
            Ok(Err(e)) if e.is_timeout() => Verdict::TimedOut,
            Ok(Err(e)) => Verdict::Failed(error_chain(&e)),
            Ok(Ok(resp)) => judge(resp, reject_html),
        }
    }
}

fn judge(resp: reqwest::Response, reject_html: bool) -> Verdict {
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
        _ => Verdict::Failed(format!("HTTP {status}")),
    }
}

/// Whether to follow a redirect to `next` after visiting `previous` (the first request
/// included): at most [`MAX_REDIRECTS`] hops, never from https to http, and only where
/// [`Reach::allows`] says the upstream may go.
fn redirect_allowed(reach: &Reach, previous: &[Url], next: &Url) -> Result<(), String> {
    if previous.len() > MAX_REDIRECTS {
        return Err(format!("more than {MAX_REDIRECTS} redirects"));
    }
    if previous.last().is_some_and(|from| from.scheme() == "https") && next.scheme() != "https" {
        return Err("refused a redirect from https to http".into());
    }
    reach
        .allows(next)
        .map_err(|why| format!("refused a redirect: {why}"))
}

/// `base` with the already-encoded `segments` pushed onto its path (and a trailing `/` when
/// `dir`), refused unless the result has the base's scheme, host and port and lies below its
/// path. Never `Url::join`: a relative reference like `http:host/x` or `//host/x` would be read
/// as another URL.
pub fn push_under<S: AsRef<str>>(
    base: &Url,
    segments: impl IntoIterator<Item = S>,
    dir: bool,
) -> Result<Url, OutsideBase> {
    if base.cannot_be_a_base() {
        return Err(OutsideBase);
    }
    // The segments are encoded already (`Url::path_segments_mut` would encode their `%` again,
    // and npm wants its own `%2f`); every one is checked, and the result is checked again.
    let mut path = base.path().to_owned();
    if !path.ends_with('/') {
        path.push('/');
    }
    for (n, segment) in segments.into_iter().enumerate() {
        let segment = segment.as_ref();
        let dots = segment.replace("%2e", ".").replace("%2E", ".");
        if segment.is_empty() || dots == "." || dots == ".." || segment.contains(['/', '\\']) {
            return Err(OutsideBase);
        }
        if n > 0 {
            path.push('/');
        }
        path.push_str(segment);
    }
    if dir {
        path.push('/');
    }
    let mut url = base.clone();
    url.set_query(None);
    url.set_fragment(None);
    url.set_path(&path);
    if url.query().is_none() && url.fragment().is_none() && lies_under(&url, base) {
        Ok(url)
    } else {
        Err(OutsideBase)
    }
}

/// True when `url` has `base`'s scheme, host, port and credentials and its path starts with
/// the base's path.
pub fn lies_under(url: &Url, base: &Url) -> bool {
    let base_path = base.path();
    let dir = if base_path.ends_with('/') {
        base_path.to_owned()
    } else {
        format!("{base_path}/")
    };
    url.scheme() == base.scheme()
        && url.host() == base.host()
        && url.port_or_known_default() == base.port_or_known_default()
        && url.username() == base.username()
        && url.password() == base.password()
        && (url.path().starts_with(&dir) || url.path() == base_path)
        && !url
            .path()
            .split('/')
            .any(|s| s == ".." || s.eq_ignore_ascii_case("%2e%2e"))
}

/// Which addresses one upstream may reach: its own host always; loopback, link-local and
/// private addresses only when the base URL is on one (a literal address, `localhost`, or a
/// name that resolves to one).
#[derive(Debug)]
struct Reach {
    base_host: String,
    base_internal: tokio::sync::OnceCell<bool>,
}

impl Reach {
    fn new(base: &Url) -> Reach {
        let base_internal = tokio::sync::OnceCell::new();
        let literal = match base.host() {
            Some(Host::Ipv4(ip)) => Some(is_internal(IpAddr::V4(ip))),
            Some(Host::Ipv6(ip)) => Some(is_internal(IpAddr::V6(ip))),
            Some(Host::Domain(d)) if is_local_name(d) => Some(true),
            _ => None,
        };
        if let Some(internal) = literal {
            let _ = base_internal.set(internal);
        }
        Reach {
            base_host: base.host_str().unwrap_or_default().to_ascii_lowercase(),
            base_internal,
        }
    }

    /// Known so far: whether the upstream lives on an internal address.
    fn internal_ok(&self) -> bool {
        self.base_internal.get().copied().unwrap_or(false)
    }

    async fn internal_ok_resolved(&self) -> bool {
        *self
            .base_internal
            .get_or_init(|| async {
                tokio::net::lookup_host((self.base_host.as_str(), 0))
                    .await
                    .is_ok_and(|mut addrs| addrs.any(|a| is_internal(a.ip())))
            })
            .await
    }

    fn allows(&self, url: &Url) -> Result<(), String> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!("scheme `{}` is not http or https", url.scheme()));
        }
        let internal = match url.host() {
            None => return Err("no host".into()),
            Some(Host::Ipv4(ip)) => is_internal(IpAddr::V4(ip)),
            Some(Host::Ipv6(ip)) => is_internal(IpAddr::V6(ip)),
            Some(Host::Domain(d)) => is_local_name(d) && !d.eq_ignore_ascii_case(&self.base_host),
        };
        if internal && !self.internal_ok() {
            return Err("the host is a loopback, link-local or private address".into());
        }
        Ok(())
    }
}

/// Resolves names with the system resolver, dropping internal addresses for hosts other than
/// the upstream's own unless the upstream is on an internal address itself.
struct GuardedDns(Arc<Reach>);

impl reqwest::dns::Resolve for GuardedDns {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let reach = self.0.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if host.eq_ignore_ascii_case(&reach.base_host) {
                let _ = reach
                    .base_internal
                    .set(addrs.iter().any(|a| is_internal(a.ip())));
                return Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs);
            }
            if reach.internal_ok_resolved().await {
                return Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs);
            }
            let public: Vec<SocketAddr> =
                addrs.into_iter().filter(|a| !is_internal(a.ip())).collect();
            if public.is_empty() {
                tracing::warn!(
                    "not connecting to `{host}`: it resolves only to internal addresses"
                );
                return Err(
                    "the host resolves only to loopback, link-local or private addresses".into(),
                );
            }
            Ok(Box::new(public.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

fn is_local_name(host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    host == "localhost" || host.ends_with(".localhost")
}

/// Loopback, link-local, private (RFC 1918, RFC 4193), shared (RFC 6598), unspecified and
/// broadcast addresses: what a public index has no business pointing at.
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || a == 0
                || (a == 100 && (64..128).contains(&b))
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || v6
                    .to_ipv4_mapped()
                    .is_some_and(|v4| is_internal(IpAddr::V4(v4)))
        }
    }
}

/// True when the headers announce an HTML page.
pub fn is_html(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("text/html"))
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

    fn base() -> Url {
        Url::parse("https://repo.example/maven2/").unwrap()
    }

    #[test]
    fn pushed_segments_stay_under_the_base() {
        for (raw, want) in [
            (
                "org/a/1.0/a.jar",
                "https://repo.example/maven2/org/a/1.0/a.jar",
            ),
            (
                "http:127.0.0.1:9/secret",
                "https://repo.example/maven2/http:127.0.0.1:9/secret",
            ),
            ("ftp:x", "https://repo.example/maven2/ftp:x"),
            ("a%3Fb=c/d%23e", "https://repo.example/maven2/a%3Fb=c/d%23e"),
            ("%252e%252e/x", "https://repo.example/maven2/%252e%252e/x"),
            ("dir/", "https://repo.example/maven2/dir/"),
        ] {
            let path = RepoPath::parse(raw).unwrap();
            let url = push_under(&base(), path.url_segments(), path.is_dir()).unwrap();
            assert_eq!(url.as_str(), want, "{raw}");
        }
    }

    #[test]
    fn segments_that_would_leave_the_base_are_refused() {
        assert_eq!(push_under(&base(), ["..", "x"], false), Err(OutsideBase));
        assert_eq!(
            push_under(&base(), ["%2e%2e", "x"], false),
            Err(OutsideBase)
        );
        assert_eq!(push_under(&base(), ["", "x"], false), Err(OutsideBase));
        let other = Url::parse("https://repo.example/other/x").unwrap();
        assert!(!lies_under(&other, &base()));
        let host = Url::parse("https://evil.example/maven2/x").unwrap();
        assert!(!lies_under(&host, &base()));
    }

    #[test]
    fn internal_addresses_need_an_internal_upstream() {
        let public = Reach::new(&base());
        for url in [
            "http://127.0.0.1/x",
            "http://10.1.2.3/x",
            "http://169.254.169.254/latest",
            "http://[::1]/x",
            "http://[::ffff:192.168.0.1]/x",
            "http://localhost:8080/x",
            "ftp://repo.example/x",
            "file:///etc/passwd",
        ] {
            assert!(public.allows(&Url::parse(url).unwrap()).is_err(), "{url}");
        }
        assert!(
            public
                .allows(&Url::parse("https://files.example/x").unwrap())
                .is_ok()
        );
        let local = Reach::new(&Url::parse("http://127.0.0.1:9000/m/").unwrap());
        assert!(
            local
                .allows(&Url::parse("http://10.1.2.3/x").unwrap())
                .is_ok()
        );
    }

    #[test]
    fn redirects_are_bounded_and_never_downgrade() {
        let reach = Reach::new(&base());
        let u = |s: &str| Url::parse(s).unwrap();
        let start = [u("https://repo.example/maven2/a")];
        assert!(redirect_allowed(&reach, &start, &u("https://cdn.example/a")).is_ok());
        assert!(redirect_allowed(&reach, &start, &u("http://cdn.example/a")).is_err());
        assert!(redirect_allowed(&reach, &start, &u("https://10.0.0.1/a")).is_err());
        assert!(redirect_allowed(&reach, &start, &u("ftp://cdn.example/a")).is_err());
        let plain = [u("http://repo.example/maven2/a")];
        assert!(redirect_allowed(&reach, &plain, &u("https://cdn.example/a")).is_ok());
        let five: Vec<Url> = (0..5)
            .map(|n| u(&format!("https://cdn.example/{n}")))
            .collect();
        assert!(redirect_allowed(&reach, &five, &u("https://cdn.example/5")).is_ok());
        let six: Vec<Url> = (0..6)
            .map(|n| u(&format!("https://cdn.example/{n}")))
            .collect();
        assert!(redirect_allowed(&reach, &six, &u("https://cdn.example/6")).is_err());
    }

    #[tokio::test]
    async fn the_resolver_drops_internal_addresses_of_other_hosts() {
        use reqwest::dns::Resolve;
        let public = Arc::new(Reach::new(&Url::parse("https://93.184.216.34/m/").unwrap()));
        let dns = GuardedDns(public);
        let name = "localhost".parse().unwrap();
        assert!(
            dns.resolve(name).await.is_err(),
            "localhost must not resolve"
        );
        let internal = Arc::new(Reach::new(&Url::parse("http://127.0.0.1:1/m/").unwrap()));
        let dns = GuardedDns(internal);
        let addrs: Vec<SocketAddr> = dns
            .resolve("localhost".parse().unwrap())
            .await
            .unwrap()
            .collect();
        assert!(addrs.iter().all(|a| a.ip().is_loopback()) && !addrs.is_empty());
    }

    #[test]
    fn credentials_in_the_url_move_to_basic_auth() {
        let url = Url::parse("https://alice:s%3Acret@repo.example/m/").unwrap();
        let up = Upstream::new(&UpstreamConfig::new("m", url)).unwrap();
        assert_eq!(up.base.as_str(), "https://repo.example/m/");
        let auth = up.auth.clone().unwrap();
        assert_eq!(
            (auth.user.as_str(), auth.secret.as_deref()),
            ("alice", Some("s:cret"))
        );
        assert!(!format!("{up:?}").contains("s:cret"));
    }
}
