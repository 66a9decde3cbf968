//! Reading `dovecot-uidlist`, with Dovecot 2.3's rules for what is valid.
//!
//! Version 3 (Dovecot 1.1 and later):
//!   header `3 V<uidvalidity> N<nextuid> G<guid hex> [<key><value> ...]`
//!   record `<uid> [<key><value> ...] :<base name>`
//! Version 1 (Dovecot 1.0, Courier's `courierimapuiddb`):
//!   header `1 <uidvalidity> <nextuid>`
//!   record `<uid> <name>`
//!
//! Dovecot sometimes *appends* records to the file instead of rewriting it, so a reader may
//! see a last line that is still being written; like Dovecot we only take lines ended by a
//! newline. Whatever Dovecot would reject (and then delete and rebuild) is an error here,
//! so that both servers agree on which files are broken.

use std::collections::HashMap;

use super::{Record, Uidlist};

/// Parses uidlist bytes; the error says what is wrong, as Dovecot's log would.
pub(in crate::store) fn parse(data: &[u8]) -> Result<Uidlist, String> {
    let mut lines = data.split(|&b| b == b'\n');
    // The last piece is either empty (file ends in a newline) or an unfinished append.
    let mut complete: Vec<&[u8]> = lines.by_ref().collect();
    complete.pop();
    let mut complete = complete.into_iter();

    let header = complete.next().ok_or("empty file")?;
    let mut list = parse_header(header)?;

    let mut prev_uid = 0u32;
    let mut records = Vec::new();
    for (n, line) in complete.enumerate() {
        let line_no = n + 2;
        let record = parse_record(line, list.version, list.next_uid, prev_uid, &mut list.dirty)
            .map_err(|e| format!("line {line_no}: {e}"))?;
        prev_uid = record.uid;
        records.push(record);
    }
    list.records = keep_newest_per_base(records, &mut list.dirty);
    if list.next_uid <= prev_uid {
        list.next_uid = prev_uid + 1;
    }
    Ok(list)
}

/// What can be saved from a file Dovecot would reject: the header if it is readable (else
/// `None`, and the mailbox needs a new UIDVALIDITY), and every record line that is valid on
/// its own and keeps UIDs ascending. Keeping these UIDs, and a next UID above all of them,
/// is what stops a rebuild from giving a message's UID to another message.
pub(in crate::store) fn salvage(data: &[u8]) -> Option<Uidlist> {
    let mut lines = data.split(|&b| b == b'\n').filter(|l| !l.is_empty());
    let mut list = parse_header(lines.next()?).ok()?;
    let mut prev_uid = 0u32;
    let mut records = Vec::new();
    for line in lines {
        let Ok(record) = parse_record(line, list.version, u32::MAX, prev_uid, &mut list.dirty)
        else {
            continue;
        };
        prev_uid = record.uid;
        records.push(record);
    }
    list.records = keep_newest_per_base(records, &mut list.dirty);
    list.next_uid = list.next_uid.max(prev_uid.saturating_add(1));
    list.dirty = true;
    Some(list)
}

/// Drops every record whose base name appears again later: an expunged file moved back and
/// appended again. The newer record wins, and the file is marked for a rewrite so that nobody
/// sees the old UID again. Linear in the number of records — a 10,000-message mailbox is read
/// at every login.
fn keep_newest_per_base(records: Vec<Record>, dirty: &mut bool) -> Vec<Record> {
    let mut last: HashMap<&[u8], usize> = HashMap::with_capacity(records.len());
    for (i, r) in records.iter().enumerate() {
        last.insert(&r.base, i);
    }
    if last.len() == records.len() {
        return records;
    }
    *dirty = true;
    let keep: Vec<bool> = (0..records.len())
        .map(|i| last.get(records[i].base.as_slice()) == Some(&i))
        .collect();
    records
        .into_iter()
        .zip(keep)
        .filter_map(|(r, k)| k.then_some(r))
        .collect()
}

