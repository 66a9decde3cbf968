//! A seeded generator of valid IMAP commands, for the differential and robustness tests.
//!
//! Each call writes one complete command, CRLF included, choosing at random among every
//! command and every FETCH item and SEARCH key the parser knows, and among the forms each
//! argument may take: keywords in any case, strings as atoms, quoted strings (with escapes) or
//! literals (synchronizing or not, sent without waiting), names in modified UTF-7. It stays
//! within what both this parser and imap-codec accept (see `differential` for where they part).
//!
//! The random numbers are SplitMix64, written out here so a seed means the same inputs on
//! every machine and every version of every crate.

use base64::Engine;

use crate::imap::mutf7;

/// SplitMix64.
pub(super) struct Rng(u64);

impl Rng {
    pub(super) fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub(super) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`).
    pub(super) fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// A number in `lo..=hi`.
    pub(super) fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }

    /// True one time in `n`.
    pub(super) fn one_in(&mut self, n: u64) -> bool {
        self.below(n) == 0
    }

    pub(super) fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// Characters for atoms: every ATOM-CHAR class is represented.
const ATOM_CHARS: &[u8] =
    b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$&'+,-./:;<=>?@[^_`|}~";
/// Characters for quoted strings, specials included.
const QUOTED_CHARS: &[u8] = b"abcXYZ019 ()*%]{}\"\\!#$&'+,-./:;<=>?@[^_`|~\t";

/// `ASTRING-CHAR`, written out independently of the parser's definition.
fn is_astring_char(b: u8) -> bool {
    (0x21..0x7f).contains(&b) && !b"(){%*\"\\".contains(&b)
}

pub(super) struct Generator {
    pub(super) rng: Rng,
    out: Vec<u8>,
}

impl Generator {
    pub(super) fn new(seed: u64) -> Self {
        Generator {
            rng: Rng::new(seed),
            out: Vec::new(),
        }
    }

    /// One complete command.
    pub(super) fn command(&mut self) -> Vec<u8> {
        self.out.clear();
        self.tag();
        self.out.push(b' ');
        self.body();
        self.out.extend_from_slice(b"\r\n");
        std::mem::take(&mut self.out)
    }

    fn put(&mut self, s: &str) {
        self.out.extend_from_slice(s.as_bytes());
    }

    fn sp(&mut self) {
        self.out.push(b' ');
    }

    /// A keyword, in a random mix of cases.
    fn kw(&mut self, keyword: &str) {
        let style = self.rng.below(4);
        for (i, b) in keyword.bytes().enumerate() {
            let b = match style {
                0 => b.to_ascii_lowercase(),
                1 if i % 2 == 1 => b.to_ascii_lowercase(),
                _ => b,
            };
            self.out.push(b);
        }
    }

