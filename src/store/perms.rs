//! Modes and ownership for the files and directories the store creates.
//!
//! Dovecot derives a new file's mode from its mailbox directory (a 0700 maildir gets 0600
//! files, a 0750 one 0640) and never creates mail files as root. Postern may run as root
//! while Dovecot's mail processes run as the mailbox owner, so a uidlist or lock file we
//! create must stay readable and replaceable by that owner: as root we hand new files to the
//! owner of the maildir, otherwise we follow the directory's group like Dovecot does.

use std::fs::{self, File, Permissions};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use super::StoreError;
use super::fsutil::IoContext;

/// How new store files and directories are created in one maildir.
#[derive(Debug, Clone, Copy)]
pub(super) struct CreateMode {
    /// Mode for files: the directory's read/write bits.
    pub file_mode: u32,
    /// Mode for subdirectories: the directory's permission bits.
    pub dir_mode: u32,
    dir_uid: u32,
    dir_gid: u32,
}

impl CreateMode {
    /// Reads the creation rules off the maildir root.
    pub(super) fn of_dir(dir: &Path) -> Result<CreateMode, StoreError> {
        let meta = fs::metadata(dir).at(dir)?;
        let mode = meta.mode();
        Ok(CreateMode {
            file_mode: (mode & 0o666) | 0o600,
            dir_mode: (mode & 0o777) | 0o700,
            dir_uid: meta.uid(),
            dir_gid: meta.gid(),
        })
    }

    /// Gives a file we just created the directory's mode and owner. The creator's identity
    /// is read off the new file itself, which avoids asking the OS for our uid.
    pub(super) fn apply_to_file(&self, file: &File, path: &Path) -> Result<(), StoreError> {
        file.set_permissions(Permissions::from_mode(self.file_mode))
            .at(path)?;
        self.chown(file, path)
    }

    /// Gives a directory we just created the right mode and owner.
    pub(super) fn apply_to_dir(&self, dir: &Path) -> Result<(), StoreError> {
        fs::set_permissions(dir, Permissions::from_mode(self.dir_mode)).at(dir)?;
        let handle = File::open(dir).at(dir)?;
        self.chown(&handle, dir)
    }

    /// Gives a file we just created the directory's owner, leaving its mode alone (for
    /// files whose mode is fixed, like Dovecot's read-only UIDVALIDITY markers).
    pub(super) fn apply_owner(&self, file: &File, path: &Path) -> Result<(), StoreError> {
        self.chown(file, path)
    }

    fn chown(&self, file: &File, path: &Path) -> Result<(), StoreError> {
        let meta = file.metadata().at(path)?;
        if meta.uid() == 0 && self.dir_uid != 0 {
            // Created as root in someone else's maildir: the owner must be able to use it.
            std::os::unix::fs::fchown(file, Some(self.dir_uid), Some(self.dir_gid)).at(path)?;
        } else if meta.gid() != self.dir_gid && self.file_mode & 0o060 != 0 {
            // A group-shared maildir: keep the group, as Dovecot does. Not being a member
            // of it is not fatal; the file is still ours.
            if let Err(e) = std::os::unix::fs::fchown(file, None, Some(self.dir_gid)) {
                tracing::warn!(path = %path.display(), "cannot set group of new file: {e}");
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_follow_directory() {
        let dir = tempfile::tempdir().unwrap();
        fs::set_permissions(dir.path(), Permissions::from_mode(0o750)).unwrap();
        let mode = CreateMode::of_dir(dir.path()).unwrap();
        assert_eq!(mode.file_mode, 0o640);
        assert_eq!(mode.dir_mode, 0o750);

        let path = dir.path().join("f");
        let file = File::create(&path).unwrap();
        mode.apply_to_file(&file, &path).unwrap();
        assert_eq!(fs::metadata(&path).unwrap().mode() & 0o777, 0o640);
    }
}
