//! Differential test against imap-codec: the same generated commands through both parsers,
//! compared through a small common description of what each understood.
//!
//! The description keeps what a server acts on (tag, command, mailbox names, strings as bytes,
//! sets, flags, dates, items and keys, in order) and drops what only differs in form (quoted
//! versus literal, case of keywords, FETCH macros versus their expansion, which end of a range
//! comes first).
//!
//! Where the two parsers legitimately differ, the generator stays out of the way and
//! [`documented_differences`] pins the difference down:
//! - mailbox names are checked as modified UTF-7 here (RFC 3501 section 5.1.3), not there;
//! - quoted strings may hold 8-bit bytes here (RFC 9051's UTF-8), not there;
//! - a bare LF ends a line here, as in Dovecot; imap-codec wants CRLF;
//! - `SEARCH CHARSET` takes an astring here (RFC 3501) and an atom or quoted string there
//!   (RFC 9051);
//! - imap-codec accepts an empty FETCH list, which the ABNF does not;
//! - imap-codec's default quirks accept a trailing space in SEARCH, STATUS and ID and an empty
//!   SASL-IR after `AUTHENTICATE mech `; the ABNF does not, nor does this parser;
//! - a leap second (`23:59:60`) is a valid APPEND time here (RFC 5322), not there;
//! - SEARCH may nest 100 deep here by default, less than 10 there; STATUS knows only RFC 3501's items
//!   here, and at least one of them: imap-codec also takes RFC 9051's and an empty list.

use std::num::NonZeroU32;

use base64::Engine;
use imap_codec::imap_types::command::{Command as TheirCommand, CommandBody as B};
use imap_codec::imap_types::core::{AString, IString, NString};
use imap_codec::imap_types::extensions::binary::LiteralOrLiteral8;
use imap_codec::imap_types::fetch::{
    Macro, MacroOrMessageDataItemNames, MessageDataItemName, Section as TheirSection,
};
use imap_codec::imap_types::flag::{Flag as TheirFlag, StoreResponse, StoreType};
use imap_codec::imap_types::mailbox::{ListMailbox, Mailbox as TheirMailbox};
use imap_codec::imap_types::search::SearchKey as K;
use imap_codec::imap_types::sequence::{SeqOrUid, Sequence, SequenceSet as TheirSet};
use imap_codec::imap_types::status::StatusDataItemName;
use imap_codec::{CommandCodec, decode::Decoder};

use super::generator::Generator;
use super::*;
use crate::imap::{
    Date, DateTime, FetchItem, Flag, Mailbox, SearchKey, SectionText, SeqNumber, SequenceSet,
    StatusItem, StoreMode,
};

/// Commands compared per seed.
const COMMANDS: u64 = 20_000;

fn bytes(b: &[u8]) -> String {
    format!("\"{}\"", b.escape_ascii())
}

// ----- This parser's side.

fn mine(c: &Command) -> String {
    format!("{} {}", c.tag, mine_body(&c.body))
}

fn mine_mailbox(m: &Mailbox) -> String {
    bytes(m.as_str().as_bytes())
}

fn mine_set(s: &SequenceSet) -> String {
    let n = |v: SeqNumber| match v {
        SeqNumber::Number(n) => n.get() as u64,
        SeqNumber::Last => u64::MAX,
    };
    let ranges: Vec<String> =
        s.0.iter()
            .map(|r| range_text(n(r.first), n(r.last)))
            .collect();
    ranges.join(",")
}

fn range_text(a: u64, b: u64) -> String {
    let show = |v: u64| {
        if v == u64::MAX {
            "*".to_owned()
        } else {
            v.to_string()
        }
    };
    format!("{}:{}", show(a.min(b)), show(a.max(b)))
}

fn mine_flag(f: &Flag) -> String {
    match f {
        Flag::Answered => "\\Answered".into(),
        Flag::Flagged => "\\Flagged".into(),
        Flag::Deleted => "\\Deleted".into(),
        Flag::Seen => "\\Seen".into(),
        Flag::Draft => "\\Draft".into(),
        Flag::Keyword(k) => k.clone(),
        Flag::Extension(e) => format!("\\{e}"),
    }
}

fn mine_flags(flags: &[Flag]) -> String {
    flags.iter().map(mine_flag).collect::<Vec<_>>().join(" ")
}

fn mine_date(d: &Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year, d.month, d.day)
}

