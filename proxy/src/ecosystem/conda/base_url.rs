//! Finding and replacing the absolute URLs a channel's index may carry: `info.base_url` in
//! repodata (CEP 15) and `info.base_url` / `info.shards_base_url` in the shard index (CEP 16).
//!
//! Relative URLs resolve against repox's own URL and need nothing; an absolute one would send
//! clients straight to the upstream host. conda resolves `base_url` as a channel (a relative
//! value would be taken for a channel name), so the replacement is absolute too.
//!
//! In repodata the field is located by a streaming scan that stops as soon as the top-level
//! `info` object closes (it comes first in practice), so checking a 300 MB repodata.json usually
//! reads a few kilobytes. Only a document that must change is read whole, spliced at the
//! value's byte range, and recompressed; every other byte stays as the upstream wrote it.

use std::io::{self, BufRead};

/// Where `info.base_url` is in a decompressed repodata document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Located {
    /// The decoded value.
    pub value: String,
    /// Byte range of the JSON string literal, quotes included.
    pub span: (usize, usize),
}

struct Frame {
    object: bool,
    expect_key: bool,
    key: Option<Vec<u8>>,
    info: bool,
}

/// Scans a JSON document for a string `info.base_url`; `None` when it has none (or is not
/// valid JSON as far as the scan can tell).
pub(super) fn locate(mut r: impl BufRead) -> io::Result<Option<Located>> {
    let mut stack: Vec<Frame> = Vec::new();
    let mut pos = 0usize;
    // Inside a string: its start, whether an escape is pending, and its bytes when wanted.
    let mut string: Option<(usize, bool, Option<Vec<u8>>)> = None;
    loop {
        let buf = r.fill_buf()?;
        if buf.is_empty() {
            return Ok(None);
        }
        let n = buf.len();
        for (i, &b) in buf.iter().enumerate() {
            let at = pos + i;
            if let Some((start, escape, capture)) = &mut string {
                if *escape {
                    *escape = false;
                } else if b == b'\\' {
                    *escape = true;
                } else if b == b'"' {
                    let (start, captured) = (*start, capture.take());
                    string = None;
                    let Some(top) = stack.last_mut() else {
                        continue;
                    };
                    if top.object && top.expect_key {
                        top.key = captured;
                        continue;
                    }
                    if top.info
                        && top.key.as_deref() == Some(b"base_url")
                        && let Some(raw) = captured
                    {
                        let mut literal = Vec::with_capacity(raw.len() + 2);
                        literal.push(b'"');
                        literal.extend_from_slice(&raw);
                        literal.push(b'"');
                        let value: Option<String> = serde_json::from_slice(&literal).ok();
                        return Ok(value.map(|value| Located {
                            value,
                            span: (start, at + 1),
                        }));
                    }
                    continue;
                }
                if let Some(c) = capture {
                    c.push(b);
                }
                continue;
            }
            match b {
                b'"' => {
                    // Keep the top-level keys, and the keys and values directly in `info`.
                    let wanted = match stack.last() {
                        Some(top) if stack.len() == 1 => top.expect_key,
                        Some(top) => top.info,
                        None => false,
                    };
                    string = Some((at, false, wanted.then(Vec::new)));
                }
                b'{' | b'[' => {
                    let info =
                        b == b'{' && stack.len() == 1 && stack[0].key.as_deref() == Some(b"info");
                    stack.push(Frame {
                        object: b == b'{',
                        expect_key: b == b'{',
                        key: None,
                        info,
                    });
                }
                b'}' | b']' => {
                    // The end of `info`, or of the whole document, ends the search.
                    let closed = stack.pop();
                    if closed.is_some_and(|f| f.info) || stack.is_empty() {
                        return Ok(None);
                    }
                }
                b':' => {
                    if let Some(top) = stack.last_mut() {
                        top.expect_key = false;
                    }
                }
                b',' => {
                    if let Some(top) = stack.last_mut()
                        && top.object
                    {
                        top.expect_key = true;
                        top.key = None;
                    }
                }
                _ => {}
            }
        }
        pos += n;
        r.consume(n);
    }
}

/// The document with the string at `span` replaced by `new`.
pub(super) fn splice(doc: &[u8], span: (usize, usize), new: &str) -> Vec<u8> {
    let literal = serde_json::to_string(new).expect("a string serializes");
    let mut out = Vec::with_capacity(doc.len() + literal.len());
    out.extend_from_slice(&doc[..span.0]);
    out.extend_from_slice(literal.as_bytes());
    out.extend_from_slice(&doc[span.1..]);
    out
}

