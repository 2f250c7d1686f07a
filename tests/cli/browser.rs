//! The web console in a real browser (headless Chromium, `browser_support.rs`) against the
//! built `repox serve`: the dashboard shows a request made through repox, the cache page
//! deletes an entry, and the settings page reorders upstreams and changes a timeout, after which
//! requests follow the new order and the config file on disk is changed with its comments kept;
//! its `ca_certificates` fields (an upstream's, the server's) show and save the file as written
//! and show the API's error for a file that is not there.

use fantoccini::Locator;

use crate::browser_support::{
    browser_present, click, http_get, type_into, value, wait_text, with_browser,
};
use crate::fixture_server::FixtureServer;
use crate::repox_server::RepoxServer;

const JAR: &str = "org/x/lib/1.0/lib-1.0.jar";
const OTHER: &str = "org/y/b/1.0/b-1.0.jar";

/// An upstream directory holding `JAR` and `OTHER` with `tag` in their bodies.
fn upstream_dir(root: &std::path::Path, tag: &str) -> FixtureServer {
    for path in [JAR, OTHER] {
        let file = root.join(path);
        fs_err::create_dir_all(file.parent().unwrap()).unwrap();
        fs_err::write(&file, format!("{tag}: {path}")).unwrap();
    }
    FixtureServer::start(root)
}

fn maven_config(upstream: &FixtureServer) -> String {
    format!(
        "[repositories.maven]\nkind = \"maven\"\n\
         [[repositories.maven.upstreams]]\nname = \"fixture\"\nurl = \"{}\"\n",
        upstream.url()
    )
}

#[test]
fn the_dashboard_shows_a_request_made_through_repox() {
    if !browser_present() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let upstream = upstream_dir(&dir.path().join("up"), "fixture");
    let server = RepoxServer::start(dir.path(), &maven_config(&upstream));
    let base = server.url();
    with_browser("dashboard", |client| async move {
        let (status, _) = http_get(&format!("{base}maven/{JAR}")).await;
        assert_eq!(status, 200);
        client.goto(&format!("{base}-/ui/")).await.unwrap();
        wait_text(&client, "#feed tbody tr", &format!("/maven/{JAR}")).await;
        let row = wait_text(&client, "#feed tbody tr", "fixture").await;
        assert!(row.contains("miss") && row.contains("200"), "{row}");
        wait_text(&client, ".card[data-repo=maven] .requests", "1").await;
        wait_text(&client, "#upstreams tbody", "fixture").await;
        assert!(
            client
                .find(Locator::Css(".card[data-repo=maven] svg.chart"))
                .await
                .is_ok(),
            "the hour chart is drawn"
        );
        // What a person waits for: the page's own load, from a cold browser cache.
        let timing = client
            .execute(
                "const n = performance.getEntriesByType('navigation')[0];
                 const r = performance.getEntriesByType('resource');
                 return [n.loadEventEnd - n.startTime, n.transferSize,
                         r.reduce((a, e) => a + e.transferSize, 0)];",
                vec![],
            )
            .await
            .unwrap();
        eprintln!("dashboard load [ms, page bytes, asset bytes]: {timing}");
        // Kept for people reviewing the console (and its notes), not checked.
        if let Ok(png) = client.screenshot().await {
            let dir =
                std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("browser-screenshots");
            let _ = fs_err::create_dir_all(&dir);
            let _ = fs_err::write(dir.join("dashboard-ok.png"), png);
        }
    });
    drop(server);
}

