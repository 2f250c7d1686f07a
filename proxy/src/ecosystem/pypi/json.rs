//! PEP 691 JSON: reading upstream project and index pages, writing repox's.
//!
//! Parsing keeps every key (PEP 691 tells clients to ignore unknown keys, so a proxy must pass
//! them on); it only resolves `url` against the page (it may be relative) and makes
//! `provenance` absolute, so that a PEP 740 URL relative to the upstream never breaks when the
//! page is served from repox. PEP 714: a file that only has the older `dist-info-metadata` (or
//! `data-dist-info-metadata`, as Warehouse spelled it in JSON) gets `core-metadata` too.

use std::borrow::Cow;
use std::fmt;
use std::io::Write;

use serde::de::{Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;
use url::Url;

use super::model::{Dist, Merged, Metadata, Page, raw};

/// A JSON object as (key, value) pairs borrowed from the input, in order: values stay unparsed
/// until (unless) repox needs them.
struct RawObject<'a>(Vec<(Cow<'a, str>, &'a RawValue)>);

#[derive(Deserialize)]
struct Key<'a>(#[serde(borrow)] Cow<'a, str>);

impl<'de> Deserialize<'de> for RawObject<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Fields;
        impl<'de> Visitor<'de> for Fields {
            type Value = RawObject<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::with_capacity(map.size_hint().unwrap_or(12));
                while let Some(Key(k)) = map.next_key()? {
                    out.push((k, map.next_value()?));
                }
                Ok(RawObject(out))
            }
        }
        d.deserialize_map(Fields)
    }
}

fn parse_as<'a, T: Deserialize<'a>>(v: &'a RawValue) -> Option<T> {
    serde_json::from_str(v.get()).ok()
}

/// `{"sha256": "<hex>", …}` → pairs of strings (other values are dropped).
fn hashes(v: &RawValue) -> Vec<(String, String)> {
    parse_as::<RawObject<'_>>(v)
        .map(|o| {
            o.0.into_iter()
                .filter_map(|(k, v)| Some((k.into_owned(), parse_as::<String>(v)?)))
                .collect()
        })
        .unwrap_or_default()
}

/// `true` → unhashed, `{…}` → its hashes, anything else → none.
fn metadata(v: &RawValue) -> Option<Metadata> {
    match v.get().as_bytes().first()? {
        b't' => Some(Metadata::Unhashed),
        b'{' => Some(Metadata::Hashes(hashes(v))),
        _ => None,
    }
}

/// PEP 592 in JSON: `true` or a reason string; `false`, `null` or `""` is not yanked.
fn yanked(v: &RawValue) -> Option<String> {
    match v.get().as_bytes().first()? {
        b't' => Some(String::new()),
        b'"' => parse_as::<String>(v).filter(|r| !r.is_empty()),
        _ => None,
    }
}

/// `url` resolved against the page, without its fragment. Absolute URLs already in the form
/// the `url` crate would print are taken as they are (parsing 2,000 of them is measurable).
pub fn resolve(page_url: &Url, url: &str) -> Option<String> {
    let url = url.split('#').next().unwrap_or(url);
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    if let Some(rest) = rest {
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        // No port, user or upper case; not an IPv4 address (the url crate rewrites `0127.1`).
        let plain_authority = !authority.is_empty()
            && authority
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
            && !authority
                .rsplit('.')
                .next()
                .is_some_and(|l| l.bytes().all(|b| b.is_ascii_digit()));
        // Nothing the url crate would percent-encode or normalize (dot segments, `%2e`, `\`).
        let plain_path = path.starts_with('/')
            && path
                .bytes()
                .all(|b| b.is_ascii_graphic() && !b"\"'<>\\^`{|}".contains(&b))
            && !path.contains("/./")
            && !path.contains("/../")
            && !path.ends_with("/.")
            && !path.ends_with("/..")
            && !path.to_ascii_lowercase().contains("%2e");
        if plain_authority && plain_path {
            return Some(url.to_owned());
        }
    }
    let mut u = page_url.join(url).ok()?;
    u.set_fragment(None);
    Some(u.into())
}

