//! SEARCH and UID SEARCH (RFC 3501 section 6.4.4): every search key, nested OR/NOT and
//! parenthesised lists, over flags, sizes, dates, headers and decoded body text.
//!
//! A search is compiled once into a [`SearchJob`]: search strings are converted from the
//! client's CHARSET and normalised for matching, message sets are resolved against the
//! session's view, and the current flags are copied in. The job is then pure: it answers
//! from the snapshot and the index when it can, and asks a [`SearchSource`] for a message's
//! bytes only for keys that need them (BODY, TEXT, a header the index does not keep). A job
//! that needs no message runs in the session at once; one that does goes to the runtime,
//! which runs it where reading many messages cannot stall other sessions.

use std::sync::Arc;

use super::{Event, MessageError, Pending, Session, Wait};
use crate::body::MessageBody;
use crate::imap::{Date, SearchKey, SequenceSet};
use crate::mailbox::{Flags, Snapshot};
use crate::mime::PartTree;
use crate::mime::search::{self as msearch, Needle};
use crate::store::SystemFlags;

/// Where a search gets the bytes of a message.
pub trait SearchSource {
    fn message(&self, uid: u32) -> Result<MessageBody, MessageError>;
}

/// A search that could not be finished.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SearchError {
    #[error("a message could not be read")]
    Unreadable,
}

/// A SEARCH waiting for its job.
pub(super) struct SearchCommand {
    uid: bool,
}

/// A compiled search over one snapshot. See the module docs.
pub struct SearchJob {
    key: Key,
    snapshot: Arc<Snapshot>,
    /// The flags the session knows now, by position (they may be newer than the snapshot's).
    flags: Vec<Flags>,
    /// UIDs with `\Recent` in this session.
    recent: Vec<u32>,
    cached_headers: Vec<String>,
}

impl std::fmt::Debug for SearchJob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SearchJob")
            .field("messages", &self.snapshot.len())
            .finish_non_exhaustive()
    }
}

/// A search key with its arguments prepared.
enum Key {
    All,
    Flag(SystemFlags, bool),
    Keyword(Option<u8>, bool),
    Recent(bool),
    New,
    Larger(u64),
    Smaller(u64),
    /// Internal date against a day number: before, on, since.
    Internal(Cmp, i64),
    Sent(Cmp, i64),
    Header(Vec<u8>, Needle),
    Body(Needle),
    Text(Needle),
    /// Positions, sorted.
    Positions(Vec<usize>),
    Not(Box<Key>),
    Or(Box<Key>, Box<Key>),
    And(Vec<Key>),
}

#[derive(Clone, Copy)]
enum Cmp {
    Before,
    On,
    Since,
}

/// Why a SEARCH is refused before it runs.
enum Refusal {
    Charset,
    Set,
}

/// What one message gives a search: its bytes (loaded at most once) and its part tree.
struct Subject<'a> {
    pos: usize,
    source: &'a dyn SearchSource,
    job: &'a SearchJob,
    loaded: Option<Result<MessageBody, MessageError>>,
    parts: Option<PartTree>,
}

impl Subject<'_> {
    fn body(&mut self) -> Result<&MessageBody, SearchError> {
        if self.loaded.is_none() {
            let uid = self.job.snapshot.messages[self.pos].uid;
            self.loaded = Some(self.source.message(uid));
        }
        match self.loaded.as_ref().expect("set above") {
            Ok(body) => Ok(body),
            // A message expunged under the search simply does not match.
            Err(MessageError::Gone) => Err(SearchError::Unreadable),
            Err(MessageError::Failed) => Err(SearchError::Unreadable),
        }
    }

    fn parts(&mut self) -> Result<(MessageBody, PartTree), SearchError> {
        let body = self.body()?.clone();
        if self.parts.is_none() {
            let cached = self
                .job
                .snapshot
                .cached(self.pos)
                .and_then(|c| PartTree::decode(c.parts));
            self.parts =
                Some(cached.unwrap_or_else(|| crate::mime::analyze(body.as_bytes()).parts));
        }
        Ok((body, self.parts.clone().expect("set above")))
    }
}