    fn tag(&mut self) {
        let chars = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_]!#$&'";
        let len = self.rng.range(1, 8);
        for _ in 0..len {
            let c = *self.rng.pick(chars);
            self.out.push(c);
        }
    }

    fn atom_text(&mut self, max: u64) -> String {
        let len = self.rng.range(1, max);
        (0..len)
            .map(|_| *self.rng.pick(ATOM_CHARS) as char)
            .collect()
    }

    /// Bytes for a string argument: printable text, sometimes with specials, CR/LF or 8-bit
    /// bytes (which only a literal can carry). Never NUL.
    fn string_value(&mut self) -> Vec<u8> {
        let len = self.rng.below(12);
        let wild = self.rng.one_in(4);
        (0..len)
            .map(|_| {
                if wild && self.rng.one_in(3) {
                    *self.rng.pick(b"\r\n\xc3\xa9\xff\x01\x7f")
                } else {
                    *self.rng.pick(QUOTED_CHARS)
                }
            })
            .collect()
    }

    fn literal(&mut self, value: &[u8]) {
        let plus = if self.rng.one_in(2) { "+" } else { "" };
        self.put(&format!("{{{}{plus}}}\r\n", value.len()));
        self.out.extend_from_slice(value);
    }

    fn quoted(&mut self, value: &[u8]) {
        self.out.push(b'"');
        for &b in value {
            if b == b'"' || b == b'\\' {
                self.out.push(b'\\');
            }
            self.out.push(b);
        }
        self.out.push(b'"');
    }

    fn quotable(value: &[u8]) -> bool {
        value
            .iter()
            .all(|&b| (1..0x80).contains(&b) && b != b'\r' && b != b'\n')
    }

    /// `string`: quoted when it can be, sometimes a literal anyway.
    fn string(&mut self, value: &[u8]) {
        if Self::quotable(value) && !self.rng.one_in(4) {
            self.quoted(value);
        } else {
            self.literal(value);
        }
    }

    /// `astring`: an atom when it can be one, otherwise (or sometimes anyway) a string.
    fn astring(&mut self, value: &[u8]) {
        let atom = !value.is_empty() && value.iter().all(|&b| is_astring_char(b));
        if atom && !self.rng.one_in(3) {
            self.out.extend_from_slice(value);
        } else {
            self.string(value);
        }
    }

    fn nstring(&mut self, value: Option<&[u8]>) {
        match value {
            None => self.kw("NIL"),
            Some(v) => self.string(v),
        }
    }

    /// A mailbox name in modified UTF-7.
    fn mailbox(&mut self) {
        let name = match self.rng.below(6) {
            0 => ["INBOX", "inbox", "Inbox", "iNbOx"][self.rng.below(4) as usize].to_owned(),
            1 => {
                let text = self.atom_text(10);
                mutf7::encode(&text)
            }
            _ => {
                let words = [
                    "Sent",
                    "Trash",
                    "Archive",
                    "2024",
                    "a b",
                    "Tom & Jerry",
                    "]x",
                    "\u{e9}t\u{e9}",
                    "\u{65e5}\u{672c}\u{8a9e}",
                    "\u{1f600}",
                    "50%",
                    "*",
                    "\"q\"",
                    "back\\slash",
                    "~peter",
                ];
                let n = self.rng.range(1, 3);
                let parts: Vec<&str> = (0..n).map(|_| *self.rng.pick(&words)).collect();
                mutf7::encode(&parts.join(*self.rng.pick(&["/", ".", ""])))
            }
        };
        self.astring(name.as_bytes());
    }

    fn nz(&mut self) -> u32 {
        match self.rng.below(5) {
            0 => u32::MAX - self.rng.below(3) as u32,
            1 => self.rng.range(1, 1_000_000) as u32,
            _ => self.rng.range(1, 30) as u32,
        }
    }

    fn seq_number(&mut self) {
        if self.rng.one_in(5) {
            self.put("*");
        } else {
            let n = self.nz();
            self.put(&n.to_string());
        }
    }

    fn sequence_set(&mut self) {
        let n = self.rng.range(1, 4);
        for i in 0..n {
            if i > 0 {
                self.put(",");
            }
            self.seq_number();
            if self.rng.one_in(2) {
                self.put(":");
                self.seq_number();
            }
        }
    }

    fn flag(&mut self) {
        match self.rng.below(3) {
            0 => {
                let name = *self
                    .rng
                    .pick(&["Answered", "Flagged", "Deleted", "Seen", "Draft"]);
                self.put("\\");
                self.kw(name);
            }
            1 => {
                self.put("\\");
                let name = self.atom_text(8);
                self.put(&name);
            }
            _ => {
                let name = self.atom_text(8);
                self.put(&name);
            }
        }
    }

    fn flag_list(&mut self) {
        self.put("(");
        let n = self.rng.below(4);
        for i in 0..n {
            if i > 0 {
                self.sp();
            }
            self.flag();
        }
        self.put(")");
    }

    /// A valid calendar date: day, month, year.
    fn calendar(&mut self) -> (u64, &'static str, u64) {
        const MONTHS: [&str; 12] = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ];
        let year = self.rng.range(1900, 2100);
        let month = self.rng.below(12) as usize;
        let days = match month {
            1 if year.is_multiple_of(4)
                && (!year.is_multiple_of(100) || year.is_multiple_of(400)) =>
            {
                29
            }
            1 => 28,
            3 | 5 | 8 | 10 => 30,
            _ => 31,
        };
        (self.rng.range(1, days), MONTHS[month], year)
    }

    fn date(&mut self) {
        let (day, month, year) = self.calendar();
        let day = if day < 10 && self.rng.one_in(2) {
            format!("0{day}")
        } else {
            day.to_string()
        };
        let text = format!("{day}-{month}-{year}");
        if self.rng.one_in(3) {
            self.put(&format!("\"{text}\""));
        } else {
            self.put(&text);
        }
    }

    fn date_time(&mut self) {
        let (day, month, year) = self.calendar();
        let day = if day < 10 && self.rng.one_in(2) {
            format!(" {day}")
        } else {
            format!("{day:02}")
        };
        let (h, m, s) = (self.rng.below(24), self.rng.below(60), self.rng.below(60));
        let sign = *self.rng.pick(&["+", "-"]);
        let (zh, zm) = (self.rng.below(24), self.rng.below(60));
        self.put(&format!(
            "\"{day}-{month}-{year} {h:02}:{m:02}:{s:02} {sign}{zh:02}{zm:02}\""
        ));
    }

    fn body(&mut self) {
        let uid_prefix = |g: &mut Self| {
            if g.rng.one_in(2) {
                g.kw("UID");
                g.sp();
            }
        };
        match self.rng.below(36) {
            0 => self.kw("CAPABILITY"),
            1 => self.kw("NOOP"),
            2 => self.kw("LOGOUT"),
            3 => self.kw("STARTTLS"),
            4 => self.kw("CHECK"),
            5 => self.kw("CLOSE"),
            6 => self.kw("EXPUNGE"),
            7 => self.kw("IDLE"),
            8 => self.kw("NAMESPACE"),
            9 => self.kw("UNSELECT"),
            10 => self.authenticate(),
            11 => {
                self.kw("LOGIN");
                self.sp();
                let user = self.string_value();
                self.astring(&user);
                self.sp();
                let password = self.string_value();
                self.astring(&password);
            }
            12 => {
                self.kw("ENABLE");
                for _ in 0..self.rng.range(1, 3) {
                    self.sp();
                    let cap = *self
                        .rng
                        .pick(&["CONDSTORE", "UTF8=ACCEPT", "QRESYNC", "X-FOO"]);
                    self.kw(cap);
                }
            }
            13 => self.id(),
            14..=19 => {
                let name = [
                    "SELECT",
                    "EXAMINE",
                    "CREATE",
                    "DELETE",
                    "SUBSCRIBE",
                    "UNSUBSCRIBE",
                ][self.rng.below(6) as usize];
                self.kw(name);
                self.sp();
                self.mailbox();
            }
            20 => {
                self.kw("RENAME");
                self.sp();
                self.mailbox();
                self.sp();
                self.mailbox();
            }
            21 => {
                let name = *self.rng.pick(&["LIST", "LSUB"]);
                self.kw(name);
                self.sp();
                self.mailbox();
                self.sp();
                self.list_pattern();
            }
            22 => self.status(),
            23 => self.append(),
            24 | 25 => {
                uid_prefix(self);
                self.search();
            }
            26..=29 => {
                uid_prefix(self);
                self.fetch();
            }
            30 | 31 => {
                uid_prefix(self);
                self.store();
            }
            32 | 33 => {
                uid_prefix(self);
                let name = *self.rng.pick(&["COPY", "MOVE"]);
                self.kw(name);
                self.sp();
                self.sequence_set();
                self.sp();
                self.mailbox();
            }
            _ => {
                self.kw("UID");
                self.sp();
                self.kw("EXPUNGE");
                self.sp();
                self.sequence_set();
            }
        }
    }

    fn authenticate(&mut self) {
        self.kw("AUTHENTICATE");
        self.sp();
        let mechanism = *self
            .rng
            .pick(&["PLAIN", "LOGIN", "XOAUTH2", "CRAM-MD5", "SCRAM-SHA-256"]);
        self.kw(mechanism);
        match self.rng.below(3) {
            0 => {}
            1 => self.put(" ="),
            _ => {
                let len = self.rng.range(1, 30);
                let data: Vec<u8> = (0..len).map(|_| self.rng.below(256) as u8).collect();
                self.sp();
                self.put(&base64::engine::general_purpose::STANDARD.encode(data));
            }
        }
    }

    fn id(&mut self) {
        self.kw("ID");
        self.sp();
        if self.rng.one_in(4) {
            self.kw("NIL");
            return;
        }
        self.put("(");
        for i in 0..self.rng.below(4) {
            if i > 0 {
                self.sp();
            }
            let field = *self
                .rng
                .pick(&["name", "version", "os", "vendor", "support-url"]);
            self.string(field.as_bytes());
            self.sp();
            let value = (!self.rng.one_in(4)).then(|| self.string_value());
            self.nstring(value.as_deref());
        }
        self.put(")");
    }

    fn list_pattern(&mut self) {
        let pattern: Vec<u8> = (0..self.rng.below(8))
            .map(|_| *self.rng.pick(b"ab%*/.]x&-"))
            .collect();
        let token = !pattern.is_empty();
        if token && self.rng.one_in(2) {
            self.out.extend_from_slice(&pattern);
        } else {
            self.string(&pattern);
        }
    }

    fn status(&mut self) {
        self.kw("STATUS");
        self.sp();
        self.mailbox();
        self.sp();
        self.put("(");
        for i in 0..self.rng.range(1, 5) {
            if i > 0 {
                self.sp();
            }
            let item = *self
                .rng
                .pick(&["MESSAGES", "RECENT", "UIDNEXT", "UIDVALIDITY", "UNSEEN"]);
            self.kw(item);
        }
        self.put(")");
    }

    fn append(&mut self) {
        self.kw("APPEND");
        self.sp();
        self.mailbox();
        if self.rng.one_in(2) {
            self.sp();
            self.flag_list();
        }
        if self.rng.one_in(2) {
            self.sp();
            self.date_time();
        }
        self.sp();
        let len = self.rng.below(200);
        let message: Vec<u8> = (0..len)
            .map(|_| *self.rng.pick(b"Subject: x\r\n\r\nbody {3}\"\\()\xe9\x01"))
            .collect();
        self.literal(&message);
    }

    fn search(&mut self) {
        self.kw("SEARCH");
        self.sp();
        if self.rng.one_in(4) {
            self.kw("CHARSET");
            self.sp();
            let charset = *self.rng.pick(&["UTF-8", "US-ASCII", "ISO-8859-1"]);
            if self.rng.one_in(2) {
                self.quoted(charset.as_bytes());
            } else {
                self.put(charset);
            }
            self.sp();
        }
        for i in 0..self.rng.range(1, 4) {
            if i > 0 {
                self.sp();
            }
            self.search_key(0);
        }
    }

    fn search_key(&mut self, depth: u32) {
        // imap-codec refuses nesting deeper than 9; stay well inside.
        let choices = if depth >= 5 { 34 } else { 38 };
        match self.rng.below(choices) {
            0..=13 => {
                let key = [
                    "ALL",
                    "ANSWERED",
                    "DELETED",
                    "DRAFT",
                    "FLAGGED",
                    "NEW",
                    "OLD",
                    "RECENT",
                    "SEEN",
                    "UNANSWERED",
                    "UNDELETED",
                    "UNDRAFT",
                    "UNFLAGGED",
                    "UNSEEN",
                ][self.rng.below(14) as usize];
                self.kw(key);
            }
            14..=20 => {
                let key = *self
                    .rng
                    .pick(&["BCC", "BODY", "CC", "FROM", "SUBJECT", "TEXT", "TO"]);
                self.kw(key);
                self.sp();
                let value = self.string_value();
                self.astring(&value);
            }
            21..=26 => {
                let key =
                    *self
                        .rng
                        .pick(&["BEFORE", "ON", "SINCE", "SENTBEFORE", "SENTON", "SENTSINCE"]);
                self.kw(key);
                self.sp();
                self.date();
            }
            27 => {
                self.kw("HEADER");
                self.sp();
                let field = *self.rng.pick(&["X-Spam", "Message-ID", "From"]);
                self.astring(field.as_bytes());
                self.sp();
                let value = self.string_value();
                self.astring(&value);
            }
            28 | 29 => {
                let key = *self.rng.pick(&["KEYWORD", "UNKEYWORD"]);
                self.kw(key);
                self.sp();
                let atom = self.atom_text(8);
                self.put(&atom);
            }
            30 | 31 => {
                let key = *self.rng.pick(&["LARGER", "SMALLER"]);
                self.kw(key);
                self.sp();
                let n = self.rng.below(u64::from(u32::MAX) + 1);
                self.put(&n.to_string());
            }
            32 => {
                self.kw("UID");
                self.sp();
                self.sequence_set();
            }
            33 => self.sequence_set(),
            34 | 35 => {
                self.kw("NOT");
                self.sp();
                self.search_key(depth + 1);
            }
            36 => {
                self.kw("OR");
                self.sp();
                self.search_key(depth + 1);
                self.sp();
                self.search_key(depth + 1);
            }
            _ => {
                self.put("(");
                for i in 0..self.rng.range(1, 3) {
                    if i > 0 {
                        self.sp();
                    }
                    self.search_key(depth + 1);
                }
                self.put(")");
            }
        }
    }

    fn fetch(&mut self) {
        self.kw("FETCH");
        self.sp();
        self.sequence_set();
        self.sp();
        match self.rng.below(6) {
            0 => {
                let name = *self.rng.pick(&["ALL", "FAST", "FULL"]);
                self.kw(name);
            }
            1 => self.fetch_att(),
            _ => {
                self.put("(");
                for i in 0..self.rng.range(1, 5) {
                    if i > 0 {
                        self.sp();
                    }
                    self.fetch_att();
                }
                self.put(")");
            }
        }
    }

    fn fetch_att(&mut self) {
        match self.rng.below(14) {
            0..=9 => {
                let name = [
                    "ENVELOPE",
                    "FLAGS",
                    "INTERNALDATE",
                    "RFC822",
                    "RFC822.HEADER",
                    "RFC822.SIZE",
                    "RFC822.TEXT",
                    "BODY",
                    "BODYSTRUCTURE",
                    "UID",
                ][self.rng.below(10) as usize];
                self.kw(name);
            }
            _ => {
                let name = *self.rng.pick(&["BODY", "BODY.PEEK"]);
                self.kw(name);
                self.section();
                if self.rng.one_in(3) {
                    let offset = self.rng.below(100_000);
                    let length = self.nz();
                    self.put(&format!("<{offset}.{length}>"));
                }
            }
        }
    }

    fn section(&mut self) {
        self.put("[");
        let parts = self.rng.below(4);
        for i in 0..parts {
            if i > 0 {
                self.put(".");
            }
            let n = self.rng.range(1, 20);
            self.put(&n.to_string());
        }
        let text = self.rng.below(6);
        // 0: nothing; 1: HEADER; 2: TEXT; 3/4: HEADER.FIELDS[.NOT]; 5: MIME (after parts only).
        if text != 0 && !(text == 5 && parts == 0) {
            if parts > 0 {
                self.put(".");
            }
            match text {
                1 => self.kw("HEADER"),
                2 => self.kw("TEXT"),
                5 => self.kw("MIME"),
                _ => {
                    self.kw(if text == 3 {
                        "HEADER.FIELDS"
                    } else {
                        "HEADER.FIELDS.NOT"
                    });
                    self.put(" (");
                    for i in 0..self.rng.range(1, 3) {
                        if i > 0 {
                            self.sp();
                        }
                        let field = *self
                            .rng
                            .pick(&["From", "To", "Subject", "X-Mailer", "DATE"]);
                        self.astring(field.as_bytes());
                    }
                    self.put(")");
                }
            }
        }
        self.put("]");
    }

    fn store(&mut self) {
        self.kw("STORE");
        self.sp();
        self.sequence_set();
        self.sp();
        let mode = *self.rng.pick(&["", "+", "-"]);
        self.put(mode);
        self.kw("FLAGS");
        if self.rng.one_in(2) {
            self.kw(".SILENT");
        }
        self.sp();
        if self.rng.one_in(2) {
            self.flag_list();
        } else {
            for i in 0..self.rng.range(1, 3) {
                if i > 0 {
                    self.sp();
                }
                self.flag();
            }
        }
    }
}
