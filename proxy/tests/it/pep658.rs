//! PEP 658 metadata generated for an upstream that has none: announced in both page formats,
//! read from the wheel by range requests (or from the cached wheel, or from a whole download
//! when the upstream ignores `Range`), stored, and used by real pip and uv so that resolution
//! downloads no wheel.

use std::path::Path;

use http::{Method, StatusCode, header};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::pypi::fixture::{Index, Mode, fixture_dists, have_clients, isolated, pypi};
use crate::support::{Proxy, client, run};

const JSON: &str = "application/vnd.pypi.simple.v1+json";

/// An index with the fixture files and no PEP 658 metadata, and repox over it.
async fn start(mode: Mode, generate: Option<bool>) -> (Index, Proxy) {
    let mut dists = fixture_dists();
    let expected: Vec<_> = dists.iter().map(|d| d.metadata.clone()).collect();
    dists.iter_mut().for_each(|d| d.metadata = None);
    assert!(expected.iter().flatten().count() >= 4);
    let index = Index::start(mode, dists).await;
    let mut repo = pypi(vec![index.upstream("idx", 0)]);
    repo.generate_metadata = generate;
    let proxy = Proxy::start_repos(vec![("pypi", repo)]).await;
    (index, proxy)
}

/// The fixture's own `<wheel>.metadata` (what `METADATA` inside the wheel holds).
fn expected(filename: &str) -> Vec<u8> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/pypi");
    std::fs::read(dir.join(format!("{filename}.metadata"))).unwrap()
}

async fn json_page(proxy: &Proxy, project: &str) -> Value {
    let resp = client()
        .get(proxy.at(&format!("pypi/simple/{project}/")))
        .header(header::ACCEPT, JSON)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    serde_json::from_slice(&resp.bytes().await.unwrap()).unwrap()
}

