//! Publishing with a real Maven (issue 14): `mvn deploy:deploy-file` puts a jar, its generated
//! POM, their checksums and the metadata Maven computed into a hosted repository of a running
//! `repox serve`, with the credentials of a `write` user from settings.xml `<servers>`; another
//! project then resolves the jar through the group that merges the hosted repository with a
//! proxy of the fixture upstream (Debian's Maven repository, which also supplies the plugins);
//! a second deploy of the release is refused with 409. A whole `mvn deploy` (resources, compile,
//! test, jar, install, deploy, with the plugins from Debian's packages) publishes a built
//! release and a SNAPSHOT.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::fixture_server::FixtureServer;
use crate::repox_server::RepoxServer;

const FIXTURE: &str = "/usr/share/maven-repo";
const DEPLOY: &str = "org.apache.maven.plugins:maven-deploy-plugin:3.0.0:deploy-file";
const DEPLOY_PLUGIN: &str =
    "org/apache/maven/plugins/maven-deploy-plugin/3.0.0/maven-deploy-plugin-3.0.0.jar";
const EXEC: &str = "org.codehaus.mojo:exec-maven-plugin:3.1.0:exec";
const EXEC_PLUGIN: &str = "org/codehaus/mojo/exec-maven-plugin/3.1.0/exec-maven-plugin-3.1.0.jar";
const PASSWORD: &str = "deploy-pw";

const CONSUMER: &str = r#"<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>dev.repox.e2e</groupId>
  <artifactId>consumer</artifactId>
  <version>1.0</version>
  <dependencies>
    <dependency>
      <groupId>dev.repox.e2e</groupId>
      <artifactId>internal-lib</artifactId>
      <version>1.0</version>
    </dependency>
  </dependencies>
</project>
"#;

fn prerequisites() -> bool {
    let fixture = Path::new(FIXTURE);
    let mut missing = Vec::new();
    if !crate::clients_support::runs("mvn", &["--version"]) {
        missing.push("mvn");
    }
    if !fixture.join(DEPLOY_PLUGIN).is_file() {
        missing.push("maven-deploy-plugin 3.0.0 in /usr/share/maven-repo");
    }
    if !fixture.join(EXEC_PLUGIN).is_file() {
        missing.push("exec-maven-plugin in /usr/share/maven-repo");
    }
    crate::clients_support::clients_present(
        &missing,
        "apt-get install maven libmaven-deploy-plugin-java libexec-maven-plugin-java",
    )
}

fn repox(config: &Path, home: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_repox"));
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("NO_COLOR", "1")
        .arg("--config")
        .arg(config);
    cmd
}

#[test]
fn mvn_deploys_to_a_hosted_repository_and_another_project_resolves_it_from_the_group() {
    if !prerequisites() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (_upstream, repox, settings) = start(tmp.path());
    let jar = tmp.path().join("internal-lib-1.0.jar");
    fs_err::write(&jar, b"PK\x05\x06\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0").unwrap();
    let deploy = |local: &str| {
        mvn(
            tmp.path(),
            &settings,
            &tmp.path().join(local),
            &[
                DEPLOY,
                &format!("-Dfile={}", jar.display()),
                "-DgroupId=dev.repox.e2e",
                "-DartifactId=internal-lib",
                "-Dversion=1.0",
                "-Dpackaging=jar",
                "-DgeneratePom=true",
                "-DrepositoryId=repox",
                &format!("-Durl={}releases/", repox.url()),
            ],
        )
    };
    let first = deploy("m2-deploy");
    assert!(first.status.success(), "{}", context(&first, &repox));
    let base = "dev/repox/e2e/internal-lib";
    for path in [
        format!("releases/{base}/1.0/internal-lib-1.0.jar"),
        format!("releases/{base}/1.0/internal-lib-1.0.pom"),
        format!("releases/{base}/maven-metadata.xml"),
        format!("public/{base}/maven-metadata.xml"),
    ] {
        let body = http_get(&format!("{}{path}", repox.url()));
        assert!(
            body.is_some(),
            "{path} is missing; {}",
            context(&first, &repox)
        );
    }
    let metadata = http_get(&format!("{}public/{base}/maven-metadata.xml", repox.url())).unwrap();
    assert!(metadata.contains("<version>1.0</version>"), "{metadata}");

    let project = tmp.path().join("consumer");
    fs_err::create_dir_all(&project).unwrap();
    fs_err::write(project.join("pom.xml"), CONSUMER).unwrap();
    let local = tmp.path().join("m2-consume");
    let resolved = mvn(
        &project,
        &settings,
        &local,
        &[
            EXEC,
            "-Dexec.executable=echo",
            "-Dexec.args=classpath=%classpath",
        ],
    );
    assert!(resolved.status.success(), "{}", context(&resolved, &repox));
    let stdout = String::from_utf8_lossy(&resolved.stdout);
    assert!(
        stdout.contains("internal-lib-1.0.jar"),
        "{}",
        context(&resolved, &repox)
    );
    let got = fs_err::read(local.join(format!("{base}/1.0/internal-lib-1.0.jar"))).unwrap();
    assert_eq!(got, fs_err::read(&jar).unwrap());

    let second = deploy("m2-deploy-again");
    assert!(
        !second.status.success(),
        "the second deploy of a release must fail"
    );
    let said = String::from_utf8_lossy(&second.stdout);
    assert!(said.contains("409"), "{}", context(&second, &repox));
}

