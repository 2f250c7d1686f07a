//! Property tests of [`RepoPath::parse`] (see `crate::fuzz`): any request path is accepted or
//! refused without panicking, an accepted path holds no traversal, empty segment, backslash or
//! control character, and it survives the trip through [`RepoPath::url_segments`].

use proptest::prelude::*;
use proptest::sample::select;

use super::RepoPath;
use crate::fuzz;

/// Segments a hostile client would try, between ordinary ones.
const TRICKY: &[&str] = &[
    "",
    ".",
    "..",
    "%2e",
    "%2e%2e",
    "%2E%2e",
    ".%2e",
    "%252e%252e",
    "%2f",
    "%2F",
    "%5c",
    "%5C",
    "\\",
    "%00",
    "%0a",
    "%7f",
    "%c2%85",
    "%",
    "%z",
    "%zz",
    "%c3%28",
    "%e2%82",
    "%ff",
    "a%20b",
    "http:",
    "ftp:x",
    "http:127.0.0.1:19001",
    "%3f",
    "?",
    "#",
    "%23",
    "%25",
    "%2525",
    "é",
    "%e2%80%ae",
    "~",
    ";",
    "a;b=c",
    "+",
    "%2b",
    "\t",
    " ",
];

fn segment() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9._~+-]{1,12}",
        select(TRICKY).prop_map(str::to_owned),
        "[ -~]{0,6}",
        any::<String>().prop_map(|s| s.chars().take(6).collect()),
    ]
}

/// A path: segments joined by `/`, sometimes with a leading or trailing `/`.
fn raw_path() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(segment(), 1..7),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(segments, lead, trail)| {
            let mut p = segments.join("/");
            if lead {
                p.insert(0, '/');
            }
            if trail {
                p.push('/');
            }
            p
        })
}

fn check_accepted(raw: &str, path: &RepoPath) -> Result<(), TestCaseError> {
    let text = path.as_str();
    let body = text.strip_suffix('/').unwrap_or(text);
    for segment in body.split('/') {
        prop_assert!(
            !segment.is_empty() && segment != "." && segment != "..",
            "{raw:?} was accepted as {text:?}, with segment {segment:?}"
        );
    }
    prop_assert!(
        !text.chars().any(|c| c == '\\' || c.is_control()),
        "{raw:?} was accepted as {text:?}"
    );
    prop_assert_eq!(path.is_dir(), raw.ends_with('/'));
    let mut url_path = path.url_segments().collect::<Vec<_>>().join("/");
    if path.is_dir() {
        url_path.push('/');
    }
    prop_assert!(
        !url_path.contains(['?', '#', ' ', '\\']),
        "{raw:?} encodes to {url_path:?}"
    );
    let back = RepoPath::parse(&url_path);
    prop_assert_eq!(
        back.as_ref(),
        Ok(path),
        "{:?} → {:?} does not parse back",
        raw,
        url_path
    );
    Ok(())
}

proptest! {
    #![proptest_config(fuzz::config())]

    #[test]
    fn hostile_paths_are_refused_or_safe(raw in raw_path()) {
        if let Ok(path) = RepoPath::parse(&raw) {
            check_accepted(&raw, &path)?;
        }
    }

    #[test]
    fn any_text_is_refused_or_safe(raw in any::<String>()) {
        if let Ok(path) = RepoPath::parse(&raw) {
            check_accepted(&raw, &path)?;
        }
    }

    #[test]
    fn ordinary_paths_are_accepted(
        segments in prop::collection::vec("[a-zA-Z0-9_-][a-zA-Z0-9._-]{0,10}", 1..6),
    ) {
        let raw = segments.join("/");
        let path = RepoPath::parse(&raw);
        prop_assert_eq!(path.as_ref().map(RepoPath::as_str), Ok(raw.as_str()));
    }
}
