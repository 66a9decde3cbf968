//! Expunging messages (the POP3 UPDATE state).
//!
//! Files go first: once a file is unlinked the message is gone for every server, whatever
//! happens next. Then the records are dropped from the uidlist under its lock, as Dovecot's
//! next rewrite would do anyway; if the lock cannot be had, that later rewrite does it. The
//! header's next UID is left alone, so a deleted message's UID is never handed out again.

use std::fs;
use std::path::Path;

use super::filename::base;
use super::fsutil::{fsync_dir, io_err, is_not_found};
use super::maildir::{Maildir, MessageMeta};
use super::{StoreError, scan, writer};

pub(super) fn delete(md: &Maildir, msgs: &[&MessageMeta]) -> Result<(), StoreError> {
    let root = md.dir();
    let mut first_error = None;
    let mut removed: Vec<(u32, &[u8])> = Vec::new();
    let mut touched_new = false;
    for msg in msgs {
        let key = base(msg.filename.as_bytes());
        match unlink(root, &msg.filename, key) {
            Ok(in_new) => {
                touched_new |= in_new;
                removed.push((msg.uid, key));
            }
            Err(e) => {
                tracing::warn!(uid = msg.uid, "cannot delete message: {e}");
                first_error.get_or_insert(e);
            }
        }
    }
    if !removed.is_empty() && md.options().fsync {
        fsync_dir(&root.join("cur"))?;
        if touched_new {
            fsync_dir(&root.join("new"))?;
        }
    }
    if !removed.is_empty() {
        drop_records(md, &removed)?;
    }
    first_error.map_or(Ok(()), Err)
}

/// Unlinks a message's file wherever it now is; returns whether it was found in `new/`.
/// A file that is already gone counts as deleted.
fn unlink(root: &Path, listed: &str, key: &[u8]) -> Result<bool, StoreError> {
    let path = root.join("cur").join(listed);
    match fs::remove_file(&path) {
        Ok(()) => return Ok(false),
        Err(e) if is_not_found(&e) => {}
        Err(e) => return Err(io_err(path, e)),
    }
    let Some(path) = scan::find_by_base(root, key)? else {
        return Ok(false);
    };
    match fs::remove_file(&path) {
        Ok(()) => Ok(path.parent().is_some_and(|p| p.ends_with("new"))),
        Err(e) if is_not_found(&e) => Ok(false),
        Err(e) => Err(io_err(path, e)),
    }
}

fn drop_records(md: &Maildir, removed: &[(u32, &[u8])]) -> Result<(), StoreError> {
    let mut locked = match writer::lock(md) {
        Ok(locked) => locked,
        Err(StoreError::LockTimeout { path }) => {
            tracing::warn!(lock = %path.display(), "uidlist locked; deleted records stay until the next rewrite");
            return Ok(());
        }
        Err(e) => return Err(e),
    };
    let before = locked.list.records.len();
    locked.list.records.retain(|r| {
        !removed
            .iter()
            .any(|&(uid, key)| r.uid == uid && r.base == key)
    });
    if locked.list.records.len() != before || locked.list.wants_rewrite() {
        locked.commit(md)?;
    }
    Ok(())
}
