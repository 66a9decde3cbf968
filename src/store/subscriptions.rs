//! The account's folder subscriptions: Dovecot's `subscriptions` file in the mail root.
//!
//! Version 2 (what Dovecot 2.3 writes for a new file) starts with `V\t2\n\n` and then holds
//! one name per line with the hierarchy separator written as a TAB, each level escaped with
//! Dovecot's tab-escaping (`\x01` before `1`, `t`, `r`, `n` for `\x01`, TAB, CR, LF). A file
//! without that header is version 1: names as they are, with the real separator. Names are
//! the IMAP wire form (modified UTF-7).
//!
//! A change is written the way Dovecot writes it: the new contents go into the dotlock
//! `subscriptions.lock` itself, which is fsynced and renamed over the file. Lines we do not
//! understand are copied unchanged; a missing file is an empty list.

use std::fs;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

use super::StoreError;
use super::dotlock::{DotLock, LockPolicy};
use super::fsutil::{IoContext, io_err, is_not_found};
use super::perms::CreateMode;

/// The file's name in the mail root.
pub(super) const NAME: &str = "subscriptions";

const HEADER: &[u8] = b"V\t2\n\n";

/// Dovecot's `SUBSCRIPTION_FILE_CHANGE_TIMEOUT`: a lock untouched this long is stale.
const STALE_TIMEOUT: Duration = Duration::from_secs(30);

/// Dovecot's `SUBSCRIPTION_FILE_LOCK_TIMEOUT`.
const LOCK_TIMEOUT: Duration = Duration::from_secs(120);

/// The subscribed names, in file order.
pub(super) fn read(root: &Path) -> Result<Vec<String>, StoreError> {
    let path = root.join(NAME);
    let data = match fs::read(&path) {
        Ok(d) => d,
        Err(e) if is_not_found(&e) => return Ok(Vec::new()),
        Err(e) => return Err(io_err(path, e)),
    };
    let (v2, body) = split_header(&data);
    Ok(body
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .filter_map(|line| {
            let name = if v2 {
                unescape_line(line)
            } else {
                line.to_vec()
            };
            String::from_utf8(name).ok()
        })
        .collect())
}

/// Subscribes (`subscribe == true`) or unsubscribes a name. Returns whether the file
/// changed.
pub(super) fn set(
    root: &Path,
    name: &str,
    subscribe: bool,
    mode: CreateMode,
    wait: Duration,
    durable: bool,
) -> Result<bool, StoreError> {
    let path = root.join(NAME);
    let policy = LockPolicy {
        stale_timeout: STALE_TIMEOUT,
    };
    let mut lock = DotLock::acquire_replace(&path, policy, mode, wait.min(LOCK_TIMEOUT))?;
    let old = match fs::read(&path) {
        Ok(d) => Some(d),
        Err(e) if is_not_found(&e) => None,
        Err(e) => return Err(io_err(path, e)),
    };
    // A new file is version 2, like Dovecot 2.3 writes it; an existing one keeps its version.
    let (v2, body) = match &old {
        Some(d) => split_header(d),
        None => (true, &[][..]),
    };
    let wanted = if v2 {
        escape_name(name)
    } else {
        name.as_bytes().to_vec()
    };
    let mut out = Vec::with_capacity(body.len() + wanted.len() + HEADER.len() + 1);
    if v2 {
        out.extend_from_slice(HEADER);
    }
    let mut found = false;
    let mut changed = false;
    let mut lines: Vec<&[u8]> = body.split(|&b| b == b'\n').collect();
    if lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    for line in lines {
        if line == wanted.as_slice() {
            found = true;
            if !subscribe {
                changed = true;
                continue;
            }
        }
        out.extend_from_slice(line);
        out.push(b'\n');
    }
    if subscribe && !found {
        out.extend_from_slice(&wanted);
        out.push(b'\n');
        changed = true;
    }
    if !changed {
        // Dropping the lock removes it; the file stays as it was.
        return Ok(false);
    }
    lock.file().write_all(&out).at(&path)?;
    lock.replace(durable)?;
    Ok(true)
}

fn split_header(data: &[u8]) -> (bool, &[u8]) {
    match data.strip_prefix(HEADER) {
        Some(rest) => (true, rest),
        None => (false, data),
    }
}

