//! One streaming pass over a packument that writes what repox serves from it: the full document
//! with every `dist.tarball` pointed at repox, or the abbreviated ("corgi") document
//! (`application/vnd.npm.install-v1+json`) made from the full one when the upstream does not
//! send it — both with the tarball index repox verifies downloads against.
//!
//! Packuments of busy packages are tens of megabytes (`@types/node`, `vite`); this never holds
//! one whole: the input is read through a buffer, the output written as it is made, and only
//! one version's object (or one other top-level value, such as `readme`) is in memory at once.
//!
//! The abbreviated document is what the registry documents (npm/registry
//! `docs/responses/package-metadata.md`): `name`, `modified`, `dist-tags` and, per version, the
//! fields installers read ([`ABBREVIATED_FIELDS`]), plus `hasInstallScript` computed from
//! `scripts` (`preinstall`, `install`, `postinstall`) when the version does not carry it.

use std::collections::HashMap;
use std::fmt;
use std::io::{self, Read, Write};

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::packument::replace_strings;
use super::tarball::{TarballIndex, TarballInfo};

/// Which document to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Shape {
    /// Every field, tarballs rewritten; values other than versions are copied byte for byte.
    Full,
    /// The install-time subset.
    Abbreviated,
}

/// Fields of a version that the abbreviated document keeps.
const ABBREVIATED_FIELDS: &[&str] = &[
    "name",
    "version",
    "deprecated",
    "dependencies",
    "optionalDependencies",
    "devDependencies",
    "bundleDependencies",
    "bundledDependencies",
    "peerDependencies",
    "peerDependenciesMeta",
    "acceptDependencies",
    "bin",
    "directories",
    "dist",
    "engines",
    "cpu",
    "os",
    "libc",
    "funding",
    "_hasShrinkwrap",
    "hasInstallScript",
];

/// Scripts npm runs at install time (what `hasInstallScript` says).
const INSTALL_SCRIPTS: &[&str] = &["preinstall", "install", "postinstall"];

/// Reads the packument from `input` and writes the `shape` document to `out`, with every
/// `dist.tarball` replaced by `prefix` + its file name; returns the tarball index of the input.
pub(super) fn derive<R: Read, W: Write>(
    input: R,
    out: &mut W,
    shape: Shape,
    prefix: &str,
    upstream: &str,
) -> Result<TarballIndex, DeriveError> {
    let mut ctx = Ctx {
        out,
        shape,
        prefix,
        index: TarballIndex {
            upstream: upstream.to_owned(),
            ..TarballIndex::default()
        },
        io: None,
    };
    let mut de =
        serde_json::Deserializer::from_reader(io::BufReader::with_capacity(256 << 10, input));
    let parsed = Top(&mut ctx).deserialize(&mut de).and_then(|()| de.end());
    if let Some(e) = ctx.io.take() {
        return Err(DeriveError::Io(e));
    }
    parsed.map_err(DeriveError::Json)?;
    Ok(ctx.index)
}

/// Why a packument could not be derived.
#[derive(Debug, thiserror::Error)]
pub(super) enum DeriveError {
    /// Not a JSON object of the expected shape.
    #[error("not a packument: {0}")]
    Json(serde_json::Error),
    /// Writing the output failed.
    #[error("cannot write the derived packument: {0}")]
    Io(io::Error),
}

struct Ctx<'o, W> {
    out: &'o mut W,
    shape: Shape,
    prefix: &'o str,
    index: TarballIndex,
    /// The first write error (serde only carries a message; this keeps the cause).
    io: Option<io::Error>,
}

impl<W: Write> Ctx<'_, W> {
    fn write<E: de::Error>(&mut self, bytes: &[u8]) -> Result<(), E> {
        self.out.write_all(bytes).map_err(|e| {
            let msg = e.to_string();
            self.io.get_or_insert(e);
            E::custom(msg)
        })
    }

    /// `,"key":` (without the comma for the first member).
    fn key<E: de::Error>(&mut self, first: &mut bool, key: &str) -> Result<(), E> {
        if !std::mem::take(first) {
            self.write(b",")?;
        }
        let k = serde_json::to_string(key).map_err(E::custom)?;
        self.write(k.as_bytes())?;
        self.write(b":")
    }

    fn value<E: de::Error>(&mut self, v: &impl serde::Serialize) -> Result<(), E> {
        let text = serde_json::to_vec(v).map_err(E::custom)?;
        self.write(&text)
    }

    /// Records a version's `dist` and returns the repox URL of its tarball.
    fn tarball(&mut self, dist: &Dist) -> Option<String> {
        let url = dist.tarball.as_deref()?;
        let file = url
            .split(['?', '#'])
            .next()
            .and_then(|u| u.rsplit('/').next())
            .filter(|f| !f.is_empty())?;
        self.index.files.insert(
            file.to_owned(),
            TarballInfo {
                url: url.to_owned(),
                integrity: dist.integrity.clone(),
                shasum: dist.shasum.clone(),
            },
        );
        Some(format!("{}{file}", self.prefix))
    }
}

