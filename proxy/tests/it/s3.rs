//! The S3 backend against a real S3-compatible server: `moto` in server mode on 127.0.0.1
//! (PyPI `moto[server]`, installed by `scripts/test`), one per test with its own bucket. A miss
//! through repox ends as exactly one object; a second node on the same bucket serves it with
//! zero upstream requests; a fill that fails mid-download leaves no object; large bodies go up
//! in parts and come back by range; hot entries are served from the local disk without S3.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use futures_util::TryStreamExt;
use http::{Method, header};
use repox_proxy::config::{Config, RepoName, RepositoryConfig, ServerConfig, StorageConfig};
use repox_proxy::store::{self, Listed};
use tokio::sync::oneshot;
use url::Url;

use crate::clients_support::clients_present;
use crate::pypi::fixture::{Index, Mode, fixture_dists, pypi};
use crate::support::{Behavior, TestUpstream, bytes, client, maven};

/// A moto server on a port of 127.0.0.1 it bound itself, killed on drop.
struct Moto {
    child: Child,
    endpoint: String,
    _stdout: Option<std::io::BufReader<std::process::ChildStdout>>,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts moto's server on a port of 127.0.0.1 the kernel picks, prints the port, and serves
/// until killed.
const MOTO_ON_A_FREE_PORT: &str = "\
import threading
from moto.server import ThreadedMotoServer
server = ThreadedMotoServer(ip_address='127.0.0.1', port=0, verbose=False)
server.start()
print(server.get_host_and_port()[1], flush=True)
threading.Event().wait()
";

/// Whether `python3 -m moto.server` can run (else the test fails, or is skipped loudly with
/// `REPOX_SKIP_MISSING_CLIENTS`).
fn moto_present() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import moto.server, flask, werkzeug"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    let missing: &[&str] = if ok { &[] } else { &["moto"] };
    clients_present(missing, "python3 -m pip install 'moto[server]'")
}

