//! Internal dates: IMAP's INTERNALDATE of a Maildir message is its file's mtime, which
//! APPEND sets to the date the client gave and COPY carries over.
//!
//! A sync does not `stat` its files (POP3 has no use for dates, and a 10,000-message login
//! must stay fast), so the IMAP layer asks for the dates of the messages it has not seen
//! before, once, and caches them.

use std::fs;
use std::time::SystemTime;

use super::StoreError;
use super::filename::base;
use super::fsutil::{io_err, is_not_found};
use super::maildir::{Maildir, MessageMeta};
use super::scan::{self, Listing};

pub(super) fn internal_dates(
    md: &Maildir,
    msgs: &[&MessageMeta],
) -> Vec<Result<SystemTime, StoreError>> {
    let root = md.dir();
    let cur = root.join("cur");
    let mut relisting: Option<Result<Listing, StoreError>> = None;
    msgs.iter()
        .map(|msg| {
            let path = cur.join(&msg.filename);
            match fs::metadata(&path) {
                Ok(meta) => return meta.modified().map_err(|e| io_err(path, e)),
                Err(e) if is_not_found(&e) => {}
                Err(e) => return Err(io_err(path, e)),
            }
            // Renamed by a flag change since the listing: one new listing serves the rest.
            let listing = relisting.get_or_insert_with(|| scan::list(root));
            let listing = listing.as_ref().map_err(|e| StoreError::Corrupt {
                path: root.to_owned(),
                reason: format!("cannot list the maildir: {e}"),
            })?;
            let Some(found) = listing.get(base(msg.filename.as_bytes())) else {
                return Err(StoreError::Gone { uid: msg.uid });
            };
            let path = found.path(root);
            match fs::metadata(&path) {
                Ok(meta) => meta.modified().map_err(|e| io_err(path, e)),
                Err(e) if is_not_found(&e) => Err(StoreError::Gone { uid: msg.uid }),
                Err(e) => Err(io_err(path, e)),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testutil::TestMaildir;
    use std::time::Duration;

    #[test]
    fn mtime_is_the_internal_date_even_after_a_rename() {
        let t = TestMaildir::new();
        t.put("cur", "1.M1.a:2,", b"x\n");
        t.put("cur", "2.M1.b:2,", b"y\n");
        t.put("cur", "3.M1.c:2,", b"z\n");
        let when = SystemTime::UNIX_EPOCH + Duration::from_secs(1_577_869_200);
        for name in ["1.M1.a:2,", "2.M1.b:2,"] {
            fs::File::options()
                .write(true)
                .open(t.root().join("cur").join(name))
                .unwrap()
                .set_modified(when)
                .unwrap();
        }
        let md = t.open();
        let inbox = md.sync().unwrap();
        fs::rename(
            t.root().join("cur/2.M1.b:2,"),
            t.root().join("cur/2.M1.b:2,S"),
        )
        .unwrap();
        fs::remove_file(t.root().join("cur/3.M1.c:2,")).unwrap();
        let msgs: Vec<&MessageMeta> = inbox.messages.iter().collect();
        let dates = md.internal_dates(&msgs);
        assert_eq!(dates[0].as_ref().unwrap(), &when);
        assert_eq!(dates[1].as_ref().unwrap(), &when);
        assert!(matches!(dates[2], Err(StoreError::Gone { uid: 3 })));
    }
}
