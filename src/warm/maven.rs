//! Maven inputs: a plain list of `group:artifact:version[:classifier][@ext]` coordinates, and a
//! `pom.xml`, from which we take what one file can tell without a resolver: its `<parent>`, the
//! BOMs it imports (`<type>pom</type><scope>import</scope>`), and its direct dependencies with
//! `${property}` interpolation. Versions that only the parent or a BOM knows, version ranges and
//! `system` dependencies are reported as skipped; transitive dependencies need Maven itself.

use std::collections::HashMap;

use quick_xml::events::Event;

use super::{MavenArtifact, Plan, SkipKind, Source, Want, bad_input};

/// Parse `group:artifact:version[:classifier][@ext]`.
fn parse_coordinate(
    text: &str,
) -> Result<(String, String, String, Option<String>, String), String> {
    let (coords, extension) = match text.split_once('@') {
        Some((coords, ext)) => (coords, ext),
        None => (text, "jar"),
    };
    let parts: Vec<&str> = coords.split(':').collect();
    let valid = |s: &str| {
        !s.is_empty()
            && s.chars().all(|c| {
                c.is_ascii_alphanumeric()
                    || matches!(
                        c,
                        '.' | '-' | '_' | '$' | '{' | '}' | '[' | ']' | '(' | ')' | ','
                    )
            })
    };
    if !(3..=4).contains(&parts.len()) || !parts.iter().all(|p| valid(p)) || !valid(extension) {
        return Err("expected `group:artifact:version[:classifier][@ext]`".to_string());
    }
    Ok((
        parts[0].to_string(),
        parts[1].to_string(),
        parts[2].to_string(),
        parts.get(3).map(|c| c.to_string()),
        extension.to_string(),
    ))
}

/// Whether most non-comment lines are coordinates (for format detection; a requirements file
/// never has a `a:b:c` line without spaces or slashes).
pub(super) fn looks_like_list(text: &str) -> bool {
    let lines: Vec<&str> = text
        .lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .collect();
    let coordinates = lines.iter().filter(|l| parse_coordinate(l).is_ok()).count();
    coordinates > 0 && coordinates * 2 > lines.len()
}

/// Why a version cannot be fetched as is, if it cannot.
fn unfetchable_version(version: &str) -> Option<&'static str> {
    if version.starts_with(['[', '(']) {
        Some("version range: only Maven's resolver can pick the version")
    } else if matches!(version, "LATEST" | "RELEASE") {
        Some("LATEST/RELEASE needs the repository metadata to resolve")
    } else {
        None
    }
}

/// A text file of coordinates, one per line; `#` starts a comment.
pub(super) fn parse_list(source: &Source) -> Plan {
    let mut plan = Plan::default();
    for (index, raw) in source.text.lines().enumerate() {
        let origin = source.origin(u32::try_from(index + 1).ok());
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        match parse_coordinate(line) {
            Err(why) => plan.skip(line, origin, SkipKind::Invalid, why),
            Ok((_, _, version, _, _)) if version.contains("${") => plan.skip(
                line,
                origin,
                SkipKind::Invalid,
                "properties are not expanded in a list; write the version",
            ),
            Ok((_, _, version, _, _)) if unfetchable_version(&version).is_some() => {
                let why = unfetchable_version(&version).unwrap_or_default();
                plan.skip(line, origin, SkipKind::Unsupported, why);
            }
            Ok((group, artifact, version, classifier, extension)) => {
                plan.items.push(Want::MavenArtifact(MavenArtifact {
                    group,
                    artifact,
                    version,
                    classifier,
                    extension,
                    origin,
                }));
            }
        }
    }
    plan
}

/// An XML element with its text and the line it starts on.
#[derive(Debug, Default)]
struct Element {
    name: String,
    text: String,
    line: u32,
    children: Vec<Element>,
}

impl Element {
    fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    fn children<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> {
        self.children.iter().filter(move |c| c.name == name)
    }

