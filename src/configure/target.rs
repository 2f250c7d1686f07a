//! The repox server a client is pointed at: its base URL, the path each ecosystem is served
//! under, and the credentials to present.
//!
//! Every editor derives its URLs from here, so the path scheme (`/pypi/simple/`, `/conda/`,
//! `/maven/`, `/npm/`, `/cargo/index/`) is written down once. Credentials come from an
//! environment variable (`--password-env`, `--token-env`) or a hidden prompt, never from the
//! command line, and each client module stores them where its client keeps credentials (netrc,
//! `<server>`, `_authToken`, `credentials.toml`, …), not in the index URL where it can help it.

use url::Url;

/// User name sent with a token to clients that only speak basic auth, when `--user` is not
/// given: repox takes a token with this user name (or its owner's) as the token's owner, like
/// PyPI does.
pub const DEFAULT_USERNAME: &str = "__token__";

/// The prefix of tokens made by `repox token create`.
pub use repox_proxy::auth::secret::TOKEN_PREFIX;

/// Credentials for the repox server. `Debug` never shows the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: Option<String>,
    /// A repox token or the user's password.
    pub token: String,
    /// The secret is a password (from `--password-env`, or typed at the prompt and not shaped
    /// like a repox token): it only works as the password of basic auth.
    pub password: bool,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("token", &"***")
            .field("password", &self.password)
            .finish()
    }
}

impl Credentials {
    /// The user name for basic auth.
    pub fn username(&self) -> &str {
        self.username.as_deref().unwrap_or(DEFAULT_USERNAME)
    }

    /// Whether the secret is a repox token (which clients may send as a bearer token) rather
    /// than a password (which only works as the password of basic auth).
    pub fn is_token(&self) -> bool {
        !self.password
    }

    /// `Basic base64(user:secret)`, for clients that send a configured header value verbatim.
    pub fn basic_header(&self) -> String {
        use base64::Engine as _;
        let raw = format!("{}:{}", self.username(), self.token);
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        )
    }

    /// Every spelling of the secret an editor may write (raw, percent-encoded, XML- and
    /// string-escaped, inside base64), longest first: what a diff shown on screen must mask.
    pub fn secret_forms(&self) -> Vec<String> {
        use base64::Engine as _;
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let mut forms = vec![
            self.token.clone(),
            percent_encoding::utf8_percent_encode(&self.token, USERINFO).to_string(),
            super::xml::escape(&self.token),
            self.token.replace('\\', "\\\\").replace('"', "\\\""),
            self.token.replace('\\', "\\\\").replace('\'', "\\'"),
            b64(&self.token),
            b64(&format!("{}:{}", self.username(), self.token)),
        ];
        forms.retain(|f| !f.is_empty());
        forms.sort();
        forms.dedup();
        forms.sort_by_key(|f| std::cmp::Reverse(f.len()));
        forms
    }
}

/// The characters `Url::set_password` percent-encodes (WHATWG userinfo set).
const USERINFO: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}')
    .add(b'/')
    .add(b':')
    .add(b';')
    .add(b'=')
    .add(b'@')
    .add(b'[')
    .add(b'\\')
    .add(b']')
    .add(b'^')
    .add(b'|');

/// `text` (a diff) with every form of `secrets` replaced by `***`, and then, line by line, every
/// value that looks like a credential (for `--undo`, which does not know the secret).
pub fn mask(text: &str, secrets: &[String]) -> String {
    let mut out = text.to_owned();
    for s in secrets {
        out = out.replace(s.as_str(), "***");
    }
    out.split_inclusive('\n').map(mask_line).collect()
}

/// Keys whose value is a secret, lower-cased, matched at the end of a key (`//host/:_authToken`,
/// `repox.password`, `repoxPassword`, netrc's `password`, `<password>`).
const SECRET_KEYS: &[&str] = &["password", "_authtoken", "_auth", "token", "npmauthident"];

