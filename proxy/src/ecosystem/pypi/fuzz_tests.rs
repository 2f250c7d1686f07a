//! Property tests of the PyPI page parsers and the rewrite (see `crate::fuzz`): upstream HTML
//! (PEP 503) and JSON (PEP 691) pages of any content parse without panicking, and rewriting a
//! generated page (parse, merge, link to repox, render both formats) keeps every file with its
//! hash, `requires-python` and yank. `Accept` headers, `?format=` values and the file names
//! project names are read from are handled without panicking too.

use std::collections::BTreeMap;

use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use proptest::prelude::*;
use proptest::sample::select;
use serde_json::json;
use url::Url;

use super::model::{Dist, Metadata, Page, merge};
use super::{html, json, link, name, negotiate};
use crate::fuzz;
use crate::path::RepoPath;

const HTML: &str = r#"<!DOCTYPE html>
<html>
  <head>
    <meta name="pypi:repository-version" content="1.1">
    <meta name="pypi:project-status" content="quarantined">
    <base href="https://mirror.example/base/">
    <title>Links for pip</title>
  </head>
  <body>
    <a href="https://files.pythonhosted.org/packages/3d/ab/21fa/pip-0.2.tar.gz#sha256=88bb8d029e1bf4acd0e04d300104b7440086f94cc1ce1c5c3c31e3293aee1f81" >pip-0.2.tar.gz</a><br />
    <a href="../../packages/pip-21.2-py3-none-any.whl#sha256=71f447dad669e8bd8a8d8d6a8a3ed8b5efec1bdbb1d2c3d4e5f6a7b8c9d0e1f2" data-requires-python="&gt;=3.6" data-dist-info-metadata="sha256=d7c3" data-core-metadata="true" data-gpg-sig="false" data-yanked="See https://github.com/pypa/pip/issues/8711" data-provenance="/p/x" >pip-21.2-py3-none-any.whl</a><br />
    <a href="pip-22.0.zip"></a>
  </body>
</html>
<!--SERIAL 25394536-->"#;

const JSON: &str = r#"{"alternate-locations":[],"files":[
  {"core-metadata":{"sha256":"a1a8"},"data-dist-info-metadata":{"sha256":"a1a8"},"filename":"tomli-2.0.1-py3-none-any.whl","hashes":{"sha256":"939de3e7a6161af0c887ef91b7d41a53e7c5a1ca976325f429cb46ea9bc30ecc"},"provenance":null,"requires-python":">=3.7","size":12757,"upload-time":"2022-02-08T10:54:02.017765Z","url":"https://files.pythonhosted.org/packages/97/75/10a9/tomli-2.0.1-py3-none-any.whl","yanked":false},
  {"filename":"tomli-2.0.2.tar.gz","hashes":{},"requires-python":">=3.8","size":1,"url":"../../packages/tomli-2.0.2.tar.gz#sha256=00","yanked":"broken build","provenance":"/integrity/p","x-future":{"a":1},"gpg-sig":true,"dist-info-metadata":true}
],"meta":{"_last-serial":25361974,"api-version":"1.4"},"name":"tomli","project-status":{"status":"active"},"versions":["2.0.1","2.0.2"]}"#;

const INDEX: &str = r#"<!DOCTYPE html><html><body><a href="/simple/pip/">pip</a><a href="tomli/">tomli</a></body></html>"#;
const JSON_INDEX: &str = r#"{"meta":{"api-version":"1.1"},"projects":[{"name":"pip"},{"name":"tomli","_last-serial":1}]}"#;

/// Pieces of `Accept` headers.
const ACCEPT: &[&str] = &[
    "text/html",
    "application/vnd.pypi.simple.v1+json",
    "application/vnd.pypi.simple.latest+html",
    "application/json",
    "*/*",
    "text/*",
    ";q=",
    "; q=0.5",
    ";q=NaN",
    ";q=-1",
    ";q=1e40",
    ",",
    " ",
];

fn page_url() -> Url {
    Url::parse("https://pypi.example/simple/demo/").unwrap()
}

/// What a client must still see of a file after the rewrite.
#[derive(Debug, Clone, PartialEq, Eq)]
struct File {
    sha256: String,
    requires_python: Option<String>,
    /// `Some("")`: yanked without a reason.
    yanked: Option<String>,
    metadata: bool,
}

