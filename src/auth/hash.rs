//! Making password fields for the passwd-file: hashing a new password in one of the Dovecot
//! schemes that [`super::scheme`] can verify, with a fresh random salt.
//!
//! This is the writing half of the password schemes, used by `postern account add/passwd`; the
//! server itself never hashes, it only verifies. Every hash made here is in the exact form
//! Dovecot writes (`doveadm pw -s SCHEME`), so a file edited by Postern stays usable by Dovecot.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha512};
use std::fmt;
use std::str::FromStr;

/// Argon2id memory cost in KiB (64 MiB). OWASP's recommendations for Argon2id start at
/// m=19 MiB, t=2 (or 12 MiB, t=3); this is well above them and what libsodium, and so
/// Dovecot, calls its moderate level, while a login still costs a fraction of a second.
pub const ARGON2_M_COST_KIB: u32 = 64 * 1024;
/// Argon2id passes over memory.
pub const ARGON2_T_COST: u32 = 3;
/// Argon2id lanes. One, as Dovecot (libsodium) writes: verification runs on one thread.
pub const ARGON2_P_COST: u32 = 1;
/// SHA-crypt rounds (glibc's default is 5,000, which is cheap for today's hardware).
pub const SHA_CRYPT_ROUNDS: usize = 100_000;
/// bcrypt cost (2^12 rounds; OWASP asks for at least 10).
pub const BCRYPT_COST: u32 = 12;

/// A scheme Postern can write a new password in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HashScheme {
    /// `{ARGON2ID}$argon2id$v=19$m=…,t=…,p=…$salt$hash`: the default.
    #[default]
    Argon2id,
    /// `{SHA512-CRYPT}$6$rounds=…$salt$hash`.
    Sha512Crypt,
    /// `{SHA256-CRYPT}$5$rounds=…$salt$hash`.
    Sha256Crypt,
    /// `{BLF-CRYPT}$2y$12$…` (bcrypt; passwords longer than 72 bytes are refused).
    BlfCrypt,
    /// `{SSHA512}base64(sha512(password salt) salt)`: fast, only for compatibility.
    Ssha512,
    /// `{PLAIN}password`: the password in clear, for test setups and APOP/CRAM-MD5.
    Plain,
}

impl HashScheme {
    /// Every scheme, in the order `--help` lists them.
    pub const ALL: [HashScheme; 6] = [
        HashScheme::Argon2id,
        HashScheme::Sha512Crypt,
        HashScheme::Sha256Crypt,
        HashScheme::BlfCrypt,
        HashScheme::Ssha512,
        HashScheme::Plain,
    ];

    /// Dovecot's name for the scheme, as it appears between the braces.
    pub fn name(self) -> &'static str {
        match self {
            HashScheme::Argon2id => "ARGON2ID",
            HashScheme::Sha512Crypt => "SHA512-CRYPT",
            HashScheme::Sha256Crypt => "SHA256-CRYPT",
            HashScheme::BlfCrypt => "BLF-CRYPT",
            HashScheme::Ssha512 => "SSHA512",
            HashScheme::Plain => "PLAIN",
        }
    }
}

impl fmt::Display for HashScheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for HashScheme {
    type Err = HashError;

    /// Case-insensitive, as Dovecot's scheme names are; CLEAR and CLEARTEXT mean PLAIN.
    fn from_str(s: &str) -> Result<Self, HashError> {
        let upper = s.to_ascii_uppercase();
        if upper == "CLEAR" || upper == "CLEARTEXT" {
            return Ok(HashScheme::Plain);
        }
        HashScheme::ALL
            .into_iter()
            .find(|scheme| scheme.name() == upper)
            .ok_or_else(|| HashError::UnknownScheme(s.to_owned()))
    }
}

/// Why a password could not be turned into a passwd-file field.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error(
        "cannot write passwords in scheme {0:?}; choose one of ARGON2ID, SHA512-CRYPT, \
         SHA256-CRYPT, BLF-CRYPT, SSHA512, PLAIN"
    )]
    UnknownScheme(String),
    #[error("the password is empty")]
    Empty,
    #[error("the password contains a line break or another control character")]
    ControlCharacter,
    /// A `:` in a cleartext password would be read as the end of the password field.
    #[error("a {{PLAIN}} password cannot contain ':' (it separates passwd-file fields)")]
    ColonInPlain,
    #[error("BLF-CRYPT (bcrypt) only uses the first 72 bytes of a password; this one is longer")]
    TooLongForBcrypt,
    #[error("{scheme} hashing failed: {reason}")]
    Failed {
        scheme: &'static str,
        reason: String,
    },
}

/// The complete password field (`{SCHEME}…`) for `password` in `scheme`, with a fresh salt.
pub fn hash_password(scheme: HashScheme, password: &str) -> Result<String, HashError> {
    if password.is_empty() {
        return Err(HashError::Empty);
    }
    // Whatever a terminal or a pipe delivered with a control character in it is far more
    // likely a mistake (a pasted newline) than a password anyone can type again.
    if password.chars().any(char::is_control) {
        return Err(HashError::ControlCharacter);
    }
    let failed = |reason: String| HashError::Failed {
        scheme: scheme.name(),
        reason,
    };
    let value = match scheme {
        HashScheme::Argon2id => argon2id(password).map_err(failed)?,
        HashScheme::Sha512Crypt => sha_crypt(password, true).map_err(failed)?,
        HashScheme::Sha256Crypt => sha_crypt(password, false).map_err(failed)?,
        HashScheme::BlfCrypt => {
            if password.len() > 72 {
                return Err(HashError::TooLongForBcrypt);
            }
            bcrypt::non_truncating_hash_with_result(password, BCRYPT_COST)
                .map_err(|e| failed(e.to_string()))?
                .format_for_version(bcrypt::Version::TwoY)
        }
        HashScheme::Ssha512 => {
            let salt: [u8; 16] = rand::random();
            let mut raw = Sha512::new()
                .chain_update(password.as_bytes())
                .chain_update(salt)
                .finalize()
                .to_vec();
            raw.extend_from_slice(&salt);
            STANDARD.encode(raw)
        }
        HashScheme::Plain => {
            if password.contains(':') {
                return Err(HashError::ColonInPlain);
            }
            password.to_owned()
        }
    };
    Ok(format!("{{{}}}{value}", scheme.name()))
}

