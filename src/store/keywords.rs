//! The `dovecot-keywords` file: which IMAP keyword each file-name letter `a`..`z` stands for
//! in one folder.
//!
//! The format is one `<index> <name>` line per keyword. Dovecot reads it leniently (lines
//! without a space, indexes out of range and empty names are skipped, a missing file is an
//! empty list) and looks names up without regard to ASCII case; we do the same, so both
//! servers map every letter to the same name.
//!
//! Writing follows Dovecot's protocol, which relies on the folder's uidlist lock being held
//! for the whole time (that lock is what serialises keyword changes): remove a leftover
//! `dovecot-keywords.lock`, create it exclusively, write the list into it, make sure its
//! mtime is later than the old file's (Dovecot re-reads the file only when the mtime in
//! seconds changes), fsync, and rename it over `dovecot-keywords`.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, SystemTime};

use super::StoreError;
use super::dotlock::{DotLock, LockPolicy};
use super::flags::{KeywordSet, MAX_KEYWORDS};
use super::fsutil::{IoContext, is_not_found};
use super::perms::CreateMode;

/// The file's name in a folder's maildir.
pub(super) const NAME: &str = "dovecot-keywords";

/// Dovecot's `KEYWORDS_LOCK_STALE_TIMEOUT`.
const STALE_TIMEOUT: Duration = Duration::from_secs(120);

/// One folder's keyword names, by index.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Keywords {
    names: Vec<Option<String>>,
    /// Lower-cased name to index; for a name listed twice, the later line wins (as in
    /// Dovecot's hash table).
    lookup: HashMap<String, u8>,
    /// The file's mtime when it was read (`None`: there was no file).
    mtime: Option<SystemTime>,
}

impl Keywords {
    /// Reads the folder's keywords; a missing file is an empty list.
    pub(super) fn load(dir: &Path) -> Result<Keywords, StoreError> {
        let path = dir.join(NAME);
        let (data, mtime) = match fs::File::open(&path) {
            Ok(file) => {
                let mtime = file.metadata().at(&path)?.modified().ok();
                let mut data = Vec::new();
                std::io::Read::read_to_end(&mut &file, &mut data).at(&path)?;
                (data, mtime)
            }
            Err(e) if is_not_found(&e) => return Ok(Keywords::default()),
            Err(e) => return Err(super::fsutil::io_err(path, e)),
        };
        let mut keywords = Keywords::parse(&data);
        keywords.mtime = mtime;
        Ok(keywords)
    }

    /// Parses the file's bytes with Dovecot's leniency.
    fn parse(data: &[u8]) -> Keywords {
        let mut keywords = Keywords::default();
        for line in data.split(|&b| b == b'\n') {
            let Ok(line) = std::str::from_utf8(line) else {
                continue;
            };
            let Some((idx, name)) = line.split_once(' ') else {
                continue;
            };
            // C's atoi: leading digits, anything else ends the number.
            let digits = idx.bytes().take_while(u8::is_ascii_digit).count();
            let Ok(idx) = idx[..digits].parse::<u8>() else {
                continue;
            };
            if idx >= MAX_KEYWORDS || name.is_empty() {
                continue;
            }
            keywords.set(idx, name);
        }
        keywords
    }

    /// Names keyword `idx` (reading a file, or copying a whole list into an empty folder).
    pub(super) fn set(&mut self, idx: u8, name: &str) {
        let slot = usize::from(idx);
        if self.names.len() <= slot {
            self.names.resize(slot + 1, None);
        }
        self.names[slot] = Some(name.to_owned());
        self.lookup.insert(name.to_ascii_lowercase(), idx);
    }

    /// The index of a keyword name (ASCII case-insensitive).
    pub fn index_of(&self, name: &str) -> Option<u8> {
        self.lookup.get(&name.to_ascii_lowercase()).copied()
    }

    /// The name of a keyword index, if the file names it.
    pub fn name(&self, idx: u8) -> Option<&str> {
        self.names.get(usize::from(idx))?.as_deref()
    }

