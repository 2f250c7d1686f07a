//! Maven: a `<mirror>` with id `repox` in `settings.xml`, mirroring `*` (or `external:*`),
//! plus a `<server>` with the same id when the server needs credentials.
//!
//! Maven picks at most one mirror per repository: an exact id match first, else the first
//! wildcard mirror in declaration order, user settings before global ones (apache/maven-site
//! `guide-mirror-settings.md`). So repox's mirror is kept first in `<mirrors>`; a mirror of
//! `central` by id elsewhere still wins and `--status` says so. The file is edited by splicing
//! text at element positions; elements of settings.xml may come in any order (the schema uses
//! `xs:all`), so a missing `<mirrors>` or `<servers>` is added before `</settings>`.

use std::path::PathBuf;

use super::env::Env;
use super::plan::{Context, FileEdit, Plan};
use super::status::Status;
use super::target::Target;
use super::text::{self, Malformed};
use super::xml::{self, Element};
use super::{Client, Scope};
use crate::settings::Hinted;

const ID: &str = "repox";
const CENTRAL: &str = "https://repo.maven.apache.org/maven2/";

/// A text insertion or replacement at byte offsets.
struct Edit {
    start: usize,
    end: usize,
    text: String,
}

/// Sets repox's mirror (and server) in the text of a `settings.xml`.
pub fn edit(old: &str, target: &Target) -> Result<String, Malformed> {
    let nl = text::newline(old);
    if old.trim().is_empty() {
        let new = new_document(target, nl);
        verify(&new, target)?;
        return Ok(new);
    }
    let root = xml::parse(old)?;
    if root.name != "settings" {
        return Err(Malformed::at(
            old,
            root.start,
            format!("the root element is <{}>, not <settings>", root.name),
        ));
    }
    let unit = root
        .children
        .first()
        .map(|c| xml::indent_before(old, c.start))
        .filter(|i| !i.is_empty())
        .unwrap_or("  ")
        .to_owned();
    let mut edits = Vec::new();
    let mirror = mirror_xml(target);
    block(
        old, &root, "mirrors", "mirror", &mirror, true, &unit, nl, &mut edits,
    );
    if target.credentials.is_some() {
        let server = server_xml(target);
        block(
            old, &root, "servers", "server", &server, false, &unit, nl, &mut edits,
        );
    }
    let new = apply(old, edits);
    verify(&new, target)?;
    Ok(new)
}

/// Ensures the `<container>` child of `<settings>` holds `item` (an element with `<id>repox</id>`),
/// first among its siblings when `first`.
#[allow(clippy::too_many_arguments)]
fn block(
    old: &str,
    root: &Element,
    container: &str,
    item: &str,
    wanted: &[String],
    first: bool,
    unit: &str,
    nl: &str,
    edits: &mut Vec<Edit>,
) {
    let indent1 = unit;
    let indent2 = format!("{unit}{unit}");
    match root.child(container).filter(|c| !c.empty) {
        Some(c) => {
            let items: Vec<&Element> = c.children_named(item).collect();
            let ours = items.iter().position(|m| m.child_text("id") == Some(ID));
            let indent = items
                .first()
                .map(|m| xml::indent_before(old, m.start).to_owned())
                .filter(|i| !i.is_empty())
                .unwrap_or(indent2);
            let rendered = indented(wanted, &indent, unit, nl);
            match ours {
                Some(i) if i == 0 || !first => {
                    let m = items[i];
                    if !same(m, wanted) {
                        edits.push(Edit {
                            start: m.start,
                            end: m.end,
                            text: rendered.trim_start().to_owned(),
                        });
                    }
                }
                _ => {
                    if let Some(i) = ours {
                        // Remove it with its indentation and line, then re-add it first.
                        let m = items[i];
                        let start = m.start - xml::indent_before(old, m.start).len();
                        let start = old[..start].strip_suffix(nl).map_or(start, |s| s.len());
                        edits.push(Edit {
                            start,
                            end: m.end,
                            text: String::new(),
                        });
                    }
                    if c.children.is_empty() && !old[c.inner_start..c.inner_end].contains('\n') {
                        // `<mirrors></mirrors>`: open a line.
                        let outer = xml::indent_before(old, c.start);
                        edits.push(Edit {
                            start: c.inner_start,
                            end: c.inner_end,
                            text: format!("{nl}{rendered}{nl}{outer}"),
                        });
                        return;
                    }
                    let (at, text) = if first {
                        // Right after `<mirrors>`, so comments above the old first mirror stay
                        // with it.
                        (c.inner_start, format!("{nl}{rendered}"))
                    } else {
                        let at = c.inner_end - xml::indent_before(old, c.inner_end).len();
                        if old[..at].ends_with('\n') {
                            (at, format!("{rendered}{nl}"))
                        } else {
                            (at, format!("{nl}{rendered}"))
                        }
                    };
                    edits.push(Edit {
                        start: at,
                        end: at,
                        text,
                    });
                }
            }
        }
        None => {
            let rendered = indented(wanted, &indent2, unit, nl);
            let section =
                format!("{indent1}<{container}>{nl}{rendered}{nl}{indent1}</{container}>");
            match root.child(container) {
                // `<mirrors/>`
                Some(empty) => edits.push(Edit {
                    start: empty.start,
                    end: empty.end,
                    text: section.trim_start().to_owned(),
                }),
                None if root.empty => {
                    let tag = &old[root.start..root.end];
                    let open = format!(
                        "{}>",
                        tag.trim_end_matches('>').trim_end_matches('/').trim_end()
                    );
                    edits.push(Edit {
                        start: root.start,
                        end: root.end,
                        text: format!("{open}{nl}{section}{nl}</{}>", raw_name(tag)),
                    });
                }
                None => {
                    let at = root.inner_end - xml::indent_before(old, root.inner_end).len();
                    let text = if old[..at].ends_with('\n') {
                        format!("{section}{nl}")
                    } else {
                        format!("{nl}{section}{nl}")
                    };
                    edits.push(Edit {
                        start: at,
                        end: at,
                        text,
                    });
                }
            }
        }
    }
}

