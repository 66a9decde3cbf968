//! Converted forms of a folder's messages ([`crate::convert`]), derived once per message and
//! format and kept on disk: a [`Derived`] index per format that has been asked for.
//!
//! A converted form is a pure function of the message's bytes and the format, and a Maildir
//! message never changes, so — like the folder index — this is a cache keyed by UID and
//! checked against the Maildir base name. Each record carries what the folder index carries
//! for the original (wire size, ENVELOPE, BODY, BODYSTRUCTURE, part tree, cached header
//! lines), so a header-only FETCH of a converted mailbox opens no file either, plus the
//! converted message itself as the record's data blob, which FETCH and RETR send from a map
//! of that range of the file. A message the format leaves as it is gets a record without
//! data and nothing else: deciding that costs one parse of the message, once, and from then
//! on the message is served from its file and the folder index exactly as in `original`.
//!
//! The files are the folder index's format ([`super::index`]: append-only, checksummed,
//! rewritten by rename) with a magic of their own, one per format, beside `postern.index`:
//! `postern-text-only.index`, `postern-html-only.index`, `postern-html-and-text.index`,
//! `postern-best.index`. Dovecot only looks at `new/`, `cur/`, `tmp/`, its own `dovecot*`
//! files and `.`-folders, so it never sees them. Their header fingerprint covers the cached
//! header set and [`crate::convert::VERSION`], so forms made by another converter are
//! rebuilt, not served. Records of expunged messages are dropped when the file is next
//! written and they make up more than a fifth of it, so the space they take stays bounded
//! by a quarter of the live data and the cost of rewriting is amortised over the mail
//! that was expunged.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

use super::index::{self, IndexFile, Kind, Record};
use super::snapshot::{DERIVED_SLOT, Message, Snapshot};
use crate::body::MessageBody;
use crate::policy::RetrievalFormat;
use crate::store::{Maildir, MessageMeta, StoreError};

const MAGIC: &[u8; 8] = b"PSTNDRV\0";

/// Batches from which conversion is spread over the cores (it is CPU work: HTML parsing).
const PARALLEL: usize = 64;

/// The file of a format's converted forms, or `None` for `original`.
pub fn kind(format: RetrievalFormat) -> Option<Kind> {
    let (name, tmp_name) = match format {
        RetrievalFormat::Original => return None,
        RetrievalFormat::TextOnly => ("postern-text-only.index", "postern-text-only.index.tmp"),
        RetrievalFormat::HtmlOnly => ("postern-html-only.index", "postern-html-only.index.tmp"),
        RetrievalFormat::HtmlAndText => (
            "postern-html-and-text.index",
            "postern-html-and-text.index.tmp",
        ),
        RetrievalFormat::Best => ("postern-best.index", "postern-best.index.tmp"),
    };
    Some(Kind {
        name,
        tmp_name,
        magic: MAGIC,
    })
}

/// The fingerprint of a derived file: the cached header set's and the converter's version.
pub fn fingerprint(header_fingerprint: u64) -> u64 {
    header_fingerprint.rotate_left(17) ^ (u64::from(crate::convert::VERSION) << 8) ^ 0xd1
}

/// How a format shows one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// As stored: serve the message file and the folder index.
    Unchanged,
    /// Converted: the record at `slot` of the derived file has its facts and bytes.
    Converted { slot: u32, wire_size: u64 },
}

/// A folder's converted forms in one format, as loaded. Cloning shares the map.
#[derive(Debug, Clone)]
pub struct Derived {
    format: RetrievalFormat,
    file: Arc<IndexFile>,
}

impl Derived {
    /// Nothing derived yet.
    pub fn empty(format: RetrievalFormat) -> Derived {
        Derived {
            format,
            file: Arc::new(IndexFile::empty()),
        }
    }

    pub fn format(&self) -> RetrievalFormat {
        self.format
    }

    /// The mapped file, for snapshots whose messages point into it.
    pub fn file(&self) -> &Arc<IndexFile> {
        &self.file
    }

