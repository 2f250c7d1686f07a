//! Request paths below a repository, checked before anything touches the cache or an upstream.
//!
//! A path is split on `/`, each segment percent-decoded, and refused when a segment is empty,
//! `.` or `..` (also when written `%2e%2e`), or when decoding produces `/`, `\` or a control
//! character. What passes can be joined under the cache directory; for an upstream URL each
//! segment is percent-encoded again and pushed onto the base (see `upstream.rs`).

use percent_encoding::percent_decode_str;

/// A validated, normalized relative path; a trailing `/` (a directory listing) is kept.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RepoPath {
    path: String,
}

/// Characters escaped in one path segment of an upstream URL: everything that could end the
/// segment (`/`, `\`, `?`, `#`), start an escape (`%`), or that HTTP servers disagree on.
const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'/')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'\\')
    .add(b'`')
    .add(b'{')
    .add(b'}')
    .add(b'^')
    .add(b'|')
    .add(b'[')
    .add(b']');

/// One decoded path segment percent-encoded for an upstream URL: `%2e%2e` stays `%252e%252e`,
/// `a/b` becomes `a%2Fb`, so the segment can never be read as `..`, a separator or a query.
pub fn encode_segment(segment: &str) -> String {
    percent_encoding::utf8_percent_encode(segment, SEGMENT).to_string()
}

/// Why a path was refused (answered 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad path `{path}`: {why}")]
pub struct BadPath {
    /// The path as requested.
    pub path: String,
    /// What is wrong with it.
    pub why: &'static str,
}

/// True when `body` (a path without its trailing `/`) is printable ASCII without `%` or `\\`
/// and has no empty, `.` or `..` segment: [`RepoPath::parse`] would keep it as it is.
fn plain(body: &str) -> bool {
    body.bytes()
        .all(|b| b.is_ascii_graphic() && b != b'%' && b != b'\\')
        && body
            .split('/')
            .all(|segment| !matches!(segment, "" | "." | ".."))
}

impl RepoPath {
    /// Checks a raw (still percent-encoded) path relative to the repository root.
    pub fn parse(raw: &str) -> Result<RepoPath, BadPath> {
        let bad = |why| BadPath {
            path: raw.to_owned(),
            why,
        };
        if raw.is_empty() {
            return Err(bad("empty path"));
        }
        if raw.starts_with('/') {
            return Err(bad("absolute or empty segment"));
        }
        let (body, dir) = match raw.strip_suffix('/') {
            Some(body) => (body, true),
            None => (raw, false),
        };
        if plain(body) {
            // Nothing to decode (every hit of a client that does not escape its paths): the
            // path is the raw one, copied once.
            return Ok(RepoPath {
                path: raw.to_owned(),
            });
        }
        Self::decode(raw, body, dir)
    }

    /// [`RepoPath::parse`] of `raw` (`body` and a trailing `/` or not) segment by segment.
    fn decode(raw: &str, body: &str, dir: bool) -> Result<RepoPath, BadPath> {
        let bad = |why| BadPath {
            path: raw.to_owned(),
            why,
        };
        let mut path = String::with_capacity(raw.len());
        for segment in body.split('/') {
            let decoded = percent_decode_str(segment)
                .decode_utf8()
                .map_err(|_| bad("not UTF-8"))?;
            if decoded.is_empty() {
                return Err(bad("empty segment"));
            }
            if decoded == "." || decoded == ".." {
                return Err(bad("`.` or `..` segment"));
            }
            if decoded
                .chars()
                .any(|c| c == '/' || c == '\\' || c.is_control())
            {
                return Err(bad("encoded `/`, `\\` or control character"));
            }
            if !path.is_empty() {
                path.push('/');
            }
            path.push_str(&decoded);
        }
        if dir {
            path.push('/');
        }
        Ok(RepoPath { path })
    }

    /// The decoded path, e.g. `org/example/a/1.0/a-1.0.jar`.
    pub fn as_str(&self) -> &str {
        &self.path
    }

    /// True for `…/` paths (directory listings).
    pub fn is_dir(&self) -> bool {
        self.path.ends_with('/')
    }

