//! Changing the passwd-file on disk safely: an exclusive lock, a check of the file before and
//! after the edit, and one atomic replacement.
//!
//! A running server re-reads the file at any moment and Dovecot may be reading it too, so a
//! reader must only ever see the old file or the new one, never a half-written one: the new
//! text goes to a temporary file in the same directory (same file system, so `rename` is
//! atomic), is fsynced, gets the original's permission bits and owner, and is renamed over the
//! original; then the directory is fsynced so the rename itself survives a crash. Two
//! `postern account` commands would each read the file, edit and rename, and the later rename
//! would silently drop the earlier edit, so every edit holds `flock` on a sibling lock file
//! (`<file>.lock`) from before it reads until after it renamed. The lock cannot be on the
//! passwd-file itself: the rename replaces that inode, and a waiting process would then hold a
//! lock on a file nobody uses any more.

use super::passwd_edit::{EditError, PasswdText};
use crate::auth::{PasswdDb, PasswdError};
use nix::fcntl::{Flock, FlockArg};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long to wait for another `postern account` command to finish before giving up.
const LOCK_WAIT: Duration = Duration::from_secs(30);

/// Why a passwd-file could not be read or changed. Whatever the error, the file is unchanged.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    // The io::Error is part of the message, not a `source`, so it is not printed twice.
    #[error("{action} {}: {error}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        error: io::Error,
    },
    #[error(
        "{} is locked by another process (lock file {}); gave up after {}s",
        path.display(),
        lock.display(),
        LOCK_WAIT.as_secs()
    )]
    Locked { path: PathBuf, lock: PathBuf },
    /// The file as found does not load in the server; it is not touched.
    #[error("refusing to edit a passwd-file the server cannot load: {0}")]
    Invalid(PasswdError),
    /// The edit would produce a file the server cannot load (a bad user name, say).
    #[error("the change was not written, the result would not load: {0}")]
    WouldBreak(PasswdError),
    #[error(transparent)]
    Edit(#[from] EditError),
}

fn io_error(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> FileError {
    let path = path.to_owned();
    move |error| FileError::Io {
        action,
        path,
        error,
    }
}

/// Reads the file for looking only (no lock: replacements are atomic, so a reader sees one
/// whole version), and checks that the server would load it.
pub fn read(path: &Path) -> Result<(PasswdText, PasswdDb), FileError> {
    let text = read_text(path, &path.display().to_string())?;
    let db = PasswdDb::parse(&text, &path.display().to_string()).map_err(FileError::Invalid)?;
    Ok((PasswdText::parse(&text), db))
}

/// The file as UTF-8; `origin` names it in the error, as `PasswdDb::load` would.
fn read_text(path: &Path, origin: &str) -> Result<String, FileError> {
    let bytes = fs::read(path).map_err(io_error("cannot read", path))?;
    crate::line_file::utf8_text(bytes).map_err(|line| {
        FileError::Invalid(PasswdError::Line {
            origin: origin.to_owned(),
            line,
            reason: "not valid UTF-8".to_owned(),
        })
    })
}

/// What an edit did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    /// False if the edit left the text as it was; the file was then not rewritten at all.
    pub rewritten: bool,
}

