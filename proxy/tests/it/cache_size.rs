//! The bounded cache through a running server: the size gauge equals the bytes on disk, a
//! cache filled past `[storage] max_size` shrinks under it and keeps its recently used entries,
//! and a restart over a large cache knows its size from the index at once, without a walk.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use repox_proxy::config::{Config, RepoName, RepositoryConfig, ServerConfig, StorageConfig};
use repox_proxy::store::index::{Index, Indexed};
use repox_proxy::store::walk::WALKED;
use tokio::sync::oneshot;
use url::Url;

use crate::support::{TestUpstream, bytes, client, maven};

struct Running {
    url: Url,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

async fn start(cache: &Path, repo: RepositoryConfig, storage: StorageConfig) -> Running {
    let name: RepoName = serde_json::from_value(serde_json::json!("maven")).unwrap();
    let config = Config {
        server: ServerConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            cache_dir: Some(cache.to_owned()),
            ..ServerConfig::default()
        },
        repositories: [(name, repo)].into_iter().collect(),
        auth: Default::default(),
        storage,
    };
    let server = crate::support::bind(config).await;
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
    Running { url, stop, task }
}

impl Running {
    async fn get(&self, path: &str) -> reqwest::Response {
        let response = client()
            .get(self.url.join(path).unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
        response
    }

    async fn metric(&self, name: &str) -> u64 {
        let text = self.get("-/metrics").await.text().await.unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no {name} in\n{text}"))
            .parse()
            .unwrap()
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

fn disk_bytes(cache: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![cache.join("data-v1")];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let m = e.metadata().unwrap();
            if m.is_dir() {
                stack.push(e.path());
            } else {
                total += m.len();
            }
        }
    }
    total
}

#[tokio::test]
async fn filling_past_max_size_evicts_the_least_recently_used_and_keeps_the_hot_one() {
    let up = TestUpstream::start().await;
    for i in 0..10 {
        up.put_with_sha1(&format!("g/a/{i}/a-{i}.jar"), bytes(20_000, i as u8));
    }
    let cache = tempfile::tempdir().unwrap();
    let limit = 100_000;
    let proxy = start(
        cache.path(),
        maven(&[("central", &up, 0)]),
        StorageConfig {
            max_size: Some(limit),
            unused_for: None,
            ..StorageConfig::default()
        },
    )
    .await;
    for i in 0..10 {
        proxy.get(&format!("maven/g/a/{i}/a-{i}.jar")).await;
        // The first jar is used all along: it must survive.
        proxy.get("maven/g/a/0/a-0.jar").await;
    }
    let mut size = proxy.metric("repox_cache_size_bytes").await;
    for _ in 0..100 {
        if size <= limit {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        size = proxy.metric("repox_cache_size_bytes").await;
    }
    assert!(size <= limit, "still {size} bytes over a limit of {limit}");
    assert_eq!(
        size,
        disk_bytes(cache.path()),
        "the gauge is the bytes on disk"
    );
    assert!(proxy.metric("repox_cache_evictions_total").await >= 5);
    let hot = proxy.get("maven/g/a/0/a-0.jar").await;
    assert_eq!(hot.headers()["x-repox-cache"], "hit");
    assert_eq!(up.count(http::Method::GET, "g/a/0/a-0.jar"), 1);
    let newest = proxy.get("maven/g/a/9/a-9.jar").await;
    assert_eq!(newest.headers()["x-repox-cache"], "hit");
    let oldest = proxy.get("maven/g/a/1/a-1.jar").await;
    assert_ne!(oldest.headers()["x-repox-cache"], "hit", "evicted");
    proxy.stop().await;
}

#[tokio::test]
async fn a_restart_over_a_large_cache_knows_its_size_without_a_walk() {
    let up = TestUpstream::start().await;
    up.put_with_sha1("g/a/1/a-1.jar", bytes(5_000, 1));
    let cache = tempfile::tempdir().unwrap();
    let proxy = start(
        cache.path(),
        maven(&[("central", &up, 0)]),
        StorageConfig::default(),
    )
    .await;
    proxy.get("maven/g/a/1/a-1.jar").await;
    // The entry is committed just after its body reached the client.
    let mut real = 0;
    for _ in 0..100 {
        real = proxy.metric("repox_cache_size_bytes").await;
        if real > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(real > 5_000);
    proxy.stop().await;
    // The jar and its kept .sha1, as committed once the server stopped.
    let real = disk_bytes(cache.path());

    // 100,000 more entries in the index (their files are left out: a walk would never count
    // them, so a gauge that includes them at once was read from the index).
    let index = Index::open(cache.path()).unwrap();
    assert_eq!(index.bytes(), real, "the index agrees with the disk");
    let real_entries = index.entries();
    let walked = index
        .state(WALKED)
        .unwrap()
        .expect("the first start indexed the cache");
    let fake: Vec<Indexed> = (0..100_000)
        .map(|i| Indexed {
            key: format!("maven/big/{i}.jar"),
            size: 1000,
            last_access: 1,
            mutable: false,
        })
        .collect();
    index.insert_found(&fake).unwrap();
    drop(index);

    let proxy = start(
        cache.path(),
        maven(&[("central", &up, 0)]),
        StorageConfig::default(),
    )
    .await;
    assert_eq!(
        proxy.metric("repox_cache_size_bytes").await,
        real + 100_000 * 1000,
        "known at start-up"
    );
    assert_eq!(
        proxy.metric("repox_cache_entries").await,
        real_entries + 100_000
    );
    let hit = proxy.get("maven/g/a/1/a-1.jar").await;
    assert_eq!(hit.headers()["x-repox-cache"], "hit");
    assert_eq!(up.count(http::Method::GET, "g/a/1/a-1.jar"), 1);
    proxy.stop().await;
    let index = Arc::new(Index::open(cache.path()).unwrap());
    assert_eq!(index.state(WALKED).unwrap(), Some(walked), "no second walk");
    assert_eq!(index.entries(), real_entries + 100_000);
}