    /// The name to show for a keyword letter: the file's name, or `unknown-<idx>` for a
    /// letter the file does not name (Dovecot's choice for the same case).
    pub fn display_name(&self, idx: u8) -> Cow<'_, str> {
        match self.name(idx) {
            Some(name) => Cow::Borrowed(name),
            None => Cow::Owned(format!("unknown-{idx}")),
        }
    }

    /// The names of a message's keywords, in index order.
    pub fn names_of(&self, set: KeywordSet) -> Vec<Cow<'_, str>> {
        set.iter().map(|i| self.display_name(i)).collect()
    }

    /// Every named keyword, by index (for the FLAGS and PERMANENTFLAGS responses).
    pub fn iter(&self) -> impl Iterator<Item = (u8, &str)> {
        self.names
            .iter()
            .enumerate()
            .filter_map(|(i, n)| Some((i as u8, n.as_deref()?)))
    }

    /// The keywords named so far.
    pub fn len(&self) -> usize {
        self.iter().count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether no new keyword can be added (all 26 letters are taken), so PERMANENTFLAGS
    /// should stop offering `\*`.
    pub fn is_full(&self) -> bool {
        self.free_slot().is_none()
    }

    /// The set of the given names that are known; the names that are not come second.
    pub fn resolve<'n>(&self, names: &'n [String]) -> (KeywordSet, Vec<&'n str>) {
        let mut set = KeywordSet::empty();
        let mut missing = Vec::new();
        for name in names {
            match self.index_of(name) {
                Some(i) => set.insert(i),
                None if !missing.iter().any(|m: &&str| m.eq_ignore_ascii_case(name)) => {
                    missing.push(name.as_str())
                }
                None => {}
            }
        }
        (set, missing)
    }

    fn free_slot(&self) -> Option<u8> {
        (0..MAX_KEYWORDS).find(|&i| self.name(i).is_none())
    }

    /// Gives a new name the first free index. The caller holds the uidlist lock and writes
    /// the list with [`store`](Self::store) before anyone can see a letter for it.
    pub(super) fn add(&mut self, name: &str) -> Result<u8, StoreError> {
        if let Some(i) = self.index_of(name) {
            return Ok(i);
        }
        check_name(name)?;
        let idx = self.free_slot().ok_or(StoreError::TooManyKeywords)?;
        self.set(idx, name);
        Ok(idx)
    }

    /// Replaces the folder's `dovecot-keywords` with this list. The caller holds the
    /// folder's uidlist lock.
    pub(super) fn store(
        &self,
        dir: &Path,
        mode: CreateMode,
        durable: bool,
    ) -> Result<(), StoreError> {
        let target = dir.join(NAME);
        let lock_path = dir.join(format!("{NAME}.lock"));
        // Under the uidlist lock a keywords lock can only be a crashed writer's leftover.
        if let Err(e) = fs::remove_file(&lock_path)
            && !is_not_found(&e)
        {
            return Err(super::fsutil::io_err(lock_path, e));
        }
        let policy = LockPolicy {
            stale_timeout: STALE_TIMEOUT,
        };
        let mut lock = DotLock::try_acquire_replace(&target, policy, mode)?
            .ok_or(StoreError::LockTimeout { path: lock_path })?;
        let mut text = String::new();
        for (i, name) in self.iter() {
            text.push_str(&format!("{i} {name}\n"));
        }
        let file = lock.file();
        file.write_all(text.as_bytes()).at(&target)?;
        // Readers cache the list by mtime in whole seconds: the new file must look newer.
        let old = fs::metadata(&target)
            .ok()
            .and_then(|m| m.modified().ok())
            .or(self.mtime);
        if let Some(old) = old {
            let now = file.metadata().at(&target)?.modified().at(&target)?;
            if whole_secs(now) <= whole_secs(old) {
                let later = SystemTime::UNIX_EPOCH + Duration::from_secs(whole_secs(old) + 1);
                file.set_modified(later).at(&target)?;
            }
        }
        lock.replace(durable)
    }
}

