//! Turning a requirements file's bytes into logical lines the way pip's `req_file.py` does:
//! decode (BOM, PEP 263), join `\` continuations, strip comments, expand `${VAR}`, then split
//! each line into its requirement and its options.

/// Decode as pip does: a BOM decides, then a PEP 263 `coding:` comment in the first two lines,
/// else UTF-8. Errors carry the line of the first bad byte.
pub(super) fn decode(bytes: &[u8]) -> Result<String, (Option<u32>, String)> {
    if let Some(rest) = bytes.strip_prefix(b"\xef\xbb\xbf") {
        return utf8(rest);
    }
    let utf16 = |rest: &[u8], from: fn([u8; 2]) -> u16| {
        if !rest.len().is_multiple_of(2) {
            return Err((None, "odd number of bytes in a UTF-16 file".to_string()));
        }
        let units: Vec<u16> = rest.chunks_exact(2).map(|c| from([c[0], c[1]])).collect();
        String::from_utf16(&units).map_err(|_| (None, "not valid UTF-16".to_string()))
    };
    if let Some(rest) = bytes.strip_prefix(b"\xff\xfe") {
        return utf16(rest, u16::from_le_bytes);
    }
    if let Some(rest) = bytes.strip_prefix(b"\xfe\xff") {
        return utf16(rest, u16::from_be_bytes);
    }
    let head: Vec<&[u8]> = bytes.split(|&b| b == b'\n').take(2).collect();
    for line in head {
        let line = String::from_utf8_lossy(line);
        if let Some(coding) = pep263_coding(&line) {
            let coding = coding.to_ascii_lowercase().replace('_', "-");
            if matches!(
                coding.as_str(),
                "latin-1" | "latin1" | "iso-8859-1" | "iso8859-1" | "l1"
            ) {
                return Ok(bytes.iter().map(|&b| char::from(b)).collect());
            }
        }
    }
    utf8(bytes)
}