fn mine_date_time(d: &DateTime) -> String {
    let sign = if d.zone_minutes < 0 { '-' } else { '+' };
    let zone = d.zone_minutes.unsigned_abs();
    format!(
        "{}T{:02}:{:02}:{:02}{sign}{:02}:{:02}",
        mine_date(&d.date),
        d.hour,
        d.minute,
        d.second,
        zone / 60,
        zone % 60
    )
}

fn mine_key(k: &SearchKey) -> String {
    use SearchKey as S;
    match k {
        S::All => "ALL".into(),
        S::Answered => "ANSWERED".into(),
        S::Bcc(v) => format!("BCC {}", bytes(v)),
        S::Before(d) => format!("BEFORE {}", mine_date(d)),
        S::Body(v) => format!("BODY {}", bytes(v)),
        S::Cc(v) => format!("CC {}", bytes(v)),
        S::Deleted => "DELETED".into(),
        S::Draft => "DRAFT".into(),
        S::Flagged => "FLAGGED".into(),
        S::From(v) => format!("FROM {}", bytes(v)),
        S::Header(f, v) => format!("HEADER {} {}", bytes(f), bytes(v)),
        S::Keyword(k) => format!("KEYWORD {k}"),
        S::Larger(n) => format!("LARGER {n}"),
        S::New => "NEW".into(),
        S::Not(k) => format!("NOT {}", mine_key(k)),
        S::Old => "OLD".into(),
        S::On(d) => format!("ON {}", mine_date(d)),
        S::Or(a, b) => format!("OR {} {}", mine_key(a), mine_key(b)),
        S::Recent => "RECENT".into(),
        S::Seen => "SEEN".into(),
        S::SentBefore(d) => format!("SENTBEFORE {}", mine_date(d)),
        S::SentOn(d) => format!("SENTON {}", mine_date(d)),
        S::SentSince(d) => format!("SENTSINCE {}", mine_date(d)),
        S::Since(d) => format!("SINCE {}", mine_date(d)),
        S::Smaller(n) => format!("SMALLER {n}"),
        S::Subject(v) => format!("SUBJECT {}", bytes(v)),
        S::Text(v) => format!("TEXT {}", bytes(v)),
        S::To(v) => format!("TO {}", bytes(v)),
        S::Uid(s) => format!("UID {}", mine_set(s)),
        S::Unanswered => "UNANSWERED".into(),
        S::Undeleted => "UNDELETED".into(),
        S::Undraft => "UNDRAFT".into(),
        S::Unflagged => "UNFLAGGED".into(),
        S::Unkeyword(k) => format!("UNKEYWORD {k}"),
        S::Unseen => "UNSEEN".into(),
        S::SequenceSet(s) => format!("SET {}", mine_set(s)),
        S::And(keys) => format!(
            "({})",
            keys.iter().map(mine_key).collect::<Vec<_>>().join(" ")
        ),
    }
}

fn part_text(part: &[NonZeroU32]) -> String {
    part.iter()
        .map(|p| p.to_string())
        .collect::<Vec<_>>()
        .join(".")
}

fn section_text(part: &[NonZeroU32], text: &str) -> String {
    match (part.is_empty(), text.is_empty()) {
        (true, _) => text.to_owned(),
        (false, true) => part_text(part),
        (false, false) => format!("{}.{text}", part_text(part)),
    }
}

fn fields_text(fields: &[Vec<u8>]) -> String {
    fields
        .iter()
        .map(|f| bytes(f))
        .collect::<Vec<_>>()
        .join(" ")
}

fn mine_item(i: &FetchItem) -> String {
    match i {
        FetchItem::Envelope => "ENVELOPE".into(),
        FetchItem::Flags => "FLAGS".into(),
        FetchItem::InternalDate => "INTERNALDATE".into(),
        FetchItem::Rfc822 => "RFC822".into(),
        FetchItem::Rfc822Header => "RFC822.HEADER".into(),
        FetchItem::Rfc822Size => "RFC822.SIZE".into(),
        FetchItem::Rfc822Text => "RFC822.TEXT".into(),
        FetchItem::Body => "BODY".into(),
        FetchItem::BodyStructure => "BODYSTRUCTURE".into(),
        FetchItem::Uid => "UID".into(),
        FetchItem::BodySection {
            section,
            partial,
            peek,
        } => {
            let text = match &section.text {
                None => String::new(),
                Some(SectionText::Header) => "HEADER".into(),
                Some(SectionText::Text) => "TEXT".into(),
                Some(SectionText::Mime) => "MIME".into(),
                Some(SectionText::HeaderFields { not, fields }) => format!(
                    "HEADER.FIELDS{} ({})",
                    if *not { ".NOT" } else { "" },
                    fields_text(fields)
                ),
            };
            let partial = partial.map_or(String::new(), |p| format!("<{}.{}>", p.offset, p.length));
            format!(
                "BODY{}[{}]{partial}",
                if *peek { ".PEEK" } else { "" },
                section_text(&section.part, &text)
            )
        }
    }
}

