//! Writing `dovecot-uidlist` text exactly as Dovecot 2.3's `maildir_uidlist_write_fd` does,
//! so that a file we wrote is byte-identical to the one Dovecot would write for the same
//! state.

use std::fmt::Write as _;

use super::Uidlist;

/// The version-3 text of a list. The GUID must be set.
pub(in crate::store) fn format(list: &Uidlist, guid: &[u8; 16]) -> Vec<u8> {
    let mut header = format!("3 V{} N{} G", list.uid_validity, list.next_uid);
    for b in guid {
        let _ = write!(header, "{b:02x}");
    }
    let mut out = header.into_bytes();
    for field in &list.header_ext {
        out.push(b' ');
        out.extend_from_slice(field);
    }
    out.push(b'\n');
    for record in &list.records {
        out.extend_from_slice(record.uid.to_string().as_bytes());
        for field in &record.ext {
            out.push(b' ');
            out.extend_from_slice(field);
        }
        out.extend_from_slice(b" :");
        out.extend_from_slice(&record.base);
        out.push(b'\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::parse;
    use super::*;

    #[test]
    fn round_trip_is_byte_exact() {
        let text: &[u8] = b"3 V1795805635 N6 G6920e10fc3d1096b003d000083ecc375 P%08Xv\n\
            1 :1600000000.M5P1.host,S=244,W=250\n\
            2 W2025 :1700000000.M1P1.host\n\
            5 W269 G7 :1700000005.M9P1.host\n";
        let list = parse(text).unwrap();
        assert_eq!(format(&list, &list.guid.unwrap()), text);
    }

    #[test]
    fn upgrades_v1() {
        let list = parse(b"1 77 9\n3 a:2,S\n8 b\n").unwrap();
        let out = format(&list, &[0xab; 16]);
        assert_eq!(
            out,
            b"3 V77 N9 Gabababababababababababababababab\n3 :a\n8 :b\n"
        );
        assert_eq!(parse(&out).unwrap().records, list.records);
    }
}
