//! crypt(3)-style hashes, recognised by their `$id$` prefix.
//!
//! Dovecot verifies all of its crypt-family schemes (CRYPT, MD5-CRYPT, SHA256-CRYPT,
//! SHA512-CRYPT, BLF-CRYPT, ARGON2I/ID) by handing the stored string to a function that reads
//! the prefix, so the `{SCHEME}` label does not have to agree with it. We do the same. The
//! string is taken apart when the passwd-file is loaded, so a login never meets a hash it cannot
//! read without the administrator having been told.

use super::md5_crypt::{self, ITOA64};
use argon2::{Algorithm, Argon2, PasswordHash, PasswordVerifier};
use sha_crypt::{ROUNDS_DEFAULT, ROUNDS_MAX, ROUNDS_MIN, Sha256Params, Sha512Params};
use subtle::ConstantTimeEq;

/// The largest Argon2 memory cost accepted (1 GiB; libsodium's "sensitive" level).
const MAX_ARGON2_MEMORY_KIB: u32 = 1 << 20;

/// A parsed crypt(3) hash.
#[derive(Clone)]
pub(crate) enum CryptHash {
    /// `!…` or `*…` (as in `/etc/shadow`): an account that must never match.
    Locked,
    /// `$1$salt$hash`.
    Md5 { salt: String, hash: String },
    /// `$5$` (SHA-256) or `$6$` (SHA-512), `rounds` already clamped as glibc does.
    Sha {
        bits: ShaBits,
        rounds: usize,
        salt: String,
        hash: String,
    },
    /// `$2a$`, `$2b$`, `$2x$` or `$2y$`, checked to be decodable.
    Bcrypt { cost: u32, full: String },
    /// `$argon2i$`, `$argon2id$` (or `$argon2d$`) in PHC form, as libsodium writes it.
    Argon2(String),
}

/// Which SHA-crypt variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum ShaBits {
    Sha256,
    Sha512,
}

impl ShaBits {
    /// Length of the encoded hash part.
    pub(crate) fn hash_len(self) -> usize {
        match self {
            ShaBits::Sha256 => 43,
            ShaBits::Sha512 => 86,
        }
    }
}

/// Why a crypt string was not accepted.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum CryptParseError {
    /// A format we do not implement at all (DES, yescrypt, ...): the file is wrong for us.
    Unsupported(String),
    /// A format we know, but this hash is damaged.
    Malformed(String),
}

impl CryptHash {
    /// Takes a crypt(3) string apart.
    pub(crate) fn parse(text: &str) -> Result<CryptHash, CryptParseError> {
        use CryptParseError::*;
        if text.starts_with('!') || text.starts_with('*') {
            return Ok(CryptHash::Locked);
        }
        if let Some(rest) = text.strip_prefix("$1$") {
            return parse_md5(rest).map_err(Malformed);
        }
        if let Some(rest) = text.strip_prefix("$5$") {
            return parse_sha(ShaBits::Sha256, rest).map_err(Malformed);
        }
        if let Some(rest) = text.strip_prefix("$6$") {
            return parse_sha(ShaBits::Sha512, rest).map_err(Malformed);
        }
        if ["$2a$", "$2b$", "$2x$", "$2y$"]
            .iter()
            .any(|p| text.starts_with(p))
        {
            return parse_bcrypt(text).map_err(Malformed);
        }
        if text.starts_with("$argon2") {
            return parse_argon2(text).map_err(Malformed);
        }
        Err(Unsupported(describe_unsupported(text)))
    }