fn mine_status(i: &StatusItem) -> &'static str {
    match i {
        StatusItem::Messages => "MESSAGES",
        StatusItem::Recent => "RECENT",
        StatusItem::UidNext => "UIDNEXT",
        StatusItem::UidValidity => "UIDVALIDITY",
        StatusItem::Unseen => "UNSEEN",
    }
}

fn mine_body(b: &CommandBody) -> String {
    use CommandBody as C;
    let name = b.name();
    match b {
        C::Authenticate {
            mechanism,
            initial_response,
        } => {
            let ir = initial_response.as_ref().map(|ir| match ir.0.as_str() {
                "=" => Vec::new(),
                text => base64::engine::general_purpose::STANDARD
                    .decode(text)
                    .expect("the parser checked the base64"),
            });
            format!("{name} {mechanism} {:?}", ir.map(|v| bytes(&v)))
        }
        C::Login { username, password } => {
            format!("{name} {} {}", bytes(username), bytes(&password.0))
        }
        C::Select { mailbox }
        | C::Examine { mailbox }
        | C::Create { mailbox }
        | C::Delete { mailbox }
        | C::Subscribe { mailbox }
        | C::Unsubscribe { mailbox } => format!("{name} {}", mine_mailbox(mailbox)),
        C::Rename { from, to } => format!("{name} {} {}", mine_mailbox(from), mine_mailbox(to)),
        C::List { reference, pattern } | C::Lsub { reference, pattern } => {
            format!("{name} {} {}", mine_mailbox(reference), bytes(pattern))
        }
        C::Status { mailbox, items } => {
            let items: Vec<&str> = items.iter().map(mine_status).collect();
            format!("{name} {} ({})", mine_mailbox(mailbox), items.join(" "))
        }
        C::Append {
            mailbox,
            flags,
            date,
            message,
        } => format!(
            "{name} {} ({}) {:?} {}",
            mine_mailbox(mailbox),
            mine_flags(flags),
            date.as_ref().map(mine_date_time),
            bytes(message)
        ),
        C::UidExpunge { set } => format!("{name} {}", mine_set(set)),
        C::Search {
            charset, criteria, ..
        } => format!(
            "{name} {:?} {}",
            charset.as_ref().map(|c| c.to_ascii_uppercase()),
            criteria.iter().map(mine_key).collect::<Vec<_>>().join(" ")
        ),
        C::Fetch { set, items, .. } => format!(
            "{name} {} {}",
            mine_set(set),
            items.iter().map(mine_item).collect::<Vec<_>>().join(" ")
        ),
        C::Store {
            set,
            mode,
            silent,
            flags,
            ..
        } => format!(
            "{name} {} {:?} {silent} ({})",
            mine_set(set),
            mode,
            mine_flags(flags)
        ),
        C::Copy { set, mailbox, .. } | C::Move { set, mailbox, .. } => {
            format!("{name} {} {}", mine_set(set), mine_mailbox(mailbox))
        }
        C::Enable { capabilities } => format!("{name} {}", capabilities.join(" ")),
        C::Id { parameters } => format!(
            "{name} {:?}",
            parameters.as_ref().map(|ps| ps
                .iter()
                .map(|(k, v)| format!("{} {:?}", bytes(k), v.as_deref().map(bytes)))
                .collect::<Vec<_>>())
        ),
        C::Capability
        | C::Noop
        | C::Logout
        | C::StartTls
        | C::Check
        | C::Close
        | C::Expunge
        | C::Idle
        | C::Namespace
        | C::Unselect => name.to_owned(),
    }
}

// ----- imap-codec's side.

fn theirs(c: &TheirCommand<'_>) -> String {
    format!("{} {}", c.tag.inner(), theirs_body(&c.body))
}

fn their_mailbox(m: &TheirMailbox<'_>) -> String {
    match m {
        TheirMailbox::Inbox => bytes(b"INBOX"),
        TheirMailbox::Other(o) => bytes(o.as_ref()),
    }
}

