//! Java `.properties` files (coursier's `mirror.properties`), edited one logical line at a time.
//!
//! Grammar of `java.util.Properties.load`: `#`/`!` comment lines; a line ending in an odd number
//! of backslashes continues on the next; the key ends at the first unescaped `=`, `:` or
//! whitespace; `\uXXXX` escapes must be complete (Java throws "Malformed \uxxxx encoding").

use super::text::{self, Malformed, Splices};

/// One `key=value` entry and the lines it spans.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub key: String,
    pub value: String,
    pub first: usize,
    pub end: usize,
}

/// All entries of `input`, in order (later duplicates win in Java).
pub fn parse(input: &str) -> Result<Vec<Entry>, Malformed> {
    let lines = text::lines(input);
    let mut entries = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let first = i;
        let line = text::content(lines[i]).trim_start();
        i += 1;
        if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
            continue;
        }
        let mut logical = line.to_owned();
        while ends_with_odd_backslashes(&logical) {
            logical.pop();
            match lines.get(i) {
                Some(next) => {
                    logical.push_str(text::content(next).trim_start());
                    i += 1;
                }
                None => break,
            }
        }
        let (key, value) = split(&logical);
        entries.push(Entry {
            key: unescape(&key).map_err(|m| Malformed::new(first + 1, m))?,
            value: unescape(&value).map_err(|m| Malformed::new(first + 1, m))?,
            first,
            end: i,
        });
    }
    Ok(entries)
}

fn ends_with_odd_backslashes(s: &str) -> bool {
    s.bytes().rev().take_while(|&b| b == b'\\').count() % 2 == 1
}

/// Splits a logical line into raw (still escaped) key and value.
fn split(line: &str) -> (String, String) {
    let chars: Vec<char> = line.chars().collect();
    let mut i = 0;
    let mut key = String::new();
    while i < chars.len() {
        let c = chars[i];
        if c == '\\' && i + 1 < chars.len() {
            key.push(c);
            key.push(chars[i + 1]);
            i += 2;
            continue;
        }
        if c == '=' || c == ':' || c.is_whitespace() {
            break;
        }
        key.push(c);
        i += 1;
    }
    while i < chars.len() && chars[i].is_whitespace() {
        i += 1;
    }
    if i < chars.len() && (chars[i] == '=' || chars[i] == ':') {
        i += 1;
    }
    while i < chars.len() && chars[i].is_whitespace() {
        i += 1;
    }
    (key, chars[i..].iter().collect())
}

fn unescape(s: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('f') => out.push('\x0c'),
            Some('u') => {
                let hex: String = chars.by_ref().take(4).collect();
                let code = (hex.len() == 4)
                    .then(|| u32::from_str_radix(&hex, 16).ok())
                    .flatten()
                    .and_then(char::from_u32)
                    .ok_or_else(|| format!("malformed \\uxxxx escape `\\u{hex}`"))?;
                out.push(code);
            }
            Some(other) => out.push(other),
            None => {}
        }
    }
    Ok(out)
}

/// Escapes a value for writing (backslashes and a leading space).
pub fn escape_value(value: &str) -> String {
    let escaped = value.replace('\\', "\\\\");
    match escaped.strip_prefix(' ') {
        Some(rest) => format!("\\ {rest}"),
        None => escaped,
    }
}

/// Sets `key=value` pairs: every existing entry of a key is rewritten (if its value differs),
/// missing keys are appended together at the end.
pub fn set(input: &str, entries: &[Entry], wanted: &[(&str, &str)]) -> String {
    let mut splices = Splices::default();
    let mut appended = Vec::new();
    for (key, value) in wanted {
        let mut found = false;
        for entry in entries.iter().filter(|e| e.key == *key) {
            found = true;
            if entry.value != *value {
                splices.replace(
                    entry.first,
                    entry.end,
                    vec![format!("{key}={}", escape_value(value))],
                );
            }
        }
        if !found {
            appended.push(format!("{key}={}", escape_value(value)));
        }
    }
    if !appended.is_empty() {
        let len = text::lines(input).len();
        splices.insert(len, appended);
    }
    splices.apply(input)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_java_properties() {
        let text = "# c\n! c\nplain=1\nspaced : 2\nws 3\nmulti=a;\\\n   b\nesc\\:key=\\u0041\n";
        let entries = parse(text).unwrap();
        let pairs: Vec<(&str, &str)> = entries
            .iter()
            .map(|e| (e.key.as_str(), e.value.as_str()))
            .collect();
        assert_eq!(
            pairs,
            [
                ("plain", "1"),
                ("spaced", "2"),
                ("ws", "3"),
                ("multi", "a;b"),
                ("esc:key", "A")
            ]
        );
        assert_eq!((entries[3].first, entries[3].end), (5, 7));
    }

    #[test]
    fn bad_unicode_escape_is_malformed() {
        assert_eq!(parse("a=1\nb=\\u12\n").unwrap_err().line, 2);
    }

    #[test]
    fn set_rewrites_and_appends() {
        let text = "a=1\n# keep\nb=old\n";
        let entries = parse(text).unwrap();
        assert_eq!(
            set(text, &entries, &[("b", "new"), ("c", "x:y")]),
            "a=1\n# keep\nb=new\nc=x:y\n"
        );
    }
}
