//! MD5-CRYPT (`$1$`), the FreeBSD/glibc MD5-based crypt(3).
//!
//! It is weak and only here so that old passwd-files (Dovecot's `{MD5}` and `{MD5-CRYPT}`
//! schemes, or `$1$` hashes copied from `/etc/shadow`) keep working after a migration. No crate
//! in the dependency set implements it, and the algorithm is short.

use md5::{Digest, Md5};

/// The crypt(3) base-64 alphabet.
pub(crate) const ITOA64: &[u8; 64] =
    b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Only the first eight salt characters count.
pub(crate) const MAX_SALT: usize = 8;

/// Length of the encoded hash after `$1$salt$`.
pub(crate) const HASH_LEN: usize = 22;

/// The encoded hash part (22 characters) of `$1$salt$hash` for `password`.
pub(crate) fn md5_crypt(password: &[u8], salt: &[u8]) -> String {
    let salt = &salt[..salt.len().min(MAX_SALT)];

    let alternate = Md5::new()
        .chain_update(password)
        .chain_update(salt)
        .chain_update(password)
        .finalize();

    let mut ctx = Md5::new()
        .chain_update(password)
        .chain_update(b"$1$")
        .chain_update(salt);
    for chunk in password.chunks(16) {
        ctx.update(&alternate[..chunk.len()]);
    }
    // The original mixes in NUL or the first password byte depending on the length's bits.
    let mut bits = password.len();
    while bits > 0 {
        if bits & 1 == 1 {
            ctx.update([0u8]);
        } else {
            ctx.update(&password[..1]);
        }
        bits >>= 1;
    }
    let mut digest = ctx.finalize();

    // 1000 rounds to slow down guessing, as specified by the original implementation.
    for round in 0..1000 {
        let mut ctx = Md5::new();
        if round % 2 == 1 {
            ctx.update(password);
        } else {
            ctx.update(digest);
        }
        if round % 3 != 0 {
            ctx.update(salt);
        }
        if round % 7 != 0 {
            ctx.update(password);
        }
        if round % 2 == 1 {
            ctx.update(digest);
        } else {
            ctx.update(password);
        }
        digest = ctx.finalize();
    }

    let mut out = String::with_capacity(HASH_LEN);
    let mut emit = |value: u32, chars: usize| {
        let mut value = value;
        for _ in 0..chars {
            out.push(char::from(ITOA64[(value & 0x3f) as usize]));
            value >>= 6;
        }
    };
    for (a, b, c) in [(0, 6, 12), (1, 7, 13), (2, 8, 14), (3, 9, 15), (4, 10, 5)] {
        let value = u32::from(digest[a]) << 16 | u32::from(digest[b]) << 8 | u32::from(digest[c]);
        emit(value, 4);
    }
    emit(u32::from(digest[11]), 2);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dovecot_vectors() {
        // `doveadm pw -s MD5-CRYPT -p 'pässword 1'` and `doveadm pw -s MD5 -p 'pässword 1'`
        assert_eq!(
            md5_crypt("pässword 1".as_bytes(), b"gMl3YIaY"),
            "8eNqtxiYOPCXXjEV9rje41"
        );
        assert_eq!(
            md5_crypt("pässword 1".as_bytes(), b"75yjYKN4"),
            "C/ztnlMd.6xkarcxMJ.oT1"
        );
        assert_ne!(
            md5_crypt(b"password 1", b"gMl3YIaY"),
            "8eNqtxiYOPCXXjEV9rje41"
        );
    }

    #[test]
    fn salt_is_cut_at_eight_characters() {
        assert_eq!(
            md5_crypt(b"demo", b"gMl3YIaYextra"),
            md5_crypt(b"demo", b"gMl3YIaY")
        );
        assert_ne!(
            md5_crypt(b"demo", b"gMl3YIa"),
            md5_crypt(b"demo", b"gMl3YIaY")
        );
    }

    #[test]
    fn empty_and_long_passwords_do_not_panic() {
        assert_eq!(md5_crypt(b"", b"salt").len(), HASH_LEN);
        assert_eq!(md5_crypt(&[b'x'; 100], b"salt").len(), HASH_LEN);
    }
}
