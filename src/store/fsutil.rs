//! Small file-system helpers shared by the store: attaching the path to I/O errors, and
//! making directory changes (renames, unlinks, creations) durable.
//!
//! A rename is only on disk once the directory holding it is fsynced; without that a crash
//! can bring back a message the user deleted or lose one that moved from `new/` to `cur/`.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use super::StoreError;

/// Wraps an I/O error with the path it concerns.
pub(super) fn io_err(path: impl Into<PathBuf>, source: io::Error) -> StoreError {
    StoreError::Io {
        path: path.into(),
        source,
    }
}

/// Adds path context to an `io::Result`.
pub(super) trait IoContext<T> {
    fn at(self, path: &Path) -> Result<T, StoreError>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn at(self, path: &Path) -> Result<T, StoreError> {
        self.map_err(|e| io_err(path, e))
    }
}

/// Flushes a directory's entries to disk.
pub(super) fn fsync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir).and_then(|d| d.sync_all()).at(dir)
}

/// True for the error kinds that mean "someone else already removed or renamed it".
pub(super) fn is_not_found(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::NotFound
}
