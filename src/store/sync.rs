//! Synchronising the uidlist with the files, and listing the mailbox.
//!
//! First an unlocked look: when every file already has a UID and a known size, nothing
//! needs writing and the listing comes straight from the uidlist (the usual case for a POP3
//! login). Otherwise the uidlist lock is taken and, under it, Dovecot's sync is repeated:
//! new mail moves to `cur/`, files without a record get UIDs in Dovecot's file-name order,
//! records of vanished files are dropped, and wire sizes computed for the first time are
//! stored as `W` fields, so no server ever reads the file for its size again.
//!
//! Sizes are computed before the lock is taken (a file's contents never change), so other
//! writers do not wait while we read mail.

use std::collections::HashMap;
use std::path::Path;

use super::filename::{dovecot_sort_cmp, wire_size_hint};
use super::maildir::{Inbox, Maildir, MessageMeta};
use super::scan::{self, Listing, Located};
use super::uidlist::{self, EXT_WIRE_SIZE, LoadError, Record, Uidlist};
use super::{StoreError, read, size, writer};

/// Wire sizes computed in this sync, by base name.
type Sizes = HashMap<Vec<u8>, u64>;

pub(super) fn sync(md: &Maildir) -> Result<Inbox, StoreError> {
    let root = md.dir();
    let loaded = match uidlist::load(root) {
        Ok(list) => list,
        Err(LoadError::Io(e)) => return Err(e),
        // Rebuilt below, under the lock.
        Err(LoadError::Corrupt { .. }) => None,
    };
    let files = scan::list(root)?;
    let mut sizes = Sizes::new();
    if let Some(list) = &loaded
        && is_settled(list, &files)
    {
        let mut list = list.clone();
        md.guard_next_uid(&mut list);
        return Ok(inbox(&list, &files, &sizes));
    }
    compute_missing_sizes(root, loaded.as_ref(), &files, &mut sizes);

    let mut locked = match writer::lock(md) {
        Ok(locked) => locked,
        Err(StoreError::LockTimeout { path }) => {
            // Dovecot's answer to a lock it cannot get: show the mail that already has UIDs.
            let Some(mut list) = loaded else {
                return Err(StoreError::LockTimeout { path });
            };
            tracing::warn!(lock = %path.display(), "uidlist stays locked; new mail is not listed yet");
            md.guard_next_uid(&mut list);
            return Ok(inbox(&list, &files, &sizes));
        }
        Err(e) => return Err(e),
    };

    scan::move_new_to_cur(root, md.options().fsync)?;
    let files = confirmed_listing(root, &locked.list)?;
    let mut changed = locked.list.wants_rewrite();
    changed |= drop_vanished(&mut locked.list, &files);
    changed |= assign_uids(&mut locked.list, &files)?;
    changed |= cache_sizes(root, &mut locked.list, &files, &mut sizes);
    if changed {
        locked.commit(md)?;
    }
    Ok(inbox(&locked.list, &files, &sizes))
}

/// Whether the uidlist already says everything about these files: all are in `cur/`, all
/// have a UID and a known size, and the file needs no upgrade. Then nothing is written.
fn is_settled(list: &Uidlist, files: &Listing) -> bool {
    if list.wants_rewrite() {
        return false;
    }
    let records = by_base(Some(list));
    files.iter().all(|(base, file)| {
        !file.in_new
            && records
                .get(base.as_slice())
                .is_some_and(|r| has_hint(file) || r.wire_size().is_some())
    })
}

/// Records indexed by base name.
fn by_base(list: Option<&Uidlist>) -> HashMap<&[u8], &Record> {
    list.map(|l| l.records.iter().map(|r| (r.base.as_slice(), r)).collect())
        .unwrap_or_default()
}

fn has_hint(file: &Located) -> bool {
    wire_size_hint(&file.name).is_some()
}

/// Reads the files whose wire size is neither in their name nor in the uidlist.
fn compute_missing_sizes(root: &Path, list: Option<&Uidlist>, files: &Listing, sizes: &mut Sizes) {
    let records = by_base(list);
    for (base, file) in files {
        let cached = records.get(base.as_slice()).and_then(|r| r.wire_size());
        if cached.is_some() || has_hint(file) || sizes.contains_key(base) {
            continue;
        }
        match measure(root, base, file) {
            Ok(Some(n)) => {
                sizes.insert(base.clone(), n);
            }
            Ok(None) => {}
            Err(e) => tracing::warn!("cannot measure message: {e}"),
        }
    }
}

