//! Choosing the UIDVALIDITY of a new mailbox the way Dovecot does.
//!
//! Dovecot keeps a counter in `dovecot-uidvalidity` (8 hex digits) in the mail root, plus a
//! marker file `dovecot-uidvalidity.<hex>` whose atomic rename claims each value, so that
//! mailboxes created in the same second still get distinct UIDVALIDITYs. The first value is
//! the current Unix time; later ones count up from the last. Using the same files means
//! Postern never hands out a UIDVALIDITY that Dovecot already used on this account.

use std::fs::{self, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use super::perms::CreateMode;

const NAME: &str = "dovecot-uidvalidity";
const RETRIES: u32 = 10;

/// Claims the next UIDVALIDITY for a mailbox under `root`. Never fails: when the counter
/// files cannot be used, the current time is good enough (as in Dovecot).
pub(super) fn next(root: &Path, mode: CreateMode) -> u32 {
    let path = root.join(NAME);
    match fast_path(root, &path) {
        Some(v) => v,
        None => rescan(root, &path, mode),
    }
}

/// Reads the counter, claims the value after it by renaming the marker file.
fn fast_path(root: &Path, path: &Path) -> Option<u32> {
    let mut file = OpenOptions::new().read(true).write(true).open(path).ok()?;
    let mut buf = [0u8; 8];
    let n = read_up_to(&mut file, &mut buf).ok()?;
    let current = parse_hex(&buf[..n])?;
    let claimed = claim_after(root, current, false)?;
    write_counter(&mut file, claimed);
    Some(claimed)
}

/// Finds the marker files to recover the counter; creates the first one if there is none.
fn rescan(root: &Path, path: &Path, mode: CreateMode) -> u32 {
    let prefix = format!("{NAME}.");
    let mut values: Vec<u32> = match fs::read_dir(root) {
        Ok(entries) => entries
            .filter_map(Result::ok)
            .filter_map(|e| {
                let name = e.file_name();
                let name = name.to_str()?;
                parse_hex(name.strip_prefix(&prefix)?.as_bytes())
            })
            .collect(),
        Err(e) => {
            tracing::warn!(dir = %root.display(), "cannot scan for uidvalidity files: {e}");
            return fallback();
        }
    };
    values.sort_unstable();
    let (Some(&min), Some(&max)) = (values.first(), values.last()) else {
        return create_first(root, path, mode);
    };
    if min != max {
        let _ = fs::remove_file(root.join(format!("{NAME}.{min:08x}")));
    }
    match claim_after(root, max, true) {
        Some(v) => {
            rewrite_counter(path, v, mode);
            v
        }
        None => fallback(),
    }
}

fn create_first(root: &Path, path: &Path, mode: CreateMode) -> u32 {
    let mut value = fallback();
    for _ in 0..RETRIES {
        let marker = root.join(format!("{NAME}.{value:08x}"));
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o444)
            .open(&marker)
        {
            Ok(file) => {
                // Created as root in the owner's maildir: the owner's servers must be able
                // to claim it as theirs.
                if let Err(e) = mode.apply_owner(&file, &marker) {
                    tracing::warn!("cannot give uidvalidity marker to the mailbox owner: {e}");
                }
                rewrite_counter(path, value, mode);
                return value;
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => value = fallback(),
            Err(e) => {
                tracing::warn!(path = %marker.display(), "cannot create uidvalidity marker: {e}");
                return value;
            }
        }
    }
    value
}

/// Renames marker `<v>` to `<v+1>`; a missing marker means someone else claimed that value
/// first, so the next one is tried.
fn claim_after(root: &Path, mut value: u32, log_missing: bool) -> Option<u32> {
    for _ in 0..RETRIES {
        let from = root.join(format!("{NAME}.{value:08x}"));
        value = value.wrapping_add(1);
        let to = root.join(format!("{NAME}.{value:08x}"));
        match fs::rename(&from, &to) {
            Ok(()) => return Some(value),
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => {
                tracing::warn!(path = %from.display(), "cannot claim uidvalidity: {e}");
                return None;
            }
        }
    }
    if log_missing {
        tracing::warn!(dir = %root.display(), "uidvalidity marker files keep disappearing");
    }
    None
}

/// Writes the counter file: in place when it exists (as Dovecot does), otherwise created
/// complete under a temporary name and renamed, so that the mailbox owner never sees a
/// half-made file that still belongs to us.
fn rewrite_counter(path: &Path, value: u32, mode: CreateMode) {
    if let Ok(mut file) = OpenOptions::new().write(true).open(path) {
        write_counter(&mut file, value);
        return;
    }
    let temp = path.with_extension(format!("tmp.{}", std::process::id()));
    let created = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&temp)
        .map_err(|e| super::fsutil::io_err(&temp, e))
        .and_then(|mut file| {
            mode.apply_to_file(&file, &temp)?;
            write_counter(&mut file, value);
            fs::rename(&temp, path).map_err(|e| super::fsutil::io_err(path, e))
        });
    if let Err(e) = created {
        let _ = fs::remove_file(&temp);
        tracing::warn!("cannot write uidvalidity counter: {e}");
    }
}