fn files() -> impl Strategy<Value = BTreeMap<String, File>> {
    let filename = prop_oneof![
        (
            "[0-9]{1,3}(\\.[0-9]{1,3}){0,2}",
            select(&[".tar.gz", "-py3-none-any.whl", ".zip"][..])
        )
            .prop_map(|(v, ext)| format!("demo-{v}{ext}")),
        // Names that need escaping in HTML, JSON and URLs.
        "[A-Za-z0-9._+~!&<>'\"%#?=é日 -]{1,16}".prop_filter("a file name", |f| {
            f.trim() == f && f != "." && f != ".."
        }),
    ];
    let file = (
        "[0-9a-f]{64}",
        proptest::option::of("[ -~]{0,12}"),
        proptest::option::of("[ -~]{0,12}"),
        any::<bool>(),
    )
        .prop_map(|(sha256, requires_python, yanked, metadata)| File {
            sha256,
            requires_python,
            yanked,
            metadata,
        });
    prop::collection::btree_map(filename, file, 0..8)
}

fn encoded(name: &str) -> String {
    utf8_percent_encode(name, NON_ALPHANUMERIC).to_string()
}

/// The upstream's HTML page listing `files`.
fn html_page(files: &BTreeMap<String, File>) -> String {
    let mut out = String::from("<!DOCTYPE html><html><body>\n");
    for (name, f) in files {
        let mut a = format!(
            "<a href=\"https://files.example/p/{}#sha256={}\"",
            utf8_percent_encode(name, NON_ALPHANUMERIC),
            f.sha256
        );
        if let Some(rp) = &f.requires_python {
            let mut v = String::new();
            html::escape(&mut v, rp);
            a += &format!(" data-requires-python=\"{v}\"");
        }
        match f.yanked.as_deref() {
            Some("") => a += " data-yanked",
            Some(reason) => {
                let mut v = String::new();
                html::escape(&mut v, reason);
                a += &format!(" data-yanked=\"{v}\"");
            }
            None => {}
        }
        if f.metadata {
            a += " data-core-metadata=\"true\"";
        }
        let mut text = String::new();
        html::escape(&mut text, name);
        out += &format!("{a}>{text}</a><br/>\n");
    }
    out + "</body></html>\n"
}

/// The upstream's JSON page listing `files`.
fn json_page(files: &BTreeMap<String, File>) -> String {
    let files: Vec<_> = files
        .iter()
        .map(|(name, f)| {
            let mut v = json!({
                "filename": name,
                "url": format!("https://files.example/p/{}", encoded(name)),
                "hashes": {"sha256": f.sha256},
                "core-metadata": f.metadata,
            });
            if let Some(rp) = &f.requires_python {
                v["requires-python"] = json!(rp);
            }
            v["yanked"] = match f.yanked.as_deref() {
                None => json!(false),
                Some("") => json!(true),
                Some(reason) => json!(reason),
            };
            v
        })
        .collect();
    json!({"meta": {"api-version": "1.1"}, "name": "demo", "files": files}).to_string()
}

fn seen(page: &Page) -> BTreeMap<String, File> {
    page.files
        .iter()
        .map(|d: &Dist| {
            let sha256 = d
                .hashes
                .iter()
                .find(|(n, _)| n == "sha256")
                .map(|(_, h)| h.clone())
                .unwrap_or_default();
            let file = File {
                sha256,
                requires_python: d.requires_python.clone(),
                yanked: d.yanked.clone(),
                metadata: matches!(
                    d.core_metadata,
                    Some(Metadata::Unhashed | Metadata::Hashes(_))
                ),
            };
            (d.filename.clone(), file)
        })
        .collect()
}

/// Parses, merges, links to repox and renders as the page module does; returns both renderings.
fn rewrite(upstream_pages: Vec<Page>) -> (Vec<u8>, Vec<u8>) {
    let pages = upstream_pages.into_iter().enumerate().collect();
    let merged = merge("demo", pages);
    let hrefs: Vec<String> = merged
        .files
        .iter()
        .map(|(i, d)| {
            let loc = link::locate(&d.url, &d.filename, &format!("up{i}"), "demo");
            format!("../../{}", loc.href)
        })
        .collect();
    (html::render(&merged, &hrefs), json::render(&merged, &hrefs))
}

fn repox_url() -> Url {
    Url::parse("http://127.0.0.1:8078/pypi/simple/demo/").unwrap()
}