/// One line with credential-looking values masked.
fn mask_line(line: &str) -> String {
    let mut line = line.to_owned();
    // URL userinfo: scheme://user:SECRET@
    if let Some(at) = line.find("://") {
        let rest = &line[at + 3..];
        let end = rest.find(['/', ' ', '"', '\'', '<']).unwrap_or(rest.len());
        if let Some(amp) = rest[..end].rfind('@')
            && let Some(colon) = rest[..amp].find(':')
            && &rest[colon + 1..amp] != "***"
        {
            line.replace_range(at + 3 + colon + 1..at + 3 + amp, "***");
        }
    }
    let lower = line.to_ascii_lowercase();
    // <password>SECRET</password>
    if let (Some(open), Some(close)) = (lower.find("<password>"), lower.find("</password>"))
        && open + 10 <= close
    {
        line.replace_range(open + 10..close, "***");
        return line;
    }
    // netrc: `password SECRET` anywhere on the line.
    let words: Vec<&str> = line.split_whitespace().collect();
    if let Some(i) = words.iter().position(|w| *w == "password")
        && let Some(secret) = words.get(i + 1)
        && *secret != "***"
    {
        return line.replacen(&format!("password {secret}"), "password ***", 1);
    }
    // key=value, key = "value", key: value
    let body = line.trim_start_matches(['+', '-', ' ']);
    if let Some(sep) = body.find('=').or_else(|| body.find(':'))
        && SECRET_KEYS
            .iter()
            .any(|k| body[..sep].trim().to_ascii_lowercase().ends_with(k))
    {
        let after = line.len() - body.len() + sep + 1;
        let start = after + (line[after..].len() - line[after..].trim_start().len());
        let end = line.trim_end().len().max(start);
        if start < end && line[start..end].trim_matches('"') != "***" {
            line.replace_range(start..end, "***");
        }
    }
    line
}

/// Where clients should send their requests.
#[derive(Debug, Clone)]
pub struct Target {
    base: Url,
    pub credentials: Option<Credentials>,
    /// Maven `<mirrorOf>`: `*` or `external:*`.
    pub maven_mirror_of: &'static str,
    /// Maven and Ivy repositories repox proxies at `/maven/` (coursier mirrors them all).
    pub maven_upstreams: Vec<String>,
    /// Other base URLs that count as this repox for `--status` (those `configure` wrote).
    also: Vec<Url>,
    /// `--snapshot 2025-06-01`: every index URL reads the repository as it was at that date
    /// (`/pypi/@2025-06-01/simple/`).
    pub snapshot: Option<String>,
    /// `--publish`: the hosted repository uploads go to (a validated URL path segment).
    pub publish: Option<String>,
}

/// The public repositories behind `/maven/` in the embedded default configuration, used when
/// the effective configuration has no `maven` repository.
pub const DEFAULT_MAVEN_UPSTREAMS: &[&str] = &[
    "https://repo1.maven.org/maven2",
    "https://repo.maven.apache.org/maven2",
    "https://maven.google.com",
    "https://plugins.gradle.org/m2",
    "https://repo.scala-sbt.org/scalasbt/sbt-plugin-releases",
    "https://repo.typesafe.com/typesafe/ivy-releases",
];

impl Target {
    /// A target at `base`; the URL must be http(s) without credentials, query or fragment.
    pub fn new(base: &Url) -> Result<Target, String> {
        if !matches!(base.scheme(), "http" | "https") {
            return Err(format!("--url {base} is not an http:// or https:// URL"));
        }
        if base.host_str().is_none() {
            return Err(format!("--url {base} has no host"));
        }
        if !base.username().is_empty() || base.password().is_some() {
            return Err(
                "--url must not contain credentials; put the token in an environment variable \
                 and pass --user NAME --token-env VAR"
                    .to_owned(),
            );
        }
        if base.query().is_some() || base.fragment().is_some() {
            return Err(format!("--url {base} must not have a query or fragment"));
        }
        let mut base = base.clone();
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        Ok(Target {
            base,
            credentials: None,
            maven_mirror_of: "*",
            maven_upstreams: DEFAULT_MAVEN_UPSTREAMS
                .iter()
                .map(|s| s.to_string())
                .collect(),
            also: Vec::new(),
            snapshot: None,
            publish: None,
        })
    }

    /// The base URL, ending in `/`.
    pub fn base(&self) -> &Url {
        &self.base
    }

    /// Counts URLs under `base` as this repox too (see [`Target::serves`]).
    pub fn also_serves(&mut self, base: Url) {
        if base != self.base && !self.also.contains(&base) {
            self.also.push(base);
        }
    }

    /// `repo/rest`, or `repo/@DATE/rest` with a snapshot date.
    fn under(&self, repo: &str, rest: &str) -> String {
        match &self.snapshot {
            Some(date) => format!("{repo}/@{date}/{rest}"),
            None => format!("{repo}/{rest}"),
        }
    }

    /// The upload URL of the `--publish` repository (`…/REPO/`), without userinfo.
    pub fn publish_url(&self) -> Option<String> {
        let repo = self.publish.as_deref()?;
        Some(self.join(&format!("{repo}/")).to_string())
    }

