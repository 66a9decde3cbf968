//! The per-folder index: everything IMAP needs about a message that never changes, computed
//! once and kept on disk, so that a header-only FETCH never opens a message file.
//!
//! A Maildir message is immutable: flags live in its file name, everything else — size,
//! internal date, ENVELOPE, BODY/BODYSTRUCTURE, the MIME part offsets and the header fields
//! clients ask for — is a function of its bytes. So the index is a cache keyed by UID (and
//! checked against the Maildir base name), and it can always be rebuilt from the messages:
//! a missing, foreign, damaged or outdated index is simply rebuilt, never trusted.
//!
//! The file, `postern.index` beside `dovecot-uidlist`, is append-only: a header, then
//! records, each `len | crc32 | payload`. New messages are appended with one `write` under
//! an exclusive `flock`; the file is never truncated and its records are never modified in
//! place, so a reader's memory map of it stays valid, and a crash in the middle of an append
//! leaves a torn last record that the checksum catches. The one field written in place is
//! the header's first-recent UID (see [`set_first_recent`]): four aligned bytes that readers
//! look at only when they open the folder. A rewrite (to drop the records of expunged
//! messages, or after damage) writes a new file and renames it over the old one; readers
//! that still map the old inode are unaffected.
//!
//! Readers map the file and look records up by UID in a sorted table built at load; the
//! blobs are sliced out of the map on demand, so a 10,000-message folder costs its page
//! cache, not the heap of each session.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The index's file name in a folder's Maildir directory.
pub const NAME: &str = "postern.index";
const TMP_NAME: &str = "postern.index.tmp";
const MAGIC: &[u8; 8] = b"PSTNIDX\0";

/// Which file of this format: the folder index, or one of the derived indexes of converted
/// forms ([`super::derived`]), which are the same file format with a magic of their own (so
/// one can never be read as the other) and records that may carry a data blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kind {
    pub name: &'static str,
    pub tmp_name: &'static str,
    pub magic: &'static [u8; 8],
}

/// The folder index.
pub const FOLDER: Kind = Kind {
    name: NAME,
    tmp_name: TMP_NAME,
    magic: MAGIC,
};
const VERSION: u32 = 1;
/// magic, version, UIDVALIDITY, header-set fingerprint (u64), first-recent UID, reserved.
const HEADER_LEN: usize = 8 + 4 + 4 + 8 + 4 + 4;
/// Where the first-recent UID sits in the header.
const FIRST_RECENT_AT: usize = 24;
/// Per record: payload length and its CRC-32.
const RECORD_HEAD: usize = 8;
/// Records larger than this are damage, not data (a BODYSTRUCTURE of a pathological
/// message is a few hundred KiB at most).
const MAX_RECORD: usize = 64 * 1024 * 1024;

/// Why the index cannot be used as it is; every case means "rebuild".
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
}

fn io_err(path: &Path, source: io::Error) -> IndexError {
    IndexError::Io {
        path: path.to_owned(),
        source,
    }
}

/// What the index knows about one message, for writing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub uid: u32,
    /// The Maildir base name the UID belonged to when this was computed.
    pub base: Vec<u8>,
    /// INTERNALDATE, seconds since the epoch (the file's mtime).
    pub internal_date: i64,
    /// Size of the stored file.
    pub stored_size: u64,
    /// RFC822.SIZE: the size of the wire (CRLF) form.
    pub wire_size: u64,
    pub envelope: Vec<u8>,
    pub body: Vec<u8>,
    pub bodystructure: Vec<u8>,
    /// The raw lines of the cached header fields.
    pub headers: Vec<u8>,
    /// The encoded MIME part tree.
    pub parts: Vec<u8>,
}

/// A record as stored, borrowed from the map.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry<'a> {
    pub uid: u32,
    pub base: &'a [u8],
    pub internal_date: i64,
    pub stored_size: u64,
    pub wire_size: u64,
    pub envelope: &'a [u8],
    pub body: &'a [u8],
    pub bodystructure: &'a [u8],
    pub headers: &'a [u8],
    pub parts: &'a [u8],
}

