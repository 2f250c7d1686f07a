//! End to end with a real Maven: `mvn` resolves a project's dependencies through repox from a
//! fixture upstream holding Debian's Maven repository, then a second build with an empty local
//! repository is served entirely from repox's cache.
//!
//! There is no internet, so the plugin that makes Maven resolve dependencies must come from the
//! fixture as well. `exec-maven-plugin` (Debian `libexec-maven-plugin-java`, two small packages)
//! needs the project's test classpath resolved, jars included; `maven-dependency-plugin` would do
//! the same but drags in some 56 packages. Invoking it by full coordinates needs no
//! `maven-metadata.xml`, which Debian's repository does not have.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::fixture_server::FixtureServer;
use crate::repox_server::RepoxServer;

pub(crate) const FIXTURE: &str = "/usr/share/maven-repo";
const EXEC_GOAL: &str = "org.codehaus.mojo:exec-maven-plugin:3.1.0:exec";
const SIMPLE: &str = "org/slf4j/slf4j-simple/1.7.32/slf4j-simple-1.7.32";
/// slf4j-simple's POM names slf4j-api with the version Debian rewrote to `debian`.
const API: &str = "org/slf4j/slf4j-api/debian/slf4j-api-debian";
const PLUGIN_JAR: &str = "org/codehaus/mojo/exec-maven-plugin/3.1.0/exec-maven-plugin-3.1.0.jar";
/// Debian packages that provide what this test needs.
const PACKAGES: &str = "maven libexec-maven-plugin-java libslf4j-java";

const POM: &str = r#"<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>dev.repox.e2e</groupId>
  <artifactId>maven-client</artifactId>
  <version>1.0</version>
  <dependencies>
    <dependency>
      <groupId>org.slf4j</groupId>
      <artifactId>slf4j-simple</artifactId>
      <version>1.7.32</version>
    </dependency>
  </dependencies>
</project>
"#;

#[test]
fn mvn_resolves_through_repox_and_a_second_build_never_reaches_upstream() {
    if !prerequisites() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let upstream = FixtureServer::start(Path::new(FIXTURE));
    let repox = RepoxServer::start(
        tmp.path(),
        &format!(
            "[repositories.maven]\nkind = \"maven\"\n\
             [[repositories.maven.upstreams]]\nname = \"fixture\"\nurl = \"{}\"\n",
            upstream.url()
        ),
    );
    let (project, settings) = project_with_mirror(tmp.path(), POM, &repox.url());

    let first_repo = tmp.path().join("m2-first");
    let first = mvn(&project, &settings, &first_repo);
    check_build(&first, &first_repo, &repox, "first build");
    for path in [
        format!("{SIMPLE}.jar"),
        format!("{SIMPLE}.pom"),
        format!("{API}.jar"),
        PLUGIN_JAR.to_owned(),
    ] {
        assert!(
            upstream.count(&path) >= 1,
            "the first build should have fetched {path} through repox; upstream saw {:#?}",
            upstream.requests()
        );
    }
    let after_first = upstream.requests();
    // repox fetches each file once. Checksum files are left out: repox releases a body's last
    // byte before it has stored the `.sha1` it fetched to verify it, so Maven's `.sha1` request
    // right after the body sometimes reaches upstream a second time. A HEAD (which the fixture
    // server counts as `HEAD path`) counts as a request for its path too.
    let mut per_path = std::collections::BTreeMap::<&str, usize>::new();
    for (key, n) in &after_first {
        *per_path
            .entry(key.strip_prefix("HEAD ").unwrap_or(key))
            .or_default() += n;
    }
    let repeated: Vec<_> = per_path
        .iter()
        .filter(|(path, n)| **n > 1 && !path.ends_with(".sha1") && !path.ends_with(".md5"))
        .collect();
    assert!(
        repeated.is_empty(),
        "upstream was asked more than once for {repeated:#?}"
    );

    let second_repo = tmp.path().join("m2-second");
    let second = mvn(&project, &settings, &second_repo);
    check_build(&second, &second_repo, &repox, "second build");
    let after_second = upstream.requests();
    let new: Vec<_> = after_second
        .iter()
        .filter(|(path, n)| after_first.get(*path) != Some(n))
        .collect();
    assert!(
        new.is_empty(),
        "the second build must be served from repox's cache, but upstream saw {new:#?}\n\
         repox log:\n{}",
        repox.log()
    );
}

