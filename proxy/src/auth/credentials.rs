//! Credentials as each client sends them, read from the `Authorization` header:
//! `Basic base64(NAME:SECRET)` (pip, uv, Maven, Gradle, sbt, coursier), `Bearer TOKEN` (npm,
//! pnpm, yarn, cargo) and cargo's bare `TOKEN` without a scheme. conda's `/t/TOKEN/` path prefix
//! is read by the middleware, which owns the path.

use base64::Engine;
use http::HeaderMap;

use super::secret::Secret;

/// What a request presented.
#[derive(Clone)]
pub enum Credentials {
    /// A user name and their password or one of their tokens.
    Basic {
        /// The user name.
        user: String,
        /// Password or token.
        secret: Secret,
    },
    /// A token alone.
    Token(Secret),
}

/// An `Authorization` header that is present but unreadable: counts as a failed login.
#[derive(Debug)]
pub struct Malformed;

impl Credentials {
    /// The credentials in `headers`, if any.
    pub fn from_headers(headers: &HeaderMap) -> Result<Option<Credentials>, Malformed> {
        let Some(value) = headers.get(http::header::AUTHORIZATION) else {
            return Ok(None);
        };
        let value = value.to_str().map_err(|_| Malformed)?.trim();
        let Some((scheme, rest)) = value.split_once(' ') else {
            // cargo sends the token from credentials.toml as is.
            let scheme_only =
                value.eq_ignore_ascii_case("basic") || value.eq_ignore_ascii_case("bearer");
            return match value.is_empty() || scheme_only {
                true => Err(Malformed),
                false => Ok(Some(Credentials::Token(Secret::new(value)))),
            };
        };
        let rest = rest.trim();
        if scheme.eq_ignore_ascii_case("basic") {
            let raw = base64::engine::general_purpose::STANDARD
                .decode(rest)
                .map_err(|_| Malformed)?;
            let text = String::from_utf8(raw).map_err(|_| Malformed)?;
            let (user, secret) = text.split_once(':').ok_or(Malformed)?;
            Ok(Some(Credentials::Basic {
                user: user.to_owned(),
                secret: Secret::new(secret),
            }))
        } else if scheme.eq_ignore_ascii_case("bearer") && !rest.is_empty() {
            Ok(Some(Credentials::Token(Secret::new(rest))))
        } else {
            Err(Malformed)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(v: &str) -> Result<Option<Credentials>, Malformed> {
        let mut h = HeaderMap::new();
        h.insert(http::header::AUTHORIZATION, v.parse().unwrap());
        Credentials::from_headers(&h)
    }

    #[test]
    fn every_client_spelling_is_read() {
        assert!(
            Credentials::from_headers(&HeaderMap::new())
                .unwrap()
                .is_none()
        );
        let b64 = base64::engine::general_purpose::STANDARD.encode("alice:pa:ss");
        match parse(&format!("Basic {b64}")).unwrap().unwrap() {
            Credentials::Basic { user, secret } => {
                assert_eq!(user, "alice");
                assert_eq!(secret.expose(), "pa:ss");
            }
            Credentials::Token(_) => panic!("basic expected"),
        }
        for v in ["Bearer repox-abc", "bearer  repox-abc", "repox-abc"] {
            match parse(v).unwrap().unwrap() {
                Credentials::Token(t) => assert_eq!(t.expose(), "repox-abc"),
                Credentials::Basic { .. } => panic!("token expected for {v}"),
            }
        }
        for v in ["Basic !!!", "Basic bm9jb2xvbg==", "Digest x=1", "Bearer "] {
            assert!(parse(v).is_err(), "{v}");
        }
    }
}