/// A loaded index: the mapped file and where each UID's newest record is.
pub struct IndexFile {
    map: Option<memmap2::Mmap>,
    /// The file mapped, kept open so that parts of it can be mapped on their own
    /// ([`map_data`](Self::map_data)) from the same inode, whatever renames happen.
    file: Option<File>,
    /// (uid, payload offset, payload length), sorted by UID, newest record per UID.
    table: Vec<(u32, u32, u32)>,
    /// Bytes of valid data; past this the file is torn or foreign.
    valid_len: usize,
    /// Records superseded by newer ones for the same UID.
    superseded: usize,
    /// The file had damage after `valid_len`: the next write must rewrite it.
    damaged: bool,
    /// The lowest UID no session has been told of (`\Recent` for the next one), if the
    /// file records it.
    first_recent: Option<u32>,
}

impl std::fmt::Debug for IndexFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IndexFile")
            .field("records", &self.table.len())
            .field("valid_len", &self.valid_len)
            .field("damaged", &self.damaged)
            .finish()
    }
}

/// Identifies the set of cached header fields, so that an index built for another set is
/// rebuilt rather than answering requests it cannot.
pub fn header_fingerprint(fields: &[String]) -> u64 {
    let mut names: Vec<String> = fields.iter().map(|f| f.to_ascii_lowercase()).collect();
    names.sort();
    names.dedup();
    let mut crc = crc32fast::Hasher::new();
    for name in &names {
        crc.update(name.as_bytes());
        crc.update(b"\n");
    }
    (u64::from(crc.finalize()) << 32) | names.len() as u64
}

impl IndexFile {
    /// An index with nothing in it.
    pub fn empty() -> IndexFile {
        IndexFile {
            map: None,
            file: None,
            table: Vec::new(),
            valid_len: 0,
            superseded: 0,
            damaged: false,
            first_recent: None,
        }
    }

    /// Loads the index of the folder in `dir`. A missing file, or one made for another
    /// UIDVALIDITY or another header set, loads as empty (and is replaced at the next
    /// write); a torn tail is ignored from the first bad record on.
    pub fn load(dir: &Path, uid_validity: u32, fingerprint: u64) -> Result<IndexFile, IndexError> {
        Self::load_kind(dir, FOLDER, uid_validity, fingerprint)
    }