    /// Does `password` produce this hash? `Err` means the hash could not be computed.
    pub(crate) fn verify(&self, password: &[u8]) -> Result<bool, String> {
        match self {
            CryptHash::Locked => Ok(false),
            CryptHash::Md5 { salt, hash } => {
                let computed = md5_crypt::md5_crypt(password, salt.as_bytes());
                Ok(computed.as_bytes().ct_eq(hash.as_bytes()).into())
            }
            CryptHash::Sha {
                bits,
                rounds,
                salt,
                hash,
            } => {
                let computed = match bits {
                    ShaBits::Sha256 => Sha256Params::new(*rounds)
                        .and_then(|p| sha_crypt::sha256_crypt_b64(password, salt.as_bytes(), &p)),
                    ShaBits::Sha512 => Sha512Params::new(*rounds)
                        .and_then(|p| sha_crypt::sha512_crypt_b64(password, salt.as_bytes(), &p)),
                }
                .map_err(|e| format!("SHA-crypt failed: {e:?}"))?;
                Ok(computed.as_bytes().ct_eq(hash.as_bytes()).into())
            }
            CryptHash::Bcrypt { full, .. } => {
                bcrypt::verify(password, full).map_err(|_| "bcrypt verification failed".to_owned())
            }
            CryptHash::Argon2(full) => {
                let parsed = PasswordHash::new(full).map_err(|e| format!("argon2 hash: {e}"))?;
                match Argon2::default().verify_password(password, &parsed) {
                    Ok(()) => Ok(true),
                    Err(argon2::password_hash::Error::Password) => Ok(false),
                    Err(e) => Err(format!("argon2 failed: {e}")),
                }
            }
        }
    }

    /// A name for logs.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            CryptHash::Locked => "CRYPT (locked)",
            CryptHash::Md5 { .. } => "MD5-CRYPT",
            CryptHash::Sha {
                bits: ShaBits::Sha256,
                ..
            } => "SHA256-CRYPT",
            CryptHash::Sha {
                bits: ShaBits::Sha512,
                ..
            } => "SHA512-CRYPT",
            CryptHash::Bcrypt { .. } => "BLF-CRYPT",
            CryptHash::Argon2(_) => "ARGON2",
        }
    }
}

fn is_crypt64(text: &str) -> bool {
    text.bytes().all(|b| ITOA64.contains(&b))
}

fn parse_md5(rest: &str) -> Result<CryptHash, String> {
    let (salt, hash) = rest
        .split_once('$')
        .ok_or("MD5-CRYPT hash has no '$' after the salt")?;
    if hash.len() != md5_crypt::HASH_LEN || !is_crypt64(hash) {
        return Err(format!(
            "MD5-CRYPT hash part must be {} crypt64 characters",
            md5_crypt::HASH_LEN
        ));
    }
    let salt = salt.chars().take(md5_crypt::MAX_SALT).collect();
    Ok(CryptHash::Md5 {
        salt,
        hash: hash.to_owned(),
    })
}

fn parse_sha(bits: ShaBits, rest: &str) -> Result<CryptHash, String> {
    let fields: Vec<&str> = rest.split('$').collect();
    let (rounds, salt, hash) = match fields.as_slice() {
        [r, salt, hash] if r.starts_with("rounds=") => {
            let r = &r["rounds=".len()..];
            let n: u64 = r
                .parse()
                .map_err(|_| format!("rounds={r} is not a number"))?;
            // glibc clamps instead of refusing, and hashes it wrote that way must still verify.
            let n = n.clamp(ROUNDS_MIN as u64, ROUNDS_MAX as u64);
            (usize::try_from(n).unwrap_or(ROUNDS_MAX), *salt, *hash)
        }
        [salt, hash] => (ROUNDS_DEFAULT, *salt, *hash),
        _ => return Err("SHA-crypt hash must be $id$[rounds=N$]salt$hash".to_owned()),
    };
    if hash.len() != bits.hash_len() || !is_crypt64(hash) {
        return Err(format!(
            "SHA-crypt hash part must be {} crypt64 characters",
            bits.hash_len()
        ));
    }
    // Only the first 16 salt characters take part, in glibc and in the sha-crypt crate alike.
    let salt = salt.chars().take(16).collect();
    Ok(CryptHash::Sha {
        bits,
        rounds,
        salt,
        hash: hash.to_owned(),
    })
}