    /// Loads the derived forms of `format` for the folder in `dir`. A missing, foreign or
    /// unreadable file loads as empty, and is rebuilt by the next [`update`](Self::update).
    pub fn load(
        dir: &Path,
        format: RetrievalFormat,
        uid_validity: u32,
        header_fingerprint: u64,
    ) -> Derived {
        let Some(kind) = kind(format) else {
            return Derived::empty(format);
        };
        let file = IndexFile::load_kind(dir, kind, uid_validity, fingerprint(header_fingerprint))
            .unwrap_or_else(|e| {
                tracing::warn!("derived index unreadable, rebuilding it: {e}");
                IndexFile::empty()
            });
        Derived {
            format,
            file: Arc::new(file),
        }
    }

    /// How the format shows the message with this UID and base name, if that is known yet.
    pub fn form(&self, uid: u32, base: &str) -> Option<Form> {
        if self.format == RetrievalFormat::Original {
            return Some(Form::Unchanged);
        }
        let slot = self.file.position(uid)?;
        let entry = self.file.at(slot)?;
        if entry.base != base.as_bytes() {
            return None;
        }
        Some(match self.file.data_at(slot) {
            None => Form::Unchanged,
            Some(_) => Form::Converted {
                slot: slot as u32,
                wire_size: entry.wire_size,
            },
        })
    }

    /// The converted bytes of the record at `slot` (from [`Form::Converted`]): a map of that
    /// range of the file, so they are sent without a copy.
    pub fn body(&self, slot: u32) -> Result<MessageBody, StoreError> {
        let slot = slot as usize;
        match self.file.map_data(slot) {
            Some(Ok(map)) => Ok(MessageBody::Mapped(Arc::new(map))),
            Some(Err(e)) => {
                tracing::debug!("cannot map a converted message, copying it: {e}");
                let data = self.file.data_at(slot).unwrap_or_default();
                Ok(MessageBody::from(data))
            }
            None => Err(StoreError::Io {
                path: "derived index".into(),
                source: std::io::Error::other("no converted message in this record"),
            }),
        }
    }

    /// The bytes a session of this format is sent for a message: converted, or as stored.
    pub fn read(&self, maildir: &Maildir, meta: &MessageMeta) -> Result<MessageBody, StoreError> {
        match self.form(meta.uid, meta.base()) {
            Some(Form::Converted { slot, .. }) => self.body(slot),
            _ => maildir.read(meta),
        }
    }

    /// Brings the forms up to date with the folder's messages `metas`: converts the messages
    /// that have no record yet (in parallel when there are many), drops the records of
    /// messages no longer there when they take up too much of the file, writes, and returns
    /// the forms as now on disk. Failing to write is not fatal: the forms are then kept in
    /// memory until the next try. Blocking.
    pub fn update(
        &self,
        dir: &Path,
        uid_validity: u32,
        header_fingerprint: u64,
        metas: &[MessageMeta],
        maildir: &Maildir,
        cached_headers: &[&str],
    ) -> Derived {
        let Some(kind) = kind(self.format) else {
            return self.clone();
        };
        let missing: Vec<&MessageMeta> = metas
            .iter()
            .filter(|m| self.form(m.uid, m.base()).is_none())
            .collect();
        let live: HashSet<u32> = metas.iter().map(|m| m.uid).collect();
        let keep = |uid: u32| live.contains(&uid);
        let (live_bytes, dead_bytes) = self.file.live_and_dead_bytes(&keep);
        let rewrite = self.file.wants_rewrite(metas.len()) || dead_bytes * 4 > live_bytes;
        if missing.is_empty() && !rewrite {
            return self.clone();
        }
        let started = std::time::Instant::now();
        let forms = self.convert_all(&missing, maildir, cached_headers);
        let new: Vec<(&Record, Option<&[u8]>)> =
            forms.iter().map(|(r, d)| (r, d.as_deref())).collect();
        let fp = fingerprint(header_fingerprint);
        if let Err(e) = index::write_kind(
            dir,
            kind,
            uid_validity,
            fp,
            &self.file,
            &keep,
            &new,
            rewrite,
        ) {
            tracing::warn!("cannot write the derived index: {e}");
            return self.clone();
        }
        let converted = forms.iter().filter(|(_, d)| d.is_some()).count();
        tracing::debug!(
            format = self.format.as_str(),
            dir = %dir.display(),
            looked_at = missing.len(),
            converted,
            rewrite,
            ms = started.elapsed().as_millis() as u64,
            "derived forms updated"
        );
        match IndexFile::load_kind(dir, kind, uid_validity, fp) {
            Ok(file) => Derived {
                format: self.format,
                file: Arc::new(file),
            },
            Err(e) => {
                tracing::warn!("cannot reload the derived index: {e}");
                self.clone()
            }
        }
    }

