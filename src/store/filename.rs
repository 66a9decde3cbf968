//! Maildir file-name rules, as Dovecot applies them.
//!
//! A Maildir file name is `<base>[,<key>=<value>...][:2,<flags>]`. The part before the first
//! `:` is the *base name*: it never changes over a message's life (flag changes rewrite only
//! the part after `:`), so it is the key the uidlist records and the key we look messages up
//! by. The order in which new files get UIDs has to be exactly Dovecot's, or two servers
//! syncing the same new mail would disagree; hence the byte-for-byte port of its comparison.

use std::cmp::Ordering;

/// The Maildir "info" separator: everything from it on is flags.
pub(super) const INFO_SEP: u8 = b':';

/// The base name: the file name up to (not including) the first `:`.
pub(super) fn base(name: &[u8]) -> &[u8] {
    match name.iter().position(|&b| b == INFO_SEP) {
        Some(i) => &name[..i],
        None => name,
    }
}

/// The name a file gets when it moves from `new/` to `cur/`: an empty flag set is added
/// unless the delivering agent already wrote an info part.
pub(super) fn cur_name(new_name: &[u8]) -> Vec<u8> {
    let mut name = new_name.to_vec();
    if !new_name.contains(&INFO_SEP) {
        name.extend_from_slice(b":2,");
    }
    name
}

/// Whether a directory entry is a message at all: dot files are temporary or
/// control files, and a name with an empty base cannot be keyed (Dovecot renames such files
/// itself; we leave them for it).
pub(super) fn is_message_name(name: &[u8]) -> bool {
    !name.is_empty() && name[0] != b'.' && name[0] != INFO_SEP
}

/// The value of a `,<key>=<digits>` field anywhere in the name (`,W=` is the wire size,
/// `,S=` the on-disk size). Like Dovecot, only the first `,<key>=` counts, and its digits must
/// end at `:`, `,` or the end of the name.
pub(super) fn size_field(name: &[u8], key: u8) -> Option<u64> {
    let bytes = name;
    let start = bytes
        .windows(3)
        .position(|w| w[0] == b',' && w[1] == key && w[2] == b'=')?
        + 3;
    let digits = bytes[start..]
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .count();
    let end = start + digits;
    if end < bytes.len() && bytes[end] != INFO_SEP && bytes[end] != b',' {
        return None;
    }
    let mut value: u64 = 0;
    for &b in &bytes[start..end] {
        value = value.wrapping_mul(10).wrapping_add(u64::from(b - b'0'));
    }
    Some(value)
}

/// The wire size the delivering agent recorded in the name, if any.
pub(super) fn wire_size_hint(name: &[u8]) -> Option<u64> {
    size_field(name, b'W')
}

/// Dovecot's `maildir_filename_sort_cmp`: the order new files receive UIDs in.
///
/// Primarily by the leading decimal timestamp, then by the microseconds of a `M<usecs>`
/// field in the uniqueness part, then by the rest of the base name. The C integer
/// arithmetic (wrapping, truncation to `int`, signed `char`) is reproduced on purpose: for
/// ordinary names it is plain numeric order, and for odd names it still matches Dovecot.
pub(super) fn dovecot_sort_cmp(a: &[u8], b: &[u8]) -> Ordering {
    let (secs_a, rest_a) = leading_secs(a);
    let (secs_b, rest_b) = leading_secs(b);
    let mut ret = secs_a.wrapping_sub(secs_b) as i32;
    if ret == 0 {
        if let (Some(ua), Some(ub)) = (usecs(rest_a), usecs(rest_b)) {
            ret = ua.wrapping_sub(ub);
        }
        if ret == 0 {
            ret = base_cmp(rest_a, rest_b);
        }
    }
    ret.cmp(&0)
}