/// The plugins Maven 3's default lifecycle binds for a `jar` project, at the versions Debian's
/// packages put in `/usr/share/maven-repo`.
const LIFECYCLE_PLUGINS: [&str; 6] = [
    "maven-resources-plugin/2.6/maven-resources-plugin-2.6.pom",
    "maven-compiler-plugin/3.1/maven-compiler-plugin-3.1.pom",
    "maven-surefire-plugin/2.12.4/maven-surefire-plugin-2.12.4.pom",
    "maven-jar-plugin/2.4/maven-jar-plugin-2.4.pom",
    "maven-install-plugin/2.4/maven-install-plugin-2.4.pom",
    "maven-deploy-plugin/2.7/maven-deploy-plugin-2.7.pom",
];

const BUILT: &str = r#"<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>dev.repox.e2e</groupId>
  <artifactId>built-lib</artifactId>
  <version>VERSION</version>
  <packaging>jar</packaging>
  <properties>
    <maven.compiler.source>17</maven.compiler.source>
    <maven.compiler.target>17</maven.compiler.target>
    <project.build.sourceEncoding>UTF-8</project.build.sourceEncoding>
  </properties>
  <distributionManagement>
    <repository><id>repox</id><url>URL</url></repository>
    <snapshotRepository><id>repox</id><url>URL</url></snapshotRepository>
  </distributionManagement>
</project>
"#;

#[test]
fn the_whole_mvn_deploy_lifecycle_publishes_a_release_and_a_snapshot() {
    let plugins = Path::new(FIXTURE).join("org/apache/maven/plugins");
    let missing: Vec<&str> = LIFECYCLE_PLUGINS
        .iter()
        .filter(|p| !plugins.join(p).is_file())
        .copied()
        .collect();
    let install = "apt-get install maven libmaven-compiler-plugin-java libmaven-jar-plugin-java \
                   libmaven-resources-plugin-java libmaven-install-plugin-java libsurefire-java \
                   libmaven-deploy-plugin-java";
    let mut absent: Vec<&str> = missing.clone();
    if !crate::clients_support::runs("mvn", &["--version"]) {
        absent.push("mvn");
    }
    if !crate::clients_support::clients_present(&absent, install) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (_upstream, repox, settings) = start(tmp.path());
    let project = tmp.path().join("built");
    let source = project.join("src/main/java/dev/repox");
    fs_err::create_dir_all(&source).unwrap();
    fs_err::write(
        source.join("Lib.java"),
        "package dev.repox;\npublic class Lib { public static int one() { return 1; } }\n",
    )
    .unwrap();
    let url = format!("{}releases/", repox.url());
    let base = "dev/repox/e2e/built-lib";
    for version in ["1.0", "1.1-SNAPSHOT"] {
        let pom = BUILT.replace("VERSION", version).replace("URL", &url);
        fs_err::write(project.join("pom.xml"), pom).unwrap();
        let local = tmp.path().join(format!("m2-{version}"));
        let built = mvn(&project, &settings, &local, &["deploy"]);
        assert!(built.status.success(), "{}", context(&built, &repox));
        let said = String::from_utf8_lossy(&built.stdout);
        assert!(
            said.contains("maven-jar-plugin"),
            "{}",
            context(&built, &repox)
        );
    }
    let jar = http_get_bytes(&format!("{url}{base}/1.0/built-lib-1.0.jar"))
        .expect("the release jar is stored");
    assert!(jar.starts_with(b"PK"), "a jar (zip) was deployed");
    // Zip keeps entry names uncompressed.
    const CLASS: &[u8] = b"dev/repox/Lib.class";
    assert!(
        jar.windows(CLASS.len()).any(|w| w == CLASS),
        "the compiled class is in the jar"
    );
    let snapshot = http_get(&format!("{url}{base}/1.1-SNAPSHOT/maven-metadata.xml"))
        .expect("SNAPSHOT-level metadata is generated");
    assert!(
        snapshot.contains("<timestamp>") && snapshot.contains("<extension>jar</extension>"),
        "{snapshot}"
    );
    let metadata = http_get(&format!("{}public/{base}/maven-metadata.xml", repox.url()))
        .expect("the group serves the merged metadata");
    assert!(
        metadata.contains("<version>1.0</version>")
            && metadata.contains("<version>1.1-SNAPSHOT</version>"),
        "{metadata}"
    );
}

