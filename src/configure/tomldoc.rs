//! TOML files (uv, pixi, cargo) through `toml_edit`, which keeps comments, order and spacing of
//! everything repox does not set.
//!
//! Helpers here parse with a line-numbered error and set a value only when it differs, so that a
//! second run leaves the bytes alone and a changed value keeps its key's decoration.

use toml_edit::{DocumentMut, Item, Table, Value};

use super::text::Malformed;

/// Parses `text`, reporting the line of a syntax error.
pub fn parse(text: &str) -> Result<DocumentMut, Malformed> {
    text.parse::<DocumentMut>().map_err(|e| {
        let line = e
            .span()
            .map_or(1, |span| super::text::line_of(text, span.start));
        let message = e.message().trim().to_owned();
        Malformed::new(line, format!("invalid TOML: {message}"))
    })
}

/// `table[key] = value` unless it already holds that string.
pub fn set_str(table: &mut Table, key: &str, value: &str) {
    if table.get(key).and_then(Item::as_str) != Some(value) {
        set(table, key, Value::from(value));
    }
}

/// `table[key] = value` unless it already holds that boolean.
pub fn set_bool(table: &mut Table, key: &str, value: bool) {
    if table.get(key).and_then(Item::as_bool) != Some(value) {
        set(table, key, Value::from(value));
    }
}

/// Replaces a value in place, keeping the key (with the comments above it) and the decoration
/// of the old value (spacing, trailing comment).
pub fn set(table: &mut Table, key: &str, mut value: Value) {
    match table.get_mut(key) {
        Some(item) => {
            if let Some(old) = item.as_value() {
                *value.decor_mut() = old.decor().clone();
            }
            *item = Item::Value(value);
        }
        None => {
            table.insert(key, Item::Value(value));
        }
    }
}

/// The table at `path` (created as needed, as a standard `[a.b]` table).
pub fn table_mut<'a>(doc: &'a mut Table, path: &[&str]) -> Result<&'a mut Table, Malformed> {
    let mut table = doc;
    for (i, key) in path.iter().enumerate() {
        let item = table.entry(key).or_insert_with(|| {
            let mut t = Table::new();
            // Intermediate tables of a dotted path stay implicit (no empty `[tool]` header).
            t.set_implicit(i + 1 < path.len());
            Item::Table(t)
        });
        if let Some(inline) = item.as_inline_table() {
            *item = Item::Table(inline.clone().into_table());
        }
        table = item.as_table_mut().ok_or_else(|| {
            Malformed::new(1, format!("`{}` is not a table", path[..=i].join(".")))
        })?;
    }
    Ok(table)
}

/// The table at `path`, if present.
pub fn table<'a>(doc: &'a Table, path: &[&str]) -> Option<&'a dyn toml_edit::TableLike> {
    let mut item: &dyn toml_edit::TableLike = doc;
    for key in path {
        item = item.get(key)?.as_table_like()?;
    }
    Some(item)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_carry_lines() {
        let err = parse("a = 1\nb = \n").unwrap_err();
        assert_eq!(err.line, 2);
    }

    #[test]
    fn set_keeps_trailing_comment() {
        let mut doc = parse("x = \"old\" # keep me\n").unwrap();
        set_str(doc.as_table_mut(), "x", "new");
        assert_eq!(doc.to_string(), "x = \"new\" # keep me\n");
    }

    #[test]
    fn set_keeps_the_comment_above_the_key() {
        let mut doc = parse("[t]\n# why\nx = [\n  \"a\",\n]\n").unwrap();
        set(doc["t"].as_table_mut().unwrap(), "x", Value::from("b"));
        assert_eq!(doc.to_string(), "[t]\n# why\nx = \"b\"\n");
    }

    #[test]
    fn nested_tables_are_created_once() {
        let mut doc = parse("[tool.other]\na = 1\n").unwrap();
        set_str(
            table_mut(doc.as_table_mut(), &["tool", "uv", "pip"]).unwrap(),
            "k",
            "v",
        );
        assert_eq!(
            doc.to_string(),
            "[tool.other]\na = 1\n\n[tool.uv.pip]\nk = \"v\"\n"
        );
    }
}
