//! Hosted cargo: `cargo publish`, `cargo yank [--undo]` and the sparse index files repox
//! writes for them.
//!
//! `cargo publish` sends `PUT <api>/api/v1/crates/new` with a binary frame (cargo
//! `registry-web-api.md`): a little-endian `u32` length and the JSON metadata, then a `u32`
//! length and the `.crate` file. Both lengths must match the body exactly, so a cut-short upload
//! is refused whole. cargo sends no digest: repox computes the SHA-256 that becomes the index
//! `cksum`, which cargo checks after every download.
//!
//! The metadata's dependency fields are renamed for the index (`version_req` → `req`,
//! `explicit_name_in_toml` → `name` with the real name in `package`); features using `dep:` or
//! `?/` go to `features2` with `v: 2`, as crates.io does, so older cargos skip them cleanly.
//! Crate names are unique up to case and `-`/`_`; versions up to build metadata.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// The largest `.crate` accepted (crates.io allows 10 MB).
pub const MAX_CRATE: usize = 64 << 20;

/// Why a publish or a yank was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CargoError {
    /// Malformed request (400).
    #[error("{0}")]
    Invalid(String),
    /// The version exists, or the name is taken by another spelling (409).
    #[error("{0}")]
    Conflict(String),
    /// No such crate or version (404).
    #[error("{0}")]
    NotFound(String),
}

impl CargoError {
    /// The HTTP status this refusal is answered with.
    pub fn status(&self) -> http::StatusCode {
        match self {
            CargoError::Invalid(_) => http::StatusCode::BAD_REQUEST,
            CargoError::Conflict(_) => http::StatusCode::CONFLICT,
            CargoError::NotFound(_) => http::StatusCode::NOT_FOUND,
        }
    }

    /// The JSON body cargo prints (`{"errors":[{"detail":…}]}`).
    pub fn body(&self) -> Value {
        serde_json::json!({ "errors": [ { "detail": self.to_string() } ] })
    }
}

fn invalid(why: impl Into<String>) -> CargoError {
    CargoError::Invalid(why.into())
}

/// Crate names: ASCII letters, digits, `-` and `_`, starting with a letter, at most 64.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name.bytes().next().is_some_and(|b| b.is_ascii_alphabetic())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Versions: semver characters, starting with a digit.
pub fn valid_version(version: &str) -> bool {
    !version.is_empty()
        && version.len() <= 128
        && version.bytes().next().is_some_and(|b| b.is_ascii_digit())
        && version
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'+'))
}

/// The name crates are unique by: lowercase, `_` for `-`.
pub fn canonical(name: &str) -> String {
    name.to_ascii_lowercase().replace('-', "_")
}

/// One dependency as `cargo publish` describes it.
#[derive(Debug, Clone, Deserialize)]
struct PublishDep {
    name: String,
    version_req: String,
    #[serde(default)]
    features: Vec<String>,
    #[serde(default)]
    optional: bool,
    #[serde(default = "yes")]
    default_features: bool,
    target: Option<String>,
    kind: Option<String>,
    registry: Option<String>,
    explicit_name_in_toml: Option<String>,
}

fn yes() -> bool {
    true
}

/// The part of the publish metadata the index needs; the rest is kept as given.
#[derive(Debug, Clone, Deserialize)]
struct Metadata {
    name: String,
    vers: String,
    #[serde(default)]
    deps: Vec<PublishDep>,
    #[serde(default)]
    features: Map<String, Value>,
    links: Option<String>,
    rust_version: Option<String>,
}

/// One dependency in an index line.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct IndexDep {
    /// The name in the dependent's `Cargo.toml` (may be a rename).
    pub name: String,
    /// The version requirement.
    pub req: String,
    /// Features enabled.
    pub features: Vec<String>,
    /// Optional dependency.
    pub optional: bool,
    /// Default features enabled.
    pub default_features: bool,
    /// Platform target, if any.
    pub target: Option<String>,
    /// `normal`, `dev` or `build`.
    pub kind: String,
    /// Index URL of another registry, `None` for this one.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub registry: Option<String>,
    /// The real crate name when `name` is a rename.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub package: Option<String>,
}

