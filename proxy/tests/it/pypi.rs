//! PyPI: pages in both formats with links rewritten to repox, negotiation, redirects, merged
//! upstreams, verified and cached files and metadata, HEAD and Range on uncached files,
//! revalidation and stale pages, negative caching, the legacy JSON API, restarts, offline mode,
//! and real `pip` and `uv` installs through repox.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use http::{Method, StatusCode, header};
use serde_json::Value;

#[path = "pypi_support.rs"]
pub(crate) mod fixture;

use crate::support::{Proxy, assert_immutable, client, run};
use fixture::{Dist, FileHost, Index, Mode, fixture_dists, have_clients, isolated, pypi};

const PIP_ACCEPT: &str = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01";

async fn start(index: &Index) -> Proxy {
    Proxy::start_repos(vec![("pypi", pypi(vec![index.upstream("idx", 0)]))]).await
}

async fn get_json(proxy: &Proxy, path: &str) -> (reqwest::Response, Value) {
    let resp = client()
        .get(proxy.at(path))
        .header(header::ACCEPT, PIP_ACCEPT)
        .send()
        .await
        .unwrap();
    let headers = resp.headers().clone();
    let status = resp.status();
    let body = resp.bytes().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    let mut again = http::Response::builder().status(status);
    for (k, v) in &headers {
        again = again.header(k, v);
    }
    let rebuilt = reqwest::Response::from(again.body(body.clone()).unwrap());
    (rebuilt, serde_json::from_slice(&body).unwrap())
}

/// The `files[]` entry named `filename`.
fn file<'a>(page: &'a Value, filename: &str) -> &'a Value {
    page["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["filename"] == filename)
        .unwrap_or_else(|| panic!("{filename} not listed in {page}"))
}

/// The repox URL of a link in a page served at `/pypi/simple/<project>/`.
fn resolve(proxy: &Proxy, project: &str, href: &str) -> url::Url {
    proxy
        .at(&format!("pypi/simple/{project}/"))
        .join(href)
        .unwrap()
}

#[tokio::test]
async fn json_page_keeps_every_key_and_points_links_at_repox() {
    let index = Index::start(Mode::Json, fixture_dists()).await;
    let proxy = start(&index).await;
    let (resp, page) = get_json(&proxy, "pypi/simple/lib-a/").await;
    let h = resp.headers();
    assert_eq!(
        h[header::CONTENT_TYPE],
        "application/vnd.pypi.simple.v1+json"
    );
    assert_eq!(h[header::VARY], "Accept");
    assert!(
        h[header::CACHE_CONTROL]
            .to_str()
            .unwrap()
            .contains("max-age=")
    );
    assert_eq!(page["meta"]["api-version"], "1.1");
    assert_eq!(page["meta"]["_last-serial"], 7);
    assert_eq!(page["name"], "lib-a");
    assert_eq!(page["versions"], serde_json::json!(["1.0", "2.0"]));
    assert_eq!(page["project-status"]["status"], "active");
    let whl = file(&page, "lib_a-1.0-py3-none-any.whl");
    let dist = index.dist("lib_a-1.0-py3-none-any.whl");
    assert_eq!(whl["hashes"]["sha256"], dist.sha256);
    assert_eq!(whl["requires-python"], ">=3.8");
    assert_eq!(whl["size"], dist.body.len());
    assert_eq!(whl["upload-time"], "2024-01-02T03:04:05.000000Z");
    assert_eq!(whl["x-unknown"]["kept"], true);
    assert!(whl["core-metadata"]["sha256"].is_string());
    assert_eq!(whl["yanked"], false);
    assert_eq!(
        file(&page, "lib_a-2.0-py3-none-any.whl")["yanked"],
        "broken build"
    );
    for f in page["files"].as_array().unwrap() {
        let url = f["url"].as_str().unwrap();
        let filename = f["filename"].as_str().unwrap();
        assert!(url.starts_with("../../files/idx/lib-a/"), "{url}");
        assert!(url.ends_with(filename), "{url}");
    }
    assert_eq!(index.count(Method::GET, "simple/lib-a/"), 1);
    let sent = &index.log()[0].headers;
    assert!(
        sent[header::ACCEPT]
            .to_str()
            .unwrap()
            .starts_with("application/vnd.pypi.simple.v1+json")
    );
}

