//! YAML files (`.condarc`, `.yarnrc.yml`) edited one top-level key at a time.
//!
//! A serde round trip would drop every comment, and conda users keep commented-out mirror
//! blocks in their rc files. So repox finds the text block of each top-level key (from the key
//! line to its last indented or `- ` line), replaces only the blocks of keys it owns when their
//! value must change, and appends missing keys at the end. Values are compared after parsing, so
//! a block already holding the right value is left as written. The whole file is parsed with
//! `yaml_serde` before and after the edit.

use std::collections::BTreeMap;

use yaml_serde::Value;

use super::text::{self, Malformed, Splices, needs_separator};

/// The lines of one top-level key.
#[derive(Debug, Clone)]
pub struct Block {
    pub key: String,
    /// Line of the key (0-based).
    pub start: usize,
    /// One past its last value line; comments and blank lines after it are not included.
    pub end: usize,
}

/// A value repox writes.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    Str(String),
    Bool(bool),
    List(Vec<String>),
    Map(BTreeMap<String, Node>),
}

impl Node {
    /// The `yaml_serde` value this node parses to.
    pub fn to_value(&self) -> Value {
        match self {
            Node::Str(s) => Value::String(s.clone()),
            Node::Bool(b) => Value::Bool(*b),
            Node::List(items) => {
                Value::Sequence(items.iter().cloned().map(Value::String).collect())
            }
            Node::Map(map) => Value::Mapping(
                map.iter()
                    .map(|(k, v)| (Value::String(k.clone()), v.to_value()))
                    .collect(),
            ),
        }
    }
}

/// A parsed file: its value and the blocks of its top-level keys.
#[derive(Debug)]
pub struct Doc {
    pub value: Value,
    pub blocks: Vec<Block>,
    /// Whether sequences are written at the parent's indentation (`key:\n- a`).
    indentless: bool,
    indent: usize,
}

impl Doc {
    /// The value of a top-level key.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.value.as_mapping()?.get(key)
    }

    fn block(&self, key: &str) -> Option<&Block> {
        self.blocks.iter().find(|b| b.key == key)
    }
}

/// Parses `text` (which must be a mapping, or empty) and locates its top-level blocks.
pub fn parse(text: &str) -> Result<Doc, Malformed> {
    let value: Value = if text.trim().is_empty() {
        Value::Null
    } else {
        yaml_serde::from_str(text).map_err(|e| {
            // An error at the end of the input is reported on the last line, not after it.
            let last = text::lines(text).len().max(1);
            let line = e.location().map_or(1, |l| l.line()).min(last);
            let message = e.to_string();
            // The crate appends " at line L column C"; the line is reported separately.
            let message = message
                .split(" at line ")
                .next()
                .unwrap_or(&message)
                .to_owned();
            Malformed::new(line, format!("invalid YAML: {message}"))
        })?
    };
    if !matches!(value, Value::Null | Value::Mapping(_)) {
        return Err(Malformed::new(
            1,
            "the file must be a mapping of `key: value` settings",
        ));
    }
    let lines = text::lines(text);
    let mut blocks: Vec<Block> = Vec::new();
    let mut documents = 0;
    let mut indentless = false;
    let mut indent = None;
    for (i, raw) in lines.iter().enumerate() {
        let line = text::content(raw);
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        if line.starts_with([' ', '\t']) {
            indent = indent.or(Some(line.len() - line.trim_start().len()));
        } else if line == "---" || line.starts_with("--- ") {
            documents += 1;
            if documents > 1 || !blocks.is_empty() {
                return Err(Malformed::new(
                    i + 1,
                    "more than one YAML document in the file",
                ));
            }
            continue;
        } else if line == "..." {
            continue;
        } else if line.starts_with('-') {
            indentless = true;
        } else if line.starts_with(['{', '[', '&', '!', '?', '|', '>']) {
            return Err(Malformed::new(
                i + 1,
                "repox only edits block-style files (one `key: value` per line at the top level)",
            ));
        } else {
            let Some(key) = key_of(line) else {
                return Err(Malformed::new(
                    i + 1,
                    format!("cannot find the key in `{line}`"),
                ));
            };
            blocks.push(Block {
                key,
                start: i,
                end: i + 1,
            });
            continue;
        }
        // An indented or `- ` line continues the current block.
        if let Some(block) = blocks.last_mut() {
            block.end = i + 1;
        }
    }
    Ok(Doc {
        value,
        blocks,
        indentless,
        indent: indent.unwrap_or(2).clamp(1, 8),
    })
}

/// The key of a top-level `key: value` line (plain or quoted).
fn key_of(line: &str) -> Option<String> {
    if let Some(quote) = line.chars().next().filter(|c| *c == '"' || *c == '\'') {
        let rest = &line[1..];
        let close = rest.find(quote)?;
        return Some(rest[..close].to_owned());
    }
    let bytes = line.as_bytes();
    (0..bytes.len())
        .find(|&i| {
            bytes[i] == b':'
                && (i + 1 == bytes.len() || bytes[i + 1] == b' ' || bytes[i + 1] == b'\t')
        })
        .map(|i| line[..i].trim_end().to_owned())
}