impl SearchJob {
    /// Whether the job will need message bytes (and so belongs off the event loop).
    pub fn needs_messages(&self) -> bool {
        let all_indexed = (0..self.snapshot.len()).all(|p| self.snapshot.cached(p).is_some());
        needs_messages(&self.key, &self.cached_headers, all_indexed)
    }

    /// The matching positions of the snapshot, ascending.
    pub fn run(&self, source: &dyn SearchSource) -> Result<Vec<usize>, SearchError> {
        let mut hits = Vec::new();
        for pos in 0..self.snapshot.len() {
            let mut subject = Subject {
                pos,
                source,
                job: self,
                loaded: None,
                parts: None,
            };
            match self.eval(&self.key, &mut subject) {
                Ok(true) => hits.push(pos),
                Ok(false) => {}
                Err(SearchError::Unreadable) => {
                    if !matches!(subject.loaded, Some(Err(MessageError::Gone))) {
                        return Err(SearchError::Unreadable);
                    }
                }
            }
        }
        Ok(hits)
    }

    fn eval(&self, key: &Key, s: &mut Subject<'_>) -> Result<bool, SearchError> {
        let pos = s.pos;
        let msg = &self.snapshot.messages[pos];
        let flags = self.flags[pos];
        let recent = || self.recent.binary_search(&msg.uid).is_ok();
        Ok(match key {
            Key::All => true,
            Key::Flag(bit, want) => flags.system.contains(*bit) == *want,
            Key::Keyword(index, want) => index.is_some_and(|i| flags.keywords.contains(i)) == *want,
            Key::Recent(want) => recent() == *want,
            Key::New => recent() && !flags.system.contains(SystemFlags::SEEN),
            Key::Larger(n) => msg.wire_size > *n,
            Key::Smaller(n) => msg.wire_size < *n,
            Key::Internal(cmp, day) => compare(*cmp, msg.internal_date.div_euclid(86_400), *day),
            Key::Sent(cmp, day) => {
                let date = match self.header_source(pos, b"date") {
                    Some(lines) => msearch::sent_date(lines),
                    None => msearch::sent_date(s.body()?.as_bytes()),
                };
                match date {
                    Some((y, m, d)) => compare(
                        *cmp,
                        crate::imap::date::days_from_civil(
                            i64::from(y),
                            i64::from(m),
                            i64::from(d),
                        ),
                        *day,
                    ),
                    None => false,
                }
            }
            Key::Header(name, needle) => match self.header_source(pos, name) {
                Some(lines) => msearch::header_contains(lines, name, needle),
                None => msearch::header_contains(s.body()?.as_bytes(), name, needle),
            },
            Key::Body(needle) => {
                let (body, parts) = s.parts()?;
                msearch::body_contains(body.as_bytes(), &parts, needle)
            }
            Key::Text(needle) => {
                let (body, parts) = s.parts()?;
                msearch::text_contains(body.as_bytes(), &parts, needle)
            }
            Key::Positions(list) => list.binary_search(&pos).is_ok(),
            Key::Not(k) => !self.eval(k, s)?,
            Key::Or(a, b) => self.eval(a, s)? || self.eval(b, s)?,
            Key::And(keys) => {
                for k in keys {
                    if !self.eval(k, s)? {
                        return Ok(false);
                    }
                }
                true
            }
        })
    }

    /// The cached header lines of the message at `pos`, when they hold field `name`.
    fn header_source(&self, pos: usize, name: &[u8]) -> Option<&[u8]> {
        if !is_cached(&self.cached_headers, name) {
            return None;
        }
        self.snapshot.cached(pos).map(|c| c.headers)
    }
}

fn compare(cmp: Cmp, value: i64, day: i64) -> bool {
    match cmp {
        Cmp::Before => value < day,
        Cmp::On => value == day,
        Cmp::Since => value >= day,
    }
}

fn is_cached(cached: &[String], name: &[u8]) -> bool {
    cached
        .iter()
        .any(|c| c.as_bytes().eq_ignore_ascii_case(name))
}