/// A running `repox serve` with the hosted `releases`, the proxy `central` of the fixture and
/// the group `public`, a `write` user `deployer`, and a settings.xml with its login (server id
/// `repox`) and the group as the mirror of everything.
fn start(tmp: &Path) -> (FixtureServer, RepoxServer, std::path::PathBuf) {
    let upstream = FixtureServer::start(Path::new(FIXTURE));
    let config = format!(
        "[auth]\nanonymous = \"read\"\n\n\
         [repositories.releases]\nkind = \"maven\"\nhosted = true\n\n\
         [repositories.central]\nkind = \"maven\"\n\
         [[repositories.central.upstreams]]\nname = \"fixture\"\nurl = \"{}\"\n\n\
         [repositories.public]\nkind = \"maven\"\nmembers = [\"releases\", \"central\"]\n",
        upstream.url()
    );
    let config_path = tmp.join("repox.toml");
    fs_err::write(&config_path, &config).unwrap();
    let home = tmp.join("home");
    fs_err::create_dir_all(&home).unwrap();
    let mut add = repox(&config_path, &home)
        .args([
            "user",
            "add",
            "deployer",
            "--password-stdin",
            "--role",
            "write",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(
        &mut add.stdin.take().unwrap(),
        format!("{PASSWORD}\n").as_bytes(),
    )
    .unwrap();
    let added = add.wait_with_output().unwrap();
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
    let repox = RepoxServer::start(tmp, &config);

    let settings = tmp.join("settings.xml");
    fs_err::write(
        &settings,
        format!(
            "<settings>\n  <servers>\n    <server>\n      <id>repox</id>\n      \
             <username>deployer</username>\n      <password>{PASSWORD}</password>\n    \
             </server>\n  </servers>\n  <mirrors>\n    <mirror>\n      <id>repox-public</id>\n      \
             <mirrorOf>*</mirrorOf>\n      <url>{}public/</url>\n    </mirror>\n  </mirrors>\n\
             </settings>\n",
            repox.url()
        ),
    )
    .unwrap();
    (upstream, repox, settings)
}

fn http_get(url: &str) -> Option<String> {
    http_get_bytes(url).and_then(|b| String::from_utf8(b).ok())
}

fn http_get_bytes(url: &str) -> Option<Vec<u8>> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let client = reqwest::Client::builder().no_proxy().build().ok()?;
        let resp = client.get(url).send().await.ok()?;
        if !resp.status().is_success() {
            return None;
        }
        resp.bytes().await.ok().map(|b| b.to_vec())
    })
}

fn context(output: &Output, repox: &RepoxServer) -> String {
    format!(
        "mvn stdout:\n{}\nmvn stderr:\n{}\nrepox log:\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
        repox.log()
    )
}

/// `mvn -B` with only `settings` and `local_repo`, bounded to three minutes.
fn mvn(dir: &Path, settings: &Path, local_repo: &Path, args: &[&str]) -> Output {
    let mut child = Command::new("mvn")
        .current_dir(dir)
        .env("MAVEN_SKIP_RC", "1")
        .env("MAVEN_OPTS", "-XX:TieredStopAtLevel=1")
        .arg("-B")
        .arg("-s")
        .arg(settings)
        .arg("-gs")
        .arg(settings)
        .arg(format!("-Dmaven.repo.local={}", local_repo.display()))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run mvn");
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
    let deadline = Instant::now() + Duration::from_secs(180);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
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