fn argon2id(password: &str) -> Result<String, String> {
    use argon2::password_hash::{PasswordHasher, SaltString};
    use argon2::{Algorithm, Argon2, Params, Version};
    let params = Params::new(ARGON2_M_COST_KIB, ARGON2_T_COST, ARGON2_P_COST, None)
        .map_err(|e| e.to_string())?;
    let salt: [u8; 16] = rand::random();
    // PHC's unpadded base64, which is what libsodium (and so Dovecot) writes and reads.
    let salt = SaltString::encode_b64(&salt).map_err(|e| e.to_string())?;
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| e.to_string())
}

fn sha_crypt(password: &str, sha512: bool) -> Result<String, String> {
    use sha_crypt::{Sha256Params, Sha512Params};
    // 16 characters is the most SHA-crypt uses; 256 is a multiple of 64, so `% 64` is unbiased.
    let salt: String = rand::random::<[u8; 16]>()
        .iter()
        .map(|b| char::from(super::md5_crypt::ITOA64[usize::from(b % 64)]))
        .collect();
    let (id, hash) = if sha512 {
        let params = Sha512Params::new(SHA_CRYPT_ROUNDS).map_err(|e| format!("{e:?}"))?;
        let hash = sha_crypt::sha512_crypt_b64(password.as_bytes(), salt.as_bytes(), &params);
        ("6", hash)
    } else {
        let params = Sha256Params::new(SHA_CRYPT_ROUNDS).map_err(|e| format!("{e:?}"))?;
        let hash = sha_crypt::sha256_crypt_b64(password.as_bytes(), salt.as_bytes(), &params);
        ("5", hash)
    };
    let hash = hash.map_err(|e| format!("{e:?}"))?;
    Ok(format!("${id}$rounds={SHA_CRYPT_ROUNDS}${salt}${hash}"))
}

#[cfg(test)]
mod tests {
    use super::super::scheme::{Secret, Verdict};
    use super::*;

    fn verify(field: &str, password: &str) -> Verdict {
        Secret::parse(field)
            .unwrap_or_else(|e| panic!("{field}: {e}"))
            .verify_password(password)
    }

    #[test]
    fn every_scheme_verifies_through_the_server_code() {
        let password = "correct hörse 1";
        for scheme in HashScheme::ALL {
            let field = hash_password(scheme, password).unwrap();
            assert!(
                field.starts_with(&format!("{{{}}}", scheme.name())),
                "{field}"
            );
            assert!(!matches!(
                Secret::parse(&field).unwrap(),
                Secret::Malformed { .. }
            ));
            assert_eq!(verify(&field, password), Verdict::Match, "{scheme}");
            assert_eq!(
                verify(&field, "correct horse 1"),
                Verdict::Mismatch,
                "{scheme}"
            );
        }
    }

    #[test]
    fn salts_are_fresh() {
        for scheme in HashScheme::ALL {
            let a = hash_password(scheme, "same").unwrap();
            let b = hash_password(scheme, "same").unwrap();
            assert_eq!(a == b, scheme == HashScheme::Plain, "{scheme}: {a} {b}");
        }
    }

    #[test]
    fn argon2id_form_and_parameters() {
        let field = hash_password(HashScheme::Argon2id, "pw").unwrap();
        let rest = field.strip_prefix("{ARGON2ID}$argon2id$v=19$").unwrap();
        let params = rest.split('$').next().unwrap();
        assert_eq!(params, "m=65536,t=3,p=1");
        // At least OWASP's weakest recommended Argon2id setting (m=19 MiB, t=2, p=1).
        const { assert!(ARGON2_M_COST_KIB >= 19 * 1024 && ARGON2_T_COST >= 2) };
        // Salt and hash are unpadded base64, as libsodium writes them.
        let parts: Vec<&str> = rest.split('$').collect();
        assert_eq!(parts.len(), 3, "{field}");
        assert!(
            !parts[1].contains('=') && !parts[2].contains('='),
            "{field}"
        );
    }

    #[test]
    fn refusals() {
        assert!(matches!(
            hash_password(HashScheme::Argon2id, ""),
            Err(HashError::Empty)
        ));
        assert!(matches!(
            hash_password(HashScheme::Sha512Crypt, "a\nb"),
            Err(HashError::ControlCharacter)
        ));
        assert!(matches!(
            hash_password(HashScheme::Plain, "a:b"),
            Err(HashError::ColonInPlain)
        ));
        assert!(matches!(
            hash_password(HashScheme::BlfCrypt, &"x".repeat(73)),
            Err(HashError::TooLongForBcrypt)
        ));
        // A colon is fine once hashed.
        let field = hash_password(HashScheme::Ssha512, "a:b").unwrap();
        assert_eq!(verify(&field, "a:b"), Verdict::Match);
    }

    #[test]
    fn scheme_names() {
        assert_eq!(
            "sha512-crypt".parse::<HashScheme>().unwrap(),
            HashScheme::Sha512Crypt
        );
        assert_eq!("CLEAR".parse::<HashScheme>().unwrap(), HashScheme::Plain);
        assert!("MD5-CRYPT".parse::<HashScheme>().is_err());
    }
}