fn their_set(s: &TheirSet) -> String {
    let n = |v: &SeqOrUid| match v {
        SeqOrUid::Value(n) => n.get() as u64,
        SeqOrUid::Asterisk => u64::MAX,
    };
    let ranges: Vec<String> =
        s.0.as_ref()
            .iter()
            .map(|seq| match seq {
                Sequence::Single(v) => range_text(n(v), n(v)),
                Sequence::Range(a, b) => range_text(n(a), n(b)),
            })
            .collect();
    ranges.join(",")
}

fn their_flags(flags: &[TheirFlag<'_>]) -> String {
    // imap-codec displays flags as they are written: `\Seen`, `\Ext`, `keyword`.
    flags
        .iter()
        .map(|f| f.to_string())
        .collect::<Vec<_>>()
        .join(" ")
}

fn astr(a: &AString<'_>) -> String {
    bytes(a.as_ref())
}

fn their_key(k: &K<'_>) -> String {
    let date = |d: &dyn std::fmt::Debug| format!("{d:?}");
    match k {
        K::All => "ALL".into(),
        K::Answered => "ANSWERED".into(),
        K::Bcc(v) => format!("BCC {}", astr(v)),
        K::Before(d) => format!("BEFORE {}", date(d)),
        K::Body(v) => format!("BODY {}", astr(v)),
        K::Cc(v) => format!("CC {}", astr(v)),
        K::Deleted => "DELETED".into(),
        K::Draft => "DRAFT".into(),
        K::Flagged => "FLAGGED".into(),
        K::From(v) => format!("FROM {}", astr(v)),
        K::Header(f, v) => format!("HEADER {} {}", astr(f), astr(v)),
        K::Keyword(k) => format!("KEYWORD {}", k.inner()),
        K::Larger(n) => format!("LARGER {n}"),
        K::New => "NEW".into(),
        K::Not(k) => format!("NOT {}", their_key(k)),
        K::Old => "OLD".into(),
        K::On(d) => format!("ON {}", date(d)),
        K::Or(a, b) => format!("OR {} {}", their_key(a), their_key(b)),
        K::Recent => "RECENT".into(),
        K::Seen => "SEEN".into(),
        K::SentBefore(d) => format!("SENTBEFORE {}", date(d)),
        K::SentOn(d) => format!("SENTON {}", date(d)),
        K::SentSince(d) => format!("SENTSINCE {}", date(d)),
        K::Since(d) => format!("SINCE {}", date(d)),
        K::Smaller(n) => format!("SMALLER {n}"),
        K::Subject(v) => format!("SUBJECT {}", astr(v)),
        K::Text(v) => format!("TEXT {}", astr(v)),
        K::To(v) => format!("TO {}", astr(v)),
        K::Uid(s) => format!("UID {}", their_set(s)),
        K::Unanswered => "UNANSWERED".into(),
        K::Undeleted => "UNDELETED".into(),
        K::Undraft => "UNDRAFT".into(),
        K::Unflagged => "UNFLAGGED".into(),
        K::Unkeyword(k) => format!("UNKEYWORD {}", k.inner()),
        K::Unseen => "UNSEEN".into(),
        K::SequenceSet(s) => format!("SET {}", their_set(s)),
        K::And(keys) => format!(
            "({})",
            keys.as_ref()
                .iter()
                .map(their_key)
                .collect::<Vec<_>>()
                .join(" ")
        ),
    }
}

fn their_item(i: &MessageDataItemName<'_>) -> String {
    use MessageDataItemName as M;
    match i {
        M::Envelope => "ENVELOPE".into(),
        M::Flags => "FLAGS".into(),
        M::InternalDate => "INTERNALDATE".into(),
        M::Rfc822 => "RFC822".into(),
        M::Rfc822Header => "RFC822.HEADER".into(),
        M::Rfc822Size => "RFC822.SIZE".into(),
        M::Rfc822Text => "RFC822.TEXT".into(),
        M::Body => "BODY".into(),
        M::BodyStructure => "BODYSTRUCTURE".into(),
        M::Uid => "UID".into(),
        M::BodyExt {
            section,
            partial,
            peek,
        } => {
            let part = |p: &Option<imap_codec::imap_types::fetch::Part>| {
                p.as_ref().map_or(Vec::new(), |p| p.0.as_ref().to_vec())
            };
            let fields = |f: &imap_codec::imap_types::core::Vec1<AString<'_>>| {
                f.as_ref().iter().map(astr).collect::<Vec<_>>().join(" ")
            };
            let spec = match section {
                None => String::new(),
                Some(TheirSection::Part(p)) => part_text(p.0.as_ref()),
                Some(TheirSection::Header(p)) => section_text(&part(p), "HEADER"),
                Some(TheirSection::Text(p)) => section_text(&part(p), "TEXT"),
                Some(TheirSection::Mime(p)) => section_text(p.0.as_ref(), "MIME"),
                Some(TheirSection::HeaderFields(p, f)) => {
                    section_text(&part(p), &format!("HEADER.FIELDS ({})", fields(f)))
                }
                Some(TheirSection::HeaderFieldsNot(p, f)) => {
                    section_text(&part(p), &format!("HEADER.FIELDS.NOT ({})", fields(f)))
                }
            };
            let partial = partial.map_or(String::new(), |(o, l)| format!("<{o}.{l}>"));
            format!("BODY{}[{spec}]{partial}", if *peek { ".PEEK" } else { "" })
        }
        other => format!("unexpected item {other:?}"),
    }
}

