//! Yarn classic (v1) `yarn.lock`: its own indentation format, not YAML. Each entry starts with
//! one or more specifiers (`"@babel/code-frame@^7.0.0", "@babel/code-frame@^7.10.4":`) and
//! gives `version`, `resolved "<tarball url>#<sha1>"` and `integrity`. Yarn Berry lock files
//! (`__metadata:`) are refused with a hint.

use url::Url;

use super::{
    Hash, HashAlgorithm, LOCAL_SOURCE, NpmTarball, Plan, SkipKind, Source, VCS_CHECKOUT, Want,
    bad_input, is_http, without_fragment,
};

/// One entry as written: its specifiers and the two-space-indented fields we read.
struct Entry {
    line: u32,
    specifiers: Vec<String>,
    version: Option<String>,
    resolved: Option<String>,
    integrity: Option<String>,
}

pub(super) fn parse(source: &Source) -> anyhow::Result<Plan> {
    let mut plan = Plan::default();
    let mut entries = Vec::new();
    let mut current: Option<Entry> = None;
    for (index, raw) in source.text.lines().enumerate() {
        let number = u32::try_from(index + 1).unwrap_or(u32::MAX);
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let indent = raw.len() - raw.trim_start_matches(' ').len();
        if indent == 0 {
            entries.extend(current.take());
            if trimmed == "__metadata:" {
                return Err(bad_input(
                    &source.origin(Some(number)),
                    "this is a Yarn Berry (v2+) lock file; only Yarn classic (v1) lock files are read",
                    "warm the project with `yarn install` through repox instead, or use --format \
                     package-lock on an npm lock file",
                ));
            }
            match trimmed.strip_suffix(':').map(split_specifiers) {
                Some(Ok(specifiers)) if !specifiers.is_empty() => {
                    current = Some(Entry {
                        line: number,
                        specifiers,
                        version: None,
                        resolved: None,
                        integrity: None,
                    });
                }
                Some(Err(why)) => {
                    plan.skip(trimmed, source.origin(Some(number)), SkipKind::Invalid, why)
                }
                _ => plan.skip(
                    trimmed,
                    source.origin(Some(number)),
                    SkipKind::Invalid,
                    "expected `<name>@<range>[, …]:` to start an entry",
                ),
            }
        } else if indent == 2
            && let Some(entry) = &mut current
            && !trimmed.ends_with(':')
        {
            let (key, value) = trimmed
                .split_once(' ')
                .map_or((trimmed, ""), |(k, v)| (k, v.trim()));
            let value = match unquote(value) {
                Ok(value) => value,
                Err(why) => {
                    plan.skip(trimmed, source.origin(Some(number)), SkipKind::Invalid, why);
                    continue;
                }
            };
            match unquote(key).as_deref() {
                Ok("version") => entry.version = Some(value),
                Ok("resolved") => entry.resolved = Some(value),
                Ok("integrity") => entry.integrity = Some(value),
                _ => {}
            }
        }
        // Deeper lines belong to `dependencies:` blocks.
    }
    entries.extend(current);
    for entry in entries {
        add(&mut plan, source, entry);
    }
    Ok(plan)
}

fn add(plan: &mut Plan, source: &Source, entry: Entry) {
    let origin = source.origin(Some(entry.line));
    let specifier = &entry.specifiers[0];
    let (name, range) = split_specifier(specifier);
    // `alias@npm:real-name@^1.0.0` installs `real-name`.
    let name = match range.strip_prefix("npm:") {
        Some(real) if real.contains('@') => split_specifier(real).0,
        _ => name,
    };
    let Some(version) = entry.version else {
        return plan.skip(
            specifier.as_str(),
            origin,
            SkipKind::Invalid,
            "no `version`",
        );
    };
    let what = format!("{name}@{version}");
    let mut hashes = match entry.integrity.as_deref().map(Hash::parse_sri) {
        Some(Ok(hashes)) => hashes,
        Some(Err(why)) => {
            return plan.skip(
                what,
                origin,
                SkipKind::Invalid,
                format!("bad `integrity`: {why}"),
            );
        }
        None => Vec::new(),
    };
    let tarball = match entry.resolved.as_deref() {
        None if ["file:", "link:", "portal:", "workspace:"]
            .iter()
            .any(|p| range.starts_with(p)) =>
        {
            return plan.skip(what, origin, SkipKind::Unsupported, LOCAL_SOURCE);
        }
        None => None,
        Some(resolved) => match Url::parse(resolved) {
            Ok(url) if is_http(&url) => {
                // Yarn appends the tarball's sha1 as the fragment.
                if let Some(Ok(sha1)) = url
                    .fragment()
                    .map(|f| Hash::from_hex(HashAlgorithm::Sha1, f))
                    && !hashes.contains(&sha1)
                {
                    hashes.push(sha1);
                }
                Some(without_fragment(&url))
            }
            Ok(url) if url.scheme().starts_with("git") => {
                return plan.skip(what, origin, SkipKind::Unsupported, VCS_CHECKOUT);
            }
            Ok(_) | Err(url::ParseError::RelativeUrlWithoutBase) => {
                return plan.skip(what, origin, SkipKind::Unsupported, LOCAL_SOURCE);
            }
            Err(err) => {
                let why = format!("`resolved` is not a URL ({err})");
                return plan.skip(what, origin, SkipKind::Invalid, why);
            }
        },
    };
    plan.items.push(Want::NpmTarball(NpmTarball {
        name,
        version,
        tarball,
        hashes,
        origin,
    }));
}