fn parse_header(line: &[u8]) -> Result<Uidlist, String> {
    if line.len() < 2 || !line[0].is_ascii_digit() || line[1] != b' ' {
        return Err("corrupted header (invalid version number)".into());
    }
    let version = line[0] - b'0';
    let rest = &line[2..];
    let mut list = Uidlist {
        version,
        uid_validity: 0,
        next_uid: 0,
        guid: None,
        header_ext: Vec::new(),
        records: Vec::new(),
        dirty: false,
    };
    match version {
        1 => {
            let mut fields = rest
                .split(|b| b.is_ascii_whitespace())
                .filter(|f| !f.is_empty());
            let mut number = || fields.next().and_then(parse_u32_exact);
            match (number(), number()) {
                (Some(v), Some(n)) => {
                    list.uid_validity = v;
                    list.next_uid = n;
                }
                _ => return Err("corrupted header (version 1)".into()),
            }
        }
        3 => {
            for field in rest.split(|&b| b == b' ').filter(|f| !f.is_empty()) {
                let (key, value) = (field[0], &field[1..]);
                match key {
                    b'V' => list.uid_validity = strtoul(value),
                    b'N' => list.next_uid = strtoul(value),
                    b'G' => {
                        list.guid = Some(parse_guid(value).ok_or_else(|| {
                            format!("invalid mailbox GUID: {}", String::from_utf8_lossy(value))
                        })?)
                    }
                    _ => list.header_ext.push(field.to_vec()),
                }
            }
        }
        v => return Err(format!("unsupported version {v}")),
    }
    if list.uid_validity == 0 || list.next_uid == 0 {
        return Err(format!(
            "broken header (uidvalidity = {}, next_uid = {})",
            list.uid_validity, list.next_uid
        ));
    }
    Ok(list)
}

fn parse_record(
    line: &[u8],
    version: u8,
    next_uid: u32,
    prev_uid: u32,
    dirty: &mut bool,
) -> Result<Record, String> {
    let digits = line.iter().take_while(|b| b.is_ascii_digit()).count();
    // C's uint32 arithmetic: a too-long number wraps, and then fails the checks below.
    let uid = line[..digits].iter().fold(0u32, |acc, &d| {
        acc.wrapping_mul(10).wrapping_add(u32::from(d - b'0'))
    });
    let mut rest = &line[digits..];
    if uid == 0 || rest.first() != Some(&b' ') {
        return Err(format!("invalid data: {}", String::from_utf8_lossy(line)));
    }
    if uid <= prev_uid {
        return Err(format!("UIDs not ordered ({uid} <= {prev_uid})"));
    }
    if uid == u32::MAX {
        return Err(format!("UID too high ({uid})"));
    }
    if version == 1 && uid >= next_uid {
        return Err(format!("UID larger than next_uid ({uid} >= {next_uid})"));
    }
    rest = skip_spaces(rest);

    let mut ext = Vec::new();
    if version == 3 {
        while let Some(&c) = rest.first() {
            if c == b':' {
                break;
            }
            let len = rest.iter().position(|&b| b == b' ').unwrap_or(rest.len());
            let field = &rest[..len];
            if field[0].is_ascii_uppercase() {
                ext.push(field.to_vec());
            } else {
                // Dovecot drops an invalid field and rewrites the file without it.
                *dirty = true;
            }
            rest = skip_spaces(&rest[len..]);
        }
        rest = rest.strip_prefix(b":").unwrap_or(rest);
        if rest.is_empty() {
            return Err("invalid extended fields".into());
        }
    }
    if rest.contains(&b'/') {
        return Err(format!(
            "broken filename: {}",
            String::from_utf8_lossy(rest)
        ));
    }
    if rest.is_empty() {
        return Err("missing filename".into());
    }
    Ok(Record {
        uid,
        ext,
        base: crate::store::filename::base(rest).to_vec(),
    })
}

fn skip_spaces(s: &[u8]) -> &[u8] {
    let n = s.iter().take_while(|&&b| b == b' ').count();
    &s[n..]
}

/// C's `strtoul(value, NULL, 10)` as Dovecot uses it: leading digits, anything else ends
/// the number, no digits is 0.
fn strtoul(value: &[u8]) -> u32 {
    let digits = value.iter().take_while(|b| b.is_ascii_digit()).count();
    std::str::from_utf8(&value[..digits])
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .map_or(if digits > 0 { u32::MAX } else { 0 }, |v| {
            u32::try_from(v).unwrap_or(u32::MAX)
        })
}

fn parse_u32_exact(s: &[u8]) -> Option<u32> {
    std::str::from_utf8(s).ok()?.parse().ok()
}

