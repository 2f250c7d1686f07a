//! A line-level reading of INI files as Python's `configparser.RawConfigParser` reads them
//! (pip's `pip.conf`), keeping the position of every section and option.
//!
//! Rules followed (CPython `configparser`, default options): full-line comments start with `#`
//! or `;`; options are `key = value` or `key: value` split at the first delimiter; a line
//! indented deeper than its option continues the value (blank lines inside a value belong to
//! it); an option before any section header, a line without a delimiter, a duplicate section and
//! a duplicate option are errors — the same input pip would refuse, reported with its line.

use super::text::{self, Malformed};

/// One `key = value` option and the lines it spans.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The key as written.
    pub key: String,
    /// The value, continuation lines joined with `\n`.
    pub value: String,
    /// First line (0-based).
    pub first: usize,
    /// One past the last line of the value (continuation lines included, trailing blank lines
    /// excluded).
    pub end: usize,
}

/// A `[name]` section.
#[derive(Debug, Clone)]
pub struct Section {
    pub name: String,
    /// Line of the header.
    pub header: usize,
    pub entries: Vec<Entry>,
}

impl Section {
    /// Options whose normalized key (see [`normalize`]) is one of `keys`.
    pub fn find<'a>(&'a self, keys: &'a [&str]) -> impl Iterator<Item = &'a Entry> + 'a {
        self.entries
            .iter()
            .filter(move |e| keys.contains(&normalize(&e.key).as_str()))
    }

    /// The line after which a new option should go: after the last option, else the header.
    pub fn insertion_point(&self) -> usize {
        self.entries.last().map_or(self.header + 1, |e| e.end)
    }
}

/// A parsed file.
#[derive(Debug, Clone)]
pub struct Ini {
    pub sections: Vec<Section>,
    /// Number of lines.
    pub len: usize,
}

impl Ini {
    pub fn section(&self, name: &str) -> Option<&Section> {
        self.sections.iter().find(|s| s.name == name)
    }
}

/// pip's key normalization: lower case, `_` → `-`.
pub fn normalize(key: &str) -> String {
    key.trim().to_lowercase().replace('_', "-")
}

/// Parses `input` or says which line pip would reject.
pub fn parse(input: &str) -> Result<Ini, Malformed> {
    let lines = text::lines(input);
    let mut sections: Vec<Section> = Vec::new();
    // Indentation of the current option line; continuation lines must be deeper.
    let mut option_indent: Option<usize> = None;
    for (i, raw) in lines.iter().enumerate() {
        let line = text::content(raw);
        let stripped = line.trim();
        if stripped.starts_with('#') || stripped.starts_with(';') {
            continue;
        }
        if stripped.is_empty() {
            continue;
        }
        let indent = line.len() - line.trim_start().len();
        if let (Some(level), Some(section)) = (option_indent, sections.last_mut())
            && indent > level
        {
            let entry = section.entries.last_mut().expect("an option is open");
            entry.value.push('\n');
            entry.value.push_str(stripped);
            entry.end = i + 1;
            continue;
        }
        if let Some(name) = section_header(stripped) {
            if sections.iter().any(|s| s.name == name) {
                return Err(Malformed::new(
                    i + 1,
                    format!("section [{name}] appears twice (pip refuses duplicate sections)"),
                ));
            }
            sections.push(Section {
                name: name.to_owned(),
                header: i,
                entries: Vec::new(),
            });
            option_indent = None;
            continue;
        }
        let Some(section) = sections.last_mut() else {
            return Err(Malformed::new(
                i + 1,
                "text before the first [section] header (pip needs e.g. [global] first)",
            ));
        };
        let Some(delim) = stripped.find(['=', ':']) else {
            return Err(Malformed::new(
                i + 1,
                format!("`{stripped}` is neither `key = value` nor a [section] header"),
            ));
        };
        let key = stripped[..delim].trim_end();
        if key.is_empty() {
            return Err(Malformed::new(i + 1, "option without a name"));
        }
        if section
            .entries
            .iter()
            .any(|e| e.key.to_lowercase() == key.to_lowercase())
        {
            return Err(Malformed::new(
                i + 1,
                format!(
                    "option `{key}` appears twice in [{}] (pip refuses duplicate options)",
                    section.name
                ),
            ));
        }
        section.entries.push(Entry {
            key: key.to_owned(),
            value: stripped[delim + 1..].trim().to_owned(),
            first: i,
            end: i + 1,
        });
        option_indent = Some(indent);
    }
    Ok(Ini {
        sections,
        len: lines.len(),
    })
}

/// `[name]` → `name` (CPython's `\[(?P<header>.+)\]`, greedy, anchored at the start).
fn section_header(stripped: &str) -> Option<&str> {
    let rest = stripped.strip_prefix('[')?;
    let close = rest.rfind(']')?;
    let name = &rest[..close];
    (!name.is_empty()).then_some(name)
}

/// The original option line with its value replaced, keeping the key's spelling, the indent and
/// the spacing around the delimiter.
pub fn with_value(line: &str, value: &str) -> String {
    let line = text::content(line);
    let Some(delim) = line.find(['=', ':']) else {
        return line.to_owned();
    };
    let after = &line[delim + 1..];
    let spaces = after.len() - after.trim_start().len();
    format!("{}{}", &line[..delim + 1 + spaces], value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_options_and_continuations() {
        let ini = parse(
            "# comment\n[global]\nindex-url = https://a/simple\nextra-index-url =\n    https://b/\n\n    https://c/\n; c\n[install]\ntrusted-host: a b\n",
        )
        .unwrap();
        let global = ini.section("global").unwrap();
        assert_eq!(global.entries.len(), 2);
        assert_eq!(global.entries[1].value, "\nhttps://b/\nhttps://c/");
        assert_eq!((global.entries[1].first, global.entries[1].end), (3, 7));
        assert_eq!(global.insertion_point(), 7);
        assert_eq!(ini.section("install").unwrap().entries[0].value, "a b");
    }

    #[test]
    fn rejects_what_pip_rejects() {
        let cases = [
            ("index-url = x\n", 1, "before the first"),
            ("[global]\njunk\n", 2, "neither"),
            ("[global]\n[global]\n", 2, "twice"),
            ("[global]\nIndex-Url = a\nindex-url = b\n", 3, "twice"),
            ("[global]\n= x\n", 2, "without a name"),
        ];
        for (input, line, needle) in cases {
            let err = parse(input).unwrap_err();
            assert_eq!(err.line, line, "{input:?}");
            assert!(err.message.contains(needle), "{input:?}: {}", err.message);
        }
    }

    #[test]
    fn normalizes_keys_like_pip() {
        assert_eq!(normalize(" Index_URL "), "index-url");
    }

    #[test]
    fn replaces_values_in_place() {
        assert_eq!(with_value("  Index_Url=old\n", "new"), "  Index_Url=new");
        assert_eq!(with_value("index-url :  old", "new"), "index-url :  new");
    }
}