/// The qualified tag name of a start tag (`<s:settings …>` → `s:settings`).
fn raw_name(tag: &str) -> &str {
    let tag = tag.trim_start_matches('<');
    let end = tag
        .find(|c: char| c.is_whitespace() || c == '/' || c == '>')
        .unwrap_or(tag.len());
    &tag[..end]
}

/// Whether an existing element already has every wanted `<child>value</child>`.
fn same(element: &Element, wanted: &[String]) -> bool {
    wanted
        .iter()
        .skip(1)
        .take(wanted.len().saturating_sub(2))
        .all(|line| {
            let line = line.trim();
            let Some(rest) = line.strip_prefix('<') else {
                return true;
            };
            let Some((name, rest)) = rest.split_once('>') else {
                return true;
            };
            let value = rest.rsplit_once("</").map_or("", |(v, _)| v);
            element
                .child(name)
                .is_some_and(|c| xml::escape(c.text.trim()) == value)
        })
}

fn indented(lines: &[String], indent: &str, unit: &str, nl: &str) -> String {
    lines
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let inner = if i == 0 || i + 1 == lines.len() {
                ""
            } else {
                unit
            };
            format!("{indent}{inner}{l}")
        })
        .collect::<Vec<_>>()
        .join(nl)
}

fn mirror_xml(target: &Target) -> Vec<String> {
    vec![
        "<mirror>".to_owned(),
        format!("<id>{ID}</id>"),
        "<name>repox caching proxy</name>".to_owned(),
        format!("<url>{}</url>", xml::escape(&target.maven())),
        format!("<mirrorOf>{}</mirrorOf>", target.maven_mirror_of),
        "</mirror>".to_owned(),
    ]
}

fn server_xml(target: &Target) -> Vec<String> {
    let creds = target
        .credentials
        .as_ref()
        .expect("called with credentials");
    vec![
        "<server>".to_owned(),
        format!("<id>{ID}</id>"),
        format!("<username>{}</username>", xml::escape(creds.username())),
        format!("<password>{}</password>", xml::escape(&creds.token)),
        "</server>".to_owned(),
    ]
}

fn new_document(target: &Target, nl: &str) -> String {
    let mut lines = vec![
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>".to_owned(),
        "<settings xmlns=\"http://maven.apache.org/SETTINGS/1.0.0\"".to_owned(),
        "          xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"".to_owned(),
        "          xsi:schemaLocation=\"http://maven.apache.org/SETTINGS/1.0.0 https://maven.apache.org/xsd/settings-1.0.0.xsd\">".to_owned(),
        "  <mirrors>".to_owned(),
        indented(&mirror_xml(target), "    ", "  ", nl),
        "  </mirrors>".to_owned(),
    ];
    if target.credentials.is_some() {
        lines.push("  <servers>".to_owned());
        lines.push(indented(&server_xml(target), "    ", "  ", nl));
        lines.push("  </servers>".to_owned());
    }
    lines.push("</settings>".to_owned());
    format!("{}{nl}", lines.join(nl))
}