proptest! {
    #![proptest_config(fuzz::config())]

    #[test]
    fn any_bytes_parse_without_panic(body in fuzz::bytes()) {
        let page = html::parse(&body, &page_url());
        let _ = rewrite(vec![page]);
        if let Ok(page) = json::parse(&body, &page_url()) {
            let _ = rewrite(vec![page]);
        }
        let _ = html::parse_index(&body);
        let _ = json::parse_index(&body);
    }

    #[test]
    fn mutated_pages_parse_and_render_without_panic(
        html_body in fuzz::mutated(&[HTML, INDEX]),
        json_body in fuzz::mutated(&[JSON, JSON_INDEX]),
    ) {
        let mut pages = vec![html::parse(html_body.as_bytes(), &page_url())];
        pages.extend(json::parse(json_body.as_bytes(), &page_url()));
        let (html_out, json_out) = rewrite(pages);
        // What repox renders, it can read back.
        let _ = html::parse(&html_out, &repox_url());
        let back = json::parse(&json_out, &repox_url());
        prop_assert!(back.is_ok(), "{}", String::from_utf8_lossy(&json_out));
        let _ = html::parse_index(html_body.as_bytes());
        let _ = json::parse_index(json_body.as_bytes());
    }

    #[test]
    fn rewrite_keeps_every_file(files in files(), as_json in any::<bool>()) {
        let body = if as_json { json_page(&files) } else { html_page(&files) };
        let page = if as_json {
            json::parse(body.as_bytes(), &page_url()).map_err(fuzz::fail)?
        } else {
            html::parse(body.as_bytes(), &page_url())
        };
        prop_assert_eq!(&seen(&page), &files, "upstream page parsed wrong:\n{}", body);
        let (html_out, json_out) = rewrite(vec![page]);
        let from_html = html::parse(&html_out, &repox_url());
        let html_text = String::from_utf8_lossy(&html_out);
        prop_assert_eq!(&seen(&from_html), &files, "HTML rendering:\n{}", html_text);
        let from_json = json::parse(&json_out, &repox_url()).map_err(fuzz::fail)?;
        let json_text = String::from_utf8_lossy(&json_out);
        prop_assert_eq!(&seen(&from_json), &files, "JSON rendering:\n{}", json_text);
        for d in from_html.files.iter().chain(&from_json.files) {
            let ours = d.url.starts_with("http://127.0.0.1:8078/pypi/");
            prop_assert!(ours, "{} links to {}", d.filename, d.url);
        }
    }

    #[test]
    fn any_accept_header_and_format_are_negotiated(
        accept in prop::collection::vec(
            prop_oneof![
                select(ACCEPT).prop_map(str::to_owned),
                fuzz::text(),
            ],
            0..8,
        ),
        query in proptest::option::of(fuzz::text()),
    ) {
        let accept = accept.concat();
        let format = negotiate::format_param(query.as_deref());
        let _ = negotiate::negotiate(Some(&accept), format.as_deref());
        let _ = negotiate::negotiate(Some(&accept), None);
    }

    #[test]
    fn any_file_name_links_back_to_its_cache_path(
        file in prop_oneof![
            "[A-Za-z0-9._-]{1,12}-[0-9.]{1,6}(-[0-9a-z_]{1,6}){0,3}(\\.tar\\.gz|\\.whl|\\.zip|\\.egg)?",
            fuzz::text(),
        ],
        project in prop_oneof!["[a-zA-Z][a-zA-Z0-9._-]{0,8}[a-z0-9]", fuzz::text()],
    ) {
        let _ = name::projects_of(&file);
        let _ = name::version_of(&file, &name::normalize(&project));
        let _ = link::split_suffix(&file);
        let project = name::normalize(&project);
        // A file name a merged page keeps (`model::is_filename`).
        let listed = !file.is_empty()
            && file != "."
            && file != ".."
            && !file.contains(['/', '\\'])
            && !file.chars().any(char::is_control);
        let hosts = ["https://files.pythonhosted.org/packages/", "https://h.example/"];
        for url in hosts.map(|h| format!("{h}{file}")) {
            let loc = link::locate(&url, &file, "up", &project);
            // The link a client follows must come back as the same cache path.
            if listed && name::is_valid(&project) {
                let back = RepoPath::parse(&loc.href);
                let back = back.as_ref().map(RepoPath::as_str);
                prop_assert_eq!(back, Ok(loc.path.as_str()), "{:?}", loc);
            }
        }
    }
}