/// A 128-bit GUID written as exactly 32 hex digits.
pub(in crate::store) fn parse_guid(hex: &[u8]) -> Option<[u8; 16]> {
    if hex.len() != 32 {
        return None;
    }
    let mut guid = [0u8; 16];
    for (i, pair) in hex.chunks(2).enumerate() {
        let text = std::str::from_utf8(pair).ok()?;
        guid[i] = u8::from_str_radix(text, 16).ok()?;
    }
    Some(guid)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOVECOT_V3: &[u8] = b"3 V1795805635 N6 G6920e10fc3d1096b003d000083ecc375\n\
        1 :1600000000.M5P1.host,S=244,W=250\n\
        2 W2025 :1700000000.M1P1.host\n\
        4 W3002 :1700000001.M2P1.host,S=2934\n\
        5 W269 :1700000005.M9P1.host\n";

    #[test]
    fn dovecot_v3_file() {
        let l = parse(DOVECOT_V3).unwrap();
        assert_eq!(l.version, 3);
        assert_eq!(l.uid_validity, 1795805635);
        assert_eq!(l.next_uid, 6);
        assert_eq!(l.guid.unwrap()[0], 0x69);
        assert_eq!(l.records.len(), 4);
        assert_eq!(l.records[1].uid, 2);
        assert_eq!(l.records[1].wire_size(), Some(2025));
        assert_eq!(l.records[2].base, b"1700000001.M2P1.host,S=2934");
        assert_eq!(l.records[0].ext, Vec::<Vec<u8>>::new());
        assert!(!l.wants_rewrite());
    }

    #[test]
    fn v1_file() {
        let l = parse(b"1 1234 10\n3 1.M1.a\n7 2.M2.b:2,S\n").unwrap();
        assert_eq!((l.version, l.uid_validity, l.next_uid), (1, 1234, 10));
        assert_eq!(l.records[1].uid, 7);
        assert_eq!(l.records[1].base, b"2.M2.b");
        assert!(l.guid.is_none());
        assert!(l.wants_rewrite());
        assert!(parse(b"1 1234 5\n5 a\n").is_err(), "v1 uid >= next_uid");
    }

    #[test]
    fn appended_records_and_partial_last_line() {
        // Dovecot appends without updating N; an append in progress leaves half a line.
        let l =
            parse(b"3 V5 N2 G00000000000000000000000000000001\n1 :a\n2 :b\n3 :c\n4 :d").unwrap();
        assert_eq!(l.records.len(), 3);
        assert_eq!(l.next_uid, 4);
    }

    #[test]
    fn duplicate_base_takes_newer_uid() {
        let l = parse(b"3 V5 N9 G00000000000000000000000000000001\n1 :a\n2 :b\n3 :a\n").unwrap();
        let uids: Vec<u32> = l.records.iter().map(|r| r.uid).collect();
        assert_eq!(uids, vec![2, 3]);
        assert!(l.dirty);
    }

    #[test]
    fn unknown_fields_are_kept_invalid_ones_dropped() {
        let l = parse(b"3 V5 N9 G00000000000000000000000000000001 P%u\n1 G123 x9 O4 :a\n").unwrap();
        assert_eq!(l.header_ext, vec![b"P%u".to_vec()]);
        assert_eq!(l.records[0].ext, vec![b"G123".to_vec(), b"O4".to_vec()]);
        assert!(l.dirty);
    }

    #[test]
    fn salvage_keeps_good_records_and_uids() {
        let l =
            salvage(b"3 V5 N4 G00000000000000000000000000000001\n1 :a\ngarbage\n7 :b\n3 :c\n9 :d")
                .unwrap();
        let uids: Vec<u32> = l.records.iter().map(|r| r.uid).collect();
        assert_eq!(uids, vec![1, 7, 9]);
        assert_eq!(l.next_uid, 10);
        assert_eq!(l.uid_validity, 5);
        assert!(salvage(b"nonsense\n1 :a\n").is_none());
    }

    #[test]
    fn broken_files() {
        for bad in [
            &b""[..],
            b"\n",
            b"x V1 N1\n",
            b"2 V1 N1\n",
            b"3 V0 N1\n",
            b"3 V1 N0\n",
            b"3 V1 N2 Gxyz\n",
            b"3 V1 N5\n0 :a\n",
            b"3 V1 N5\n1:a\n",
            b"3 V1 N5\n2 :a\n1 :b\n",
            b"3 V1 N5\n1 :a/b\n",
            b"3 V1 N5\n1 W12\n",
            b"3 V1 N5\n4294967295 :a\n",
            b"1 12\n",
        ] {
            assert!(parse(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
    }
}
