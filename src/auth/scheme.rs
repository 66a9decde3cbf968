//! Dovecot password schemes: turning a passwd-file password field (`{SCHEME[.ENC]}secret`)
//! into a [`Secret`], and checking what a client presents against it.
//!
//! Parsing happens once, when the file is loaded, so an unknown scheme stops the load with the
//! line number instead of surfacing at some user's next login. A known scheme with a damaged
//! value does not stop the load (one broken line should not lock everybody else out on a
//! reload); it becomes [`Secret::Malformed`], which answers every login with a temporary
//! failure and a log line for the administrator.

use super::cram::{CramContext, hex_lower};
use super::crypt::{CryptHash, CryptParseError};
use super::digest::{Algo, StoredDigest};
use base64::Engine;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use md5::{Digest, Md5};
use sha2::Sha256;
use std::fmt;
use subtle::ConstantTimeEq;

/// Dovecot's base64 decoder does not insist on padding; neither do we.
const LENIENT_B64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// A stored password, parsed.
#[derive(Clone)]
pub(crate) enum Secret {
    /// Empty password field: the account cannot log in with a password.
    None,
    /// PLAIN, CLEAR, CLEARTEXT.
    Plain(String),
    /// Dovecot's precomputed HMAC-MD5 states.
    CramMd5(CramContext),
    Digest(StoredDigest),
    Crypt(CryptHash),
    /// A known scheme whose value could not be decoded; logins get a temporary failure.
    Malformed {
        scheme: String,
        reason: String,
    },
}

/// A password field the file must not be loaded with.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum SchemeError {
    #[error("unknown password scheme {{{0}}}")]
    Unknown(String),
    #[error("password scheme {{{0}}} does not take an encoding suffix")]
    NoSuffix(String),
    #[error("{0}")]
    UnsupportedCrypt(String),
}

/// The outcome of checking a login against a [`Secret`].
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    Match,
    Mismatch,
    /// The stored form cannot answer this mechanism (APOP against a hash, for example).
    Unusable,
    /// The secret is damaged or its computation failed; the text is for logs.
    Broken(String),
}

