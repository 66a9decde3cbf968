//! Behaviour tests of sync, delete and the uidlist they maintain, on real temporary
//! maildirs: the properties Dovecot compatibility rests on (UID order, size caching, never
//! reusing a UID, surviving concurrent writers).

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::testutil::TestMaildir;
use super::uidlist::parse;
use super::{Inbox, Maildir, StoreError, StoreOptions, owner};

fn uids(inbox: &Inbox) -> Vec<u32> {
    inbox.messages.iter().map(|m| m.uid).collect()
}

fn sizes(inbox: &Inbox) -> Vec<u64> {
    inbox.messages.iter().map(|m| m.size).collect()
}

const GUID: &str = "0123456789abcdef0123456789abcdef";

#[test]
fn first_sync_moves_new_mail_and_numbers_it_in_dovecot_order() {
    let t = TestMaildir::new();
    t.put("new", "1700000005.M9P1.host", b"c\n");
    t.put("new", "1600000000.M5P1.host,S=2,W=3", b"a\n");
    t.put("cur", "1700000000.M20P1.host:2,S", b"b\n");
    t.put("cur", "1700000000.M3P1.host:2,", b"b\n");
    let md = t.open();
    let inbox = md.sync().unwrap();
    assert_eq!(uids(&inbox), vec![1, 2, 3, 4]);
    let names: Vec<&str> = inbox.messages.iter().map(|m| m.filename.as_str()).collect();
    assert_eq!(
        names,
        vec![
            "1600000000.M5P1.host,S=2,W=3:2,",
            "1700000000.M3P1.host:2,",
            "1700000000.M20P1.host:2,S",
            "1700000005.M9P1.host:2,",
        ]
    );
    assert_eq!(fs::read_dir(t.root().join("new")).unwrap().count(), 0);

    // The current time, or a little more: within one second the process counts up, and the
    // tests create many mailboxes.
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as u32;
    assert!(inbox.uid_validity >= now - 5 && inbox.uid_validity <= now + 1000);
    let text = t.uidlist();
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    assert!(header.starts_with(&format!("3 V{} N5 G", inbox.uid_validity)));
    assert_eq!(
        header.len(),
        format!("3 V{} N5 G", inbox.uid_validity).len() + 32
    );
    assert_eq!(
        lines.collect::<Vec<_>>(),
        vec![
            "1 :1600000000.M5P1.host,S=2,W=3",
            "2 W3 :1700000000.M3P1.host",
            "3 W3 :1700000000.M20P1.host",
            "4 W3 :1700000005.M9P1.host",
        ]
    );
    assert!(t.root().join("dovecot-uidvalidity").exists());
    assert!(!t.root().join("dovecot-uidlist.lock").exists());
    assert!(!t.root().join("dovecot-uidlist.tmp").exists());
}

#[test]
fn sizes_are_wire_octets_from_w_hint_or_computed() {
    let t = TestMaildir::new();
    t.put("cur", "1.M1.lf:2,", b"a\nb\n");
    t.put("cur", "2.M1.crlf:2,", b"a\r\nb\r\n");
    t.put("cur", "3.M1.mixed:2,", b"a\r\nb\nc");
    t.put("cur", "4.M1.notrail:2,", b"a\nlast");
    t.put("cur", "5.M1.empty:2,", b"");
    // The W= hint is believed (the MDA measured it); S= is the on-disk size, not used.
    t.put("cur", "6.M1.hint,S=4,W=77:2,", b"a\nb\n");
    t.put("cur", "7.M1.sonly,S=4:2,", b"a\nb\n");
    let inbox = t.open().sync().unwrap();
    assert_eq!(sizes(&inbox), vec![6, 6, 7, 7, 0, 77, 6]);
    assert_eq!(inbox.total_size(), 109);
    let list = parse(t.uidlist().as_bytes()).unwrap();
    let w: Vec<Option<u64>> = list.records.iter().map(|r| r.wire_size()).collect();
    assert_eq!(
        w,
        vec![Some(6), Some(6), Some(7), Some(7), Some(0), None, Some(6)]
    );
}

#[test]
fn cached_size_is_used_and_nothing_is_rewritten() {
    let t = TestMaildir::new();
    t.put("cur", "1.M1.a:2,", b"a\nb\n");
    let md = t.open();
    md.sync().unwrap();
    // Pretend the cached value differs from the file: if sync re-measured, we would see 6.
    let text = t.uidlist().replace(" W6 ", " W999 ");
    t.set_uidlist(&text);
    let ino = fs::metadata(t.root().join("dovecot-uidlist"))
        .unwrap()
        .ino();
    let inbox = md.sync().unwrap();
    assert_eq!(sizes(&inbox), vec![999]);
    assert_eq!(
        fs::metadata(t.root().join("dovecot-uidlist"))
            .unwrap()
            .ino(),
        ino
    );
    assert_eq!(t.uidlist(), text);
}

