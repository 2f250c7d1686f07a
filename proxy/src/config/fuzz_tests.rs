//! Property tests of [`Config::parse`] (see `crate::fuzz`): any text gives a configuration or an
//! error naming the file, never a panic; a configuration that parses prints (`config show`) as
//! TOML that parses back to the same configuration.

use std::path::Path;

use proptest::prelude::*;
use proptest::sample::select;

use super::{Config, ConfigError, DEFAULT_TOML};
use crate::fuzz;

const SAMPLE: &str = r#"
[server]
listen = "127.0.0.1:8078"
cache_dir = "/var/cache/repox"
offline = false

[repositories.maven]
kind = "maven"
negative_ttl = "1h"
metadata_ttl = "5m"
block = ["**/*-javadoc.jar"]

[[repositories.maven.upstreams]]
name = "central"
url = "https://repo.maven.apache.org/maven2/"
priority = 0
enabled = true
connect_timeout = "5s"
idle_timeout = "10s"
proxy = "http://corp-proxy:3128"
username = "me"
password_env = "CENTRAL_TOKEN"
head = true

[repositories.conda]
kind = "conda"
index_ttl = "1h 30m"

[[repositories.conda.upstreams]]
name = "anaconda"
url = "https://conda.anaconda.org/"
channels = ["conda-forge", "!pkgs/*"]
"#;

const ORIGIN: &str = "/etc/repox/repox.toml";

/// A TOML string holding `s`.
fn quoted(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z0-9:/._*!-]{0,16}",
        select(
            &[
                "1h",
                "5m",
                "90s",
                "0s",
                "1h 30m",
                "-1s",
                "999999999999h",
                "1 fortnight",
                ""
            ][..]
        )
        .prop_map(str::to_owned),
        select(
            &[
                "http://127.0.0.1:1/",
                "https://h/p",
                "http:x",
                "ftp://h/",
                "file:///",
                "//h"
            ][..]
        )
        .prop_map(str::to_owned),
        fuzz::text(),
    ]
}

/// A well-formed file with random values in every key.
fn generated() -> impl Strategy<Value = String> {
    let repo = (
        "[a-z.-]{0,6}",
        select(&["maven", "pypi", "conda", "npm", "cargo", "rubygems"][..]),
        prop::collection::vec(value(), 0..4),
        prop::collection::vec(
            (
                "[a-z]{0,4}",
                value(),
                any::<i64>(),
                any::<bool>(),
                value(),
                prop::collection::vec(value(), 0..3),
            ),
            0..3,
        ),
    );
    (value(), any::<bool>(), prop::collection::vec(repo, 0..3)).prop_map(
        |(listen, offline, repos)| {
            let mut doc = format!("[server]\nlisten = {}\noffline = {offline}\n", quoted(&listen));
            for (name, kind, ttls, ups) in repos {
                doc += &format!("\n[repositories.{}]\nkind = \"{kind}\"\n", quoted(&name));
                for (key, ttl) in ["negative_ttl", "metadata_ttl", "index_ttl"].iter().zip(&ttls) {
                    doc += &format!("{key} = {}\n", quoted(ttl));
                }
                if let Some(glob) = ttls.get(3) {
                    doc += &format!("block = [{}]\n", quoted(glob));
                }
                for (up, url, priority, enabled, timeout, channels) in ups {
                    let channels: Vec<String> = channels.iter().map(|c| quoted(c)).collect();
                    doc += &format!(
                        "\n[[repositories.{}.upstreams]]\nname = {}\nurl = {}\npriority = {priority}\n\
                         enabled = {enabled}\nidle_timeout = {}\nchannels = [{}]\n",
                        quoted(&name),
                        quoted(&up),
                        quoted(&url),
                        quoted(&timeout),
                        channels.join(", ")
                    );
                }
            }
            doc
        },
    )
}

fn check(text: &str) -> Result<(), TestCaseError> {
    match Config::parse(text, Path::new(ORIGIN)) {
        Ok(config) => {
            let shown = config.to_toml();
            let again = Config::parse(&shown, Path::new(ORIGIN));
            prop_assert!(
                again.is_ok(),
                "`config show` output does not parse: {again:?}\n{shown}"
            );
            if let Ok(again) = again {
                prop_assert_eq!(again.to_toml(), shown);
            }
        }
        Err(err @ ConfigError::Invalid { .. }) => {
            let message = err.to_string();
            prop_assert!(message.starts_with(ORIGIN), "{message}");
        }
        Err(err) => prop_assert!(false, "unexpected error kind: {err}"),
    }
    Ok(())
}

proptest! {
    #![proptest_config(fuzz::config())]

    #[test]
    fn generated_files_parse_or_fail_cleanly(text in generated()) {
        check(&text)?;
    }

    #[test]
    fn mutated_files_parse_or_fail_cleanly(text in fuzz::mutated(&[SAMPLE, DEFAULT_TOML])) {
        check(&text)?;
    }

    #[test]
    fn any_text_parses_or_fails_cleanly(bytes in fuzz::bytes()) {
        check(&String::from_utf8_lossy(&bytes))?;
    }
}