impl From<bool> for Verdict {
    fn from(matched: bool) -> Self {
        if matched {
            Verdict::Match
        } else {
            Verdict::Mismatch
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Raw,
    Hex,
    Base64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Plain,
    CramMd5,
    Digest { algo: Algo, salted: bool },
    Crypt,
}

/// Dovecot's scheme names (case-insensitive) and their default encodings.
fn lookup(name: &str) -> Option<(Kind, Encoding)> {
    let digest = |algo, salted| Kind::Digest { algo, salted };
    Some(match name {
        "PLAIN" | "CLEAR" | "CLEARTEXT" => (Kind::Plain, Encoding::Raw),
        "CRAM-MD5" => (Kind::CramMd5, Encoding::Hex),
        "PLAIN-MD5" => (digest(Algo::Md5, false), Encoding::Hex),
        "LDAP-MD5" => (digest(Algo::Md5, false), Encoding::Base64),
        "SMD5" => (digest(Algo::Md5, true), Encoding::Base64),
        "SHA256" => (digest(Algo::Sha256, false), Encoding::Base64),
        "SSHA256" => (digest(Algo::Sha256, true), Encoding::Base64),
        "SHA512" => (digest(Algo::Sha512, false), Encoding::Base64),
        "SSHA512" => (digest(Algo::Sha512, true), Encoding::Base64),
        // Dovecot's {MD5} is MD5-CRYPT, not a bare MD5 digest.
        "CRYPT" | "MD5" | "MD5-CRYPT" | "SHA256-CRYPT" | "SHA512-CRYPT" | "BLF-CRYPT"
        | "ARGON2I" | "ARGON2ID" => (Kind::Crypt, Encoding::Raw),
        _ => return None,
    })
}

/// Decodes a scheme's value. Without an explicit suffix Dovecot guesses: a value of exactly
/// twice the raw length is tried as hex, and hex that fails to decode is tried as base64.
fn decode(
    text: &str,
    encoding: Encoding,
    guess: bool,
    raw_len: Option<usize>,
) -> Result<Vec<u8>, String> {
    let looks_hex = guess && raw_len.is_some_and(|n| text.len() == 2 * n);
    let encoding = if encoding == Encoding::Base64 && looks_hex {
        Encoding::Hex
    } else {
        encoding
    };
    let bytes = match encoding {
        Encoding::Raw => text.as_bytes().to_vec(),
        Encoding::Hex => match decode_hex(text) {
            Some(bytes) => bytes,
            None if guess => LENIENT_B64
                .decode(text)
                .map_err(|_| "neither hex nor base64".to_owned())?,
            None => return Err("not valid hex".to_owned()),
        },
        // The decoder's error quotes the offending character; keep stored values out of logs.
        Encoding::Base64 => LENIENT_B64
            .decode(text)
            .map_err(|_| "not valid base64".to_owned())?,
    };
    match raw_len {
        Some(n) if bytes.len() != n => {
            Err(format!("decodes to {} bytes, expected {n}", bytes.len()))
        }
        _ => Ok(bytes),
    }
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| {
            text.get(i..i + 2)
                .and_then(|pair| u8::from_str_radix(pair, 16).ok())
        })
        .collect()
}

impl Secret {
    /// Parses a passwd-file password field. A field without `{SCHEME}` is CRYPT, as in
    /// Dovecot's passwd-file default.
    pub(crate) fn parse(field: &str) -> Result<Secret, SchemeError> {
        if field.is_empty() {
            return Ok(Secret::None);
        }
        let (label, body) = field
            .strip_prefix('{')
            .and_then(|rest| rest.split_once('}'))
            .unwrap_or(("CRYPT", field));
        let upper = label.to_ascii_uppercase();
        let (name, suffix) = match upper.split_once('.') {
            Some((name, suffix)) => (name, Some(suffix)),
            None => (upper.as_str(), None),
        };
        let unknown = || SchemeError::Unknown(label.to_owned());
        let (kind, default) = lookup(name).ok_or_else(unknown)?;
        let encoding = match suffix {
            None => default,
            Some("HEX") => Encoding::Hex,
            Some("B64" | "BASE64") => Encoding::Base64,
            Some(_) => return Err(unknown()),
        };
        if kind == Kind::Crypt && suffix.is_some() {
            return Err(SchemeError::NoSuffix(label.to_owned()));
        }
        let guess = suffix.is_none();

        let parsed = match kind {
            Kind::Plain => decode(body, encoding, guess, None).and_then(|bytes| {
                String::from_utf8(bytes)
                    .map(Secret::Plain)
                    .map_err(|_| "not UTF-8".to_owned())
            }),
            Kind::CramMd5 => decode(body, encoding, guess, Some(32)).map(|bytes| {
                let bytes: [u8; 32] = bytes.try_into().expect("length checked by decode");
                Secret::CramMd5(CramContext::from_dovecot(&bytes))
            }),
            Kind::Digest {
                algo,
                salted: false,
            } => decode(body, encoding, guess, Some(algo.output_len()))
                .and_then(|raw| StoredDigest::unsalted(algo, raw))
                .map(Secret::Digest),
            Kind::Digest { algo, salted: true } => decode(body, encoding, guess, None)
                .and_then(|raw| StoredDigest::salted(algo, raw))
                .map(Secret::Digest),
            Kind::Crypt => match CryptHash::parse(body) {
                Ok(hash) => Ok(Secret::Crypt(hash)),
                Err(CryptParseError::Malformed(reason)) => Err(reason),
                Err(CryptParseError::Unsupported(reason)) => {
                    return Err(SchemeError::UnsupportedCrypt(reason));
                }
            },
        };
        Ok(parsed.unwrap_or_else(|reason| Secret::Malformed {
            scheme: name.to_owned(),
            reason,
        }))
    }