/// True for URLs with a scheme (`https://…`), which clients do not resolve against repox.
pub(super) fn is_absolute(url: &str) -> bool {
    url::Url::parse(url).is_ok()
}

/// The `info` fields of a shard index (decompressed msgpack) that hold URLs.
pub(super) const SHARD_INDEX_URLS: [&str; 2] = ["base_url", "shards_base_url"];

/// The string `info.<field>` of a decoded msgpack document.
pub(super) fn msgpack_info<'a>(doc: &'a rmpv::Value, field: &str) -> Option<&'a str> {
    map_get(map_get(doc, "info")?, field)?.as_str()
}

/// Looks a string key up in a msgpack map.
pub(super) fn map_get<'a>(map: &'a rmpv::Value, key: &str) -> Option<&'a rmpv::Value> {
    map.as_map()?
        .iter()
        .find(|(k, _)| k.as_str() == Some(key))
        .map(|(_, v)| v)
}

/// Sets `info.<field>` of a decoded msgpack document to `value`.
pub(super) fn set_msgpack_info(doc: &mut rmpv::Value, field: &str, value: &str) {
    let rmpv::Value::Map(top) = doc else { return };
    let Some((_, rmpv::Value::Map(info))) =
        top.iter_mut().find(|(k, _)| k.as_str() == Some("info"))
    else {
        return;
    };
    if let Some((_, v)) = info.iter_mut().find(|(k, _)| k.as_str() == Some(field)) {
        *v = rmpv::Value::from(value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find(doc: &str) -> Option<Located> {
        // A tiny buffer exercises values split across reads.
        locate(io::BufReader::with_capacity(3, doc.as_bytes())).unwrap()
    }

    #[test]
    fn finds_base_url_in_info_only() {
        let doc = r#"{"info": {"subdir": "noarch", "base_url": "https://cdn.example/c/noarch/"}, "packages": {}}"#;
        let found = find(doc).unwrap();
        assert_eq!(found.value, "https://cdn.example/c/noarch/");
        assert_eq!(
            &doc[found.span.0..found.span.1],
            "\"https://cdn.example/c/noarch/\""
        );
        let spliced = splice(doc.as_bytes(), found.span, "http://repox/conda/c/noarch/");
        let v: serde_json::Value = serde_json::from_slice(&spliced).unwrap();
        assert_eq!(v["info"]["base_url"], "http://repox/conda/c/noarch/");
        assert_eq!(v["info"]["subdir"], "noarch");

        assert_eq!(
            find(r#"{"info":{"subdir":"noarch"},"packages":{"base_url":"x"}}"#),
            None
        );
        assert_eq!(
            find(r#"{"packages":{"a":{"base_url":"no","info":{"base_url":"no"}}},"info":{"x":[1,{"base_url":"no"}],"base_url":"yes\"\\"}}"#)
                .unwrap()
                .value,
            "yes\"\\"
        );
        assert_eq!(find(r#"{"info":{"base_url":null}}"#), None);
        assert_eq!(find(r#"{"info":"#), None);
        assert!(is_absolute("https://conda.anaconda.org/x/"));
        assert!(!is_absolute("./"));
        assert!(!is_absolute("../noarch/"));
    }

    #[test]
    fn stops_reading_when_info_closes() {
        // Everything after `info` is garbage: the scan must not reach it.
        let doc = "{\"info\":{\"subdir\":\"noarch\"},\u{0}\u{0}\u{0}\"unterminated";
        assert_eq!(find(doc), None);
    }

    #[test]
    fn msgpack_info_fields_are_read_and_set() {
        let mut doc = rmpv::Value::Map(vec![(
            "info".into(),
            rmpv::Value::Map(vec![
                ("base_url".into(), "https://a/".into()),
                ("shards_base_url".into(), "./shards/".into()),
            ]),
        )]);
        assert_eq!(msgpack_info(&doc, "base_url"), Some("https://a/"));
        set_msgpack_info(&mut doc, "base_url", "http://repox/");
        assert_eq!(msgpack_info(&doc, "base_url"), Some("http://repox/"));
        assert_eq!(msgpack_info(&doc, "shards_base_url"), Some("./shards/"));
    }
}
