//! `repox configure --status`: for every client, the index or registry URL in effect and every
//! file or environment variable that sets or shadows it, with those that bypass repox marked.
//!
//! Client modules fill a [`Status`] in their client's precedence order (lowest first) and point
//! at the finding that wins; this module only stores and prints. The same report runs after a
//! configure, so a user learns right away when a project file or a variable still wins. Where a
//! client keeps a login for the repox host, the report names the file and the user name, never
//! the secret.

use std::path::Path;

use super::Client;
use super::env::Env;
use super::files;
use super::target::{Target, redact};
use super::text::Malformed;

/// One setting found in a file or the environment.
#[derive(Debug, Clone)]
pub struct Finding {
    /// A path (`~`-shortened) or `$VARIABLE`.
    pub source: String,
    /// What was read there, e.g. `[global] index-url`.
    pub setting: String,
    /// The value, passwords redacted.
    pub value: String,
    /// Whether the URL goes through repox; `None` for values that are not index URLs.
    pub repox: Option<bool>,
    /// An additional index that is queried too (pip `extra-index-url`, …).
    pub extra: bool,
    /// Something repox's configuration does not cover (an upstream nothing redirects, a
    /// missing flag); counts against "everything goes through repox".
    pub gap: bool,
}

/// What one client will use.
#[derive(Debug, Clone)]
pub struct Status {
    pub client: Client,
    target: Target,
    /// The client's built-in default, in effect when nothing sets it.
    default: String,
    pub findings: Vec<Finding>,
    effective: Option<usize>,
    pub notes: Vec<String>,
    /// Where the client keeps credentials for repox (file and user name, no secret).
    pub credentials: Vec<String>,
}

impl Status {
    pub fn new(client: Client, default: &str, target: &Target) -> Status {
        Status {
            client,
            target: target.clone(),
            default: default.to_owned(),
            findings: Vec::new(),
            effective: None,
            notes: Vec::new(),
            credentials: Vec::new(),
        }
    }

    /// Records that `path` holds credentials for repox (`user`: the user name, if known).
    pub fn credentials_in(&mut self, env: &Env, path: &Path, what: &str, user: Option<&str>) {
        let user = user.map(|u| format!(", user {u}")).unwrap_or_default();
        self.credentials
            .push(format!("{} ({what}{user})", env.display(path)));
    }

    /// The repox server's host (the key of netrc, Ivy and coursier credentials).
    pub fn target_host(&self) -> &str {
        self.target.host()
    }

    fn push(&mut self, source: String, setting: String, value: &str, judge: bool) -> usize {
        let repox = judge.then(|| self.target.serves(value));
        if repox == Some(true)
            && let Ok(url) = url::Url::parse(value.trim().trim_start_matches("sparse+"))
            && url.password().is_some()
        {
            let place = format!("{source} {setting}").trim().to_owned();
            let entry = format!("{place} (in the URL, user {})", url.username());
            if !self.credentials.contains(&entry) {
                self.credentials.push(entry);
            }
        }
        self.findings.push(Finding {
            source,
            setting,
            value: redact(value),
            repox,
            extra: false,
            gap: false,
        });
        self.findings.len() - 1
    }

    /// A URL read from a file.
    pub fn file(&mut self, env: &Env, path: &Path, setting: impl Into<String>, url: &str) -> usize {
        self.push(env.display(path), setting.into(), url, true)
    }

    /// A URL read from an environment variable.
    pub fn var(&mut self, name: &str, url: &str) -> usize {
        self.push(format!("${name}"), String::new(), url, true)
    }

    /// An upstream the client reaches directly because nothing redirects it.
    pub fn direct(&mut self, what: &str, url: &str) -> usize {
        let i = self.push("(nothing set)".to_owned(), what.to_owned(), url, true);
        self.findings[i].gap = true;
        i
    }

    /// Something that bypasses repox without being a URL (a missing flag, …).
    pub fn bypass(&mut self, source: String, what: &str, detail: &str) -> usize {
        let i = self.push(source, what.to_owned(), detail, false);
        self.findings[i].repox = Some(false);
        self.findings[i].gap = true;
        i
    }

    /// A setting that matters but is not an index URL (a flag, a file that exists, …).
    pub fn info(&mut self, source: String, setting: impl Into<String>, value: &str) -> usize {
        self.push(source, setting.into(), value, false)
    }

    /// Marks a finding as an additional index.
    pub fn extra(&mut self, i: usize) {
        self.findings[i].extra = true;
    }

    /// Marks the finding that wins.
    pub fn set_effective(&mut self, i: usize) {
        self.effective = Some(i);
    }

    pub fn note(&mut self, note: impl Into<String>) {
        self.notes.push(note.into());
    }