fn whole_secs(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A keyword must fit the file's line format (and be an IMAP atom, which the protocol layer
/// checks): no spaces, no control characters, not empty.
fn check_name(name: &str) -> Result<(), StoreError> {
    let bad = name.is_empty()
        || name.len() > 255
        || name
            .chars()
            .any(|c| c.is_control() || c == ' ' || c == '\\');
    if bad {
        return Err(StoreError::InvalidKeyword {
            name: name.to_owned(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(dir: &Path) -> CreateMode {
        CreateMode::of_dir(dir).unwrap()
    }

    #[test]
    fn reads_dovecots_file_leniently() {
        let k = Keywords::parse(
            b"0 $Forwarded\n1 NonJunk\nno-space\n30 TooHigh\n3 \n5 Later\n2x Junk\n1 nonjunk2",
        );
        assert_eq!(k.name(0), Some("$Forwarded"));
        assert_eq!(k.name(1), Some("nonjunk2"));
        assert_eq!(k.name(2), Some("Junk"));
        assert_eq!(k.name(3), None);
        assert_eq!(k.name(5), Some("Later"));
        assert_eq!(k.index_of("$forwarded"), Some(0));
        assert_eq!(k.index_of("NONJUNK2"), Some(1));
        // The name a later line took away is still found, at its old index (Dovecot's hash
        // keeps it).
        assert_eq!(k.index_of("NonJunk"), Some(1));
        assert_eq!(k.display_name(3), "unknown-3");
        assert_eq!(k.len(), 4);
        assert!(!k.is_full());
    }

    #[test]
    fn missing_file_is_empty_and_store_writes_dovecot_format() {
        let dir = tempfile::tempdir().unwrap();
        let mut k = Keywords::load(dir.path()).unwrap();
        assert!(k.is_empty());
        assert_eq!(k.add("$Forwarded").unwrap(), 0);
        assert_eq!(k.add("NonJunk").unwrap(), 1);
        assert_eq!(k.add("nonjunk").unwrap(), 1);
        k.store(dir.path(), mode(dir.path()), true).unwrap();
        assert_eq!(
            fs::read_to_string(dir.path().join(NAME)).unwrap(),
            "0 $Forwarded\n1 NonJunk\n"
        );
        assert!(!dir.path().join("dovecot-keywords.lock").exists());
        let again = Keywords::load(dir.path()).unwrap();
        assert_eq!(again.index_of("NonJunk"), Some(1));
    }

    #[test]
    fn mtime_moves_forward_on_every_write() {
        let dir = tempfile::tempdir().unwrap();
        let mut k = Keywords::load(dir.path()).unwrap();
        k.add("one").unwrap();
        k.store(dir.path(), mode(dir.path()), false).unwrap();
        let mtime = |p: &Path| whole_secs(fs::metadata(p.join(NAME)).unwrap().modified().unwrap());
        let first = mtime(dir.path());
        let mut k = Keywords::load(dir.path()).unwrap();
        k.add("two").unwrap();
        k.store(dir.path(), mode(dir.path()), false).unwrap();
        assert!(mtime(dir.path()) > first);
    }

    #[test]
    fn twenty_seventh_is_refused_and_gaps_are_reused() {
        let mut k = Keywords::parse(b"1 b\n");
        assert_eq!(k.add("first").unwrap(), 0);
        for i in 2..26 {
            k.add(&format!("k{i}")).unwrap();
        }
        assert!(k.is_full());
        assert!(matches!(
            k.add("one-more"),
            Err(StoreError::TooManyKeywords)
        ));
        // Known names are still fine.
        assert_eq!(k.add("B").unwrap(), 1);
    }

    #[test]
    fn leftover_lock_is_removed_and_bad_names_refused() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("dovecot-keywords.lock"), "junk").unwrap();
        let mut k = Keywords::default();
        k.add("ok").unwrap();
        k.store(dir.path(), mode(dir.path()), false).unwrap();
        assert_eq!(fs::read_to_string(dir.path().join(NAME)).unwrap(), "0 ok\n");
        for bad in ["", "a b", "a\nb", "\\Seen"] {
            assert!(matches!(k.add(bad), Err(StoreError::InvalidKeyword { .. })));
        }
    }

    #[test]
    fn resolve_splits_known_and_missing() {
        let k = Keywords::parse(b"0 a\n2 c\n");
        let names: Vec<String> = ["A", "x", "c", "X"].iter().map(|s| s.to_string()).collect();
        let (set, missing) = k.resolve(&names);
        assert_eq!(set.iter().collect::<Vec<_>>(), vec![0, 2]);
        assert_eq!(missing, vec!["x"]);
    }
}