/// The leading decimal number (as C's `time_t` accumulates it) and what follows it.
fn leading_secs(s: &[u8]) -> (i64, &[u8]) {
    let digits = s.iter().take_while(|b| b.is_ascii_digit()).count();
    let secs = s[..digits].iter().fold(0i64, |acc, &d| {
        acc.wrapping_mul(10).wrapping_add(i64::from(d - b'0'))
    });
    (secs, &s[digits..])
}

/// Microseconds from a `.…M<usecs>…` uniqueness part directly after the timestamp.
fn usecs(s: &[u8]) -> Option<i32> {
    let rest = s.strip_prefix(b".")?;
    let mut i = 0;
    while i < rest.len() && rest[i] != b'.' && rest[i] != INFO_SEP {
        let c = rest[i];
        i += 1;
        if c == b'M' {
            let value = rest[i..]
                .iter()
                .take_while(|b| b.is_ascii_digit())
                .fold(0i32, |acc, &d| {
                    acc.wrapping_mul(10).wrapping_add(i32::from(d - b'0'))
                });
            return Some(value);
        }
    }
    None
}

/// Dovecot's `maildir_filename_base_cmp`: compares up to the info separator, with the
/// difference of the first unequal bytes taken as C `char` (signed on the platforms Dovecot
/// runs on).
fn base_cmp(a: &[u8], b: &[u8]) -> i32 {
    let at = |s: &[u8], i: usize| s.get(i).copied().unwrap_or(0);
    let mut i = 0;
    while at(a, i) == at(b, i) && at(a, i) != INFO_SEP && at(a, i) != 0 {
        i += 1;
    }
    let (ca, cb) = (at(a, i), at(b, i));
    let ends = |c: u8| c == 0 || c == INFO_SEP;
    if ends(ca) && ends(cb) {
        0
    } else {
        i32::from(ca as i8) - i32::from(cb as i8)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_strips_info() {
        assert_eq!(base(b"123.M1P2.host,S=10:2,RS"), b"123.M1P2.host,S=10");
        assert_eq!(base(b"123.M1P2.host"), b"123.M1P2.host");
    }

    #[test]
    fn cur_name_adds_empty_flags_once() {
        assert_eq!(cur_name(b"1.M2.h"), b"1.M2.h:2,");
        assert_eq!(cur_name(b"1.M2.h:2,S"), b"1.M2.h:2,S");
    }

    #[test]
    fn size_fields() {
        let n = b"1700000000.M1P2.host,S=1970,W=2025:2,S";
        assert_eq!(size_field(n, b'S'), Some(1970));
        assert_eq!(wire_size_hint(n), Some(2025));
        assert_eq!(wire_size_hint(b"1.M2.h,W=12"), Some(12));
        assert_eq!(wire_size_hint(b"1.M2.h,S=12"), None);
        assert_eq!(wire_size_hint(b"1.M2.h,W=12x"), None);
        // Only the first field counts, as in Dovecot.
        assert_eq!(wire_size_hint(b"1.M2.h,W=1x,W=5"), None);
    }

    #[test]
    fn message_names() {
        assert!(is_message_name(b"1.M2.h"));
        assert!(!is_message_name(b".nfs0001"));
        assert!(!is_message_name(b":2,S"));
        assert!(!is_message_name(b""));
    }

    #[test]
    fn sort_by_time_then_usecs_then_name() {
        use Ordering::*;
        assert_eq!(dovecot_sort_cmp(b"99.M1.a", b"100.M0.a"), Less);
        assert_eq!(dovecot_sort_cmp(b"100.M20P1.a", b"100.M3P1.a"), Greater);
        assert_eq!(dovecot_sort_cmp(b"100.M3P1.a", b"100.M3P1.b:2,S"), Less);
        assert_eq!(dovecot_sort_cmp(b"100.M3P1.a:2,S", b"100.M3P1.a:2,"), Equal);
        // Without usecs, the rest of the name decides.
        assert_eq!(dovecot_sort_cmp(b"100.x", b"100.y"), Less);
        // Names without a timestamp sort as time 0.
        assert_eq!(dovecot_sort_cmp(b"abc", b"1.M1.a"), Less);
    }
}