    /// [`load`](Self::load) for a file of another kind.
    pub fn load_kind(
        dir: &Path,
        kind: Kind,
        uid_validity: u32,
        fingerprint: u64,
    ) -> Result<IndexFile, IndexError> {
        let empty = IndexFile::empty;
        let path = dir.join(kind.name);
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(empty()),
            Err(e) => return Err(io_err(&path, e)),
        };
        let len = file.metadata().map_err(|e| io_err(&path, e))?.len();
        if len == 0 {
            return Ok(IndexFile {
                damaged: true,
                ..empty()
            });
        }
        // SAFETY: the index is only ever appended to or replaced by rename, never truncated
        // or rewritten in place (see the module docs), so the mapped range stays valid and
        // unchanged for the life of the map. A process that truncated it anyway would be
        // breaking the protocol every Postern process follows.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| io_err(&path, e))?;
        let mut index = IndexFile::parse(map, kind, uid_validity, fingerprint);
        index.file = Some(file);
        Ok(index)
    }

    fn parse(map: memmap2::Mmap, kind: Kind, uid_validity: u32, fingerprint: u64) -> IndexFile {
        let bytes: &[u8] = &map;
        if !header_matches(bytes, kind.magic, uid_validity, Some(fingerprint)) {
            return IndexFile {
                damaged: true,
                ..IndexFile::empty()
            };
        }
        let first_recent = read_u32(bytes, FIRST_RECENT_AT).filter(|&u| u != 0);
        let mut table = Vec::new();
        let mut pos = HEADER_LEN;
        let mut damaged = false;
        while pos < bytes.len() {
            let (Some(len), Some(crc)) = (read_u32(bytes, pos), read_u32(bytes, pos + 4)) else {
                damaged = true;
                break;
            };
            let len = len as usize;
            let start = pos + RECORD_HEAD;
            let Some(end) = start.checked_add(len).filter(|&e| e <= bytes.len()) else {
                damaged = true;
                break;
            };
            let payload = &bytes[start..end];
            let valid = len <= MAX_RECORD
                && u32::try_from(end).is_ok()
                && crc32fast::hash(payload) == crc
                && decode(payload).is_some();
            if !valid {
                damaged = true;
                break;
            }
            let uid = read_u32(payload, 0).expect("decoded above");
            table.push((uid, start as u32, len as u32));
            pos = end;
        }
        let valid_len = pos;
        // Newest record per UID wins: a stable sort keeps file order among equal UIDs.
        table.sort_by_key(|&(uid, _, _)| uid);
        let before = table.len();
        let mut deduped: Vec<(u32, u32, u32)> = Vec::with_capacity(table.len());
        for rec in table {
            match deduped.last_mut() {
                Some(last) if last.0 == rec.0 => *last = rec,
                _ => deduped.push(rec),
            }
        }
        let superseded = before - deduped.len();
        IndexFile {
            map: Some(map),
            file: None,
            table: deduped,
            valid_len,
            superseded,
            damaged,
            first_recent,
        }
    }

    /// The lowest UID no session has been told of, as last recorded.
    pub fn first_recent(&self) -> Option<u32> {
        self.first_recent
    }

    /// The newest record for `uid`.
    pub fn get(&self, uid: u32) -> Option<Entry<'_>> {
        let i = self.table.binary_search_by_key(&uid, |&(u, _, _)| u).ok()?;
        self.at(i)
    }

    /// Where `uid`'s record sits in the table, for [`at`](Self::at).
    pub fn position(&self, uid: u32) -> Option<usize> {
        self.table.binary_search_by_key(&uid, |&(u, _, _)| u).ok()
    }

    /// The record at a table position from [`position`](Self::position).
    pub fn at(&self, i: usize) -> Option<Entry<'_>> {
        let &(_, start, len) = self.table.get(i)?;
        let bytes: &[u8] = self.map.as_ref()?;
        decode(&bytes[start as usize..start as usize + len as usize])
    }

    /// The data blob of the record at a table position, if it has one (derived indexes
    /// keep the converted message there).
    pub fn data_at(&self, i: usize) -> Option<&[u8]> {
        let &(_, start, len) = self.table.get(i)?;
        let bytes: &[u8] = self.map.as_ref()?;
        decode_full(&bytes[start as usize..start as usize + len as usize])?.1
    }

    /// The data blob of the record at a table position as a map of its own, so a message
    /// kept in a derived index goes out without a copy, like a message file.
    pub fn map_data(&self, i: usize) -> Option<io::Result<memmap2::Mmap>> {
        let data = self.data_at(i)?;
        let bytes: &[u8] = self.map.as_ref()?;
        let offset = data.as_ptr() as usize - bytes.as_ptr() as usize;
        let file = self.file.as_ref()?;
        if data.is_empty() {
            // An empty range cannot be mapped.
            return Some(Err(io::Error::other("empty data")));
        }
        // SAFETY: as for the whole-file map in `load_kind`: the file is only ever appended
        // to or replaced by rename, never truncated or rewritten in place, and `file` is the
        // inode the table was read from, so this range holds the record's data for the life
        // of the map.
        Some(unsafe {
            memmap2::MmapOptions::new()
                .offset(offset as u64)
                .len(data.len())
                .map(file)
        })
    }

    /// Bytes of records held, and of those for which `keep` says no: what a rewrite would
    /// keep and what it would drop (superseded records count as dropped).
    pub fn live_and_dead_bytes(&self, keep: &dyn Fn(u32) -> bool) -> (usize, usize) {
        let live: usize = self
            .table
            .iter()
            .filter(|&&(uid, _, _)| keep(uid))
            .map(|&(_, _, len)| len as usize + RECORD_HEAD)
            .sum();
        let dead = self.valid_len.saturating_sub(HEADER_LEN + live);
        (live, dead)
    }

    /// Records held.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// Whether the next write should rewrite the file instead of appending: it is damaged
    /// or foreign, or holds more dead records than live ones.
    pub fn wants_rewrite(&self, live: usize) -> bool {
        if self.damaged {
            return true;
        }
        let dead = self.superseded + self.table.len().saturating_sub(live);
        dead > 64 && dead > live
    }

    fn raw(&self, i: usize) -> &[u8] {
        let &(_, start, len) = &self.table[i];
        let bytes: &[u8] = self.map.as_ref().expect("a table implies a map");
        &bytes[start as usize - RECORD_HEAD..start as usize + len as usize]
    }
}

