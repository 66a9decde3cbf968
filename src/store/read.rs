//! Handing message bytes out of the store as memory maps.
//!
//! A mapped message costs no copy and no heap: the kernel pages it in as the session writes
//! it out. Maildir files are immutable once delivered, which is what makes mapping them
//! safe; but another client may rename one (a flag change) between our listing and the
//! read, so a file missing under its listed name is looked up again by base name.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::filename::base;
use super::fsutil::{IoContext, is_not_found};
use super::maildir::{Maildir, MessageMeta};
use super::{StoreError, scan};
use crate::body::MessageBody;

/// Message files opened through [`Maildir::read`] by this process.
static OPENS: AtomicU64 = AtomicU64::new(0);

/// How many times a message file has been opened for reading, process-wide. Lets tests prove
/// that an operation (say, a FETCH served from cached data) touched no message file.
pub fn message_opens() -> u64 {
    OPENS.load(Ordering::Relaxed)
}

/// The bytes of a listed message.
pub(super) fn read(md: &Maildir, msg: &MessageMeta) -> Result<MessageBody, StoreError> {
    OPENS.fetch_add(1, Ordering::Relaxed);
    let listed = md.dir().join("cur").join(&msg.filename);
    match File::open(&listed) {
        Ok(file) => map(&file, &listed),
        Err(e) if is_not_found(&e) => {
            let gone = StoreError::Gone { uid: msg.uid };
            let Some(path) = scan::find_by_base(md.dir(), base(msg.filename.as_bytes()))? else {
                return Err(gone);
            };
            match File::open(&path) {
                Ok(file) => map(&file, &path),
                Err(e) if is_not_found(&e) => Err(gone),
                Err(e) => Err(super::fsutil::io_err(path, e)),
            }
        }
        Err(e) => Err(super::fsutil::io_err(listed, e)),
    }
}

/// Maps an open message file; an empty file, which cannot be mapped, becomes an empty
/// owned body.
pub(super) fn map(file: &File, path: &Path) -> Result<MessageBody, StoreError> {
    if file.metadata().at(path)?.len() == 0 {
        return Ok(MessageBody::Owned(Arc::from(&[][..])));
    }
    // SAFETY: a mapping is only sound while nobody truncates or rewrites the file under it,
    // or reading the mapped range could fault (SIGBUS) or change under us. Maildir files are
    // never modified in place by Dovecot, MDAs or Postern: they are written in tmp/ and
    // afterwards only renamed or unlinked, and both leave a mapped inode intact. The residual
    // risk is another process deliberately truncating a message file, which no Maildir
    // client does.
    let mmap = unsafe { memmap2::Mmap::map(file) }.at(path)?;
    Ok(MessageBody::Mapped(Arc::new(mmap)))
}

/// The bytes of a file, for size computation (not counted as a message open).
pub(super) fn map_path(path: &Path) -> Result<MessageBody, StoreError> {
    let file = File::open(path).at(path)?;
    map(&file, path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testutil::TestMaildir;

    #[test]
    fn reads_mapped_and_empty() {
        let t = TestMaildir::new();
        t.put("new", "1.M1.a", b"Subject: x\n\nbody\n");
        t.put("new", "2.M1.b", b"");
        let md = t.open();
        let inbox = md.sync().unwrap();
        let before = message_opens();
        let body = md.read(&inbox.messages[0]).unwrap();
        assert!(matches!(body, MessageBody::Mapped(_)));
        assert_eq!(body.as_bytes(), b"Subject: x\n\nbody\n");
        let empty = md.read(&inbox.messages[1]).unwrap();
        assert!(matches!(empty, MessageBody::Owned(_)));
        assert!(empty.is_empty());
        assert!(message_opens() >= before + 2);
    }

    #[test]
    fn follows_a_flag_rename() {
        let t = TestMaildir::new();
        t.put("cur", "1.M1.a:2,S", b"hello\n");
        let md = t.open();
        let inbox = md.sync().unwrap();
        std::fs::rename(
            t.root().join("cur/1.M1.a:2,S"),
            t.root().join("cur/1.M1.a:2,RS"),
        )
        .unwrap();
        assert_eq!(md.read(&inbox.messages[0]).unwrap().as_bytes(), b"hello\n");
    }

    #[test]
    fn deleted_meanwhile_is_gone() {
        let t = TestMaildir::new();
        t.put("cur", "1.M1.a:2,", b"hello\n");
        let md = t.open();
        let inbox = md.sync().unwrap();
        std::fs::remove_file(t.root().join("cur/1.M1.a:2,")).unwrap();
        let err = md.read(&inbox.messages[0]).unwrap_err();
        assert!(matches!(err, StoreError::Gone { uid: 1 }));
    }
}
