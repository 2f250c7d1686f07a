//! The users file (`users.toml`): users with their role, password hash and per-repository
//! roles, and tokens by id. Written by `repox user`/`repox token` (atomically, mode 0600), read
//! by the server. Only hashes are stored; a token is shown once, when it is created.
//!
//! ```toml
//! [users.alice]
//! role = "read"
//! password = "$argon2id$v=19$m=19456,t=2,p=1$…"
//! repositories = { pypi = "write" }
//!
//! [tokens.3f9a2b1c0d4e]
//! user = "alice"
//! name = "ci"
//! sha256 = "…"
//! created = "2026-12-06T14:00:00Z"
//! expires = "2027-03-06T14:00:00Z"
//! ```

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::permission::Role;
use super::secret::{self, HashError};

const HEADER: &str = "# repox users and tokens, written by `repox user` and `repox token`.\n\
                      # Passwords and tokens are stored as hashes only.\n\n";

/// The whole users file.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsersFile {
    /// Users by name.
    #[serde(default)]
    pub users: BTreeMap<String, UserRecord>,
    /// Tokens by id.
    #[serde(default)]
    pub tokens: BTreeMap<String, TokenRecord>,
}

/// `[users.NAME]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserRecord {
    /// The role on every repository without an entry in `repositories`.
    pub role: Role,
    /// argon2id PHC string; `None`: the user logs in with tokens only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// Roles on particular repositories, overriding `role` there.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub repositories: BTreeMap<String, Role>,
}

/// `[tokens.ID]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenRecord {
    /// The user the token logs in as.
    pub user: String,
    /// A label (`ci`, `laptop`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Lowercase hex SHA-256 of the token.
    pub sha256: String,
    /// When it was created.
    #[serde(with = "rfc3339")]
    pub created: SystemTime,
    /// When it stops working; `None`: never.
    #[serde(default, with = "opt_rfc3339", skip_serializing_if = "Option::is_none")]
    pub expires: Option<SystemTime>,
}

impl TokenRecord {
    /// Whether the token has expired at `now`.
    pub fn expired(&self, now: SystemTime) -> bool {
        self.expires.is_some_and(|e| e <= now)
    }
}

/// A users file that cannot be read, parsed or written, or a change that cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum UsersError {
    /// The file exists but cannot be read.
    #[error("cannot read users file `{}`: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not a valid users file.
    #[error("users file `{}` is invalid: {message}; fix or remove the entry, or recreate it with `repox user add`", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The file cannot be written.
    #[error("cannot write users file `{}`: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The change makes no sense (unknown user, duplicate name, ...).
    #[error("{0}")]
    Refused(String),
    /// Hashing failed.
    #[error(transparent)]
    Hash(#[from] HashError),
}

/// Whether `name` is a usable user name: it must survive HTTP Basic (no `:`), netrc and
/// `.credentials` files (no spaces or quotes), and the TOML key.
pub fn valid_user_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._@+-".contains(&b))
}

impl UsersFile {
    /// Reads `path`; a missing file is an empty one.
    pub fn load(path: &Path) -> Result<UsersFile, UsersError> {
        match std::fs::read_to_string(path) {
            Ok(text) => UsersFile::parse(&text, path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(UsersFile::default()),
            Err(source) => Err(UsersError::Read {
                path: path.to_owned(),
                source,
            }),
        }
    }

    /// Parses users file text (named `path` in errors) and checks it.
    pub fn parse(text: &str, path: &Path) -> Result<UsersFile, UsersError> {
        let invalid = |message: String| UsersError::Invalid {
            path: path.to_owned(),
            message,
        };
        let file: UsersFile = toml::from_str(text).map_err(|e| {
            let line = e
                .span()
                .map(|s| text[..s.start].matches('\n').count() + 1)
                .unwrap_or(0);
            invalid(format!("line {line}: {}", e.message().trim()))
        })?;
        for (name, user) in &file.users {
            if !valid_user_name(name) {
                return Err(invalid(format!(
                    "user name `{name}` has characters other than letters, digits and `._@+-`"
                )));
            }
            if let Some(phc) = &user.password
                && !secret::is_password_hash(phc)
            {
                return Err(invalid(format!(
                    "users.{name}.password is not an argon2 hash"
                )));
            }
        }
        for (id, token) in &file.tokens {
            if !file.users.contains_key(&token.user) {
                return Err(invalid(format!(
                    "tokens.{id} belongs to unknown user `{}`",
                    token.user
                )));
            }
            if token.sha256.len() != 64 || !token.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(invalid(format!(
                    "tokens.{id}.sha256 is not a SHA-256 hex digest"
                )));
            }
        }
        Ok(file)
    }