/// Locks the file, runs `edit` on its text, and if the text changed, replaces the file
/// atomically with the result. With `create`, a missing file counts as empty and is created
/// with mode 0600 (it holds password hashes). `edit`'s error, or any other, leaves the file as
/// it was.
pub fn edit<T>(
    path: &Path,
    create: bool,
    edit: impl FnOnce(&mut PasswdText) -> Result<T, EditError>,
) -> Result<(T, Written), FileError> {
    // Errors name the file as the administrator gave it.
    let origin = path.display().to_string();
    // Follow a symlink so the link stays a link and the file it points to is what changes.
    let path = match fs::canonicalize(path) {
        Ok(real) => real,
        Err(e) if e.kind() == io::ErrorKind::NotFound && create => path.to_owned(),
        Err(e) => return Err(io_error("cannot open", path)(e)),
    };
    let _lock = lock(&path)?;
    let (before, metadata) = match fs::metadata(&path) {
        Ok(metadata) => (read_text(&path, &origin)?, Some(metadata)),
        Err(e) if e.kind() == io::ErrorKind::NotFound && create => (String::new(), None),
        Err(e) => return Err(io_error("cannot open", &path)(e)),
    };
    PasswdDb::parse(&before, &origin).map_err(FileError::Invalid)?;
    let mut text = PasswdText::parse(&before);
    let result = edit(&mut text)?;
    let after = text.render();
    if after == before && metadata.is_some() {
        return Ok((result, Written { rewritten: false }));
    }
    PasswdDb::parse(&after, &origin).map_err(FileError::WouldBreak)?;
    replace(&path, after.as_bytes(), metadata.as_ref())?;
    Ok((result, Written { rewritten: true }))
}

/// Takes the exclusive lock on `<path>.lock`, waiting up to [`LOCK_WAIT`].
fn lock(path: &Path) -> Result<Flock<File>, FileError> {
    let mut name = path.as_os_str().to_owned();
    name.push(".lock");
    let lock_path = PathBuf::from(name);
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&lock_path)
        .map_err(io_error("cannot create the lock file", &lock_path))?;
    let deadline = Instant::now() + LOCK_WAIT;
    loop {
        // Non-blocking and polled, so a stuck holder produces an error, not a hang.
        match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(locked) => return Ok(locked),
            Err((returned, nix::errno::Errno::EWOULDBLOCK)) if Instant::now() < deadline => {
                file = returned;
                std::thread::sleep(Duration::from_millis(10));
            }
            Err((_, nix::errno::Errno::EWOULDBLOCK)) => {
                return Err(FileError::Locked {
                    path: path.to_owned(),
                    lock: lock_path,
                });
            }
            Err((_, errno)) => {
                return Err(io_error("cannot lock", &lock_path)(io::Error::from(errno)));
            }
        }
    }
}

