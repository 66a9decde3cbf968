//! HMAC-MD5 (RFC 2104) as CRAM-MD5 (RFC 2195) needs it, split at the point Dovecot stores.
//!
//! HMAC-MD5 absorbs one key-derived block into an inner and an outer MD5 state before it sees
//! the message. Dovecot's `{CRAM-MD5}` scheme stores exactly those two states, so a server can
//! answer CRAM-MD5 without keeping the password in clear. [`CramContext`] is that pair of
//! states: built from a password, loaded from Dovecot's 32-byte form, or used to compute the
//! response to a challenge.

use super::md5_block::{self, BLOCK};
use md5::{Digest, Md5};
use subtle::ConstantTimeEq;

/// The HMAC-MD5 inner and outer states after absorbing `key ^ ipad` and `key ^ opad`.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct CramContext {
    inner: [u32; 4],
    outer: [u32; 4],
}

impl CramContext {
    /// The states for `secret` as HMAC key; keys longer than a block are hashed first (RFC 2104).
    pub(crate) fn from_secret(secret: &[u8]) -> Self {
        let mut key = [0u8; BLOCK];
        if secret.len() > BLOCK {
            key[..16].copy_from_slice(&Md5::digest(secret));
        } else {
            key[..secret.len()].copy_from_slice(secret);
        }
        let pad = |byte: u8| {
            let mut block = key;
            block.iter_mut().for_each(|b| *b ^= byte);
            let mut state = md5_block::IV;
            md5_block::compress(&mut state, &block);
            state
        };
        CramContext {
            inner: pad(0x36),
            outer: pad(0x5c),
        }
    }

    /// Dovecot's layout (`hmac_md5_get_cram_context`): the outer state's four words, then the
    /// inner state's, each word little-endian.
    pub(crate) fn from_dovecot(bytes: &[u8; 32]) -> Self {
        let word = |i: usize| {
            u32::from_le_bytes([
                bytes[4 * i],
                bytes[4 * i + 1],
                bytes[4 * i + 2],
                bytes[4 * i + 3],
            ])
        };
        CramContext {
            outer: [word(0), word(1), word(2), word(3)],
            inner: [word(4), word(5), word(6), word(7)],
        }
    }

    /// The inverse of [`CramContext::from_dovecot`].
    pub(crate) fn to_dovecot(&self) -> [u8; 32] {
        let mut out = [0u8; 32];
        for (bytes, word) in out
            .chunks_exact_mut(4)
            .zip(self.outer.iter().chain(&self.inner))
        {
            bytes.copy_from_slice(&word.to_le_bytes());
        }
        out
    }

    /// HMAC-MD5 of `message` under this context's key.
    pub(crate) fn hmac(&self, message: &[u8]) -> [u8; 16] {
        let inner = md5_block::finish(self.inner, BLOCK as u64, message);
        md5_block::finish(self.outer, BLOCK as u64, &inner)
    }

    /// Does `digest` (lowercase hex, as the client sent it) answer `challenge`?
    pub(crate) fn verify_response(&self, challenge: &[u8], digest: &str) -> bool {
        bool::from(
            hex_lower(&self.hmac(challenge))
                .as_bytes()
                .ct_eq(digest.as_bytes()),
        )
    }

    /// Constant-time equality, for checking a password against a stored context.
    pub(crate) fn ct_eq(&self, other: &CramContext) -> bool {
        bool::from(self.to_dovecot().ct_eq(&other.to_dovecot()))
    }
}

/// Lowercase hex, the form APOP and CRAM-MD5 digests travel in.
pub(crate) fn hex_lower(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dovecot_bytes(hex: &str) -> [u8; 32] {
        let mut out = [0u8; 32];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap();
        }
        out
    }

    #[test]
    fn rfc2104_vectors() {
        let ctx = CramContext::from_secret(b"Jefe");
        assert_eq!(
            hex_lower(&ctx.hmac(b"what do ya want for nothing?")),
            "750c783e6ab0b503eaa86e310a5db738"
        );
        let ctx = CramContext::from_secret(&[0x0b; 16]);
        assert_eq!(
            hex_lower(&ctx.hmac(b"Hi There")),
            "9294727a3638bb1c13f48ef8158bfc9d"
        );
        // An 80-byte key is longer than a block and must be hashed first (RFC 2202, case 6).
        let ctx = CramContext::from_secret(&[0xaa; 80]);
        assert_eq!(
            hex_lower(&ctx.hmac(b"Test Using Larger Than Block-Size Key - Hash Key First")),
            "6b1ab7fe4bd7bf8f0b62e6ce61b9d0cd"
        );
    }

    #[test]
    fn rfc2195_example() {
        let ctx = CramContext::from_secret(b"tanstaaftanstaaf");
        let challenge = b"<1896.697170952@postoffice.reston.mci.net>";
        assert!(ctx.verify_response(challenge, "b913a602c7eda7a495b4e6e7334d3890"));
        assert!(!ctx.verify_response(challenge, "b913a602c7eda7a495b4e6e7334d3891"));
    }

    #[test]
    fn matches_dovecot_stored_context() {
        // `doveadm pw -s CRAM-MD5 -p demo`
        let stored =
            dovecot_bytes("458da499ccc3c888e803711566013a1929ebb210d3e8147b68469ce4a25d3819");
        assert_eq!(CramContext::from_secret(b"demo").to_dovecot(), stored);
        assert!(CramContext::from_secret(b"demo").ct_eq(&CramContext::from_dovecot(&stored)));
        assert!(!CramContext::from_secret(b"Demo").ct_eq(&CramContext::from_dovecot(&stored)));
    }

    #[test]
    fn response_from_stored_context_equals_response_from_password() {
        let stored =
            dovecot_bytes("458da499ccc3c888e803711566013a1929ebb210d3e8147b68469ce4a25d3819");
        let challenge = b"<1896.697170952@postern.example>";
        let from_password = hex_lower(&CramContext::from_secret(b"demo").hmac(challenge));
        assert!(CramContext::from_dovecot(&stored).verify_response(challenge, &from_password));
        let wrong = hex_lower(&CramContext::from_secret(b"demo!").hmac(challenge));
        assert!(!CramContext::from_dovecot(&stored).verify_response(challenge, &wrong));
    }
}