    /// Writes the file atomically (temp file beside it, then rename), readable by its owner
    /// only.
    pub fn save(&self, path: &Path) -> Result<(), UsersError> {
        let err = |source| UsersError::Write {
            path: path.to_owned(),
            source,
        };
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        std::fs::create_dir_all(dir).map_err(err)?;
        let text = format!(
            "{HEADER}{}",
            toml::to_string_pretty(self).map_err(|e| err(std::io::Error::other(e)))?
        );
        // tempfile creates the file with mode 0600 on Unix.
        let mut temp = tempfile::NamedTempFile::new_in(dir).map_err(err)?;
        temp.write_all(text.as_bytes()).map_err(err)?;
        temp.as_file().sync_all().map_err(err)?;
        temp.persist(path).map_err(|e| err(e.error))?;
        Ok(())
    }

    /// Adds a user; `password` is hashed here.
    pub fn add_user(
        &mut self,
        name: &str,
        role: Role,
        password: Option<&str>,
        repositories: BTreeMap<String, Role>,
    ) -> Result<(), UsersError> {
        if !valid_user_name(name) {
            return Err(UsersError::Refused(format!(
                "user name `{name}` must be 1 to 64 letters, digits or `._@+-`"
            )));
        }
        if self.users.contains_key(name) {
            return Err(UsersError::Refused(format!("user `{name}` already exists")));
        }
        let password = password.map(secret::hash_password).transpose()?;
        self.users.insert(
            name.to_owned(),
            UserRecord {
                role,
                password,
                repositories,
            },
        );
        Ok(())
    }

    /// Replaces a user's password (hashed here); their tokens stay valid.
    pub fn set_password(&mut self, name: &str, password: &str) -> Result<(), UsersError> {
        let user = self
            .users
            .get_mut(name)
            .ok_or_else(|| UsersError::Refused(format!("no user `{name}`")))?;
        user.password = Some(secret::hash_password(password)?);
        Ok(())
    }

    /// Removes a user and their tokens; returns how many tokens went with them.
    pub fn remove_user(&mut self, name: &str) -> Result<usize, UsersError> {
        if self.users.remove(name).is_none() {
            return Err(UsersError::Refused(format!("no user `{name}`")));
        }
        let before = self.tokens.len();
        self.tokens.retain(|_, t| t.user != name);
        Ok(before - self.tokens.len())
    }

    /// Creates a token for `user`; returns its id and the token, which is not stored.
    pub fn create_token(
        &mut self,
        user: &str,
        name: Option<&str>,
        lifetime: Option<Duration>,
        now: SystemTime,
    ) -> Result<(String, String), UsersError> {
        if !self.users.contains_key(user) {
            return Err(UsersError::Refused(format!("no user `{user}`")));
        }
        if let Some(label) = name
            && (label.is_empty() || label.len() > 64 || label.chars().any(char::is_control))
        {
            return Err(UsersError::Refused(
                "a token name must be 1 to 64 characters, none of them control characters".into(),
            ));
        }
        if lifetime.is_some_and(|l| l.is_zero()) {
            return Err(UsersError::Refused(
                "a token that expires at once is of no use; give --expires e.g. 90d".into(),
            ));
        }
        let token = secret::new_token()?;
        let mut id = secret::new_token_id()?;
        while self.tokens.contains_key(&id) {
            id = secret::new_token_id()?;
        }
        let record = TokenRecord {
            user: user.to_owned(),
            name: name.map(str::to_owned),
            sha256: secret::token_hash(&token),
            created: now,
            expires: lifetime.map(|l| now + l),
        };
        self.tokens.insert(id.clone(), record);
        Ok((id, token))
    }