/// `mvn`, the plugin and the dependency are installed; a missing one fails the test unless
/// `REPOX_SKIP_MISSING_CLIENTS` is set (see `clients_support`).
pub(crate) fn prerequisites() -> bool {
    let fixture = Path::new(FIXTURE);
    let mut missing = Vec::new();
    if !crate::clients_support::runs("mvn", &["--version"]) {
        missing.push("mvn");
    }
    if !fixture.join(PLUGIN_JAR).is_file() {
        missing.push("exec-maven-plugin in /usr/share/maven-repo");
    }
    if !fixture.join(format!("{SIMPLE}.jar")).is_file() {
        missing.push("slf4j-simple in /usr/share/maven-repo");
    }
    crate::clients_support::clients_present(&missing, &format!("apt-get install {PACKAGES}"))
}

/// A Maven project with `pom` in `dir/project`, and `dir/settings.xml` mirroring every
/// repository to repox's `/maven/` at `repox_url`.
pub(crate) fn project_with_mirror(dir: &Path, pom: &str, repox_url: &str) -> (PathBuf, PathBuf) {
    let project = dir.join("project");
    fs_err::create_dir_all(&project).unwrap();
    fs_err::write(project.join("pom.xml"), pom).unwrap();
    let settings = dir.join("settings.xml");
    fs_err::write(
        &settings,
        format!(
            "<settings>\n  <mirrors>\n    <mirror>\n      <id>repox</id>\n      \
             <mirrorOf>*</mirrorOf>\n      <url>{repox_url}maven/</url>\n    </mirror>\n  </mirrors>\n\
             </settings>\n"
        ),
    )
    .unwrap();
    (project, settings)
}

/// Runs the exec plugin with `echo classpath=%classpath`: to build that argument Maven must
/// resolve the project's dependencies, POMs and jars.
pub(crate) fn mvn(project: &Path, settings: &Path, local_repo: &Path) -> Output {
    let mut child = Command::new("mvn")
        .current_dir(project)
        // Neither ~/.mavenrc nor /etc/mavenrc, nor the global settings, may change the run.
        .env("MAVEN_SKIP_RC", "1")
        .env("MAVEN_OPTS", "-XX:TieredStopAtLevel=1")
        .arg("-B")
        .arg("--strict-checksums")
        .arg("-s")
        .arg(settings)
        .arg("-gs")
        .arg(settings)
        .arg(format!("-Dmaven.repo.local={}", local_repo.display()))
        .arg(EXEC_GOAL)
        .arg("-Dexec.executable=echo")
        .arg("-Dexec.args=classpath=%classpath")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run mvn");
    // Drain the pipes on threads so a chatty Maven cannot block, and bound the run.
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut stdout, &mut buf).map(|_| buf)
    });
    let err = std::thread::spawn(move || {
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut stderr, &mut buf).map(|_| buf)
    });
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            eprintln!("mvn was still running after 120 s: killed");
            let _ = child.kill();
            break child.wait().unwrap();
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    Output {
        status,
        stdout: out.join().unwrap().unwrap_or_default(),
        stderr: err.join().unwrap().unwrap_or_default(),
    }
}

/// The classpath a successful `mvn` run (see [`mvn`]) printed; fails with mvn's output and
/// repox's log when the run failed or printed none.
pub(crate) fn classpath(output: &Output, repox: &RepoxServer, what: &str) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let context = || {
        format!(
            "mvn stdout:\n{stdout}\nmvn stderr:\n{}\nrepox log:\n{}",
            String::from_utf8_lossy(&output.stderr),
            repox.log()
        )
    };
    assert!(output.status.success(), "{what} failed\n{}", context());
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("classpath="))
        .unwrap_or_else(|| panic!("{what} printed no classpath\n{}", context()))
        .to_owned()
}

/// The build succeeded, put both jars on the classpath, and they are the fixture's bytes.
fn check_build(output: &Output, local_repo: &Path, repox: &RepoxServer, what: &str) {
    let classpath = classpath(output, repox, what);
    for artifact in [SIMPLE, API] {
        let jar: PathBuf = local_repo.join(format!("{artifact}.jar"));
        assert!(
            classpath.split(':').any(|p| Path::new(p) == jar),
            "{what}: {} is not on the classpath `{classpath}`",
            jar.display()
        );
        assert!(
            fs_err::read(&jar).unwrap()
                == fs_err::read(Path::new(FIXTURE).join(format!("{artifact}.jar"))).unwrap(),
            "{what}: {} differs from the fixture's",
            jar.display()
        );
    }
}