fn istring(s: &IString<'_>) -> String {
    bytes(s.as_ref())
}

fn theirs_body(b: &B<'_>) -> String {
    let uid_name = |uid: bool, name: &str| {
        if uid {
            format!("UID {name}")
        } else {
            name.to_owned()
        }
    };
    match b {
        B::Capability => "CAPABILITY".into(),
        B::Noop => "NOOP".into(),
        B::Logout => "LOGOUT".into(),
        B::StartTLS => "STARTTLS".into(),
        B::Check => "CHECK".into(),
        B::Close => "CLOSE".into(),
        B::Expunge => "EXPUNGE".into(),
        B::Idle => "IDLE".into(),
        B::Namespace => "NAMESPACE".into(),
        B::Unselect => "UNSELECT".into(),
        B::Authenticate {
            mechanism,
            initial_response,
        } => format!(
            "AUTHENTICATE {} {:?}",
            mechanism.as_ref().to_ascii_uppercase(),
            initial_response.as_ref().map(|ir| bytes(ir.declassify()))
        ),
        B::Login { username, password } => {
            format!("LOGIN {} {}", astr(username), astr(password.declassify()))
        }
        B::Select { mailbox } => format!("SELECT {}", their_mailbox(mailbox)),
        B::Examine { mailbox } => format!("EXAMINE {}", their_mailbox(mailbox)),
        B::Create { mailbox } => format!("CREATE {}", their_mailbox(mailbox)),
        B::Delete { mailbox } => format!("DELETE {}", their_mailbox(mailbox)),
        B::Subscribe { mailbox } => format!("SUBSCRIBE {}", their_mailbox(mailbox)),
        B::Unsubscribe { mailbox } => format!("UNSUBSCRIBE {}", their_mailbox(mailbox)),
        B::Rename { from, to } => {
            format!("RENAME {} {}", their_mailbox(from), their_mailbox(to))
        }
        B::List {
            reference,
            mailbox_wildcard,
        }
        | B::Lsub {
            reference,
            mailbox_wildcard,
        } => {
            let name = if matches!(b, B::List { .. }) {
                "LIST"
            } else {
                "LSUB"
            };
            let pattern = match mailbox_wildcard {
                ListMailbox::Token(t) => bytes(t.as_ref()),
                ListMailbox::String(s) => istring(s),
            };
            format!("{name} {} {pattern}", their_mailbox(reference))
        }
        B::Status {
            mailbox,
            item_names,
        } => {
            let items: Vec<&str> = item_names
                .iter()
                .map(|i| match i {
                    StatusDataItemName::Messages => "MESSAGES",
                    StatusDataItemName::Recent => "RECENT",
                    StatusDataItemName::UidNext => "UIDNEXT",
                    StatusDataItemName::UidValidity => "UIDVALIDITY",
                    StatusDataItemName::Unseen => "UNSEEN",
                    _ => "unexpected",
                })
                .collect();
            format!("STATUS {} ({})", their_mailbox(mailbox), items.join(" "))
        }
        B::Append {
            mailbox,
            flags,
            date,
            message,
        } => {
            let data = match message {
                LiteralOrLiteral8::Literal(l) => l.data().to_vec(),
                LiteralOrLiteral8::Literal8(_) => b"literal8".to_vec(),
            };
            format!(
                "APPEND {} ({}) {:?} {}",
                their_mailbox(mailbox),
                their_flags(flags),
                date.as_ref().map(|d| format!("{d:?}")),
                bytes(&data)
            )
        }
        B::ExpungeUid { sequence_set } => format!("UID EXPUNGE {}", their_set(sequence_set)),
        B::Search {
            charset,
            criteria,
            uid,
        } => format!(
            "{} {:?} {}",
            uid_name(*uid, "SEARCH"),
            charset.as_ref().map(|c| c.as_ref().to_ascii_uppercase()),
            criteria
                .as_ref()
                .iter()
                .map(their_key)
                .collect::<Vec<_>>()
                .join(" ")
        ),
        B::Fetch {
            sequence_set,
            macro_or_item_names,
            uid,
        } => {
            let items = match macro_or_item_names {
                MacroOrMessageDataItemNames::Macro(m) => match m {
                    Macro::Fast => "FLAGS INTERNALDATE RFC822.SIZE".to_owned(),
                    Macro::All => "FLAGS INTERNALDATE RFC822.SIZE ENVELOPE".to_owned(),
                    Macro::Full => "FLAGS INTERNALDATE RFC822.SIZE ENVELOPE BODY".to_owned(),
                    other => format!("unexpected macro {other:?}"),
                },
                MacroOrMessageDataItemNames::MessageDataItemNames(items) => {
                    items.iter().map(their_item).collect::<Vec<_>>().join(" ")
                }
            };
            format!(
                "{} {} {items}",
                uid_name(*uid, "FETCH"),
                their_set(sequence_set)
            )
        }
        B::Store {
            sequence_set,
            kind,
            response,
            flags,
            uid,
        } => {
            let mode = match kind {
                StoreType::Replace => StoreMode::Replace,
                StoreType::Add => StoreMode::Add,
                StoreType::Remove => StoreMode::Remove,
            };
            format!(
                "{} {} {:?} {} ({})",
                uid_name(*uid, "STORE"),
                their_set(sequence_set),
                mode,
                matches!(response, StoreResponse::Silent),
                their_flags(flags)
            )
        }
        B::Copy {
            sequence_set,
            mailbox,
            uid,
        } => format!(
            "{} {} {}",
            uid_name(*uid, "COPY"),
            their_set(sequence_set),
            their_mailbox(mailbox)
        ),
        B::Move {
            sequence_set,
            mailbox,
            uid,
        } => format!(
            "{} {} {}",
            uid_name(*uid, "MOVE"),
            their_set(sequence_set),
            their_mailbox(mailbox)
        ),
        B::Enable { capabilities } => format!(
            "ENABLE {}",
            capabilities
                .as_ref()
                .iter()
                .map(|c| c.to_string())
                .collect::<Vec<_>>()
                .join(" ")
        ),
        B::Id { parameters } => format!(
            "ID {:?}",
            parameters.as_ref().map(|ps| ps
                .iter()
                .map(|(k, NString(v))| format!("{} {:?}", istring(k), v.as_ref().map(istring)))
                .collect::<Vec<_>>())
        ),
        other => format!("unexpected command {other:?}"),
    }
}

