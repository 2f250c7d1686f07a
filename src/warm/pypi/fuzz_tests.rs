//! Property tests of what `repox warm` reads from a PyPI index (see `crate::fuzz`): project
//! pages (HTML or JSON) and core metadata of any content are read without panicking, whatever
//! `Requires-Dist` and `Requires-Python` they carry.

use proptest::prelude::*;
use proptest::sample::select;
use url::Url;

use super::index::{parse_metadata, parse_page};
use crate::fuzz;

const HTML: &str = r#"<!DOCTYPE html><html><head><meta name="pypi:repository-version" content="1.1"></head><body>
<a href="../../packages/demo-1.0.tar.gz#sha256=00" data-requires-python="&gt;=3.8">demo-1.0.tar.gz</a>
<a href="https://files.example/demo-1.1-py3-none-any.whl#sha256=aa" data-core-metadata="sha256=bb" data-yanked="">demo-1.1-py3-none-any.whl</a>
</body></html>"#;
const JSON: &str = r#"{"meta":{"api-version":"1.1"},"name":"demo","versions":["1.0","1.1"],"files":[
{"filename":"demo-1.0.tar.gz","url":"../../packages/demo-1.0.tar.gz","hashes":{"sha256":"00"},"requires-python":">=3.8, <4","yanked":false},
{"filename":"demo-1.1-cp312-cp312-manylinux_2_17_x86_64.whl","url":"https://f/demo.whl","hashes":{},"core-metadata":true,"yanked":"bad"}]}"#;
const METADATA: &str = "Metadata-Version: 2.1\nName: demo\nVersion: 1.0\nRequires-Python: >=3.8\n\
    Requires-Dist: requests[socks] (>=2.0) ; python_version >= \"3.8\"\nRequires-Dist: tomli ; extra == 'toml'\n\
    Provides-Extra: toml\n\nDescription body: with a colon\n";

/// Header lines with random values, in the shape of core metadata.
fn metadata() -> impl Strategy<Value = String> {
    let header = (
        select(
            &[
                "Requires-Dist",
                "Requires-Python",
                "Provides-Extra",
                "Name",
                "Version",
                "X",
            ][..],
        ),
        prop_oneof![
            "[a-zA-Z0-9_.-]{1,8}( ?\\[[a-z, -]{0,8}\\])? ?(\\(?[<>=!~]{1,3} ?[0-9.*]{1,6}\\)?)?( ; [a-z_]{1,14} [<>=!]{1,2} ['\"][^'\"]{0,6}['\"])?",
            fuzz::text(),
        ],
    );
    prop::collection::vec(header, 0..8)
        .prop_map(|h| h.iter().map(|(k, v)| format!("{k}: {v}\n")).collect())
}

proptest! {
    #![proptest_config(fuzz::config())]

    #[test]
    fn any_page_is_read_without_panic(
        body in fuzz::bytes(),
        doc in fuzz::mutated(&[HTML, JSON]),
    ) {
        let url = Url::parse("http://127.0.0.1:8078/pypi/simple/demo/").unwrap();
        let _ = parse_page(&body, &url);
        let _ = parse_page(doc.as_bytes(), &url);
    }

    #[test]
    fn any_metadata_is_read_without_panic(
        generated in metadata(),
        mutated in fuzz::mutated(&[METADATA]),
        bytes in fuzz::bytes(),
    ) {
        let _ = parse_metadata(&generated);
        let _ = parse_metadata(&mutated);
        let _ = parse_metadata(&String::from_utf8_lossy(&bytes));
    }
}
