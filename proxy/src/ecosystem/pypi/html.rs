//! PEP 503 HTML: reading upstream project and index pages, writing repox's.
//!
//! Upstream pages are tag soup as often as not (static indexes, Nexus, the PyTorch index), so
//! they go through a WHATWG tokenizer (html5gum), which decodes entities in attribute values
//! (`data-requires-python="&gt;=3.8"`) and survives unclosed tags. Each `<a>` becomes a
//! [`Dist`] in PEP 691 form: the `#<hash>=<hex>` fragment becomes `hashes`, `data-yanked`
//! (PEP 592), `data-core-metadata`/`data-dist-info-metadata` (PEP 658/714), `data-gpg-sig`,
//! `data-requires-python` and `data-provenance` (PEP 740) become their JSON keys. Rendering goes
//! the other way and writes both metadata attributes, as PEP 714 allows, for older pips.

use html5gum::{Token, Tokenizer};
use serde_json::{Map, Value};
use url::Url;

use super::model::{Dist, HASH_NAMES, Merged, Metadata, Page, raw};
use super::name;

/// An `<a>` being read: its attributes and text so far.
struct Anchor {
    attrs: Vec<(String, String)>,
    text: String,
}

impl Anchor {
    fn get(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

fn attrs(tag: &html5gum::StartTag<()>) -> Vec<(String, String)> {
    tag.attributes
        .iter()
        .map(|(k, v)| {
            (
                String::from_utf8_lossy(k).into_owned(),
                String::from_utf8_lossy(&v.value).into_owned(),
            )
        })
        .collect()
}

/// Walks the `<a>` elements of a page, with `<base href>` and `<meta>` seen on the way.
fn walk(body: &[u8], mut meta: impl FnMut(&str, &str), mut anchor: impl FnMut(Anchor)) {
    let mut open: Option<Anchor> = None;
    for token in Tokenizer::new(body).flatten() {
        match token {
            Token::StartTag(tag) => match &tag.name[..] {
                b"a" => {
                    if let Some(done) = open.take() {
                        anchor(done);
                    }
                    open = Some(Anchor {
                        attrs: attrs(&tag),
                        text: String::new(),
                    });
                }
                b"meta" | b"base" => {
                    let a = Anchor {
                        attrs: attrs(&tag),
                        text: String::new(),
                    };
                    if &tag.name[..] == b"base" {
                        meta("base", a.get("href").unwrap_or(""));
                    } else if let (Some(n), Some(c)) = (a.get("name"), a.get("content")) {
                        meta(n, c);
                    }
                }
                _ => {}
            },
            Token::String(s) => {
                if let Some(a) = &mut open {
                    a.text.push_str(&String::from_utf8_lossy(&s.value));
                }
            }
            Token::EndTag(tag) if &tag.name[..] == b"a" => {
                if let Some(done) = open.take() {
                    anchor(done);
                }
            }
            _ => {}
        }
    }
    if let Some(done) = open.take() {
        anchor(done);
    }
}

/// A metadata attribute value: `true` (or empty) → unhashed; `sha256=<hex>` → that hash.
fn metadata_value(v: &str) -> Option<Metadata> {
    let v = v.trim();
    if v.is_empty() || v.eq_ignore_ascii_case("true") {
        return Some(Metadata::Unhashed);
    }
    let (name, hex) = v.split_once('=')?;
    Some(Metadata::Hashes(vec![(name.to_owned(), hex.to_owned())]))
}

/// Parses an upstream PEP 503 project page fetched from `page_url`.
pub fn parse(body: &[u8], page_url: &Url) -> Page {
    let mut base = page_url.clone();
    let mut page = Page::default();
    let mut status = Map::new();
    let mut anchors = Vec::new();
    walk(
        body,
        |name, content| match name {
            "base" => {
                if let Ok(b) = page_url.join(content) {
                    base = b;
                }
            }
            "pypi:repository-version" => {
                page.meta
                    .insert("api-version".into(), Value::String(content.to_owned()));
            }
            "pypi:project-status" => {
                status.insert("status".into(), Value::String(content.to_owned()));
            }
            "pypi:project-status-reason" => {
                status.insert("reason".into(), Value::String(content.to_owned()));
            }
            _ => {}
        },
        |a| anchors.push(a),
    );
    if !status.is_empty() {
        page.extra.push(("project-status".into(), raw(&status)));
    }
    page.files = anchors.into_iter().filter_map(|a| dist(a, &base)).collect();
    page
}

fn dist(a: Anchor, base: &Url) -> Option<Dist> {
    let mut url = base.join(a.get("href")?.trim()).ok()?;
    let fragment = url.fragment().map(str::to_owned);
    url.set_fragment(None);
    let mut filename = a.text.trim().to_owned();
    if filename.is_empty() {
        let last = url.path_segments()?.next_back()?;
        filename = percent_encoding::percent_decode_str(last)
            .decode_utf8()
            .ok()?
            .into_owned();
    }
    if filename.is_empty() {
        return None;
    }
    let mut d = Dist {
        filename,
        url: url.into(),
        ..Dist::default()
    };
    if let Some((name, hex)) = fragment.as_deref().and_then(|f| f.split_once('='))
        && HASH_NAMES.contains(&name)
    {
        d.hashes.push((name.to_owned(), hex.to_owned()));
    }
    d.requires_python = a.get("data-requires-python").map(str::to_owned);
    d.core_metadata = a
        .get("data-core-metadata")
        .or_else(|| a.get("data-dist-info-metadata"))
        .and_then(metadata_value);
    d.gpg_sig = a.get("data-gpg-sig").map(|sig| sig.trim() == "true");
    // PEP 592: the attribute alone means yanked; its value, if any, is the reason.
    d.yanked = a.get("data-yanked").map(str::to_owned);
    d.provenance = a
        .get("data-provenance")
        .and_then(|p| base.join(p).ok())
        .map(String::from);
    d.fill_json();
    Some(d)
}

/// Escapes text for HTML content and double-quoted attribute values.
pub fn escape(out: &mut String, s: &str) {
    if !s.contains(['&', '<', '>', '"', '\'']) {
        out.push_str(s);
        return;
    }
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

fn attr(out: &mut String, name: &str, value: &str) {
    out.push(' ');
    out.push_str(name);
    out.push_str("=\"");
    escape(out, value);
    out.push('"');
}

/// Unhashed → `true`; hashes → `sha256=<hex>` (sha256 if given, else the first).
fn metadata_attr(m: &Metadata) -> Option<String> {
    match m {
        Metadata::Unhashed => Some("true".into()),
        Metadata::Hashes(h) => {
            let (k, v) = h
                .iter()
                .find(|(k, _)| k == "sha256")
                .or_else(|| h.first())?;
            Some(format!("{k}={v}"))
        }
    }
}

fn head(out: &mut String, title: &str, api_version: &str, status: Option<&Map<String, Value>>) {
    out.push_str(
        "<!DOCTYPE html>\n<html>\n  <head>\n    <meta name=\"pypi:repository-version\" content=\"",
    );
    escape(out, api_version);
    out.push_str("\">\n");
    if let Some(status) = status {
        for (key, name) in [
            ("status", "pypi:project-status"),
            ("reason", "pypi:project-status-reason"),
        ] {
            if let Some(v) = status.get(key).and_then(Value::as_str) {
                out.push_str("    <meta");
                attr(out, "name", name);
                attr(out, "content", v);
                out.push_str(">\n");
            }
        }
    }
    out.push_str("    <title>");
    escape(out, title);
    out.push_str("</title>\n  </head>\n  <body>\n    <h1>");
    escape(out, title);
    out.push_str("</h1>\n");
}

const TAIL: &str = "  </body>\n</html>\n";

/// Renders a merged page; `hrefs[i]` is the (relative) URL clients get for file `i`.
pub fn render(page: &Merged, hrefs: &[String]) -> Vec<u8> {
    let mut out = String::with_capacity(512 + page.files.len() * 400);
    let api = page
        .meta
        .get("api-version")
        .and_then(Value::as_str)
        .unwrap_or("1.0");
    let status = page.extra_value("project-status");
    head(
        &mut out,
        &format!("Links for {}", page.name),
        api,
        status.as_ref().and_then(Value::as_object),
    );
    for ((_, d), href) in page.files.iter().zip(hrefs) {
        out.push_str("    <a href=\"");
        escape(&mut out, href);
        if let Some((name, hex)) = d.fragment_hash() {
            out.push('#');
            escape(&mut out, name);
            out.push('=');
            escape(&mut out, hex);
        }
        out.push('"');
        if let Some(rp) = &d.requires_python {
            attr(&mut out, "data-requires-python", rp);
        }
        if let Some(m) = d.core_metadata.as_ref().and_then(metadata_attr) {
            attr(&mut out, "data-dist-info-metadata", &m);
            attr(&mut out, "data-core-metadata", &m);
        }
        if let Some(sig) = d.gpg_sig {
            attr(&mut out, "data-gpg-sig", if sig { "true" } else { "false" });
        }
        match d.yanked.as_deref() {
            Some("") => out.push_str(" data-yanked"),
            Some(reason) => attr(&mut out, "data-yanked", reason),
            None => {}
        }
        if let Some(p) = &d.provenance {
            attr(&mut out, "data-provenance", p);
        }
        out.push('>');
        escape(&mut out, &d.filename);
        out.push_str("</a><br />\n");
    }
    out.push_str(TAIL);
    out.into_bytes()
}

/// Project names of an upstream PEP 503 root index (the link texts).
pub fn parse_index(body: &[u8]) -> Vec<String> {
    let mut names = Vec::new();
    walk(
        body,
        |_, _| {},
        |a| {
            let text = a.text.trim();
            if !text.is_empty() {
                names.push(text.to_owned());
            }
        },
    );
    names
}

/// Renders a root index; links are relative (`<normalized>/`).
pub fn render_index(names: &[String]) -> Vec<u8> {
    let mut out = String::with_capacity(256 + names.len() * 64);
    head(&mut out, "Simple index", "1.0", None);
    for n in names {
        out.push_str("    <a href=\"");
        escape(&mut out, &name::normalize(n));
        out.push_str("/\">");
        escape(&mut out, n);
        out.push_str("</a><br />\n");
    }
    out.push_str(TAIL);
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::repository::Verify;

    /// As PyPI served `https://pypi.org/simple/pip/` (trimmed), with a yank and metadata.
    const PYPI: &str = r#"<!DOCTYPE html>
<html>
  <head>
    <meta name="pypi:repository-version" content="1.1">
    <title>Links for pip</title>
  </head>
  <body>
    <h1>Links for pip</h1>
    <a href="https://files.pythonhosted.org/packages/3d/ab/21fa8d1ecf5648559f056fda732b0f9fca0585eb2688252e67f70e74deaf/pip-0.2.tar.gz#sha256=88bb8d029e1bf4acd0e04d300104b7440086f94cc1ce1c5c3c31e3293aee1f81" >pip-0.2.tar.gz</a><br />
    <a href="https://files.pythonhosted.org/packages/47/ca/f0d790b6e18b3a6f3bd5e80c2ee4edbb5807286c21cdd0862ca933f751dd/pip-21.2-py3-none-any.whl#sha256=71f447dad669e8bd8a8d8d6a8a3ed8b5efec1bdbb1d2c3d4e5f6a7b8c9d0e1f2" data-requires-python="&gt;=3.6" data-dist-info-metadata="sha256=d7c3f1d4a5e6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2" data-core-metadata="sha256=d7c3f1d4a5e6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2" data-yanked="See https://github.com/pypa/pip/issues/8711" >pip-21.2-py3-none-any.whl</a><br />
  </body>
</html>
<!--SERIAL 25394536-->"#;

    fn page(body: &str, url: &str) -> Page {
        parse(body.as_bytes(), &Url::parse(url).unwrap())
    }

    #[test]
    fn parses_pypi_html() {
        let p = page(PYPI, "https://pypi.org/simple/pip/");
        assert_eq!(p.meta["api-version"], "1.1");
        assert_eq!(p.files.len(), 2);
        let sdist = &p.files[0];
        assert_eq!(sdist.filename, "pip-0.2.tar.gz");
        assert!(matches!(sdist.verify(), Verify::Sha256(h) if h.starts_with("88bb")));
        assert!(!sdist.url.contains('#'));
        assert!(sdist.metadata_check().is_none());
        assert_eq!(sdist.yanked, None);
        let whl = &p.files[1];
        assert_eq!(whl.requires_python.as_deref(), Some(">=3.6"));
        assert_eq!(
            whl.yanked.as_deref(),
            Some("See https://github.com/pypa/pip/issues/8711")
        );
        assert!(matches!(whl.metadata_check(), Some(Verify::Sha256(h)) if h.starts_with("d7c3")));
    }

    #[test]
    fn relative_links_missing_hashes_bare_yanks_and_base() {
        // Shapes seen on Nexus/Artifactory (`../../packages/…`), devpi (`+f/…`), static
        // indexes (bare filenames, no hash), and PyTorch (`%2B` local versions, uppercase tags).
        let body = r#"<html><body>
            <A HREF="../../packages/demo/1.0/demo-1.0.tar.gz#md5=0123">demo-1.0.tar.gz</A>
            <a href="demo-1.1-py3-none-any.whl" data-yanked>demo-1.1-py3-none-any.whl
            <a href="/whl/cpu/demo-2.0%2Bcpu-cp311-cp311-linux_x86_64.whl#sha256=AA" data-core-metadata="true">demo-2.0+cpu-cp311-cp311-linux_x86_64.whl</a>
            <a href="https://other.example/x/demo-3.0.zip"></a>
            <a>no href</a>
        </body></html>"#;
        let p = page(body, "https://idx.example/repository/pypi/simple/demo/");
        let urls: Vec<&str> = p.files.iter().map(|d| d.url.as_str()).collect();
        assert_eq!(
            urls,
            [
                "https://idx.example/repository/pypi/packages/demo/1.0/demo-1.0.tar.gz",
                "https://idx.example/repository/pypi/simple/demo/demo-1.1-py3-none-any.whl",
                "https://idx.example/whl/cpu/demo-2.0%2Bcpu-cp311-cp311-linux_x86_64.whl",
                "https://other.example/x/demo-3.0.zip",
            ]
        );
        assert_eq!(p.files[0].hashes, [("md5".to_owned(), "0123".to_owned())]);
        assert_eq!(p.files[0].verify(), Verify::None);
        assert_eq!(p.files[1].yanked.as_deref(), Some(""));
        assert!(p.files[1].hashes.is_empty());
        assert_eq!(
            p.files[2].filename,
            "demo-2.0+cpu-cp311-cp311-linux_x86_64.whl"
        );
        assert_eq!(p.files[2].metadata_check(), Some(Verify::None));
        assert_eq!(p.files[3].filename, "demo-3.0.zip");

        let based = page(
            r#"<base href="https://cdn.example/files/"><a href="a-1.0.tar.gz">a-1.0.tar.gz</a>"#,
            "https://idx.example/simple/a/",
        );
        assert_eq!(based.files[0].url, "https://cdn.example/files/a-1.0.tar.gz");
    }

    #[test]
    fn renders_what_it_parses() {
        let p = page(PYPI, "https://pypi.org/simple/pip/");
        let merged = super::super::model::merge("pip", vec![(0, p)]);
        let hrefs: Vec<String> = merged
            .files
            .iter()
            .map(|(_, d)| format!("../../x/{}", d.filename))
            .collect();
        let html = String::from_utf8(render(&merged, &hrefs)).unwrap();
        assert!(html.contains(r#"<meta name="pypi:repository-version" content="1.1">"#));
        assert!(
            html.contains(r#"data-requires-python="&gt;=3.6""#),
            "{html}"
        );
        assert!(html.contains(r#"data-yanked="See https://github.com/pypa/pip/issues/8711""#));
        let again = page(&html, "http://repox/pypi/simple/pip/");
        assert_eq!(again.files.len(), 2);
        assert_eq!(
            again.files[1].url,
            "http://repox/pypi/x/pip-21.2-py3-none-any.whl"
        );
        for (a, b) in merged.files.iter().zip(&again.files) {
            assert_eq!(a.1.filename, b.filename);
            assert_eq!(a.1.hashes, b.hashes);
            assert_eq!(a.1.yanked, b.yanked);
            assert_eq!(a.1.requires_python, b.requires_python);
            assert_eq!(a.1.core_metadata, b.core_metadata);
            assert_eq!(a.1.json, b.json);
        }
    }

    #[test]
    fn escapes_names_in_the_index() {
        let names = parse_index(b"<a href='/simple/a-b/'>A.b</a><a href='x/'>x&amp;y</a>");
        assert_eq!(names, ["A.b", "x&y"]);
        let html = String::from_utf8(render_index(&names)).unwrap();
        assert!(html.contains(r#"<a href="a-b/">A.b</a>"#));
        assert!(html.contains("x&amp;y</a>"));
    }
}
