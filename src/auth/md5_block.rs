//! MD5's compression function and finishing a digest from a mid-stream state.
//!
//! Dovecot stores CRAM-MD5 secrets as the two HMAC-MD5 states reached after absorbing the key
//! block, never the key itself. Answering a CRAM-MD5 login from such a secret means continuing
//! MD5 from a saved state, which the `md-5` crate does not expose, so the compression function
//! lives here. Everything else uses `md-5`; the tests hold this code to its output.

/// MD5's initial state (RFC 1321, section 3.3).
pub(crate) const IV: [u32; 4] = [0x6745_2301, 0xefcd_ab89, 0x98ba_dcfe, 0x1032_5476];

/// The block size in bytes; saved states always sit on a block boundary.
pub(crate) const BLOCK: usize = 64;

/// Per-step left-rotation amounts, four per round.
const SHIFTS: [[u32; 4]; 4] = [
    [7, 12, 17, 22],
    [5, 9, 14, 20],
    [4, 11, 16, 23],
    [6, 10, 15, 21],
];

/// `floor(abs(sin(i + 1)) * 2^32)`, written out so no floating point is involved.
const K: [u32; 64] = [
    0xd76a_a478,
    0xe8c7_b756,
    0x2420_70db,
    0xc1bd_ceee,
    0xf57c_0faf,
    0x4787_c62a,
    0xa830_4613,
    0xfd46_9501,
    0x6980_98d8,
    0x8b44_f7af,
    0xffff_5bb1,
    0x895c_d7be,
    0x6b90_1122,
    0xfd98_7193,
    0xa679_438e,
    0x49b4_0821,
    0xf61e_2562,
    0xc040_b340,
    0x265e_5a51,
    0xe9b6_c7aa,
    0xd62f_105d,
    0x0244_1453,
    0xd8a1_e681,
    0xe7d3_fbc8,
    0x21e1_cde6,
    0xc337_07d6,
    0xf4d5_0d87,
    0x455a_14ed,
    0xa9e3_e905,
    0xfcef_a3f8,
    0x676f_02d9,
    0x8d2a_4c8a,
    0xfffa_3942,
    0x8771_f681,
    0x6d9d_6122,
    0xfde5_380c,
    0xa4be_ea44,
    0x4bde_cfa9,
    0xf6bb_4b60,
    0xbebf_bc70,
    0x289b_7ec6,
    0xeaa1_27fa,
    0xd4ef_3085,
    0x0488_1d05,
    0xd9d4_d039,
    0xe6db_99e5,
    0x1fa2_7cf8,
    0xc4ac_5665,
    0xf429_2244,
    0x432a_ff97,
    0xab94_23a7,
    0xfc93_a039,
    0x655b_59c3,
    0x8f0c_cc92,
    0xffef_f47d,
    0x8584_5dd1,
    0x6fa8_7e4f,
    0xfe2c_e6e0,
    0xa301_4314,
    0x4e08_11a1,
    0xf753_7e82,
    0xbd3a_f235,
    0x2ad7_d2bb,
    0xeb86_d391,
];

/// Absorbs one 64-byte block into `state`.
pub(crate) fn compress(state: &mut [u32; 4], block: &[u8; BLOCK]) {
    let mut m = [0u32; 16];
    for (word, bytes) in m.iter_mut().zip(block.chunks_exact(4)) {
        *word = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    }
    let [mut a, mut b, mut c, mut d] = *state;
    for i in 0..64 {
        let round = i / 16;
        let (f, g) = match round {
            0 => ((b & c) | (!b & d), i),
            1 => ((d & b) | (!d & c), (5 * i + 1) % 16),
            2 => (b ^ c ^ d, (3 * i + 5) % 16),
            _ => (c ^ (b | !d), (7 * i) % 16),
        };
        let rotated = a
            .wrapping_add(f)
            .wrapping_add(K[i])
            .wrapping_add(m[g])
            .rotate_left(SHIFTS[round][i % 4]);
        a = d;
        d = c;
        c = b;
        b = b.wrapping_add(rotated);
    }
    state[0] = state[0].wrapping_add(a);
    state[1] = state[1].wrapping_add(b);
    state[2] = state[2].wrapping_add(c);
    state[3] = state[3].wrapping_add(d);
}

/// Finishes an MD5 digest: `state` has already absorbed `absorbed` bytes (a whole number of
/// blocks), and `data` is the rest of the message.
pub(crate) fn finish(mut state: [u32; 4], absorbed: u64, data: &[u8]) -> [u8; 16] {
    let mut blocks = data.chunks_exact(BLOCK);
    for block in &mut blocks {
        compress(
            &mut state,
            block.try_into().expect("chunks_exact yields whole blocks"),
        );
    }
    let tail = blocks.remainder();

    // Padding: 0x80, zeros, then the message length in bits; one or two blocks.
    let mut last = [0u8; 2 * BLOCK];
    last[..tail.len()].copy_from_slice(tail);
    last[tail.len()] = 0x80;
    let used = if tail.len() < BLOCK - 8 {
        BLOCK
    } else {
        2 * BLOCK
    };
    let total_bits = absorbed.wrapping_add(data.len() as u64).wrapping_mul(8);
    last[used - 8..used].copy_from_slice(&total_bits.to_le_bytes());
    for block in last[..used].chunks_exact(BLOCK) {
        compress(
            &mut state,
            block.try_into().expect("chunks_exact yields whole blocks"),
        );
    }

    let mut out = [0u8; 16];
    for (bytes, word) in out.chunks_exact_mut(4).zip(state) {
        bytes.copy_from_slice(&word.to_le_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use md5::{Digest, Md5};

    #[test]
    fn matches_md5_crate_at_every_padding_boundary() {
        let data: Vec<u8> = (0..300u32).map(|i| (i * 7 + 3) as u8).collect();
        for len in [0, 1, 3, 55, 56, 57, 63, 64, 65, 119, 120, 128, 300] {
            let expected: [u8; 16] = Md5::digest(&data[..len]).into();
            assert_eq!(finish(IV, 0, &data[..len]), expected, "length {len}");
        }
    }

    #[test]
    fn rfc1321_vectors() {
        let hex = |d: [u8; 16]| d.iter().map(|b| format!("{b:02x}")).collect::<String>();
        assert_eq!(hex(finish(IV, 0, b"")), "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(
            hex(finish(IV, 0, b"abc")),
            "900150983cd24fb0d6963f7d28e17f72"
        );
    }

    #[test]
    fn resuming_after_a_block_equals_hashing_everything() {
        let data: Vec<u8> = (0..200u8).collect();
        let mut state = IV;
        compress(&mut state, data[..BLOCK].try_into().unwrap());
        let expected: [u8; 16] = Md5::digest(&data).into();
        assert_eq!(finish(state, BLOCK as u64, &data[BLOCK..]), expected);
    }
}
