//! The `dovecot-uidlist` file: Dovecot's map from Maildir base names to IMAP UIDs.
//!
//! It is the single source of truth for UIDs shared by every server on a maildir, so Postern
//! reads and writes it exactly as Dovecot 2.3 does (see `parse` and `format`), and keeps what
//! it does not use (unknown header fields, record extension fields such as Dovecot's `G`, `P`
//! and `O`) unchanged. File names are kept as raw bytes: a record must survive a rewrite byte
//! for byte even if its name is not UTF-8.

mod file;
mod format;
mod parse;

pub(super) use file::{LoadError, NAME, load, store};
pub(super) use parse::{parse, salvage};

/// The POP3 UIDL of a message under Dovecot 2.3's default `pop3_uidl_format = %08Xu%08Xv`:
/// the UID and then the UIDVALIDITY, each as eight hex digits. Despite the `X`, Dovecot's
/// variable expansion writes *lower-case* hex (Dovecot 2.3.19 answers `UIDL` with
/// `000000016b09d1c3`; the integration test against it checks this), and identical strings
/// are the whole point: they let POP3 clients move between Dovecot and Postern without
/// downloading anything again.
pub fn uidl(uid_validity: u32, uid: u32) -> String {
    format!("{uid:08x}{uid_validity:08x}")
}

/// Record extension key for the wire ("virtual") size.
pub(super) const EXT_WIRE_SIZE: u8 = b'W';

/// The parsed contents of a uidlist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Uidlist {
    /// The format version read (1 or 3). We always write version 3.
    pub version: u8,
    pub uid_validity: u32,
    /// The next UID to assign: never below any UID ever handed out in this UIDVALIDITY.
    pub next_uid: u32,
    /// The mailbox GUID (`G` header field); generated on rewrite if absent.
    pub guid: Option<[u8; 16]>,
    /// Header fields we do not interpret, as `<key><value>`, in file order.
    pub header_ext: Vec<Vec<u8>>,
    /// Records in ascending UID order.
    pub records: Vec<Record>,
    /// Reading found something Dovecot would rewrite the file to fix (a duplicate base name,
    /// an invalid extension field).
    pub dirty: bool,
}

/// One message's entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Record {
    pub uid: u32,
    /// Extension fields as `<key><value>`, key `A`..`Z`, in file order.
    pub ext: Vec<Vec<u8>>,
    /// The Maildir base name (file name without `:2,<flags>`).
    pub base: Vec<u8>,
}

impl Uidlist {
    /// An empty list for a new mailbox.
    pub(super) fn new(uid_validity: u32) -> Uidlist {
        Uidlist {
            version: 3,
            uid_validity,
            next_uid: 1,
            guid: None,
            header_ext: Vec::new(),
            records: Vec::new(),
            dirty: true,
        }
    }

    /// Whether writing this list as it is would upgrade it the way Dovecot insists on
    /// (version 1 to 3, adding a GUID, cleaning what parsing found).
    pub(super) fn wants_rewrite(&self) -> bool {
        self.dirty || self.version != 3 || self.guid.is_none()
    }
}

impl Record {
    /// The value of an extension field.
    pub(super) fn ext(&self, key: u8) -> Option<&[u8]> {
        self.ext
            .iter()
            .find(|e| e.first() == Some(&key))
            .map(|e| &e[1..])
    }

    /// The cached wire size (`W` field), if present and numeric.
    pub(super) fn wire_size(&self) -> Option<u64> {
        std::str::from_utf8(self.ext(EXT_WIRE_SIZE)?)
            .ok()?
            .parse()
            .ok()
    }

    /// Sets an extension field, replacing an earlier value for the key.
    pub(super) fn set_ext(&mut self, key: u8, value: &[u8]) {
        let mut field = Vec::with_capacity(value.len() + 1);
        field.push(key);
        field.extend_from_slice(value);
        match self.ext.iter_mut().find(|e| e.first() == Some(&key)) {
            Some(existing) => *existing = field,
            None => self.ext.push(field),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uidl_is_dovecot_default_format() {
        // Exactly what Dovecot 2.3.19 sent for UID 1 in a mailbox with UIDVALIDITY 1795805635.
        assert_eq!(uidl(1795805635, 1), "000000016b09d1c3");
        assert_eq!(uidl(1, 0xABCDEF12), "abcdef1200000001");
        assert_eq!(uidl(u32::MAX, 5), "00000005ffffffff");
    }

    #[test]
    fn record_ext_fields() {
        let mut r = Record {
            uid: 1,
            ext: vec![b"S120".to_vec()],
            base: b"1.M1.h".to_vec(),
        };
        assert_eq!(r.wire_size(), None);
        r.set_ext(EXT_WIRE_SIZE, b"123");
        assert_eq!(r.wire_size(), Some(123));
        r.set_ext(EXT_WIRE_SIZE, b"124");
        assert_eq!(r.ext, vec![b"S120".to_vec(), b"W124".to_vec()]);
    }
}