#[test]
fn the_cache_page_deletes_an_entry() {
    if !browser_present() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let upstream = upstream_dir(&dir.path().join("up"), "fixture");
    let server = RepoxServer::start(dir.path(), &maven_config(&upstream));
    let base = server.url();
    let (status, _) = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(http_get(&format!("{base}maven/{JAR}")));
    assert_eq!(status, 200);
    assert_eq!(upstream.count(JAR), 1);
    let page_base = base.clone();
    with_browser("cache", |client| async move {
        // The download is committed just after its last byte reaches the client.
        let listed = format!("\"path\":\"{JAR}\"");
        for _ in 0..200 {
            let (_, listing) =
                http_get(&format!("{page_base}-/api/cache/maven?q=lib-1.0.jar")).await;
            if listing.contains(&listed) {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        client
            .goto(&format!("{page_base}-/ui/cache?repo=maven&q=lib-1.0.jar"))
            .await
            .unwrap();
        wait_text(&client, "#entries tbody", JAR).await;
        let delete = client
            .wait()
            .for_element(Locator::Css(&format!("button.del[data-path=\"{JAR}\"]")))
            .await
            .unwrap();
        delete.click().await.unwrap();
        wait_text(&client, "#msg", &format!("deleted {JAR}")).await;
        let (_, listing) = http_get(&format!("{page_base}-/api/cache/maven?q=lib-1.0.jar")).await;
        assert!(
            !listing.contains(&format!("\"path\":\"{JAR}\"")),
            "still listed: {listing}"
        );
        // Gone from the cache: the next request goes upstream again.
        let (status, _) = http_get(&format!("{page_base}maven/{JAR}")).await;
        assert_eq!(status, 200);
    });
    assert_eq!(upstream.count(JAR), 2);
}

#[test]
fn the_settings_page_reorders_upstreams_and_changes_a_timeout_live_and_in_the_file() {
    if !browser_present() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let first = upstream_dir(&dir.path().join("first"), "first");
    let second = upstream_dir(&dir.path().join("second"), "second");
    let config = format!(
        "# Team repox: this comment stays.\n\
         [repositories.maven]\nkind = \"maven\"\n\n\
         # The near mirror, asked first.\n\
         [[repositories.maven.upstreams]]\nname = \"first\"\nurl = \"{}\"\npriority = 0\n\n\
         [[repositories.maven.upstreams]]\nname = \"second\"  # the far one\nurl = \"{}\"\npriority = 1\n",
        first.url(),
        second.url()
    );
    let server = RepoxServer::start(dir.path(), &config);
    let base = server.url();
    let file = dir.path().join("repox.toml");
    with_browser("settings", |client| async move {
        // Before: `first` answers.
        let (_, body) = http_get(&format!("{base}maven/{JAR}")).await;
        assert_eq!(body, format!("first: {JAR}"));

        client.goto(&format!("{base}-/ui/settings")).await.unwrap();
        let row = "section[data-repo=maven] tbody tr";
        wait_text(&client, "section[data-repo=maven]", "save maven").await;
        let rows = client.find_all(Locator::Css(row)).await.unwrap();
        assert_eq!(rows.len(), 2);
        // Move `second` up, and give it a shorter connect timeout.
        rows[1]
            .find(Locator::Css("button.up-btn"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        let timeout = client
            .find(Locator::Css(&format!(
                "{row}:first-child input[data-k=connect_timeout]"
            )))
            .await
            .unwrap();
        timeout.clear().await.unwrap();
        timeout.send_keys("3s").await.unwrap();
        click(&client, "section[data-repo=maven] button.save").await;
        wait_text(&client, "#msg", "saved maven").await;

        // After: `second` is asked first, at once, with no restart.
        let (_, body) = http_get(&format!("{base}maven/{OTHER}")).await;
        assert_eq!(body, format!("second: {OTHER}"));
        // The page shows the order it saved, and the undo button is live.
        let rows = client.find_all(Locator::Css(row)).await.unwrap();
        let top = rows[0]
            .find(Locator::Css("input[data-k=name]"))
            .await
            .unwrap()
            .prop("value")
            .await
            .unwrap();
        assert_eq!(top.as_deref(), Some("second"));
    });
    assert_eq!(
        first.count(OTHER),
        0,
        "the old first upstream was not asked"
    );
    let text = fs_err::read_to_string(&file).unwrap();
    for kept in [
        "# Team repox: this comment stays.",
        "# The near mirror, asked first.",
        "# the far one",
    ] {
        assert!(text.contains(kept), "lost `{kept}`:\n{text}");
    }
    let parsed: toml::Value = toml::from_str(&text).unwrap();
    let ups = parsed["repositories"]["maven"]["upstreams"]
        .as_array()
        .unwrap();
    let find = |name: &str| {
        ups.iter()
            .find(|u| u["name"].as_str() == Some(name))
            .unwrap_or_else(|| panic!("no upstream {name}:\n{text}"))
    };
    assert!(
        find("second")["priority"].as_integer() < find("first")["priority"].as_integer(),
        "{text}"
    );
    assert_eq!(
        find("second")["connect_timeout"].as_str(),
        Some("3s"),
        "{text}"
    );
    drop(server);
}

/// What a bare repository root (and the set-up page, from the same source) tells a person to
/// write is what `repox configure` writes: each client's text, line by line, is in the file
/// `repox configure CLIENT` produces under an empty HOME. (No browser needed.)
#[test]
fn the_set_up_text_is_what_repox_configure_writes() {
    let dir = tempfile::tempdir().unwrap();
    let server = RepoxServer::start(dir.path(), "");
    let base = server.url();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mut checked = Vec::new();
    for repo in ["pypi", "npm", "cargo", "conda", "maven"] {
        let (status, text) = runtime.block_on(http_get(&format!("{base}{repo}/")));
        assert_eq!(status, 200, "{text}");
        // `# CLIENT (FILE)` then the text, up to the next such line or the closing line.
        let mut sections: Vec<(String, String, Vec<String>)> = Vec::new();
        for line in text.lines() {
            if let Some(head) = line.strip_prefix("# ")
                && let Some((client, file)) = head.split_once(" (")
            {
                let file = file.trim_end_matches(')').to_owned();
                sections.push((client.to_owned(), file, Vec::new()));
            } else if line.starts_with("Set-up page") {
                break;
            } else if let Some(last) = sections.last_mut()
                && !line.trim().is_empty()
            {
                last.2.push(line.trim().to_owned());
            }
        }
        for (client, file, lines) in sections {
            // The page shows the gist of the Gradle init script; `configure` writes it whole.
            if client == "gradle" {
                continue;
            }
            let home = dir.path().join(format!("home-{client}"));
            fs_err::create_dir_all(&home).unwrap();
            let out = std::process::Command::new(env!("CARGO_BIN_EXE_repox"))
                .args(["configure", &client, "--url", &base, "-y"])
                .env_clear()
                .env("PATH", std::env::var_os("PATH").unwrap_or_default())
                .env("HOME", &home)
                .env("XDG_CONFIG_HOME", home.join(".config"))
                .env("XDG_DATA_HOME", home.join(".local/share"))
                .env("NO_COLOR", "1")
                .current_dir(&home)
                .stdin(std::process::Stdio::null())
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "repox configure {client}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let written = home.join(file.trim_start_matches("~/"));
            let written = fs_err::read_to_string(&written).unwrap();
            for line in &lines {
                assert!(
                    written.lines().any(|l| l.trim() == line),
                    "{client}: the set-up text says `{line}`, `repox configure` wrote:\n{written}"
                );
            }
            checked.push(client);
        }
    }
    assert_eq!(checked, ["pip", "uv", "npm", "cargo", "conda", "maven"]);
}

#[test]
fn the_cache_page_lists_the_files_of_a_hosted_repository() {
    if !browser_present() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let config = "[repositories.maven-releases]\nkind = \"maven\"\nhosted = true\n";
    let server = RepoxServer::start(dir.path(), config);
    let base = server.url();
    with_browser("hosted", |client| async move {
        // No users file: anyone may upload (the zero-configuration local setup).
        let put = reqwest::Client::new()
            .put(format!("{base}maven-releases/{JAR}"))
            .body("an uploaded jar")
            .send()
            .await
            .unwrap();
        assert_eq!(put.status().as_u16(), 201, "{put:?}");
        client
            .goto(&format!("{base}-/ui/cache?repo=maven-releases"))
            .await
            .unwrap();
        let row = wait_text(&client, "#hosted tbody", JAR).await;
        assert!(row.contains("15 B"), "the size is shown: {row}");
    });
}

/// A CA certificate whose key was thrown away: usable as a trust anchor only.
const FIXTURE_CA: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/tls/test-ca.pem"
);

#[test]
fn the_settings_page_shows_and_saves_ca_certificates_as_written_and_shows_a_bad_path() {
    if !browser_present() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let upstream = upstream_dir(&dir.path().join("up"), "up");
    fs_err::create_dir_all(dir.path().join("certs")).unwrap();
    fs_err::copy(FIXTURE_CA, dir.path().join("certs/ca.pem")).unwrap();
    let config = maven_config(&upstream) + "ca_certificates = \"certs/ca.pem\" # the corp CA\n";
    let server = RepoxServer::start(dir.path(), &config);
    let base = server.url();
    let file = dir.path().join("repox.toml");
    let before = fs_err::read_to_string(&file).unwrap();
    let (file_in, before_in) = (file.clone(), before.clone());
    with_browser("settings-ca", |client| async move {
        let (file, before) = (file_in, before_in);
        client.goto(&format!("{base}-/ui/settings")).await.unwrap();
        wait_text(&client, "section[data-repo=maven]", "save maven").await;
        let up_ca = "section[data-repo=maven] tbody tr input[data-k=ca_certificates]";
        assert_eq!(
            value(&client, up_ca).await,
            "certs/ca.pem",
            "shown as written"
        );
        assert_eq!(value(&client, "#server-ca").await, "");
        let save_maven = "section[data-repo=maven] button.save";

        // Saved as shown: the file keeps its line, comment and all.
        click(&client, save_maven).await;
        wait_text(&client, "#msg", "saved maven").await;
        assert_eq!(fs_err::read_to_string(&file).unwrap(), before);

        // An upstream's file that is not there: the API's one line, and nothing changes.
        type_into(&client, up_ca, "certs/gone.pem").await;
        click(&client, save_maven).await;
        let shown = wait_text(&client, "#msg", "cannot use `ca_certificates` file").await;
        assert!(shown.contains("upstream `fixture`"), "{shown}");
        assert!(shown.contains("gone.pem"), "{shown}");
        assert_eq!(fs_err::read_to_string(&file).unwrap(), before);

        // The server-wide file: a bad path shows the error, a good one is saved as written.
        type_into(&client, "#server-ca", "certs/missing.pem").await;
        click(&client, "#save-server").await;
        let shown = wait_text(
            &client,
            "#msg",
            "cannot use `[server] ca_certificates` file",
        )
        .await;
        assert!(shown.contains("missing.pem"), "{shown}");
        assert_eq!(fs_err::read_to_string(&file).unwrap(), before);
        type_into(&client, "#server-ca", "certs/ca.pem").await;
        click(&client, "#save-server").await;
        wait_text(&client, "#msg", "saved the server's ca_certificates").await;
        assert_eq!(value(&client, "#server-ca").await, "certs/ca.pem");
        // The upstream field shows the file's value again after the reload of the page data.
        assert_eq!(value(&client, up_ca).await, "certs/ca.pem");
    });
    let text = fs_err::read_to_string(&file).unwrap();
    let parsed: toml::Value = toml::from_str(&text).unwrap();
    assert_eq!(
        parsed["server"]["ca_certificates"].as_str(),
        Some("certs/ca.pem"),
        "{text}"
    );
    assert_eq!(
        text,
        format!("{before}\n[server]\nca_certificates = \"certs/ca.pem\"\n"),
        "the rest of the file is as it was"
    );
    drop(server);
}
