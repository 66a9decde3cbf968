//! FETCH and UID FETCH (RFC 3501 section 6.4.5): every data item, body sections with partial
//! ranges, and the implicit `\Seen` of a non-PEEK body fetch.
//!
//! A FETCH is a job the session steps through message by message. Whatever the index holds
//! (flags, sizes, dates, ENVELOPE, BODY, BODYSTRUCTURE and the cached header fields) is
//! written straight from the snapshot and the mapped index; only a message whose request
//! needs its bytes makes the job ask the runtime to load it ([`Event::LoadMessage`]). The job
//! pauses whenever enough output is queued, so ten thousand messages go out in large writes
//! without ever being held in memory at once.
//!
//! Message bytes are never copied into the response: a section is a range of the stored
//! message that goes out from its memory map, converted to CRLF on the way when needed
//! ([`crate::wire::Slice`]). Only HEADER.FIELDS results, which are assembled from lines, are
//! built as new bytes.

use std::io::Write as _;

use super::{Event, LoadedMessage, MessageError, Pending, Request, Session, Wait};
use crate::body::MessageBody;
use crate::imap::output::OutputQueue;
use crate::imap::view;
use crate::imap::{FetchItem, Flag, Section, SectionText, SequenceSet, StoreMode};
use crate::mime::{self, PartTree, SectionBytes};
use crate::store::SystemFlags;
use crate::wire;

pub(super) struct FetchJob {
    tag: String,
    uid: bool,
    items: Vec<FetchItem>,
    positions: Vec<usize>,
    next: usize,
    /// The message `positions[next]`, once the runtime has loaded it.
    loaded: Option<LoadedMessage>,
    /// A load was requested and not answered yet.
    waiting: bool,
    /// Positions whose `\Seen` this FETCH set: their new FLAGS go with their response.
    seen_set: Vec<usize>,
    /// Some message could not be fetched because it was expunged meanwhile.
    gone: bool,
    /// Some message could not be read for another reason.
    failed: bool,
    /// Reused for the HEADER.FIELDS answers built from cached lines.
    scratch: Vec<u8>,
}

impl Session {
    pub(super) fn fetch(
        &mut self,
        tag: String,
        uid: bool,
        set: &SequenceSet,
        mut items: Vec<FetchItem>,
    ) -> Option<Event> {
        let positions = self.positions(&tag, set, uid)?;
        let view = self.selected.as_ref()?;
        if uid && !items.contains(&FetchItem::Uid) {
            // RFC 3501 section 6.4.8: UID FETCH responses always carry the UID.
            items.insert(0, FetchItem::Uid);
        }
        let sets_seen = items.iter().any(|item| {
            matches!(
                item,
                FetchItem::Rfc822
                    | FetchItem::Rfc822Text
                    | FetchItem::BodySection { peek: false, .. }
            )
        });
        let mut job = Box::new(FetchJob {
            tag,
            uid,
            items,
            positions,
            next: 0,
            loaded: None,
            waiting: false,
            seen_set: Vec::new(),
            gone: false,
            failed: false,
            scratch: Vec::new(),
        });
        if sets_seen && !view.read_only {
            job.seen_set = job
                .positions
                .iter()
                .copied()
                .filter(|&p| !view.flags(p).system.contains(SystemFlags::SEEN))
                .collect();
            if !job.seen_set.is_empty() {
                let uids = super::uids_of(view, &job.seen_set);
                let tag = job.tag.clone();
                return self.request(
                    tag,
                    Wait::FetchSeen(job),
                    Request::Store {
                        uids,
                        mode: StoreMode::Add,
                        flags: vec![Flag::Seen],
                    },
                );
            }
        }
        self.pending = Some(Pending::Fetch(job));
        None
    }

    /// Answers [`Event::LoadMessage`]. Ignored unless that message is awaited.
    pub fn on_message(&mut self, uid: u32, message: LoadedMessage) {
        let Some(Pending::Fetch(job)) = self.pending.as_mut() else {
            return;
        };
        let Some(view) = self.selected.as_ref() else {
            return;
        };
        let expected = job
            .positions
            .get(job.next)
            .map(|&p| view.told().messages[p].uid);
        if job.waiting && expected == Some(uid) {
            job.waiting = false;
            job.loaded = Some(message);
        }
    }

