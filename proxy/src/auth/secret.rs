//! Secrets and their hashes: argon2id for passwords (slow on purpose, they may be weak), SHA-256
//! for tokens (fast is fine: a token carries 238 random bits, so no dictionary reaches it).
//!
//! [`Secret`] holds a password or token as received; it has no `Debug` or `Display`, so it
//! cannot end up in a log line or an error body by accident.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use sha2::{Digest, Sha256};

/// Every token starts with this, so a leaked one is recognisable (secret scanners) and repox
/// can tell its own tokens from anaconda.org channel tokens.
pub const TOKEN_PREFIX: &str = "repox-";

/// Random base62 characters after the prefix: 40 × log2(62) ≈ 238 bits.
const TOKEN_CHARS: usize = 40;

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// A password or token. Deliberately neither `Debug` nor `Display`.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }

    /// The secret itself, for hashing or comparing.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether this looks like a repox token (not whether it is a valid one).
    pub fn is_token(&self) -> bool {
        self.0.starts_with(TOKEN_PREFIX)
    }
}

/// The OS random generator failed, or argon2 refused its input.
#[derive(Debug, thiserror::Error)]
#[error("cannot hash the secret: {0}")]
pub struct HashError(String);

/// `n` random bytes from the operating system.
fn random_bytes<const N: usize>() -> Result<[u8; N], HashError> {
    let mut buf = [0u8; N];
    getrandom::fill(&mut buf).map_err(|e| HashError(format!("no randomness: {e}")))?;
    Ok(buf)
}

/// The argon2id PHC string (`$argon2id$v=19$m=19456,t=2,p=1$salt$hash`) of `password`.
pub fn hash_password(password: &str) -> Result<String, HashError> {
    let salt =
        SaltString::encode_b64(&random_bytes::<16>()?).map_err(|e| HashError(e.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| HashError(e.to_string()))
}

/// Whether `phc` is a password hash repox can verify.
pub fn is_password_hash(phc: &str) -> bool {
    PasswordHash::new(phc).is_ok()
}

/// Whether `password` matches `phc`. Slow (tens of milliseconds): call it on a blocking thread.
pub fn verify_password(password: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// A new token: `repox-` and 40 random base62 characters.
pub fn new_token() -> Result<String, HashError> {
    let mut token = String::from(TOKEN_PREFIX);
    while token.len() < TOKEN_PREFIX.len() + TOKEN_CHARS {
        for b in random_bytes::<64>()? {
            // 248 = 4 × 62: rejecting the top bytes keeps every character equally likely.
            if b < 248 && token.len() < TOKEN_PREFIX.len() + TOKEN_CHARS {
                token.push(BASE62[usize::from(b % 62)] as char);
            }
        }
    }
    Ok(token)
}

/// A short random id by which a token is listed and revoked (not secret).
pub fn new_token_id() -> Result<String, HashError> {
    Ok(hex::encode(random_bytes::<6>()?))
}

/// The stored form of a token: lowercase hex SHA-256.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A fixed-size stand-in for a secret, for in-memory caches keyed by it.
pub(crate) fn fingerprint(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify_only_against_their_own_hash() {
        let phc = hash_password("correct horse").unwrap();
        assert!(phc.starts_with("$argon2id$"), "{phc}");
        assert!(is_password_hash(&phc));
        assert!(verify_password("correct horse", &phc));
        assert!(!verify_password("correct horsf", &phc));
        assert!(!verify_password("correct horse", "not a hash"));
        assert_ne!(hash_password("correct horse").unwrap(), phc, "salted");
    }

    #[test]
    fn tokens_are_long_random_and_prefixed() {
        let a = new_token().unwrap();
        let b = new_token().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.len(), TOKEN_PREFIX.len() + TOKEN_CHARS);
        assert!(Secret::new(a.clone()).is_token());
        assert!(
            a[TOKEN_PREFIX.len()..]
                .bytes()
                .all(|c| c.is_ascii_alphanumeric())
        );
        assert_eq!(token_hash(&a).len(), 64);
        assert_ne!(token_hash(&a), token_hash(&b));
        assert_eq!(new_token_id().unwrap().len(), 12);
    }
}