// ----- The tests.

/// imap-codec's reading of a complete command, if it accepts it.
fn codec(input: &[u8]) -> Option<String> {
    match CommandCodec::default().decode(input) {
        Ok(([], command)) => Some(theirs(&command)),
        _ => None,
    }
}

/// This parser's reading of a complete command (literals sent without waiting).
fn ours(input: &[u8]) -> Option<String> {
    let events = events_in_pieces(&Limits::default(), input, 0);
    match events
        .iter()
        .filter(|e| !matches!(e, Event::NeedContinuation { .. }))
        .collect::<Vec<_>>()
        .as_slice()
    {
        [Event::Command(c)] => Some(mine(c)),
        _ => None,
    }
}

#[test]
fn generated_commands_parse_alike() {
    let mut generator = Generator::new(0x1A4B_2026);
    let mut seen = std::collections::BTreeMap::<String, usize>::new();
    for i in 0..COMMANDS {
        let input = generator.command();
        let shown = String::from_utf8_lossy(&input);
        let theirs = codec(&input).unwrap_or_else(|| panic!("imap-codec refuses {shown:?}"));
        let mine = ours(&input).unwrap_or_else(|| {
            panic!(
                "refused {shown:?}: {:?}",
                events_in_pieces(&Limits::default(), &input, 0)
            )
        });
        assert_eq!(mine, theirs, "{shown:?}");
        // Where the input is cut must not matter; byte by byte is slow, so one in ten.
        if i % 10 == 0 {
            assert_eq!(
                events_in_pieces(&Limits::default(), &input, 1),
                events_in_pieces(&Limits::default(), &input, 0),
                "{shown:?}"
            );
        }
        let mut words = mine.split(' ').skip(1);
        let mut name = words.next().unwrap_or_default().to_owned();
        if name == "UID" {
            name = format!("UID {}", words.next().unwrap_or_default());
        }
        *seen.entry(name).or_default() += 1;
    }
    // Every command was generated, many times.
    assert_eq!(seen.len(), 36, "{seen:?}");
    assert!(seen.values().all(|&n| n >= 20), "{seen:?}");
}

