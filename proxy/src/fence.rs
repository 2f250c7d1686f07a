//! Where repox may send a request for an upstream, whatever a client or a document asks.
//!
//! - URLs built from a request push percent-encoded segments onto the upstream's base and are
//!   refused unless the result still lies under it ([`push_under`]); never `Url::join`, which
//!   reads `http:host/x` or `//host/x` as another URL.
//! - URLs taken from an upstream's documents (PyPI file links, npm tarball URLs, cargo `dl`)
//!   and redirects must be http(s) and may not name a loopback, link-local or private address
//!   ([`Reach`]) unless the upstream itself is configured on one.
//! - Host names are resolved by [`GuardedDns`], which drops such addresses under the same rule,
//!   so a DNS name cannot smuggle them in either.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use url::{Host, Url};

/// Redirect hops followed for one request.
pub(crate) const MAX_REDIRECTS: usize = 5;

/// A URL built from a request that would not lie under the upstream's base (answered 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the path does not stay below the upstream's base URL")]
pub struct OutsideBase;

impl From<OutsideBase> for crate::error::Failure {
    fn from(e: OutsideBase) -> Self {
        crate::error::Failure::BadRequest(e.to_string())
    }
}

/// Whether to follow a redirect to `next` after visiting `previous` (the first request
/// included): at most [`MAX_REDIRECTS`] hops, never from https to http, and only where
/// [`Reach::allows`] says the upstream may go.
pub(crate) fn redirect_allowed(reach: &Reach, previous: &[Url], next: &Url) -> Result<(), String> {
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
/// name that resolves to one). The upstream's configured `proxy` is reached wherever its name
/// resolves: a corporate proxy usually lives on a private address.
#[derive(Debug)]
pub(crate) struct Reach {
    base_host: String,
    base_internal: tokio::sync::OnceCell<bool>,
    proxy_host: Option<String>,
}

impl Reach {
    pub(crate) fn new(base: &Url) -> Reach {
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
            proxy_host: None,
        }
    }

    /// The same reach for an upstream whose requests go through `proxy` (its own setting).
    pub(crate) fn through(self, proxy: Option<&Url>) -> Reach {
        Reach {
            proxy_host: proxy.and_then(Url::host_str).map(str::to_ascii_lowercase),
            ..self
        }
    }

    /// Known so far: whether the upstream lives on an internal address.
    fn internal_ok(&self) -> bool {
        self.base_internal.get().copied().unwrap_or(false)
    }

    /// Whether the upstream lives on an internal address, resolving its host name once.
    pub(crate) async fn internal_ok_resolved(&self) -> bool {
        *self
            .base_internal
            .get_or_init(|| async {
                tokio::net::lookup_host((self.base_host.as_str(), 0))
                    .await
                    .is_ok_and(|mut addrs| addrs.any(|a| is_internal(a.ip())))
            })
            .await
    }

    /// `Ok` when `url` may be fetched for this upstream; the `Err` says why not.
    pub(crate) fn allows(&self, url: &Url) -> Result<(), String> {
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
pub(crate) struct GuardedDns(pub(crate) Arc<Reach>);

impl reqwest::dns::Resolve for GuardedDns {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let reach = self.0.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if reach
                .proxy_host
                .as_deref()
                .is_some_and(|p| host.eq_ignore_ascii_case(p))
            {
                return Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs);
            }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::path::RepoPath;

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
        // The upstream's own proxy is reached wherever it resolves; other names still are not.
        let proxy = Url::parse("https://LocalHost:3128/").unwrap();
        let public = Reach::new(&Url::parse("https://93.184.216.34/m/").unwrap());
        let dns = GuardedDns(Arc::new(public.through(Some(&proxy))));
        assert!(dns.resolve("localhost".parse().unwrap()).await.is_ok());
        assert!(dns.resolve("127.0.0.1".parse().unwrap()).await.is_err());
    }
}