#[derive(Deserialize, Default)]
struct Dist {
    #[serde(default)]
    tarball: Option<String>,
    #[serde(default)]
    integrity: Option<String>,
    #[serde(default)]
    shasum: Option<String>,
}

#[derive(Deserialize)]
struct VersionDist {
    #[serde(default)]
    dist: Option<Dist>,
}

/// `time` reduced to what the abbreviated document keeps.
#[derive(Deserialize)]
struct Time {
    #[serde(default)]
    modified: Option<Value>,
}

struct Top<'c, 'o, W>(&'c mut Ctx<'o, W>);

impl<'de, W: Write> DeserializeSeed<'de> for Top<'_, '_, W> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, W: Write> Visitor<'de> for Top<'_, '_, W> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a packument (a JSON object)")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let ctx = self.0;
        ctx.write(b"{")?;
        let mut first = true;
        let (mut modified, mut time_modified) = (false, None);
        while let Some(key) = map.next_key::<String>()? {
            match (ctx.shape, key.as_str()) {
                (_, "versions") => {
                    ctx.key(&mut first, &key)?;
                    map.next_value_seed(Versions(&mut *ctx))?;
                }
                (Shape::Full, _) | (Shape::Abbreviated, "name" | "dist-tags" | "modified") => {
                    modified |= key == "modified";
                    let v: Box<RawValue> = map.next_value()?;
                    ctx.key(&mut first, &key)?;
                    ctx.write(v.get().as_bytes())?;
                }
                (Shape::Abbreviated, "time") => {
                    time_modified = map.next_value::<Option<Time>>()?.and_then(|t| t.modified);
                }
                (Shape::Abbreviated, _) => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        if let Some(m) = time_modified.filter(|_| !modified) {
            ctx.key(&mut first, "modified")?;
            ctx.value(&m)?;
        }
        ctx.write(b"}")
    }
}

struct Versions<'c, 'o, W>(&'c mut Ctx<'o, W>);

impl<'de, W: Write> DeserializeSeed<'de> for Versions<'_, '_, W> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, W: Write> Visitor<'de> for Versions<'_, '_, W> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("`versions` (a JSON object)")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let ctx = self.0;
        ctx.write(b"{")?;
        let mut first = true;
        while let Some(version) = map.next_key::<String>()? {
            let raw: Box<RawValue> = map.next_value()?;
            ctx.key(&mut first, &version)?;
            match ctx.shape {
                Shape::Full => full_version(ctx, &raw)?,
                Shape::Abbreviated => abbreviated_version(ctx, &raw)?,
            }
        }
        ctx.write(b"}")
    }
}

/// The version as the upstream wrote it, with its tarball URL replaced in place.
fn full_version<W: Write, E: de::Error>(ctx: &mut Ctx<'_, W>, raw: &RawValue) -> Result<(), E> {
    let dist = serde_json::from_str::<VersionDist>(raw.get())
        .ok()
        .and_then(|v| v.dist)
        .unwrap_or_default();
    let (Some(old), Some(new)) = (dist.tarball.clone(), ctx.tarball(&dist)) else {
        return ctx.write(raw.get().as_bytes());
    };
    let urls = HashMap::from([(old, new.clone())]);
    let (out, found) = replace_strings(raw.get().as_bytes(), &urls);
    if !found.is_empty() {
        return ctx.write(&out);
    }
    // Written with escapes: rewrite the parsed version instead.
    let mut v: Value = serde_json::from_str(raw.get()).map_err(E::custom)?;
    if let Some(t) = v.get_mut("dist").and_then(|d| d.get_mut("tarball")) {
        *t = Value::String(new);
    }
    ctx.value(&v)
}