/// The wire size of a file, following it if it was renamed; `None` if it is gone.
fn measure(root: &Path, base: &[u8], file: &Located) -> Result<Option<u64>, StoreError> {
    let path = file.path(root);
    let path = if path.exists() {
        path
    } else {
        match scan::find_by_base(root, base)? {
            Some(p) => p,
            None => return Ok(None),
        }
    };
    match read::map_path(&path) {
        Ok(body) => Ok(Some(size::wire_size(body.as_bytes()))),
        Err(StoreError::Io { source, .. }) if super::fsutil::is_not_found(&source) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Lists the files, listing again when some records have no file: a file being renamed
/// while we read the directory can be missed once, and dropping its record would give it a
/// new UID.
fn confirmed_listing(root: &Path, list: &Uidlist) -> Result<Listing, StoreError> {
    let mut files = scan::list(root)?;
    if list.records.iter().any(|r| !files.contains_key(&r.base)) {
        for (base, file) in scan::list(root)? {
            files.entry(base).or_insert(file);
        }
    }
    Ok(files)
}

/// Drops the records of files that no longer exist.
fn drop_vanished(list: &mut Uidlist, files: &Listing) -> bool {
    let before = list.records.len();
    list.records.retain(|r| files.contains_key(&r.base));
    list.records.len() != before
}

/// Gives every file without a record the next UID, in Dovecot's order.
fn assign_uids(list: &mut Uidlist, files: &Listing) -> Result<bool, StoreError> {
    let known: std::collections::HashSet<&[u8]> =
        list.records.iter().map(|r| r.base.as_slice()).collect();
    let mut new: Vec<(&Vec<u8>, &Located)> = files
        .iter()
        .filter(|(base, _)| !known.contains(base.as_slice()))
        .collect();
    if new.is_empty() {
        return Ok(false);
    }
    new.sort_by(|a, b| dovecot_sort_cmp(&a.1.name, &b.1.name));
    for (base, _) in new {
        if list.next_uid == u32::MAX {
            return Err(StoreError::Corrupt {
                path: uidlist::NAME.into(),
                reason: "UID space exhausted; the mailbox needs a new UIDVALIDITY".into(),
            });
        }
        list.records.push(Record {
            uid: list.next_uid,
            ext: Vec::new(),
            base: base.clone(),
        });
        list.next_uid += 1;
    }
    Ok(true)
}

/// Stores a `W` field for every message whose wire size was not known yet.
fn cache_sizes(root: &Path, list: &mut Uidlist, files: &Listing, sizes: &mut Sizes) -> bool {
    let mut changed = false;
    for record in &mut list.records {
        let Some(file) = files.get(&record.base) else {
            continue;
        };
        if has_hint(file) || record.wire_size().is_some() {
            continue;
        }
        let size = match sizes.get(&record.base) {
            Some(&n) => Some(n),
            None => match measure(root, &record.base, file) {
                Ok(n) => n,
                Err(e) => {
                    tracing::warn!("cannot measure message: {e}");
                    None
                }
            },
        };
        if let Some(n) = size {
            record.set_ext(EXT_WIRE_SIZE, n.to_string().as_bytes());
            changed = true;
        }
    }
    changed
}

/// The listing: every message that has a UID, a file and a known size.
fn inbox(list: &Uidlist, files: &Listing, sizes: &Sizes) -> Inbox {
    let messages = list
        .records
        .iter()
        .filter_map(|record| {
            let file = files.get(&record.base)?;
            let size = wire_size_hint(&file.name)
                .or_else(|| record.wire_size())
                .or_else(|| sizes.get(&record.base).copied())?;
            let Ok(filename) = String::from_utf8(file.name.clone()) else {
                tracing::warn!(
                    name = %String::from_utf8_lossy(&file.name),
                    "message file name is not UTF-8; not listed"
                );
                return None;
            };
            Some(MessageMeta {
                uid: record.uid,
                size,
                filename,
            })
        })
        .collect::<Vec<_>>();
    // Kept for a whole POP3 session or folder view: without the slack of growing.
    let mut messages = messages;
    messages.shrink_to_fit();
    Inbox {
        uid_validity: list.uid_validity,
        next_uid: list.next_uid,
        messages,
    }
}
