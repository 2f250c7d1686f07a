//! File digests as lock files record them. Every format spells them differently (`sha256:…`,
//! `{sha256 = …}`, SRI `sha512-<base64>`, a bare Cargo checksum, a conda `#md5` suffix); they all
//! become one [`Hash`] with its algorithm and a lowercase hex digest, so the fetch engine can verify
//! downloaded bytes the same way whatever the input was.

use std::fmt;

use base64::Engine;

/// A digest algorithm named by an input file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HashAlgorithm {
    Md5,
    Sha1,
    Sha224,
    Sha256,
    Sha384,
    Sha512,
}

impl HashAlgorithm {
    /// The algorithm for a hashlib-style name (`sha256`, `SHA-256`, `md5`), if known.
    pub fn from_name(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().replace('-', "").as_str() {
            "md5" => Some(Self::Md5),
            "sha1" => Some(Self::Sha1),
            "sha224" => Some(Self::Sha224),
            "sha256" => Some(Self::Sha256),
            "sha384" => Some(Self::Sha384),
            "sha512" => Some(Self::Sha512),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Md5 => "md5",
            Self::Sha1 => "sha1",
            Self::Sha224 => "sha224",
            Self::Sha256 => "sha256",
            Self::Sha384 => "sha384",
            Self::Sha512 => "sha512",
        }
    }

    /// Digest length in bytes.
    fn len(self) -> usize {
        match self {
            Self::Md5 => 16,
            Self::Sha1 => 20,
            Self::Sha224 => 28,
            Self::Sha256 => 32,
            Self::Sha384 => 48,
            Self::Sha512 => 64,
        }
    }
}

impl fmt::Display for HashAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One expected digest of a file: `algorithm` plus the digest as lowercase hex.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Hash {
    pub algorithm: HashAlgorithm,
    pub hex: String,
}

impl Hash {
    /// A digest given as hex; checks the length against the algorithm.
    pub fn from_hex(algorithm: HashAlgorithm, hex: &str) -> Result<Self, String> {
        let hex = hex.trim();
        if hex.len() != algorithm.len() * 2 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!(
                "`{hex}` is not a {algorithm} digest ({} hex digits)",
                algorithm.len() * 2
            ));
        }
        Ok(Self {
            algorithm,
            hex: hex.to_ascii_lowercase(),
        })
    }

    /// `<algorithm><sep><hex>`, e.g. `sha256:ab12…` (pip `--hash`, uv.lock, poetry.lock) or
    /// `sha256=ab12…` (URL fragments).
    pub fn parse_prefixed(text: &str, sep: char) -> Result<Self, String> {
        let (name, hex) = text
            .split_once(sep)
            .ok_or_else(|| format!("`{text}` is not `<algorithm>{sep}<hex digest>`"))?;
        let algorithm = HashAlgorithm::from_name(name)
            .ok_or_else(|| format!("unknown hash algorithm `{name}` in `{text}`"))?;
        Self::from_hex(algorithm, hex)
    }

    /// A Subresource Integrity string (`sha512-<base64>`, several separated by spaces), as npm and
    /// yarn write `integrity`. Options after `?` are ignored, as the SRI spec says.
    pub fn parse_sri(text: &str) -> Result<Vec<Self>, String> {
        let mut hashes = Vec::new();
        for token in text.split_ascii_whitespace() {
            let (name, rest) = token
                .split_once('-')
                .ok_or_else(|| format!("`{token}` is not `<algorithm>-<base64 digest>`"))?;
            let algorithm = HashAlgorithm::from_name(name)
                .ok_or_else(|| format!("unknown hash algorithm `{name}` in `{token}`"))?;
            let b64 = rest.split_once('?').map_or(rest, |(digest, _)| digest);
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map_err(|e| format!("`{token}` is not valid base64: {e}"))?;
            if bytes.len() != algorithm.len() {
                return Err(format!(
                    "`{token}` has {} bytes, a {algorithm} digest has {}",
                    bytes.len(),
                    algorithm.len()
                ));
            }
            let hex = bytes.iter().map(|b| format!("{b:02x}")).collect();
            hashes.push(Self { algorithm, hex });
        }
        if hashes.is_empty() {
            return Err("empty integrity string".to_string());
        }
        Ok(hashes)
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algorithm, self.hex)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixed_forms() {
        let h = Hash::parse_prefixed(
            "SHA256:83807D445817326B4BCDAAAF8E8E9F1753DA04341ECEEC705C001FF342002E5D",
            ':',
        )
        .unwrap();
        assert_eq!(
            h.to_string(),
            "sha256:83807d445817326b4bcdaaaf8e8e9f1753da04341eceec705c001ff342002e5d"
        );
        assert_eq!(
            Hash::parse_prefixed("md5=d7c89558ba9fa0495403155b64376d81", '=')
                .unwrap()
                .algorithm,
            HashAlgorithm::Md5
        );
        assert!(Hash::parse_prefixed("sha256:abc", ':').is_err());
        assert!(Hash::parse_prefixed("crc32:abcd1234", ':').is_err());
        assert!(Hash::parse_prefixed("d7c89558ba9fa0495403155b64376d81", ':').is_err());
    }

    #[test]
    fn sri() {
        // `printf '' | sha1sum` is da39a3ee5e6b4b0d3255bfef95601890afd80709.
        let hashes = Hash::parse_sri(
            "sha1-2jmj7l5rSw0yVb/vlWAYkK/YBwk= sha1-2jmj7l5rSw0yVb/vlWAYkK/YBwk=?x",
        )
        .unwrap();
        assert_eq!(hashes.len(), 2);
        assert_eq!(
            hashes[0].to_string(),
            "sha1:da39a3ee5e6b4b0d3255bfef95601890afd80709"
        );
        assert!(Hash::parse_sri("sha512-AAAA").is_err());
        assert!(Hash::parse_sri("sha512-!!!").is_err());
        assert!(Hash::parse_sri("").is_err());
        assert!(Hash::parse_sri("lodash").is_err());
    }
}