fn needs_messages(key: &Key, cached: &[String], all_indexed: bool) -> bool {
    match key {
        Key::Body(_) | Key::Text(_) => true,
        Key::Header(name, _) => !all_indexed || !is_cached(cached, name),
        Key::Sent(..) => !all_indexed || !is_cached(cached, b"date"),
        Key::Not(k) => needs_messages(k, cached, all_indexed),
        Key::Or(a, b) => {
            needs_messages(a, cached, all_indexed) || needs_messages(b, cached, all_indexed)
        }
        Key::And(keys) => keys.iter().any(|k| needs_messages(k, cached, all_indexed)),
        _ => false,
    }
}

/// A job for searches that need no message: asking for one is a bug.
struct NoMessages;

impl SearchSource for NoMessages {
    fn message(&self, _uid: u32) -> Result<MessageBody, MessageError> {
        Err(MessageError::Failed)
    }
}

impl Session {
    pub(super) fn search(
        &mut self,
        tag: String,
        uid: bool,
        charset: Option<String>,
        criteria: Vec<SearchKey>,
    ) -> Option<Event> {
        let job = match self.compile(charset.as_deref(), criteria) {
            Ok(job) => job,
            Err(Refusal::Charset) => {
                self.no(
                    &tag,
                    Some("BADCHARSET (US-ASCII UTF-8)"),
                    "Unsupported charset.",
                );
                return None;
            }
            Err(Refusal::Set) => {
                self.bad(&tag, "Invalid message set.");
                return None;
            }
        };
        if job.needs_messages() {
            self.pending = Some(Pending::Reply {
                tag,
                wait: Wait::Search(SearchCommand { uid }),
            });
            return Some(Event::Search(Box::new(job)));
        }
        let result = job.run(&NoMessages);
        self.search_done(&tag, uid, result);
        None
    }

    /// Answers [`Event::Search`] with the job's result. Ignored when no search is waiting.
    pub fn on_search(&mut self, result: Result<Vec<usize>, SearchError>) {
        let Some(Pending::Reply {
            tag,
            wait: Wait::Search(cmd),
        }) = self.pending.take()
        else {
            return;
        };
        self.search_done(&tag, cmd.uid, result);
    }

    fn search_done(&mut self, tag: &str, uid: bool, result: Result<Vec<usize>, SearchError>) {
        let hits = match result {
            Ok(h) => h,
            Err(_) => {
                return self.no(tag, Some("SERVERBUG"), "Some messages could not be read.");
            }
        };
        let view = self
            .selected
            .as_ref()
            .expect("SEARCH runs in the selected state");
        let mut line = String::from("* SEARCH");
        for pos in hits {
            let n = if uid {
                view.told().messages[pos].uid as usize
            } else {
                pos + 1
            };
            line.push(' ');
            line.push_str(&n.to_string());
        }
        self.output.line(line);
        self.report_updates(uid);
        self.ok(tag, "Search completed.");
    }

    fn compile(
        &self,
        charset: Option<&str>,
        criteria: Vec<SearchKey>,
    ) -> Result<SearchJob, Refusal> {
        if let Some(cs) = charset
            && !cs.eq_ignore_ascii_case("UTF-8")
            && !cs.eq_ignore_ascii_case("US-ASCII")
        {
            return Err(Refusal::Charset);
        }
        let view = self
            .selected
            .as_ref()
            .expect("SEARCH runs in the selected state");
        let snapshot = view.told().clone();
        let flags: Vec<Flags> = (0..snapshot.len()).map(|p| view.flags(p)).collect();
        let compiler = Compiler {
            view,
            keywords: view.keywords(),
        };
        let keys = criteria
            .into_iter()
            .map(|k| compiler.key(k))
            .collect::<Result<Vec<_>, _>>()?;
        let key = if keys.len() == 1 {
            keys.into_iter().next().expect("one key")
        } else {
            Key::And(keys)
        };
        let recent: Vec<u32> = snapshot
            .messages
            .iter()
            .map(|m| m.uid)
            .filter(|&u| view.is_recent(u))
            .collect();
        Ok(SearchJob {
            key,
            snapshot,
            flags,
            recent,
            cached_headers: self.settings.cached_headers.clone(),
        })
    }
}