/// Sets top-level keys: a key whose parsed value already equals the wanted one is left alone, a
/// present key has its block replaced, a missing key is appended. Returns the new text.
pub fn set(text: &str, doc: &Doc, wanted: &[(&str, Node)]) -> String {
    let mut splices = Splices::default();
    let mut appended: Vec<String> = Vec::new();
    for (key, node) in wanted {
        if doc.get(key) == Some(&node.to_value()) {
            continue;
        }
        let rendered = render(key, node, doc.indent, doc.indentless);
        match doc.block(key) {
            Some(block) => {
                let mut rendered = rendered;
                // Keep a trailing comment of a one-line scalar (`key: value  # why`).
                if let (Node::Str(_) | Node::Bool(_), true) = (node, block.end == block.start + 1)
                    && let Some(comment) =
                        trailing_comment(text::content(text::lines(text)[block.start]))
                {
                    rendered[0] = format!("{}  {comment}", rendered[0]);
                }
                splices.replace(block.start, block.end, rendered);
            }
            None => appended.extend(rendered),
        }
    }
    if !appended.is_empty() {
        let len = text::lines(text).len();
        if needs_separator(text) {
            appended.insert(0, String::new());
        }
        splices.insert(len, appended);
    }
    splices.apply(text)
}

/// A `# comment` after a plain one-line value, if any.
fn trailing_comment(line: &str) -> Option<&str> {
    let value = line.split_once(':')?.1;
    if value.trim_start().starts_with(['"', '\'']) {
        return None;
    }
    let at = value.find(" #").or_else(|| value.find("\t#"))?;
    Some(value[at..].trim_start())
}

fn render(key: &str, node: &Node, indent: usize, indentless: bool) -> Vec<String> {
    let pad = " ".repeat(indent);
    let seq_pad = if indentless {
        String::new()
    } else {
        pad.clone()
    };
    let key = scalar(key);
    match node {
        Node::Str(s) => vec![format!("{key}: {}", scalar(s))],
        Node::Bool(b) => vec![format!("{key}: {b}")],
        Node::List(items) => {
            let mut out = vec![format!("{key}:")];
            out.extend(items.iter().map(|i| format!("{seq_pad}- {}", scalar(i))));
            out
        }
        Node::Map(map) => {
            let mut out = vec![format!("{key}:")];
            for (k, v) in map {
                for line in render(k, v, indent, indentless) {
                    out.push(format!("{pad}{line}"));
                }
            }
            out
        }
    }
}

/// A YAML scalar: plain when unambiguous, else double-quoted (JSON escaping is valid YAML).
pub fn scalar(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "._~:/?&=+%@-$,;*()".contains(c))
        && !s.starts_with(['-', '?', ':', '@', '%', '*', '&', '!', '$'])
        && !s.ends_with(':')
        && !s.contains(": ")
        && !matches!(
            s.to_ascii_lowercase().as_str(),
            "true" | "false" | "yes" | "no" | "on" | "off" | "null" | "~" | "y" | "n"
        )
        && s.parse::<f64>().is_err();
    if plain {
        s.to_owned()
    } else {
        serde_json::to_string(s).expect("strings serialize")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_blocks() {
        let text = "# top\nchannels:\n  - a\n\n  # inside\n  - b\n# before alias\nchannel_alias: x # c\nlist:\n- a\n- b\n\n";
        let doc = parse(text).unwrap();
        let spans: Vec<(&str, usize, usize)> = doc
            .blocks
            .iter()
            .map(|b| (b.key.as_str(), b.start, b.end))
            .collect();
        assert_eq!(
            spans,
            [("channels", 1, 6), ("channel_alias", 7, 8), ("list", 8, 11)]
        );
        assert!(doc.indentless);
    }

    #[test]
    fn set_replaces_appends_and_keeps_equal_values() {
        let text =
            "channels: [conda-forge]\nchannel_alias: https://old # mirror\nssl_verify: true\n";
        let doc = parse(text).unwrap();
        let new = set(
            text,
            &doc,
            &[
                ("channels", Node::List(vec!["conda-forge".into()])),
                ("channel_alias", Node::Str("http://h/conda/".into())),
                (
                    "default_channels",
                    Node::List(vec!["http://h/conda/pkgs/main".into()]),
                ),
            ],
        );
        assert_eq!(
            new,
            "channels: [conda-forge]\nchannel_alias: http://h/conda/  # mirror\nssl_verify: true\n\ndefault_channels:\n  - http://h/conda/pkgs/main\n"
        );
    }

    #[test]
    fn scalars_are_quoted_when_needed() {
        assert_eq!(
            scalar("http://127.0.0.1:8078/conda/"),
            "http://127.0.0.1:8078/conda/"
        );
        assert_eq!(scalar("true"), "\"true\"");
        assert_eq!(scalar("a #b"), "\"a #b\"");
        assert_eq!(scalar("-x"), "\"-x\"");
        assert_eq!(scalar("1.5"), "\"1.5\"");
    }

    #[test]
    fn rejects_what_it_cannot_edit() {
        assert_eq!(parse("a: 1\nb: [\n").unwrap_err().line, 2);
        assert!(parse("- a\n- b\n").is_err());
        assert!(parse("{a: 1}\n").is_err());
        assert!(parse("a: 1\n---\nb: 2\n").is_err());
        assert!(parse("").unwrap().blocks.is_empty());
        assert!(parse("# only comments\n").unwrap().blocks.is_empty());
    }
}