fn apply(old: &str, mut edits: Vec<Edit>) -> String {
    edits.sort_by_key(|e| (e.start, e.end));
    let mut out = String::new();
    let mut next = 0;
    for e in edits {
        out.push_str(&old[next..e.start]);
        out.push_str(&e.text);
        next = e.end.max(e.start);
    }
    out.push_str(&old[next..]);
    out
}

/// Parses the result and checks that repox's mirror is the first one and has the right values.
fn verify(new: &str, target: &Target) -> Result<(), Malformed> {
    let fail = |what: &str| Malformed::new(1, format!("internal error: {what} after the edit"));
    let root = xml::parse(new)
        .map_err(|e| Malformed::new(e.line, format!("internal error: {}", e.message)))?;
    let first = root
        .child("mirrors")
        .and_then(|m| m.children_named("mirror").next())
        .ok_or_else(|| fail("no mirror"))?;
    if first.child_text("id") != Some(ID)
        || first.child_text("url") != Some(target.maven().as_str())
        || first.child_text("mirrorOf") != Some(target.maven_mirror_of)
    {
        return Err(fail("repox's mirror is not first or has other values"));
    }
    if let Some(creds) = &target.credentials {
        let server = root
            .child("servers")
            .and_then(|s| {
                s.children_named("server")
                    .find(|s| s.child_text("id") == Some(ID))
            })
            .ok_or_else(|| fail("no server"))?;
        if server.child("password").map(|p| p.text.as_str()) != Some(creds.token.as_str()) {
            return Err(fail("the server password does not read back"));
        }
    }
    Ok(())
}

/// `${maven.home}` from `MAVEN_HOME`, `M2_HOME` or the `mvn` on `PATH`.
fn maven_home(env: &Env) -> Option<PathBuf> {
    env.path_var("MAVEN_HOME")
        .or_else(|| env.path_var("M2_HOME"))
        .or_else(|| {
            let mvn = env.which("mvn")?;
            let mvn = std::fs::canonicalize(&mvn).unwrap_or(mvn);
            mvn.parent()?.parent().map(|p| p.to_path_buf())
        })
}

fn project_file(env: &Env) -> Option<PathBuf> {
    env.find_up(&[".mvn"])
        .map(|root| root.join(".mvn").join("settings.xml"))
}

fn file(env: &Env, scope: Scope) -> anyhow::Result<PathBuf> {
    Ok(match scope {
        Scope::User => env.home.join(".m2").join("settings.xml"),
        Scope::Project => project_file(env).unwrap_or_else(|| {
            env.find_up(&["pom.xml"])
                .unwrap_or_else(|| env.cwd.clone())
                .join(".mvn")
                .join("settings.xml")
        }),
        Scope::Global => maven_home(env)
            .ok_or_else(|| Hinted {
                message:
                    "cannot find the Maven installation (no MAVEN_HOME, M2_HOME or mvn on PATH)"
                        .to_owned(),
                hint: "set MAVEN_HOME to the Maven directory, or use --scope user".to_owned(),
            })?
            .join("conf")
            .join("settings.xml"),
    })
}

pub fn plan(ctx: &Context) -> anyhow::Result<Plan> {
    let path = file(&ctx.env, ctx.scope)?;
    let mut plan = Plan::new(Client::Maven, ctx.scope);
    plan.edits.push(FileEdit::compute(
        Client::Maven,
        &path,
        ctx.target.credentials.is_some(),
        |old| edit(old, &ctx.target),
    )?);
    if let Some(url) = ctx.target.publish_url() {
        plan.notes.push(distribution_management(
            &url,
            ctx.target.credentials.is_some(),
        ));
    }
    if ctx.scope == Scope::Project {
        plan.notes.push(
            "Maven 4 reads .mvn/settings.xml by itself; Maven 3 needs `-s .mvn/settings.xml` \
             (which replaces ~/.m2/settings.xml for that build)"
                .to_owned(),
        );
    }
    Ok(plan)
}

/// The `<distributionManagement>` a project adds to `mvn deploy` to hosted repository `url`,
/// with the `<server>` id this editor writes.
pub fn distribution_management(url: &str, has_server: bool) -> String {
    let mut note = format!(
        "to deploy with `mvn deploy`, add to the project's pom.xml:\n\
         <distributionManagement>\n  <repository>\n    <id>{ID}</id>\n    <url>{url}</url>\n  \
         </repository>\n  <snapshotRepository>\n    <id>{ID}</id>\n    <url>{url}</url>\n  \
         </snapshotRepository>\n</distributionManagement>"
    );
    if !has_server {
        note.push_str("\n(deploying needs a login: run again with --user NAME)");
    }
    note
}

