//! PyPI under policies: a release cooldown hides the young version from pip and uv, its file
//! answers 403 naming it; a deny rule leaves a version out; a date snapshot resolves the same
//! versions on every run.

use std::time::{Duration, SystemTime};

use http::StatusCode;
use repox_proxy::config::{RepositoryConfig, UpstreamConfig};

use crate::policy_support::{pep691_page, time_ago};
use crate::pypi::fixture::{have_clients, isolated, pypi};
use crate::support::{Proxy, TestUpstream, run};

const HOUR: Duration = Duration::from_secs(3600);
const YEARS: Duration = Duration::from_secs(3 * 365 * 86400);

/// An index serving `lib-a` 1.0 (years old) and 2.0 (an hour old), and `lib-c` (years old),
/// as PEP 691 JSON with `upload-time`.
async fn index() -> TestUpstream {
    index_with(HOUR).await
}

/// [`index`] with `lib-a` 2.0 published `young` ago.
async fn index_with(young: Duration) -> TestUpstream {
    let up = TestUpstream::start().await;
    let page = |project: &str, files: &[(&str, Duration)]| pep691_page(&up, project, files);
    page(
        "lib-a",
        &[
            ("lib_a-1.0-py3-none-any.whl", YEARS),
            ("lib_a-2.0-py3-none-any.whl", young),
        ],
    );
    page("lib-c", &[("lib_c-1.0+cpu-py3-none-any.whl", YEARS)]);
    up
}

fn repo(up: &TestUpstream, extra: &str) -> RepositoryConfig {
    let mut r: RepositoryConfig = toml::from_str(&format!("kind = \"pypi\"\n{extra}")).unwrap();
    let mut base = UpstreamConfig::new("pypi", up.url.join("simple/").unwrap());
    base.idle_timeout = Duration::from_secs(5);
    r.upstreams = pypi(vec![base]).upstreams;
    r
}