#[test]
fn dovecot_uidlist_is_respected() {
    let t = TestMaildir::new();
    t.put("cur", "1600000000.M5P1.host,S=244,W=250:2,", b"x");
    t.put("cur", "1700000000.M1P1.host:2,S", b"y\n");
    t.put("cur", "1700000005.M9P1.host:2,", b"z\n");
    let text = format!(
        "3 V1795805635 N9 G{GUID}\n\
         4 :1600000000.M5P1.host,S=244,W=250\n\
         6 W2025 :1700000000.M1P1.host\n\
         8 W269 :1700000005.M9P1.host\n"
    );
    t.set_uidlist(&text);
    let inbox = t.open().sync().unwrap();
    assert_eq!(inbox.uid_validity, 1795805635);
    assert_eq!(uids(&inbox), vec![4, 6, 8]);
    assert_eq!(sizes(&inbox), vec![250, 2025, 269]);
    assert_eq!(t.uidlist(), text, "a settled uidlist is not rewritten");
}

#[test]
fn version_1_uidlist_is_upgraded_keeping_uids() {
    let t = TestMaildir::new();
    t.put("cur", "100.M1.a:2,S", b"a\n");
    t.put("cur", "200.M1.b:2,", b"b\n");
    t.put("new", "300.M1.c", b"c\n");
    t.set_uidlist("1 4242 20\n7 100.M1.a\n12 200.M1.b\n");
    let inbox = t.open().sync().unwrap();
    assert_eq!(inbox.uid_validity, 4242);
    assert_eq!(uids(&inbox), vec![7, 12, 20]);
    let list = parse(t.uidlist().as_bytes()).unwrap();
    assert_eq!(list.version, 3);
    assert!(list.guid.is_some());
    assert_eq!(list.next_uid, 21);
}

#[test]
fn appended_records_are_honoured() {
    let t = TestMaildir::new();
    for n in ["1.M1.a", "2.M1.b", "3.M1.c"] {
        t.put("cur", &format!("{n}:2,"), b"m\n");
    }
    // Dovecot appended two records without rewriting the header's N.
    t.set_uidlist(&format!(
        "3 V77 N2 G{GUID}\n1 W3 :1.M1.a\n5 W3 :2.M1.b\n9 W3 :3.M1.c\n"
    ));
    t.put("new", "4.M1.d", b"m\n");
    let inbox = t.open().sync().unwrap();
    assert_eq!(uids(&inbox), vec![1, 5, 9, 10]);
    assert_eq!(inbox.next_uid, 11);
    assert!(t.uidlist().starts_with("3 V77 N11 "));
}

#[test]
fn vanished_files_lose_their_records_on_rewrite() {
    let t = TestMaildir::new();
    t.put("cur", "1.M1.a:2,", b"m\n");
    t.put("cur", "2.M1.b:2,", b"m\n");
    let md = t.open();
    md.sync().unwrap();
    fs::remove_file(t.root().join("cur/1.M1.a:2,")).unwrap();
    t.put("new", "3.M1.c", b"m\n");
    let inbox = md.sync().unwrap();
    assert_eq!(uids(&inbox), vec![2, 3]);
    let list = parse(t.uidlist().as_bytes()).unwrap();
    let recorded: Vec<u32> = list.records.iter().map(|r| r.uid).collect();
    assert_eq!(recorded, vec![2, 3]);
    assert_eq!(list.next_uid, 4);
}

#[test]
fn delete_unlinks_and_drops_records_but_never_reuses_uids() {
    let t = TestMaildir::new();
    for n in ["1.M1.a", "2.M1.b", "3.M1.c"] {
        t.put("new", n, b"m\n");
    }
    let md = t.open();
    let inbox = md.sync().unwrap();
    // Message 2 got a flag change from another client meanwhile.
    fs::rename(
        t.root().join("cur/2.M1.b:2,"),
        t.root().join("cur/2.M1.b:2,S"),
    )
    .unwrap();
    let doomed: Vec<_> = inbox.messages.iter().filter(|m| m.uid >= 2).collect();
    md.delete(&doomed).unwrap();
    assert!(!t.root().join("cur/2.M1.b:2,S").exists());
    assert!(!t.root().join("cur/3.M1.c:2,").exists());
    let list = parse(t.uidlist().as_bytes()).unwrap();
    assert_eq!(list.records.len(), 1);
    assert_eq!(list.next_uid, 4);
    // Deleting again (already gone) is fine.
    md.delete(&doomed).unwrap();

    t.put("new", "4.M1.d", b"m\n");
    let inbox = md.sync().unwrap();
    assert_eq!(uids(&inbox), vec![1, 4]);
    assert_eq!(inbox.next_uid, 5);
}

#[test]
fn uid_high_water_survives_a_rolled_back_uidlist() {
    let t = TestMaildir::new();
    t.put("new", "1.M1.a", b"m\n");
    t.put("new", "2.M1.b", b"m\n");
    let md = t.open();
    let inbox = md.sync().unwrap();
    let v = inbox.uid_validity;
    // Someone restores an old uidlist that knows only the first message.
    t.set_uidlist(&format!("3 V{v} N2 G{GUID}\n1 W3 :1.M1.a\n"));
    let inbox = md.sync().unwrap();
    assert_eq!(
        uids(&inbox),
        vec![1, 3],
        "UID 2 must not be handed out again"
    );
}