    /// The records (and converted bytes) of these messages.
    fn convert_all(
        &self,
        metas: &[&MessageMeta],
        maildir: &Maildir,
        cached_headers: &[&str],
    ) -> Vec<(Record, Option<Vec<u8>>)> {
        let format = self.format;
        let one = |meta: &&MessageMeta| match maildir.read(meta) {
            Ok(body) => Some(derive(meta, body.as_bytes(), format, cached_headers)),
            Err(e) => {
                tracing::warn!(uid = meta.uid, "cannot read message to convert: {e}");
                None
            }
        };
        super::parallel::filter_map(metas, PARALLEL, one)
    }
}

/// The derived record of one message: its converted form's facts and bytes, or a record
/// without data saying the format leaves it as it is.
pub fn derive(
    meta: &MessageMeta,
    bytes: &[u8],
    format: RetrievalFormat,
    cached_headers: &[&str],
) -> (Record, Option<Vec<u8>>) {
    let base = meta.base().as_bytes().to_vec();
    match crate::convert::convert(bytes, format) {
        None => (
            Record {
                uid: meta.uid,
                base,
                internal_date: 0,
                stored_size: 0,
                wire_size: 0,
                envelope: Vec::new(),
                body: Vec::new(),
                bodystructure: Vec::new(),
                headers: Vec::new(),
                parts: Vec::new(),
            },
            None,
        ),
        Some(out) => {
            let analysis = crate::mime::analyze(&out);
            let mut parts = Vec::new();
            analysis.parts.encode(&mut parts);
            let record = Record {
                uid: meta.uid,
                base,
                internal_date: 0,
                stored_size: out.len() as u64,
                wire_size: crate::wire::len(&out, 0..out.len()),
                envelope: analysis.envelope,
                body: analysis.body,
                bodystructure: analysis.bodystructure,
                headers: crate::mime::select_header_lines(&out, cached_headers),
                parts,
            };
            (record, Some(out))
        }
    }
}