fn utf8(bytes: &[u8]) -> Result<String, (Option<u32>, String)> {
    std::str::from_utf8(bytes).map(String::from).map_err(|err| {
        let line = bytes[..err.valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1;
        (u32::try_from(line).ok(), "not valid UTF-8".to_string())
    })
}

/// PEP 263: `^[ \t\f]*#.*?coding[:=][ \t]*([-_.a-zA-Z0-9]+)`.
fn pep263_coding(line: &str) -> Option<&str> {
    let rest = line
        .trim_start_matches([' ', '\t', '\x0c'])
        .strip_prefix('#')?;
    let at = rest.find("coding")?;
    let rest = rest[at + "coding".len()..].strip_prefix([':', '='])?;
    let rest = rest.trim_start_matches([' ', '\t']);
    let end = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
        .unwrap_or(rest.len());
    (end > 0).then(|| &rest[..end])
}

/// Python's `str.splitlines` for the separators that occur in text files.
fn split_lines(text: &str) -> Vec<&str> {
    let mut lines = Vec::new();
    let mut start = 0;
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\n' => {
                lines.push(&text[start..i]);
                start = i + 1;
            }
            b'\r' => {
                lines.push(&text[start..i]);
                if bytes.get(i + 1) == Some(&b'\n') {
                    i += 1;
                }
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    if start < text.len() {
        lines.push(&text[start..]);
    }
    lines
}

/// pip's `COMMENT_RE.match`: the line's first non-blank character is `#`.
fn is_comment_line(line: &str) -> bool {
    line.trim_start().starts_with('#')
}

/// pip's `COMMENT_RE.sub`: cut from the first `#` at the start or after whitespace, so URL
/// fragments (`…whl#sha256=…`) survive.
fn strip_comment(line: &str) -> &str {
    let mut prev_ws = true;
    for (i, c) in line.char_indices() {
        if c == '#' && prev_ws {
            return &line[..i];
        }
        prev_ws = c.is_whitespace();
    }
    line
}

/// `(first line number, text)` of each non-empty logical line: continuations joined
/// (`join_lines`), comments stripped (`ignore_comments`).
pub(super) fn logical_lines(text: &str) -> Vec<(u32, String)> {
    let mut joined: Vec<(u32, String)> = Vec::new();
    let mut pending: Option<(u32, String)> = None;
    for (i, line) in split_lines(text).into_iter().enumerate() {
        let number = u32::try_from(i + 1).unwrap_or(u32::MAX);
        let comment = is_comment_line(line);
        if !line.ends_with('\\') || comment {
            // A comment line ends a continuation (pip prefixes a space so it still reads as a
            // comment once joined).
            let line = if comment {
                format!(" {line}")
            } else {
                line.to_string()
            };
            match pending.take() {
                Some((first, mut text)) => {
                    text.push_str(&line);
                    joined.push((first, text));
                }
                None => joined.push((number, line)),
            }
        } else {
            let part = line.trim_matches('\\');
            match &mut pending {
                Some((_, text)) => text.push_str(part),
                None => pending = Some((number, part.to_string())),
            }
        }
    }
    joined.extend(pending);
    joined
        .into_iter()
        .filter_map(|(number, line)| {
            let line = strip_comment(&line).trim();
            (!line.is_empty()).then(|| (number, line.to_string()))
        })
        .collect()
}

/// pip expands only `${NAME}` with `NAME` in `[A-Z0-9_]+`; unset or empty variables stay as
/// written.
pub(super) fn expand_env(line: &str, env: &dyn Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let name_len = after
            .find(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))
            .unwrap_or(after.len());
        let name = &after[..name_len];
        if name_len > 0 && after[name_len..].starts_with('}') {
            match env(name).filter(|v| !v.is_empty()) {
                Some(value) => out.push_str(&value),
                None => out.push_str(&rest[start..start + 3 + name_len]),
            }
            rest = &after[name_len + 1..];
        } else {
            out.push_str("${");
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// pip's `break_args_options`: space-separated tokens up to the first one starting with `-` are
/// the requirement; the rest are options.
pub(super) fn break_args_options(line: &str) -> (&str, &str) {
    let mut offset = 0;
    for token in line.split(' ') {
        if token.starts_with('-') {
            return (line[..offset].trim_end(), &line[offset..]);
        }
        offset += token.len() + 1;
    }
    (line, "")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "PYPI_TOKEN" => Some("s3cret".to_string()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn continuation_and_comment_rules() {
        let text = "a==1 \\\n  --hash=sha256:x \\\n# comment ends it\n  # indented comment \\\nb \\\n\\\nc\nhttps://h/p-1.tar.gz#sha256=ab # note\nd\\";
        assert_eq!(
            logical_lines(text),
            [
                (1, "a==1   --hash=sha256:x".to_string()),
                (5, "b c".to_string()),
                (8, "https://h/p-1.tar.gz#sha256=ab".to_string()),
                (9, "d".to_string()),
            ]
        );
        assert_eq!(split_lines("a\r\nb\rc\n"), ["a", "b", "c"]);
    }

    #[test]
    fn env_expansion_is_pips() {
        let expand = |s| expand_env(s, &env);
        assert_eq!(
            expand("https://${PYPI_TOKEN}@h/${PYPI_TOKEN}"),
            "https://s3cret@h/s3cret"
        );
        assert_eq!(expand("${UNSET}/${EMPTY}"), "${UNSET}/${EMPTY}");
        assert_eq!(
            expand("$PYPI_TOKEN %PYPI_TOKEN% ${pypi_token}"),
            "$PYPI_TOKEN %PYPI_TOKEN% ${pypi_token}"
        );
        assert_eq!(expand("${PYPI_TOKEN"), "${PYPI_TOKEN");
    }

    #[test]
    fn requirement_then_options() {
        assert_eq!(
            break_args_options("numpy==1 --hash=sha256:a"),
            ("numpy==1", "--hash=sha256:a")
        );
        assert_eq!(break_args_options("-e ."), ("", "-e ."));
        assert_eq!(
            break_args_options("a>=1 ; python_version < '3.10' --hash=sha256:b"),
            ("a>=1 ; python_version < '3.10'", "--hash=sha256:b")
        );
        assert_eq!(break_args_options("a\t--hash=x"), ("a\t--hash=x", ""));
    }

    #[test]
    fn decoding_follows_boms_and_pep_263() {
        // UTF-16 with a BOM, and latin-1 declared with PEP 263.
        let utf16: Vec<u8> = [0xff, 0xfe]
            .into_iter()
            .chain("idna\n".encode_utf16().flat_map(u16::to_le_bytes))
            .collect();
        assert_eq!(decode(&utf16).unwrap(), "idna\n");
        assert_eq!(
            decode(b"# -*- coding: latin-1 -*-\n# caf\xe9\n").unwrap(),
            "# -*- coding: latin-1 -*-\n# caf\u{e9}\n"
        );
        let err = decode(b"idna\n# caf\xe9\n").unwrap_err();
        assert_eq!(err, (Some(2), "not valid UTF-8".to_string()));
    }
}