#[tokio::test]
async fn html_for_html_clients_and_format_overrides_accept() {
    let index = Index::start(Mode::Json, fixture_dists()).await;
    let proxy = start(&index).await;
    let c = client();
    let resp = c.get(proxy.at("pypi/simple/lib-c/")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(
        resp.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = resp.text().await.unwrap();
    let dist = index.dist("lib_c-1.0+cpu-py3-none-any.whl");
    assert!(
        html.contains(&format!(
            "href=\"../../files/idx/lib-c/lib_c-1.0+cpu-py3-none-any.whl#sha256={}\"",
            dist.sha256
        )),
        "{html}"
    );
    assert!(html.contains("data-requires-python=\"&gt;=3.8\""), "{html}");
    assert!(html.contains("data-core-metadata=\"sha256="), "{html}");
    assert!(
        html.contains(">lib_c-1.0+cpu-py3-none-any.whl</a>"),
        "{html}"
    );

    let forced = c
        .get(proxy.at("pypi/simple/lib-c/?format=application/vnd.pypi.simple.v1%2Bhtml"))
        .header(header::ACCEPT, PIP_ACCEPT)
        .send()
        .await
        .unwrap();
    assert_eq!(
        forced.headers()[header::CONTENT_TYPE],
        "application/vnd.pypi.simple.v1+html"
    );
    let refused = c
        .get(proxy.at("pypi/simple/lib-c/?format=application/xml"))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::NOT_ACCEPTABLE);
    assert_eq!(
        index.count(Method::GET, "simple/lib-c/"),
        1,
        "one upstream page serves every variant"
    );
}

#[tokio::test]
async fn etags_differ_per_variant_and_answer_304() {
    let index = Index::start(Mode::Json, fixture_dists()).await;
    let proxy = start(&index).await;
    let c = client();
    let (resp, _) = get_json(&proxy, "pypi/simple/app/").await;
    let json_etag = resp.headers()[header::ETAG].clone();
    let html = c.get(proxy.at("pypi/simple/app/")).send().await.unwrap();
    assert_ne!(html.headers()[header::ETAG], json_etag);
    let again = c
        .get(proxy.at("pypi/simple/app/"))
        .header(header::ACCEPT, PIP_ACCEPT)
        .header(header::IF_NONE_MATCH, json_etag.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(again.headers()[header::ETAG], json_etag);
    assert_eq!(again.headers()[header::VARY], "Accept");
}

#[tokio::test]
async fn non_normalized_names_and_missing_slashes_redirect() {
    let index = Index::start(Mode::Json, fixture_dists()).await;
    let proxy = start(&index).await;
    let c = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for (from, to) in [
        ("pypi/simple/Lib.B/", "/pypi/simple/lib-b/"),
        ("pypi/simple/lib_b", "/pypi/simple/lib-b/"),
        ("pypi/simple/lib-b", "/pypi/simple/lib-b/"),
        ("pypi/simple", "/pypi/simple/"),
        (
            "pypi/simple/LIB__B/?format=text/html",
            "/pypi/simple/lib-b/?format=text/html",
        ),
    ] {
        let resp = c.get(proxy.at(from)).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::MOVED_PERMANENTLY, "{from}");
        assert_eq!(resp.headers()[header::LOCATION], to, "{from}");
    }
    assert_eq!(index.log().len(), 0, "redirects need no upstream");
    let followed = proxy.get("pypi/simple/Lib.B/").await;
    assert_eq!(followed.status(), StatusCode::OK);
}

#[tokio::test]
async fn files_and_metadata_are_verified_cached_and_never_encoded() {
    let index = Index::start(Mode::Json, fixture_dists()).await;
    let proxy = start(&index).await;
    let c = client();
    let (_, page) = get_json(&proxy, "pypi/simple/lib-c/").await;
    let entry = file(&page, "lib_c-1.0+cpu-py3-none-any.whl");
    let url = resolve(&proxy, "lib-c", entry["url"].as_str().unwrap());
    let dist = index.dist("lib_c-1.0+cpu-py3-none-any.whl");

    let meta_url = format!("{url}.metadata");
    let meta = c.get(&meta_url).send().await.unwrap();
    assert_eq!(meta.status(), StatusCode::OK);
    assert_eq!(meta.bytes().await.unwrap(), dist.metadata.clone().unwrap());

    for _ in 0..2 {
        let resp = c
            .get(url.clone())
            .header(header::ACCEPT_ENCODING, "gzip, br")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        assert!(resp.headers().get(header::CONTENT_ENCODING).is_none());
        assert_immutable(&resp);
        assert_eq!(resp.bytes().await.unwrap(), dist.body);
    }
    assert_eq!(
        index.file_requests(),
        2,
        "one GET for the file, one for its metadata"
    );
    let sdist = c
        .get(resolve(
            &proxy,
            "lib-a",
            "../../files/idx/lib-a/lib_a-1.0.tar.gz",
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(sdist.status(), StatusCode::OK);
    assert!(sdist.headers().get(header::CONTENT_ENCODING).is_none());
    assert_eq!(
        sdist.bytes().await.unwrap(),
        index.dist("lib_a-1.0.tar.gz").body
    );
}

#[tokio::test]
async fn head_and_suffix_ranges_work_on_files_not_yet_cached() {
    let index = Index::start(Mode::Json, fixture_dists()).await;
    let proxy = start(&index).await;
    let c = client();
    let (_, page) = get_json(&proxy, "pypi/simple/app/").await;
    let url = resolve(
        &proxy,
        "app",
        file(&page, "app-1.0-py3-none-any.whl")["url"]
            .as_str()
            .unwrap(),
    );
    let dist = index.dist("app-1.0-py3-none-any.whl");
    let head = c.head(url.clone()).send().await.unwrap();
    assert_eq!(head.status(), StatusCode::OK);
    assert_eq!(
        head.headers()[header::CONTENT_LENGTH],
        dist.body.len().to_string().as_str()
    );
    assert_eq!(head.headers()[header::ACCEPT_RANGES], "bytes");

    // uv reads the zip's central directory with a suffix range before anything is cached.
    let tail = c
        .get(url.clone())
        .header(header::RANGE, "bytes=-100")
        .send()
        .await
        .unwrap();
    assert_eq!(tail.status(), StatusCode::PARTIAL_CONTENT);
    let n = dist.body.len();
    assert_eq!(
        tail.headers()[header::CONTENT_RANGE],
        format!("bytes {}-{}/{n}", n - 100, n - 1).as_str()
    );
    assert_eq!(tail.bytes().await.unwrap(), dist.body.slice(n - 100..));

    let cached = c
        .get(url)
        .header(header::RANGE, "bytes=0-9")
        .send()
        .await
        .unwrap();
    assert_eq!(cached.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(cached.bytes().await.unwrap(), dist.body.slice(..10));
}

#[tokio::test]
async fn a_file_that_fails_its_hash_is_a_502_and_never_cached() {
    let index = Index::start(Mode::Json, fixture_dists()).await;
    index.corrupt("lib_b-0.5-py3-none-any.whl");
    let proxy = start(&index).await;
    let c = client();
    let (_, page) = get_json(&proxy, "pypi/simple/lib-b/").await;
    let url = resolve(
        &proxy,
        "lib-b",
        file(&page, "lib_b-0.5-py3-none-any.whl")["url"]
            .as_str()
            .unwrap(),
    );
    for _ in 0..2 {
        let resp = c.get(url.clone()).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::BAD_GATEWAY);
        let body = resp.text().await.unwrap();
        assert!(
            body.contains("SHA-256") || body.contains("sha256"),
            "{body}"
        );
    }
    let cached = std::fs::read_dir(proxy.cache.path().join("data-v1/pypi"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect::<Vec<_>>();
    assert!(!cached.contains(&"files".to_owned()), "{cached:?}");
}

#[tokio::test]
async fn html_upstream_relative_links_and_yanks_become_json() {
    let index = Index::start(Mode::Html, fixture_dists()).await;
    let proxy = start(&index).await;
    let (_, page) = get_json(&proxy, "pypi/simple/lib-a/").await;
    assert_eq!(page["meta"]["api-version"], "1.0");
    assert_eq!(page["versions"], serde_json::json!(["1.0", "2.0"]));
    let yanked = file(&page, "lib_a-2.0-py3-none-any.whl");
    assert_eq!(yanked["yanked"], "broken build");
    assert_eq!(yanked["requires-python"], ">=3.8");
    assert!(yanked["core-metadata"]["sha256"].is_string());
    let url = resolve(&proxy, "lib-a", yanked["url"].as_str().unwrap());
    let body = client()
        .get(url)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(body, index.dist("lib_a-2.0-py3-none-any.whl").body);
}

#[tokio::test]
async fn pythonhosted_files_are_served_at_the_same_path() {
    let index = Index::start(Mode::Json, fixture_dists()).await;
    index.set_host(FileHost::Pythonhosted);
    let proxy = start(&index).await;
    let (_, page) = get_json(&proxy, "pypi/simple/lib-c/").await;
    let dist = index.dist("lib_c-1.0+cpu-py3-none-any.whl");
    let href = file(&page, &dist.filename)["url"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(href, format!("../../{}", dist.path()));
    // A lock file's `https://files.pythonhosted.org/packages/…` maps by swapping the prefix.
    let url = proxy.at(&format!("pypi/{}", dist.path()));
    assert_eq!(url, resolve(&proxy, "lib-c", &href));
    let body = client()
        .get(url)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(body, dist.body);
    let fetched = index
        .log()
        .into_iter()
        .find(|l| l.path.starts_with("packages/"))
        .unwrap();
    assert_eq!(fetched.headers[header::HOST], "files.pythonhosted.org");
}

#[tokio::test]
async fn upstreams_are_merged_and_the_best_priority_wins_a_filename() {
    let private_dist = Dist::new("lib-a", "lib_a-1.0-py3-none-any.whl", &b"private build"[..]);
    let private = Index::start(Mode::Html, vec![private_dist.clone()]).await;
    let public = Index::start(Mode::Json, fixture_dists()).await;
    let repo = pypi(vec![
        public.upstream("pypi", 1),
        private.upstream("corp", 0),
    ]);
    let proxy = Proxy::start_repos(vec![("pypi", repo)]).await;
    let (_, page) = get_json(&proxy, "pypi/simple/lib-a/").await;
    let names: Vec<&str> = page["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["filename"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "lib_a-1.0-py3-none-any.whl",
            "lib_a-1.0.tar.gz",
            "lib_a-2.0-py3-none-any.whl"
        ]
    );
    let won = file(&page, "lib_a-1.0-py3-none-any.whl");
    assert_eq!(won["hashes"]["sha256"], private_dist.sha256);
    let body = client()
        .get(resolve(&proxy, "lib-a", won["url"].as_str().unwrap()))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(body, private_dist.body);
    assert_eq!(public.file_requests(), 0);

    // A project only the public index has: the private one's 404 is remembered.
    get_json(&proxy, "pypi/simple/app/").await;
    get_json(&proxy, "pypi/simple/app/").await;
    assert_eq!(private.count(Method::GET, "simple/app/"), 1);
}

#[tokio::test]
async fn credentials_stay_on_the_upstream_host() {
    let files = Index::start(Mode::Json, fixture_dists()).await;
    let index = Index::start(Mode::Json, fixture_dists()).await;
    index.set_host(FileHost::Other(files.origin.clone()));
    let mut up = index.upstream("corp", 0);
    up.username = Some("deploy".into());
    let proxy = Proxy::start_repos(vec![("pypi", pypi(vec![up]))]).await;
    let (_, page) = get_json(&proxy, "pypi/simple/app/").await;
    let url = resolve(
        &proxy,
        "app",
        file(&page, "app-1.0-py3-none-any.whl")["url"]
            .as_str()
            .unwrap(),
    );
    let resp = client().get(url).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(index.log()[0].headers.contains_key(header::AUTHORIZATION));
    let fetched = &files.log()[0];
    assert!(fetched.path.starts_with("packages/"));
    assert!(!fetched.headers.contains_key(header::AUTHORIZATION));
}

#[tokio::test]
async fn pages_revalidate_after_the_ttl_and_are_served_stale_when_upstream_fails() {
    let index = Index::start(Mode::Json, fixture_dists()).await;
    let mut repo = pypi(vec![index.upstream("idx", 0)]);
    repo.index_ttl = Some(Duration::from_secs(1));
    let proxy = Proxy::start_repos(vec![("pypi", repo)]).await;
    let (first, page) = get_json(&proxy, "pypi/simple/app/").await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (second, again) = get_json(&proxy, "pypi/simple/app/").await;
    assert_eq!(page, again);
    assert_eq!(
        first.headers()[header::ETAG],
        second.headers()[header::ETAG]
    );
    let revalidation = index.log().last().unwrap().clone();
    assert_eq!(revalidation.path, "simple/app/");
    assert!(revalidation.headers.contains_key(header::IF_NONE_MATCH));

    index.set_down(true);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (stale, page) = get_json(&proxy, "pypi/simple/app/").await;
    assert_eq!(page, again);
    assert_eq!(stale.headers()[header::CACHE_CONTROL], "public, max-age=0");
}

#[tokio::test]
async fn unknown_projects_are_404_and_remembered() {
    let index = Index::start(Mode::Json, fixture_dists()).await;
    let proxy = start(&index).await;
    for _ in 0..3 {
        let resp = proxy.get("pypi/simple/no-such-thing/").await;
        assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    }
    assert_eq!(index.count(Method::GET, "simple/no-such-thing/"), 1);
    let invalid = proxy.get("pypi/simple/a%2Bb/").await;
    assert_eq!(invalid.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        index.log().len(),
        1,
        "an invalid name never reaches upstream"
    );
}

#[tokio::test]
async fn the_root_index_lists_every_upstreams_projects() {
    let a = Index::start(Mode::Json, fixture_dists()).await;
    let b = Index::start(
        Mode::Html,
        vec![Dist::new("other", "other-1.0.tar.gz", &b"x"[..])],
    )
    .await;
    let repo = pypi(vec![a.upstream("a", 0), b.upstream("b", 1)]);
    let proxy = Proxy::start_repos(vec![("pypi", repo)]).await;
    let (_, index) = get_json(&proxy, "pypi/simple/").await;
    let names: Vec<&str> = index["projects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["app", "lib-a", "lib-b", "lib-c", "other"]);
    let html = proxy.get("pypi/simple/").await.text().await.unwrap();
    assert!(html.contains("<a href=\"other/\">other</a>"), "{html}");
}

#[tokio::test]
async fn the_legacy_json_api_points_at_repox() {
    let index = Index::start(Mode::Json, fixture_dists()).await;
    let proxy = start(&index).await;
    let resp = proxy.get("pypi/pypi/Lib_A/json").await;
    assert_eq!(resp.status(), StatusCode::OK);
    let doc: Value = serde_json::from_slice(&resp.bytes().await.unwrap()).unwrap();
    let url = doc["releases"]["1.0"][0]["url"]
        .as_str()
        .unwrap()
        .to_owned();
    let prefix = proxy.at("pypi/files/idx/lib-a/").to_string();
    assert!(url.starts_with(&prefix), "{url}");
    assert_eq!(index.count(Method::GET, "pypi/lib-a/json"), 1);
    let body = client()
        .get(&url)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(body, index.dist(url.rsplit('/').next().unwrap()).body);
}

#[tokio::test]
async fn a_file_url_works_after_a_restart_and_offline() {
    let index = Index::start(Mode::Json, fixture_dists()).await;
    index.set_host(FileHost::Pythonhosted);
    let repo = || pypi(vec![index.upstream("idx", 0)]);
    let cache = Arc::new(tempfile::tempdir().unwrap());
    let proxy = Proxy::start_repos_in(cache.clone(), vec![("pypi", repo())], false).await;
    get_json(&proxy, "pypi/simple/lib-a/").await;
    get_json(&proxy, "pypi/simple/lib-c/").await;
    let cache = proxy.stop().await;

    // A lock file names the file directly; the stored page says where it is and its hash.
    let proxy = Proxy::start_repos_in(cache.clone(), vec![("pypi", repo())], false).await;
    let c_dist = index.dist("lib_c-1.0+cpu-py3-none-any.whl");
    let a_dist = index.dist("lib_a-1.0-py3-none-any.whl");
    for dist in [&c_dist, &a_dist] {
        let resp = proxy.get(&format!("pypi/{}", dist.path())).await;
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.bytes().await.unwrap(), dist.body);
    }
    assert_eq!(
        index.count(Method::GET, "simple/lib-c/"),
        1,
        "no page refetch"
    );
    let cache = proxy.stop().await;

    index.set_down(true);
    let before = index.log().len();
    let offline = Proxy::start_repos_in(cache, vec![("pypi", repo())], true).await;
    let (_, page) = get_json(&offline, "pypi/simple/lib-c/").await;
    let href = file(&page, &c_dist.filename)["url"]
        .as_str()
        .unwrap()
        .to_owned();
    let body = client()
        .get(resolve(&offline, "lib-c", &href))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(body, c_dist.body);
    let missing = offline.get("pypi/simple/app/").await;
    assert_eq!(missing.status(), StatusCode::GATEWAY_TIMEOUT);
    // The URL asked for, not the cache key (`pypi/pages/app/idx`).
    let said = missing.text().await.unwrap();
    assert_eq!(
        said,
        "repox is offline and /pypi/simple/app/ is not cached\n"
    );
    assert_eq!(index.log().len(), before);
}

/// A fresh venv at `dir` (without pip: pip runs from outside with `--python`).
async fn venv(home: &Path, dir: &Path) {
    let mut cmd = isolated("python3", home);
    cmd.args(["-m", "venv", "--without-pip"]).arg(dir);
    run(cmd).await;
}

async fn check_installed(home: &Path, dir: &Path) {
    let mut cmd = isolated(dir.join("bin/python").to_str().unwrap(), home);
    cmd.args([
        "-c",
        "import app, lib_a, lib_b, lib_c; print(lib_a.VERSION, lib_b.VERSION, lib_c.VERSION)",
    ]);
    let out = run(cmd).await;
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "1.0 0.5 1.0+cpu"
    );
}

#[derive(Clone, Copy, Debug)]
enum Client {
    Pip,
    Uv,
}

async fn install(client: Client, home: &Path, dir: &Path, index_url: &str) {
    venv(home, dir).await;
    let python = dir.join("bin/python");
    let cmd = match client {
        Client::Pip => {
            let mut cmd = isolated("python3", home);
            cmd.args(["-m", "pip", "--python"]).arg(&python).args([
                "install",
                "--no-cache-dir",
                "--index-url",
                index_url,
                "app",
            ]);
            cmd
        }
        Client::Uv => {
            let mut cmd = isolated("uv", home);
            cmd.args(["pip", "install", "--no-cache", "--python"])
                .arg(&python)
                .args(["--index-url", index_url, "app"]);
            cmd
        }
    };
    run(cmd).await;
    check_installed(home, dir).await;
}

/// First install fills the cache; a second one into a new venv, with the client's own cache off,
/// fetches no file upstream; with the upstream down and the pages' TTL over, a third still works.
async fn installs_through_repox(client: Client, mode: Mode, with_metadata: bool) {
    if !have_clients() {
        return;
    }
    let mut dists = fixture_dists();
    if !with_metadata {
        dists.iter_mut().for_each(|d| d.metadata = None);
    }
    let index = Index::start(mode, dists).await;
    index.set_host(FileHost::Pythonhosted);
    let mut repo = pypi(vec![index.upstream("pypi", 0)]);
    repo.index_ttl = Some(Duration::from_secs(2));
    let proxy = Proxy::start_repos(vec![("pypi", repo)]).await;
    let index_url = proxy.at("pypi/simple/").to_string();
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path();

    install(client, home, &home.join("one"), &index_url).await;
    let fetched = index.file_requests();
    assert!(
        fetched >= 4,
        "{client:?} downloaded through repox ({fetched})"
    );
    assert!(
        index.log().iter().all(|l| !l.path.contains("2.0")),
        "the yanked lib-a 2.0 is never fetched"
    );

    let metadata = index
        .log()
        .iter()
        .filter(|l| l.path.ends_with(".metadata"))
        .count();
    if with_metadata {
        assert_eq!(
            metadata, 4,
            "{client:?} read PEP 658 metadata for the four wheels"
        );
    }
    install(client, home, &home.join("two"), &index_url).await;
    assert_eq!(
        index.file_requests(),
        fetched,
        "second install: no upstream file request"
    );

    index.set_down(true);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    install(client, home, &home.join("three"), &index_url).await;
    assert_eq!(index.file_requests(), fetched);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pip_installs_through_repox() {
    installs_through_repox(Client::Pip, Mode::Json, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uv_installs_through_repox() {
    installs_through_repox(Client::Uv, Mode::Json, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pip_installs_from_an_html_only_upstream() {
    installs_through_repox(Client::Pip, Mode::Html, true).await;
}

/// Without PEP 658 metadata uv reads each wheel's METADATA with HEAD and Range requests.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uv_installs_without_pep_658_metadata() {
    installs_through_repox(Client::Uv, Mode::Json, false).await;
}
