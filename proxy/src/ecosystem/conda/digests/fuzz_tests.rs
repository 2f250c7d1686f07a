//! Property tests of the repodata digest index (see `crate::fuzz`): repodata of any content is
//! read without panicking, and a well-formed one yields the SHA-256 of every package that lists
//! a valid one, and nothing for the others.

use proptest::prelude::*;

use super::Repodata;
use crate::ecosystem::conda::fuzz_tests::repodata;
use crate::fuzz;

const SAMPLE: &str = r#"{"info":{"subdir":"noarch"},"packages":{"a-1-0.tar.bz2":{"sha256":"9c1a4a3e4b7e1ef6a1b1bd6fd1a9a0b3aeb7e0b8f5d6f6ac1b8eb4c2e0d5f7a1","depends":[]}},"packages.conda":{"b-2-1.conda":{"sha256":null,"md5":"00"}}}"#;

proptest! {
    #![proptest_config(fuzz::config())]

    #[test]
    fn any_repodata_is_indexed_without_panic(
        body in fuzz::bytes(),
        doc in fuzz::mutated(&[SAMPLE]),
    ) {
        let _ = serde_json::from_slice::<Repodata>(&body);
        let _ = serde_json::from_str::<Repodata>(&doc);
    }

    #[test]
    fn every_valid_digest_is_indexed((doc, _, digests) in repodata()) {
        let parsed = serde_json::from_str::<Repodata>(&doc)
            .map_err(|e| TestCaseError::fail(format!("{e}: {doc}")))?;
        let mut index = parsed.packages.0;
        index.extend(parsed.conda.0);
        for (file, sha) in digests {
            let valid = sha.len() == 64 && sha.bytes().all(|b| b.is_ascii_hexdigit());
            let want = valid.then(|| sha.to_ascii_lowercase());
            prop_assert_eq!(index.get(&file).map(hex::encode), want, "{}", file);
        }
    }
}