/// Appends records to the index in `dir` (creating it when missing), or rewrites it keeping
/// only the records of `keep` from `old` plus `new`. Returns whether a rewrite happened.
pub fn write(
    dir: &Path,
    uid_validity: u32,
    fingerprint: u64,
    old: &IndexFile,
    keep: &dyn Fn(u32) -> bool,
    new: &[Record],
    rewrite: bool,
) -> Result<(), IndexError> {
    let new: Vec<(&Record, Option<&[u8]>)> = new.iter().map(|r| (r, None)).collect();
    write_kind(
        dir,
        FOLDER,
        uid_validity,
        fingerprint,
        old,
        keep,
        &new,
        rewrite,
    )
}

/// [`write`] for a file of another kind, whose records may carry a data blob.
#[allow(clippy::too_many_arguments)]
pub fn write_kind(
    dir: &Path,
    kind: Kind,
    uid_validity: u32,
    fingerprint: u64,
    old: &IndexFile,
    keep: &dyn Fn(u32) -> bool,
    new: &[(&Record, Option<&[u8]>)],
    rewrite: bool,
) -> Result<(), IndexError> {
    let path = dir.join(kind.name);
    if !rewrite && old.map.is_some() && !old.damaged {
        let mut file = OpenOptions::new()
            .append(true)
            .open(&path)
            .map_err(|e| io_err(&path, e))?;
        // Another Postern process on the same folder appends under the same lock.
        file.lock().map_err(|e| io_err(&path, e))?;
        let on_disk = file.metadata().map_err(|e| io_err(&path, e))?.len();
        if on_disk as usize == old.valid_len {
            let mut buf = Vec::new();
            for (record, data) in new {
                encode_record(record, *data, &mut buf);
            }
            file.write_all(&buf).map_err(|e| io_err(&path, e))?;
            return Ok(());
        }
        // Someone appended since we loaded, or left a torn tail: start a clean file.
    }
    let tmp = dir.join(kind.tmp_name);
    let mut buf = Vec::with_capacity(old.valid_len + 4096);
    buf.extend_from_slice(kind.magic);
    buf.extend_from_slice(&VERSION.to_le_bytes());
    buf.extend_from_slice(&uid_validity.to_le_bytes());
    buf.extend_from_slice(&fingerprint.to_le_bytes());
    buf.extend_from_slice(&old.first_recent.unwrap_or(0).to_le_bytes());
    buf.extend_from_slice(&0u32.to_le_bytes());
    let replaced: std::collections::HashSet<u32> = new.iter().map(|(r, _)| r.uid).collect();
    for (i, &(uid, _, _)) in old.table.iter().enumerate() {
        if keep(uid) && !replaced.contains(&uid) {
            buf.extend_from_slice(old.raw(i));
        }
    }
    for (record, data) in new {
        encode_record(record, *data, &mut buf);
    }
    let write = || -> io::Result<()> {
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        file.write_all(&buf)?;
        fs::rename(&tmp, &path)
    };
    write().map_err(|e| {
        let _ = fs::remove_file(&tmp);
        io_err(&path, e)
    })
}

