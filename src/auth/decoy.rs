//! The stand-in secret verified when a login names a user that does not exist.
//!
//! If unknown users were refused at once, the answer time would tell an attacker which names
//! exist. So an unknown user's password is checked against a decoy that costs what a real
//! account costs: the decoy copies the scheme and cost parameters most common in the loaded
//! file (bcrypt cost 12 if most accounts use bcrypt cost 12, and so on), with random salt and
//! hash so nothing can ever match it. It is built from random bytes, not by hashing, so making
//! one costs nothing even for a 64 MiB Argon2 setting.

use super::crypt::{CryptHash, ShaBits};
use super::digest::{Algo, StoredDigest};
use super::md5_crypt::ITOA64;
use super::passwd::PasswdDb;
use super::scheme::Secret;
use base64::Engine;
use std::collections::HashMap;

/// What decides the cost of verifying a secret.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum CostClass {
    /// Single-hash schemes and plaintext: microseconds either way.
    Cheap,
    Md5Crypt,
    Sha {
        bits: ShaBits,
        rounds: usize,
    },
    Bcrypt {
        cost: u32,
    },
    Argon2 {
        algorithm: String,
        version: Option<u32>,
        m: u32,
        t: u32,
        p: u32,
        output_len: usize,
    },
}

/// Used when the file has no usable secret at all: glibc's default SHA512-CRYPT.
const FALLBACK: CostClass = CostClass::Sha {
    bits: ShaBits::Sha512,
    rounds: 5000,
};