fn parse_bcrypt(text: &str) -> Result<CryptHash, String> {
    use base64::Engine;
    // The crate's errors quote the whole hash; keep stored hashes out of logs.
    let parts: bcrypt::HashParts = text
        .parse()
        .map_err(|_| "bcrypt hash must be $2y$NN$ and 53 characters".to_owned())?;
    let cost = parts.get_cost();
    if !(4..=31).contains(&cost) {
        return Err(format!("bcrypt cost {cost} is outside 4..=31"));
    }
    let salt = bcrypt::BASE_64
        .decode(parts.get_salt())
        .map_err(|_| "bcrypt salt is not bcrypt base64")?;
    if salt.len() != 16 {
        return Err("bcrypt salt must be 16 bytes".to_owned());
    }
    let hash = text
        .rsplit('$')
        .next()
        .and_then(|last| last.get(22..))
        .unwrap_or_default();
    bcrypt::BASE_64
        .decode(hash)
        .map_err(|_| "bcrypt hash is not bcrypt base64")?;
    Ok(CryptHash::Bcrypt {
        cost,
        full: text.to_owned(),
    })
}

fn parse_argon2(text: &str) -> Result<CryptHash, String> {
    let parsed = PasswordHash::new(text).map_err(|e| format!("argon2 hash: {e}"))?;
    Algorithm::try_from(parsed.algorithm).map_err(|e| format!("argon2 algorithm: {e}"))?;
    let params =
        argon2::Params::try_from(&parsed).map_err(|e| format!("argon2 parameters: {e}"))?;
    // Every login allocates this much; past the limit one verification could exhaust memory
    // and abort the whole server rather than fail one login.
    if params.m_cost() > MAX_ARGON2_MEMORY_KIB {
        return Err(format!(
            "argon2 memory cost m={} KiB is above the {MAX_ARGON2_MEMORY_KIB} KiB limit",
            params.m_cost()
        ));
    }
    if parsed.salt.is_none() || parsed.hash.is_none() {
        return Err("argon2 hash lacks a salt or an output".to_owned());
    }
    Ok(CryptHash::Argon2(text.to_owned()))
}