#[test]
fn broken_uidlist_is_rebuilt_keeping_what_it_can() {
    let t = TestMaildir::new();
    t.put("cur", "1.M1.a:2,", b"m\n");
    t.put("cur", "2.M1.b:2,", b"m\n");
    t.put("cur", "3.M1.c:2,", b"m\n");
    let broken = format!("3 V555 N4 G{GUID}\n1 W3 :1.M1.a\nthis is not a record\n3 W3 :3.M1.c\n");
    t.set_uidlist(&broken);
    let inbox = t.open().sync().unwrap();
    assert_eq!(inbox.uid_validity, 555);
    assert_eq!(uids(&inbox), vec![1, 3, 4]);
    assert_eq!(
        fs::read_to_string(t.root().join("dovecot-uidlist.broken")).unwrap(),
        broken
    );
    assert!(parse(t.uidlist().as_bytes()).is_ok());

    // An unreadable header leaves nothing to keep: a new UIDVALIDITY.
    t.set_uidlist("garbage\n");
    let again = t.open().sync().unwrap();
    assert_ne!(again.uid_validity, 555);
    assert_eq!(uids(&again), vec![1, 2, 3]);
}

#[test]
fn duplicate_base_names_are_listed_once() {
    let t = TestMaildir::new();
    t.put("cur", "1.M1.a:2,S", b"m\n");
    t.put("new", "1.M1.a", b"m\n");
    let inbox = t.open().sync().unwrap();
    assert_eq!(uids(&inbox), vec![1]);
}

#[test]
fn held_uidlist_lock_times_out_showing_known_mail() {
    let t = TestMaildir::new();
    t.put("cur", "1.M1.a:2,", b"m\n");
    let opts = StoreOptions {
        lock_timeout: Duration::from_millis(200),
        ..StoreOptions::default()
    };
    let md = Maildir::open(t.root(), opts.clone()).unwrap();
    md.sync().unwrap();
    t.put("new", "2.M1.b", b"m\n");
    // A live process (PID 1) holds the lock.
    let lock = t.root().join("dovecot-uidlist.lock");
    fs::write(&lock, format!("1:{}", owner::hostname())).unwrap();
    let inbox = md.sync().unwrap();
    assert_eq!(uids(&inbox), vec![1]);

    // Without any uidlist there is nothing to show: the timeout is reported.
    let t2 = TestMaildir::new();
    t2.put("new", "1.M1.a", b"m\n");
    fs::write(
        t2.root().join("dovecot-uidlist.lock"),
        format!("1:{}", owner::hostname()),
    )
    .unwrap();
    let md2 = Maildir::open(t2.root(), opts).unwrap();
    assert!(matches!(md2.sync(), Err(StoreError::LockTimeout { .. })));
}

#[test]
fn stale_uidlist_lock_of_dead_process_is_overridden() {
    let t = TestMaildir::new();
    t.put("new", "1.M1.a", b"m\n");
    let lock = t.root().join("dovecot-uidlist.lock");
    fs::write(&lock, format!("{}:{}", 4_194_304 + 5, owner::hostname())).unwrap();
    fs::File::options()
        .write(true)
        .open(&lock)
        .unwrap()
        .set_modified(SystemTime::now() - Duration::from_secs(30))
        .unwrap();
    let inbox = t.open().sync().unwrap();
    assert_eq!(uids(&inbox), vec![1]);
    assert!(!lock.exists());
}

#[test]
fn concurrent_syncs_agree_on_every_uid() {
    let t = TestMaildir::new();
    for i in 0..40 {
        t.put(
            "new",
            &format!("{}.M{}P7.host", 1_700_000_000 + i % 7, i),
            b"m\r\n",
        );
    }
    let shared = Arc::new(t.open());
    let root = t.root().to_owned();
    let threads: Vec<_> = (0..8)
        .map(|i| {
            let shared = Arc::clone(&shared);
            let root = root.clone();
            std::thread::spawn(move || {
                // Half share one Maildir, half open their own, like separate sessions.
                let own;
                let md: &Maildir = if i % 2 == 0 {
                    &shared
                } else {
                    own = Maildir::open(&root, StoreOptions::default()).unwrap();
                    &own
                };
                let inbox = md.sync().unwrap();
                inbox
                    .messages
                    .iter()
                    .map(|m| (m.uid, m.filename.clone()))
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let results: Vec<_> = threads.into_iter().map(|h| h.join().unwrap()).collect();
    for r in &results {
        assert_eq!(r, &results[0]);
    }
    assert_eq!(results[0].len(), 40);
    let list = parse(t.uidlist().as_bytes()).unwrap();
    assert_eq!(list.records.len(), 40);
    assert_eq!(list.next_uid, 41);
}