/// Inputs that both parsers must refuse.
#[test]
fn invalid_commands_are_refused_by_both() {
    let invalid: &[&[u8]] = &[
        b"\r\n",
        b"a\r\n",
        b"a \r\n",
        b"+ NOOP\r\n",
        b"* NOOP\r\n",
        b"a XYZZY\r\n",
        b"a NOOP extra\r\n",
        b"a NOOP\0\r\n",
        b"a LOGIN\r\n",
        b"a LOGIN alice\r\n",
        b"a LOGIN alice  secret\r\n",
        b"a LOGIN (alice) secret\r\n",
        b"a LOGIN \"alice secret\r\n",
        b"a LOGIN {3}\r\na\0b x\r\n",
        b"a SELECT\r\n",
        b"a SELECT \r\n",
        b"a SELECT a b\r\n",
        b"a SELECT (x)\r\n",
        b"a RENAME a\r\n",
        b"a LIST \"\"\r\n",
        b"a LIST \"\" (x)\r\n",
        b"a STATUS x\r\n",
        b"a STATUS x (MESSAGES\r\n",
        b"a STATUS x (FOO)\r\n",
        b"a APPEND x\r\n",
        b"a APPEND x (\\Seen)\r\n",
        b"a APPEND x \"31-Feb-2001 00:00:00 +0000\" {1}\r\nx\r\n",
        // Not here: an APPEND message with a NUL, which imap-codec refuses (RFC 3501's CHAR8)
        // and Postern takes, as Dovecot does (see `literals::message_with_nul_is_taken_as_it_is`).
        b"a FETCH\r\n",
        b"a FETCH 1\r\n",
        b"a FETCH 0 FLAGS\r\n",
        b"a FETCH 1:0 FLAGS\r\n",
        b"a FETCH 1, FLAGS\r\n",
        b"a FETCH 4294967296 FLAGS\r\n",
        b"a FETCH 1 (FLAGS\r\n",
        b"a FETCH 1 FLAGS)\r\n",
        b"a FETCH 1 (ALL)\r\n",
        b"a FETCH 1 FOO\r\n",
        b"a FETCH 1 BODY[MIME]\r\n",
        b"a FETCH 1 BODY[0]\r\n",
        b"a FETCH 1 BODY[TEXT\r\n",
        b"a FETCH 1 BODY[HEADER.FIELDS ()]\r\n",
        b"a FETCH 1 BODY[]<0.0>\r\n",
        b"a FETCH 1 BODY[]<0>\r\n",
        b"a STORE 1\r\n",
        b"a STORE 1 FLAGS\r\n",
        b"a STORE 1 LABELS (x)\r\n",
        b"a STORE 1 FLAGS (\\Seen\r\n",
        b"a STORE 1 FLAGS (\\Seen))\r\n",
        b"a COPY 1\r\n",
        b"a MOVE x y\r\n",
        b"a UID\r\n",
        b"a UID NOOP\r\n",
        b"a UID EXPUNGE\r\n",
        b"a SEARCH\r\n",
        b"a SEARCH FOO\r\n",
        b"a SEARCH ()\r\n",
        b"a SEARCH (ALL\r\n",
        b"a SEARCH ALL)\r\n",
        b"a SEARCH NOT\r\n",
        b"a SEARCH OR ALL\r\n",
        b"a SEARCH SINCE 32-Jan-2000\r\n",
        b"a SEARCH SINCE 29-Feb-2001\r\n",
        b"a SEARCH LARGER x\r\n",
        b"a SEARCH KEYWORD \\Seen\r\n",
        b"a ENABLE\r\n",
        b"a ENABLE a  b\r\n",
        b"a ID\r\n",
        b"a ID \"x\"\r\n",
        b"a ID (\"name\")\r\n",
        b"a AUTHENTICATE\r\n",
        b"a AUTHENTICATE PLAIN abc\r\n",
    ];
    for input in invalid {
        let shown = String::from_utf8_lossy(input);
        assert_eq!(codec(input), None, "imap-codec accepts {shown:?}");
        assert_eq!(ours(input), None, "accepted {shown:?}");
    }
}