    fn text_of(&self, name: &str) -> Option<&str> {
        self.child(name).map(|c| c.text.trim())
    }

    /// `self/<a>/<b>/…`
    fn path<'a>(&'a self, names: &[&str]) -> Option<&'a Element> {
        names.iter().try_fold(self, |el, name| el.child(name))
    }
}

/// Deepest element nesting accepted in a `pom.xml`.
const MAX_DEPTH: usize = 256;

const POM_FIX: &str = "fix the XML (an editor or `xmllint --noout pom.xml` shows where)";

fn parse_xml(source: &Source) -> anyhow::Result<Element> {
    let mut reader = quick_xml::Reader::from_str(source.text);
    let mut stack = vec![Element::default()];
    loop {
        let offset = usize::try_from(reader.buffer_position()).unwrap_or(usize::MAX);
        let event = reader.read_event().map_err(|err| {
            let at = usize::try_from(reader.error_position()).unwrap_or(offset);
            bad_input(
                &source.origin_at(at),
                format!("invalid XML: {err}"),
                POM_FIX,
            )
        })?;
        let open = |e: &quick_xml::events::BytesStart| Element {
            name: e.local_name().as_ref().to_owned(),
            line: source.line_of(offset),
            ..Element::default()
        };
        match event {
            Event::Start(e) => {
                // The tree is dropped (and walked) recursively: a hostile nesting depth would
                // overflow the stack. Real POMs nest about 8 deep.
                if stack.len() > MAX_DEPTH {
                    return Err(bad_input(
                        &source.origin_at(offset),
                        format!("elements nest deeper than {MAX_DEPTH} levels"),
                        "this is not a usable pom.xml; check that the right file is given",
                    ));
                }
                stack.push(open(&e));
            }
            Event::Empty(e) => {
                let element = open(&e);
                if let Some(parent) = stack.last_mut() {
                    parent.children.push(element);
                }
            }
            Event::End(_) => {
                let element = stack.pop().unwrap_or_default();
                match stack.last_mut() {
                    Some(parent) => parent.children.push(element),
                    None => break,
                }
            }
            Event::Text(t) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&t.xml10_content());
                }
            }
            Event::CData(c) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&c.xml10_content());
                }
            }
            Event::GeneralRef(r) => {
                let resolved = match r.resolve_char_ref() {
                    Ok(Some(c)) => c.to_string(),
                    _ => quick_xml::escape::resolve_predefined_entity(&r.xml10_content())
                        .unwrap_or_default()
                        .to_string(),
                };
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&resolved);
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    let document = stack.into_iter().next().unwrap_or_default();
    document
        .children
        .into_iter()
        .next()
        .ok_or_else(|| bad_input(&source.origin(None), "no root element", POM_FIX))
}

/// `${name}` expansion from the POM's own properties and project coordinates.
struct Properties {
    values: HashMap<String, String>,
}

impl Properties {
    fn new(project: &Element) -> Self {
        let mut values = HashMap::new();
        if let Some(properties) = project.child("properties") {
            for property in &properties.children {
                values.insert(property.name.clone(), property.text.trim().to_string());
            }
        }
        let parent = project.child("parent");
        let inherited = |name: &str| {
            project
                .text_of(name)
                .or_else(|| parent.and_then(|p| p.text_of(name)))
                .map(String::from)
        };
        for (key, value) in [
            ("groupId", inherited("groupId")),
            (
                "artifactId",
                project.text_of("artifactId").map(String::from),
            ),
            ("version", inherited("version")),
        ] {
            if let Some(value) = value {
                for prefix in ["project.", "pom."] {
                    values.insert(format!("{prefix}{key}"), value.clone());
                }
            }
            if let Some(value) = parent.and_then(|p| p.text_of(key)) {
                values.insert(format!("project.parent.{key}"), value.to_string());
                values.insert(format!("parent.{key}"), value.to_string());
            }
        }
        Self { values }
    }

