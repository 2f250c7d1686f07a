//! A real `mvn` resolving a version range through a repository with a release cooldown and a
//! deny rule: repox leaves the refused versions out of `maven-metadata.xml`, so Maven falls back
//! to the highest allowed version instead of failing on a 403.
//!
//! `org.ex:lib` has 1.0 (old), 1.1 (old, denied) and 1.2 (published yesterday, by its POM's
//! `Last-Modified`); the project asks for `[1.0,2.0)`. Without the policy Maven takes 1.2,
//! without the deny rule 1.1: only both make it 1.0. The plugin that prints the classpath comes
//! from Debian's Maven repository, a second upstream without a cooldown (its files may have been
//! installed yesterday too).

use std::path::Path;
use std::time::{Duration, SystemTime};

use crate::fixture_server::FixtureServer;
use crate::maven_client::{FIXTURE, classpath, mvn, prerequisites, project_with_mirror};
use crate::repox_server::RepoxServer;

const POM: &str = r#"<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>dev.repox.e2e</groupId>
  <artifactId>maven-range</artifactId>
  <version>1.0</version>
  <dependencies>
    <dependency>
      <groupId>org.ex</groupId>
      <artifactId>lib</artifactId>
      <version>[1.0,2.0)</version>
    </dependency>
  </dependencies>
</project>
"#;

const DAY: Duration = Duration::from_secs(86400);

/// `org/ex/lib` below `root`: each version's POM and jar, modified that long ago, and the
/// artifact's `maven-metadata.xml` (release 1.2).
fn publish(root: &Path, versions: &[(&str, Duration)]) {
    let dir = root.join("org/ex/lib");
    for (v, ago) in versions {
        let version_dir = dir.join(v);
        fs_err::create_dir_all(&version_dir).unwrap();
        let pom = version_dir.join(format!("lib-{v}.pom"));
        fs_err::write(
            &pom,
            format!(
                "<project xmlns=\"http://maven.apache.org/POM/4.0.0\">\n  \
                 <modelVersion>4.0.0</modelVersion>\n  <groupId>org.ex</groupId>\n  \
                 <artifactId>lib</artifactId>\n  <version>{v}</version>\n</project>\n"
            ),
        )
        .unwrap();
        fs_err::write(version_dir.join(format!("lib-{v}.jar")), format!("jar {v}")).unwrap();
        let file = fs_err::File::options().write(true).open(&pom).unwrap();
        file.file().set_modified(SystemTime::now() - *ago).unwrap();
    }
    let listed: String = versions
        .iter()
        .map(|(v, _)| format!("      <version>{v}</version>\n"))
        .collect();
    let updated: String = humantime::format_rfc3339_seconds(SystemTime::now() - DAY)
        .to_string()
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    fs_err::write(
        dir.join("maven-metadata.xml"),
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<metadata>\n  <groupId>org.ex</groupId>\n  \
             <artifactId>lib</artifactId>\n  <versioning>\n    <latest>1.2</latest>\n    \
             <release>1.2</release>\n    <versions>\n{listed}    </versions>\n    \
             <lastUpdated>{updated}</lastUpdated>\n  </versioning>\n</metadata>\n"
        ),
    )
    .unwrap();
}

#[test]
fn mvn_resolves_a_range_to_the_highest_version_the_policy_allows() {
    if !prerequisites() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let ours = tmp.path().join("upstream");
    publish(
        &ours,
        &[("1.0", 400 * DAY), ("1.1", 300 * DAY), ("1.2", DAY)],
    );
    let debian = FixtureServer::start(Path::new(FIXTURE));
    let upstream = FixtureServer::start_with_last_modified(&ours);
    let repox = RepoxServer::start(
        tmp.path(),
        &format!(
            "[repositories.maven]\nkind = \"maven\"\ndeny = [\"org.ex:lib:1.1\"]\n\
             [[repositories.maven.upstreams]]\nname = \"ours\"\nurl = \"{}\"\nmin_age = \"7d\"\n\
             [[repositories.maven.upstreams]]\nname = \"debian\"\nurl = \"{}\"\n",
            upstream.url(),
            debian.url()
        ),
    );
    let (project, settings) = project_with_mirror(tmp.path(), POM, &repox.url());
    let local = tmp.path().join("m2");
    let output = mvn(&project, &settings, &local);
    let classpath = classpath(&output, &repox, "mvn");
    let jars: Vec<&str> = classpath
        .split(':')
        .filter_map(|p| Path::new(p).file_name()?.to_str())
        .filter(|name| name.starts_with("lib-"))
        .collect();
    assert_eq!(
        jars,
        ["lib-1.0.jar"],
        "classpath `{classpath}`\nrepox log:\n{}",
        repox.log()
    );
    assert!(upstream.count("org/ex/lib/maven-metadata.xml") >= 1);
    // The refused versions' files were never asked for.
    for refused in ["1.1/lib-1.1.jar", "1.2/lib-1.2.jar"] {
        assert_eq!(
            upstream.count(&format!("org/ex/lib/{refused}")),
            0,
            "{refused}"
        );
    }
}