/// Every generated command with one random byte changed, dropped or doubled: whatever the two
/// parsers make of it, they agree, except where the differences listed above apply.
#[test]
fn mutated_commands_are_judged_alike() {
    let mut generator = Generator::new(0x5EED_0002);
    let (mut compared, mut agreed_refusals) = (0, 0);
    for _ in 0..COMMANDS {
        let mut input = generator.command();
        let len = input.len() as u64 - 2;
        let at = generator.rng.below(len) as usize;
        match generator.rng.below(3) {
            0 => {
                input.remove(at);
            }
            1 => input.insert(at, input[at]),
            _ => {
                input[at] = *generator
                    .rng
                    .pick(b" ()[]{}<>\"\\*%+-.:,0123AZaz\x00\r\n\xff")
            }
        }
        if !comparable(&input) {
            continue;
        }
        let shown = String::from_utf8_lossy(&input);
        compared += 1;
        let (mine, theirs) = (ours(&input), codec(&input));
        if mine.is_none() && theirs.is_none() {
            agreed_refusals += 1;
        }
        assert_eq!(mine, theirs, "{shown:?}");
    }
    // Most mutants are compared, and both outcomes are well represented.
    assert!(compared > COMMANDS / 2, "{compared}");
    assert!(
        agreed_refusals > compared / 4,
        "{agreed_refusals} of {compared}"
    );
    assert!(
        compared - agreed_refusals > compared / 10,
        "{agreed_refusals} of {compared}"
    );
}

/// Leaves out mutants that fall into a documented difference, or that the two parsers cannot
/// be compared on (imap-codec reads one command; a mutant may frame as several, or as an
/// incomplete one).
fn comparable(input: &[u8]) -> bool {
    let Some(end) = input.iter().position(|&b| b == b'\n') else {
        return false;
    };
    let text = String::from_utf8_lossy(input);
    let literal = input.contains(&b'{');
    let lines = input.iter().filter(|&&b| b == b'\n').count();
    !(literal
        || lines != 1
        || end == 0
        || input[end - 1] != b'\r'
        || input[..end - 1].contains(&b'\r')
        || input.iter().any(|&b| b >= 0x80)
        || input.windows(2).any(|w| w == b" )" || w == b"  ")
        || input.ends_with(b" \r\n")
        || text.contains('&')
        || text.contains(":60 ")
        || text.to_ascii_uppercase().contains("CHARSET"))
}

#[test]
fn documented_differences() {
    let ok_here_not_there: &[&[u8]] = &[
        // 8-bit quoted strings (RFC 9051).
        "a LOGIN \"caf\u{e9}\" x\r\n".as_bytes(),
        // Bare LF.
        b"a NOOP\n",
        // A leap second.
        b"a APPEND x \"30-Jun-2015 23:59:60 +0000\" {1}\r\nx\r\n",
        // RFC 3501's astring charset.
        b"a SEARCH CHARSET {5}\r\nUTF-8 ALL\r\n",
    ];
    for input in ok_here_not_there {
        let shown = String::from_utf8_lossy(input);
        assert!(ours(input).is_some(), "{shown:?}");
        assert_eq!(codec(input), None, "{shown:?}");
    }
    let ok_there_not_here: &[&[u8]] = &[
        // Not modified UTF-7.
        b"a SELECT &Jjo!\r\n",
        b"a CREATE &U,BTFw-&ZeVnLIqe-\r\n",
        // imap-codec's trailing-space quirks and empty initial response.
        b"a ID (\"a\" \"b\" )\r\n",
        b"a AUTHENTICATE PLAIN \r\n",
        // Items beyond RFC 3501, and an empty list, which the ABNF does not allow.
        b"a STATUS x (DELETED)\r\n",
        b"a STATUS x ()\r\n",
        b"a FETCH 1 ()\r\n",
    ];
    let deep_there = format!("a SEARCH {}ALL\r\n", "NOT ".repeat(10));
    assert!(ours(deep_there.as_bytes()).is_some());
    assert_eq!(codec(deep_there.as_bytes()), None);
    let too_deep_here = format!("a SEARCH {}ALL\r\n", "NOT ".repeat(101));
    assert_eq!(ours(too_deep_here.as_bytes()), None);
    for input in ok_there_not_here {
        let shown = String::from_utf8_lossy(input);
        assert_eq!(ours(input), None, "{shown:?}");
        assert!(codec(input).is_some(), "{shown:?}");
    }
}