struct Compiler<'a> {
    view: &'a crate::imap::view::View,
    keywords: &'a [String],
}

impl Compiler<'_> {
    fn key(&self, key: SearchKey) -> Result<Key, Refusal> {
        use SearchKey as S;
        let header = |name: &str, s: Vec<u8>| -> Result<Key, Refusal> {
            Ok(Key::Header(name.as_bytes().to_vec(), needle(s)?))
        };
        Ok(match key {
            S::All => Key::All,
            S::Answered => Key::Flag(SystemFlags::ANSWERED, true),
            S::Unanswered => Key::Flag(SystemFlags::ANSWERED, false),
            S::Deleted => Key::Flag(SystemFlags::DELETED, true),
            S::Undeleted => Key::Flag(SystemFlags::DELETED, false),
            S::Draft => Key::Flag(SystemFlags::DRAFT, true),
            S::Undraft => Key::Flag(SystemFlags::DRAFT, false),
            S::Flagged => Key::Flag(SystemFlags::FLAGGED, true),
            S::Unflagged => Key::Flag(SystemFlags::FLAGGED, false),
            S::Seen => Key::Flag(SystemFlags::SEEN, true),
            S::Unseen => Key::Flag(SystemFlags::SEEN, false),
            S::Recent => Key::Recent(true),
            S::Old => Key::Recent(false),
            S::New => Key::New,
            S::Keyword(k) => Key::Keyword(self.keyword(&k), true),
            S::Unkeyword(k) => Key::Keyword(self.keyword(&k), false),
            S::Larger(n) => Key::Larger(n.into()),
            S::Smaller(n) => Key::Smaller(n.into()),
            S::Before(d) => Key::Internal(Cmp::Before, day(d)),
            S::On(d) => Key::Internal(Cmp::On, day(d)),
            S::Since(d) => Key::Internal(Cmp::Since, day(d)),
            S::SentBefore(d) => Key::Sent(Cmp::Before, day(d)),
            S::SentOn(d) => Key::Sent(Cmp::On, day(d)),
            S::SentSince(d) => Key::Sent(Cmp::Since, day(d)),
            S::From(s) => header("from", s)?,
            S::To(s) => header("to", s)?,
            S::Cc(s) => header("cc", s)?,
            S::Bcc(s) => header("bcc", s)?,
            S::Subject(s) => header("subject", s)?,
            S::Header(name, s) => Key::Header(name.to_ascii_lowercase(), needle(s)?),
            S::Body(s) => Key::Body(needle(s)?),
            S::Text(s) => Key::Text(needle(s)?),
            S::Uid(set) => Key::Positions(self.positions(&set, true)?),
            S::SequenceSet(set) => Key::Positions(self.positions(&set, false)?),
            S::Not(k) => Key::Not(Box::new(self.key(*k)?)),
            S::Or(a, b) => Key::Or(Box::new(self.key(*a)?), Box::new(self.key(*b)?)),
            S::And(keys) => Key::And(
                keys.into_iter()
                    .map(|k| self.key(k))
                    .collect::<Result<Vec<_>, _>>()?,
            ),
        })
    }

    fn keyword(&self, name: &str) -> Option<u8> {
        self.keywords
            .iter()
            .position(|k| k.eq_ignore_ascii_case(name))
            .and_then(|i| u8::try_from(i).ok())
    }

    fn positions(&self, set: &SequenceSet, uid: bool) -> Result<Vec<usize>, Refusal> {
        self.view.resolve(set, uid).map_err(|_| Refusal::Set)
    }
}

fn needle(bytes: Vec<u8>) -> Result<Needle, Refusal> {
    let text = String::from_utf8(bytes).map_err(|_| Refusal::Charset)?;
    Ok(Needle::new(&text))
}

fn day(d: Date) -> i64 {
    crate::imap::date::days_from_civil(i64::from(d.year), i64::from(d.month), i64::from(d.day))
}