/// Records the lowest UID no session has been told of yet, so that `\Recent` survives a
/// restart and STATUS of a folder nobody has open can count it. With `if_unset`, a value
/// already recorded stays. Written in place: one aligned four-byte write into a header that
/// readers only look at when they open the folder. Where there is no index of ours yet, a
/// header-only one is created to hold it.
pub fn set_first_recent(dir: &Path, uid_validity: u32, fingerprint: u64, uid: u32, if_unset: bool) {
    use std::os::unix::fs::FileExt;
    let path = dir.join(NAME);
    if let Ok(file) = OpenOptions::new().read(true).write(true).open(&path) {
        let mut header = [0u8; HEADER_LEN];
        let ours = file.read_exact_at(&mut header, 0).is_ok()
            && header_matches(&header, MAGIC, uid_validity, Some(fingerprint));
        if ours {
            if if_unset && read_u32(&header, FIRST_RECENT_AT).is_some_and(|u| u != 0) {
                return;
            }
            if let Err(e) = file.write_all_at(&uid.to_le_bytes(), FIRST_RECENT_AT as u64) {
                tracing::warn!(path = %path.display(), "cannot record the first recent UID: {e}");
            }
            return;
        }
    }
    let empty = IndexFile {
        first_recent: Some(uid),
        ..IndexFile::empty()
    };
    if let Err(e) = write(
        dir,
        uid_validity,
        fingerprint,
        &empty,
        &|_| false,
        &[],
        true,
    ) {
        tracing::warn!("cannot create the index: {e}");
    }
}

/// The first-recent UID recorded in the index of the folder in `dir`, without loading it.
pub fn read_first_recent(dir: &Path, uid_validity: u32) -> Option<u32> {
    use std::os::unix::fs::FileExt;
    let file = File::open(dir.join(NAME)).ok()?;
    let mut header = [0u8; HEADER_LEN];
    file.read_exact_at(&mut header, 0).ok()?;
    header_matches(&header, MAGIC, uid_validity, None)
        .then(|| read_u32(&header, FIRST_RECENT_AT))
        .flatten()
        .filter(|&u| u != 0)
}

/// Whether `bytes` start with an index header of ours for this UIDVALIDITY (and, when
/// given, this header-set fingerprint).
fn header_matches(
    bytes: &[u8],
    magic: &[u8; 8],
    uid_validity: u32,
    fingerprint: Option<u64>,
) -> bool {
    bytes.len() >= HEADER_LEN
        && &bytes[..8] == magic
        && read_u32(bytes, 8) == Some(VERSION)
        && read_u32(bytes, 12) == Some(uid_validity)
        && fingerprint.is_none_or(|f| read_u64(bytes, 16) == Some(f))
}

/// Shares a loaded index between the snapshots made from it.
pub type SharedIndex = Arc<IndexFile>;

fn encode_record(r: &Record, data: Option<&[u8]>, out: &mut Vec<u8>) {
    let mut payload = Vec::with_capacity(
        64 + r.base.len()
            + r.envelope.len()
            + r.body.len()
            + r.bodystructure.len()
            + r.headers.len()
            + r.parts.len(),
    );
    payload.extend_from_slice(&r.uid.to_le_bytes());
    payload.extend_from_slice(&r.internal_date.to_le_bytes());
    payload.extend_from_slice(&r.stored_size.to_le_bytes());
    payload.extend_from_slice(&r.wire_size.to_le_bytes());
    for blob in [
        &r.base,
        &r.envelope,
        &r.body,
        &r.bodystructure,
        &r.headers,
        &r.parts,
    ] {
        payload.extend_from_slice(&(blob.len() as u32).to_le_bytes());
        payload.extend_from_slice(blob);
    }
    if let Some(data) = data {
        payload.extend_from_slice(&(data.len() as u32).to_le_bytes());
        payload.extend_from_slice(data);
    }
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
    out.extend_from_slice(&payload);
}

fn decode(p: &[u8]) -> Option<Entry<'_>> {
    decode_full(p).map(|(entry, _)| entry)
}

