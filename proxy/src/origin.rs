//! Where a request came from and how the client reached repox: the client's address (for
//! failed-login limits) and the origin (`http://host:port`) that documents with absolute URLs
//! point back to (npm tarballs, cargo `dl`, conda `base_url`, the PyPI JSON API).
//!
//! `X-Forwarded-For`/`-Host`/`-Proto` are believed only from a peer listed in
//! `[server] trusted_proxies`; [`sanitize`] removes them from everyone else's requests before
//! any handler sees them, and replaces a `Host` that cannot be put in a URL with the address
//! the server listens on.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use http::{HeaderMap, HeaderName, HeaderValue, Uri, header};
use ipnet::IpNet;

// Parsed once: a `&str` name would be parsed again on every lookup of every request.
const FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
const FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");

/// The first value of header `name`, trimmed, if not empty.
fn first_value<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// Whether `host` (`name`, `name:port`, `[v6]:port`) can go into a URL as is.
fn valid_host(host: &str) -> bool {
    !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-_:[]".contains(&b))
}

/// The scheme and authority clients use to reach repox (`http://host:port`), for documents that
/// must carry absolute URLs back to it. Taken from `X-Forwarded-Proto`/`X-Forwarded-Host` (which
/// [`sanitize`] has removed unless a trusted proxy sent them), else from `Host` (or the HTTP/2
/// authority).
pub fn request_origin(headers: &HeaderMap, uri: &Uri) -> String {
    let scheme = first_value(headers, &FORWARDED_PROTO)
        .filter(|p| matches!(*p, "http" | "https"))
        .unwrap_or("http");
    let host = first_value(headers, &FORWARDED_HOST)
        .or_else(|| first_value(headers, &header::HOST))
        .map(str::to_owned)
        .or_else(|| uri.authority().map(|a| a.to_string()))
        .filter(|h| valid_host(h))
        .unwrap_or_else(|| format!("127.0.0.1:{}", crate::config::DEFAULT_PORT));
    format!("{scheme}://{host}")
}

/// Whether `addr` is one of the trusted proxies.
pub fn is_trusted(addr: IpAddr, trusted: &[IpNet]) -> bool {
    let addr = canonical(addr);
    trusted.iter().any(|net| net.contains(&addr))
}

/// IPv4-mapped IPv6 addresses (`::ffff:10.0.0.1`, from dual-stack listeners) as IPv4.
fn canonical(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(addr, IpAddr::V4),
        v4 => v4,
    }
}

/// The client's address: the peer's, or, when the peer is a trusted proxy, the last address in
/// `X-Forwarded-For` that is not itself a trusted proxy. `None` when the peer is unknown
/// (in-process use).
pub fn client_addr(peer: Option<IpAddr>, headers: &HeaderMap, trusted: &[IpNet]) -> Option<IpAddr> {
    let peer = canonical(peer?);
    if !is_trusted(peer, trusted) {
        return Some(peer);
    }
    let chain: Vec<IpAddr> = headers
        .get_all(FORWARDED_FOR)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|a| {
            let a = a.trim();
            a.parse::<IpAddr>()
                .or_else(|_| a.parse::<SocketAddr>().map(|s| s.ip()))
                .ok()
        })
        .map(canonical)
        .collect();
    chain
        .iter()
        .rev()
        .find(|a| !is_trusted(**a, trusted))
        .or(chain.first())
        .copied()
        .or(Some(peer))
}

/// Makes the request's origin headers safe to use: drops `X-Forwarded-*` unless the peer is a
/// trusted proxy, drops an `X-Forwarded-Host` that cannot go into a URL, and sets `Host` to
/// `local` (the address the server listens on) when neither it nor the HTTP/2 authority can.
pub fn sanitize(headers: &mut HeaderMap, uri: &Uri, trusted_peer: bool, local: SocketAddr) {
    // Nearly every request has none: one pass over its few names instead of three to five
    // hashed lookups of names it does not have.
    let forwarded = headers
        .keys()
        .any(|k| k.as_str().starts_with("x-forwarded-"));
    if forwarded && !trusted_peer {
        headers.remove(&FORWARDED_FOR);
        headers.remove(&FORWARDED_HOST);
        headers.remove(&FORWARDED_PROTO);
    }
    if forwarded && first_value(headers, &FORWARDED_HOST).is_some_and(|h| !valid_host(h)) {
        headers.remove(&FORWARDED_HOST);
    }
    let host_ok = match first_value(headers, &header::HOST) {
        Some(host) => valid_host(host),
        None => uri.authority().is_some_and(|a| valid_host(a.as_str())),
    };
    if !host_ok {
        let mut local = local;
        if local.ip().is_unspecified() {
            local.set_ip(Ipv4Addr::LOCALHOST.into());
        }
        if let Ok(value) = HeaderValue::from_str(&local.to_string()) {
            headers.insert(header::HOST, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    fn nets(s: &[&str]) -> Vec<IpNet> {
        s.iter().map(|n| n.parse().unwrap()).collect()
    }

    #[test]
    fn forwarded_headers_count_only_from_trusted_peers() {
        let local: SocketAddr = "0.0.0.0:9000".parse().unwrap();
        let uri = Uri::from_static("/npm/x");
        let sent = [
            ("host", "repox.internal:8078"),
            ("x-forwarded-host", "repo.example.com"),
            ("x-forwarded-proto", "https"),
        ];
        let mut h = headers(&sent);
        sanitize(&mut h, &uri, false, local);
        assert_eq!(request_origin(&h, &uri), "http://repox.internal:8078");
        let mut h = headers(&sent);
        sanitize(&mut h, &uri, true, local);
        assert_eq!(request_origin(&h, &uri), "https://repo.example.com");
    }

    #[test]
    fn a_bad_host_falls_back_to_the_listening_address() {
        let local: SocketAddr = "0.0.0.0:9000".parse().unwrap();
        let uri = Uri::from_static("/npm/x");
        let mut h = headers(&[("host", "evil\"host")]);
        sanitize(&mut h, &uri, false, local);
        assert_eq!(request_origin(&h, &uri), "http://127.0.0.1:9000");
        let mut h = headers(&[("host", "ok:1"), ("x-forwarded-host", "a b")]);
        sanitize(&mut h, &uri, true, local);
        assert_eq!(request_origin(&h, &uri), "http://ok:1");
        let mut h = HeaderMap::new();
        sanitize(&mut h, &uri, false, "10.1.1.1:7".parse().unwrap());
        assert_eq!(request_origin(&h, &uri), "http://10.1.1.1:7");
    }

    #[test]
    fn client_address_skips_trusted_hops() {
        let trusted = nets(&["10.0.0.0/8"]);
        let h = headers(&[("x-forwarded-for", "1.2.3.4, 5.6.7.8, 10.0.0.2")]);
        let peer = |s: &str| Some(s.parse::<IpAddr>().unwrap());
        assert_eq!(client_addr(peer("10.0.0.1"), &h, &trusted), peer("5.6.7.8"));
        assert_eq!(client_addr(peer("9.9.9.9"), &h, &trusted), peer("9.9.9.9"));
        assert_eq!(
            client_addr(peer("10.0.0.1"), &HeaderMap::new(), &trusted),
            peer("10.0.0.1")
        );
        assert_eq!(
            client_addr(peer("::ffff:10.0.0.1"), &h, &trusted),
            peer("5.6.7.8")
        );
        assert_eq!(client_addr(None, &h, &trusted), None);
    }
}