    /// The text with every `${…}` replaced, or the name of the first property this POM does
    /// not define.
    fn expand(&self, text: &str) -> Result<String, String> {
        self.expand_depth(text, 0)
    }

    fn expand_depth(&self, text: &str, depth: u32) -> Result<String, String> {
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let end = rest[start..]
                .find('}')
                .ok_or_else(|| format!("unclosed `${{` in `{text}`"))?;
            let name = &rest[start + 2..start + end];
            let value = self
                .values
                .get(name)
                .filter(|_| depth < 16)
                .ok_or_else(|| name.to_string())?;
            out.push_str(&self.expand_depth(value, depth + 1)?);
            rest = &rest[start + end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }
}

/// Maven's artifact handlers: a dependency `type` gives the file extension and sometimes a
/// classifier.
fn type_to_file(kind: &str) -> (&str, Option<&'static str>) {
    match kind {
        "test-jar" => ("jar", Some("tests")),
        "ejb-client" => ("jar", Some("client")),
        "java-source" => ("jar", Some("sources")),
        "javadoc" => ("jar", Some("javadoc")),
        "maven-plugin" | "ejb" | "bundle" => ("jar", None),
        other => (other, None),
    }
}

pub(super) fn parse_pom(source: &Source) -> anyhow::Result<Plan> {
    let project = parse_xml(source)?;
    if project.name != "project" {
        return Err(bad_input(
            &source.origin(Some(project.line)),
            format!(
                "the root element is <{}>, not <project>: this is not a Maven POM",
                project.name
            ),
            "pass the project's pom.xml",
        ));
    }
    let properties = Properties::new(&project);
    let mut plan = Plan::default();
    let add = |plan: &mut Plan,
               element: &Element,
               extension: &str,
               classifier: Option<&str>,
               version: Option<&str>| {
        let origin = source.origin(Some(element.line));
        let group = element.text_of("groupId").unwrap_or("");
        let artifact = element.text_of("artifactId").unwrap_or("");
        let what = match version {
            Some(version) => format!("{group}:{artifact}:{version}"),
            None => format!("{group}:{artifact}"),
        };
        let expanded = [
            group,
            artifact,
            version.unwrap_or(""),
            classifier.unwrap_or(""),
        ]
        .map(|text| properties.expand(text));
        let [group, artifact, version, classifier] = match expanded {
            [Ok(g), Ok(a), Ok(v), Ok(c)] => [g, a, v, c],
            expanded => {
                let missing = expanded
                    .into_iter()
                    .find_map(Result::err)
                    .unwrap_or_default();
                let why = format!(
                    "`${{{missing}}}` is not defined in this POM (it may come from the parent); \
                     resolve with `mvn dependency:go-offline` through repox"
                );
                return plan.skip(what, origin, SkipKind::Unsupported, why);
            }
        };
        if group.is_empty() || artifact.is_empty() {
            return plan.skip(
                what,
                origin,
                SkipKind::Invalid,
                "needs <groupId> and <artifactId>",
            );
        }
        if version.is_empty() {
            let why = "no version here: it comes from the parent or an imported BOM; resolve with \
                       `mvn dependency:go-offline` through repox";
            return plan.skip(what, origin, SkipKind::Unsupported, why);
        }
        if let Some(why) = unfetchable_version(&version) {
            return plan.skip(what, origin, SkipKind::Unsupported, why);
        }
        plan.items.push(Want::MavenArtifact(MavenArtifact {
            group,
            artifact,
            version,
            classifier: (!classifier.is_empty()).then_some(classifier),
            extension: extension.to_string(),
            origin,
        }));
    };

    if let Some(parent) = project.child("parent") {
        add(&mut plan, parent, "pom", None, parent.text_of("version"));
    }

    // dependencyManagement: BOM imports are fetched; other entries only supply versions.
    let mut managed: HashMap<(String, String), &str> = HashMap::new();
    let managed_deps = project
        .path(&["dependencyManagement", "dependencies"])
        .into_iter()
        .flat_map(|deps| deps.children("dependency"));
    for dependency in managed_deps {
        let kind = dependency.text_of("type").unwrap_or("jar");
        if kind == "pom" && dependency.text_of("scope") == Some("import") {
            add(
                &mut plan,
                dependency,
                "pom",
                None,
                dependency.text_of("version"),
            );
        } else if let Some(version) = dependency.text_of("version") {
            let key = coordinates_key(&properties, dependency);
            managed.insert(key, version);
        }
    }

    let dependencies = project
        .child("dependencies")
        .into_iter()
        .flat_map(|deps| deps.children("dependency"));
    for dependency in dependencies {
        if dependency.text_of("scope") == Some("system") {
            let what = format!(
                "{}:{}",
                dependency.text_of("groupId").unwrap_or(""),
                dependency.text_of("artifactId").unwrap_or("")
            );
            plan.skip(
                what,
                source.origin(Some(dependency.line)),
                SkipKind::Unsupported,
                "system scope: a file on this machine (<systemPath>), nothing to fetch",
            );
            continue;
        }
        let kind = dependency.text_of("type").unwrap_or("jar");
        let (extension, implied) = type_to_file(kind);
        let classifier = dependency.text_of("classifier").or(implied);
        let version = dependency.text_of("version").or_else(|| {
            managed
                .get(&coordinates_key(&properties, dependency))
                .copied()
        });
        add(&mut plan, dependency, extension, classifier, version);
    }
    Ok(plan)
}

/// What Maven must read before it can use a POM it downloaded: its `<parent>` and the BOMs it
/// imports (as `@pom` artifacts), so a warm can follow them the way Maven builds the model.
/// `label` names the POM in the artifacts' origin.
pub(super) fn pom_references(label: &std::path::Path, text: &str) -> Vec<MavenArtifact> {
    let Ok(plan) = parse_pom(&Source::new(label, text)) else {
        return Vec::new();
    };
    plan.items
        .into_iter()
        .filter_map(|item| match item {
            Want::MavenArtifact(a) if a.extension == "pom" => Some(a),
            _ => None,
        })
        .collect()
}

fn coordinates_key(properties: &Properties, dependency: &Element) -> (String, String) {
    let get = |name| {
        let text = dependency.text_of(name).unwrap_or("");
        properties.expand(text).unwrap_or_else(|_| text.to_string())
    };
    (get("groupId"), get("artifactId"))
}

#[cfg(test)]
mod tests {
    use super::super::parse_file;
    use super::super::tests::{error_text, fixture, items, skipped};
    use super::*;