/// A record and its data blob, if it has one.
fn decode_full(p: &[u8]) -> Option<(Entry<'_>, Option<&[u8]>)> {
    let uid = read_u32(p, 0)?;
    let internal_date = read_u64(p, 4)? as i64;
    let stored_size = read_u64(p, 12)?;
    let wire_size = read_u64(p, 20)?;
    let mut pos = 28;
    // Returns None at the end of the record, `Some(None)` for a damaged length.
    let mut blob = || -> Option<Option<&[u8]>> {
        if pos == p.len() {
            return None;
        }
        let b = (|| {
            let len = read_u32(p, pos)? as usize;
            let start = pos + 4;
            let end = start.checked_add(len)?;
            let b = p.get(start..end)?;
            pos = end;
            Some(b)
        })();
        Some(b.or_else(|| {
            pos = usize::MAX;
            None
        }))
    };
    let mut next = || blob().flatten();
    let entry = Entry {
        uid,
        base: next()?,
        internal_date,
        stored_size,
        wire_size,
        envelope: next()?,
        body: next()?,
        bodystructure: next()?,
        headers: next()?,
        parts: next()?,
    };
    // An optional data blob, then nothing.
    let data = match blob() {
        None => None,
        Some(None) => return None,
        Some(Some(data)) => Some(data),
    };
    blob().is_none().then_some((entry, data))
}

fn read_u32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(
        b.get(at..at.checked_add(4)?)?.try_into().ok()?,
    ))
}