/// Parses an upstream PEP 691 project page fetched from `page_url`.
pub fn parse(body: &[u8], page_url: &Url) -> Result<Page, String> {
    let top: RawObject<'_> =
        serde_json::from_slice(body).map_err(|e| format!("invalid JSON page: {e}"))?;
    let mut page = Page::default();
    let mut files = None;
    for (k, v) in top.0 {
        match &*k {
            "meta" => page.meta = parse_as(v).unwrap_or_default(),
            "name" => {}
            "versions" => page.versions = parse_as(v),
            "files" => files = Some(v),
            _ => page.extra.push((k.into_owned(), v.to_owned())),
        }
    }
    let files: Vec<RawObject<'_>> = files
        .and_then(parse_as)
        .ok_or("the JSON page has no `files` array")?;
    page.files.reserve(files.len());
    for file in files {
        if let Some(d) = dist(file, page_url) {
            page.files.push(d);
        }
    }
    Ok(page)
}

fn dist(file: RawObject<'_>, page_url: &Url) -> Option<Dist> {
    let mut d = Dist::default();
    let (mut filename, mut url, mut legacy) = (None, None, None);
    let mut has_hashes = false;
    d.json.reserve(512);
    for (k, v) in file.0 {
        let mut replaced = None;
        match &*k {
            "filename" => {
                filename = parse_as::<String>(v);
                continue;
            }
            "url" => {
                url = parse_as::<String>(v);
                continue;
            }
            "hashes" => {
                d.hashes = hashes(v);
                has_hashes = true;
            }
            "requires-python" => d.requires_python = parse_as::<Option<String>>(v).flatten(),
            "core-metadata" => d.core_metadata = metadata(v),
            "dist-info-metadata" | "data-dist-info-metadata" => legacy = Some((metadata(v), v)),
            "yanked" => d.yanked = yanked(v),
            "gpg-sig" => d.gpg_sig = parse_as(v),
            "size" => d.size = parse_as(v),
            "provenance" => {
                if let Some(p) = parse_as::<Option<String>>(v).flatten()
                    && let Some(abs) = resolve(page_url, &p)
                {
                    if abs != p {
                        replaced = Some(raw(&abs));
                    }
                    d.provenance = Some(abs);
                }
            }
            _ => {}
        }
        member(&mut d.json, &k, replaced.as_deref().unwrap_or(v));
    }
    d.filename = filename?;
    d.url = resolve(page_url, &url?)?;
    if !has_hashes {
        d.json.insert_str(0, r#","hashes":{}"#);
    }
    // PEP 714: `core-metadata` is the name; older indexes only have the legacy one.
    if d.core_metadata.is_none()
        && let Some((m, v)) = legacy
        && m.is_some()
    {
        d.core_metadata = m;
        member(&mut d.json, "core-metadata", v);
    }
    Some(d)
}

/// Appends `,"<key>":<value>`. A key borrowed from the input had no escapes, so it is written
/// between quotes as it is.
fn member(out: &mut String, key: &str, value: &RawValue) {
    out.push(',');
    if key.contains(['"', '\\']) || key.chars().any(char::is_control) {
        out.push_str(&serde_json::to_string(key).expect("a string serializes"));
    } else {
        out.push('"');
        out.push_str(key);
        out.push('"');
    }
    out.push(':');
    out.push_str(value.get());
}

fn string(out: &mut Vec<u8>, s: &str) {
    serde_json::to_writer(&mut *out, s).expect("writing to a Vec");
}

/// Renders a merged page; `hrefs[i]` is the (relative) URL clients get for file `i`.
pub fn render(page: &Merged, hrefs: &[String]) -> Vec<u8> {
    let mut out = Vec::with_capacity(256 + page.files.len() * 640);
    // PEP 700 (1.1) promises `size` for every file; files from an HTML upstream have none.
    let mut meta = page.meta.clone();
    if !page.all_sized && meta.get("api-version").and_then(Value::as_str) != Some("1.0") {
        meta.insert("api-version".into(), Value::String("1.0".into()));
    }
    out.extend_from_slice(b"{\"meta\":");
    serde_json::to_writer(&mut out, &meta).expect("writing to a Vec");
    out.extend_from_slice(b",\"name\":");
    string(&mut out, &page.name);
    out.extend_from_slice(b",\"versions\":");
    serde_json::to_writer(&mut out, &page.versions).expect("writing to a Vec");
    out.extend_from_slice(b",\"files\":[");
    for (n, ((_, d), href)) in page.files.iter().zip(hrefs).enumerate() {
        if n > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"filename\":");
        string(&mut out, &d.filename);
        out.extend_from_slice(b",\"url\":");
        string(&mut out, href);
        out.extend_from_slice(d.json.as_bytes());
        out.push(b'}');
    }
    out.push(b']');
    for (k, v) in &page.extra {
        out.push(b',');
        string(&mut out, k);
        let _ = write!(out, ":{}", v.get());
    }
    out.push(b'}');
    out
}