/// A decoy matching the most common cost class in `db`.
pub(crate) fn decoy_for(db: &PasswdDb) -> Secret {
    let mut counts: HashMap<CostClass, usize> = HashMap::new();
    for account in db.accounts() {
        if let Some(class) = cost_class(&account.secret.parsed) {
            *counts.entry(class).or_default() += 1;
        }
    }
    // Ties go to the costlier class, so the choice does not depend on hash-map order.
    let class = counts
        .into_iter()
        .max_by(|a, b| a.1.cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
    build(&class.map_or(FALLBACK, |(class, _)| class))
}

/// The cost class of a stored secret; `None` for secrets no login ever verifies.
pub(crate) fn cost_class(secret: &Secret) -> Option<CostClass> {
    match secret {
        Secret::Plain(_) | Secret::CramMd5(_) | Secret::Digest(_) => Some(CostClass::Cheap),
        Secret::Crypt(CryptHash::Md5 { .. }) => Some(CostClass::Md5Crypt),
        Secret::Crypt(CryptHash::Sha { bits, rounds, .. }) => Some(CostClass::Sha {
            bits: *bits,
            rounds: *rounds,
        }),
        Secret::Crypt(CryptHash::Bcrypt { cost, .. }) => Some(CostClass::Bcrypt { cost: *cost }),
        Secret::Crypt(CryptHash::Argon2(text)) => argon2_class(text),
        Secret::Crypt(CryptHash::Locked) | Secret::None | Secret::Malformed { .. } => None,
    }
}

fn argon2_class(text: &str) -> Option<CostClass> {
    let parsed = argon2::PasswordHash::new(text).ok()?;
    let params = argon2::Params::try_from(&parsed).ok()?;
    Some(CostClass::Argon2 {
        algorithm: parsed.algorithm.as_str().to_owned(),
        version: parsed.version,
        m: params.m_cost(),
        t: params.t_cost(),
        p: params.p_cost(),
        output_len: parsed.hash.map_or(32, |output| output.len()),
    })
}

/// A secret of `class` that no password matches.
pub(crate) fn build(class: &CostClass) -> Secret {
    match class {
        CostClass::Cheap => {
            let raw: Vec<u8> = random_bytes(Algo::Sha512.output_len() + 8);
            Secret::Digest(StoredDigest::salted(Algo::Sha512, raw).expect("long enough"))
        }
        CostClass::Md5Crypt => Secret::Crypt(CryptHash::Md5 {
            salt: crypt64(8),
            hash: crypt64(22),
        }),
        CostClass::Sha { bits, rounds } => Secret::Crypt(CryptHash::Sha {
            bits: *bits,
            rounds: *rounds,
            salt: crypt64(16),
            hash: crypt64(bits.hash_len()),
        }),
        CostClass::Bcrypt { cost } => {
            let salt = bcrypt::BASE_64.encode(random_bytes(16));
            let hash = bcrypt::BASE_64.encode(random_bytes(23));
            let full = format!("$2y${cost:02}${salt}{hash}");
            Secret::Crypt(CryptHash::Bcrypt { cost: *cost, full })
        }
        CostClass::Argon2 {
            algorithm,
            version,
            m,
            t,
            p,
            output_len,
        } => {
            let b64 = base64::engine::general_purpose::STANDARD_NO_PAD;
            let version = version.map(|v| format!("$v={v}")).unwrap_or_default();
            let text = format!(
                "${algorithm}{version}$m={m},t={t},p={p}${}${}",
                b64.encode(random_bytes(16)),
                b64.encode(random_bytes(*output_len)),
            );
            match CryptHash::parse(&text) {
                Ok(hash) => Secret::Crypt(hash),
                Err(_) => build(&FALLBACK),
            }
        }
    }
}

fn random_bytes(len: usize) -> Vec<u8> {
    (0..len).map(|_| rand::random::<u8>()).collect()
}

fn crypt64(len: usize) -> String {
    (0..len)
        .map(|_| char::from(ITOA64[usize::from(rand::random::<u8>() % 64)]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::scheme::Verdict;

    fn db(text: &str) -> PasswdDb {
        PasswdDb::parse(text, "test").unwrap()
    }

    const BCRYPT4: &str = "$2y$04$La3bcdAcsdaOBkn7HS1Fyu5vBx2M0Yf3Nm54ldyLXtOUKQthSFfG2";
    const SHA256_1000: &str =
        "$5$rounds=1000$h74lXt5OW4LE2Yua$5oIo/9Qb2yElUPSYEtfc4fcV4Onns8nCbvB7ewbHD93";

    #[test]
    fn copies_the_most_common_cost_class() {
        let text = format!("a:{BCRYPT4}\nb:{BCRYPT4}\nc:{SHA256_1000}\nd:{{PLAIN}}x\ne:!locked\n");
        let decoy = decoy_for(&db(&text));
        assert_eq!(cost_class(&decoy), Some(CostClass::Bcrypt { cost: 4 }));
        assert_eq!(decoy.verify_password("demo"), Verdict::Mismatch);

        let text = format!("a:{BCRYPT4}\nc:{SHA256_1000}\nd:{SHA256_1000}\n");
        let decoy = decoy_for(&db(&text));
        assert_eq!(
            cost_class(&decoy),
            Some(CostClass::Sha {
                bits: ShaBits::Sha256,
                rounds: 1000
            })
        );
        assert_eq!(decoy.verify_password("demo"), Verdict::Mismatch);
    }

    #[test]
    fn falls_back_to_sha512_crypt() {
        assert_eq!(cost_class(&decoy_for(&db(""))), Some(FALLBACK));
        assert_eq!(cost_class(&decoy_for(&db("a:!\nb:\n"))), Some(FALLBACK));
    }

    #[test]
    fn every_class_builds_a_verifiable_non_matching_secret() {
        let argon2 = "$argon2id$v=19$m=65536,t=3,p=1$vsRYrFIsy/I4we0jJcPVzw$XgTXFVfmeBgnFMRMGXsDcrghpbim0FYMeZoMfBCeFiE";
        let argon2_class = argon2_class(argon2).unwrap();
        assert_eq!(
            argon2_class,
            CostClass::Argon2 {
                algorithm: "argon2id".into(),
                version: Some(19),
                m: 65536,
                t: 3,
                p: 1,
                output_len: 32
            }
        );
        // Same parameters, so the same cost; not verified here (64 MiB is slow in debug builds).
        assert_eq!(argon2_class_of(&build(&argon2_class)), Some(argon2_class));

        for class in [
            CostClass::Cheap,
            CostClass::Md5Crypt,
            CostClass::Sha {
                bits: ShaBits::Sha512,
                rounds: 1000,
            },
            CostClass::Bcrypt { cost: 4 },
        ] {
            let decoy = build(&class);
            assert_eq!(cost_class(&decoy), Some(class.clone()));
            assert_eq!(
                decoy.verify_password("anything"),
                Verdict::Mismatch,
                "{class:?}"
            );
        }
    }

    fn argon2_class_of(secret: &Secret) -> Option<CostClass> {
        match secret {
            Secret::Crypt(CryptHash::Argon2(text)) => argon2_class(text),
            _ => None,
        }
    }
}