    #[test]
    fn coordinate_list() {
        let plan = parse_file(&fixture("maven/artifacts.txt"), None).unwrap();
        assert_eq!(
            items(&plan),
            [
                "2 maven com.google.guava:guava:33.2.0-jre@jar",
                "3 maven org.lwjgl:lwjgl:3.3.3:natives-linux@jar",
                "4 maven org.springframework.boot:spring-boot-dependencies:3.3.0@pom",
                "5 maven org.apache.commons:commons-lang3:3.14.0@jar",
                "6 maven junit:junit:4.13.2:sources@jar",
            ]
        );
        assert_eq!(
            skipped(&plan),
            [
                "! 8 just-a-name: expected `group:artifact:version[:classifier][@ext]`",
                "10 org.slf4j:slf4j-api:[2.0,3.0): version range: only Maven's resolver can pick the version",
                "! 11 com.example:lib:${lib.version}: properties are not expanded in a list; write the version",
            ]
        );
        let Want::MavenArtifact(a) = &plan.items[1] else {
            panic!()
        };
        assert_eq!(
            a.repository_path(),
            "org/lwjgl/lwjgl/3.3.3/lwjgl-3.3.3-natives-linux.jar"
        );
    }

    #[test]
    fn pom_parent_boms_and_dependencies() {
        let plan = parse_file(&fixture("maven/pom.xml"), None).unwrap();
        assert_eq!(
            items(&plan),
            [
                "6 maven org.springframework.boot:spring-boot-starter-parent:3.3.0@pom",
                "32 maven com.fasterxml.jackson:jackson-bom:2.17.1@pom",
                "39 maven org.junit:junit-bom:5.10.2@pom",
                "57 maven com.google.guava:guava:33.2.0-jre@jar",
                "67 maven com.example.shop:shop-model:1.4.0-SNAPSHOT@jar",
                "72 maven org.apache.commons:commons-text:1.12.0@jar",
                "76 maven com.example.shop:shop-core:1.4.0-SNAPSHOT:tests@jar",
                "83 maven org.lwjgl:lwjgl:3.3.3:natives-linux@jar",
                "89 maven com.example:war-overlay:2.0@war",
            ]
        );
        assert_eq!(
            skipped(&plan),
            [
                "62 org.springframework.boot:spring-boot-starter-web: no version here: it comes from the parent or an imported BOM; resolve with `mvn dependency:go-offline` through repox",
                "96 org.slf4j:slf4j-api:${slf4j.version}: `${slf4j.version}` is not defined in this POM (it may come from the parent); resolve with `mvn dependency:go-offline` through repox",
                "101 org.example:ranged:[1.0,2.0): version range: only Maven's resolver can pick the version",
                "106 com.sun:tools: system scope: a file on this machine (<systemPath>), nothing to fetch",
            ]
        );
    }