    /// Checks a password (USER/PASS, PLAIN, LOGIN). Empty passwords never match.
    pub(crate) fn verify_password(&self, password: &str) -> Verdict {
        let bytes = password.as_bytes();
        let verdict = match self {
            Secret::None => Verdict::Mismatch,
            // Hashing first keeps the comparison from revealing the stored length.
            Secret::Plain(stored) => Verdict::from(bool::from(
                Sha256::digest(stored.as_bytes()).ct_eq(&Sha256::digest(bytes)),
            )),
            Secret::CramMd5(ctx) => Verdict::from(CramContext::from_secret(bytes).ct_eq(ctx)),
            Secret::Digest(digest) => Verdict::from(digest.verify(bytes)),
            Secret::Crypt(hash) => match hash.verify(bytes) {
                Ok(matched) => Verdict::from(matched),
                Err(reason) => Verdict::Broken(reason),
            },
            Secret::Malformed { .. } => self.broken(),
        };
        if password.is_empty() && verdict == Verdict::Match {
            return Verdict::Mismatch;
        }
        verdict
    }

    /// Checks an APOP digest: lowercase hex MD5 of `timestamp || secret` (RFC 1939).
    pub(crate) fn verify_apop(&self, timestamp: &str, digest: &str) -> Verdict {
        match self {
            Secret::Plain(stored) => {
                let expected = Md5::new()
                    .chain_update(timestamp)
                    .chain_update(stored)
                    .finalize();
                let presented = digest.to_ascii_lowercase();
                Verdict::from(bool::from(
                    hex_lower(&expected).as_bytes().ct_eq(presented.as_bytes()),
                ))
            }
            Secret::Malformed { .. } => self.broken(),
            _ => Verdict::Unusable,
        }
    }

    /// Checks a CRAM-MD5 response: hex HMAC-MD5 of the challenge keyed by the secret.
    pub(crate) fn verify_cram(&self, challenge: &str, digest: &str) -> Verdict {
        let presented = digest.to_ascii_lowercase();
        match self {
            Secret::Plain(stored) => Verdict::from(
                CramContext::from_secret(stored.as_bytes())
                    .verify_response(challenge.as_bytes(), &presented),
            ),
            Secret::CramMd5(ctx) => {
                Verdict::from(ctx.verify_response(challenge.as_bytes(), &presented))
            }
            Secret::Malformed { .. } => self.broken(),
            _ => Verdict::Unusable,
        }
    }

    /// The password itself, when stored in clear.
    pub(crate) fn plaintext(&self) -> Option<&str> {
        match self {
            Secret::Plain(stored) => Some(stored),
            _ => None,
        }
    }

    /// True for secrets that refuse every password without computing anything (an empty
    /// field, a `!`/`*` locked hash).
    pub(crate) fn never_matches(&self) -> bool {
        matches!(self, Secret::None | Secret::Crypt(CryptHash::Locked))
    }

    pub(crate) fn supports_cram_md5(&self) -> bool {
        matches!(self, Secret::Plain(_) | Secret::CramMd5(_))
    }

    /// The scheme's name, for logs.
    pub(crate) fn name(&self) -> &str {
        match self {
            Secret::None => "none",
            Secret::Plain(_) => "PLAIN",
            Secret::CramMd5(_) => "CRAM-MD5",
            Secret::Digest(digest) => digest.name(),
            Secret::Crypt(hash) => hash.name(),
            Secret::Malformed { scheme, .. } => scheme,
        }
    }

    fn broken(&self) -> Verdict {
        match self {
            Secret::Malformed { scheme, reason } => {
                Verdict::Broken(format!("stored {scheme} secret is malformed: {reason}"))
            }
            _ => Verdict::Broken("unexpected secret".to_owned()),
        }
    }
}

impl fmt::Debug for Secret {
    /// Only the scheme: the value must never reach a log.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({})", self.name())
    }
}

#[cfg(test)]
mod tests;