pub fn detect(env: &Env) -> bool {
    env.which("mvn").is_some() || env.home.join(".m2").is_dir()
}

/// Whether a `<mirrorOf>` pattern selects Maven Central (id `central`, external, https).
fn selects_central(pattern: &str) -> (bool, bool) {
    let parts: Vec<&str> = pattern.split(',').map(str::trim).collect();
    if parts.contains(&"!central") {
        return (false, false);
    }
    let exact = parts.contains(&"central");
    let wildcard = parts
        .iter()
        .any(|p| matches!(*p, "*" | "external:*" | "external:https:*"));
    (exact, wildcard)
}

/// The mirrors of the project, user and global settings, in Maven's order; the one Maven picks
/// for Maven Central decides.
pub fn status(ctx: &Context) -> Status {
    let env = &ctx.env;
    let mut status = Status::new(Client::Maven, CENTRAL, &ctx.target);
    let mut files: Vec<PathBuf> = Vec::new();
    files.extend(project_file(env));
    files.push(env.home.join(".m2").join("settings.xml"));
    files.extend(maven_home(env).map(|h| h.join("conf").join("settings.xml")));
    let (mut exact, mut wildcard, mut catch_all) = (None, None, false);
    for path in files {
        let Some(root) = status.read(env, &path, xml::parse) else {
            continue;
        };
        let Some(mirrors) = root.child("mirrors") else {
            continue;
        };
        for mirror in mirrors.children_named("mirror") {
            let id = mirror.child_text("id").unwrap_or("?");
            let of = mirror.child_text("mirrorOf").unwrap_or("");
            let url = mirror.child_text("url").unwrap_or("");
            if mirror.child_text("blocked") == Some("true") {
                status.info(
                    env.display(&path),
                    format!("mirror {id} (mirrorOf {of})"),
                    "blocked",
                );
                continue;
            }
            let i = status.file(env, &path, format!("mirror {id} (mirrorOf {of})"), url);
            let (is_exact, is_wild) = selects_central(of);
            if is_exact && exact.is_none() {
                exact = Some(i);
            } else if is_wild && wildcard.is_none() {
                wildcard = Some(i);
                catch_all = of == "*";
            } else if !(is_wild && catch_all) {
                // A mirror of other repositories by id, or a wildcard that still matches some.
                status.extra(i);
            }
        }
    }
    if let Some(i) = exact.or(wildcard) {
        status.set_effective(i);
    }
    // Behind a mirror of `central` by id, the first wildcard mirror still serves every other
    // repository.
    if let (Some(_), Some(w)) = (exact, wildcard) {
        status.extra(w);
    }
    find_credentials(ctx, &mut status);
    status
}

