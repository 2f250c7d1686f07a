//! An input file's text with a line index, and the one-line `path:line: what` errors every parser
//! reports with. TOML errors carry byte spans, JSON and YAML errors carry lines; formats whose
//! parsers keep no positions find lines by searching for a unique needle.

use std::fmt;
use std::path::Path;

use serde::de::DeserializeOwned;

use super::Origin;
use crate::settings::Hinted;

/// A fatal problem with an input file: `path:line: what`, with the fix as a `hint:` line.
pub(super) fn bad_input(
    origin: &Origin,
    what: impl fmt::Display,
    fix: impl Into<String>,
) -> anyhow::Error {
    Hinted {
        message: format!("{origin}: {what}"),
        hint: fix.into(),
    }
    .into()
}

/// An input file's text with a line index, shared by the per-format parsers.
pub(super) struct Source<'a> {
    pub(super) path: &'a Path,
    pub(super) text: &'a str,
    line_starts: Vec<usize>,
}

impl<'a> Source<'a> {
    pub(super) fn new(path: &'a Path, text: &'a str) -> Self {
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Self {
            path,
            text,
            line_starts,
        }
    }

    /// 1-based line of a byte offset.
    pub(super) fn line_of(&self, offset: usize) -> u32 {
        let line = self.line_starts.partition_point(|&start| start <= offset);
        u32::try_from(line).unwrap_or(u32::MAX)
    }

    pub(super) fn origin(&self, line: Option<u32>) -> Origin {
        Origin::new(self.path, line)
    }

    pub(super) fn origin_at(&self, offset: usize) -> Origin {
        self.origin(Some(self.line_of(offset)))
    }

    /// The line of the next occurrence of `needle` at or after `*cursor`, moving the cursor past
    /// it; falls back to the first occurrence anywhere. For formats whose parser keeps no
    /// positions (JSON, YAML): the needle is something unique such as a URL or a quoted key.
    pub(super) fn find_line(&self, needle: &str, cursor: &mut usize) -> Option<u32> {
        if let Some(pos) = self.text[*cursor..].find(needle) {
            let at = *cursor + pos;
            *cursor = at + needle.len();
            return Some(self.line_of(at));
        }
        self.text.find(needle).map(|at| self.line_of(at))
    }

    pub(super) fn toml<T: DeserializeOwned>(&self, fix: &str) -> anyhow::Result<T> {
        toml::from_str(self.text).map_err(|err| {
            let line = err.span().map(|span| self.line_of(span.start));
            bad_input(
                &self.origin(line),
                format!("invalid TOML: {}", err.message().trim()),
                fix,
            )
        })
    }

    pub(super) fn json<T: DeserializeOwned>(&self, fix: &str) -> anyhow::Result<T> {
        serde_json::from_str(self.text).map_err(|err| {
            let line = u32::try_from(err.line()).ok().filter(|&l| l > 0);
            let message = strip_positions(&err.to_string());
            bad_input(&self.origin(line), format!("invalid JSON: {message}"), fix)
        })
    }

    pub(super) fn yaml<T: DeserializeOwned>(&self, fix: &str) -> anyhow::Result<T> {
        yaml_serde::from_str(self.text).map_err(|err| {
            let line = err.location().and_then(|l| u32::try_from(l.line()).ok());
            let message = strip_positions(&err.to_string());
            bad_input(&self.origin(line), format!("invalid YAML: {message}"), fix)
        })
    }
}

/// Parser messages without their " at line N column M" parts: the origin already says where.
fn strip_positions(message: &str) -> String {
    let mut out = String::new();
    let mut rest = message;
    while let Some(at) = rest.find(" at line ") {
        out.push_str(&rest[..at]);
        let after = &rest[at + " at line ".len()..];
        let digits = |s: &str| s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        let mut end = digits(after);
        if let Some(column) = after[end..].strip_prefix(" column ") {
            end += " column ".len() + digits(column);
        }
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parser_positions_are_stripped() {
        assert_eq!(
            strip_positions("found end at line 4 column 1, while scanning at line 3 column 9"),
            "found end, while scanning"
        );
        assert_eq!(
            strip_positions("key must be a string at line 4"),
            "key must be a string"
        );
        assert_eq!(strip_positions("plain"), "plain");
    }
}