    /// Writes responses until the job is done, output must be flushed, or a message must be
    /// loaded (the returned event).
    pub(super) fn step_fetch(&mut self, mut job: Box<FetchJob>) -> Option<Event> {
        loop {
            if job.waiting {
                self.pending = Some(Pending::Fetch(job));
                return None;
            }
            if job.next >= job.positions.len() {
                self.finish_fetch(&job);
                return None;
            }
            if self.output.needs_flush() {
                self.pending = Some(Pending::Fetch(job));
                return None;
            }
            let pos = job.positions[job.next];
            let view = self
                .selected
                .as_ref()
                .expect("FETCH runs in the selected state");
            let cached = view.told().cached(pos);
            let needs_body = self.needs_body(cached.is_some(), &job.items);
            if needs_body && job.loaded.is_none() {
                let uid = view.told().messages[pos].uid;
                job.waiting = true;
                self.pending = Some(Pending::Fetch(job));
                return Some(Event::LoadMessage { uid });
            }
            match job.loaded.take() {
                Some(Err(MessageError::Gone)) => job.gone = true,
                Some(Err(MessageError::Failed)) => job.failed = true,
                Some(Ok(body)) => self.write_message(&mut job, pos, Some(&body)),
                None => self.write_message(&mut job, pos, None),
            }
            job.next += 1;
        }
    }

    fn finish_fetch(&mut self, job: &FetchJob) {
        // Flag changes by others may go out now; expunges only after a UID FETCH
        // (RFC 3501 section 7.4.1).
        self.report_updates(job.uid);
        if job.gone {
            self.no(
                &job.tag,
                Some("EXPUNGEISSUED"),
                "Some of the requested messages no longer exist.",
            );
        } else if job.failed {
            self.no(
                &job.tag,
                Some("SERVERBUG"),
                "Some of the requested messages could not be read.",
            );
        } else {
            self.ok(&job.tag, "Fetch completed.");
        }
    }

    /// Whether answering `items` for a message (`cached`: the index has its record) needs
    /// its stored bytes.
    fn needs_body(&self, cached: bool, items: &[FetchItem]) -> bool {
        items.iter().any(|item| match item {
            FetchItem::Uid | FetchItem::Flags | FetchItem::InternalDate | FetchItem::Rfc822Size => {
                false
            }
            FetchItem::Envelope | FetchItem::Body | FetchItem::BodyStructure => !cached,
            FetchItem::BodySection {
                section:
                    Section {
                        part,
                        text: Some(SectionText::HeaderFields { not: false, fields }),
                    },
                ..
            } if part.is_empty() => !cached || !self.settings.headers_cached(fields),
            _ => true,
        })
    }

