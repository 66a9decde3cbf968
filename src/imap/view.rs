//! A session's view of its selected folder: which messages its client knows, under which
//! sequence numbers, with which flags — and the untagged updates that bring it up to date.
//!
//! The view keeps the snapshot the client was last told about (`told`), and the newest one
//! the runtime handed over (`latest`). Sequence numbers always refer to `told`. At the moments
//! RFC 3501 allows, the difference between the two goes out as `EXPUNGE`, `EXISTS`, `RECENT`,
//! `FLAGS` and `FETCH (FLAGS ...)` responses and `latest` becomes `told`. During FETCH, STORE
//! and SEARCH (section 7.4.1) no EXPUNGE may be sent, so only flag changes go out then; the
//! expunged messages stay in the view, still fetchable from the index, until a later command.
//!
//! Flags the client learned from a FETCH or STORE response before `latest` is adopted are
//! remembered, so a change is reported exactly once.

use std::collections::HashMap;
use std::sync::Arc;

use crate::imap::{SeqNumber, SequenceSet};
use crate::mailbox::{Flags, Snapshot};

/// The selected folder, as this session's client knows it.
pub(crate) struct View {
    told: Arc<Snapshot>,
    latest: Option<Arc<Snapshot>>,
    /// Flags sent to the client that differ from `told`'s, by UID.
    told_flags: HashMap<u32, Flags>,
    /// UIDs this session holds `\Recent` for, ascending.
    recent: Vec<u32>,
    /// The RECENT count the client was last told.
    told_recent: usize,
    pub read_only: bool,
}

/// Why a message set does not fit the view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BadSet;

impl View {
    pub(crate) fn new(snapshot: Arc<Snapshot>, recent: Vec<u32>, read_only: bool) -> View {
        let told_recent = recent.len();
        View {
            told: snapshot,
            latest: None,
            told_flags: HashMap::new(),
            recent,
            told_recent,
            read_only,
        }
    }

    /// The snapshot sequence numbers refer to.
    pub(crate) fn told(&self) -> &Arc<Snapshot> {
        &self.told
    }

    /// The newest snapshot known.
    pub(crate) fn newest(&self) -> &Arc<Snapshot> {
        self.latest.as_ref().unwrap_or(&self.told)
    }

    pub(crate) fn is_recent(&self, uid: u32) -> bool {
        self.recent.binary_search(&uid).is_ok()
    }

    /// A newer state of the folder, plus the UIDs this session now holds `\Recent` for.
    pub(crate) fn update(&mut self, snapshot: Arc<Snapshot>, recent: &[u32]) {
        if snapshot.generation > self.newest().generation {
            self.latest = Some(snapshot);
        }
        if !recent.is_empty() {
            self.recent.extend_from_slice(recent);
            self.recent.sort_unstable();
            self.recent.dedup();
        }
    }

    /// The current flags of the message at `pos` of the told snapshot.
    pub(crate) fn flags(&self, pos: usize) -> Flags {
        let msg = &self.told.messages[pos];
        if let Some(latest) = &self.latest
            && let Some(p) = latest.position(msg.uid)
        {
            return latest.messages[p].flags;
        }
        self.told_flags.get(&msg.uid).copied().unwrap_or(msg.flags)
    }

    /// The keyword names the flags of the newest snapshot refer to.
    pub(crate) fn keywords(&self) -> &[String] {
        &self.newest().keywords
    }

    /// Records that the client was sent `flags` for the message at `pos`.
    pub(crate) fn flags_sent(&mut self, pos: usize, flags: Flags) {
        let msg = &self.told.messages[pos];
        if flags == msg.flags {
            self.told_flags.remove(&msg.uid);
        } else {
            self.told_flags.insert(msg.uid, flags);
        }
    }