fn write_counter(file: &mut fs::File, value: u32) {
    let result = file
        .seek(SeekFrom::Start(0))
        .and_then(|_| file.write_all(format!("{value:08x}").as_bytes()));
    if let Err(e) = result {
        tracing::warn!("cannot write uidvalidity counter: {e}");
    }
}

fn read_up_to(file: &mut fs::File, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match file.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// Dovecot's `str_to_uint32_hex`: the whole string, at least one hex digit.
fn parse_hex(s: &[u8]) -> Option<u32> {
    if s.is_empty() || s.len() > 8 {
        return None;
    }
    u32::from_str_radix(std::str::from_utf8(s).ok()?, 16).ok()
}

/// The current time, or one more than the last value this process handed out.
fn fallback() -> u32 {
    static LAST: AtomicU32 = AtomicU32::new(0);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(1, |d| d.as_secs() as u32);
    let mut prev = LAST.load(Ordering::Relaxed);
    loop {
        let next = if prev < now {
            now
        } else {
            prev.wrapping_add(1)
        };
        match LAST.compare_exchange(prev, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return next,
            Err(p) => prev = p,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_is_now_then_counts_up() {
        let dir = tempfile::tempdir().unwrap();
        let mode = CreateMode::of_dir(dir.path()).unwrap();
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs() as u32;
        let first = next(dir.path(), mode);
        assert!(first >= now && first < now + 100);
        let counter = fs::read_to_string(dir.path().join(NAME)).unwrap();
        assert_eq!(counter, format!("{first:08x}"));
        assert!(dir.path().join(format!("{NAME}.{first:08x}")).exists());

        let second = next(dir.path(), mode);
        assert_eq!(second, first + 1);
        assert!(!dir.path().join(format!("{NAME}.{first:08x}")).exists());
        assert!(dir.path().join(format!("{NAME}.{second:08x}")).exists());
    }

    #[test]
    fn continues_dovecots_counter() {
        let dir = tempfile::tempdir().unwrap();
        let mode = CreateMode::of_dir(dir.path()).unwrap();
        fs::write(dir.path().join(NAME), "6b09d1c3").unwrap();
        fs::write(dir.path().join(format!("{NAME}.6b09d1c3")), "").unwrap();
        assert_eq!(next(dir.path(), mode), 0x6b09d1c4);
    }

    #[test]
    fn recovers_from_broken_counter() {
        let dir = tempfile::tempdir().unwrap();
        let mode = CreateMode::of_dir(dir.path()).unwrap();
        fs::write(dir.path().join(NAME), "garbage!").unwrap();
        fs::write(dir.path().join(format!("{NAME}.00000010")), "").unwrap();
        fs::write(dir.path().join(format!("{NAME}.00000020")), "").unwrap();
        assert_eq!(next(dir.path(), mode), 0x21);
        assert!(!dir.path().join(format!("{NAME}.00000010")).exists());
        assert_eq!(
            fs::read_to_string(dir.path().join(NAME)).unwrap(),
            "00000021"
        );
    }
}