impl Moto {
    /// Starts moto and creates `bucket`; `None` when moto is missing and skipping is allowed.
    async fn start(bucket: &str) -> Option<Moto> {
        if !moto_present() {
            return None;
        }
        credentials()?;
        // moto binds port 0 itself and says which port it got: a port picked here, released
        // and bound again by moto could be taken in between by another test's server.
        let mut child = Command::new("python3")
            .args(["-c", MOTO_ON_A_FREE_PORT])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("cannot start python3 with moto");
        let stdout = child.stdout.take().expect("moto's stdout is piped");
        let mut moto = Moto {
            child,
            endpoint: String::new(),
            _stdout: None,
        };
        // The pipe stays open while moto runs: a later write to it must not fail.
        let (line, stdout) = tokio::task::spawn_blocking(move || {
            let mut stdout = std::io::BufReader::new(stdout);
            let mut line = String::new();
            std::io::BufRead::read_line(&mut stdout, &mut line).map(|_| (line, stdout))
        })
        .await
        .unwrap()
        .expect("cannot read moto's port");
        moto._stdout = Some(stdout);
        let port: u16 = line
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("moto did not start: it said {line:?}"));
        moto.endpoint = format!("http://127.0.0.1:{port}");
        // Bounded wait for the server to answer, then one unsigned bucket creation (moto does
        // not check).
        for _ in 0..200 {
            let made = client()
                .put(format!("{}/{bucket}", moto.endpoint))
                .send()
                .await;
            if made.is_ok_and(|r| r.status().is_success()) {
                return Some(moto);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("moto did not start on {}", moto.endpoint);
    }

    fn storage(&self, bucket: &str) -> StorageConfig {
        StorageConfig {
            url: Some(format!("s3://{bucket}/repox")),
            endpoint: Some(self.endpoint.clone()),
            region: Some("us-east-1".into()),
            ..StorageConfig::default()
        }
    }
}

/// moto takes any credentials, but `object_store` reads them from the standard variables and
/// this crate forbids the `unsafe` `set_var`: without them, the test runs itself again in a
/// child process that has them, and passes when the child passes (`None` here).
fn credentials() -> Option<()> {
    if std::env::var_os("AWS_ACCESS_KEY_ID").is_some() {
        return Some(());
    }
    let thread = std::thread::current();
    let test = thread
        .name()
        .expect("a test thread is named after its test");
    let out = Command::new(std::env::current_exe().unwrap())
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env("AWS_ACCESS_KEY_ID", "repox-test")
        .env("AWS_SECRET_ACCESS_KEY", "repox-test-secret")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "{test} with test credentials failed:\n--- stdout\n{stdout}\n--- stderr\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    None
}

/// A repox node: its own local cache directory, the shared bucket.
struct Node {
    url: Url,
    config: Config,
    cache: tempfile::TempDir,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl Node {
    async fn start(repos: Vec<(&str, RepositoryConfig)>, storage: StorageConfig) -> Node {
        let cache = tempfile::tempdir().unwrap();
        let config = Config {
            server: ServerConfig {
                listen: "127.0.0.1:0".parse().unwrap(),
                cache_dir: Some(cache.path().to_owned()),
                ..ServerConfig::default()
            },
            repositories: repos
                .into_iter()
                .map(|(name, repo)| {
                    let name: RepoName = serde_json::from_value(serde_json::json!(name)).unwrap();
                    (name, repo)
                })
                .collect(),
            auth: Default::default(),
            storage,
        };
        let server = crate::support::bind(config.clone()).await;
        let url = Url::parse(&format!("http://{}/", server.local_addr())).unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            server
                .run(async {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
        });
        Node {
            url,
            config,
            cache,
            stop,
            task,
        }
    }

    async fn get(&self, path: &str) -> reqwest::Response {
        client()
            .get(self.url.join(path).unwrap())
            .send()
            .await
            .unwrap()
    }

    /// The objects of the bucket, through a store of its own.
    async fn objects(&self, prefix: &str) -> Vec<Listed> {
        let store = store::open(&self.config, &repox_proxy::memo::Memos::new(1 << 20)).unwrap();
        let mut all: Vec<Listed> = store.list(prefix).try_collect().await.unwrap();
        all.sort_by(|a, b| a.key.cmp(&b.key));
        all
    }

    fn staging(&self) -> usize {
        let dir = self.cache.path().join("tmp");
        std::fs::read_dir(dir).map_or(0, |d| d.count())
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

fn keys(listed: &[Listed]) -> Vec<&str> {
    listed.iter().map(|l| l.key.as_str()).collect()
}

async fn ok_body(response: reqwest::Response) -> (String, bytes::Bytes) {
    assert_eq!(response.status(), 200, "{}", response.url());
    let cache = response
        .headers()
        .get("x-repox-cache")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (cache, response.bytes().await.unwrap())
}

#[tokio::test]
async fn a_miss_ends_as_one_object_and_another_node_hits_it_without_upstream() {
    let Some(moto) = Moto::start("shared").await else {
        return;
    };
    let up = TestUpstream::start().await;
    let jar = bytes(40_000, 3);
    up.put_with_sha1("g/a/1/a-1.jar", jar.clone());
    let repo = || vec![("maven", maven(&[("central", &up, 0)]))];
    let a = Node::start(repo(), moto.storage("shared")).await;
    let b = Node::start(repo(), moto.storage("shared")).await;

    let (_, body) = ok_body(a.get("maven/g/a/1/a-1.jar").await).await;
    assert_eq!(body, jar);
    let objects = a.objects("maven/g/a/1/").await;
    assert!(
        keys(&objects).contains(&"maven/g/a/1/a-1.jar"),
        "{objects:?}"
    );
    let jar_objects = objects.iter().filter(|l| l.key.ends_with(".jar")).count();
    assert_eq!(
        jar_objects, 1,
        "exactly one object for the jar: {objects:?}"
    );
    let upstream_before = up.total();

    let (cache, body) = ok_body(b.get("maven/g/a/1/a-1.jar").await).await;
    assert_eq!(cache, "hit", "node B reads what node A committed");
    assert_eq!(body, jar);
    let (_, sha1) = ok_body(b.get("maven/g/a/1/a-1.jar.sha1").await).await;
    assert_eq!(
        String::from_utf8_lossy(&sha1).trim(),
        hex::encode(<sha1::Sha1 as sha1::Digest>::digest(&jar))
    );
    assert_eq!(up.count(Method::GET, "g/a/1/a-1.jar"), 1);
    assert_eq!(
        up.total(),
        upstream_before,
        "node B made no upstream request at all"
    );
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn a_fill_that_fails_mid_download_leaves_no_object() {
    let Some(moto) = Moto::start("torn").await else {
        return;
    };
    let up = TestUpstream::start().await;
    let jar = bytes(3_000_000, 5);
    up.put_with_sha1("g/t/1/t-1.jar", jar.clone());
    // 16 KiB every 50 ms: the download is cut by max_download_time, far from its end.
    up.behave(
        "g/t/1/t-1.jar",
        Behavior {
            chunk_delay: Some(Duration::from_millis(50)),
            ..Behavior::default()
        },
    );
    // A body that fails its published SHA-1 is downloaded whole but never verified.
    up.put("g/t/1/bad-1.jar", bytes(50_000, 6));
    up.put("g/t/1/bad-1.jar.sha1", "0".repeat(40));
    let mut repo = maven(&[("central", &up, 0)]);
    repo.max_download_time = Some(Duration::from_secs(1));
    let node = Node::start(vec![("maven", repo)], moto.storage("torn")).await;
    let torn = node.get("maven/g/t/1/t-1.jar").await;
    let read = torn.bytes().await;
    assert!(
        read.is_err() || read.is_ok_and(|b| b != jar),
        "a cut download cannot end as the whole body"
    );
    // It streams while downloading: the client sees a 200 cut short, never a whole body.
    let bad = node.get("maven/g/t/1/bad-1.jar").await.bytes().await;
    assert!(bad.is_err() || bad.is_ok_and(|b| b != bytes(50_000, 6)));
    // The failed fills are dropped (their staging files removed) without any upload.
    for _ in 0..100 {
        if node.staging() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(node.staging(), 0, "the staging files went with the fills");
    let stored = node.objects("maven/g/t/").await;
    assert!(
        !keys(&stored).iter().any(|k| k.ends_with(".jar")),
        "nothing another node could read as complete: {stored:?}"
    );

    // A node without the time limit (an upload to a busy moto may take a while) fills it whole.
    up.behave("g/t/1/t-1.jar", Behavior::default());
    let other = Node::start(
        vec![("maven", maven(&[("central", &up, 0)]))],
        moto.storage("torn"),
    )
    .await;
    let (_, body) = ok_body(other.get("maven/g/t/1/t-1.jar").await).await;
    assert!(body == jar, "the next request fills it whole");
    let stored = node.objects("maven/g/t/1/").await;
    assert!(keys(&stored).contains(&"maven/g/t/1/t-1.jar"), "{stored:?}");
    node.stop().await;
    other.stop().await;
}

/// A body over 8 MiB is uploaded in parts while it downloads: cut after its first parts went
/// up, the upload is aborted and no object appears.
#[tokio::test]
async fn a_large_fill_cut_after_its_first_parts_leaves_no_object() {
    let Some(moto) = Moto::start("parts").await else {
        return;
    };
    let up = TestUpstream::start().await;
    let jar = bytes(64 * 1024 * 1024, 11);
    up.put_with_sha1("g/p/1/p-1.jar", jar.clone());
    // 16 KiB a millisecond at most: well past the first 8 MiB part, far from the end, at 3 s.
    up.behave(
        "g/p/1/p-1.jar",
        Behavior {
            chunk_delay: Some(Duration::from_millis(1)),
            ..Behavior::default()
        },
    );
    let mut repo = maven(&[("central", &up, 0)]);
    repo.max_download_time = Some(Duration::from_secs(3));
    let node = Node::start(vec![("maven", repo)], moto.storage("parts")).await;
    let read = node.get("maven/g/p/1/p-1.jar").await.bytes().await;
    let got = read.as_ref().map_or(0, |b| b.len());
    assert!(got < jar.len(), "the download was cut ({got} bytes)");
    for _ in 0..100 {
        if node.staging() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(node.staging(), 0);
    let stored = node.objects("maven/g/p/").await;
    assert!(
        !keys(&stored).iter().any(|k| k.ends_with(".jar")),
        "no object from a cut multipart upload: {stored:?}"
    );
    node.stop().await;
}

#[tokio::test]
async fn a_large_body_goes_up_in_parts_and_comes_back_by_range() {
    let Some(moto) = Moto::start("large").await else {
        return;
    };
    let up = TestUpstream::start().await;
    // Above the 16 MiB single-PUT limit: a multipart upload.
    let jar = bytes(17 * 1024 * 1024 + 123, 7);
    up.put_with_sha1("g/l/1/l-1.jar", jar.clone());
    let repo = || vec![("maven", maven(&[("central", &up, 0)]))];
    let a = Node::start(repo(), moto.storage("large")).await;
    let (_, body) = ok_body(a.get("maven/g/l/1/l-1.jar").await).await;
    assert_eq!(body.len(), jar.len());
    assert!(body == jar);
    // A body this large is committed just after its last byte (its MD5 and SHA-256 are
    // computed from the staged file first): wait for the object.
    let mut objects = Vec::new();
    for _ in 0..100 {
        objects = a.objects("maven/g/l/1/l-1.jar").await;
        if objects.iter().any(|l| l.key.ends_with(".jar")) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let objects: Vec<_> = objects.iter().filter(|l| l.key.ends_with(".jar")).collect();
    assert_eq!(objects.len(), 1, "{objects:?}");
    assert!(objects[0].size > jar.len() as u64, "body and metadata");

    let b = Node::start(repo(), moto.storage("large")).await;
    let (cache, body) = ok_body(b.get("maven/g/l/1/l-1.jar").await).await;
    assert_eq!(cache, "hit");
    assert!(body == jar, "the whole body read back by ranges");
    let part = client()
        .get(b.url.join("maven/g/l/1/l-1.jar").unwrap())
        .header(header::RANGE, "bytes=9000000-9000099")
        .send()
        .await
        .unwrap();
    assert_eq!(part.status(), 206);
    assert_eq!(part.bytes().await.unwrap(), jar.slice(9_000_000..9_000_100));
    assert_eq!(up.count(Method::GET, "g/l/1/l-1.jar"), 1);
    a.stop().await;
    b.stop().await;
}

/// Three nodes on one bucket, 24 concurrent cold GETs spread over them: 24 whole bodies, one
/// upstream download in total (the other nodes wait on the first one's lease), one object, no
/// lease left; then a hit on every node.
#[tokio::test]
async fn three_nodes_share_one_bucket() {
    let Some(moto) = Moto::start("three").await else {
        return;
    };
    let up = TestUpstream::start().await;
    let jar = bytes(2_000_000, 13);
    up.put_with_sha1("g/n/1/n-1.jar", jar.clone());
    // Slow enough that the 24 requests overlap the download.
    up.behave(
        "g/n/1/n-1.jar",
        Behavior {
            chunk_delay: Some(Duration::from_millis(5)),
            ..Behavior::default()
        },
    );
    let repo = || vec![("maven", maven(&[("central", &up, 0)]))];
    let nodes = [
        Node::start(repo(), moto.storage("three")).await,
        Node::start(repo(), moto.storage("three")).await,
        Node::start(repo(), moto.storage("three")).await,
    ];
    let gets = (0..24).map(|i| {
        let url = nodes[i % 3].url.join("maven/g/n/1/n-1.jar").unwrap();
        async move { client().get(url).send().await.unwrap().bytes().await }
    });
    let bodies = futures_util::future::join_all(gets).await;
    for body in bodies {
        assert!(body.unwrap() == jar, "every client gets the whole body");
    }
    let downloads = up.count(Method::GET, "g/n/1/n-1.jar");
    eprintln!("three nodes, 24 concurrent cold GETs: {downloads} upstream downloads");
    assert_eq!(downloads, 1, "one download for 3 nodes");
    let stored = nodes[0].objects("maven/g/n/1/n-1.jar").await;
    let jars = stored.iter().filter(|l| l.key.ends_with(".jar")).count();
    assert_eq!(jars, 1, "{stored:?}");
    let lease = format!("{}/three/repox/lease-v1/maven/g/n/1/n-1.jar", moto.endpoint);
    let mut status = 0;
    for _ in 0..50 {
        status = client()
            .head(&lease)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16();
        if status == 404 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, 404, "the lease is released after the commit");
    for node in &nodes {
        let (cache, body) = ok_body(node.get("maven/g/n/1/n-1.jar").await).await;
        assert_eq!(cache, "hit");
        assert!(body == jar);
    }
    assert_eq!(up.count(Method::GET, "g/n/1/n-1.jar"), downloads);
    for node in nodes {
        node.stop().await;
    }
}

/// With the local copy, a hot entry is served while the bucket is unreachable; with
/// `local_cache_size = 0` every hit goes to S3.
#[tokio::test]
async fn hot_entries_are_served_from_the_local_disk() {
    let Some(moto) = Moto::start("hot").await else {
        return;
    };
    let up = TestUpstream::start().await;
    let jar = bytes(10_000, 9);
    up.put_with_sha1("g/h/1/h-1.jar", jar.clone());
    let repo = || vec![("maven", maven(&[("central", &up, 0)]))];
    let filler = Node::start(repo(), moto.storage("hot")).await;
    ok_body(filler.get("maven/g/h/1/h-1.jar").await).await;
    let local = Node::start(repo(), moto.storage("hot")).await;
    let remote = Node::start(
        repo(),
        StorageConfig {
            local_cache_size: Some(0),
            ..moto.storage("hot")
        },
    )
    .await;
    for node in [&local, &remote] {
        let (cache, body) = ok_body(node.get("maven/g/h/1/h-1.jar").await).await;
        assert_eq!((cache.as_str(), body), ("hit", jar.clone()));
    }
    assert!(
        local
            .cache
            .path()
            .join("s3-local/data-v1/maven/g/h/1/h-1.jar")
            .exists(),
        "the hit left a local copy"
    );
    drop(moto);
    let upstream_before = up.total();
    let (cache, body) = ok_body(local.get("maven/g/h/1/h-1.jar").await).await;
    assert_eq!((cache.as_str(), body), ("hit", jar.clone()));
    let without = remote.get("maven/g/h/1/h-1.jar").await;
    assert_ne!(
        without.headers().get("x-repox-cache").map(|v| v.as_bytes()),
        Some(&b"hit"[..]),
        "without a local copy the hit needs the bucket"
    );
    assert_eq!(
        up.count(Method::GET, "g/h/1/h-1.jar"),
        2,
        "only the remote node refetched"
    );
    assert!(up.total() > upstream_before);
    for node in [filler, local, remote] {
        node.stop().await;
    }
}

#[tokio::test]
async fn a_pypi_page_and_file_work_on_s3() {
    let Some(moto) = Moto::start("pypi").await else {
        return;
    };
    let index = Index::start(Mode::Json, fixture_dists()).await;
    let repo = || vec![("pypi", pypi(vec![index.upstream("idx", 0)]))];
    let a = Node::start(repo(), moto.storage("pypi")).await;
    let page = client()
        .get(a.url.join("pypi/simple/lib-a/").unwrap())
        .header(header::ACCEPT, "application/vnd.pypi.simple.v1+json")
        .send()
        .await
        .unwrap();
    let (_, page) = ok_body(page).await;
    let page: serde_json::Value = serde_json::from_slice(&page).unwrap();
    let file = page["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["filename"] == "lib_a-1.0.tar.gz")
        .unwrap_or_else(|| panic!("no sdist in {page}"));
    let url = a
        .url
        .join("pypi/simple/lib-a/")
        .unwrap()
        .join(file["url"].as_str().unwrap())
        .unwrap();
    let path = url.path().trim_start_matches('/').to_owned();
    let dist = index.dist("lib_a-1.0.tar.gz");
    let (_, body) = ok_body(a.get(&path).await).await;
    assert_eq!(body, dist.body);
    let files_before = index.file_requests();

    let b = Node::start(repo(), moto.storage("pypi")).await;
    let (cache, body) = ok_body(b.get(&path).await).await;
    assert_eq!((cache.as_str(), body), ("hit", dist.body.clone()));
    assert_eq!(index.file_requests(), files_before, "node B hit the bucket");
    let stored = a.objects("pypi/").await;
    assert!(
        stored.iter().any(|l| l.key.ends_with("lib_a-1.0.tar.gz")),
        "{stored:?}"
    );
    a.stop().await;
    b.stop().await;
}

/// The store calls the cache commands and ecosystems use: `head`, `list` of a prefix (listing
/// keys and `.`-segments included), `delete` and `purge`.
#[tokio::test]
async fn head_list_delete_and_purge_on_the_bucket() {
    let Some(moto) = Moto::start("calls").await else {
        return;
    };
    let cache = tempfile::tempdir().unwrap();
    let config = Config {
        server: ServerConfig {
            cache_dir: Some(cache.path().to_owned()),
            ..ServerConfig::default()
        },
        repositories: Default::default(),
        auth: Default::default(),
        storage: moto.storage("calls"),
    };
    let store = store::open(&config, &repox_proxy::memo::Memos::new(1 << 20)).unwrap();
    for (key, len) in [("m/a/", 10), ("m/.x/y", 20), ("m/b.jar", 30), ("n/c", 5)] {
        let body = bytes(len, 1);
        let mut miss = store.begin(key).await.unwrap();
        let chunk = body.clone();
        let miss = tokio::task::spawn_blocking(move || miss.write(&chunk).map(|()| miss))
            .await
            .unwrap()
            .unwrap();
        let meta = store::Meta {
            len: len as u64,
            ..store::Meta::default()
        };
        miss.finish(meta).await.unwrap();
        assert_eq!(store.head(key).await.unwrap().unwrap().len, len as u64);
    }
    let listed = |prefix: &'static str| {
        let store = store.clone();
        async move {
            let mut all: Vec<Listed> = store.list(prefix).try_collect().await.unwrap();
            all.sort_by(|a, b| a.key.cmp(&b.key));
            all.into_iter().map(|l| l.key).collect::<Vec<_>>()
        }
    };
    assert_eq!(listed("m/").await, ["m/.x/y", "m/a/", "m/b.jar"]);
    assert_eq!(listed("m/b").await, ["m/b.jar"]);
    assert_eq!(listed("").await.len(), 4);
    assert!(store.delete("m/b.jar").await.unwrap().unwrap() > 30);
    assert_eq!(store.delete("m/b.jar").await.unwrap(), None);
    assert!(store.head("m/b.jar").await.unwrap().is_none());
    let purged = store.purge("m/").await.unwrap();
    assert_eq!(purged.entries, 2);
    assert!(listed("m/").await.is_empty());
    assert_eq!(listed("").await, ["n/c"]);
}

/// Uploads to hosted repositories (issue 14) live in the bucket: a wheel posted to one node is
/// served, with its generated page, by another node on the same bucket, and a Maven deploy
/// gets its generated metadata there too.
#[tokio::test]
async fn hosted_uploads_live_in_the_bucket() {
    use sha2::Digest;
    let Some(moto) = Moto::start("hosted").await else {
        return;
    };
    let hosted = |kind| RepositoryConfig {
        hosted: true,
        ..RepositoryConfig::new(kind)
    };
    let repos = || {
        vec![
            ("rel", hosted(repox_proxy::config::Kind::Pypi)),
            ("m2", hosted(repox_proxy::config::Kind::Maven)),
        ]
    };
    let a = Node::start(repos(), moto.storage("hosted")).await;
    let (filename, wheel) = crate::hosted_pypi::wheel("team-lib", "1.0", &[]);
    let sha = hex::encode(sha2::Sha256::digest(&wheel));
    let form = crate::hosted_pypi::form(
        &crate::hosted_pypi::fields("team-lib", "1.0", &sha),
        &filename,
        &wheel,
    );
    let resp = client()
        .post(a.url.join("rel/").unwrap())
        .header(
            header::CONTENT_TYPE,
            "multipart/form-data; boundary=repox-test-boundary",
        )
        .body(form)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    let put = client()
        .put(a.url.join("m2/org/t/lib/1.0/lib-1.0.jar").unwrap())
        .body("jar")
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 201);
    let stored = a.objects("~hosted/").await;
    assert!(
        keys(&stored).contains(&format!("~hosted/rel/dist/team-lib/{filename}").as_str()),
        "{stored:?}"
    );

    let b = Node::start(repos(), moto.storage("hosted")).await;
    let (_, body) = ok_body(b.get(&format!("rel/dist/team-lib/{filename}")).await).await;
    assert_eq!(body, wheel);
    let (_, page) = ok_body(b.get("rel/simple/team-lib/").await).await;
    assert!(String::from_utf8_lossy(&page).contains(&sha));
    let (_, xml) = ok_body(b.get("m2/org/t/lib/maven-metadata.xml").await).await;
    assert!(String::from_utf8_lossy(&xml).contains("<version>1.0</version>"));
    a.stop().await;
    b.stop().await;
}
