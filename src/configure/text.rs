//! Small helpers shared by the text editors: the error for a file repox will not touch, line
//! endings, and splicing lines.
//!
//! Editors work on the text itself rather than on a parsed model so that everything they do not
//! own (comments, order, spacing) survives byte for byte; these helpers keep that splicing
//! consistent (same line ending as the file, a final newline where the file had one).

use std::fmt;

/// An existing file repox will not edit, with the 1-based line at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct Malformed {
    pub line: usize,
    pub message: String,
}

impl Malformed {
    pub fn new(line: usize, message: impl Into<String>) -> Malformed {
        Malformed {
            line,
            message: message.into(),
        }
    }

    /// An error at byte `offset` of `text`.
    pub fn at(text: &str, offset: usize, message: impl Into<String>) -> Malformed {
        Malformed::new(line_of(text, offset), message)
    }
}

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

/// 1-based line number of byte `offset`.
pub fn line_of(text: &str, offset: usize) -> usize {
    let offset = offset.min(text.len());
    text.as_bytes()[..offset]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// The line ending the file already uses (`\r\n` if its first line ends so), else `\n`.
pub fn newline(text: &str) -> &'static str {
    match text.find('\n') {
        Some(i) if i > 0 && text.as_bytes()[i - 1] == b'\r' => "\r\n",
        _ => "\n",
    }
}

/// Lines with their endings, so that joining them gives back `text` exactly.
pub fn lines(text: &str) -> Vec<&str> {
    text.split_inclusive('\n').collect()
}

/// A line without its ending.
pub fn content(line: &str) -> &str {
    line.trim_end_matches(['\n', '\r'])
}

/// `lines` joined, with `nl` appended to a last line that lacks an ending when more text follows.
pub struct Builder {
    out: String,
    nl: &'static str,
}

impl Builder {
    pub fn new(nl: &'static str) -> Builder {
        Builder {
            out: String::new(),
            nl,
        }
    }

    /// Appends an original line (with whatever ending it had).
    pub fn raw(&mut self, line: &str) {
        self.terminate();
        self.out.push_str(line);
    }

    /// Appends a new line, ended with the file's line ending.
    pub fn line(&mut self, line: &str) {
        self.terminate();
        self.out.push_str(line);
        self.out.push_str(self.nl);
    }

    fn terminate(&mut self) {
        if !self.out.is_empty() && !self.out.ends_with('\n') {
            self.out.push_str(self.nl);
        }
    }

    pub fn finish(self) -> String {
        self.out
    }
}

/// Line-level edits of a text, applied together so that indices refer to the original lines.
#[derive(Debug, Default)]
pub struct Splices {
    edits: Vec<(usize, usize, Vec<String>)>,
}

impl Splices {
    /// Replaces lines `start..end` (0-based, end exclusive) with `lines`.
    pub fn replace(&mut self, start: usize, end: usize, lines: Vec<String>) {
        self.edits.push((start, end, lines));
    }

    /// Inserts `lines` before line `at` (`at` = number of lines appends).
    pub fn insert(&mut self, at: usize, lines: Vec<String>) {
        self.edits.push((at, at, lines));
    }

    /// The edited text. Overlapping edits are a bug in the caller.
    pub fn apply(mut self, text: &str) -> String {
        self.edits.sort_by_key(|(start, end, _)| (*start, *end));
        let lines = lines(text);
        let mut out = Builder::new(newline(text));
        let mut next = 0;
        for (start, end, new) in self.edits {
            debug_assert!(start >= next, "overlapping splices");
            for line in &lines[next..start] {
                out.raw(line);
            }
            for line in new {
                out.line(&line);
            }
            next = end.max(start);
        }
        for line in &lines[next.min(lines.len())..] {
            out.raw(line);
        }
        out.finish()
    }
}

/// Whether text appended at the end should be set off by an empty line.
pub fn needs_separator(text: &str) -> bool {
    lines(text)
        .last()
        .is_some_and(|last| !content(last).trim().is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_numbers() {
        assert_eq!(line_of("a\nb\nc", 0), 1);
        assert_eq!(line_of("a\nb\nc", 2), 2);
        assert_eq!(line_of("a\nb\nc", 100), 3);
    }

    #[test]
    fn newline_detection() {
        assert_eq!(newline("a\r\nb"), "\r\n");
        assert_eq!(newline("a\nb"), "\n");
        assert_eq!(newline(""), "\n");
    }

    #[test]
    fn builder_terminates_unterminated_lines() {
        let mut b = Builder::new("\n");
        b.raw("last line without newline");
        b.line("added");
        assert_eq!(b.finish(), "last line without newline\nadded\n");
    }

    #[test]
    fn splices_use_original_indices() {
        let mut s = Splices::default();
        s.insert(0, vec!["first".into()]);
        s.replace(1, 2, vec!["B".into(), "B2".into()]);
        s.insert(3, vec!["end".into()]);
        assert_eq!(
            s.apply("a\r\nb\r\nc"),
            "first\r\na\r\nB\r\nB2\r\nc\r\nend\r\n"
        );
    }
}