/// The install-time fields of the version.
fn abbreviated_version<W: Write, E: de::Error>(
    ctx: &mut Ctx<'_, W>,
    raw: &RawValue,
) -> Result<(), E> {
    let Ok(Value::Object(mut v)) = serde_json::from_str::<Value>(raw.get()) else {
        // Not an object: nothing to keep, but the version stays listed as the upstream has it.
        return ctx.write(raw.get().as_bytes());
    };
    let install_script = v
        .get("scripts")
        .and_then(Value::as_object)
        .is_some_and(|s| INSTALL_SCRIPTS.iter().any(|k| s.contains_key(*k)));
    let mut out = Map::new();
    for field in ABBREVIATED_FIELDS {
        if let Some(value) = v.remove(*field) {
            out.insert((*field).to_owned(), value);
        }
    }
    if install_script && !out.contains_key("hasInstallScript") {
        out.insert("hasInstallScript".into(), Value::Bool(true));
    }
    if let Some(dist_value) = out.get_mut("dist") {
        let dist: Dist = serde_json::from_value(dist_value.clone()).unwrap_or_default();
        if let Some(new) = ctx.tarball(&dist)
            && let Some(t) = dist_value.get_mut("tarball")
        {
            *t = Value::String(new);
        }
    }
    ctx.value(&out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const UP: &str = "https://registry.npmjs.org/";

    fn doc() -> String {
        format!(
            r#"{{"_id":"a","_rev":"1-x","name":"a","description":"d","dist-tags":{{"latest":"1.1.0"}},
            "versions":{{
              "1.0.0":{{"name":"a","version":"1.0.0","description":"old","readme":"long","scripts":{{"test":"x","postinstall":"node i.js"}},
                "dependencies":{{"b":"^1"}},"engines":{{"node":">=8"}},"_npmUser":{{"name":"u"}},
                "dist":{{"tarball":"{UP}a/-/a-1.0.0.tgz","shasum":"00","integrity":"sha512-x"}}}},
              "1.1.0":{{"name":"a","version":"1.1.0","deprecated":"use b","peerDependencies":{{"c":"*"}},"os":["linux"],
                "dist":{{"tarball":"https:\/\/registry.npmjs.org\/a\/-\/a-1.1.0.tgz"}}}}
            }},
            "time":{{"created":"2020-01-01T00:00:00.000Z","modified":"2024-05-01T00:00:00.000Z","1.0.0":"2020-01-01T00:00:00.000Z"}},
            "readme":"the a","maintainers":[{{"name":"u"}}],"users":{{"x":true}}}}"#
        )
    }

    fn run(shape: Shape, input: &str) -> (Value, TarballIndex, Vec<u8>) {
        let mut out = Vec::new();
        let index = derive(input.as_bytes(), &mut out, shape, "http://h/npm/a/-/", "up").unwrap();
        (serde_json::from_slice(&out).unwrap(), index, out)
    }

    #[test]
    fn abbreviated_keeps_what_installers_read() {
        let (v, index, _) = run(Shape::Abbreviated, &doc());
        let top: Vec<&String> = v.as_object().unwrap().keys().collect();
        assert_eq!(top, ["dist-tags", "modified", "name", "versions"]);
        assert_eq!(v["modified"], "2024-05-01T00:00:00.000Z");
        let one = &v["versions"]["1.0.0"];
        assert_eq!(one["dependencies"]["b"], "^1");
        assert_eq!(one["engines"]["node"], ">=8");
        assert_eq!(one["hasInstallScript"], true);
        assert_eq!(one["dist"]["tarball"], "http://h/npm/a/-/a-1.0.0.tgz");
        assert_eq!(one["dist"]["integrity"], "sha512-x");
        for dropped in ["readme", "description", "scripts", "_npmUser"] {
            assert!(one.get(dropped).is_none(), "{dropped}");
        }
        let two = &v["versions"]["1.1.0"];
        assert_eq!(two["deprecated"], "use b");
        assert_eq!(two["os"][0], "linux");
        assert!(two.get("hasInstallScript").is_none());
        assert_eq!(two["dist"]["tarball"], "http://h/npm/a/-/a-1.1.0.tgz");
        assert_eq!(index.files.len(), 2);
        assert_eq!(index.files["a-1.0.0.tgz"].shasum.as_deref(), Some("00"));
    }

    #[test]
    fn full_keeps_everything_and_rewrites_tarballs() {
        let (v, index, out) = run(Shape::Full, &doc());
        let input: Value = serde_json::from_str(&doc()).unwrap();
        let mut expected = input.clone();
        expected["versions"]["1.0.0"]["dist"]["tarball"] = "http://h/npm/a/-/a-1.0.0.tgz".into();
        expected["versions"]["1.1.0"]["dist"]["tarball"] = "http://h/npm/a/-/a-1.1.0.tgz".into();
        assert_eq!(v, expected);
        assert_eq!(index.files.len(), 2);
        // Values are copied as written (here: the escaped `\/` of another field survives).
        assert!(
            String::from_utf8(out)
                .unwrap()
                .contains(r#""readme":"the a""#)
        );
    }

    #[test]
    fn not_a_packument_is_an_error() {
        for bad in ["[1,2]", "{\"versions\":[1]}", "{\"a\":", "{} trailing"] {
            let mut out = Vec::new();
            assert!(
                derive(bad.as_bytes(), &mut out, Shape::Abbreviated, "p/", "up").is_err(),
                "{bad}"
            );
        }
    }
}
