//! A positional view of an XML file (Maven's `settings.xml`): every element with the byte range
//! of its tags and content, read with `quick-xml`.
//!
//! Editors splice text at these ranges instead of re-serializing a model, so comments,
//! attribute quoting, indentation and unknown elements stay as the user wrote them.

use quick_xml::events::Event;
use quick_xml::reader::Reader;

use super::text::Malformed;

/// An element and where it is in the text.
#[derive(Debug, Clone)]
pub struct Element {
    /// Local name (namespace prefix dropped).
    pub name: String,
    /// Offset of `<` of the start tag.
    pub start: usize,
    /// Offset just after the start tag (`>`).
    pub inner_start: usize,
    /// Offset of `<` of the end tag (= `end` for `<empty/>`).
    pub inner_end: usize,
    /// Offset just after the end tag.
    pub end: usize,
    /// `<name/>`.
    pub empty: bool,
    pub children: Vec<Element>,
    /// Direct text content, entities resolved, untrimmed.
    pub text: String,
}

impl Element {
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// Trimmed text of a child element.
    pub fn child_text(&self, name: &str) -> Option<&str> {
        self.child(name).map(|c| c.text.trim())
    }
}

/// Parses `text` into its root element.
pub fn parse(text: &str) -> Result<Element, Malformed> {
    let mut reader = Reader::from_str(text);
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    loop {
        let before = reader.buffer_position() as usize;
        let event = reader.read_event().map_err(|e| {
            Malformed::at(
                text,
                reader.error_position() as usize,
                format!("invalid XML: {e}"),
            )
        })?;
        let after = reader.buffer_position() as usize;
        let new = |name: &str, empty: bool| Element {
            name: name.to_owned(),
            start: before,
            inner_start: after,
            inner_end: after,
            end: after,
            empty,
            children: Vec::new(),
            text: String::new(),
        };
        match event {
            Event::Start(e) => stack.push(new(e.local_name().as_ref(), false)),
            Event::Empty(e) => {
                let element = new(e.local_name().as_ref(), true);
                attach(&mut stack, &mut root, element, text)?;
            }
            Event::End(_) => {
                let mut element = stack
                    .pop()
                    .ok_or_else(|| Malformed::at(text, before, "end tag without a start tag"))?;
                element.inner_end = before;
                element.end = after;
                attach(&mut stack, &mut root, element, text)?;
            }
            Event::Text(t) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&t.xml10_content());
                }
            }
            Event::CData(c) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&c);
                }
            }
            Event::GeneralRef(r) => {
                let name = r.xml10_content();
                let resolved = resolve_entity(&name).ok_or_else(|| {
                    Malformed::at(text, before, format!("unknown entity &{name};"))
                })?;
                if let Some(top) = stack.last_mut() {
                    top.text.push(resolved);
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if let Some(open) = stack.last() {
        return Err(Malformed::at(
            text,
            open.start,
            format!("<{}> is never closed", open.name),
        ));
    }
    root.ok_or_else(|| Malformed::new(1, "no root element"))
}

fn attach(
    stack: &mut [Element],
    root: &mut Option<Element>,
    element: Element,
    text: &str,
) -> Result<(), Malformed> {
    match stack.last_mut() {
        Some(parent) => parent.children.push(element),
        None if root.is_none() => *root = Some(element),
        None => {
            return Err(Malformed::at(
                text,
                element.start,
                "more than one root element",
            ));
        }
    }
    Ok(())
}

fn resolve_entity(name: &str) -> Option<char> {
    match name {
        "amp" => Some('&'),
        "lt" => Some('<'),
        "gt" => Some('>'),
        "quot" => Some('"'),
        "apos" => Some('\''),
        _ => {
            let code = name.strip_prefix('#')?;
            let value = match code.strip_prefix('x') {
                Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                None => code.parse().ok()?,
            };
            char::from_u32(value)
        }
    }
}

/// Escapes text content.
pub fn escape(s: &str) -> String {
    quick_xml::escape::escape(s).into_owned()
}

/// The whitespace that precedes offset `at` on its line (the indentation of an element).
pub fn indent_before(text: &str, at: usize) -> &str {
    let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    let prefix = &text[line_start..at];
    if prefix.trim().is_empty() { prefix } else { "" }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_and_text() {
        let text = "<?xml version=\"1.0\"?>\n<s:settings xmlns:s=\"x\">\n  <!-- c -->\n  <a>x &amp; y&#65;</a>\n  <b/>\n</s:settings>\n";
        let root = parse(text).unwrap();
        assert_eq!(root.name, "settings");
        let a = root.child("a").unwrap();
        assert_eq!(&text[a.start..a.end], "<a>x &amp; y&#65;</a>");
        assert_eq!(a.text, "x & yA");
        assert!(root.child("b").unwrap().empty);
        assert_eq!(indent_before(text, a.start), "  ");
    }

    #[test]
    fn errors_have_lines() {
        assert_eq!(
            parse("<settings>\n<a>\n</b>\n</settings>")
                .unwrap_err()
                .line,
            3
        );
        assert_eq!(parse("<settings>\n  <a>\n").unwrap_err().line, 2);
        assert!(parse("").is_err());
    }
}