/// A name in version-2 form: levels tab-escaped, joined by TAB.
fn escape_name(name: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(name.len());
    for (i, level) in name.split('.').enumerate() {
        if i > 0 {
            out.push(b'\t');
        }
        for &b in level.as_bytes() {
            match b {
                0x01 => out.extend_from_slice(b"\x011"),
                b'\t' => out.extend_from_slice(b"\x01t"),
                b'\r' => out.extend_from_slice(b"\x01r"),
                b'\n' => out.extend_from_slice(b"\x01n"),
                _ => out.push(b),
            }
        }
    }
    out
}

/// A version-2 line back to a name with `.` between levels.
fn unescape_line(line: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(line.len());
    let mut bytes = line.iter();
    while let Some(&b) = bytes.next() {
        match b {
            b'\t' => out.push(b'.'),
            0x01 => match bytes.next() {
                Some(b'1') => out.push(0x01),
                Some(b't') => out.push(b'\t'),
                Some(b'r') => out.push(b'\r'),
                Some(b'n') => out.push(b'\n'),
                Some(&other) => out.push(other),
                None => {}
            },
            _ => out.push(b),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> (tempfile::TempDir, CreateMode) {
        let dir = tempfile::tempdir().unwrap();
        let mode = CreateMode::of_dir(dir.path()).unwrap();
        (dir, mode)
    }

    fn sub(dir: &Path, mode: CreateMode, name: &str, on: bool) -> bool {
        set(dir, name, on, mode, Duration::from_secs(5), true).unwrap()
    }

    #[test]
    fn writes_what_dovecot_wrote() {
        let (dir, mode) = setup();
        assert!(read(dir.path()).unwrap().is_empty());
        assert!(sub(dir.path(), mode, "Sent", true));
        assert!(sub(dir.path(), mode, "a.b", true));
        assert!(!sub(dir.path(), mode, "Sent", true));
        // Byte for byte what Dovecot 2.3.19 wrote for SUBSCRIBE Sent, SUBSCRIBE a.b.
        assert_eq!(
            fs::read(dir.path().join(NAME)).unwrap(),
            b"V\t2\n\nSent\na\tb\n"
        );
        assert_eq!(read(dir.path()).unwrap(), vec!["Sent", "a.b"]);
        assert!(sub(dir.path(), mode, "Sent", false));
        assert!(!sub(dir.path(), mode, "never", false));
        assert_eq!(read(dir.path()).unwrap(), vec!["a.b"]);
        assert!(!dir.path().join("subscriptions.lock").exists());
    }

    #[test]
    fn version_1_and_unknown_lines_are_kept() {
        let (dir, mode) = setup();
        fs::write(dir.path().join(NAME), "Old.Folder\n&ZeVnLIqe-\n").unwrap();
        assert_eq!(read(dir.path()).unwrap(), vec!["Old.Folder", "&ZeVnLIqe-"]);
        assert!(sub(dir.path(), mode, "New.One", true));
        assert_eq!(
            fs::read_to_string(dir.path().join(NAME)).unwrap(),
            "Old.Folder\n&ZeVnLIqe-\nNew.One\n"
        );
        fs::write(
            dir.path().join(NAME),
            b"V\t2\n\nodd\x01tname\tchild\nno-final-newline",
        )
        .unwrap();
        assert_eq!(
            read(dir.path()).unwrap(),
            vec!["odd\tname.child", "no-final-newline"]
        );
        assert!(sub(dir.path(), mode, "x", true));
        assert_eq!(
            fs::read(dir.path().join(NAME)).unwrap(),
            b"V\t2\n\nodd\x01tname\tchild\nno-final-newline\nx\n"
        );
    }

    #[test]
    fn a_held_lock_is_waited_for() {
        let (dir, mode) = setup();
        let lock = dir.path().join("subscriptions.lock");
        // Another server is writing (its lock is the new file, not yet renamed).
        fs::write(&lock, "").unwrap();
        let err = set(
            dir.path(),
            "a",
            true,
            mode,
            Duration::from_millis(100),
            false,
        )
        .unwrap_err();
        assert!(matches!(err, StoreError::LockTimeout { .. }));
        let releaser = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            fs::remove_file(lock).unwrap();
        });
        assert!(set(dir.path(), "a", true, mode, Duration::from_secs(5), false).unwrap());
        releaser.join().unwrap();
        assert_eq!(read(dir.path()).unwrap(), vec!["a"]);
    }
}
