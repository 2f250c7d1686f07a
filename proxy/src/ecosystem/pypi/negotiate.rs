//! Choosing HTML or JSON for a simple-API page (PEP 691), the way PyPI does.
//!
//! Warehouse offers `text/html`, `application/vnd.pypi.simple.v1+html` and
//! `application/vnd.pypi.simple.v1+json` in that order and takes the acceptable offer with the
//! highest quality, ties going to the earlier offer; with nothing acceptable it answers
//! `text/html`. `?format=` overrides `Accept`, and the `latest` meta-versions mean v1. The result
//! is one of three variants, which is what the response (and its memo) is keyed on: never the
//! raw header (pulp/pulp_python#1303 poisoned its cache that way).

/// The representation served for a simple-API page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Variant {
    /// `text/html` (PEP 503).
    TextHtml,
    /// `application/vnd.pypi.simple.v1+html`.
    Html,
    /// `application/vnd.pypi.simple.v1+json` (PEP 691).
    Json,
}

/// `?format=` named a type repox cannot produce (answered 406).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotAcceptable(pub String);

const OFFERS: [Variant; 3] = [Variant::TextHtml, Variant::Html, Variant::Json];

impl Variant {
    /// The Content-Type to send.
    pub fn content_type(self) -> &'static str {
        match self {
            Variant::TextHtml => "text/html; charset=utf-8",
            Variant::Html => "application/vnd.pypi.simple.v1+html",
            Variant::Json => "application/vnd.pypi.simple.v1+json",
        }
    }

    fn media(self) -> (&'static str, &'static str) {
        match self {
            Variant::TextHtml => ("text", "html"),
            Variant::Html => ("application", "vnd.pypi.simple.v1+html"),
            Variant::Json => ("application", "vnd.pypi.simple.v1+json"),
        }
    }

    /// The variant a bare media type names (`latest` = v1), if any.
    fn named(media: &str) -> Option<Variant> {
        match media.trim().to_ascii_lowercase().as_str() {
            "text/html" => Some(Variant::TextHtml),
            "application/vnd.pypi.simple.v1+html" | "application/vnd.pypi.simple.latest+html" => {
                Some(Variant::Html)
            }
            "application/vnd.pypi.simple.v1+json" | "application/vnd.pypi.simple.latest+json" => {
                Some(Variant::Json)
            }
            _ => None,
        }
    }
}

/// The `format` parameter of a query string, percent-decoded.
pub fn format_param(query: Option<&str>) -> Option<String> {
    query?.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == "format").then(|| {
            // `+` stays literal: `?format=application/vnd.pypi.simple.v1+json` is written by hand.
            percent_encoding::percent_decode_str(v)
                .decode_utf8_lossy()
                .into_owned()
        })
    })
}

/// Picks the variant for a request's `Accept` header and `?format=` value.
pub fn negotiate(accept: Option<&str>, format: Option<&str>) -> Result<Variant, NotAcceptable> {
    if let Some(format) = format {
        return Variant::named(format).ok_or_else(|| NotAcceptable(format.to_owned()));
    }
    let Some(accept) = accept.filter(|a| !a.trim().is_empty()) else {
        return Ok(Variant::TextHtml);
    };
    let ranges: Vec<(String, String, f32)> = accept.split(',').filter_map(parse_range).collect();
    let mut best: Option<(Variant, f32)> = None;
    for offer in OFFERS {
        let q = quality(&ranges, offer);
        if q > 0.0 && best.is_none_or(|(_, b)| q > b) {
            best = Some((offer, q));
        }
    }
    Ok(best.map_or(Variant::TextHtml, |(v, _)| v))
}

/// `type/subtype; q=0.5` → (type, subtype, q); `latest` is read as v1.
fn parse_range(item: &str) -> Option<(String, String, f32)> {
    let mut parts = item.split(';');
    let media = parts.next()?.trim().to_ascii_lowercase();
    let media = media.replace(".latest+", ".v1+");
    let (ty, sub) = media.split_once('/')?;
    let mut q = 1.0;
    for param in parts {
        if let Some((k, v)) = param.split_once('=')
            && k.trim().eq_ignore_ascii_case("q")
        {
            q = v.trim().parse::<f32>().ok()?.clamp(0.0, 1.0);
        }
    }
    Some((ty.trim().to_owned(), sub.trim().to_owned(), q))
}

/// RFC 9110 §12.5.1: the quality of an offer is that of the most specific range matching it.
fn quality(ranges: &[(String, String, f32)], offer: Variant) -> f32 {
    let (ty, sub) = offer.media();
    let mut best: Option<(u8, f32)> = None;
    for (rt, rs, q) in ranges {
        let specificity = match (rt.as_str(), rs.as_str()) {
            (t, s) if t == ty && s == sub => 2,
            (t, "*") if t == ty => 1,
            ("*", "*") => 0,
            _ => continue,
        };
        if best.is_none_or(|(s, _)| specificity > s) {
            best = Some((specificity, *q));
        }
    }
    best.map_or(0.0, |(_, q)| q)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PIP: &str = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01";
    const UV: &str = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01";

    #[test]
    fn real_clients_get_json() {
        assert_eq!(negotiate(Some(PIP), None), Ok(Variant::Json));
        assert_eq!(negotiate(Some(UV), None), Ok(Variant::Json));
    }

    #[test]
    fn old_clients_and_browsers_get_html() {
        assert_eq!(negotiate(None, None), Ok(Variant::TextHtml));
        assert_eq!(negotiate(Some("*/*"), None), Ok(Variant::TextHtml));
        assert_eq!(
            negotiate(Some("text/html,application/xhtml+xml,*/*;q=0.8"), None),
            Ok(Variant::TextHtml)
        );
        assert_eq!(negotiate(Some("image/png"), None), Ok(Variant::TextHtml));
    }

    #[test]
    fn ties_go_to_html_like_warehouse() {
        let both = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html";
        assert_eq!(negotiate(Some(both), None), Ok(Variant::Html));
        assert_eq!(
            negotiate(Some("application/vnd.pypi.simple.latest+json"), None),
            Ok(Variant::Json)
        );
        assert_eq!(
            negotiate(Some("application/*;q=0.5, text/html;q=0"), None),
            Ok(Variant::Html)
        );
    }

    #[test]
    fn format_parameter_overrides_accept() {
        let q = format_param(Some("a=1&format=application%2Fvnd.pypi.simple.v1%2Bjson"));
        assert_eq!(q.as_deref(), Some("application/vnd.pypi.simple.v1+json"));
        assert_eq!(
            negotiate(Some("text/html"), q.as_deref()),
            Ok(Variant::Json)
        );
        assert_eq!(
            negotiate(None, Some("application/vnd.pypi.simple.latest+html")),
            Ok(Variant::Html)
        );
        assert!(negotiate(None, Some("application/xml")).is_err());
        let literal = format_param(Some("format=application/vnd.pypi.simple.v1+json"));
        assert_eq!(negotiate(None, literal.as_deref()), Ok(Variant::Json));
    }
}