/// One line of a sparse index file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct IndexLine {
    /// Crate name as published.
    pub name: String,
    /// Version.
    pub vers: String,
    /// Dependencies.
    pub deps: Vec<IndexDep>,
    /// SHA-256 of the `.crate` file, hex.
    pub cksum: String,
    /// Features in the old syntax.
    pub features: Map<String, Value>,
    /// Yanked versions are not picked for new lock files.
    pub yanked: bool,
    /// The `links` value.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub links: Option<String>,
    /// Features using `dep:` or `?/`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub features2: Option<Map<String, Value>>,
    /// Index format version: 2 when `features2` is present.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub v: Option<u32>,
    /// Minimum Rust version.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub rust_version: Option<String>,
    /// When it was published (RFC 3339, as crates.io writes it): what a group's `min_age` or
    /// snapshot date judges it by. Lines published before repox wrote it have none.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub pubtime: Option<String>,
}

/// One `cargo publish`, parsed: its index line and its `.crate` file.
#[derive(Debug, Clone)]
pub struct Publish {
    /// The index line to append.
    pub line: IndexLine,
    /// The `.crate` file.
    pub file: Vec<u8>,
}

/// Reads one little-endian `u32`-prefixed part of the publish frame.
fn part<'a>(body: &'a [u8], what: &str) -> Result<(&'a [u8], &'a [u8]), CargoError> {
    let cut = || {
        invalid(format!(
            "the publish request ends inside the {what}: it was cut short"
        ))
    };
    let (len, rest) = body.split_first_chunk::<4>().ok_or_else(cut)?;
    let len = u32::from_le_bytes(*len) as usize;
    if rest.len() < len {
        return Err(cut());
    }
    Ok(rest.split_at(len))
}

impl Publish {
    /// Parses the body of `PUT /api/v1/crates/new`.
    pub fn parse(body: &[u8]) -> Result<Publish, CargoError> {
        let (json, rest) = part(body, "metadata")?;
        let (file, rest) = part(rest, ".crate file")?;
        if !rest.is_empty() {
            return Err(invalid(format!(
                "{} bytes follow the .crate file in the publish request",
                rest.len()
            )));
        }
        if file.len() > MAX_CRATE {
            return Err(invalid(format!(
                "the .crate file is {} bytes; the limit is {MAX_CRATE}",
                file.len()
            )));
        }
        if !file.starts_with(&[0x1f, 0x8b]) {
            return Err(invalid("the .crate file is not gzip-compressed"));
        }
        let meta: Metadata = serde_json::from_slice(json)
            .map_err(|e| invalid(format!("the publish metadata is not valid: {e}")))?;
        if !valid_name(&meta.name) {
            return Err(invalid(format!(
                "`{}` is not a valid crate name",
                meta.name
            )));
        }
        if !valid_version(&meta.vers) {
            return Err(invalid(format!("`{}` is not a semver version", meta.vers)));
        }
        let mut deps = Vec::new();
        for d in meta.deps {
            if !valid_name(&d.name) {
                return Err(invalid(format!(
                    "dependency `{}` is not a crate name",
                    d.name
                )));
            }
            let (name, package) = match d.explicit_name_in_toml {
                Some(rename) if rename != d.name => (rename, Some(d.name)),
                _ => (d.name, None),
            };
            deps.push(IndexDep {
                name,
                req: d.version_req,
                features: d.features,
                optional: d.optional,
                default_features: d.default_features,
                target: d.target,
                kind: d.kind.unwrap_or_else(|| "normal".into()),
                registry: d.registry,
                package,
            });
        }
        let new_syntax = |v: &Value| {
            v.as_array().is_some_and(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .any(|f| f.starts_with("dep:") || f.contains("?/"))
            })
        };
        let (features2, features): (Map<_, _>, Map<_, _>) =
            meta.features.into_iter().partition(|(_, v)| new_syntax(v));
        let v2 = !features2.is_empty();
        Ok(Publish {
            line: IndexLine {
                name: meta.name,
                vers: meta.vers,
                deps,
                cksum: hex::encode(Sha256::digest(file)),
                features,
                yanked: false,
                links: meta.links,
                features2: v2.then_some(features2),
                v: v2.then_some(2),
                rust_version: meta.rust_version,
                pubtime: None,
            },
            file: file.to_vec(),
        })
    }
}

/// The lines of an index file; unreadable lines are an internal error of the caller's store.
pub fn lines(index: &[u8]) -> Result<Vec<IndexLine>, CargoError> {
    index
        .split(|&b| b == b'\n')
        .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
        .map(|l| {
            serde_json::from_slice(l)
                .map_err(|e| invalid(format!("a stored index line is not valid: {e}")))
        })
        .collect()
}