    /// `* n FETCH (...)` for one message, written straight into the output buffer.
    fn write_message(&mut self, job: &mut FetchJob, pos: usize, body: Option<&MessageBody>) {
        let view = self
            .selected
            .as_mut()
            .expect("FETCH runs in the selected state");
        let snapshot = view.told().clone();
        let msg = snapshot.messages[pos];
        let cached = snapshot.cached(pos);
        // Without an index record the structure is computed from the bytes, once.
        let analysis = match (cached, body) {
            (None, Some(body)) => Some(mime::analyze(body.as_bytes())),
            _ => None,
        };
        let mut parts: Option<PartTree> = None;
        let flags = view.flags(pos);
        let recent = view.is_recent(msg.uid);
        let seen_now = job.seen_set.binary_search(&pos).is_ok();
        let wants_flags = job.items.contains(&FetchItem::Flags) || seen_now;
        if wants_flags {
            view.flags_sent(pos, flags);
        }
        let keywords = view.newest().keywords.clone();
        let settings = self.settings.clone();

        let mut w = Out::new(&mut self.output);
        let _ = write!(w.buf(), "* {} FETCH (", pos + 1);
        let mut first = true;
        let mut sep = |w: &mut Out<'_>| {
            if !std::mem::take(&mut first) {
                w.buf().push(b' ');
            }
        };
        if seen_now && !job.items.contains(&FetchItem::Flags) {
            sep(&mut w);
            w.buf().extend_from_slice(b"FLAGS ");
            view::write_flag_list(w.buf(), flags, &keywords, recent);
        }
        for item in &job.items {
            sep(&mut w);
            match item {
                FetchItem::Uid => {
                    let _ = write!(w.buf(), "UID {}", msg.uid);
                }
                FetchItem::Flags => {
                    w.buf().extend_from_slice(b"FLAGS ");
                    view::write_flag_list(w.buf(), flags, &keywords, recent);
                }
                FetchItem::InternalDate => {
                    w.buf().extend_from_slice(b"INTERNALDATE \"");
                    crate::imap::date::write_date_time(w.buf(), msg.internal_date);
                    w.buf().push(b'"');
                }
                FetchItem::Rfc822Size => {
                    let _ = write!(w.buf(), "RFC822.SIZE {}", msg.wire_size);
                }
                FetchItem::Envelope | FetchItem::Body | FetchItem::BodyStructure => {
                    let (name, from_index, computed): (&[u8], _, _) = match item {
                        FetchItem::Envelope => (
                            b"ENVELOPE ",
                            cached.map(|c| c.envelope),
                            analysis.as_ref().map(|a| &a.envelope[..]),
                        ),
                        FetchItem::Body => (
                            b"BODY ",
                            cached.map(|c| c.body),
                            analysis.as_ref().map(|a| &a.body[..]),
                        ),
                        _ => (
                            b"BODYSTRUCTURE ",
                            cached.map(|c| c.bodystructure),
                            analysis.as_ref().map(|a| &a.bodystructure[..]),
                        ),
                    };
                    w.buf().extend_from_slice(name);
                    w.buf()
                        .extend_from_slice(from_index.or(computed).unwrap_or(b"NIL"));
                }
                FetchItem::Rfc822 | FetchItem::Rfc822Header | FetchItem::Rfc822Text => {
                    let (name, text): (&[u8], Option<SectionText>) = match item {
                        FetchItem::Rfc822 => (b"RFC822 ", None),
                        FetchItem::Rfc822Header => (b"RFC822.HEADER ", Some(SectionText::Header)),
                        _ => (b"RFC822.TEXT ", Some(SectionText::Text)),
                    };
                    w.buf().extend_from_slice(name);
                    let section = Section {
                        part: Vec::new(),
                        text,
                    };
                    let bytes = resolve_section(
                        body,
                        &section,
                        &cached,
                        &analysis,
                        &mut parts,
                        &settings,
                        &mut job.scratch,
                    );
                    w.section(body, bytes, &job.scratch, None);
                }
                FetchItem::BodySection {
                    section, partial, ..
                } => {
                    w.buf().extend_from_slice(b"BODY[");
                    write_section_spec(w.buf(), section);
                    w.buf().push(b']');
                    if let Some(p) = partial {
                        let _ = write!(w.buf(), "<{}>", p.offset);
                    }
                    w.buf().push(b' ');
                    let bytes = resolve_section(
                        body,
                        section,
                        &cached,
                        &analysis,
                        &mut parts,
                        &settings,
                        &mut job.scratch,
                    );
                    let range = partial.map(|p| (u64::from(p.offset), u64::from(p.length.get())));
                    w.section(body, bytes, &job.scratch, range);
                }
            }
        }
        w.buf().extend_from_slice(b")\r\n");
    }
}

/// Writing one FETCH response into the output queue: text into its open buffer (counted when
/// done), message bytes as their own items.
struct Out<'a> {
    queue: &'a mut OutputQueue,
    /// Length of the open buffer already counted.
    counted: usize,
}