/// A temporary file that is deleted unless it was renamed into place.
struct TempFile {
    path: PathBuf,
    armed: bool,
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if self.armed {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// Writes `contents` to a temporary sibling of `path` and renames it over `path`.
fn replace(path: &Path, contents: &[u8], original: Option<&fs::Metadata>) -> Result<(), FileError> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let suffix: u64 = rand::random();
    let temp_path = dir.join(format!(
        ".{name}.postern-{}-{suffix:016x}.tmp",
        std::process::id()
    ));
    let mut temp = TempFile {
        path: temp_path.clone(),
        armed: true,
    };
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&temp_path)
        .map_err(io_error("cannot create", &temp_path))?;
    if let Some(original) = original {
        // Owner first: changing the owner may clear set-id bits, which the mode then restores.
        // Only root may give a file away, but anyone may keep their own uid or pick one of
        // their groups, so this is attempted and a refusal only matters for root.
        let (uid, gid) = (original.uid(), original.gid());
        let ours = file
            .metadata()
            .map_err(io_error("cannot inspect", &temp_path))?;
        if (ours.uid(), ours.gid()) != (uid, gid)
            && let Err(e) = std::os::unix::fs::fchown(&file, Some(uid), Some(gid))
        {
            if e.kind() != io::ErrorKind::PermissionDenied {
                return Err(io_error("cannot set the owner of", &temp_path)(e));
            }
            let _ = std::os::unix::fs::fchown(&file, None, Some(gid));
        }
        let mode = original.permissions().mode() & 0o7777;
        file.set_permissions(fs::Permissions::from_mode(mode))
            .map_err(io_error("cannot set the mode of", &temp_path))?;
    }
    file.write_all(contents)
        .map_err(io_error("cannot write", &temp_path))?;
    file.sync_all()
        .map_err(io_error("cannot fsync", &temp_path))?;
    drop(file);
    fs::rename(&temp_path, path).map_err(io_error("cannot rename over", path))?;
    temp.armed = false;
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_error("cannot fsync the directory", dir))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::passwd_edit::ExtraEdit;

    fn temp_dir() -> tempfile::TempDir {
        tempfile::tempdir().unwrap()
    }

    #[test]
    fn edit_keeps_mode_and_leaves_no_temporary_files() {
        let dir = temp_dir();
        let path = dir.path().join("users");
        fs::write(&path, "# c\nalice:{PLAIN}x\r\n").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
        let inode = fs::metadata(&path).unwrap().ino();
        let edits = [ExtraEdit::Switch {
            key: "imap".into(),
            on: false,
        }];
        let (changed, written) = edit(&path, false, |t| t.edit_extra("alice", &edits)).unwrap();
        assert!(changed && written.rewritten);
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            "# c\nalice:{PLAIN}x::::::imap=off\r\n"
        );
        let meta = fs::metadata(&path).unwrap();
        assert_eq!(meta.permissions().mode() & 0o7777, 0o640);
        assert_ne!(
            meta.ino(),
            inode,
            "replaced by rename, not written in place"
        );
        let mut names: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["users", "users.lock"]);

        // The same edit again changes nothing and does not touch the file.
        let (changed, written) = edit(&path, false, |t| t.edit_extra("alice", &edits)).unwrap();
        assert!(!changed && !written.rewritten);
        assert_eq!(fs::metadata(&path).unwrap().ino(), meta.ino());
    }

    #[test]
    fn broken_files_and_breaking_edits_are_refused() {
        let dir = temp_dir();
        let path = dir.path().join("users");
        let broken = "alice:{PLAIN}x\nbob:{NOPE}y\n";
        fs::write(&path, broken).unwrap();
        let err = edit(&path, false, |t| t.remove("alice")).unwrap_err();
        let shown = err.to_string();
        assert!(shown.contains(&format!("{}:2:", path.display())), "{shown}");
        assert!(shown.contains("NOPE"), "{shown}");
        assert_eq!(fs::read_to_string(&path).unwrap(), broken);

        fs::write(&path, "alice:{PLAIN}x\n").unwrap();
        let err = edit(&path, false, |t| {
            t.edit_extra(
                "alice",
                &[ExtraEdit::Set {
                    key: "pop3_login_type".into(),
                    value: "open".into(),
                }],
            )
        })
        .unwrap_err();
        assert!(matches!(err, FileError::WouldBreak(_)), "{err}");
        assert_eq!(fs::read_to_string(&path).unwrap(), "alice:{PLAIN}x\n");

        fs::write(&path, b"alice:{PLAIN}\xff\n").unwrap();
        let err = edit(&path, false, |t| t.remove("alice")).unwrap_err();
        assert!(err.to_string().contains(":1: not valid UTF-8"), "{err}");
    }

    #[test]
    fn missing_file_is_created_only_when_asked() {
        let dir = temp_dir();
        let path = dir.path().join("users");
        assert!(edit(&path, false, |_| Ok(())).is_err());
        assert!(!path.exists());
        edit(&path, true, |t| {
            t.add(&crate::admin::passwd_edit::NewAccount {
                user: "a".into(),
                password: "{PLAIN}x".into(),
                ..Default::default()
            })
        })
        .unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "a:{PLAIN}x\n");
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn a_symlink_stays_a_symlink() {
        let dir = temp_dir();
        let real = dir.path().join("real-users");
        let link = dir.path().join("users");
        fs::write(&real, "a:{PLAIN}x\n").unwrap();
        std::os::unix::fs::symlink(&real, &link).unwrap();
        edit(&link, false, |t| t.remove("a")).unwrap();
        assert!(
            fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(fs::read_to_string(&real).unwrap(), "");
    }
}
