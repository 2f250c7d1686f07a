//! The sparse index layout: where a crate's index file lives, and what its lines say.
//!
//! Index files are named from the lowercased crate name (cargo `registry-index.md`): one- and
//! two-letter names under `1/` and `2/`, three-letter names under `3/<first letter>/`, others
//! under `<first two>/<next two>/`. Each line is one published version as JSON; repox reads
//! only `vers` and `cksum` (the SHA-256 of the `.crate` file).

use serde::Deserialize;

/// The index path of a crate, relative to the index root (`se/rd/serde`).
pub fn path_of(name: &str) -> String {
    let lower = name.to_ascii_lowercase();
    format!("{}/{lower}", prefix(&lower))
}

/// The directory part of an index path, in the case given (the `{prefix}` of `dl`). Counted in
/// characters: crate names are ASCII, but a lock file given to `repox warm` may hold anything.
pub fn prefix(name: &str) -> String {
    let chars: Vec<char> = name.chars().take(4).collect();
    let part = |r: std::ops::Range<usize>| chars[r].iter().collect::<String>();
    match chars.len() {
        0 => String::new(),
        1 => "1".to_owned(),
        2 => "2".to_owned(),
        3 if name.chars().nth(3).is_none() => format!("3/{}", part(0..1)),
        _ => format!("{}/{}", part(0..2), part(2..4)),
    }
}

#[derive(Deserialize)]
struct Line {
    vers: String,
    cksum: String,
}

/// The `cksum` of `version` in an index file, if listed.
pub(super) fn checksum(index: &[u8], version: &str) -> Option<String> {
    index
        .split(|&b| b == b'\n')
        .filter_map(|line| serde_json::from_slice::<Line>(line).ok())
        .find(|l| l.vers == version)
        .map(|l| l.cksum.to_ascii_lowercase())
        .filter(|c| c.len() == 64 && c.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_paths_follow_the_name_length() {
        assert_eq!(path_of("a"), "1/a");
        assert_eq!(path_of("cc"), "2/cc");
        assert_eq!(path_of("Syn"), "3/s/syn");
        assert_eq!(path_of("serde"), "se/rd/serde");
        assert_eq!(prefix("Serde"), "Se/rd");
    }

    #[test]
    fn checksums_are_found_by_version() {
        let a = "a".repeat(64);
        let b = "B".repeat(64);
        let index = format!(
            "{{\"name\":\"x\",\"vers\":\"1.0.0\",\"deps\":[],\"cksum\":\"{a}\",\"features\":{{}},\"yanked\":false}}\n\
             {{\"name\":\"x\",\"vers\":\"1.1.0\",\"deps\":[],\"cksum\":\"{b}\",\"features\":{{}},\"yanked\":true}}\n"
        );
        assert_eq!(checksum(index.as_bytes(), "1.0.0"), Some(a));
        assert_eq!(
            checksum(index.as_bytes(), "1.1.0"),
            Some(b.to_ascii_lowercase())
        );
        assert_eq!(checksum(index.as_bytes(), "2.0.0"), None);
    }
}