/// Writes index lines back, one JSON object per line.
pub fn render(lines: &[IndexLine]) -> Vec<u8> {
    let mut out = Vec::new();
    for line in lines {
        if let Ok(json) = serde_json::to_vec(line) {
            out.extend_from_slice(&json);
            out.push(b'\n');
        }
    }
    out
}

fn without_build(version: &str) -> &str {
    version.split('+').next().unwrap_or(version)
}

/// Appends a published version to its index file (empty for a new crate).
pub fn add(index: &[u8], line: &IndexLine) -> Result<Vec<u8>, CargoError> {
    let mut all = lines(index)?;
    if let Some(first) = all.first()
        && first.name != line.name
    {
        let why = if canonical(&first.name) == canonical(&line.name) {
            format!(
                "the crate is published as `{}`; `{}` differs only in case or `-`/`_`",
                first.name, line.name
            )
        } else {
            format!("the index file of `{}` holds `{}`", line.name, first.name)
        };
        return Err(CargoError::Conflict(why));
    }
    if all
        .iter()
        .any(|l| without_build(&l.vers) == without_build(&line.vers))
    {
        return Err(CargoError::Conflict(format!(
            "crate version `{}@{}` is already uploaded: versions are immutable",
            line.name, line.vers
        )));
    }
    all.push(line.clone());
    Ok(render(&all))
}

/// Sets the `yanked` flag of one version (`cargo yank` / `cargo yank --undo`).
pub fn set_yanked(index: &[u8], version: &str, yanked: bool) -> Result<Vec<u8>, CargoError> {
    let mut all = lines(index)?;
    let line = all
        .iter_mut()
        .find(|l| l.vers == version)
        .ok_or_else(|| CargoError::NotFound(format!("version {version} is not published")))?;
    line.yanked = yanked;
    Ok(render(&all))
}

/// The `.crate` checksum of `version` in an index file, to verify a stored file before serving.
pub fn cksum_of(index: &[u8], version: &str) -> Option<String> {
    lines(index)
        .ok()?
        .into_iter()
        .find(|l| l.vers == version)
        .map(|l| l.cksum)
}

/// The index `config.json` of a hosted registry or group whose URL is `base` (no trailing
/// `/`): downloads at `<base>/dl/…`, the web API at `<base>`.
pub fn config_json(base: &str, auth_required: bool) -> Value {
    let mut doc = serde_json::json!({
        "dl": format!("{base}/dl/{{crate}}/{{version}}/download"),
        "api": base,
    });
    if auth_required && let Value::Object(o) = &mut doc {
        o.insert("auth-required".into(), true.into());
    }
    doc
}

