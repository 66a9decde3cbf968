//! Test fixtures for the store: a throwaway maildir and an MDA-like way to put mail in it.

use std::fs;
use std::path::Path;

use super::{Maildir, StoreOptions};

/// A maildir in a temporary directory, removed on drop.
pub(super) struct TestMaildir {
    dir: tempfile::TempDir,
}

impl TestMaildir {
    /// An empty maildir with `cur/`, `new/` and `tmp/`.
    pub(super) fn new() -> TestMaildir {
        let dir = tempfile::tempdir().unwrap();
        for sub in ["cur", "new", "tmp"] {
            fs::create_dir(dir.path().join(sub)).unwrap();
        }
        TestMaildir { dir }
    }

    pub(super) fn root(&self) -> &Path {
        self.dir.path()
    }

    /// Writes a message file into `sub` ("cur" or "new").
    pub(super) fn put(&self, sub: &str, name: &str, bytes: &[u8]) {
        fs::write(self.root().join(sub).join(name), bytes).unwrap();
    }

    /// Opens the maildir with default options.
    pub(super) fn open(&self) -> Maildir {
        Maildir::open(self.root(), StoreOptions::default()).unwrap()
    }

    /// The uidlist's text.
    pub(super) fn uidlist(&self) -> String {
        fs::read_to_string(self.root().join("dovecot-uidlist")).unwrap()
    }

    /// Replaces the uidlist's text.
    pub(super) fn set_uidlist(&self, text: &str) {
        fs::write(self.root().join("dovecot-uidlist"), text).unwrap();
    }
}
