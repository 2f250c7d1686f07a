//! PEP 691 JSON: reading upstream project and index pages, writing repox's.
//!
//! Parsing keeps every key (PEP 691 tells clients to ignore unknown keys, so a proxy must pass
//! them on); it only resolves `url` against the page (it may be relative) and makes
//! `provenance` absolute, so that a PEP 740 URL relative to the upstream never breaks when the
//! page is served from repox. PEP 714: a file that only has the older `dist-info-metadata` (or
//! `data-dist-info-metadata`, as Warehouse spelled it in JSON) gets `core-metadata` too.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use url::Url;

use super::model::{Dist, Merged, Page};

/// Parses an upstream PEP 691 project page fetched from `page_url`.
pub fn parse(body: &[u8], page_url: &Url) -> Result<Page, String> {
    let Value::Object(mut root) =
        serde_json::from_slice(body).map_err(|e| format!("invalid JSON: {e}"))?
    else {
        return Err("the JSON page is not an object".into());
    };
    let meta = match root.remove("meta") {
        Some(Value::Object(m)) => m,
        _ => Map::new(),
    };
    root.remove("name");
    let versions = match root.remove("versions") {
        Some(Value::Array(vs)) => Some(
            vs.into_iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
        ),
        _ => None,
    };
    let files = match root.remove("files") {
        Some(Value::Array(files)) => files,
        _ => return Err("the JSON page has no `files` array".into()),
    };
    let mut out = Vec::with_capacity(files.len());
    for file in files {
        let Value::Object(mut fields) = file else {
            continue;
        };
        let (Some(Value::String(filename)), Some(Value::String(url))) =
            (fields.remove("filename"), fields.remove("url"))
        else {
            continue;
        };
        let Ok(mut url) = page_url.join(&url) else {
            continue;
        };
        url.set_fragment(None);
        if !fields.get("hashes").is_some_and(Value::is_object) {
            fields.insert("hashes".into(), Value::Object(Map::new()));
        }
        if !fields.contains_key("core-metadata")
            && let Some(legacy) = fields
                .get("dist-info-metadata")
                .or_else(|| fields.get("data-dist-info-metadata"))
                .cloned()
        {
            fields.insert("core-metadata".into(), legacy);
        }
        if let Some(Value::String(p)) = fields.get_mut("provenance")
            && let Ok(abs) = page_url.join(p)
        {
            *p = abs.to_string();
        }
        out.push(Dist {
            filename,
            url,
            fields,
        });
    }
    Ok(Page {
        meta,
        versions,
        files: out,
        extra: root,
    })
}

#[derive(Serialize)]
struct OutPage<'a> {
    meta: &'a Map<String, Value>,
    name: &'a str,
    versions: &'a [String],
    files: Vec<OutFile<'a>>,
    #[serde(flatten)]
    extra: &'a Map<String, Value>,
}

#[derive(Serialize)]
struct OutFile<'a> {
    filename: &'a str,
    url: &'a str,
    #[serde(flatten)]
    fields: &'a Map<String, Value>,
}

/// Renders a merged page; `hrefs[i]` is the (relative) URL clients get for file `i`.
pub fn render(page: &Merged, hrefs: &[String]) -> Vec<u8> {
    // PEP 700 (1.1) promises `size` for every file; files from an HTML upstream have none.
    let mut downgraded;
    let mut meta = &page.meta;
    if !page.all_sized
        && meta
            .get("api-version")
            .and_then(Value::as_str)
            .is_some_and(|v| v != "1.0")
    {
        downgraded = page.meta.clone();
        downgraded.insert("api-version".into(), Value::String("1.0".into()));
        meta = &downgraded;
    }
    let out = OutPage {
        meta,
        name: &page.name,
        versions: &page.versions,
        files: page
            .files
            .iter()
            .zip(hrefs)
            .map(|((_, d), href)| OutFile {
                filename: &d.filename,
                url: href,
                fields: &d.fields,
            })
            .collect(),
        extra: &page.extra,
    };
    serde_json::to_vec(&out).expect("a page serializes")
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

    #[test]
    fn parses_pypi_and_keeps_unknown_keys() {
        let base = Url::parse("https://pypi.org/simple/tomli/").unwrap();
        let page = parse(PYPI.as_bytes(), &base).unwrap();
        assert_eq!(page.meta["_last-serial"], 25361974);
        assert_eq!(page.versions.as_deref().unwrap(), ["2.0.1", "2.0.2"]);
        assert!(page.extra.contains_key("alternate-locations"));
        assert!(page.extra.contains_key("project-status"));
        let [whl, sdist] = &page.files[..] else {
            panic!("two files")
        };
        assert_eq!(whl.fields["size"], 12757);
        assert_eq!(whl.fields["upload-time"], "2022-02-08T10:54:02.017765Z");
        assert!(whl.core_metadata().is_some());
        assert_eq!(
            sdist.url.as_str(),
            "https://pypi.org/packages/tomli-2.0.2.tar.gz"
        );
        assert_eq!(sdist.fields["yanked"], "broken build");
        assert_eq!(
            sdist.fields["provenance"],
            "https://pypi.org/integrity/tomli/2.0.2/tomli-2.0.2.tar.gz/provenance"
        );
        assert_eq!(sdist.fields["x-future"]["a"], 1);
        assert!(sdist.hashes().unwrap().is_empty());
    }

    #[test]
    fn legacy_dist_info_metadata_also_becomes_core_metadata() {
        let body = r#"{"meta":{"api-version":"1.0"},"name":"a","files":[{"filename":"a-1-py3-none-any.whl","url":"a-1-py3-none-any.whl","hashes":{},"dist-info-metadata":true}]}"#;
        let base = Url::parse("https://idx/simple/a/").unwrap();
        let page = parse(body.as_bytes(), &base).unwrap();
        assert_eq!(page.files[0].fields["core-metadata"], true);
        assert_eq!(page.versions, None);
    }

    #[test]
    fn rejects_what_is_not_a_page() {
        let base = Url::parse("https://idx/simple/a/").unwrap();
        assert!(parse(b"[]", &base).is_err());
        assert!(parse(b"{\"meta\":{}}", &base).is_err());
        assert!(parse(b"<html>", &base).is_err());
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