/// `name@range`; a leading `@` belongs to the scope, the next `@` separates the range.
fn split_specifier(specifier: &str) -> (String, &str) {
    match specifier.get(1..).and_then(|rest| rest.find('@')) {
        Some(at) => (specifier[..=at].to_string(), &specifier[at + 2..]),
        None => (specifier.to_string(), ""),
    }
}

/// `"a@^1", a@^2` → `["a@^1", "a@^2"]`.
fn split_specifiers(key: &str) -> Result<Vec<String>, String> {
    let mut specifiers = Vec::new();
    let mut rest = key.trim();
    while !rest.is_empty() {
        let (token, after) = if rest.starts_with('"') {
            let end = closing_quote(rest).ok_or("unterminated quote")?;
            (&rest[..=end], &rest[end + 1..])
        } else {
            rest.split_once(',').map_or((rest, ""), |(t, a)| (t, a))
        };
        specifiers.push(unquote(token.trim())?);
        rest = after.trim_start().trim_start_matches(',').trim_start();
    }
    Ok(specifiers)
}

/// Byte index of the quote that closes the string starting at `text[0]`.
fn closing_quote(text: &str) -> Option<usize> {
    let mut escaped = false;
    for (i, c) in text.char_indices().skip(1) {
        match c {
            '\\' if !escaped => escaped = true,
            '"' if !escaped => return Some(i),
            _ => escaped = false,
        }
    }
    None
}

/// Yarn writes strings JSON-quoted when they need it, bare otherwise.
fn unquote(text: &str) -> Result<String, String> {
    if text.starts_with('"') {
        serde_json::from_str(text).map_err(|_| format!("bad quoted string {text}"))
    } else {
        Ok(text.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::super::parse_file;
    use super::super::tests::{error_text, fixture, items, skipped};
    use super::*;

    #[test]
    fn classic_entries() {
        let plan = parse_file(&fixture("npm/yarn.lock"), None).unwrap();
        assert_eq!(
            items(&plan),
            [
                "5 npm @babel/code-frame@7.26.2 https://registry.yarnpkg.com/@babel/code-frame/-/code-frame-7.26.2.tgz sha512:4d888033eb968dd426322c85f0921e666266e5930d28ff879e4a3e42f4ba2b817e519b059a390416ed2c42bc30b17a92ded619aa2a28ea471af70b802eb267bb sha1:d7f6622ba1f9e20f0a7910fd3373015f13779759",
                "14 npm lodash@4.17.21 https://registry.yarnpkg.com/lodash/-/lodash-4.17.21.tgz sha512:596046b727c346b3c8cf1172d0768f71c46b8faefc8bde736b1d8c8b15c9413e514e48c72495ac77f6215b0ab2e04686f4f3950c02bf463c625a2d236a80079c sha1:901466a5bb52ee6de63e3e385285e690d5cba424",
                "19 npm string-width@4.2.3 https://registry.yarnpkg.com/string-width/-/string-width-4.2.3.tgz sha512:593d77681345387ad1c76235d5fd58fcab0e10018062fbff9b11e61b4a3ccbd42470c7fae1663dea211b02125a415b6799f4fef0743cc771b4f71bea6be192ef sha1:cc1487fd2e0dae11a56ae9014c85356c88635289",
                "28 npm strip-ansi@6.0.1 https://codeload.github.com/chalk/strip-ansi/tar.gz/v6.0.1",
            ]
        );
        assert_eq!(
            skipped(&plan),
            [
                "32 my-fork@1.0.0: VCS checkout: warm does not cache git/hg/svn sources",
                "36 local-lib@0.1.0: local source (path, directory or editable): nothing to fetch",
                "! 39 broken@^1.0.0: no `version`",
            ]
        );
    }

    #[test]
    fn specifier_syntax() {
        assert_eq!(
            split_specifiers(r#""@a/b@^1", "@a/b@~1.2", c@npm:d@^2"#).unwrap(),
            ["@a/b@^1", "@a/b@~1.2", "c@npm:d@^2"]
        );
        assert_eq!(split_specifier("@a/b@^1"), ("@a/b".to_string(), "^1"));
        assert_eq!(
            split_specifier("c@npm:@d/e@^2"),
            ("c".to_string(), "npm:@d/e@^2")
        );
        assert_eq!(split_specifier("bare"), ("bare".to_string(), ""));
        assert!(split_specifiers(r#""a@^1"#).is_err());
    }

    #[test]
    fn berry_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("yarn.lock");
        fs_err::write(
            &path,
            "# This file is generated by running \"yarn install\"\n\n__metadata:\n  version: 8\n",
        )
        .unwrap();
        let err = error_text(&parse_file(&path, None).unwrap_err());
        assert!(
            err.contains("yarn.lock:3: this is a Yarn Berry (v2+) lock file"),
            "{err}"
        );
    }
}
