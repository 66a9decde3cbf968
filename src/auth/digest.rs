//! Single-pass message-digest schemes: PLAIN-MD5, LDAP-MD5, SHA256, SHA512 and their salted
//! forms SMD5, SSHA256, SSHA512.
//!
//! They are fast and therefore weak, but they are what LDAP exports and older Dovecot setups
//! contain. Salted forms store `digest(password || salt) || salt`, so the salt is whatever
//! follows the digest.

use md5::Md5;
use sha2::{Digest, Sha256, Sha512};
use subtle::ConstantTimeEq;

/// The hash function of a digest scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Algo {
    Md5,
    Sha256,
    Sha512,
}

impl Algo {
    /// Digest length in bytes.
    pub(crate) fn output_len(self) -> usize {
        match self {
            Algo::Md5 => 16,
            Algo::Sha256 => 32,
            Algo::Sha512 => 64,
        }
    }

    fn digest(self, password: &[u8], salt: &[u8]) -> Vec<u8> {
        match self {
            Algo::Md5 => Md5::new()
                .chain_update(password)
                .chain_update(salt)
                .finalize()
                .to_vec(),
            Algo::Sha256 => Sha256::new()
                .chain_update(password)
                .chain_update(salt)
                .finalize()
                .to_vec(),
            Algo::Sha512 => Sha512::new()
                .chain_update(password)
                .chain_update(salt)
                .finalize()
                .to_vec(),
        }
    }
}

/// A stored digest, with its salt (empty for the unsalted schemes).
#[derive(Clone)]
pub(crate) struct StoredDigest {
    algo: Algo,
    salted: bool,
    hash: Vec<u8>,
    salt: Vec<u8>,
}

impl StoredDigest {
    /// From the decoded bytes of an unsalted scheme.
    pub(crate) fn unsalted(algo: Algo, raw: Vec<u8>) -> Result<Self, String> {
        if raw.len() != algo.output_len() {
            return Err(format!(
                "digest is {} bytes, expected {}",
                raw.len(),
                algo.output_len()
            ));
        }
        Ok(StoredDigest {
            algo,
            salted: false,
            hash: raw,
            salt: Vec::new(),
        })
    }

    /// From the decoded bytes of a salted scheme: digest first, salt after.
    pub(crate) fn salted(algo: Algo, mut raw: Vec<u8>) -> Result<Self, String> {
        if raw.len() <= algo.output_len() {
            return Err(format!(
                "salted digest is {} bytes, too short to hold a salt",
                raw.len()
            ));
        }
        let salt = raw.split_off(algo.output_len());
        Ok(StoredDigest {
            algo,
            salted: true,
            hash: raw,
            salt,
        })
    }

    /// Does `password` produce this digest?
    pub(crate) fn verify(&self, password: &[u8]) -> bool {
        self.algo
            .digest(password, &self.salt)
            .ct_eq(&self.hash)
            .into()
    }

    /// A name for logs.
    pub(crate) fn name(&self) -> &'static str {
        match (self.algo, self.salted) {
            (Algo::Md5, false) => "PLAIN-MD5",
            (Algo::Md5, true) => "SMD5",
            (Algo::Sha256, false) => "SHA256",
            (Algo::Sha256, true) => "SSHA256",
            (Algo::Sha512, false) => "SHA512",
            (Algo::Sha512, true) => "SSHA512",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn salted_split_and_verify() {
        let mut raw = Algo::Sha256.digest(b"pw", b"NaCl");
        raw.extend_from_slice(b"NaCl");
        let stored = StoredDigest::salted(Algo::Sha256, raw).unwrap();
        assert!(stored.verify(b"pw"));
        assert!(!stored.verify(b"pw2"));
        assert!(!stored.verify(b"pwNaCl"));
    }

    #[test]
    fn lengths_are_enforced() {
        assert!(StoredDigest::unsalted(Algo::Md5, vec![0; 15]).is_err());
        assert!(StoredDigest::unsalted(Algo::Md5, vec![0; 16]).is_ok());
        assert!(StoredDigest::salted(Algo::Sha512, vec![0; 64]).is_err());
        assert!(StoredDigest::salted(Algo::Sha512, vec![0; 65]).is_ok());
    }
}
