//! Property tests of the request headers repox reads to shape an answer (see `crate::fuzz`):
//! `Range`, `If-Range`, `If-None-Match` and `If-Modified-Since` of any value are read without
//! panicking, and a satisfiable range always lies inside the body.

use http::{HeaderMap, HeaderValue, header};
use proptest::prelude::*;
use proptest::sample::select;

use super::{if_range_allows, not_modified, parse_range, resolve_range};
use crate::fuzz;
use crate::repository::fill::parse_sha1_file;

/// `Range` values: well-formed with any numbers, and pieces of the syntax in any order.
fn range() -> impl Strategy<Value = String> {
    let number = prop_oneof![
        any::<u64>().prop_map(|n| n.to_string()),
        Just(u64::MAX.to_string()),
        Just("18446744073709551616".to_owned()),
        "[0-9]{0,4}",
    ];
    prop_oneof![
        (number.clone(), number).prop_map(|(a, b)| format!("bytes={a}-{b}")),
        prop::collection::vec(
            prop_oneof![
                select(&["bytes=", "-", ",", " ", "0", "1", "=", "items="][..])
                    .prop_map(str::to_owned),
                fuzz::text(),
            ],
            0..8,
        )
        .prop_map(|p| p.concat()),
    ]
}

fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        if let Ok(v) = HeaderValue::from_str(value) {
            map.insert(name.clone(), v);
        }
    }
    map
}

proptest! {
    #![proptest_config(fuzz::config())]

    #[test]
    fn ranges_parse_and_resolve_inside_the_body(
        value in range(),
        len in prop_oneof![0..100u64, any::<u64>()],
    ) {
        let map = headers(&[(header::RANGE, &value)]);
        let spec = parse_range(&map);
        if let Ok(Some((start, end))) = resolve_range(spec, len) {
            prop_assert!(start < end && end <= len, "{value} on {len} bytes gave {start}..{end}");
        }
    }

    #[test]
    fn conditionals_of_any_value_are_read(
        if_range in fuzz::text(),
        if_none_match in prop_oneof![fuzz::text(), Just("\"abc\", W/\"x\", *".to_owned())],
        if_modified_since in prop_oneof![
            fuzz::text(),
            Just("Sun, 06 Nov 1994 08:49:37 GMT".to_owned()),
        ],
        sha1 in fuzz::bytes(),
    ) {
        let map = headers(&[
            (header::IF_RANGE, &if_range),
            (header::IF_NONE_MATCH, &if_none_match),
            (header::IF_MODIFIED_SINCE, &if_modified_since),
        ]);
        let lm = "Sun, 06 Nov 1994 08:49:37 GMT";
        let _ = if_range_allows(&map, "\"abc\"", lm);
        let _ = not_modified(&map, "\"abc\"", lm);
        let _ = parse_sha1_file(&sha1);
    }
}