    #[test]
    fn interpolation() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pom.xml");
        let pom = "<project xmlns=\"http://maven.apache.org/POM/4.0.0\">\n\
            <parent><groupId>g</groupId><artifactId>p</artifactId><version>7</version></parent>\n\
            <artifactId>a</artifactId>\n\
            <properties><a>${b}-x</a><b>${project.parent.version}</b><loop>${loop}</loop></properties>\n\
            <dependencies>\n\
            <dependency><groupId>${project.groupId}</groupId><artifactId>d&amp;e</artifactId><version>${a}</version></dependency>\n\
            <dependency><groupId>g</groupId><artifactId>l</artifactId><version>${loop}</version></dependency>\n\
            </dependencies></project>\n";
        fs_err::write(&path, pom).unwrap();
        let plan = parse_file(&path, None).unwrap();
        assert_eq!(items(&plan), ["2 maven g:p:7@pom", "6 maven g:d&e:7-x@jar"]);
        assert_eq!(plan.skipped.len(), 1, "{:?}", plan.skipped);
        assert!(
            plan.skipped[0].why.starts_with("`${loop}` is not defined"),
            "{:?}",
            plan.skipped
        );
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pom.xml");
        let depth = 150_000;
        let text = format!(
            "<project>\n{}{}</project>\n",
            "<a>".repeat(depth),
            "</a>".repeat(depth)
        );
        fs_err::write(&path, text).unwrap();
        let err = error_text(&parse_file(&path, None).unwrap_err());
        assert!(
            err.contains("pom.xml:2: elements nest deeper than 256 levels"),
            "{err}"
        );
        // A POM at the limit still parses.
        let ok = format!(
            "<project>{}{}<groupId>g</groupId></project>",
            "<a>".repeat(250),
            "</a>".repeat(250)
        );
        fs_err::write(&path, ok).unwrap();
        parse_file(&path, None).unwrap();
    }

    #[test]
    fn bad_xml_and_wrong_root() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pom.xml");
        fs_err::write(&path, "<project>\n  <dependencies>\n  </project>\n").unwrap();
        let err = error_text(&parse_file(&path, None).unwrap_err());
        assert!(err.contains("pom.xml:3: invalid XML:"), "{err}");
        fs_err::write(&path, "<settings>\n</settings>\n").unwrap();
        let err = error_text(&parse_file(&path, None).unwrap_err());
        assert!(
            err.contains("pom.xml:1: the root element is <settings>, not <project>"),
            "{err}"
        );
    }
}