    /// `base` + `path` (a relative path such as `pypi/simple/`).
    pub fn join(&self, path: &str) -> Url {
        self.base
            .join(path)
            .expect("a relative path joins onto an http URL")
    }

    /// [`Target::join`] with the credentials as URL userinfo, for clients that read them there.
    pub fn join_with_userinfo(&self, path: &str) -> Url {
        let mut url = self.join(path);
        if let Some(creds) = &self.credentials {
            // Url percent-encodes reserved characters, as pip and conda expect.
            let _ = url.set_username(creds.username());
            let _ = url.set_password(Some(&creds.token));
        }
        url
    }

    /// PyPI simple index, without userinfo (pip and uv read credentials from netrc).
    pub fn pypi_simple(&self) -> String {
        self.join(&self.under("pypi", "simple/")).to_string()
    }

    /// conda channel base (`…/conda/`), with userinfo.
    pub fn conda(&self) -> String {
        self.join_with_userinfo(&self.under("conda", ""))
            .to_string()
    }

    /// Maven/Ivy repository (`…/maven/`), without userinfo.
    pub fn maven(&self) -> String {
        self.join(&self.under("maven", "")).to_string()
    }

    /// npm registry (`…/npm/`), without userinfo.
    pub fn npm(&self) -> String {
        self.join(&self.under("npm", "")).to_string()
    }

    /// cargo sparse index, with the `sparse+` prefix cargo ≥ 1.68 needs.
    pub fn cargo_sparse(&self) -> String {
        format!("sparse+{}", self.join(&self.under("cargo", "index/")))
    }

    /// Host name (no port), for allow-lists keyed by host.
    pub fn host(&self) -> &str {
        self.base.host_str().expect("checked in Target::new")
    }

    /// `host:port` when the port is explicit, else `host`.
    pub fn host_port(&self) -> String {
        match self.base.port() {
            Some(port) => format!("{}:{port}", self.host()),
            None => self.host().to_owned(),
        }
    }

    /// Plain http.
    pub fn is_http(&self) -> bool {
        self.base.scheme() == "http"
    }

    /// Plain http to a host other than the loopback interface: the case some clients refuse
    /// unless the host is explicitly trusted.
    pub fn is_insecure_remote(&self) -> bool {
        self.is_http() && !is_loopback(&self.base)
    }

    /// Whether `url` points into this repox server (ignoring credentials, case of the host and
    /// a `sparse+` prefix), or into one of the bases added by [`Target::also_serves`].
    pub fn serves(&self, url: &str) -> bool {
        let url = url.trim().trim_start_matches("sparse+");
        let Ok(mut parsed) = Url::parse(url) else {
            return false;
        };
        let _ = parsed.set_username("");
        let _ = parsed.set_password(None);
        let path = format!("{}/", parsed.path().trim_end_matches('/'));
        std::iter::once(&self.base).chain(&self.also).any(|base| {
            parsed.scheme() == base.scheme()
                && parsed.host_str() == base.host_str()
                && parsed.port_or_known_default() == base.port_or_known_default()
                && path.starts_with(base.path())
        })
    }
}