impl<'a> Out<'a> {
    fn new(queue: &'a mut OutputQueue) -> Out<'a> {
        let counted = queue.buffer().len();
        Out { queue, counted }
    }

    fn buf(&mut self) -> &mut Vec<u8> {
        self.queue.buffer()
    }

    fn settle(&mut self) {
        let len = self.queue.buffer().len();
        self.queue.added(len - self.counted);
        self.counted = len;
    }

    /// A section as a literal: `{n}` and its bytes.
    fn section(
        &mut self,
        body: Option<&MessageBody>,
        bytes: Bytes,
        scratch: &[u8],
        partial: Option<(u64, u64)>,
    ) {
        let (skip, take) = partial.unwrap_or((0, u64::MAX));
        let owned = |data: &[u8], out: &mut Vec<u8>| {
            let start = usize::try_from(skip).unwrap_or(usize::MAX).min(data.len());
            let len = usize::try_from(take)
                .unwrap_or(usize::MAX)
                .min(data.len() - start);
            let _ = write!(out, "{{{len}}}\r\n");
            out.extend_from_slice(&data[start..start + len]);
        };
        match bytes {
            Bytes::Section(SectionBytes::Owned(data)) => owned(&data, self.buf()),
            Bytes::Scratch => owned(scratch, self.queue.buffer()),
            Bytes::Section(SectionBytes::Stored(range)) => {
                let body = body.expect("a stored range comes from a loaded message");
                let slice = wire::Slice::new(body.as_bytes(), range, skip, take);
                let _ = write!(self.buf(), "{{{}}}\r\n", slice.remaining());
                self.settle();
                self.queue.message(body.clone(), slice);
                self.counted = self.queue.buffer().len();
            }
        }
    }
}

impl Drop for Out<'_> {
    fn drop(&mut self) {
        self.settle();
    }
}

/// Where a section's bytes are.
enum Bytes {
    Section(SectionBytes),
    /// In the job's scratch buffer (HEADER.FIELDS from the index's cached lines).
    Scratch,
}

/// Finds a section's bytes: from the cached header lines when the request allows (only
/// HEADER.FIELDS of the top level, only cached fields), else from the message.
fn resolve_section(
    body: Option<&MessageBody>,
    section: &Section,
    cached: &Option<crate::mailbox::index::Entry<'_>>,
    analysis: &Option<mime::Analysis>,
    parts: &mut Option<PartTree>,
    settings: &crate::imap::settings::Settings,
    scratch: &mut Vec<u8>,
) -> Bytes {
    let text = match &section.text {
        None => mime::SectionText::Full,
        Some(SectionText::Header) => mime::SectionText::Header,
        Some(SectionText::Text) => mime::SectionText::Text,
        Some(SectionText::Mime) => mime::SectionText::Mime,
        Some(SectionText::HeaderFields { not, fields }) => {
            if !*not
                && section.part.is_empty()
                && let Some(c) = cached
                && settings.headers_cached(fields)
            {
                scratch.clear();
                mime::header_fields_into(c.headers, fields, false, scratch);
                return Bytes::Scratch;
            }
            mime::SectionText::HeaderFields {
                names: fields,
                not: *not,
            }
        }
    };
    let Some(body) = body else {
        return Bytes::Section(SectionBytes::Owned(Vec::new()));
    };
    if section.part.is_empty() && section.text.is_none() {
        // BODY[]: the whole message, no structure needed.
        return Bytes::Section(SectionBytes::Stored(0..body.len()));
    }
    let tree = parts.get_or_insert_with(|| {
        cached
            .as_ref()
            .and_then(|c| PartTree::decode(c.parts))
            .or_else(|| analysis.as_ref().map(|a| a.parts.clone()))
            .unwrap_or_else(|| mime::analyze(body.as_bytes()).parts)
    });
    let part: Vec<u32> = section.part.iter().map(|n| n.get()).collect();
    Bytes::Section(mime::section(body.as_bytes(), tree, &part, text))
}

/// The section spec as the client wrote it: `1.2.HEADER.FIELDS (From Subject)`.
fn write_section_spec(out: &mut Vec<u8>, section: &Section) {
    let mut first = true;
    for n in &section.part {
        if !std::mem::take(&mut first) {
            out.push(b'.');
        }
        let _ = write!(out, "{n}");
    }
    let Some(text) = &section.text else {
        return;
    };
    if !first {
        out.push(b'.');
    }
    match text {
        SectionText::Header => out.extend_from_slice(b"HEADER"),
        SectionText::Text => out.extend_from_slice(b"TEXT"),
        SectionText::Mime => out.extend_from_slice(b"MIME"),
        SectionText::HeaderFields { not, fields } => {
            out.extend_from_slice(if *not {
                b"HEADER.FIELDS.NOT ("
            } else {
                b"HEADER.FIELDS ("
            });
            for (i, f) in fields.iter().enumerate() {
                if i > 0 {
                    out.push(b' ');
                }
                crate::imap::syntax::astring(out, f);
            }
            out.push(b')');
        }
    }
}