/// The repox URL of a file of `project`'s page.
fn file_url(proxy: &Proxy, project: &str, page: &Value, filename: &str) -> url::Url {
    let f = page["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["filename"] == filename)
        .unwrap();
    proxy
        .at(&format!("pypi/simple/{project}/"))
        .join(f["url"].as_str().unwrap())
        .unwrap()
}

/// Upstream requests for whole files (`GET` under `packages/` without `Range`).
fn whole_downloads(index: &Index) -> usize {
    index
        .log()
        .iter()
        .filter(|l| {
            l.method == Method::GET
                && l.path.starts_with("packages/")
                && !l.headers.contains_key(header::RANGE)
        })
        .count()
}

#[tokio::test]
async fn metadata_is_announced_for_wheels_and_read_by_ranges() {
    let (index, proxy) = start(Mode::Json, None).await;
    let page = json_page(&proxy, "lib-a").await;
    for f in page["files"].as_array().unwrap() {
        let wheel = f["filename"].as_str().unwrap().ends_with(".whl");
        assert_eq!(f["core-metadata"] == true, wheel, "{f}");
    }
    let html = client()
        .get(proxy.at("pypi/simple/lib-a/"))
        .header(header::ACCEPT, "text/html")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        html.matches("data-core-metadata=\"true\"").count(),
        2,
        "{html}"
    );

    let name = "lib_a-1.0-py3-none-any.whl";
    let url = format!("{}.metadata", file_url(&proxy, "lib-a", &page, name));
    let resp = client().get(&url).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.bytes().await.unwrap(), expected(name));
    let wheel_path = index.dist(name).path();
    let asked: Vec<_> = index
        .log()
        .into_iter()
        .filter(|l| l.path.starts_with("packages/"))
        .collect();
    assert!(!asked.is_empty());
    for l in &asked {
        assert_eq!(l.path, wheel_path, "only the wheel itself is asked for");
        assert!(l.headers.contains_key(header::RANGE), "by ranges only");
    }
    assert_eq!(whole_downloads(&index), 0);

    // Stored: a second request, and a HEAD, are hits.
    let before = index.log().len();
    let again = client().get(&url).send().await.unwrap();
    assert_eq!(again.headers()["x-repox-cache"], "hit");
    assert_eq!(again.bytes().await.unwrap(), expected(name));
    let head = client().head(&url).send().await.unwrap();
    assert_eq!(head.status(), StatusCode::OK);
    assert_eq!(index.log().len(), before);

    // Pages now announce its sha256.
    let sha = hex::encode(Sha256::digest(expected(name)));
    let page = json_page(&proxy, "lib-a").await;
    let f = page["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["filename"] == name)
        .unwrap();
    assert_eq!(f["core-metadata"]["sha256"], sha, "{f}");
    let html = client()
        .get(proxy.at("pypi/simple/lib-a/"))
        .header(header::ACCEPT, "text/html")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains(&format!("data-core-metadata=\"sha256={sha}\"")),
        "{html}"
    );

    // An sdist gets none.
    let sdist = file_url(&proxy, "lib-a", &page, "lib_a-1.0.tar.gz");
    let resp = client()
        .get(format!("{sdist}.metadata"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn html_upstreams_get_it_too_and_it_can_be_turned_off() {
    let (_index, proxy) = start(Mode::Html, None).await;
    let page = json_page(&proxy, "app").await;
    assert_eq!(page["files"][0]["core-metadata"], true);
    let url = file_url(&proxy, "app", &page, "app-1.0-py3-none-any.whl");
    let resp = client()
        .get(format!("{url}.metadata"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.bytes().await.unwrap(),
        expected("app-1.0-py3-none-any.whl")
    );

    let (index, proxy) = start(Mode::Json, Some(false)).await;
    let page = json_page(&proxy, "app").await;
    assert!(page["files"][0].get("core-metadata").is_none(), "{page}");
    let url = file_url(&proxy, "app", &page, "app-1.0-py3-none-any.whl");
    let resp = client()
        .get(format!("{url}.metadata"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    assert_eq!(index.file_requests(), 0);
}

#[tokio::test]
async fn a_cached_wheel_answers_without_asking_upstream() {
    let (index, proxy) = start(Mode::Json, None).await;
    let page = json_page(&proxy, "lib-b").await;
    let name = "lib_b-0.5-py3-none-any.whl";
    let url = file_url(&proxy, "lib-b", &page, name);
    let wheel = client().get(url.clone()).send().await.unwrap();
    assert_eq!(wheel.bytes().await.unwrap(), index.dist(name).body);
    let before = index.log().len();
    let resp = client()
        .get(format!("{url}.metadata"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.bytes().await.unwrap(), expected(name));
    assert_eq!(index.log().len(), before, "read from the cached wheel");
}

#[tokio::test]
async fn without_range_support_the_wheel_is_downloaded_verified_and_cached() {
    let (index, proxy) = start(Mode::Json, None).await;
    index.set_no_ranges(true);
    let page = json_page(&proxy, "lib-c").await;
    let name = "lib_c-1.0+cpu-py3-none-any.whl";
    let url = file_url(&proxy, "lib-c", &page, name);
    let resp = client()
        .get(format!("{url}.metadata"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.bytes().await.unwrap(), expected(name));
    let before = index.log().len();
    let wheel = client().get(url).send().await.unwrap();
    assert_eq!(
        wheel.headers()["x-repox-cache"],
        "hit",
        "the wheel was kept"
    );
    assert_eq!(wheel.bytes().await.unwrap(), index.dist(name).body);
    assert_eq!(index.log().len(), before);

    // A wheel that fails the page's sha256 gives no metadata, and nothing is cached.
    let page = json_page(&proxy, "app").await;
    let name = "app-1.0-py3-none-any.whl";
    index.corrupt(name);
    let url = file_url(&proxy, "app", &page, name);
    let resp = client()
        .get(format!("{url}.metadata"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_GATEWAY);
    let again = client()
        .get(format!("{url}.metadata"))
        .send()
        .await
        .unwrap();
    assert_ne!(again.status(), StatusCode::OK);
}

/// Resolves the fixture's `app` with a real client (uv `pip compile`, pip `install --dry-run`).
async fn resolve(program: &str, index: &Index, proxy: &Proxy, home: &Path) {
    let index_url = proxy.at("pypi/simple/").to_string();
    let cmd = match program {
        "uv" => {
            let mut cmd = isolated("uv", home);
            cmd.args([
                "pip",
                "compile",
                "--no-cache",
                "--index-url",
                &index_url,
                "-",
            ]);
            cmd
        }
        _ => {
            let mut cmd = isolated("python3", home);
            cmd.args([
                "-m",
                "pip",
                "install",
                "--no-cache-dir",
                "--dry-run",
                "--ignore-installed",
                "--index-url",
                &index_url,
                "app",
            ]);
            cmd
        }
    };
    let reqs = home.join("requirements.in");
    std::fs::write(&reqs, "app\n").unwrap();
    let mut cmd = cmd;
    if program == "uv" {
        cmd.stdin(std::fs::File::open(&reqs).unwrap());
    }
    let out = run(cmd).await;
    let text = String::from_utf8_lossy(&out.stdout);
    for dep in ["lib-a", "lib-b", "lib-c"] {
        let spelled = dep.replace('-', "_");
        assert!(
            text.contains(dep) || text.contains(&spelled),
            "{program} resolved {dep}: {text}"
        );
    }
    let metadata = index
        .log()
        .iter()
        .filter(|l| l.headers.contains_key(header::RANGE))
        .count();
    assert!(metadata > 0, "{program}: repox read METADATA by ranges");
}

/// uv and pip resolve through repox from generated `.metadata`: uv's resolution never has the
/// upstream send a whole wheel; pip 23.2 downloads the chosen wheels after resolving even with
/// `--dry-run` (pip 23.3 stopped that), so for pip every range read (metadata for the resolver)
/// comes before the first whole download.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uv_and_pip_resolve_without_downloading_wheels() {
    if !have_clients() {
        return;
    }
    for program in ["uv", "pip"] {
        let (index, proxy) = start(Mode::Json, None).await;
        let tmp = tempfile::tempdir().unwrap();
        resolve(program, &index, &proxy, tmp.path()).await;
        let log = index.log();
        let wheels = |ranged: bool| {
            log.iter()
                .enumerate()
                .filter(move |(_, l)| {
                    l.method == Method::GET
                        && l.path.starts_with("packages/")
                        && l.headers.contains_key(header::RANGE) == ranged
                })
                .map(|(i, l)| (i, l.path.clone()))
        };
        let read: std::collections::HashSet<String> = wheels(true).map(|(_, p)| p).collect();
        assert_eq!(
            read.len(),
            4,
            "{program}: METADATA of the four wheels resolved"
        );
        let last_range = wheels(true).map(|(i, _)| i).max().unwrap();
        match wheels(false).map(|(i, _)| i).min() {
            None => {}
            Some(_) if program == "uv" => panic!("uv downloaded a wheel to resolve"),
            Some(first_whole) => assert!(
                first_whole > last_range,
                "pip downloaded a wheel before resolution ended"
            ),
        }
    }
}