    /// The told-snapshot positions a message set names, ascending and without repeats.
    /// Sequence numbers past the end are an error unless the range runs to `*`; UIDs that
    /// do not exist are simply not there (RFC 3501 section 6.4.8).
    pub(crate) fn resolve(&self, set: &SequenceSet, uid: bool) -> Result<Vec<usize>, BadSet> {
        let msgs = &self.told.messages;
        let mut out = Vec::new();
        if uid {
            let largest = msgs.last().map_or(0, |m| m.uid);
            for range in &set.0 {
                let r = range.resolve(largest);
                let from = msgs.partition_point(|m| m.uid < *r.start());
                let to = msgs.partition_point(|m| m.uid <= *r.end());
                out.extend(from..to);
            }
        } else {
            let count = msgs.len() as u32;
            for range in &set.0 {
                let open =
                    matches!(range.first, SeqNumber::Last) || matches!(range.last, SeqNumber::Last);
                let r = range.resolve(count);
                if count == 0 || (*r.end() > count && !open) {
                    return Err(BadSet);
                }
                let (lo, hi) = (*r.start(), (*r.end()).min(count));
                if lo > hi {
                    return Err(BadSet);
                }
                out.extend((lo - 1) as usize..hi as usize);
            }
        }
        out.sort_unstable();
        out.dedup();
        Ok(out)
    }

    /// Sends what changed since the client was last told, into `out`. With `expunges`
    /// false (during FETCH, STORE, SEARCH) only flag changes of messages still present go
    /// out, unless nothing was expunged, in which case everything can.
    pub(crate) fn report(&mut self, out: &mut Vec<u8>, expunges: bool) {
        let Some(latest) = self.latest.clone() else {
            self.report_recent(out);
            return;
        };
        let any_expunged = self
            .told
            .messages
            .iter()
            .any(|m| latest.position(m.uid).is_none());
        if any_expunged && !expunges {
            self.report_flags_only(out, &latest);
            return;
        }
        // Highest first, so every number is still valid when it is sent.
        for (pos, msg) in self.told.messages.iter().enumerate().rev() {
            if latest.position(msg.uid).is_none() {
                out.extend_from_slice(format!("* {} EXPUNGE\r\n", pos + 1).as_bytes());
            }
        }
        if any_expunged {
            self.recent.retain(|&uid| latest.position(uid).is_some());
        }
        let remaining = self.told.len() - self.expunged_count(&latest);
        if latest.keywords != self.told.keywords {
            write_flags_responses(out, &latest);
        }
        if latest.len() != remaining {
            out.extend_from_slice(format!("* {} EXISTS\r\n", latest.len()).as_bytes());
        }
        self.report_recent(out);
        for (pos, msg) in latest.messages.iter().enumerate() {
            let Some(old) = self.told.position(msg.uid) else {
                continue;
            };
            let told = self
                .told_flags
                .get(&msg.uid)
                .copied()
                .unwrap_or(self.told.messages[old].flags);
            if told != msg.flags {
                write_fetch_flags(
                    out,
                    pos + 1,
                    msg.flags,
                    &latest.keywords,
                    self.is_recent(msg.uid),
                );
            }
        }
        self.told = latest;
        self.latest = None;
        self.told_flags.clear();
    }

    fn expunged_count(&self, latest: &Snapshot) -> usize {
        self.told
            .messages
            .iter()
            .filter(|m| latest.position(m.uid).is_none())
            .count()
    }

    fn report_recent(&mut self, out: &mut Vec<u8>) {
        if self.recent.len() != self.told_recent {
            out.extend_from_slice(format!("* {} RECENT\r\n", self.recent.len()).as_bytes());
            self.told_recent = self.recent.len();
        }
    }

    fn report_flags_only(&mut self, out: &mut Vec<u8>, latest: &Snapshot) {
        for pos in 0..self.told.len() {
            let uid = self.told.messages[pos].uid;
            let Some(p) = latest.position(uid) else {
                continue;
            };
            let now = latest.messages[p].flags;
            let told = self
                .told_flags
                .get(&uid)
                .copied()
                .unwrap_or(self.told.messages[pos].flags);
            if now != told {
                write_fetch_flags(out, pos + 1, now, &latest.keywords, self.is_recent(uid));
                self.flags_sent(pos, now);
            }
        }
    }
}

