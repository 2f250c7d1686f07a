//! `repox configure` as a user runs it, under a throwaway HOME: every client's file is edited
//! minimally, a second run changes nothing, `--dry-run` writes nothing, `--undo` walks back to
//! the exact original bytes, bad input is refused with the file and line, `--status` names the
//! files that shadow repox — and the real clients (pip, npm, cargo, mvn) read what repox wrote
//! and fetch from a server on 127.0.0.1 with the credentials repox put in their files.

mod clients;
mod http;

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

/// A temporary home and working directory; every command runs with only these in its
/// environment (plus `PATH`), so the real home is never read or written.
struct Sandbox {
    _dir: tempfile::TempDir,
    home: PathBuf,
    work: PathBuf,
}

impl Sandbox {
    fn new() -> Sandbox {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        let work = dir.path().join("work");
        std::fs::create_dir_all(&home).unwrap();
        std::fs::create_dir_all(&work).unwrap();
        Sandbox {
            _dir: dir,
            home,
            work,
        }
    }

    fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = Command::new(program);
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &self.home)
            .env("XDG_CONFIG_HOME", self.home.join(".config"))
            .env("XDG_DATA_HOME", self.home.join(".local/share"))
            .env("XDG_CACHE_HOME", self.home.join(".cache"))
            .env("NO_COLOR", "1")
            .current_dir(&self.work)
            .stdin(Stdio::null());
        cmd
    }

    fn repox(&self, args: &[&str]) -> Output {
        self.repox_env(args, &[])
    }

    fn repox_env(&self, args: &[&str], vars: &[(&str, &str)]) -> Output {
        let mut cmd = self.command(env!("CARGO_BIN_EXE_repox"));
        cmd.arg("configure").args(args);
        for (k, v) in vars {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    }

    /// Runs `repox configure ARGS`, asserts success, returns stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.repox(args);
        assert!(
            out.status.success(),
            "repox configure {args:?} failed:\n{}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        text(&out.stdout)
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.home.join(rel)
    }

    fn read(&self, rel: &str) -> Option<Vec<u8>> {
        std::fs::read(self.path(rel)).ok()
    }

    fn write(&self, rel: &str, contents: &str) {
        let path = self.path(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, contents).unwrap();
    }

    /// Number of undo records kept for `client`.
    fn undo_depth(&self, client: &str) -> usize {
        std::fs::read_dir(self.path(&format!(".local/share/repox/configure/{client}")))
            .map(|d| d.count())
            .unwrap_or(0)
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The first executable called `name` on `PATH`.
fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// One client's user file: a realistic file before, and what must appear after.
struct Case {
    client: &'static str,
    file: &'static str,
    before: Option<&'static str>,
    expect: &'static [&'static str],
}

const CASES: &[Case] = &[
    Case {
        client: "pip",
        file: ".config/pip/pip.conf",
        before: Some(
            "# managed by hand\r\n[global]\r\ntimeout = 60\r\nindex-url = https://mirrors.example/simple\r\n\r\n[install]\r\n; keep\r\nno-compile = yes\r\n",
        ),
        expect: &["index-url = http://127.0.0.1:8078/pypi/simple/\r\n"],
    },
    Case {
        client: "uv",
        file: ".config/uv/uv.toml",
        before: Some(
            "# uv\nnative-tls = true # proxy\n\n[[index]]\nname = \"tuna\"\nurl = \"https://pypi.tuna.tsinghua.edu.cn/simple\"\ndefault = true\n",
        ),
        expect: &[
            "name = \"repox\"\nurl = \"http://127.0.0.1:8078/pypi/simple/\"\ndefault = true",
            "[pip]\nindex-url",
        ],
    },
    Case {
        client: "conda",
        file: ".condarc",
        before: Some(
            "# conda\nchannels:\n  - conda-forge\n# old mirror\n# channel_alias: https://mirrors.example/anaconda\nssl_verify: true\n",
        ),
        expect: &[
            "channel_alias: http://127.0.0.1:8078/conda/\n",
            "  - http://127.0.0.1:8078/conda/pkgs/main\n",
        ],
    },
    Case {
        client: "pixi",
        file: ".config/pixi/config.toml",
        before: Some(
            "# pixi\ndefault-channels = [\"conda-forge\"]\n\n[repodata-config]\ndisable-jlap = true\n",
        ),
        expect: &[
            "\"https://conda.anaconda.org\" = [\"http://127.0.0.1:8078/conda/\"]",
            "\"https://files.pythonhosted.org\" = [\"http://127.0.0.1:8078/pypi/\"]",
        ],
    },
    Case {
        client: "sbt",
        file: ".sbt/repositories",
        before: Some("# launcher\n[repositories]\n  local\n  maven-central\n"),
        expect: &[
            "  local\n  repox-maven: http://127.0.0.1:8078/maven/\n  repox-ivy: http://127.0.0.1:8078/maven/, [organization]",
        ],
    },
    Case {
        client: "coursier",
        file: ".config/coursier/mirror.properties",
        before: Some("# mirrors\nother.from=https://repo.corp/x\nother.to=https://nexus.corp/x\n"),
        expect: &[
            "repox.to=http://127.0.0.1:8078/maven\n",
            "repox.type=tree\n",
        ],
    },
    Case {
        client: "maven",
        file: ".m2/settings.xml",
        before: Some(
            "<settings>\n  <!-- where artifacts go -->\n  <localRepository>/data/m2</localRepository>\n</settings>\n",
        ),
        expect: &[
            "<url>http://127.0.0.1:8078/maven/</url>",
            "<mirrorOf>*</mirrorOf>",
        ],
    },
    Case {
        client: "gradle",
        file: ".gradle/init.d/repox.init.gradle",
        before: None,
        expect: &["def repoxUrl = 'http://127.0.0.1:8078/maven/'"],
    },
    Case {
        client: "npm",
        file: ".npmrc",
        before: Some("; npm\nsave-exact=true\n@corp:registry=https://npm.corp.example/\n"),
        expect: &["registry=http://127.0.0.1:8078/npm/\n"],
    },
    Case {
        client: "cargo",
        file: ".cargo/config.toml",
        before: Some("# cargo\n[build]\njobs = 8 # laptop\n"),
        expect: &[
            "[source.crates-io]\nreplace-with = \"repox\"",
            "registry = \"sparse+http://127.0.0.1:8078/cargo/index/\"",
        ],
    },
];

/// Comment lines of `before` that must survive the edit untouched.
fn comments(before: &str) -> Vec<&str> {
    before
        .split_inclusive('\n')
        .filter(|l| {
            let t = l.trim_start();
            t.starts_with('#') || t.starts_with(';') || t.starts_with("<!--")
        })
        .collect()
}

#[test]
fn every_client_dry_run_configure_rerun_and_undo() {
    let sandbox = Sandbox::new();
    // npm edits an existing .yarnrc.yml too.
    let yarnrc = "# yarn berry\nnodeLinker: node-modules\n";
    sandbox.write(".yarnrc.yml", yarnrc);
    for case in CASES {
        let c = case.client;
        if let Some(before) = case.before {
            sandbox.write(case.file, before);
        }
        let original = sandbox.read(case.file);

        // --dry-run shows a diff and writes nothing, not even an undo record.
        let out = sandbox.ok(&[c, "--dry-run"]);
        assert!(
            out.contains("+++ ") && out.contains("dry run, nothing written"),
            "{c}: {out}"
        );
        assert_eq!(sandbox.read(case.file), original, "{c}: --dry-run wrote");
        assert_eq!(sandbox.undo_depth(c), 0, "{c}: --dry-run recorded an undo");

        // The first run edits; unrelated content and comments survive byte for byte.
        sandbox.ok(&[c, "--yes"]);
        let first = sandbox.read(case.file).expect("file written");
        let first_text = String::from_utf8(first.clone()).unwrap();
        for needle in case.expect {
            assert!(
                first_text.contains(needle),
                "{c}: {needle:?} missing from\n{first_text}"
            );
        }
        for comment in comments(case.before.unwrap_or("")) {
            assert!(
                first_text.contains(comment),
                "{c}: lost {comment:?}:\n{first_text}"
            );
        }

        // The second run changes nothing.
        let out = sandbox.ok(&[c, "--yes"]);
        assert!(out.contains("nothing to change"), "{c}: {out}");
        assert_eq!(
            sandbox.read(case.file).as_ref(),
            Some(&first),
            "{c}: second run changed the file"
        );
        assert_eq!(sandbox.undo_depth(c), 1, "{c}");

        // Another URL, then two undos walk back through both configures.
        sandbox.ok(&[c, "--yes", "--url", "http://127.0.0.1:9/"]);
        assert_ne!(
            sandbox.read(case.file).as_ref(),
            Some(&first),
            "{c}: --url ignored"
        );
        sandbox.ok(&["--undo", c, "--yes"]);
        assert_eq!(
            sandbox.read(case.file).as_ref(),
            Some(&first),
            "{c}: first undo"
        );
        sandbox.ok(&["--undo", c, "--yes"]);
        assert_eq!(sandbox.read(case.file), original, "{c}: second undo");
        let out = sandbox.ok(&["--undo", c, "--yes"]);
        assert!(out.contains("nothing to undo"), "{c}: {out}");
    }
    // Files repox created for a client are gone after the undos, the others are as they were.
    assert!(sandbox.read(".config/sbt/sbtopts").is_none());
    assert_eq!(sandbox.read(".yarnrc.yml").unwrap(), yarnrc.as_bytes());
}

#[test]
fn malformed_files_are_left_untouched_and_named_with_their_line() {
    let sandbox = Sandbox::new();
    let cases = [
        (
            "pip",
            ".config/pip/pip.conf",
            "[global]\nindex-url = https://x/simple\nthis line is junk\n",
            3,
        ),
        (
            "cargo",
            ".cargo/config.toml",
            "[source.crates-io]\nreplace-with = \n",
            2,
        ),
        (
            "conda",
            ".condarc",
            "channels:\n  - conda-forge\nchannel_alias: [\n",
            3,
        ),
        (
            "maven",
            ".m2/settings.xml",
            "<settings>\n  <mirrors>\n  </mirror>\n</settings>\n",
            3,
        ),
        (
            "sbt",
            ".sbt/repositories",
            "[repositories]\n  local\n  local\n",
            3,
        ),
    ];
    for (client, file, before, line) in cases {
        sandbox.write(file, before);
        let out = sandbox.repox(&[client, "--yes"]);
        assert!(!out.status.success(), "{client} accepted a malformed file");
        let stderr = text(&out.stderr);
        let location = format!("{}:{line}:", sandbox.path(file).display());
        assert!(
            stderr.contains(&location),
            "{client}: no `{location}` in {stderr}"
        );
        assert!(
            stderr.contains("hint: repox left the file untouched"),
            "{client}: {stderr}"
        );
        assert_eq!(
            sandbox.read(file).unwrap(),
            before.as_bytes(),
            "{client}: file changed"
        );
        assert_eq!(sandbox.undo_depth(client), 0);
    }
    // One malformed file stops the whole command before anything is written.
    let out = sandbox.repox(&["npm", "pip", "--yes"]);
    assert!(!out.status.success());
    assert!(
        sandbox.read(".npmrc").is_none(),
        "npm was written although pip failed"
    );
}

#[test]
fn bad_input_gets_one_clear_line_and_a_hint() {
    let sandbox = Sandbox::new();
    let cases: [(&[&str], &str, &str); 5] = [
        (
            &[],
            "no client named, and no terminal",
            "repox configure pip npm",
        ),
        (&["pip"], "no terminal to confirm the change on", "--yes"),
        (
            &["pip", "--yes", "--token-env", "REPOX_TEST_UNSET"],
            "REPOX_TEST_UNSET is not set",
            "read -rs REPOX_TEST_UNSET",
        ),
        (
            &["pip", "--yes", "--url", "ftp://example.org/"],
            "not an http:// or https:// URL",
            "--url http://",
        ),
        (
            &["coursier", "--yes", "--scope", "project"],
            "coursier has no project configuration file",
            "repox configure coursier",
        ),
    ];
    for (args, message, hint) in cases {
        let out = sandbox.repox(args);
        assert!(!out.status.success(), "{args:?} succeeded");
        let stderr = text(&out.stderr);
        let first = stderr.lines().next().unwrap_or("");
        assert!(
            first.starts_with("error: ") && first.contains(message),
            "{args:?}: {stderr}"
        );
        assert!(
            stderr.contains("hint: ") && stderr.contains(hint),
            "{args:?}: {stderr}"
        );
    }
    let out = sandbox.repox(&["--undo"]);
    assert!(
        text(&out.stderr).contains("--undo needs the client"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn status_names_files_and_variables_that_bypass_repox() {
    let sandbox = Sandbox::new();
    sandbox.ok(&["npm", "pip", "--yes"]);
    // A project .npmrc shadows the user file, as nrm users keep discovering.
    std::fs::write(sandbox.work.join("package.json"), "{}").unwrap();
    std::fs::write(
        sandbox.work.join(".npmrc"),
        "registry=https://registry.npmjs.org/\n",
    )
    .unwrap();
    let out = sandbox.repox_env(
        &["--status", "npm", "pip"],
        &[("PIP_INDEX_URL", "https://pypi.org/simple")],
    );
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    let npm = stdout
        .split("\n\n")
        .find(|s| s.starts_with("npm:"))
        .unwrap();
    assert!(
        npm.starts_with("npm: NOT via repox: https://registry.npmjs.org/"),
        "{npm}"
    );
    assert!(
        npm.contains("~/.npmrc registry = http://127.0.0.1:8078/npm/  [repox]"),
        "{npm}"
    );
    let project = format!(
        "{} registry = https://registry.npmjs.org/  [NOT repox, in effect]",
        sandbox.work.join(".npmrc").display()
    );
    assert!(npm.contains(&project), "{npm}");
    let pip = stdout
        .split("\n\n")
        .find(|s| s.starts_with("pip:"))
        .unwrap();
    assert!(
        pip.contains("$PIP_INDEX_URL = https://pypi.org/simple  [NOT repox, in effect]"),
        "{pip}"
    );

    // configure itself warns about the shadowing file right away.
    let out = sandbox.repox(&["npm", "--yes", "--url", "http://127.0.0.1:9/"]);
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("npm: warning: something still bypasses repox"),
        "{stderr}"
    );
}

#[test]
fn status_recognises_the_url_configure_wrote_without_it_repeated() {
    let sandbox = Sandbox::new();
    sandbox.ok(&["npm", "pip", "--yes", "--url", "http://repox.lan:8078/"]);
    let stdout = sandbox.ok(&["--status", "npm", "pip"]);
    for client in ["npm", "pip"] {
        let section = stdout
            .split("\n\n")
            .find(|s| s.starts_with(&format!("{client}:")))
            .unwrap();
        assert!(
            section.starts_with(&format!("{client}: via repox: http://repox.lan:8078/")),
            "{section}"
        );
    }
    // A URL nobody configured is still not repox.
    std::fs::write(
        sandbox.work.join(".npmrc"),
        "registry=http://repox.lan:9999/npm/\n",
    )
    .unwrap();
    std::fs::write(sandbox.work.join("package.json"), "{}").unwrap();
    let stdout = sandbox.ok(&["--status", "npm"]);
    assert!(stdout.starts_with("npm: NOT via repox"), "{stdout}");
}

#[test]
fn undo_without_a_terminal_hints_at_yes_only() {
    let sandbox = Sandbox::new();
    sandbox.ok(&["pip", "--yes"]);
    let out = sandbox.repox(&["--undo", "pip"]);
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(stderr.contains("hint: pass --yes"), "{stderr}");
    // `--undo` refuses `--dry-run`: the hint must not offer it.
    assert!(!stderr.contains("--dry-run"), "{stderr}");
    let out = sandbox.repox(&["pip"]);
    assert!(
        text(&out.stderr).contains("--dry-run"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn project_scope_edits_the_project_file() {
    let sandbox = Sandbox::new();
    std::fs::write(sandbox.work.join("package.json"), "{}").unwrap();
    std::fs::create_dir_all(sandbox.work.join("sub")).unwrap();
    let out = sandbox
        .command(env!("CARGO_BIN_EXE_repox"))
        .current_dir(sandbox.work.join("sub"))
        .args(["configure", "npm", "--scope", "project", "--yes"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        std::fs::read_to_string(sandbox.work.join(".npmrc")).unwrap(),
        "registry=http://127.0.0.1:8078/npm/\n"
    );
    assert!(sandbox.read(".npmrc").is_none());
}

#[test]
fn user_credentials_are_masked_named_by_status_and_undone() {
    const SECRET: &str = "repox-Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MGFiY2RlZg";
    let sandbox = Sandbox::new();
    sandbox.write(".netrc", "machine other.example login me password keep\n");
    let clients = [
        "pip", "uv", "npm", "cargo", "maven", "gradle", "sbt", "coursier",
    ];
    let mut args = clients.to_vec();
    args.extend(["--user", "alice", "--token-env", "REPOX_TOKEN"]);

    // --dry-run shows every diff with the secret masked, and writes nothing.
    let mut dry = args.clone();
    dry.push("--dry-run");
    let out = sandbox.repox_env(&dry, &[("REPOX_TOKEN", SECRET)]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(!stdout.contains(SECRET), "{stdout}");
    assert!(
        stdout.contains("+machine 127.0.0.1 login alice password ***"),
        "{stdout}"
    );
    assert!(sandbox.read(".npmrc").is_none());

    let mut yes = args.clone();
    yes.push("--yes");
    let out = sandbox.repox_env(&yes, &[("REPOX_TOKEN", SECRET)]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(!text(&out.stdout).contains(SECRET));
    // pip and uv share one netrc entry; the other machine's stays.
    assert_eq!(
        String::from_utf8(sandbox.read(".netrc").unwrap()).unwrap(),
        format!(
            "machine other.example login me password keep\nmachine 127.0.0.1 login alice password {SECRET}\n"
        )
    );
    for (file, needle) in [
        (
            ".npmrc",
            format!("//127.0.0.1:8078/npm/:_authToken={SECRET}"),
        ),
        (".cargo/credentials.toml", format!("token = \"{SECRET}\"")),
        (".m2/settings.xml", format!("<password>{SECRET}</password>")),
        (
            ".gradle/gradle.properties",
            format!("repoxPassword={SECRET}"),
        ),
        (".sbt/.credentials", format!("password={SECRET}")),
        (
            ".config/coursier/credentials.properties",
            format!("repox.password={SECRET}"),
        ),
    ] {
        let content = String::from_utf8(sandbox.read(file).unwrap()).unwrap();
        assert!(content.contains(&needle), "{file}: {content}");
    }
    for file in [
        ".config/pip/pip.conf",
        ".config/uv/uv.toml",
        ".sbt/repositories",
    ] {
        let content = String::from_utf8(sandbox.read(file).unwrap()).unwrap();
        assert!(
            !content.contains(SECRET),
            "{file} holds the secret: {content}"
        );
    }

    // --status names where the credentials are, never the secret.
    let out = sandbox.repox(&["--status"]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(!stdout.contains(SECRET), "{stdout}");
    for client in clients {
        let block = stdout
            .split("\n\n")
            .find(|b| b.starts_with(&format!("{client}:")))
            .unwrap();
        assert!(
            block.contains("  credentials for repox: "),
            "{client} shows no credentials:\n{block}"
        );
    }
    assert!(
        stdout.contains("credentials for repox: ~/.netrc (machine 127.0.0.1, user alice)"),
        "{stdout}"
    );

    // Undo puts back the exact bytes, the shared netrc included.
    let out = sandbox.repox(&["--undo", "uv", "pip", "--yes"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        sandbox.read(".netrc").unwrap(),
        b"machine other.example login me password keep\n"
    );
}

#[test]
fn user_without_a_secret_or_terminal_is_a_clear_error() {
    let sandbox = Sandbox::new();
    let out = sandbox.repox(&["pip", "--yes", "--user", "alice"]);
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.starts_with("error: --user alice: no secret given and no terminal"),
        "{stderr}"
    );
    assert!(
        stderr.contains("hint: ") && stderr.contains("--token-env"),
        "{stderr}"
    );
    assert!(sandbox.read(".netrc").is_none());
    // A password with a space cannot go to netrc: said before anything is written.
    let out = sandbox.repox_env(
        &["pip", "--yes", "--user", "alice", "--password-env", "PW"],
        &[("PW", "two words")],
    );
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("netrc cannot hold"),
        "{}",
        text(&out.stderr)
    );
    assert!(sandbox.read(".config/pip/pip.conf").is_none());
}

#[test]
fn credentials_over_plain_http_across_a_network_are_warned_about() {
    let sandbox = Sandbox::new();
    let args = [
        "pip",
        "--dry-run",
        "--user",
        "alice",
        "--token-env",
        "T",
        "--url",
    ];
    let remote = [&args[..], &["http://repox.lan:8078/"]].concat();
    let out = sandbox.repox_env(&remote, &[("T", "repox-x")]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains(
            "warning: clients will send these credentials over plain http to repox.lan:8078"
        ),
        "{}",
        text(&out.stderr)
    );
    for quiet in ["https://repox.lan/", "http://127.0.0.1:8078/"] {
        let out = sandbox.repox_env(&[&args[..], &[quiet]].concat(), &[("T", "repox-x")]);
        assert!(out.status.success());
        assert!(!text(&out.stderr).contains("plain http"), "{quiet}");
    }
}