    /// The last segment (empty for a directory).
    pub fn file_name(&self) -> &str {
        self.path.rsplit('/').next().unwrap_or("")
    }

    /// The decoded segments (without the empty one after a trailing `/`).
    pub fn segments(&self) -> impl Iterator<Item = &str> {
        self.path.trim_end_matches('/').split('/')
    }

    /// The segments percent-encoded one by one, ready to push onto an upstream base URL.
    pub fn url_segments(&self) -> impl Iterator<Item = String> {
        self.segments().map(encode_segment)
    }

    /// This path with `suffix` cut from its end (`x.xml.sha1` → `x.xml`), without decoding it
    /// again; `None` when it does not end so or the last segment would be left empty.
    pub fn strip_suffix(&self, suffix: &str) -> Option<RepoPath> {
        let rest = self.path.strip_suffix(suffix)?;
        let last = rest.rsplit('/').next().unwrap_or("");
        if last.is_empty() || last == "." || last == ".." {
            return None;
        }
        Some(RepoPath {
            path: rest.to_owned(),
        })
    }

    /// A sibling path with `suffix` appended (`x.jar` → `x.jar.sha1`).
    pub fn with_suffix(&self, suffix: &str) -> RepoPath {
        RepoPath {
            path: format!("{}{suffix}", self.path),
        }
    }
}

#[cfg(test)]
mod fuzz_tests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_normal_and_directory_paths() {
        assert_eq!(
            RepoPath::parse("org/a/1.0/a-1.0.jar").unwrap().as_str(),
            "org/a/1.0/a-1.0.jar"
        );
        let dir = RepoPath::parse("org/a/").unwrap();
        assert!(dir.is_dir());
        assert_eq!(RepoPath::parse("a%2Bb/x").unwrap().as_str(), "a+b/x");
    }

    #[test]
    fn plain_paths_are_kept_as_decoding_would_keep_them() {
        for raw in [
            "org/a/1.0/a-1.0.jar",
            "org/a/",
            "a",
            "a/.b/..c/b./x..y",
            "a+b/~c/d:e/f@1.0/",
            "a/./b",
            "a/../b",
            "..",
            "a//b",
            "a/b c",
            "a/%41",
            "a/b\\c",
            "a/\u{85}b",
            "a/\u{e9}",
        ] {
            let (body, dir) = match raw.strip_suffix('/') {
                Some(body) => (body, true),
                None => (raw, false),
            };
            let decoded = RepoPath::decode(raw, body, dir);
            if plain(body) {
                assert_eq!(decoded.as_ref().map(RepoPath::as_str), Ok(raw), "{raw}");
            }
            assert_eq!(RepoPath::parse(raw), decoded, "{raw}");
        }
        assert!(plain("org/a/1.0/a-1.0.jar") && !plain("a/%41") && !plain("a/./b"));
    }

    #[test]
    fn refuses_traversal_in_every_spelling() {
        for raw in [
            "../etc/passwd",
            "a/../b",
            "a/%2e%2e/b",
            "a/%2E%2E",
            "a/./b",
            "a//b",
            "/abs",
            "a/%2fb",
            "a/b%5c..",
            "a%00b",
            "",
        ] {
            assert!(RepoPath::parse(raw).is_err(), "{raw} should be refused");
        }
    }

    #[test]
    fn suffixes_are_cut_without_decoding_again() {
        let p = RepoPath::parse("a%2500/maven-metadata.xml.sha1").unwrap();
        let cut = p.strip_suffix(".sha1").unwrap();
        assert_eq!(cut.as_str(), "a%00/maven-metadata.xml");
        assert!(
            RepoPath::parse("a/.sha1")
                .unwrap()
                .strip_suffix(".sha1")
                .is_none()
        );
        assert!(
            RepoPath::parse("a/x.md5")
                .unwrap()
                .strip_suffix(".sha1")
                .is_none()
        );
    }

    #[test]
    fn encodes_for_upstream() {
        let p = RepoPath::parse("a/b%20c/d%23e/%252e%252e/http:x/").unwrap();
        let segments: Vec<String> = p.url_segments().collect();
        assert_eq!(segments, ["a", "b%20c", "d%23e", "%252e%252e", "http:x"]);
    }
}
