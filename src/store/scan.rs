//! Listing a maildir's messages and moving newly delivered ones from `new/` to `cur/`.
//!
//! Files are identified by base name, which survives the flag renames other clients do at any
//! moment, so a listing is a map from base name to wherever the file was seen. Names are
//! raw bytes: a message with a non-UTF-8 name still has to keep its UID.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use super::StoreError;
use super::filename::{base, cur_name, is_message_name};
use super::fsutil::{IoContext, fsync_dir, is_not_found};

/// Where one message file was seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Located {
    /// The full file name, flags included.
    pub name: Vec<u8>,
    /// Still in `new/` (moving it to `cur/` failed, or nobody tried yet).
    pub in_new: bool,
}

impl Located {
    /// The file's path under the maildir root.
    pub(super) fn path(&self, root: &Path) -> PathBuf {
        root.join(if self.in_new { "new" } else { "cur" })
            .join(OsStr::from_bytes(&self.name))
    }
}

/// The messages present, by base name (sorted, so that the choice among duplicates is
/// stable from one listing to the next).
pub(super) type Listing = BTreeMap<Vec<u8>, Located>;

/// The message file names in one directory, sorted.
fn names(dir: &Path) -> Result<Vec<Vec<u8>>, StoreError> {
    let mut names = Vec::new();
    for entry in fs::read_dir(dir).at(dir)? {
        let name = entry.at(dir)?.file_name().into_vec();
        if is_message_name(&name) {
            names.push(name);
        }
    }
    names.sort_unstable();
    Ok(names)
}

/// Lists `cur/` and `new/`. A base name seen twice is a duplicate (another client's
/// half-finished rename or copy); the `cur/` file, then the first name, is the message.
pub(super) fn list(root: &Path) -> Result<Listing, StoreError> {
    #[cfg(test)]
    LISTINGS.with(|n| n.set(n.get() + 1));
    let mut listing = Listing::new();
    for (sub, in_new) in [("cur", false), ("new", true)] {
        for name in names(&root.join(sub))? {
            let key = base(&name).to_vec();
            if let Some(first) = listing.get(&key) {
                tracing::warn!(
                    maildir = %root.display(),
                    kept = %String::from_utf8_lossy(&first.name),
                    ignored = %String::from_utf8_lossy(&name),
                    "duplicate Maildir base name"
                );
                continue;
            }
            listing.insert(key, Located { name, in_new });
        }
    }
    Ok(listing)
}

#[cfg(test)]
thread_local! {
    /// Directory listings made by this thread, so tests can prove a batch lists once.
    pub(super) static LISTINGS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Renames every file in `new/` to `cur/<name>:2,`, as Dovecot does when a POP3 or IMAP
/// session first sees it. A file that is already gone was moved (or expunged) by someone
/// else, which is fine; one that cannot be moved stays in `new/` and is served from there.
pub(super) fn move_new_to_cur(root: &Path, durable: bool) -> Result<(), StoreError> {
    let new_dir = root.join("new");
    let cur_dir = root.join("cur");
    let mut moved = false;
    for name in names(&new_dir)? {
        let from = new_dir.join(OsStr::from_bytes(&name));
        let to = cur_dir.join(OsStr::from_bytes(&cur_name(&name)));
        match fs::rename(&from, &to) {
            Ok(()) => moved = true,
            Err(e) if is_not_found(&e) => {}
            Err(e) => {
                tracing::warn!(from = %from.display(), "cannot move new mail to cur/: {e}");
            }
        }
    }
    if moved && durable {
        fsync_dir(&cur_dir)?;
        fsync_dir(&new_dir)?;
    }
    Ok(())
}

/// Finds a message's current file by base name, after another client renamed it (changed
/// its flags) or moved it from `new/`.
pub(super) fn find_by_base(root: &Path, wanted: &[u8]) -> Result<Option<PathBuf>, StoreError> {
    for sub in ["cur", "new"] {
        let dir = root.join(sub);
        for name in names(&dir)? {
            if base(&name) == wanted {
                return Ok(Some(dir.join(OsStr::from_bytes(&name))));
            }
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testutil::TestMaildir;

    #[test]
    fn moves_new_to_cur_with_empty_flags() {
        let t = TestMaildir::new();
        t.put("new", "1.M1.a", b"x\n");
        t.put("new", "2.M1.b:2,S", b"y\n");
        t.put("new", ".hidden", b"z\n");
        move_new_to_cur(t.root(), true).unwrap();
        assert!(t.root().join("cur/1.M1.a:2,").exists());
        assert!(t.root().join("cur/2.M1.b:2,S").exists());
        assert!(t.root().join("new/.hidden").exists());
        assert!(names(&t.root().join("new")).unwrap().is_empty());
    }

    #[test]
    fn listing_by_base_prefers_cur() {
        let t = TestMaildir::new();
        t.put("cur", "1.M1.a:2,S", b"x\n");
        t.put("new", "1.M1.a", b"x\n");
        t.put("new", "2.M1.b", b"y\n");
        let l = list(t.root()).unwrap();
        assert_eq!(l.len(), 2);
        assert_eq!(l[&b"1.M1.a"[..]].name, b"1.M1.a:2,S");
        assert!(!l[&b"1.M1.a"[..]].in_new);
        assert!(l[&b"2.M1.b"[..]].in_new);
    }

    #[test]
    fn finds_renamed_file() {
        let t = TestMaildir::new();
        t.put("cur", "1.M1.a:2,RS", b"x\n");
        let found = find_by_base(t.root(), b"1.M1.a").unwrap().unwrap();
        assert!(found.ends_with("cur/1.M1.a:2,RS"));
        assert_eq!(find_by_base(t.root(), b"9.M9.z").unwrap(), None);
    }
}