/// `localhost`, `127.0.0.0/8` or `::1`: the origins pip treats as secure.
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// `url` with any password replaced by `***`, for printing.
pub fn redact(url: &str) -> String {
    match Url::parse(url.trim_start_matches("sparse+")) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            let prefix = if url.starts_with("sparse+") {
                "sparse+"
            } else {
                ""
            };
            format!("{prefix}{parsed}")
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(url: &str) -> Target {
        Target::new(&Url::parse(url).unwrap()).unwrap()
    }

    #[test]
    fn paths_under_the_base() {
        let t = target("http://127.0.0.1:8078");
        assert_eq!(t.pypi_simple(), "http://127.0.0.1:8078/pypi/simple/");
        assert_eq!(t.conda(), "http://127.0.0.1:8078/conda/");
        let mut snap = t.clone();
        snap.snapshot = Some("2025-06-01".into());
        assert_eq!(
            snap.pypi_simple(),
            "http://127.0.0.1:8078/pypi/@2025-06-01/simple/"
        );
        assert_eq!(snap.conda(), "http://127.0.0.1:8078/conda/@2025-06-01/");
        assert_eq!(snap.npm(), "http://127.0.0.1:8078/npm/@2025-06-01/");
        assert_eq!(snap.maven(), "http://127.0.0.1:8078/maven/@2025-06-01/");
        assert_eq!(
            snap.cargo_sparse(),
            "sparse+http://127.0.0.1:8078/cargo/@2025-06-01/index/"
        );
        assert_eq!(t.maven(), "http://127.0.0.1:8078/maven/");
        assert_eq!(t.npm(), "http://127.0.0.1:8078/npm/");
        assert_eq!(
            t.cargo_sparse(),
            "sparse+http://127.0.0.1:8078/cargo/index/"
        );
        let t = target("https://proxy.corp/repox");
        assert_eq!(t.npm(), "https://proxy.corp/repox/npm/");
    }

    #[test]
    fn userinfo_is_percent_encoded() {
        let mut t = target("https://repox.lan/");
        t.credentials = Some(Credentials {
            username: None,
            token: "he//o:@".into(),
            password: false,
        });
        assert_eq!(
            t.conda(),
            "https://__token__:he%2F%2Fo%3A%40@repox.lan/conda/"
        );
        assert_eq!(t.pypi_simple(), "https://repox.lan/pypi/simple/");
        let forms = t.credentials.as_ref().unwrap().secret_forms();
        assert!(forms.contains(&"he%2F%2Fo%3A%40".to_owned()), "{forms:?}");
        assert_eq!(t.maven(), "https://repox.lan/maven/");
    }

    #[test]
    fn rejects_bad_urls() {
        for bad in ["ftp://h/", "http://u:p@h/", "http://h/?q=1"] {
            assert!(Target::new(&Url::parse(bad).unwrap()).is_err(), "{bad}");
        }
    }

    #[test]
    fn serves_recognises_own_urls() {
        let t = target("http://127.0.0.1:8078/");
        assert!(t.serves("http://127.0.0.1:8078/pypi/simple/"));
        assert!(t.serves("http://u:p@127.0.0.1:8078/pypi/simple"));
        assert!(t.serves("sparse+http://127.0.0.1:8078/cargo/index/"));
        assert!(!t.serves("https://pypi.org/simple"));
        assert!(!t.serves("http://127.0.0.1:9000/pypi/simple/"));
        let t = target("http://h/repox/");
        assert!(t.serves("http://h/repox"));
        assert!(!t.serves("http://h/other/"));
    }

    #[test]
    fn loopback_and_insecure() {
        assert!(!target("http://localhost:8078").is_insecure_remote());
        assert!(!target("http://[::1]:8078").is_insecure_remote());
        assert!(target("http://repox.lan:8078").is_insecure_remote());
        assert!(!target("https://repox.lan").is_insecure_remote());
        assert_eq!(
            target("http://repox.lan:8078").host_port(),
            "repox.lan:8078"
        );
        assert_eq!(target("http://repox.lan").host_port(), "repox.lan");
    }

    #[test]
    fn masks_credential_looking_values() {
        let diff = "--- a\n+++ b\n\
                    +machine h login u password s3cret\n\
                    -//h/npm/:_authToken=npm_abc\n\
                    +repox.password=x\n\
                    +  <password>p&amp;w</password>\n\
                    +[registries.repox]\n\
                    +token = \"cio\"\n\
                    +channel_alias: http://al:pw@h/conda/\n\
                    +registry=http://h/npm/\n";
        let masked = mask(diff, &[]);
        for secret in ["s3cret", "npm_abc", "=x", "p&amp;w", "cio", ":pw@"] {
            assert!(!masked.contains(secret), "{secret} in {masked}");
        }
        assert!(masked.contains("+registry=http://h/npm/\n"), "{masked}");
        assert!(masked.contains("+[registries.repox]\n"), "{masked}");
        assert!(masked.contains("al:***@h"), "{masked}");
    }

    /// 5000 random lines from credential-ish pieces (multi-byte characters included): masking
    /// never panics and never lets a planted secret through.
    #[test]
    fn masking_random_lines() {
        const PIECES: &[&str] = &[
            "password",
            "Password",
            " ",
            "=",
            ":",
            "\"",
            "<password>",
            "</password>",
            "://",
            "@",
            "_authToken",
            "token",
            "é",
            "ß",
            "/",
            "+",
            "-",
            "\n",
            "http",
            "u",
            "SECRET",
        ];
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = |n: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n as u64) as usize
        };
        for _ in 0..5000 {
            let mut line = String::new();
            for _ in 0..next(14) {
                line.push_str(PIECES[next(PIECES.len())]);
            }
            let masked = mask(&line, &["SECRET".to_owned()]);
            assert!(!masked.contains("SECRET"), "{line:?} -> {masked:?}");
        }
    }

    #[test]
    fn redacts_passwords() {
        assert_eq!(redact("http://u:secret@h/x/"), "http://u:***@h/x/");
        assert_eq!(redact("https://pypi.org/simple"), "https://pypi.org/simple");
    }
}