/// A hint for the administrator about what the unsupported string probably is.
fn describe_unsupported(text: &str) -> String {
    if text.len() == 13 && is_crypt64(text) {
        "DES-CRYPT hashes are not supported".to_owned()
    } else if let Some(id) = text.strip_prefix('$').and_then(|t| t.split('$').next()) {
        format!("crypt(3) format ${id}$ is not supported")
    } else {
        "not a supported crypt(3) hash (a cleartext password needs a {PLAIN} prefix)".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PW: &str = "pässword 1";

    fn check(hash: &str, good: &str, bad: &str) {
        let parsed = CryptHash::parse(hash).unwrap_or_else(|e| panic!("{hash}: {e:?}"));
        assert_eq!(
            parsed.verify(good.as_bytes()),
            Ok(true),
            "{hash} with the right password"
        );
        assert_eq!(
            parsed.verify(bad.as_bytes()),
            Ok(false),
            "{hash} with a wrong password"
        );
    }

    #[test]
    fn sha_crypt_dovecot_vectors() {
        // `doveadm pw -s SHA512-CRYPT`, `-s SHA256-CRYPT`, with and without `-r`.
        check(
            "$6$d7RiGAlYoFPYXxi6$gWFDvQk5FDTrzSqKKk7hyEfogquEuiNMcNHxGtPofob4A/4fkjB2Vs11dwX9H/Tm8bV/rkXfyTT3niBum1uJs.",
            PW,
            "password 1",
        );
        check(
            "$5$lPMy5Z5Hmpr6iWCR$XMS9pOMsjcfRKC9ram8wRJuDRX1MifdKhPu61URR5i0",
            PW,
            "pässword",
        );
        check(
            "$6$rounds=10000$VE7GC4jrvM6XlfEx$MSOaClzOkz9t462iVQ55Ej/nQ1yIJiH/YbLbXFCohKtlAbQAcryDfljKG7KosWRPL3ZiHioOMyQZcwp74BktI1",
            "demo",
            "Demo",
        );
        check(
            "$5$rounds=1000$h74lXt5OW4LE2Yua$5oIo/9Qb2yElUPSYEtfc4fcV4Onns8nCbvB7ewbHD93",
            "demo",
            "demo ",
        );
    }

    #[test]
    fn sha_crypt_rounds_are_parsed_and_clamped() {
        let parsed =
            CryptHash::parse("$5$rounds=10$salt$5oIo/9Qb2yElUPSYEtfc4fcV4Onns8nCbvB7ewbHD93");
        assert!(matches!(parsed, Ok(CryptHash::Sha { rounds: 1000, .. })));
        let parsed = CryptHash::parse("$6$rounds=x$salt$hash");
        assert!(matches!(parsed, Err(CryptParseError::Malformed(_))));
    }

    #[test]
    fn md5_crypt_dovecot_vector() {
        check("$1$gMl3YIaY$8eNqtxiYOPCXXjEV9rje41", PW, "pässword 2");
    }

    #[test]
    fn bcrypt_dovecot_vectors() {
        check(
            "$2y$05$aW78U03ktC.dvqN62PeSWu8RvWdPrY3IeuT1zul1MtoEFz5ga1aBG",
            PW,
            "pässword 2",
        );
        check(
            "$2y$04$La3bcdAcsdaOBkn7HS1Fyu5vBx2M0Yf3Nm54ldyLXtOUKQthSFfG2",
            "demo",
            "demo2",
        );
    }

    #[test]
    fn argon2i_dovecot_vector() {
        let parsed = CryptHash::parse(
            "$argon2i$v=19$m=32768,t=4,p=1$EtRkmuh3/oYpzguN15nAaw$nN5EMiGcXf1ax70BNWCUvReMrX3CLj986yNGPc+e6YA",
        )
        .unwrap();
        assert_eq!(parsed.verify(PW.as_bytes()), Ok(true));
    }

    #[test]
    fn locked_never_matches() {
        let parsed = CryptHash::parse("!$1$gMl3YIaY$8eNqtxiYOPCXXjEV9rje41").unwrap();
        assert_eq!(parsed.verify(PW.as_bytes()), Ok(false));
        assert_eq!(CryptHash::parse("*").unwrap().verify(b""), Ok(false));
    }

    #[test]
    fn damaged_and_unsupported_hashes_are_told_apart() {
        use CryptParseError::*;
        for damaged in [
            "$6$salt$tooshort",
            "$6$a$b$c$d",
            "$1$nosalthash",
            "$2y$05$aW78U03ktC.dvqN62PeSWu8RvWdPrY3IeuT1zul1Mto",
            "$2y$99$aW78U03ktC.dvqN62PeSWu8RvWdPrY3IeuT1zul1MtoEFz5ga1aBG",
            "$argon2id$v=19$m=65536,t=3,p=1$vsRYrFIsy/I4we0jJcPVzw",
            "$argon2id$v=19$m=4194304,t=3,p=1$vsRYrFIsy/I4we0jJcPVzw$XgTXFVfmeBgnFMRMGXsDcrghpbim0FYMeZoMfBCeFiE",
        ] {
            assert!(
                matches!(CryptHash::parse(damaged), Err(Malformed(_))),
                "{damaged}"
            );
        }
        for unsupported in ["abJnggxhB/yWI", "$y$j9T$abc$def", "hunter2", ""] {
            assert!(
                matches!(CryptHash::parse(unsupported), Err(Unsupported(_))),
                "{unsupported}"
            );
        }
    }
}
