//! Loading and replacing the `dovecot-uidlist` file on disk.
//!
//! Readers take no lock: writers never modify the file in place except by appending whole
//! lines (Dovecot) and otherwise replace it with `rename()`, so one `read` of an open file is
//! a consistent snapshot. A writer must hold `dovecot-uidlist.lock`; while holding it,
//! Dovecot 2.3 writes the new contents to `dovecot-uidlist.tmp`, `fdatasync`s it and renames
//! it over the list (verified with strace against Dovecot 2.3.19), and so do we.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use super::format::format;
use super::{Uidlist, parse};
use crate::store::StoreError;
use crate::store::fsutil::{IoContext, fsync_dir, io_err};
use crate::store::perms::CreateMode;

/// The uidlist's file name in the maildir (Dovecot's control directory is the maildir).
pub(in crate::store) const NAME: &str = "dovecot-uidlist";
/// Where a new list is written before it replaces the old one.
const TMP_NAME: &str = "dovecot-uidlist.tmp";

/// Why a uidlist could not be loaded.
#[derive(Debug)]
pub(in crate::store) enum LoadError {
    Io(StoreError),
    /// The file exists but Dovecot would reject it; the raw bytes are kept for salvage.
    Corrupt {
        reason: String,
        data: Vec<u8>,
    },
}

/// Reads and parses the uidlist; `Ok(None)` if there is none yet.
pub(in crate::store) fn load(root: &Path) -> Result<Option<Uidlist>, LoadError> {
    let path = root.join(NAME);
    let data = match fs::read(&path) {
        Ok(d) => d,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(LoadError::Io(io_err(&path, e))),
    };
    match parse(&data) {
        Ok(list) => Ok(Some(list)),
        Err(reason) => Err(LoadError::Corrupt { reason, data }),
    }
}

/// Replaces the uidlist with `list`. The caller holds the uidlist lock.
pub(in crate::store) fn store(
    root: &Path,
    list: &Uidlist,
    guid: &[u8; 16],
    mode: CreateMode,
    durable: bool,
) -> Result<(), StoreError> {
    let tmp = root.join(TMP_NAME);
    let path = root.join(NAME);
    let text = format(list, guid);
    let write = || -> Result<(), StoreError> {
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .at(&tmp)?;
        mode.apply_to_file(&file, &tmp)?;
        file.write_all(&text).at(&tmp)?;
        if durable {
            file.sync_data().at(&tmp)?;
        }
        fs::rename(&tmp, &path).at(&path)
    };
    if let Err(e) = write() {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    if durable {
        fsync_dir(root)?;
    }
    Ok(())
}