/// `<server>` entries with repox's id and a password in the settings files Maven reads.
fn find_credentials(ctx: &Context, status: &mut Status) {
    let env = &ctx.env;
    let mut files: Vec<PathBuf> = Vec::new();
    files.extend(project_file(env));
    files.push(env.home.join(".m2").join("settings.xml"));
    for path in files {
        let Some(root) = status.read(env, &path, xml::parse) else {
            continue;
        };
        let server = root.child("servers").and_then(|s| {
            s.children_named("server")
                .find(|s| s.child_text("id") == Some(ID) && s.child("password").is_some())
        });
        if let Some(server) = server {
            let user = server.child_text("username").map(str::to_owned);
            status.credentials_in(env, &path, "<server> repox", user.as_deref());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use url::Url;

    fn target(url: &str) -> Target {
        Target::new(&Url::parse(url).unwrap()).unwrap()
    }

    #[test]
    fn the_distribution_management_snippet_names_the_server_and_the_url() {
        let note = distribution_management("http://h:8078/releases/", true);
        assert!(note.contains("<id>repox</id>"), "{note}");
        assert_eq!(
            note.matches("<url>http://h:8078/releases/</url>").count(),
            2,
            "{note}"
        );
        assert!(!note.contains("--user"), "{note}");
        assert!(distribution_management("http://h/r/", false).contains("--user"));
    }

    const BEFORE: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<settings xmlns="http://maven.apache.org/SETTINGS/1.0.0">
    <!-- local repository on the big disk -->
    <localRepository>/data/m2</localRepository>
    <mirrors>
        <!-- the old company mirror -->
        <mirror>
            <id>nexus</id>
            <mirrorOf>external:*</mirrorOf>
            <url>https://nexus.corp/repository/maven-public/</url>
        </mirror>
    </mirrors>
    <profiles>
        <profile><id>dev</id></profile>
    </profiles>
</settings>
"#;

    #[test]
    fn before_after() {
        let after = edit(BEFORE, &target("http://127.0.0.1:8078/")).unwrap();
        insta::assert_snapshot!("maven_before_after", after);
        assert_eq!(
            edit(&after, &target("http://127.0.0.1:8078/")).unwrap(),
            after
        );
    }

    #[test]
    fn no_mirrors_and_credentials() {
        let before = "<settings>\n  <offline>false</offline>\n</settings>\n";
        let mut t = target("https://repox.corp/");
        t.maven_mirror_of = "external:*";
        t.credentials = Some(super::super::target::Credentials {
            username: Some("ci".into()),
            token: "a<b&c".into(),
            password: false,
        });
        let after = edit(before, &t).unwrap();
        insta::assert_snapshot!("maven_no_mirrors_credentials", after);
        assert_eq!(edit(&after, &t).unwrap(), after);
    }

    #[test]
    fn new_and_degenerate_files() {
        let t = target("http://127.0.0.1:8078/");
        let new = edit("", &t).unwrap();
        insta::assert_snapshot!("maven_new", new);
        for before in [
            "<settings/>",
            "<settings></settings>",
            "<settings>\n<mirrors/>\n</settings>",
            "<settings>\n  <mirrors></mirrors>\n</settings>\n",
        ] {
            let after = edit(before, &t).unwrap();
            assert_eq!(edit(&after, &t).unwrap(), after, "{before}");
        }
    }

    #[test]
    fn existing_repox_mirror_moves_first() {
        let t = target("http://127.0.0.1:8078/");
        let before = "<settings>\n  <mirrors>\n    <mirror><id>a</id><mirrorOf>*</mirrorOf><url>https://a/</url></mirror>\n    <mirror><id>repox</id><mirrorOf>*</mirrorOf><url>http://old/maven/</url></mirror>\n  </mirrors>\n</settings>\n";
        let after = edit(before, &t).unwrap();
        insta::assert_snapshot!("maven_moves_first", after);
    }

    #[test]
    fn status_follows_maven_mirror_selection() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        let maven_home = dir.path().join("maven");
        let write = |path: std::path::PathBuf, text: &str| {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        };
        let t = target("http://127.0.0.1:8078/");
        write(home.join(".m2/settings.xml"), &edit("", &t).unwrap());
        write(
            maven_home.join("conf/settings.xml"),
            "<settings><mirrors>\
             <mirror><id>old</id><mirrorOf>*</mirrorOf><url>https://nexus/</url></mirror>\
             <mirror><id>blocker</id><mirrorOf>external:http:*</mirrorOf><url>http://0.0.0.0/</url><blocked>true</blocked></mirror>\
             </mirrors></settings>",
        );
        let env = Env::fake(
            &home,
            &home,
            super::super::env::Os::Linux,
            &[("MAVEN_HOME", maven_home.to_str().unwrap())],
        );
        let ctx = Context {
            env,
            target: t.clone(),
            scope: Scope::User,
        };
        let status = status(&ctx);
        // The user's `*` comes first; the global `*` behind it is never used.
        assert!(status.all_repox(), "{}", status.render());
        assert!(
            status
                .render()
                .starts_with("maven: via repox: http://127.0.0.1:8078/maven/")
        );

        // A mirror of `central` by id wins over any wildcard.
        write(
            home.join(".m2/settings.xml"),
            &edit(
                "<settings><mirrors><mirror><id>aliyun</id><mirrorOf>central</mirrorOf><url>https://maven.aliyun.com/repository/public</url></mirror></mirrors></settings>",
                &t,
            )
            .unwrap(),
        );
        let status = super::status(&ctx);
        assert!(!status.all_repox());
        assert!(
            status
                .render()
                .starts_with("maven: NOT via repox: https://maven.aliyun.com/repository/public"),
            "{}",
            status.render()
        );
    }

    #[test]
    fn malformed() {
        let err = edit(
            "<settings>\n  <mirrors>\n  </mirror>\n</settings>\n",
            &target("http://127.0.0.1/"),
        )
        .unwrap_err();
        assert_eq!(err.line, 3);
        let err = edit("<project/>\n", &target("http://127.0.0.1/")).unwrap_err();
        assert!(err.message.contains("not <settings>"));
    }
}