fn read_u64(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(
        b.get(at..at.checked_add(8)?)?.try_into().ok()?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(uid: u32) -> Record {
        Record {
            uid,
            base: format!("{uid}.M1P1.host").into_bytes(),
            internal_date: 1_700_000_000 + i64::from(uid),
            stored_size: 100 + u64::from(uid),
            wire_size: 110 + u64::from(uid),
            envelope: format!("(\"env {uid}\")").into_bytes(),
            body: b"(\"text\" \"plain\")".to_vec(),
            bodystructure: b"(\"text\" \"plain\" NIL)".to_vec(),
            headers: b"Subject: x\n".to_vec(),
            parts: vec![1, 2, 3],
        }
    }

    const FP: u64 = 7;

    /// A new index in `dir` holding `records`.
    fn fresh(dir: &Path, records: &[Record]) {
        write(dir, 42, FP, &IndexFile::empty(), &|_| true, records, false).unwrap();
    }

    fn load(dir: &Path) -> IndexFile {
        IndexFile::load(dir, 42, FP).unwrap()
    }

    #[test]
    fn append_then_load_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let empty = load(dir.path());
        assert!(empty.is_empty());
        write(
            dir.path(),
            42,
            FP,
            &empty,
            &|_| true,
            &[record(1), record(2)],
            false,
        )
        .unwrap();
        let idx = load(dir.path());
        assert_eq!(idx.len(), 2);
        let e = idx.get(2).unwrap();
        assert_eq!(e.base, b"2.M1P1.host");
        assert_eq!(e.wire_size, 112);
        assert_eq!(e.envelope, b"(\"env 2\")");
        assert_eq!(e.parts, [1, 2, 3]);
        write(dir.path(), 42, FP, &idx, &|_| true, &[record(3)], false).unwrap();
        let idx = load(dir.path());
        assert_eq!(idx.len(), 3);
        assert!(!idx.wants_rewrite(3));
        assert_eq!(idx.get(3).unwrap().internal_date, 1_700_000_003);
    }

    #[test]
    fn newer_record_for_a_uid_wins() {
        let dir = tempfile::tempdir().unwrap();
        let mut again = record(1);
        again.envelope = b"NEW".to_vec();
        fresh(dir.path(), &[record(1)]);
        let idx = load(dir.path());
        write(dir.path(), 42, FP, &idx, &|_| true, &[again], false).unwrap();
        assert_eq!(load(dir.path()).get(1).unwrap().envelope, b"NEW");
    }

    #[test]
    fn other_uidvalidity_or_header_set_loads_empty() {
        let dir = tempfile::tempdir().unwrap();
        fresh(dir.path(), &[record(1)]);
        let other = IndexFile::load(dir.path(), 43, FP).unwrap();
        assert!(other.is_empty() && other.wants_rewrite(0));
        let other = IndexFile::load(dir.path(), 42, FP + 1).unwrap();
        assert!(other.is_empty());
    }

    #[test]
    fn torn_tail_is_ignored_and_forces_a_rewrite() {
        let dir = tempfile::tempdir().unwrap();
        fresh(dir.path(), &[record(1), record(2)]);
        let path = dir.path().join(NAME);
        let mut bytes = fs::read(&path).unwrap();
        let full = bytes.len();
        bytes.truncate(full - 5);
        fs::write(&path, &bytes).unwrap();
        let idx = load(dir.path());
        assert_eq!(idx.len(), 1);
        assert!(idx.wants_rewrite(1));
        write(dir.path(), 42, FP, &idx, &|_| true, &[record(2)], true).unwrap();
        let idx = load(dir.path());
        assert_eq!(idx.len(), 2);
        assert!(!idx.wants_rewrite(2));
        assert_eq!(fs::read(&path).unwrap().len(), full);
    }

    #[test]
    fn flipped_byte_is_caught() {
        let dir = tempfile::tempdir().unwrap();
        fresh(dir.path(), &[record(1), record(2)]);
        let path = dir.path().join(NAME);
        let mut bytes = fs::read(&path).unwrap();
        let n = bytes.len();
        bytes[n - 3] ^= 0x40;
        fs::write(&path, &bytes).unwrap();
        let idx = load(dir.path());
        assert!(idx.get(2).is_none());
        assert!(idx.get(1).is_some());
    }

    #[test]
    fn rewrite_drops_expunged_and_superseded_records() {
        let dir = tempfile::tempdir().unwrap();
        let records: Vec<Record> = (1..=200).map(record).collect();
        fresh(dir.path(), &records);
        let idx = load(dir.path());
        assert!(idx.wants_rewrite(50));
        write(dir.path(), 42, FP, &idx, &|uid| uid > 150, &[], true).unwrap();
        let idx = load(dir.path());
        assert_eq!(idx.len(), 50);
        assert!(idx.get(150).is_none() && idx.get(151).is_some());
    }

    #[test]
    fn first_recent_survives_appends_and_rewrites() {
        let dir = tempfile::tempdir().unwrap();
        fresh(dir.path(), &[record(1)]);
        assert_eq!(load(dir.path()).first_recent(), None);
        set_first_recent(dir.path(), 42, FP, 2, true);
        assert_eq!(read_first_recent(dir.path(), 42), Some(2));
        set_first_recent(dir.path(), 42, FP, 1, true);
        assert_eq!(read_first_recent(dir.path(), 42), Some(2));
        assert_eq!(read_first_recent(dir.path(), 43), None);
        let idx = load(dir.path());
        assert_eq!(idx.first_recent(), Some(2));
        write(dir.path(), 42, FP, &idx, &|_| true, &[record(2)], false).unwrap();
        let idx = load(dir.path());
        assert_eq!(idx.first_recent(), Some(2));
        write(dir.path(), 42, FP, &idx, &|_| true, &[], true).unwrap();
        assert_eq!(load(dir.path()).first_recent(), Some(2));
        // Where there is no index yet, one is made to hold the value.
        let fresh = tempfile::tempdir().unwrap();
        set_first_recent(fresh.path(), 42, FP, 5, true);
        assert_eq!(read_first_recent(fresh.path(), 42), Some(5));
        assert!(load(fresh.path()).is_empty());
    }

    #[test]
    fn garbage_files_never_panic() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(NAME);
        let mut seed = 1u64;
        for n in 0..300 {
            let mut bytes = Vec::new();
            bytes.extend_from_slice(MAGIC);
            bytes.extend_from_slice(&VERSION.to_le_bytes());
            bytes.extend_from_slice(&42u32.to_le_bytes());
            bytes.extend_from_slice(&FP.to_le_bytes());
            bytes.extend_from_slice(&0u64.to_le_bytes());
            for _ in 0..n {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                bytes.push((seed >> 33) as u8);
            }
            fs::write(&path, &bytes).unwrap();
            let idx = load(dir.path());
            for uid in 0..4 {
                let _ = idx.get(uid);
            }
        }
    }
}