/// Writes an IMAP flag list, `(\Seen $Forwarded)`, without the parentheses' surroundings.
pub(crate) fn write_flag_list(out: &mut Vec<u8>, flags: Flags, keywords: &[String], recent: bool) {
    out.push(b'(');
    let mut first = true;
    let mut sep = |out: &mut Vec<u8>| {
        if !std::mem::take(&mut first) {
            out.push(b' ');
        }
    };
    for name in flags.system.imap_names() {
        sep(out);
        out.extend_from_slice(name.as_bytes());
    }
    if recent {
        sep(out);
        out.extend_from_slice(b"\\Recent");
    }
    for (i, name) in keywords.iter().enumerate() {
        if u8::try_from(i).is_ok_and(|i| flags.keywords.contains(i)) {
            sep(out);
            out.extend_from_slice(name.as_bytes());
        }
    }
    out.push(b')');
}

/// `* n FETCH (FLAGS (...))`.
pub(crate) fn write_fetch_flags(
    out: &mut Vec<u8>,
    seq: usize,
    flags: Flags,
    keywords: &[String],
    recent: bool,
) {
    out.extend_from_slice(format!("* {seq} FETCH (FLAGS ").as_bytes());
    write_flag_list(out, flags, keywords, recent);
    out.extend_from_slice(b")\r\n");
}

/// The `* FLAGS` and `PERMANENTFLAGS` responses for a folder's flag set.
pub(crate) fn write_flags_responses(out: &mut Vec<u8>, snapshot: &Snapshot) {
    write_defined_flags(out, snapshot);
    write_permanent_flags(out, snapshot, false);
}

pub(crate) fn write_defined_flags(out: &mut Vec<u8>, snapshot: &Snapshot) {
    out.extend_from_slice(b"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft");
    for k in snapshot.keywords.iter() {
        out.push(b' ');
        out.extend_from_slice(k.as_bytes());
    }
    out.extend_from_slice(b")\r\n");
}

