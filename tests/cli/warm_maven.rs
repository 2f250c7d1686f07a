//! `repox warm` for Maven: a pom.xml and a coordinate list are warmed from a fixture upstream
//! holding Debian's Maven repository; with the upstream stopped, `mvn` builds the project with
//! an empty local repository through repox (its dependency and the plugin it runs, every POM
//! parent included, all come from the warmed cache).

use std::path::Path;
use std::process::Command;

use crate::fixture_server::FixtureServer;
use crate::repox_server::RepoxServer;
use crate::warm_support::{assert_success, config, e2e, have, labels, run_client, summary, warm};

const DEBIAN_REPO: &str = "/usr/share/maven-repo";
const PLUGIN_JAR: &str = "org/codehaus/mojo/exec-maven-plugin/3.1.0/exec-maven-plugin-3.1.0.jar";
const PACKAGES: &str = "apt-get install maven libexec-maven-plugin-java libslf4j-java";

#[test]
fn pom_and_list_then_mvn_builds_with_the_upstream_gone() {
    if !have("mvn", PACKAGES) {
        return;
    }
    let plugin = Path::new(DEBIAN_REPO).join(PLUGIN_JAR);
    let missing = if plugin.is_file() {
        vec![]
    } else {
        vec![DEBIAN_REPO]
    };
    if !crate::clients_support::clients_present(&missing, PACKAGES) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let upstream = FixtureServer::start(Path::new(DEBIAN_REPO));
    let config = config(tmp.path(), &[("maven", upstream.url())]);
    let pom = e2e("inputs/maven/pom.xml");
    let list = e2e("inputs/maven/build-plugins.txt");
    let out = warm(
        &config,
        &["--json", pom.to_str().unwrap(), list.to_str().unwrap()],
    );
    assert_success(&out, "repox warm");
    let summary = summary(&out);
    let fetched = labels(&summary, "fetched");
    for expected in [
        "org.slf4j:slf4j-simple:1.7.32@jar",
        "org.slf4j:slf4j-simple:1.7.32@pom",
        "org.slf4j:slf4j-simple:1.7.32@jar.sha1",
        // The parent of slf4j-simple's POM, found by reading it.
        "org.slf4j:slf4j-parent:debian@pom",
        "org.codehaus.mojo:exec-maven-plugin:3.1.0@jar",
    ] {
        assert!(
            fetched.iter().any(|l| l == expected),
            "{expected} not fetched: {summary:#}"
        );
    }
    // Debian's repository has no maven-metadata.xml: optional, not a failure.
    assert!(labels(&summary, "failed").is_empty(), "{summary:#}");
    assert!(
        labels(&summary, "absent")
            .iter()
            .any(|l| l.ends_with("maven-metadata.xml")),
        "{summary:#}"
    );

    upstream.stop();
    let serve = RepoxServer::with_config(&config);
    let project = tmp.path().join("project");
    fs_err::create_dir_all(&project).unwrap();
    fs_err::copy(&pom, project.join("pom.xml")).unwrap();
    let settings = tmp.path().join("settings.xml");
    fs_err::write(
        &settings,
        format!(
            "<settings><mirrors><mirror><id>repox</id><mirrorOf>*</mirrorOf>\
             <url>{}maven/</url></mirror></mirrors></settings>\n",
            serve.url()
        ),
    )
    .unwrap();
    let local = tmp.path().join("m2");
    let output = run_client(
        Command::new("mvn")
            .current_dir(&project)
            .env("MAVEN_SKIP_RC", "1")
            .env("MAVEN_OPTS", "-XX:TieredStopAtLevel=1")
            .args(["-B", "--strict-checksums", "-s"])
            .arg(&settings)
            .arg("-gs")
            .arg(&settings)
            .arg(format!("-Dmaven.repo.local={}", local.display()))
            .arg("org.codehaus.mojo:exec-maven-plugin:3.1.0:exec")
            .arg("-Dexec.executable=echo")
            .arg("-Dexec.args=classpath=%classpath"),
        &serve,
        "mvn with the upstream stopped",
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let classpath = stdout
        .lines()
        .find_map(|l| l.strip_prefix("classpath="))
        .unwrap_or_else(|| panic!("no classpath printed:\n{stdout}"));
    for jar in ["slf4j-simple-1.7.32.jar", "slf4j-api-debian.jar"] {
        assert!(classpath.contains(jar), "{jar} missing from {classpath}");
    }
}