/// What a session of `derived`'s format sees of `base`: the same messages, UIDs and flags,
/// with the size and cached facts of each converted message taken from the derived file.
/// `metas` are the store's messages in the snapshot's order.
pub fn view(base: &Snapshot, metas: &[MessageMeta], derived: &Derived) -> Snapshot {
    let messages = base
        .messages
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let meta = metas.get(i).filter(|meta| meta.uid == m.uid);
            match meta.and_then(|meta| derived.form(m.uid, meta.base())) {
                Some(Form::Converted { slot, wire_size }) => Message {
                    wire_size,
                    slot: Some(slot | DERIVED_SLOT),
                    ..*m
                },
                _ => *m,
            }
        })
        .collect();
    Snapshot {
        uid_validity: base.uid_validity,
        uid_next: base.uid_next,
        generation: base.generation,
        keywords: base.keywords.clone(),
        keywords_open: base.keywords_open,
        messages,
        index: base.index.clone(),
        derived: Some(derived.file.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{NewFlags, StoreOptions};

    const HTML: &[u8] = b"Subject: h\nMIME-Version: 1.0\nContent-Type: text/html\n\n<p>Hello <a href=\"https://example.org/\">there</a></p>\n";
    const TEXT: &[u8] = b"Subject: t\n\nplain text\n";

    fn maildir(dir: &Path, messages: &[&[u8]]) -> Maildir {
        let options = StoreOptions {
            fsync: false,
            ..StoreOptions::default()
        };
        for sub in ["cur", "new", "tmp"] {
            std::fs::create_dir(dir.join(sub)).unwrap();
        }
        let m = Maildir::open(dir, options).unwrap();
        for msg in messages {
            m.append(msg, &NewFlags::default(), None).unwrap();
        }
        m
    }

    #[test]
    fn forms_are_derived_once_persisted_and_cleaned_up() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let big: Vec<u8> = [HTML, &b"<p>padding</p>\n".repeat(500)[..]].concat();
        let md = maildir(dir, &[HTML, TEXT, &big, &big, &big]);
        let inbox = md.sync().unwrap();
        let d = Derived::load(dir, RetrievalFormat::TextOnly, inbox.uid_validity, 7);
        assert!(
            inbox
                .messages
                .iter()
                .all(|m| d.form(m.uid, m.base()).is_none())
        );
        let d = d.update(
            dir,
            inbox.uid_validity,
            7,
            &inbox.messages,
            &md,
            &["subject"],
        );
        let forms: Vec<Form> = inbox
            .messages
            .iter()
            .map(|m| d.form(m.uid, m.base()).unwrap())
            .collect();
        assert!(matches!(forms[0], Form::Converted { .. }));
        assert_eq!(forms[1], Form::Unchanged);
        // The converted bytes are what the converter gives, and the size is theirs.
        let Form::Converted { slot, wire_size } = forms[0] else {
            unreachable!()
        };
        let body = d.read(&md, &inbox.messages[0]).unwrap();
        let expected = crate::convert::convert(HTML, RetrievalFormat::TextOnly).unwrap();
        assert_eq!(body.as_bytes(), &expected[..]);
        assert_eq!(wire_size, crate::wire::len(&expected, 0..expected.len()));
        assert_eq!(d.body(slot).unwrap().as_bytes(), &expected[..]);
        assert_eq!(d.read(&md, &inbox.messages[1]).unwrap().as_bytes(), TEXT);
        // Persisted: a fresh load knows every form, and an update has nothing to do.
        let again = Derived::load(dir, RetrievalFormat::TextOnly, inbox.uid_validity, 7);
        assert_eq!(
            inbox
                .messages
                .iter()
                .map(|m| again.form(m.uid, m.base()).unwrap())
                .collect::<Vec<_>>(),
            forms
        );
        let path = dir.join(kind(RetrievalFormat::TextOnly).unwrap().name);
        let modified = std::fs::metadata(&path).unwrap().len();
        let same = again.update(dir, inbox.uid_validity, 7, &inbox.messages, &md, &[]);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), modified);
        assert!(Arc::ptr_eq(same.file(), again.file()));
        // Another converter version or UIDVALIDITY: nothing is trusted.
        assert!(
            Derived::load(dir, RetrievalFormat::TextOnly, inbox.uid_validity + 1, 7)
                .form(inbox.messages[0].uid, inbox.messages[0].base())
                .is_none()
        );
        assert!(
            Derived::load(dir, RetrievalFormat::TextOnly, inbox.uid_validity, 8)
                .form(inbox.messages[0].uid, inbox.messages[0].base())
                .is_none()
        );
        // Expunge the big ones: their converted bytes leave the file at the next update.
        let refs: Vec<&MessageMeta> = inbox.messages[2..].iter().collect();
        md.delete(&refs).unwrap();
        let inbox2 = md.sync().unwrap();
        let cleaned = again.update(dir, inbox.uid_validity, 7, &inbox2.messages, &md, &[]);
        let shrunk = std::fs::metadata(&path).unwrap().len();
        assert!(shrunk * 4 < modified, "{shrunk} vs {modified}");
        assert!(cleaned.file().get(inbox.messages[2].uid).is_none());
        assert!(matches!(
            cleaned.form(inbox.messages[0].uid, inbox.messages[0].base()),
            Some(Form::Converted { .. })
        ));
    }
}