/// The answer to a successful publish.
pub fn published_body() -> Value {
    serde_json::json!({
        "warnings": { "invalid_categories": [], "invalid_badges": [], "other": [] }
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    pub(crate) fn frame(meta: &Value, file: &[u8]) -> Vec<u8> {
        let json = serde_json::to_vec(meta).unwrap();
        let mut body = (json.len() as u32).to_le_bytes().to_vec();
        body.extend_from_slice(&json);
        body.extend_from_slice(&(file.len() as u32).to_le_bytes());
        body.extend_from_slice(file);
        body
    }

    fn meta(name: &str, vers: &str) -> Value {
        serde_json::json!({
            "name": name, "vers": vers,
            "deps": [
                {"name": "serde", "version_req": "^1", "features": ["derive"], "optional": true,
                 "default_features": true, "target": null, "kind": "normal",
                 "registry": "https://github.com/rust-lang/crates.io-index",
                 "explicit_name_in_toml": null},
                {"name": "rand", "version_req": "^0.8", "features": [], "optional": false,
                 "default_features": false, "target": "cfg(unix)", "kind": "dev",
                 "registry": null, "explicit_name_in_toml": "random"}
            ],
            "features": {"default": ["std"], "std": [], "json": ["dep:serde", "serde?/std"]},
            "authors": [], "description": "d", "license": "MIT", "links": null,
            "rust_version": "1.70"
        })
    }

    const GZ: &[u8] = &[0x1f, 0x8b, 8, 0, 1, 2, 3];

    #[test]
    fn a_publish_becomes_an_index_line() {
        let p = Publish::parse(&frame(&meta("my-lib", "0.1.0"), GZ)).unwrap();
        let l = &p.line;
        assert_eq!((l.name.as_str(), l.vers.as_str()), ("my-lib", "0.1.0"));
        assert_eq!(l.cksum, hex::encode(Sha256::digest(GZ)));
        assert_eq!(l.deps[0].req, "^1");
        assert_eq!(l.deps[1].name, "random");
        assert_eq!(l.deps[1].package.as_deref(), Some("rand"));
        assert_eq!(l.deps[1].kind, "dev");
        assert!(l.features.contains_key("std"));
        assert!(l.features2.as_ref().unwrap().contains_key("json"));
        assert_eq!(l.v, Some(2));
        assert_eq!(p.file, GZ);
        let text = String::from_utf8(add(b"", l).unwrap()).unwrap();
        assert_eq!(text.lines().count(), 1);
        assert!(text.contains("\"cksum\""));
        assert_eq!(cksum_of(text.as_bytes(), "0.1.0"), Some(l.cksum.clone()));
    }

    #[test]
    fn cut_or_padded_frames_are_refused() {
        let body = frame(&meta("a", "1.0.0"), GZ);
        for cut in [0, 3, 10, body.len() - 1] {
            let e = Publish::parse(&body[..cut]).unwrap_err();
            assert!(e.to_string().contains("cut short"), "{cut}: {e}");
        }
        let mut padded = body.clone();
        padded.push(0);
        assert!(Publish::parse(&padded).is_err());
        assert!(Publish::parse(&frame(&meta("a", "1.0.0"), b"not gzip")).is_err());
        assert!(Publish::parse(&frame(&meta("../a", "1.0.0"), GZ)).is_err());
        assert!(Publish::parse(&frame(&meta("a", "latest"), GZ)).is_err());
    }

    #[test]
    fn versions_and_names_are_unique() {
        let one = Publish::parse(&frame(&meta("my-lib", "1.0.0"), GZ)).unwrap();
        let index = add(b"", &one.line).unwrap();
        let again = Publish::parse(&frame(&meta("my-lib", "1.0.0+build"), GZ)).unwrap();
        assert!(matches!(
            add(&index, &again.line),
            Err(CargoError::Conflict(_))
        ));
        let other_spelling = Publish::parse(&frame(&meta("My_lib", "2.0.0"), GZ)).unwrap();
        let e = add(&index, &other_spelling.line).unwrap_err();
        assert!(e.to_string().contains("case"), "{e}");
        let two = Publish::parse(&frame(&meta("my-lib", "1.1.0"), GZ)).unwrap();
        let index = add(&index, &two.line).unwrap();
        assert_eq!(lines(&index).unwrap().len(), 2);
    }

    #[test]
    fn yank_and_undo() {
        let p = Publish::parse(&frame(&meta("a", "1.0.0"), GZ)).unwrap();
        let index = add(b"", &p.line).unwrap();
        let yanked = set_yanked(&index, "1.0.0", true).unwrap();
        assert!(lines(&yanked).unwrap()[0].yanked);
        let back = set_yanked(&yanked, "1.0.0", false).unwrap();
        assert_eq!(back, index);
        assert!(matches!(
            set_yanked(&index, "2.0.0", true),
            Err(CargoError::NotFound(_))
        ));
    }

    #[test]
    fn config_points_at_the_repository() {
        let c = config_json("http://h:1/cargo-releases", true);
        assert_eq!(
            c["dl"],
            "http://h:1/cargo-releases/dl/{crate}/{version}/download"
        );
        assert_eq!(c["api"], "http://h:1/cargo-releases");
        assert_eq!(c["auth-required"], true);
        assert!(
            config_json("http://h", false)
                .get("auth-required")
                .is_none()
        );
        assert_eq!(
            CargoError::Invalid("x".into()).body()["errors"][0]["detail"],
            "x"
        );
    }

    proptest! {
        /// Any byte string either parses into a line whose cksum is the file's digest, or is
        /// refused; it never panics.
        #[test]
        fn arbitrary_frames_never_panic(body in proptest::collection::vec(any::<u8>(), 0..256)) {
            if let Ok(p) = Publish::parse(&body) {
                prop_assert_eq!(p.line.cksum, hex::encode(Sha256::digest(&p.file)));
            }
        }

        /// Every proper prefix of a valid frame is refused.
        #[test]
        fn every_prefix_is_refused(file in proptest::collection::vec(any::<u8>(), 0..64), cut in any::<prop::sample::Index>()) {
            let mut f = vec![0x1f, 0x8b];
            f.extend(file);
            let body = frame(&meta("x", "1.0.0"), &f);
            let cut = cut.index(body.len());
            prop_assert!(Publish::parse(&body[..cut]).is_err());
            prop_assert!(Publish::parse(&body).is_ok());
        }
    }
}
