//! The options pip accepts in a requirements file and optparse's rules for spelling them
//! (`--opt=value`, `--opt value`, `-ovalue`, `-o value`), plus pip's `--hash` rule.

use crate::warm::{Hash, HashAlgorithm};

/// Options pip accepts in requirements files (pip 26: `SUPPORTED_OPTIONS` and
/// `SUPPORTED_OPTIONS_REQ` in `req_file.py`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Opt {
    IndexUrl,
    ExtraIndexUrl,
    NoIndex,
    Constraint,
    Requirement,
    Editable,
    FindLinks,
    NoBinary,
    OnlyBinary,
    AllReleases,
    OnlyFinal,
    PreferBinary,
    RequireHashes,
    NoRequireHashes,
    Pre,
    TrustedHost,
    UseFeature,
    Hash,
    ConfigSettings,
    GlobalOption,
}

/// `(names, option, takes a value)`.
const OPTIONS: &[(&[&str], Opt, bool)] = &[
    (&["-i", "--index-url", "--pypi-url"], Opt::IndexUrl, true),
    (&["--extra-index-url"], Opt::ExtraIndexUrl, true),
    (&["--no-index"], Opt::NoIndex, false),
    (&["-c", "--constraint"], Opt::Constraint, true),
    (&["-r", "--requirement"], Opt::Requirement, true),
    (&["-e", "--editable"], Opt::Editable, true),
    (&["-f", "--find-links"], Opt::FindLinks, true),
    (&["--no-binary"], Opt::NoBinary, true),
    (&["--only-binary"], Opt::OnlyBinary, true),
    (&["--all-releases"], Opt::AllReleases, true),
    (&["--only-final"], Opt::OnlyFinal, true),
    (&["--prefer-binary"], Opt::PreferBinary, false),
    (&["--require-hashes"], Opt::RequireHashes, false),
    (&["--no-require-hashes"], Opt::NoRequireHashes, false),
    (&["--pre"], Opt::Pre, false),
    (&["--trusted-host"], Opt::TrustedHost, true),
    (&["--use-feature"], Opt::UseFeature, true),
    (&["--hash"], Opt::Hash, true),
    (&["-C", "--config-settings"], Opt::ConfigSettings, true),
    (&["--global-option"], Opt::GlobalOption, true),
];

/// Split and parse the option part of a line (optparse rules: `--opt=value`, `--opt value`,
/// `-ovalue`, `-o value`).
pub(super) fn parse_options(text: &str) -> Result<Vec<(Opt, String)>, String> {
    let tokens = shlex::split(text).ok_or_else(|| "unbalanced quotes in options".to_string())?;
    let mut parsed = Vec::new();
    let mut tokens = tokens.into_iter();
    while let Some(token) = tokens.next() {
        let (name, inline) = if token.starts_with("--") {
            match token.split_once('=') {
                Some((name, value)) => (name.to_string(), Some(value.to_string())),
                None => (token.clone(), None),
            }
        } else if token.starts_with('-') && token.len() > 2 && token.is_char_boundary(2) {
            (token[..2].to_string(), Some(token[2..].to_string()))
        } else if token.starts_with('-') {
            (token.clone(), None)
        } else {
            return Err(format!(
                "unexpected `{token}` after the options; a requirement goes first on its line"
            ));
        };
        let Some(&(_, opt, takes_value)) = OPTIONS
            .iter()
            .find(|(names, _, _)| names.contains(&name.as_str()))
        else {
            return Err(format!("pip does not know the option `{name}`"));
        };
        let value = match (takes_value, inline) {
            (true, Some(value)) => value,
            (true, None) => tokens
                .next()
                .ok_or_else(|| format!("`{name}` needs a value"))?,
            (false, None) => String::new(),
            (false, Some(_)) => return Err(format!("`{name}` takes no value")),
        };
        parsed.push((opt, value));
    }
    Ok(parsed)
}

/// `--hash=<algorithm>:<hex>`; pip allows only the strong algorithms.
pub(super) fn pip_hash(value: &str) -> Result<Hash, String> {
    let hash = Hash::parse_prefixed(value, ':').map_err(|e| format!("bad --hash: {e}"))?;
    match hash.algorithm {
        HashAlgorithm::Sha256 | HashAlgorithm::Sha384 | HashAlgorithm::Sha512 => Ok(hash),
        other => Err(format!(
            "pip accepts only sha256, sha384 and sha512 hashes, not {other}"
        )),
    }
}

pub(super) fn split_list(value: &str) -> impl Iterator<Item = String> + '_ {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_follow_optparse() {
        assert_eq!(
            parse_options("-rbase.txt --index-url=http://x -f 'http://y z'").unwrap(),
            [
                (Opt::Requirement, "base.txt".to_string()),
                (Opt::IndexUrl, "http://x".to_string()),
                (Opt::FindLinks, "http://y z".to_string()),
            ]
        );
        assert_eq!(
            parse_options("--frobnicate").unwrap_err(),
            "pip does not know the option `--frobnicate`"
        );
        assert_eq!(parse_options("-r").unwrap_err(), "`-r` needs a value");
        assert_eq!(
            parse_options("--pre=yes").unwrap_err(),
            "`--pre` takes no value"
        );
        assert!(
            parse_options("--pre requests")
                .unwrap_err()
                .contains("`requests`")
        );
    }

    #[test]
    fn only_strong_hashes() {
        assert!(pip_hash("sha384:abababababababababababababababababababababababababababababababababababababababababababababababab").is_ok());
        assert_eq!(
            pip_hash("sha1:abababababababababababababababababababab").unwrap_err(),
            "pip accepts only sha256, sha384 and sha512 hashes, not sha1"
        );
        assert!(pip_hash("sha256").unwrap_err().starts_with("bad --hash: "));
    }
}