async fn page_files(proxy: &Proxy, path: &str) -> Vec<String> {
    let resp = crate::support::client()
        .get(proxy.at(path))
        .header("accept", "application/vnd.pypi.simple.v1+json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK, "{path}");
    let doc: serde_json::Value = serde_json::from_slice(&resp.bytes().await.unwrap()).unwrap();
    doc["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["filename"].as_str().unwrap().to_owned())
        .collect()
}

/// Installs `requirement` with pip or uv into a new venv; returns lib_a's version, or the
/// client's output when the install fails.
async fn install(client: &str, index_url: &str, requirement: &str) -> Result<String, String> {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path();
    let venv = home.join("venv");
    let mut cmd = isolated("python3", home);
    cmd.args(["-m", "venv", "--without-pip"]).arg(&venv);
    run(cmd).await;
    let python = venv.join("bin/python");
    let mut cmd = match client {
        "pip" => {
            let mut c = isolated("python3", home);
            c.args(["-m", "pip", "--python"]).arg(&python).args([
                "install",
                "--no-cache-dir",
                "--index-url",
                index_url,
                requirement,
            ]);
            c
        }
        _ => {
            let mut c = isolated("uv", home);
            c.args(["pip", "install", "--no-cache", "--python"])
                .arg(&python)
                .args(["--index-url", index_url, requirement]);
            c
        }
    };
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .unwrap()
        .unwrap();
    if !out.status.success() {
        return Err(format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let mut cmd = isolated(python.to_str().unwrap(), home);
    cmd.args(["-c", "import lib_a; print(lib_a.VERSION)"]);
    Ok(String::from_utf8_lossy(&run(cmd).await.stdout)
        .trim()
        .to_owned())
}

#[tokio::test]
async fn a_cooldown_hides_the_young_version_and_refuses_its_file() {
    let up = index().await;
    let proxy = Proxy::start_repos(vec![("pypi", repo(&up, "min_age = \"7d\""))]).await;
    let files = page_files(&proxy, "pypi/simple/lib-a/").await;
    assert_eq!(files, ["lib_a-1.0-py3-none-any.whl"]);
    let html = proxy.get("pypi/simple/lib-a/").await.text().await.unwrap();
    assert!(
        html.contains("lib_a-1.0") && !html.contains("lib_a-2.0"),
        "{html}"
    );
    let young = "pypi/files/pypi/lib-a/lib_a-2.0-py3-none-any.whl";
    let resp = proxy.get(young).await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let why = resp.text().await.unwrap();
    assert!(why.contains("lib-a 2.0 was published at 20"), "{why}");
    assert!(why.contains("min_age = \"7days\""), "{why}");
    assert_eq!(
        up.count(http::Method::GET, "packages/lib_a-2.0-py3-none-any.whl"),
        0
    );
    let old = proxy
        .get("pypi/files/pypi/lib-a/lib_a-1.0-py3-none-any.whl")
        .await;
    assert_eq!(old.status(), StatusCode::OK);
    let metrics = proxy.get("-/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains("repox_policy_refusals_total{repository=\"pypi\",rule=\"min_age\"} 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn an_exempt_package_skips_the_cooldown_and_a_denied_version_is_refused() {
    let up = index().await;
    let extra = "min_age = \"7d\"\nmin_age_exempt = [\"Lib_A==2.0\"]\ndeny = [\"lib-a==1.0\"]";
    let proxy = Proxy::start_repos(vec![("pypi", repo(&up, extra))]).await;
    let files = page_files(&proxy, "pypi/simple/lib-a/").await;
    assert_eq!(files, ["lib_a-2.0-py3-none-any.whl"]);
    let resp = proxy
        .get("pypi/files/pypi/lib-a/lib_a-1.0-py3-none-any.whl")
        .await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let why = resp.text().await.unwrap();
    assert!(why.contains("denied by the rule `lib-a==1.0`"), "{why}");
}

#[tokio::test]
async fn pip_and_uv_install_the_newest_version_old_enough() {
    if !have_clients() {
        return;
    }
    let up = index().await;
    let proxy = Proxy::start_repos(vec![("pypi", repo(&up, "min_age = \"7d\""))]).await;
    let index_url = proxy.at("pypi/simple/").to_string();
    for client in ["pip", "uv"] {
        assert_eq!(
            install(client, &index_url, "lib-a").await.as_deref(),
            Ok("1.0"),
            "{client}"
        );
    }
    // Without the cooldown the same index gives 2.0: the test can fail.
    let open = Proxy::start_repos(vec![("pypi", repo(&up, ""))]).await;
    let index_url = open.at("pypi/simple/").to_string();
    assert_eq!(
        install("pip", &index_url, "lib-a").await.as_deref(),
        Ok("2.0")
    );
}

#[tokio::test]
async fn pip_reports_a_denied_version() {
    if !have_clients() {
        return;
    }
    let up = index().await;
    let proxy = Proxy::start_repos(vec![("pypi", repo(&up, "deny = [\"lib-a==2.0\"]"))]).await;
    let index_url = proxy.at("pypi/simple/").to_string();
    let out = install("pip", &index_url, "lib-a==2.0").await.unwrap_err();
    assert!(out.contains("lib-a==2.0"), "{out}");
    assert_eq!(
        install("uv", &index_url, "lib-a").await.as_deref(),
        Ok("1.0")
    );
}

#[tokio::test]
async fn a_snapshot_url_serves_the_index_as_it_was_and_the_same_on_every_run() {
    let up = index().await;
    let proxy = Proxy::start_repos(vec![("pypi", repo(&up, ""))]).await;
    let yesterday = humantime::format_rfc3339(SystemTime::now() - Duration::from_secs(86400))
        .to_string()[..10]
        .to_owned();
    let path = format!("pypi/@{yesterday}/simple/lib-a/");
    for _ in 0..3 {
        assert_eq!(
            page_files(&proxy, &path).await,
            ["lib_a-1.0-py3-none-any.whl"]
        );
    }
    assert_eq!(page_files(&proxy, "pypi/simple/lib-a/").await.len(), 2);
    let later = proxy
        .get(&format!(
            "pypi/@{yesterday}/files/pypi/lib-a/lib_a-2.0-py3-none-any.whl"
        ))
        .await;
    assert_eq!(later.status(), StatusCode::FORBIDDEN);
    assert!(
        later
            .text()
            .await
            .unwrap()
            .contains("after the snapshot date")
    );
    let redirect = crate::support::client()
        .get(proxy.at(&format!("pypi/@{yesterday}/simple/Lib_A/")))
        .send()
        .await
        .unwrap();
    assert_eq!(
        redirect.url().path(),
        format!("/pypi/@{yesterday}/simple/lib-a/")
    );
    let bad = proxy.get("pypi/@2025-13-01/simple/lib-a/").await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    if have_clients() {
        let index_url = proxy.at(&format!("pypi/@{yesterday}/simple/")).to_string();
        for _ in 0..2 {
            assert_eq!(
                install("uv", &index_url, "lib-a").await.as_deref(),
                Ok("1.0")
            );
        }
    }
}

/// The cached page is not fetched again (its TTL is long), yet the hidden file appears once it
/// is `min_age` old: the filtered page is made again when its first hidden file comes of age.
#[tokio::test]
async fn a_hidden_file_appears_once_it_comes_of_age() {
    let up = index_with(Duration::ZERO).await;
    let proxy = Proxy::start_repos(vec![("pypi", repo(&up, "min_age = \"20s\""))]).await;
    assert_eq!(
        page_files(&proxy, "pypi/simple/lib-a/").await,
        ["lib_a-1.0-py3-none-any.whl"]
    );
    let mut files = Vec::new();
    for _ in 0..120 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        files = page_files(&proxy, "pypi/simple/lib-a/").await;
        if files.len() == 2 {
            break;
        }
    }
    assert_eq!(files.len(), 2, "{files:?}");
    assert_eq!(up.count(http::Method::GET, "simple/lib-a/"), 1);
}

#[tokio::test]
async fn the_legacy_json_api_leaves_out_refused_files_and_releases() {
    let up = index().await;
    let file = |v: &str, ago: Duration| {
        serde_json::json!({
            "filename": format!("lib_a-{v}-py3-none-any.whl"),
            "url": format!("../../packages/lib_a-{v}-py3-none-any.whl"),
            "upload_time_iso_8601": time_ago(ago),
        })
    };
    let doc = serde_json::json!({
        "info": {"name": "lib-a", "version": "2.0"},
        "urls": [file("2.0", HOUR)],
        "releases": {"1.0": [file("1.0", YEARS)], "1.5": [file("1.5", YEARS)], "2.0": [file("2.0", HOUR)]},
    });
    up.put("pypi/lib-a/json", doc.to_string());
    for (v, ago) in [("1.0", YEARS), ("2.0", HOUR)] {
        let doc =
            serde_json::json!({"info": {"name": "lib-a", "version": v}, "urls": [file(v, ago)]});
        up.put(&format!("pypi/lib-a/{v}/json"), doc.to_string());
    }
    let proxy = Proxy::start_repos(vec![(
        "pypi",
        repo(&up, "min_age = \"7d\"\ndeny = [\"lib-a==1.5\"]"),
    )])
    .await;
    let resp = proxy.get("pypi/pypi/lib-a/json").await;
    assert_eq!(resp.status(), StatusCode::OK);
    let doc: serde_json::Value = serde_json::from_slice(&resp.bytes().await.unwrap()).unwrap();
    let releases: Vec<&String> = doc["releases"].as_object().unwrap().keys().collect();
    assert_eq!(releases, ["1.0"], "{doc}");
    assert_eq!(doc["urls"], serde_json::json!([]), "{doc}");

    let young = proxy.get("pypi/pypi/lib-a/2.0/json").await;
    assert_eq!(young.status(), StatusCode::FORBIDDEN);
    let why = young.text().await.unwrap();
    assert!(why.contains("lib-a 2.0 was published at"), "{why}");
    let old = proxy.get("pypi/pypi/lib-a/1.0/json").await;
    assert_eq!(old.status(), StatusCode::OK);

    // Without the policy the same documents list everything.
    let open = Proxy::start_repos(vec![("pypi", repo(&up, ""))]).await;
    let doc: serde_json::Value = serde_json::from_slice(
        &open
            .get("pypi/pypi/lib-a/json")
            .await
            .bytes()
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(doc["releases"].as_object().unwrap().len(), 3, "{doc}");
}
