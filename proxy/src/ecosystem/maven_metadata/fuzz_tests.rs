//! Property tests of the `maven-metadata.xml` merge (see `crate::fuzz`): copies of any content
//! merge without panicking, the merged version list holds every version of every copy, and the
//! version order is a total order (sorting with one that is not can panic).

use std::cmp::Ordering;
use std::collections::BTreeSet;

use proptest::prelude::*;

use super::{compare_versions, merge, parse};
use crate::fuzz;

const SAMPLE: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<metadata modelVersion="1.1.0">
  <groupId>org.example</groupId>
  <artifactId>demo</artifactId>
  <versioning>
    <latest>1.2-SNAPSHOT</latest>
    <release>1.1</release>
    <versions>
      <version>1.0</version>
      <version>1.1</version>
      <version>1.2-SNAPSHOT</version>
    </versions>
    <lastUpdated>20240101120000</lastUpdated>
  </versioning>
</metadata>
"#;

const SNAPSHOT: &str = r#"<metadata><groupId>g</groupId><artifactId>a</artifactId><version>1.0-SNAPSHOT</version>
<versioning><snapshot><timestamp>20240101.120000</timestamp><buildNumber>3</buildNumber></snapshot>
<lastUpdated>20240101120000</lastUpdated><snapshotVersions><snapshotVersion><extension>jar</extension>
<value>1.0-20240101.120000-3</value></snapshotVersion></snapshotVersions></versioning></metadata>"#;

/// Versions as they appear in repositories, with the odd ones Maven still has to order.
fn version() -> impl Strategy<Value = String> {
    prop_oneof![
        "[0-9]{1,3}(\\.[0-9]{1,3}){0,3}(-(alpha|beta|milestone|rc|cr|SNAPSHOT|sp|ga|final|release|a|b|m|[a-z]{1,5})[0-9]{0,2})?",
        "[0-9a-zA-Z][0-9a-zA-Z._-]{0,12}",
        "[0-9]{15,22}(\\.[0-9]{1,22})?",
    ]
}

fn document(versions: &[String], updated: &str) -> String {
    let list: String = versions
        .iter()
        .map(|v| format!("<version>{v}</version>"))
        .collect();
    let release = versions.last().map(String::as_str).unwrap_or("");
    format!(
        "<?xml version=\"1.0\"?><metadata><groupId>g</groupId><artifactId>a</artifactId><versioning>\
         <latest>{release}</latest><release>{release}</release><versions>{list}</versions>\
         <lastUpdated>{updated}</lastUpdated></versioning></metadata>"
    )
}

proptest! {
    #![proptest_config(fuzz::config())]

    #[test]
    fn copies_of_any_content_merge_without_panic(
        bodies in prop::collection::vec(
            prop_oneof![
                fuzz::mutated(&[SAMPLE, SNAPSHOT]),
                fuzz::bytes().prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
            ],
            1..4,
        ),
    ) {
        let refs: Vec<&str> = bodies.iter().map(String::as_str).collect();
        let merged = merge(&refs);
        for body in &bodies {
            let _ = parse(body);
        }
        let _ = parse(&merged);
    }

    #[test]
    fn merged_versions_hold_every_copy_s_versions(
        copies in prop::collection::vec(
            (prop::collection::vec(version(), 0..8), "[0-9]{14}"),
            2..4,
        ),
    ) {
        let bodies: Vec<String> = copies.iter().map(|(v, u)| document(v, u)).collect();
        let refs: Vec<&str> = bodies.iter().map(String::as_str).collect();
        let merged = merge(&refs);
        let parsed = parse(&merged);
        prop_assert!(parsed.is_some(), "the merged file does not parse:\n{}", merged);
        let got: BTreeSet<String> = parsed.into_iter().flat_map(|p| p.versions).collect();
        for v in copies.iter().flat_map(|(v, _)| v) {
            prop_assert!(got.contains(v), "{} is missing from\n{}", v, merged);
        }
    }

    #[test]
    fn version_order_is_total(a in version(), b in version(), c in version()) {
        let cmp = |x: &str, y: &str| compare_versions(x, y);
        prop_assert_eq!(cmp(&a, &a), Ordering::Equal);
        prop_assert_eq!(cmp(&a, &b), cmp(&b, &a).reverse(), "{} vs {}", a, b);
        if cmp(&a, &b) != Ordering::Greater && cmp(&b, &c) != Ordering::Greater {
            prop_assert_ne!(cmp(&a, &c), Ordering::Greater, "{} <= {} <= {}", a, b, c);
        }
    }
}