#[derive(Deserialize)]
struct Index {
    projects: Vec<Project>,
}

#[derive(Deserialize, Serialize)]
struct Project {
    name: String,
}

/// Project names of an upstream PEP 691 root index (`/simple/`).
pub fn parse_index(body: &[u8]) -> Result<Vec<String>, String> {
    let index: Index = serde_json::from_slice(body).map_err(|e| format!("invalid JSON: {e}"))?;
    Ok(index.projects.into_iter().map(|p| p.name).collect())
}

/// Renders a root index.
pub fn render_index(names: &[String]) -> Vec<u8> {
    #[derive(Serialize)]
    struct Out<'a> {
        meta: Value,
        projects: Vec<Ref<'a>>,
    }
    #[derive(Serialize)]
    struct Ref<'a> {
        name: &'a str,
    }
    serde_json::to_vec(&Out {
        meta: serde_json::json!({"api-version": "1.0"}),
        projects: names.iter().map(|name| Ref { name }).collect(),
    })
    .expect("an index serializes")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Trimmed from `https://pypi.org/simple/tomli/` (application/vnd.pypi.simple.v1+json).
    const PYPI: &str = r#"{"alternate-locations":[],"files":[
      {"core-metadata":{"sha256":"a1a8b1e0b5cfb2bb3c5b7ba8a5e7d6e7a2f8f0c8c1e8a8b5c5d0b0c7e3b8c5f1"},"data-dist-info-metadata":{"sha256":"a1a8b1e0b5cfb2bb3c5b7ba8a5e7d6e7a2f8f0c8c1e8a8b5c5d0b0c7e3b8c5f1"},"filename":"tomli-2.0.1-py3-none-any.whl","hashes":{"sha256":"939de3e7a6161af0c887ef91b7d41a53e7c5a1ca976325f429cb46ea9bc30ecc"},"provenance":null,"requires-python":">=3.7","size":12757,"upload-time":"2022-02-08T10:54:02.017765Z","url":"https://files.pythonhosted.org/packages/97/75/10a9ebee3fd790d20926a90a2547f0bf78f371b2f13aa822c759680ca7b9/tomli-2.0.1-py3-none-any.whl","yanked":false},
      {"filename":"tomli-2.0.2.tar.gz","hashes":{},"requires-python":">=3.8","size":1,"url":"../../packages/tomli-2.0.2.tar.gz#sha256=00","yanked":"broken build","provenance":"/integrity/tomli/2.0.2/tomli-2.0.2.tar.gz/provenance","x-future":{"a":1}}
    ],"meta":{"_last-serial":25361974,"api-version":"1.4"},"name":"tomli","project-status":{"status":"active"},"versions":["2.0.1","2.0.2"]}"#;

    fn raw_of(d: &Dist, key: &str) -> String {
        let v: Value = serde_json::from_str(&format!("{{\"_\":0{}}}", d.json)).unwrap();
        v[key].to_string()
    }

    #[test]
    fn parses_pypi_and_keeps_unknown_keys() {
        let base = Url::parse("https://pypi.org/simple/tomli/").unwrap();
        let page = parse(PYPI.as_bytes(), &base).unwrap();
        assert_eq!(page.meta["_last-serial"], 25361974);
        assert_eq!(page.versions.as_deref().unwrap(), ["2.0.1", "2.0.2"]);
        let extra: Vec<&str> = page.extra.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(extra, ["alternate-locations", "project-status"]);
        let [whl, sdist] = &page.files[..] else {
            panic!("two files")
        };
        assert_eq!(whl.size, Some(12757));
        assert_eq!(
            raw_of(whl, "upload-time"),
            "\"2022-02-08T10:54:02.017765Z\""
        );
        assert!(whl.metadata_check().is_some());
        assert_eq!(
            whl.url,
            "https://files.pythonhosted.org/packages/97/75/10a9ebee3fd790d20926a90a2547f0bf78f371b2f13aa822c759680ca7b9/tomli-2.0.1-py3-none-any.whl"
        );
        assert_eq!(sdist.url, "https://pypi.org/packages/tomli-2.0.2.tar.gz");
        assert_eq!(sdist.yanked.as_deref(), Some("broken build"));
        let provenance = "https://pypi.org/integrity/tomli/2.0.2/tomli-2.0.2.tar.gz/provenance";
        assert_eq!(sdist.provenance.as_deref(), Some(provenance));
        assert_eq!(raw_of(sdist, "provenance"), format!("\"{provenance}\""));
        assert_eq!(raw_of(sdist, "x-future"), r#"{"a":1}"#);
        assert!(sdist.hashes.is_empty());
    }

    #[test]
    fn legacy_dist_info_metadata_also_becomes_core_metadata() {
        let body = r#"{"meta":{"api-version":"1.0"},"name":"a","files":[{"filename":"a-1-py3-none-any.whl","url":"a-1-py3-none-any.whl","hashes":{},"dist-info-metadata":true}]}"#;
        let base = Url::parse("https://idx/simple/a/").unwrap();
        let page = parse(body.as_bytes(), &base).unwrap();
        assert_eq!(page.files[0].core_metadata, Some(Metadata::Unhashed));
        assert_eq!(raw_of(&page.files[0], "core-metadata"), "true");
        assert_eq!(page.versions, None);
        assert_eq!(
            page.files[0].url,
            "https://idx/simple/a/a-1-py3-none-any.whl"
        );
    }

    #[test]
    fn rejects_what_is_not_a_page() {
        let base = Url::parse("https://idx/simple/a/").unwrap();
        assert!(parse(b"[]", &base).is_err());
        assert!(parse(b"{\"meta\":{}}", &base).is_err());
        assert!(parse(b"<html>", &base).is_err());
    }

    #[test]
    fn urls_resolve_like_the_url_crate() {
        let base = Url::parse("https://idx.example/simple/a/").unwrap();
        for url in [
            "https://files.pythonhosted.org/packages/aa/bb/x.whl#sha256=00",
            "https://HOST.example/a/x.whl",
            "https://h.example:443/a/x.whl",
            "https://h.example/a/../x y.whl",
            "http://h.example/a/%2e%2e/x.whl",
            "../../packages/x.whl",
            "/x.whl",
            "x.whl",
            "https://h.example",
            "https://127.0.0.1/x.whl",
            "https://h.example/a?b='c'",
            "https://h.example/a/%2E./x.whl",
            "https://h.example/a/x%20y.whl?q=1",
        ] {
            let mut want = base.join(url).unwrap();
            want.set_fragment(None);
            assert_eq!(resolve(&base, url).unwrap(), want.as_str(), "{url}");
        }
    }

    #[test]
    fn renders_unknown_keys_verbatim() {
        let base = Url::parse("https://pypi.org/simple/tomli/").unwrap();
        let page = parse(PYPI.as_bytes(), &base).unwrap();
        let merged = super::super::model::merge("tomli", vec![(0, page)]);
        let hrefs = vec!["../../a".to_owned(), "../../b".to_owned()];
        let out: Value = serde_json::from_slice(&render(&merged, &hrefs)).unwrap();
        assert_eq!(out["files"][1]["url"], "../../b");
        assert_eq!(out["files"][1]["x-future"]["a"], 1);
        assert_eq!(
            out["files"][0]["upload-time"],
            "2022-02-08T10:54:02.017765Z"
        );
        assert_eq!(out["files"][0]["provenance"], Value::Null);
        assert_eq!(out["project-status"]["status"], "active");
        assert_eq!(out["meta"]["api-version"], "1.4");
        assert_eq!(out["versions"][1], "2.0.2");
    }

    #[test]
    fn index_round_trip() {
        let names = parse_index(
            br#"{"meta":{"api-version":"1.0"},"projects":[{"name":"A.b"},{"name":"c"}]}"#,
        )
        .unwrap();
        assert_eq!(names, ["A.b", "c"]);
        let out: Value = serde_json::from_slice(&render_index(&names)).unwrap();
        assert_eq!(out["projects"][0]["name"], "A.b");
    }
}
