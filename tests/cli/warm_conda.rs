//! `repox warm` for conda: an `@EXPLICIT` file, a conda-lock.yml and a pixi.lock naming
//! conda.anaconda.org are warmed from a fixture channel; with the channel stopped, py-rattler
//! solves and installs from repox (repodata of the package's subdir and of `noarch`, then the
//! packages).

use std::process::Command;

use crate::fixture_server::FixtureServer;
use crate::repox_server::RepoxServer;
use crate::warm_support::{assert_success, config, e2e, labels, run_client, summary, warm};

/// Solves `specs` on `linux-64` with `channel_alias` at repox and installs into a prefix.
const RATTLER: &str = r#"
import asyncio, json, os, sys
import rattler
from rattler import Channel, ChannelConfig, Gateway, SourceConfig

alias, cache, prefix = sys.argv[1:4]
specs = sys.argv[4:]

async def main():
    channel = Channel("conda-forge", ChannelConfig(channel_alias=alias))
    gateway = Gateway(cache_dir=cache + "/repodata",
                      default_config=SourceConfig(sharded_enabled=False))
    records = await rattler.solve([channel], specs, gateway=gateway,
                                  platforms=["linux-64", "noarch"])
    await rattler.install(records, prefix, cache_dir=cache + "/pkgs", show_progress=False)
    print(json.dumps(sorted(str(r.url) for r in records)))

asyncio.run(main())
sys.stdout.flush()
os._exit(0)
"#;

fn rattler() -> bool {
    let missing = match crate::clients_support::runs("python3", &["-c", "import rattler"]) {
        true => vec![],
        false => vec!["py-rattler"],
    };
    crate::clients_support::clients_present(&missing, "pip install py-rattler")
}

#[test]
fn explicit_conda_lock_and_pixi_lock_then_rattler_installs_with_the_channel_gone() {
    let tmp = tempfile::tempdir().unwrap();
    let upstream = FixtureServer::start(&e2e("upstream"));
    let config = config(
        tmp.path(),
        &[("conda", format!("{}conda/", upstream.url()))],
    );
    let mut first = true;
    for input in ["explicit.txt", "conda-lock.yml", "pixi.lock"] {
        let path = e2e("inputs/conda").join(input);
        let out = warm(&config, &["--json", path.to_str().unwrap()]);
        assert_success(&out, &format!("repox warm {input}"));
        let summary = summary(&out);
        assert!(
            labels(&summary, "failed").is_empty(),
            "{input}: {summary:#}"
        );
        let list = if first { "fetched" } else { "cached" };
        let done = labels(&summary, list);
        for expected in [
            "conda-forge/linux-64/hello-1.0-0.tar.bz2",
            "conda-forge/linux-64/repodata.json",
            "conda-forge/noarch/repodata.json",
            "conda-forge/noarch/world-2.0-0.tar.bz2",
        ] {
            assert!(
                done.iter().any(|l| l == expected),
                "{input}: {expected} not {list}: {summary:#}"
            );
        }
        first = false;
    }
    if !rattler() {
        return;
    }
    upstream.stop();
    let serve = RepoxServer::with_config(&config);
    let output = run_client(
        Command::new("python3")
            .arg("-c")
            .arg(RATTLER)
            .arg(format!("{}conda/", serve.url()))
            .arg(tmp.path().join("rattler-cache"))
            .arg(tmp.path().join("prefix"))
            .arg("hello"),
        &serve,
        "py-rattler with the channel stopped",
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("world-2.0-0.tar.bz2"), "{stdout}");
    for name in ["hello", "world"] {
        assert!(
            tmp.path()
                .join(format!("prefix/share/{name}/hello.txt"))
                .is_file(),
            "{name} not installed"
        );
    }
}
