//! Property tests of what repox reads from a cargo registry and from crate names (see
//! `crate::fuzz`): index paths of any name, index files of any content and `dl` templates of
//! any text are handled without panicking; a generated index file gives the `cksum` of each
//! version listed with a valid one.

use proptest::prelude::*;
use serde_json::json;

use super::index::{checksum, path_of, prefix};
use super::registry_config::expand;
use crate::fuzz;

const LINE: &str = r#"{"name":"serde","vers":"1.0.0","deps":[],"cksum":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","features":{},"yanked":false}"#;

proptest! {
    #![proptest_config(fuzz::config())]

    #[test]
    fn any_name_has_an_index_path(name in any::<String>()) {
        let path = path_of(&name);
        prop_assert!(path.ends_with(&name.to_ascii_lowercase()));
        let _ = prefix(&name);
    }

    #[test]
    fn any_index_file_is_read_without_panic(
        body in fuzz::bytes(),
        doc in fuzz::mutated(&[LINE]),
        version in "[0-9.]{1,6}",
    ) {
        let _ = checksum(&body, &version);
        let _ = checksum(doc.as_bytes(), &version);
    }

    #[test]
    fn any_template_expands_without_panic(
        dl in prop_oneof![
            fuzz::text(),
            "(https://h/)?(\\{crate\\}|\\{version\\}|\\{prefix\\}|\\{lowerprefix\\}|\\{sha256-checksum\\}|[a-z/]{0,4}){0,5}",
        ],
        name in any::<String>(),
        version in fuzz::text(),
        cksum in proptest::option::of("[0-9a-f]{64}"),
    ) {
        let _ = expand(&dl, &name, &version, cksum.as_deref());
    }

    #[test]
    fn checksums_are_found_by_version(
        lines in prop::collection::btree_map(
            "[0-9]{1,2}\\.[0-9]{1,2}\\.[0-9]{1,2}",
            prop_oneof!["[0-9a-fA-F]{64}", fuzz::text()],
            0..6,
        ),
    ) {
        let index: String = lines
            .iter()
            .map(|(vers, cksum)| json!({"name": "x", "vers": vers, "cksum": cksum}))
            .map(|line| line.to_string() + "\n")
            .collect();
        for (vers, cksum) in &lines {
            let valid = cksum.len() == 64 && cksum.bytes().all(|b| b.is_ascii_hexdigit());
            let want = valid.then(|| cksum.to_ascii_lowercase());
            prop_assert_eq!(checksum(index.as_bytes(), vers), want);
        }
    }
}