    /// Revokes the token with `id`.
    pub fn revoke_token(&mut self, id: &str) -> Result<TokenRecord, UsersError> {
        self.tokens
            .remove(id)
            .ok_or_else(|| UsersError::Refused(format!("no token with id `{id}`")))
    }
}

/// Formats a time as RFC 3339 in UTC, to the second.
pub fn format_time(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

mod rfc3339 {
    use super::*;
    pub fn serialize<S: Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_time(*t))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<SystemTime, D::Error> {
        let s = String::deserialize(d)?;
        humantime::parse_rfc3339_weak(&s).map_err(|e| {
            serde::de::Error::custom(format!(
                "`{s}` is not a time like 2026-12-06T14:00:00Z ({e})"
            ))
        })
    }
}

mod opt_rfc3339 {
    use super::*;
    pub fn serialize<S: Serializer>(t: &Option<SystemTime>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => rfc3339::serialize(t, s),
            None => s.serialize_none(),
        }
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SystemTime>, D::Error> {
        rfc3339::deserialize(d).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_the_file_with_mode_0600() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/users.toml");
        let mut f = UsersFile::load(&path).unwrap();
        assert!(f.users.is_empty());
        let grants = BTreeMap::from([("pypi".to_owned(), Role::Write)]);
        f.add_user("alice", Role::Read, Some("pw"), grants).unwrap();
        f.add_user("ci", Role::Admin, None, BTreeMap::new())
            .unwrap();
        assert!(
            f.add_user("alice", Role::Read, None, BTreeMap::new())
                .is_err()
        );
        assert!(
            f.add_user("a:b", Role::Read, None, BTreeMap::new())
                .is_err()
        );
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let (id, token) = f
            .create_token("alice", Some("laptop"), Some(Duration::from_secs(60)), now)
            .unwrap();
        f.save(&path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains(&token), "the token itself is never stored");
        assert!(!text.contains("\"pw\""));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let again = UsersFile::load(&path).unwrap();
        let t = &again.tokens[&id];
        assert_eq!(t.sha256, secret::token_hash(&token));
        assert_eq!(t.name.as_deref(), Some("laptop"));
        assert!(!t.expired(now) && t.expired(now + Duration::from_secs(60)));
        assert_eq!(again.users["alice"].repositories["pypi"], Role::Write);
        let mut again = again;
        assert_eq!(again.remove_user("alice").unwrap(), 1);
        assert!(again.tokens.is_empty());
        assert!(again.revoke_token(&id).is_err());
        assert!(again.create_token("ci", Some("a\nb"), None, now).is_err());
        assert!(
            again
                .create_token("ci", None, Some(Duration::ZERO), now)
                .is_err()
        );
        let old = again.users["ci"].password.clone();
        again.set_password("ci", "new").unwrap();
        assert_ne!(again.users["ci"].password, old);
        assert!(again.set_password("nobody", "x").is_err());
    }

    #[test]
    fn bad_content_names_the_file() {
        let p = Path::new("/etc/repox/users.toml");
        let err = UsersFile::parse("[users.bob]\nrole = \"root\"\n", p)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("users file `/etc/repox/users.toml` is invalid: line 2"),
            "{err}"
        );
        let err = UsersFile::parse("[users.bob]\nrole = \"read\"\npassword = \"x\"\n", p)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("users.bob.password is not an argon2 hash"),
            "{err}"
        );
        let orphan =
            "[tokens.x]\nuser = \"nobody\"\nsha256 = \"00\"\ncreated = \"2026-01-01T00:00:00Z\"\n";
        let err = UsersFile::parse(orphan, p).unwrap_err().to_string();
        assert!(err.contains("unknown user `nobody`"), "{err}");
    }
}
