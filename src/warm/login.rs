//! Who `repox warm` says it is to a repox that requires a login (`[auth] anonymous = "none"`).
//!
//! The secret never comes from the command line: `--user NAME` takes it from `REPOX_TOKEN` or
//! `REPOX_PASSWORD`, else from the netrc entry of the server's host (the one
//! `repox configure pip --user NAME` writes), and is sent as basic auth. Without `--user`,
//! `REPOX_TOKEN` alone is sent as a bearer token, and a netrc entry for the host is used as pip
//! would use it. The header is marked sensitive so it never shows in debug output.

use reqwest::header::HeaderValue;
use url::Url;

use crate::settings::Hinted;

/// The `Authorization` value for the repox at `base`, if any.
///
/// `var` reads an environment variable; `netrc` is the text of the netrc file, if one exists.
pub fn authorization(
    user: Option<&str>,
    base: &Url,
    var: &dyn Fn(&str) -> Option<String>,
    netrc: Option<&str>,
) -> anyhow::Result<Option<HeaderValue>> {
    let var = |name: &str| var(name).filter(|v| !v.is_empty());
    let host = base.host_str().unwrap_or("");
    let entry = netrc.and_then(|text| crate::configure::netrc::lookup(text, host));
    let value = match user {
        Some(user) => {
            let secret = var("REPOX_TOKEN")
                .or_else(|| var("REPOX_PASSWORD"))
                .or_else(|| {
                    entry
                        .filter(|(login, _)| login == user)
                        .map(|(_, password)| password)
                })
                .ok_or_else(|| Hinted {
                    message: format!("--user {user}: no secret for {host}"),
                    hint: format!(
                        "set REPOX_TOKEN (or REPOX_PASSWORD) without typing it on the command \
                         line, e.g. `read -rs REPOX_TOKEN && export REPOX_TOKEN`, or add a netrc \
                         entry with `repox configure pip --user {user}`"
                    ),
                })?;
            basic(user, &secret)
        }
        None => {
            if var("REPOX_PASSWORD").is_some() && var("REPOX_TOKEN").is_none() {
                return Err(Hinted {
                    message: "REPOX_PASSWORD is set but no --user says whose it is".to_owned(),
                    hint: "pass --user NAME".to_owned(),
                }
                .into());
            }
            match (var("REPOX_TOKEN"), entry) {
                (Some(token), _) => format!("Bearer {token}"),
                (None, Some((login, password))) if !login.is_empty() => basic(&login, &password),
                _ => return Ok(None),
            }
        }
    };
    let mut header = HeaderValue::from_str(&value).map_err(|_| Hinted {
        message: "the repox credentials hold characters that cannot go in an HTTP header"
            .to_owned(),
        hint: "use a token made by `repox token create`".to_owned(),
    })?;
    header.set_sensitive(true);
    Ok(Some(header))
}

fn basic(user: &str, secret: &str) -> String {
    use base64::Engine as _;
    let raw = format!("{user}:{secret}");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

/// The text of the netrc file pip and uv read, if there is one.
pub fn read_netrc() -> Option<String> {
    let path = crate::configure::netrc_file()?;
    std::fs::read_to_string(path).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Url {
        Url::parse("http://repox.lan:8078/").unwrap()
    }

    fn vars(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    fn header(v: Option<HeaderValue>) -> Option<String> {
        v.map(|h| h.to_str().unwrap().to_owned())
    }

    const NETRC: &str = "machine repox.lan login al password pw\n";

    #[test]
    fn user_with_env_or_netrc() {
        let got = authorization(Some("al"), &base(), &vars(&[("REPOX_TOKEN", "t")]), None);
        // base64("al:t")
        assert_eq!(header(got.unwrap()).as_deref(), Some("Basic YWw6dA=="));
        let got = authorization(Some("al"), &base(), &vars(&[]), Some(NETRC));
        assert_eq!(header(got.unwrap()).as_deref(), Some("Basic YWw6cHc="));
        let from_password =
            authorization(Some("al"), &base(), &vars(&[("REPOX_PASSWORD", "p")]), None);
        assert!(from_password.unwrap().unwrap().is_sensitive());
        // Another user's netrc entry is not used.
        let err = authorization(Some("bo"), &base(), &vars(&[]), Some(NETRC)).unwrap_err();
        assert!(err.to_string().contains("--user bo: no secret"), "{err}");
    }

    #[test]
    fn without_user() {
        let got = authorization(None, &base(), &vars(&[("REPOX_TOKEN", "repox-x")]), None);
        assert_eq!(header(got.unwrap()).as_deref(), Some("Bearer repox-x"));
        let got = authorization(None, &base(), &vars(&[]), Some(NETRC));
        assert_eq!(header(got.unwrap()).as_deref(), Some("Basic YWw6cHc="));
        let other = Url::parse("http://127.0.0.1:8078/").unwrap();
        assert!(
            authorization(None, &other, &vars(&[]), Some(NETRC))
                .unwrap()
                .is_none()
        );
        assert!(authorization(None, &base(), &vars(&[("REPOX_PASSWORD", "p")]), None).is_err());
    }
}
