//! "Set me up": for each repository, the client configuration that points a client at this
//! server, written as `repox configure` writes it (`src/configure/`), and the `repox configure`
//! command that writes it. Used by the set-up page and by the plain-text answers at `/` and at a
//! bare repository root (`/pypi/`), which a person tries with curl before anything else.

use crate::config::Kind;
use crate::repository::Repository;

/// One client's configuration for one repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientConfig {
    /// The client (`pip`, `npm`, …).
    pub client: &'static str,
    /// Where the text goes (user scope, Linux/macOS).
    pub file: &'static str,
    /// What `repox configure` puts there.
    pub text: String,
}

/// The name `repox configure` expects each kind of repository to have (its URLs are
/// `/pypi/simple/`, `/npm/`, …).
pub fn default_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Maven => "maven",
        Kind::Pypi => "pypi",
        Kind::Conda => "conda",
        Kind::Npm => "npm",
        Kind::Cargo => "cargo",
    }
}

/// The clients `repox configure` knows for a kind of repository.
pub fn clients(kind: Kind) -> &'static [&'static str] {
    match kind {
        Kind::Maven => &["maven", "gradle", "sbt", "coursier"],
        Kind::Pypi => &["pip", "uv"],
        Kind::Conda => &["conda", "pixi"],
        Kind::Npm => &["npm"],
        Kind::Cargo => &["cargo"],
    }
}

/// The `repox configure` command for `repo` on the server at `origin`, or `None` when the
/// repository is not at the path `repox configure` writes (its name is not the default).
pub fn command(repo: &Repository, origin: &str) -> Option<String> {
    let kind = repo.config.kind;
    (repo.name == default_name(kind)).then(|| {
        format!(
            "repox configure --url {origin}/ {}",
            clients(kind).join(" ")
        )
    })
}

/// `origin` without its scheme and with its port, for allow-lists keyed by host.
fn host_port(origin: &str) -> &str {
    origin.split_once("://").map_or(origin, |(_, h)| h)
}

/// Plain http to a host other than the loopback interface: pip and conda need it trusted.
fn insecure_remote(origin: &str) -> bool {
    let host = host_port(origin);
    let host = host
        .rsplit_once(':')
        .filter(|(_, port)| port.chars().all(|c| c.is_ascii_digit()))
        .map_or(host, |(h, _)| h);
    origin.starts_with("http://")
        && !matches!(host, "localhost" | "127.0.0.1" | "[::1]")
        && !host.starts_with("127.")
}

/// The configuration of each client of `repo` for the server at `origin` (`http://host:port`).
pub fn configs(repo: &Repository, origin: &str) -> Vec<ClientConfig> {
    let base = format!("{origin}/{}/", repo.name);
    match repo.config.kind {
        Kind::Pypi => {
            let mut pip = format!("[global]\nindex-url = {base}simple/\n");
            if insecure_remote(origin) {
                let host = host_port(origin);
                let host = host.rsplit_once(':').map_or(host, |(h, _)| h);
                pip.push_str(&format!("trusted-host = {host}\n"));
            }
            vec![
                ClientConfig {
                    client: "pip",
                    file: "~/.config/pip/pip.conf",
                    text: pip,
                },
                ClientConfig {
                    client: "uv",
                    file: "~/.config/uv/uv.toml",
                    text: format!(
                        "[[index]]\nname = \"repox\"\nurl = \"{base}simple/\"\ndefault = true\n"
                    ),
                },
            ]
        }
        Kind::Npm => vec![ClientConfig {
            client: "npm",
            file: "~/.npmrc",
            text: format!("registry={base}\n"),
        }],
        Kind::Cargo => vec![ClientConfig {
            client: "cargo",
            file: "~/.cargo/config.toml",
            text: format!(
                "[source.crates-io]\nreplace-with = \"repox\"\n\n[source.repox]\nregistry = \"sparse+{base}index/\"\n"
            ),
        }],
        Kind::Conda => vec![ClientConfig {
            client: "conda",
            file: "~/.condarc",
            text: format!(
                "channel_alias: {base}\ndefault_channels:\n  - {base}pkgs/main\n  - {base}pkgs/r\n"
            ),
        }],
        Kind::Maven => vec![
            ClientConfig {
                client: "maven",
                file: "~/.m2/settings.xml",
                text: format!(
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
                     <settings xmlns=\"http://maven.apache.org/SETTINGS/1.0.0\"\n          \
                     xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"\n          \
                     xsi:schemaLocation=\"http://maven.apache.org/SETTINGS/1.0.0 \
                     https://maven.apache.org/xsd/settings-1.0.0.xsd\">\n  \
                     <mirrors>\n    <mirror>\n      <id>repox</id>\n      \
                     <name>repox caching proxy</name>\n      <url>{base}</url>\n      \
                     <mirrorOf>*</mirrorOf>\n    </mirror>\n  </mirrors>\n</settings>\n"
                ),
            },
            ClientConfig {
                client: "gradle",
                file: "~/.gradle/init.d/repox.gradle",
                text: format!(
                    "// Every Maven and Ivy repository of every build goes through repox\n\
                     // (`repox configure gradle` writes the full script).\n\
                     def repoxUrl = '{base}'\n\
                     allprojects {{\n    repositories.configureEach {{ repo ->\n        \
                     if (repo instanceof UrlArtifactRepository) repo.url = repoxUrl\n    }}\n}}\n"
                ),
            },
        ],
    }
}

/// What `curl /NAME/` answers: what the repository is, its upstreams, and how to point a
/// client at it.
pub fn repository_text(repo: &Repository, origin: &str) -> String {
    let mut out = format!(
        "{origin}/{}/ is a repox {} repository: a caching proxy of\n",
        repo.name,
        repo.config.kind.as_str()
    );
    for up in &repo.config.upstreams {
        out.push_str(&format!(
            "  {} {} (priority {}{})\n",
            up.name,
            crate::breaker::redact(up.url.as_str()),
            up.priority,
            if up.enabled { "" } else { ", disabled" }
        ));
    }
    out.push_str("\nTo use it:\n");
    if let Some(command) = command(repo, origin) {
        out.push_str(&format!("  {command}\nor write it yourself:\n"));
    }
    for c in configs(repo, origin) {
        out.push_str(&format!("\n# {} ({})\n{}", c.client, c.file, c.text));
    }
    out.push_str(&format!(
        "\nSet-up page for every client: {origin}/-/ui/setup\n"
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_http_to_another_host_needs_trust() {
        assert!(!insecure_remote("http://127.0.0.1:8078"));
        assert!(!insecure_remote("http://localhost:8078"));
        assert!(!insecure_remote("https://repox.lan"));
        assert!(insecure_remote("http://repox.lan:8078"));
        assert_eq!(host_port("http://repox.lan:8078"), "repox.lan:8078");
    }
}