pub(crate) fn write_permanent_flags(out: &mut Vec<u8>, snapshot: &Snapshot, read_only: bool) {
    if read_only {
        out.extend_from_slice(b"* OK [PERMANENTFLAGS ()] Read-only mailbox.\r\n");
        return;
    }
    out.extend_from_slice(b"* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft");
    for k in snapshot.keywords.iter() {
        out.push(b' ');
        out.extend_from_slice(k.as_bytes());
    }
    if snapshot.keywords_open {
        out.extend_from_slice(b" \\*");
    }
    out.extend_from_slice(b")] Flags permitted.\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::imap::SeqRange;
    use crate::mailbox::Message;
    use crate::store::{KeywordSet, SystemFlags};
    const NONE: SystemFlags = SystemFlags::empty();
    use std::num::NonZeroU32;

    fn snap(generation: u64, msgs: &[(u32, SystemFlags)]) -> Arc<Snapshot> {
        let mut s = Snapshot::empty(7);
        s.generation = generation;
        s.messages = msgs
            .iter()
            .map(|&(uid, system)| Message {
                uid,
                flags: Flags {
                    system,
                    keywords: KeywordSet::empty(),
                },
                wire_size: 10,
                internal_date: 0,
                slot: None,
            })
            .collect();
        s.uid_next = msgs.last().map_or(1, |m| m.0 + 1);
        Arc::new(s)
    }

    fn set(ranges: &[(u32, Option<u32>)]) -> SequenceSet {
        let n = |v: Option<u32>| match v {
            Some(v) => SeqNumber::Number(NonZeroU32::new(v).unwrap()),
            None => SeqNumber::Last,
        };
        SequenceSet(
            ranges
                .iter()
                .map(|&(a, b)| SeqRange {
                    first: n(Some(a)),
                    last: n(b),
                })
                .collect(),
        )
    }

    fn text(out: Vec<u8>) -> String {
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn sequence_and_uid_sets() {
        let v = View::new(snap(1, &[(3, NONE), (5, NONE), (9, NONE)]), vec![], false);
        assert_eq!(v.resolve(&set(&[(1, Some(2))]), false), Ok(vec![0, 1]));
        assert_eq!(v.resolve(&set(&[(2, None)]), false), Ok(vec![1, 2]));
        assert_eq!(v.resolve(&set(&[(5, None)]), false), Ok(vec![2]));
        assert_eq!(v.resolve(&set(&[(4, Some(4))]), false), Err(BadSet));
        assert_eq!(v.resolve(&set(&[(4, Some(6))]), true), Ok(vec![1]));
        assert_eq!(v.resolve(&set(&[(10, None)]), true), Ok(vec![2]));
        assert_eq!(v.resolve(&set(&[(100, Some(200))]), true), Ok(vec![]));
        let empty = View::new(snap(1, &[]), vec![], false);
        assert_eq!(empty.resolve(&set(&[(1, None)]), true), Ok(vec![]));
        assert_eq!(empty.resolve(&set(&[(1, None)]), false), Err(BadSet));
    }

    #[test]
    fn updates_in_rfc_order() {
        let mut v = View::new(snap(1, &[(1, NONE), (2, NONE), (3, NONE)]), vec![], false);
        v.update(
            snap(2, &[(1, SystemFlags::SEEN), (3, NONE), (4, NONE)]),
            &[4],
        );
        let mut out = Vec::new();
        v.report(&mut out, true);
        assert_eq!(
            text(out),
            "* 2 EXPUNGE\r\n* 3 EXISTS\r\n* 1 RECENT\r\n* 1 FETCH (FLAGS (\\Seen))\r\n"
        );
        assert_eq!(v.told().len(), 3);
        let mut out = Vec::new();
        v.report(&mut out, true);
        assert!(out.is_empty());
    }

    #[test]
    fn no_expunge_during_fetch_but_flags_go_out_once() {
        let mut v = View::new(snap(1, &[(1, NONE), (2, NONE)]), vec![], false);
        v.update(snap(2, &[(2, SystemFlags::FLAGGED)]), &[]);
        let mut out = Vec::new();
        v.report(&mut out, false);
        assert_eq!(text(out), "* 2 FETCH (FLAGS (\\Flagged))\r\n");
        assert_eq!(v.told().len(), 2);
        let mut out = Vec::new();
        v.report(&mut out, false);
        assert!(out.is_empty());
        let mut out = Vec::new();
        v.report(&mut out, true);
        assert_eq!(text(out), "* 1 EXPUNGE\r\n");
    }

    #[test]
    fn flags_already_sent_are_not_repeated() {
        let mut v = View::new(snap(1, &[(1, NONE)]), vec![], false);
        v.update(snap(2, &[(1, SystemFlags::SEEN)]), &[]);
        assert_eq!(v.flags(0).system, SystemFlags::SEEN);
        v.flags_sent(0, v.flags(0));
        let mut out = Vec::new();
        v.report(&mut out, true);
        assert!(out.is_empty(), "{}", text(out));
    }

    #[test]
    fn flag_lists() {
        let mut out = Vec::new();
        let mut keywords = KeywordSet::empty();
        keywords.insert(1);
        let flags = Flags {
            system: SystemFlags::SEEN.union(SystemFlags::FLAGGED),
            keywords,
        };
        write_flag_list(
            &mut out,
            flags,
            &["$Forwarded".into(), "NonJunk".into()],
            true,
        );
        assert_eq!(text(out), "(\\Flagged \\Seen \\Recent NonJunk)");
    }
}
