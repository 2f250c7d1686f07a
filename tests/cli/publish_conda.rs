//! Publishing conda packages (issue 14): a `.tar.bz2` built in the test is uploaded with
//! `repox upload` (and a second upload refused), a `.conda` with a plain HTTP PUT, then
//! py-rattler solves and installs the uploaded package through the group, with its public
//! dependency from the proxy member.

use std::process::Command;

use crate::publish_support::{Hosting, text};
use crate::warm_support::run_client;

/// Builds `<name>-1.0-0.tar.bz2` for noarch with python's tarfile: index.json, paths.json and
/// one file under `share/<name>/`.
const BUILD: &str = r#"
import io, json, sys, tarfile, hashlib
name, depends, out = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
payload = f"{name}\n".encode()
files = {
    "info/index.json": json.dumps({"name": name, "version": "1.0", "build": "0",
        "build_number": 0, "depends": depends, "subdir": "noarch", "noarch": "generic",
        "license": "MIT"}).encode(),
    "info/paths.json": json.dumps({"paths_version": 1, "paths": [{"_path": f"share/{name}/hello.txt",
        "path_type": "hardlink", "sha256": hashlib.sha256(payload).hexdigest(),
        "size_in_bytes": len(payload)}]}).encode(),
    "info/files": f"share/{name}/hello.txt\n".encode(),
    f"share/{name}/hello.txt": payload,
}
with tarfile.open(out, "w:bz2") as t:
    for path, data in files.items():
        info = tarfile.TarInfo(path)
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))
"#;

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
fn an_uploaded_package_installs_through_the_group_with_py_rattler() {
    if !crate::clients_support::runs("python3", &["--version"]) {
        return;
    }
    let h = Hosting::start("conda", "conda/");
    let file = h.tmp.path().join("internal-tool-1.0-0.tar.bz2");
    let out = Command::new("python3")
        .args(["-c", BUILD, "internal-tool", r#"["world >=2"]"#])
        .arg(&file)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));

    let to = format!("{}conda-forge", h.url("conda-releases"));
    let upload = || {
        let mut cmd = h.repox();
        cmd.args([
            "upload",
            "--to",
            &to,
            "--user",
            crate::publish_support::USER,
        ])
        .arg(&file)
        .env("REPOX_TOKEN", &h.token);
        cmd
    };
    h.fails(
        h.repox().args(["upload", "--to", &to]).arg(&file),
        "repox upload without credentials",
        "401",
    );
    h.succeeds(&mut upload(), "repox upload");
    h.fails(&mut upload(), "a second repox upload", "409");
    let repodata = h.get("conda-releases/conda-forge/noarch/repodata.json");
    assert!(
        repodata.contains("internal-tool-1.0-0.tar.bz2"),
        "{repodata}"
    );
    assert!(repodata.contains("\"sha256\""), "{repodata}");
    let merged = h.get("conda-public/conda-forge/noarch/repodata.json");
    assert!(merged.contains("internal-tool-1.0-0.tar.bz2"), "{merged}");
    assert!(merged.contains("world-2.0-0.tar.bz2"), "{merged}");

    if !rattler() {
        return;
    }
    let output = run_client(
        Command::new("python3")
            .arg("-c")
            .arg(RATTLER)
            .arg(h.url("conda-public"))
            .arg(h.tmp.path().join("rattler-cache"))
            .arg(h.tmp.path().join("prefix"))
            .arg("internal-tool"),
        &h.serve,
        "py-rattler through the group",
    );
    let stdout = text(&output.stdout);
    assert!(stdout.contains("internal-tool-1.0-0.tar.bz2"), "{stdout}");
    assert!(stdout.contains("world-2.0-0.tar.bz2"), "{stdout}");
    assert!(
        h.tmp
            .path()
            .join("prefix/share/internal-tool/hello.txt")
            .is_file()
    );
}
