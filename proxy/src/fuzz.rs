//! Generators shared by the property tests of the parsers (the `fuzz_tests` modules): random
//! bytes reach only the first checks of a parser, so most inputs here are real samples with a
//! few random edits (a token inserted, a span deleted or duplicated, a value replaced), which
//! keep enough structure to reach the code behind the syntax check.
//!
//! The `repox` binary's property tests include this same file (`#[path]` in `src/main.rs`).
//!
//! Every test runs [`config`]'s case count: 256 by default, `PROPTEST_CASES` to change it.

use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::{Config, TestCaseError};

/// 256 cases unless `PROPTEST_CASES` says otherwise; no regression files in the source tree
/// (a failure prints its shrunk input).
pub fn config() -> Config {
    Config {
        failure_persistence: None,
        ..Config::default()
    }
}

/// One random edit of a document. Positions are taken modulo the length at the time of the edit.
#[derive(Debug, Clone)]
pub enum Edit {
    Insert(usize, String),
    Delete(usize, usize),
    Replace(usize, usize, String),
    Duplicate(usize, usize),
    /// Replace the contents of the n-th value: between quotes, between `>` and `<`, or after
    /// `=`/`:` to the end of the line.
    Value(usize, String),
}

/// Characters and fragments that mean something in the formats under test.
pub const SYNTAX: &[&str] = &[
    "\"",
    "'",
    "\\",
    "{",
    "}",
    "[",
    "]",
    "<",
    ">",
    "/>",
    "</",
    "=",
    ":",
    ",",
    "\n",
    "\r\n",
    "#",
    "@",
    "%",
    "%2e%2e",
    "..",
    "/",
    "//",
    "\0",
    "\u{7f}",
    "\u{feff}",
    "é",
    "日本",
    "-",
    "+",
    "*",
    "?",
    "&amp;",
    "&#0;",
    "&",
    "<!--",
    "-->",
    "<![CDATA[",
    "]]>",
    "null",
    "true",
    "1e999",
    "-1",
    "0",
    "99999999999999999999999",
    "\"\"",
    "[]",
    "{}",
    "http:",
    "https://",
    "file:///etc/passwd",
    "#sha256=",
    "sha256:",
    " ",
    "\t",
];

/// A short replacement text: a syntax token, printable ASCII, or any characters.
pub fn text() -> impl Strategy<Value = String> + Clone {
    prop_oneof![
        select(SYNTAX).prop_map(str::to_owned),
        "[ -~]{0,12}",
        any::<String>().prop_map(|s| s.chars().take(12).collect()),
    ]
}

/// One edit.
pub fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), text()).prop_map(|(at, t)| Edit::Insert(at, t)),
        (any::<usize>(), 1..24usize).prop_map(|(at, n)| Edit::Delete(at, n)),
        (any::<usize>(), 1..8usize, text()).prop_map(|(at, n, t)| Edit::Replace(at, n, t)),
        (any::<usize>(), 1..80usize).prop_map(|(at, n)| Edit::Duplicate(at, n)),
        (any::<usize>(), text()).prop_map(|(i, t)| Edit::Value(i, t)),
        (any::<usize>(), text()).prop_map(|(i, t)| Edit::Value(i, t)),
    ]
}

/// One of `samples` with one to five random edits.
pub fn mutated(samples: &'static [&'static str]) -> impl Strategy<Value = String> {
    (select(samples), prop::collection::vec(edit(), 1..6)).prop_map(|(sample, edits)| {
        let mut doc = sample.to_owned();
        for e in &edits {
            apply(&mut doc, e);
        }
        doc
    })
}

/// A failed case from any error, for `map_err` in property tests.
pub fn fail(e: impl std::fmt::Display) -> TestCaseError {
    TestCaseError::fail(e.to_string())
}

/// Any bytes, mostly short.
pub fn bytes() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..512)
}

fn floor(doc: &str, at: usize) -> usize {
    let mut at = at % (doc.len() + 1);
    while !doc.is_char_boundary(at) {
        at -= 1;
    }
    at
}

fn span(doc: &str, at: usize, len: usize) -> (usize, usize) {
    let start = floor(doc, at);
    let mut end = (start + len).min(doc.len());
    while !doc.is_char_boundary(end) {
        end -= 1;
    }
    (start, end)
}

/// Applies one edit in place.
pub fn apply(doc: &mut String, edit: &Edit) {
    match edit {
        Edit::Insert(at, t) => {
            let at = floor(doc, *at);
            doc.insert_str(at, t);
        }
        Edit::Delete(at, n) => {
            let (s, e) = span(doc, *at, *n);
            doc.replace_range(s..e, "");
        }
        Edit::Replace(at, n, t) => {
            let (s, e) = span(doc, *at, *n);
            doc.replace_range(s..e, t);
        }
        Edit::Duplicate(at, n) => {
            let (s, e) = span(doc, *at, *n);
            let copy = doc[s..e].to_owned();
            doc.insert_str(e, &copy);
        }
        Edit::Value(i, t) => {
            let spans = values(doc);
            if !spans.is_empty() {
                let (s, e) = spans[i % spans.len()];
                doc.replace_range(s..e, t);
            }
        }
    }
}

/// Byte ranges of the values in a document (see [`Edit::Value`]).
fn values(doc: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let quotes: Vec<usize> = doc.match_indices('"').map(|(i, _)| i).collect();
    out.extend(quotes.chunks_exact(2).map(|p| (p[0] + 1, p[1])));
    let mut from = 0;
    while let Some(open) = doc[from..].find('>').map(|i| from + i + 1) {
        match doc[open..].find('<') {
            Some(len) => out.push((open, open + len)),
            None => break,
        }
        from = open;
    }
    for (i, c) in doc.match_indices(['=', ':']) {
        let start = i + c.len();
        let end = doc[start..].find('\n').map_or(doc.len(), |n| start + n);
        out.push((start, end));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_found_in_each_syntax() {
        let doc = "a = 1\n\"k\": \"v\"\n<x>y</x>";
        let found: Vec<&str> = values(doc).iter().map(|&(s, e)| &doc[s..e]).collect();
        for v in ["k", "v", "y", " 1"] {
            assert!(found.contains(&v), "{v} in {found:?}");
        }
    }

    #[test]
    fn edits_keep_char_boundaries() {
        let mut doc = "日本語 = \"値\"".to_owned();
        for at in 0..20 {
            apply(&mut doc, &Edit::Delete(at, 2));
            apply(&mut doc, &Edit::Insert(at * 7, "é".into()));
            apply(&mut doc, &Edit::Duplicate(at * 3, 5));
        }
        assert!(doc.contains('é'));
    }
}