    /// Reads and parses a file that may not exist. A file that cannot be read or parsed becomes
    /// a note (the client would likely fail on it too) and `None`.
    pub fn read<T>(
        &mut self,
        env: &Env,
        path: &Path,
        parse: impl FnOnce(&str) -> Result<T, Malformed>,
    ) -> Option<T> {
        match files::read(path) {
            Ok(Some(text)) => match parse(files::split_bom(&text).1) {
                Ok(parsed) => Some(parsed),
                Err(e) => {
                    self.note(format!("{}: {e}", env.display(path)));
                    None
                }
            },
            Ok(None) => None,
            Err(e) => {
                self.note(format!("{e:#}"));
                None
            }
        }
    }

    /// The winning value and whether it goes through repox.
    pub fn effective(&self) -> (String, String, bool) {
        match self.effective.map(|i| &self.findings[i]) {
            Some(f) => (
                f.value.clone(),
                format!("{} {}", f.source, f.setting).trim().to_owned(),
                f.repox.unwrap_or(false),
            ),
            None => (
                self.default.clone(),
                "built-in default".to_owned(),
                self.target.serves(&self.default),
            ),
        }
    }

    /// Whether the winning value and every additional index go through repox.
    pub fn all_repox(&self) -> bool {
        self.effective().2
            && self
                .findings
                .iter()
                .all(|f| !(f.extra || f.gap) || f.repox != Some(false))
    }

    /// The report for this client.
    pub fn render(&self) -> String {
        let (value, source, repox) = self.effective();
        let verdict = if repox { "via repox" } else { "NOT via repox" };
        let mut out = format!("{}: {verdict}: {value} ({source})\n", self.client.name());
        for (i, f) in self.findings.iter().enumerate() {
            let mut tags = Vec::new();
            match f.repox {
                Some(true) => tags.push("repox"),
                Some(false) => tags.push("NOT repox"),
                None => {}
            }
            if f.extra {
                tags.push("also queried");
            }
            if Some(i) == self.effective {
                tags.push("in effect");
            }
            let setting = if f.setting.is_empty() {
                String::new()
            } else {
                format!(" {}", f.setting)
            };
            let tags = if tags.is_empty() {
                String::new()
            } else {
                format!("  [{}]", tags.join(", "))
            };
            out.push_str(&format!("  {}{setting} = {}{tags}\n", f.source, f.value));
        }
        for place in &self.credentials {
            out.push_str(&format!("  credentials for repox: {place}\n"));
        }
        for note in &self.notes {
            out.push_str(&format!("  note: {note}\n"));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::configure::env::Os;

    #[test]
    fn render_marks_bypasses() {
        let target = Target::new(&url::Url::parse("http://127.0.0.1:8078/").unwrap()).unwrap();
        let env = Env::fake(Path::new("/home/u"), Path::new("/"), Os::Linux, &[]);
        let mut s = Status::new(Client::Pip, "https://pypi.org/simple", &target);
        let a = s.file(
            &env,
            Path::new("/home/u/.config/pip/pip.conf"),
            "[global] index-url",
            "http://127.0.0.1:8078/pypi/simple/",
        );
        s.set_effective(a);
        let b = s.var("PIP_INDEX_URL", "https://user:pw@pypi.org/simple");
        s.set_effective(b);
        let text = s.render();
        assert!(
            text.starts_with(
                "pip: NOT via repox: https://user:***@pypi.org/simple ($PIP_INDEX_URL)"
            ),
            "{text}"
        );
        assert!(
            text.contains("[global] index-url = http://127.0.0.1:8078/pypi/simple/  [repox]"),
            "{text}"
        );
        assert!(
            text.contains(
                "$PIP_INDEX_URL = https://user:***@pypi.org/simple  [NOT repox, in effect]"
            ),
            "{text}"
        );
        assert!(!s.all_repox());
    }

    #[test]
    fn credentials_are_named_never_shown() {
        let target = Target::new(&url::Url::parse("http://127.0.0.1:8078/").unwrap()).unwrap();
        let env = Env::fake(Path::new("/home/u"), Path::new("/"), Os::Linux, &[]);
        let mut s = Status::new(Client::Conda, "https://conda.anaconda.org/", &target);
        let i = s.file(
            &env,
            Path::new("/home/u/.condarc"),
            "channel_alias",
            "http://al:s3cret@127.0.0.1:8078/conda/",
        );
        s.set_effective(i);
        s.credentials_in(
            &env,
            Path::new("/home/u/.netrc"),
            "machine 127.0.0.1",
            Some("al"),
        );
        let text = s.render();
        assert!(!text.contains("s3cret"), "{text}");
        assert!(
            text.contains(
                "  credentials for repox: ~/.condarc channel_alias (in the URL, user al)\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("  credentials for repox: ~/.netrc (machine 127.0.0.1, user al)\n"),
            "{text}"
        );
    }

    #[test]
    fn default_when_nothing_is_set() {
        let target = Target::new(&url::Url::parse("http://127.0.0.1:8078/").unwrap()).unwrap();
        let s = Status::new(Client::Npm, "https://registry.npmjs.org/", &target);
        assert_eq!(
            s.render(),
            "npm: NOT via repox: https://registry.npmjs.org/ (built-in default)\n"
        );
    }
}
