//! A real browser for the web-console tests: headless Chromium driven through chromedriver
//! (WebDriver, with `fantoccini`). Each test runs inside [`with_browser`], which starts a
//! chromedriver on a free port, opens a session, and on failure saves a screenshot of the page
//! under `target/tmp/browser-screenshots/` before passing the failure on. A missing chromium or
//! chromedriver fails the test unless `REPOX_SKIP_MISSING_CLIENTS=1` (`clients_support.rs`);
//! `scripts/test` installs both (Debian `chromium`, `chromium-driver`).

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use futures_util::FutureExt;

use crate::clients_support::{clients_present, runs};
use crate::repox_server::free_port;

const INSTALL: &str = "apt-get install chromium chromium-driver";

/// Whether the browser tests may run: chromium and chromedriver are both here (else the test
/// fails, or is skipped with `REPOX_SKIP_MISSING_CLIENTS=1`).
pub fn browser_present() -> bool {
    let mut missing = Vec::new();
    if !runs("chromedriver", &["--version"]) {
        missing.push("chromedriver");
    }
    if chromium().is_none() {
        missing.push("chromium");
    }
    clients_present(&missing, INSTALL)
}

/// The Chromium binary on `PATH`.
fn chromium() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .flat_map(|name| std::env::split_paths(&path).map(move |dir| dir.join(name)))
        .find(|p| p.is_file())
}

/// A chromedriver child, killed on drop.
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn start() -> (Driver, Client) {
    let binary = chromium().expect("checked by browser_present");
    let mut last_error = String::new();
    // The free port is found by binding and releasing it: retry if another process took it.
    for _ in 0..3 {
        let port = free_port().port();
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let driver = Driver(child);
        let caps = serde_json::json!({
            "goog:chromeOptions": {
                "binary": binary,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--window-size=1400,1000",
                         "--no-proxy-server"],
            }
        });
        let caps = caps.as_object().cloned().unwrap_or_default();
        let url = format!("http://127.0.0.1:{port}");
        // chromedriver needs a moment to listen (bounded retries).
        for _ in 0..100 {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector)
                .capabilities(caps.clone())
                .connect(&url)
                .await
            {
                Ok(client) => return (driver, client),
                Err(e) => last_error = e.to_string(),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    panic!("cannot start a chromium session through chromedriver: {last_error}");
}

/// Runs `test` with a fresh browser; on failure saves a screenshot named after `name`.
pub fn with_browser<F, Fut>(name: &str, test: F)
where
    F: FnOnce(Client) -> Fut,
    Fut: Future<Output = ()>,
{
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let (_driver, client) = start().await;
        let outcome = AssertUnwindSafe(test(client.clone())).catch_unwind().await;
        if let Err(panic) = outcome {
            let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("browser-screenshots");
            let path = dir.join(format!("{name}.png"));
            match client.screenshot().await {
                Ok(png) => {
                    let _ = fs_err::create_dir_all(&dir);
                    if fs_err::write(&path, png).is_ok() {
                        eprintln!("screenshot of the failed page: {}", path.display());
                    }
                }
                Err(e) => eprintln!("no screenshot: {e}"),
            }
            let _ = client.close().await;
            std::panic::resume_unwind(panic);
        }
        let _ = client.close().await;
    });
}

/// Waits (bounded: 15 s) until an element matching `css` has text containing `needle`; returns
/// that text.
pub async fn wait_text(client: &Client, css: &str, needle: &str) -> String {
    let mut seen = Vec::new();
    for _ in 0..150 {
        seen.clear();
        if let Ok(found) = client.find_all(Locator::Css(css)).await {
            for el in found {
                let text = el.text().await.unwrap_or_default();
                if text.contains(needle) {
                    return text;
                }
                seen.push(text);
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no `{css}` ever showed `{needle}`; last seen: {seen:?}");
}

/// Clicks the element matching `css`.
pub async fn click(client: &Client, css: &str) {
    client
        .find(Locator::Css(css))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

/// The `value` of the input matching `css` ("" when it has none).
pub async fn value(client: &Client, css: &str) -> String {
    let field = client.find(Locator::Css(css)).await.unwrap();
    field.prop("value").await.unwrap().unwrap_or_default()
}

/// Replaces the text of the input matching `css` with `text`.
pub async fn type_into(client: &Client, css: &str, text: &str) {
    let field = client.find(Locator::Css(css)).await.unwrap();
    field.clear().await.unwrap();
    field.send_keys(text).await.unwrap();
}

/// Plain HTTP `GET url` from the test (not the browser): status and body.
pub async fn http_get(url: &str) -> (u16, String) {
    let resp = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .get(url)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.text().await.unwrap_or_default())
}
