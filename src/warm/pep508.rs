//! Requirement parsing that cannot panic. pep508_rs 0.9.2 panics on two kinds of input:
//! `parse_name` and `parse_extras` end with an `expect` that fails on a name or extra ending in
//! `.`, `-` or `_` when more text follows (`foo- >=1`, `foo[bar- ]`), and the marker parser
//! slices a byte string with a length counted in characters, which panics on non-ASCII text
//! after a marker (`foo ; python_version >= "3.9"ꝸ`). Requirements come from users' files and
//! from upstream metadata (`Requires-Dist`), so every parse goes through [`requirement`], which
//! refuses those inputs first with an error like the one pep508_rs gives.

use std::str::FromStr as _;

use pep508_rs::{Pep508Error, Pep508ErrorSource, Requirement};
use url::Url;

/// [`Requirement::from_str`], without the panic.
pub fn requirement(text: &str) -> Result<Requirement<Url>, Pep508Error<Url>> {
    let refuse = |at: usize, why: &str| Pep508Error {
        message: Pep508ErrorSource::String(why.to_owned()),
        start: at,
        len: 1,
        input: text.to_owned(),
    };
    if let Some(at) = bad_name_end(text) {
        let why = "a name must end with a letter or digit, not `.`, `-` or `_`";
        return Err(refuse(at, why));
    }
    // Markers only start after a `;`.
    if text.contains(';')
        && let Some(at) = text.find(|c: char| !c.is_ascii())
    {
        let why = "a requirement with environment markers must be ASCII";
        return Err(refuse(at, why));
    }
    Requirement::from_str(text)
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')
}

/// The byte offset of a trailing `.`, `-` or `_` that would make pep508_rs panic.
fn bad_name_end(text: &str) -> Option<usize> {
    let start = text.len() - text.trim_start().len();
    let run = text[start..].find(|c| !is_name_char(c))? + start;
    if run > start && text[..run].ends_with(['.', '-', '_']) {
        return Some(run - 1);
    }
    let rest = text[run..].trim_start();
    let inner = rest.strip_prefix('[')?;
    let inner_at = text.len() - inner.len();
    let inner = &inner[..inner.find(']').unwrap_or(inner.len())];
    let mut offset = inner_at;
    for extra in inner.split(',') {
        let lead = extra.len() - extra.trim_start().len();
        let name = extra[lead..]
            .split(|c| !is_name_char(c))
            .next()
            .unwrap_or("");
        let after = extra[lead + name.len()..].chars().next();
        if name.ends_with(['.', '-', '_']) && after.is_none_or(char::is_whitespace) {
            return Some(offset + lead + name.len() - 1);
        }
        offset += extra.len() + 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_extras_ending_in_punctuation_are_errors_not_panics() {
        for text in [
            "foo- >=1",
            "0-;x",
            "a.[b]",
            " x_ @ https://h/x",
            "foo[bar-]",
            "foo[a, b- ]",
            "foo[b. c]",
        ] {
            let err = requirement(text).expect_err(text);
            assert!(
                err.message.to_string().contains("must end with"),
                "{text}: {err}"
            );
        }
        for text in [
            "foo>=1",
            "foo-bar[x-y]>=1",
            "foo-",
            "foo[bar-baz] ; python_version<'3'",
        ] {
            let _ = requirement(text);
        }
        assert!(requirement("foo-bar[x-y]>=1").is_ok());
    }

    #[test]
    fn non_ascii_after_a_marker_is_an_error_not_a_panic() {
        for text in [
            "requests ; python_version >= \"3.9\"ꝸ 0",
            "a ; os_name == 'x' 'é'",
        ] {
            let err = requirement(text).expect_err(text);
            assert!(err.message.to_string().contains("ASCII"), "{text}: {err}");
        }
        assert!(requirement("a ; python_version >= '3.9' and os_name == 'posix'").is_ok());
    }
}
