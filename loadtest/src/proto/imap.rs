//! An async IMAP4rev1 client (RFC 3501, IDLE from RFC 2177, SASL PLAIN from RFC 4616), just
//! enough to do what a mail client does on a fresh device (log in, select, list, download)
//! and to sit in IDLE, and to check that the answers are self-consistent.
//!
//! A server response is read as text plus the literals embedded in it (`{n}\r\n` followed by
//! n bytes, of any size): the text keeps the `{n}` markers, the literal bytes are kept aside
//! (or only counted, for bodies nobody will compare), and the parsers walk the text taking
//! literals in order. All parsing is over byte slices with checked access: garbage from the
//! server is a `Malformed` error, never a panic.

use rustls_pki_types::ServerName;
use tokio_rustls::TlsConnector;

use super::{MAX_LINE, ProtoError, Wire, show};

/// One literal of a response: its announced length and, if kept, its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Literal {
    pub len: u64,
    pub bytes: Option<Vec<u8>>,
}

/// A whole server response: text with `{n}` markers, and the literals in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Response {
    pub text: Vec<u8>,
    pub literals: Vec<Literal>,
}

/// What kind of response a text line is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind<'a> {
    /// `+ text`
    Continuation,
    /// `* <number> <ATOM> ...`: EXISTS, EXPUNGE, RECENT, FETCH.
    Numbered(u32, &'a [u8]),
    /// `* <ATOM> ...`: OK, NO, BAD, BYE, PREAUTH, CAPABILITY, FLAGS, ...
    Untagged(&'a [u8]),
    /// `<tag> OK|NO|BAD text`
    Tagged {
        tag: &'a [u8],
        status: Status,
        text: &'a [u8],
    },
}

/// Completion status of a tagged response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Ok,
    No,
    Bad,
}

/// Per-message data from a FETCH response, the items the scenarios ask for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fetch {
    pub seq: u32,
    pub uid: Option<u32>,
    pub size: Option<u64>,
    pub flags: Option<Vec<String>>,
    pub internal_date: Option<String>,
    /// `BODY[HEADER...]`: `Some(None)` for NIL.
    pub header: Option<Option<Literal>>,
    /// `BODY[]`: `Some(None)` for NIL.
    pub body: Option<Option<Literal>>,
}

/// What SELECT reported.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Selected {
    pub exists: u32,
    pub uid_validity: Option<u32>,
    pub uid_next: Option<u32>,
}

fn malformed(what: &str, text: &[u8]) -> ProtoError {
    ProtoError::Malformed(format!("{what}: {}", show(text)))
}

fn parse_u32(digits: &[u8]) -> Option<u32> {
    if digits.is_empty() || digits.len() > 10 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

fn parse_u64(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || digits.len() > 20 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// If a response line ends with a literal announcement (`{n}` or `{n+}`), its length.
pub fn literal_at_end(line: &[u8]) -> Result<Option<u64>, ProtoError> {
    let Some(body) = line.strip_suffix(b"}") else {
        return Ok(None);
    };
    let Some(open) = body.iter().rposition(|&b| b == b'{') else {
        return Ok(None);
    };
    let inner = &body[open + 1..];
    let digits = inner.strip_suffix(b"+").unwrap_or(inner);
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        // "}" at the end of ordinary text, e.g. inside a human-readable message.
        return Ok(None);
    }
    parse_u64(digits)
        .map(Some)
        .ok_or_else(|| malformed("literal length out of range", line))
}

/// Classifies a response by its first line.
pub fn classify(text: &[u8]) -> Result<Kind<'_>, ProtoError> {
    if text == b"+" || text.starts_with(b"+ ") {
        return Ok(Kind::Continuation);
    }
    if let Some(rest) = text.strip_prefix(b"* ") {
        let (first, after) = split_word(rest);
        if first.is_empty() {
            return Err(malformed("empty untagged response", text));
        }
        if first.iter().all(u8::is_ascii_digit) {
            let n = parse_u32(first).ok_or_else(|| malformed("bad message number", text))?;
            let (what, _) = split_word(after);
            if what.is_empty() {
                return Err(malformed("untagged number without a keyword", text));
            }
            return Ok(Kind::Numbered(n, what));
        }
        return Ok(Kind::Untagged(first));
    }
    let (tag, after) = split_word(text);
    if tag.is_empty()
        || !tag
            .iter()
            .all(|&b| b.is_ascii_graphic() && b != b'+' && b != b'*')
    {
        return Err(malformed("not an IMAP response", text));
    }
    let (status, rest) = split_word(after);
    let status = if status.eq_ignore_ascii_case(b"OK") {
        Status::Ok
    } else if status.eq_ignore_ascii_case(b"NO") {
        Status::No
    } else if status.eq_ignore_ascii_case(b"BAD") {
        Status::Bad
    } else {
        return Err(malformed("bad tagged status", text));
    };
    Ok(Kind::Tagged {
        tag,
        status,
        text: rest,
    })
}

/// First space-separated word and the rest after the space.
fn split_word(s: &[u8]) -> (&[u8], &[u8]) {
    match s.iter().position(|&b| b == b' ') {
        Some(i) => (&s[..i], &s[i + 1..]),
        None => (s, &[]),
    }
}

/// The number in a `[KEY n]` response code anywhere in `text`, e.g. `UIDVALIDITY`.
pub fn code_number(text: &[u8], key: &[u8]) -> Option<u32> {
    let open = text.iter().position(|&b| b == b'[')?;
    let inner = &text[open + 1..];
    let close = inner.iter().position(|&b| b == b']')?;
    let code = &inner[..close];
    let (k, v) = split_word(code);
    if !k.eq_ignore_ascii_case(key) {
        return None;
    }
    parse_u32(v)
}

/// The capability atoms in a `* CAPABILITY ...` line or a `[CAPABILITY ...]` code.
pub fn capabilities(text: &[u8]) -> Option<Vec<String>> {
    let list = if let Some(rest) = text.strip_prefix(b"* CAPABILITY ") {
        rest
    } else {
        let start = find(text, b"[CAPABILITY ")? + b"[CAPABILITY ".len();
        let rest = &text[start..];
        &rest[..rest.iter().position(|&b| b == b']')?]
    };
    Some(
        list.split(|&b| b == b' ')
            .filter(|w| !w.is_empty())
            .map(|w| String::from_utf8_lossy(w).to_ascii_uppercase())
            .collect(),
    )
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// A cursor over a response's text that takes its literals in order.
struct Cursor<'a> {
    text: &'a [u8],
    pos: usize,
    literals: std::vec::IntoIter<Literal>,
}

/// A parsed value of the generic IMAP grammar, as far as the scenarios care.
enum Value {
    Nil,
    Atom(Vec<u8>),
    String(Literal),
    List(Vec<Value>),
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<u8> {
        self.text.get(self.pos).copied()
    }

    fn err(&self, what: &str) -> ProtoError {
        ProtoError::Malformed(format!(
            "{what} at byte {} of {}",
            self.pos,
            show(self.text)
        ))
    }

    fn expect(&mut self, b: u8) -> Result<(), ProtoError> {
        if self.peek() == Some(b) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.err(&format!("expected {:?}", b as char)))
        }
    }

    fn skip_spaces(&mut self) {
        while self.peek() == Some(b' ') {
            self.pos += 1;
        }
    }

    /// An atom, including a section `[...]` and partial `<...>` as in `BODY[HEADER.FIELDS
    /// (FROM TO)]<0>`, which the FETCH grammar treats as part of the item name.
    fn atom(&mut self) -> Result<&'a [u8], ProtoError> {
        let start = self.pos;
        while let Some(b) = self.peek() {
            match b {
                b'[' => {
                    let close = self.text[self.pos..]
                        .iter()
                        .position(|&c| c == b']')
                        .ok_or_else(|| self.err("unclosed '['"))?;
                    self.pos += close + 1;
                }
                b'<' => {
                    let close = self.text[self.pos..]
                        .iter()
                        .position(|&c| c == b'>')
                        .ok_or_else(|| self.err("unclosed '<'"))?;
                    self.pos += close + 1;
                }
                b' ' | b'(' | b')' | b'"' | b'{' | b'\r' | b'\n' => break,
                _ => self.pos += 1,
            }
        }
        if self.pos == start {
            return Err(self.err("expected an atom"));
        }
        Ok(&self.text[start..self.pos])
    }

    fn quoted(&mut self) -> Result<Vec<u8>, ProtoError> {
        self.expect(b'"')?;
        let mut out = Vec::new();
        loop {
            match self.peek() {
                None => return Err(self.err("unterminated quoted string")),
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    let c = self
                        .text
                        .get(self.pos + 1)
                        .copied()
                        .ok_or_else(|| self.err("unterminated quoted string"))?;
                    out.push(c);
                    self.pos += 2;
                }
                Some(c) => {
                    out.push(c);
                    self.pos += 1;
                }
            }
        }
    }

    /// A `{n}` marker: the next literal, checked to have that length.
    fn literal(&mut self) -> Result<Literal, ProtoError> {
        self.expect(b'{')?;
        let close = self.text[self.pos..]
            .iter()
            .position(|&c| c == b'}')
            .ok_or_else(|| self.err("unclosed literal marker"))?;
        let inner = &self.text[self.pos..self.pos + close];
        let digits = inner.strip_suffix(b"+").unwrap_or(inner);
        let len = parse_u64(digits).ok_or_else(|| self.err("bad literal length"))?;
        self.pos += close + 1;
        let lit = self
            .literals
            .next()
            .ok_or_else(|| self.err("literal marker without a literal"))?;
        if lit.len != len {
            return Err(self.err("literal length mismatch"));
        }
        Ok(lit)
    }

    /// Any value: NIL, number/atom, quoted string, literal, or parenthesised list.
    fn value(&mut self, depth: usize) -> Result<Value, ProtoError> {
        if depth > 32 {
            return Err(self.err("lists nested too deeply"));
        }
        match self.peek() {
            None => Err(self.err("value expected")),
            Some(b'"') => {
                let s = self.quoted()?;
                Ok(Value::String(Literal {
                    len: s.len() as u64,
                    bytes: Some(s),
                }))
            }
            Some(b'{') => Ok(Value::String(self.literal()?)),
            Some(b'~') if self.text.get(self.pos + 1) == Some(&b'{') => {
                // A binary literal (RFC 3516): same framing.
                self.pos += 1;
                Ok(Value::String(self.literal()?))
            }
            Some(b'(') => {
                self.pos += 1;
                let mut items = Vec::new();
                loop {
                    self.skip_spaces();
                    match self.peek() {
                        Some(b')') => {
                            self.pos += 1;
                            return Ok(Value::List(items));
                        }
                        None => return Err(self.err("unterminated list")),
                        _ => items.push(self.value(depth + 1)?),
                    }
                }
            }
            Some(_) => {
                let atom = self.atom()?;
                if atom.eq_ignore_ascii_case(b"NIL") {
                    Ok(Value::Nil)
                } else {
                    Ok(Value::Atom(atom.to_vec()))
                }
            }
        }
    }
}

/// Parses a `* n FETCH (...)` response. Unknown items are skipped by the generic grammar.
pub fn parse_fetch(resp: Response) -> Result<Fetch, ProtoError> {
    let Response { text, literals } = resp;
    let (seq, kw) = match classify(&text)? {
        Kind::Numbered(n, kw) => (n, kw),
        _ => return Err(malformed("not a FETCH response", &text)),
    };
    if !kw.eq_ignore_ascii_case(b"FETCH") {
        return Err(malformed("not a FETCH response", &text));
    }
    let start = find(&text, b" FETCH ")
        .or_else(|| find(&text.to_ascii_uppercase(), b" FETCH "))
        .ok_or_else(|| malformed("not a FETCH response", &text))?
        + b" FETCH ".len();
    let mut c = Cursor {
        text: &text,
        pos: start,
        literals: literals.into_iter(),
    };
    let mut out = Fetch {
        seq,
        ..Fetch::default()
    };
    c.expect(b'(')?;
    loop {
        c.skip_spaces();
        match c.peek() {
            Some(b')') => {
                c.pos += 1;
                break;
            }
            None => return Err(c.err("unterminated FETCH item list")),
            _ => {}
        }
        let name = c.atom()?.to_ascii_uppercase();
        c.skip_spaces();
        let value = c.value(0)?;
        match (name.as_slice(), value) {
            (b"UID", Value::Atom(a)) => {
                out.uid = Some(parse_u32(&a).ok_or_else(|| c.err("bad UID"))?);
            }
            (b"RFC822.SIZE", Value::Atom(a)) => {
                out.size = Some(parse_u64(&a).ok_or_else(|| c.err("bad RFC822.SIZE"))?);
            }
            (b"FLAGS", Value::List(items)) => {
                let mut flags = Vec::new();
                for item in items {
                    match item {
                        Value::Atom(a) => flags.push(String::from_utf8_lossy(&a).into_owned()),
                        _ => return Err(c.err("bad flag")),
                    }
                }
                out.flags = Some(flags);
            }
            (b"INTERNALDATE", Value::String(s)) => {
                let bytes = s.bytes.unwrap_or_default();
                out.internal_date = Some(String::from_utf8_lossy(&bytes).into_owned());
            }
            (b"BODY[]" | b"RFC822", v) => out.body = Some(nstring(v, &c, "BODY[]")?),
            (n, v) if n.starts_with(b"BODY[HEADER") || n == b"RFC822.HEADER" => {
                out.header = Some(nstring(v, &c, "BODY[HEADER]")?)
            }
            (b"UID" | b"RFC822.SIZE" | b"FLAGS" | b"INTERNALDATE", _) => {
                return Err(c.err(&format!("bad value for {}", String::from_utf8_lossy(&name))));
            }
            // ENVELOPE, BODYSTRUCTURE, MODSEQ, ...: parsed and ignored.
            _ => {}
        }
    }
    c.skip_spaces();
    if c.pos != text.len() {
        return Err(c.err("trailing data after FETCH items"));
    }
    Ok(out)
}

fn nstring(v: Value, c: &Cursor<'_>, what: &str) -> Result<Option<Literal>, ProtoError> {
    match v {
        Value::Nil => Ok(None),
        Value::String(l) => Ok(Some(l)),
        _ => Err(c.err(&format!("bad value for {what}"))),
    }
}

/// Quotes a string for a command (RFC 3501 quoted), refusing what cannot be quoted.
pub fn quote(s: &str) -> Result<String, ProtoError> {
    if s.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) || !s.is_ascii() {
        return Err(ProtoError::Login(
            "user name or password cannot be sent as an IMAP quoted string".into(),
        ));
    }
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for ch in s.chars() {
        if ch == '"' || ch == '\\' {
            out.push('\\');
        }
        out.push(ch);
    }
    out.push('"');
    Ok(out)
}

/// The client; owns the connection.
pub struct Imap {
    wire: Wire,
    next_tag: u32,
    /// Capabilities as last announced (greeting code, CAPABILITY response, or login code).
    pub capabilities: Vec<String>,
    /// Message count of the selected mailbox as last announced.
    pub exists: Option<u32>,
}

/// What an IDLE wait produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdleEvent {
    /// `* n EXISTS`.
    Exists(u32),
    /// Nothing within the wait (keep-alive "* OK" lines and the like are skipped).
    Quiet,
}

impl Imap {
    /// Reads the greeting on a fresh connection. PREAUTH counts as a greeting too.
    pub async fn greet(mut wire: Wire) -> Result<Imap, ProtoError> {
        let line = wire.read_line("IMAP greeting").await?;
        let caps = capabilities(line).unwrap_or_default();
        match classify(line)? {
            Kind::Untagged(w)
                if w.eq_ignore_ascii_case(b"OK") || w.eq_ignore_ascii_case(b"PREAUTH") => {}
            Kind::Untagged(w) if w.eq_ignore_ascii_case(b"BYE") => {
                return Err(ProtoError::Refused(format!("greeting: {}", show(line))));
            }
            _ => return Err(malformed("bad IMAP greeting", line)),
        }
        Ok(Imap {
            wire,
            next_tag: 1,
            capabilities: caps,
            exists: None,
        })
    }

    /// Reads one whole response: lines joined, literals read (kept if `keep(text, len)`
    /// says so, given the text before the literal).
    pub async fn read_response(
        &mut self,
        keep: &mut (dyn FnMut(&[u8], u64) -> bool + Send),
        what: &'static str,
    ) -> Result<Response, ProtoError> {
        let mut resp = Response::default();
        loop {
            let line = self.wire.read_line(what).await?;
            if resp.text.len() + line.len() > MAX_LINE {
                return Err(malformed("response text too long", &resp.text));
            }
            resp.text.extend_from_slice(line);
            match literal_at_end(line)? {
                None => return Ok(resp),
                Some(len) => {
                    let k = keep(&resp.text, len);
                    let bytes = self.wire.read_exact(len, k, what).await?;
                    resp.literals.push(Literal { len, bytes });
                }
            }
        }
    }

    fn tag(&mut self) -> String {
        let t = format!("a{}", self.next_tag);
        self.next_tag += 1;
        t
    }

    /// Updates what every response may tell us about (EXISTS, capabilities).
    fn note(&mut self, text: &[u8]) {
        if let Ok(Kind::Numbered(n, kw)) = classify(text) {
            if kw.eq_ignore_ascii_case(b"EXISTS") {
                self.exists = Some(n);
            } else if kw.eq_ignore_ascii_case(b"EXPUNGE") {
                self.exists = self.exists.map(|e| e.saturating_sub(1));
            }
        }
        if let Some(caps) = capabilities(text) {
            self.capabilities = caps;
        }
    }

    /// Sends `tag command`, passes every untagged response to `untagged`, and returns the
    /// tagged completion's status and text. A `* BYE` before it is an error.
    async fn command(
        &mut self,
        command: &str,
        what: &'static str,
        keep: &mut (dyn FnMut(&[u8], u64) -> bool + Send),
        untagged: &mut (dyn FnMut(Response) -> Result<(), ProtoError> + Send),
    ) -> Result<(Status, String), ProtoError> {
        let tag = self.tag();
        self.wire
            .send(format!("{tag} {command}\r\n").as_bytes(), what)
            .await?;
        self.complete(&tag, what, keep, untagged).await
    }

    /// Reads responses until the tagged completion of `tag`.
    async fn complete(
        &mut self,
        tag: &str,
        what: &'static str,
        keep: &mut (dyn FnMut(&[u8], u64) -> bool + Send),
        untagged: &mut (dyn FnMut(Response) -> Result<(), ProtoError> + Send),
    ) -> Result<(Status, String), ProtoError> {
        loop {
            let resp = self.read_response(keep, what).await?;
            self.note(&resp.text);
            match classify(&resp.text)? {
                Kind::Tagged {
                    tag: t,
                    status,
                    text,
                } => {
                    if t != tag.as_bytes() {
                        return Err(malformed(
                            &format!("completion for another tag (expected {tag})"),
                            &resp.text,
                        ));
                    }
                    return Ok((status, String::from_utf8_lossy(text).into_owned()));
                }
                Kind::Continuation => {
                    return Err(malformed(
                        &format!("unexpected continuation in {what}"),
                        &resp.text,
                    ));
                }
                Kind::Untagged(w) if w.eq_ignore_ascii_case(b"BYE") && what != "LOGOUT" => {
                    return Err(ProtoError::Refused(format!(
                        "{what}: server said {}",
                        show(&resp.text)
                    )));
                }
                _ => untagged(resp)?,
            }
        }
    }

    /// A command whose untagged responses need no handling beyond the usual bookkeeping;
    /// NO/BAD is `Refused`.
    async fn simple(&mut self, command: &str, what: &'static str) -> Result<String, ProtoError> {
        let (status, text) = self
            .command(command, what, &mut |_, _| false, &mut |_| Ok(()))
            .await?;
        match status {
            Status::Ok => Ok(text),
            _ => Err(ProtoError::Refused(format!("{what}: {status:?} {text}"))),
        }
    }

    /// CAPABILITY.
    pub async fn capability(&mut self) -> Result<Vec<String>, ProtoError> {
        self.simple("CAPABILITY", "CAPABILITY").await?;
        Ok(self.capabilities.clone())
    }

    /// STARTTLS, then the TLS handshake. Capabilities learnt before are forgotten
    /// (RFC 3501 6.2.1): they were sent in the clear.
    pub async fn starttls(
        &mut self,
        connector: &TlsConnector,
        name: ServerName<'static>,
    ) -> Result<(), ProtoError> {
        self.simple("STARTTLS", "STARTTLS").await?;
        self.capabilities.clear();
        self.wire.start_tls(connector, name).await
    }

    /// LOGIN with quoted user name and password.
    pub async fn login(&mut self, user: &str, pass: &str) -> Result<(), ProtoError> {
        let cmd = format!("LOGIN {} {}", quote(user)?, quote(pass)?);
        let (status, text) = self
            .command(&cmd, "LOGIN", &mut |_, _| false, &mut |_| Ok(()))
            .await?;
        match status {
            Status::Ok => Ok(()),
            _ => Err(ProtoError::Login(format!("LOGIN: {status:?} {text}"))),
        }
    }

    /// AUTHENTICATE PLAIN, with the initial response after the server's "+".
    pub async fn authenticate_plain(&mut self, user: &str, pass: &str) -> Result<(), ProtoError> {
        let tag = self.tag();
        self.wire
            .send(
                format!("{tag} AUTHENTICATE PLAIN\r\n").as_bytes(),
                "AUTHENTICATE",
            )
            .await?;
        let resp = self
            .read_response(&mut |_, _| false, "AUTHENTICATE continuation")
            .await?;
        match classify(&resp.text)? {
            Kind::Continuation => {}
            Kind::Tagged { status, text, .. } => {
                return Err(ProtoError::Login(format!(
                    "AUTHENTICATE: {status:?} {}",
                    show(text)
                )));
            }
            _ => return Err(malformed("expected a continuation", &resp.text)),
        }
        let token = super::pop3::sasl_plain(user, pass);
        self.wire
            .send(format!("{token}\r\n").as_bytes(), "AUTHENTICATE")
            .await?;
        let (status, text) = self
            .complete(&tag, "AUTHENTICATE", &mut |_, _| false, &mut |_| Ok(()))
            .await?;
        match status {
            Status::Ok => Ok(()),
            _ => Err(ProtoError::Login(format!(
                "AUTHENTICATE: {status:?} {text}"
            ))),
        }
    }

    /// SELECT a mailbox: message count and UID data.
    pub async fn select(&mut self, mailbox: &str) -> Result<Selected, ProtoError> {
        let mut sel = Selected::default();
        let mut saw_exists = false;
        let cmd = format!(
            "SELECT {}",
            quote(mailbox).map_err(|_| {
                ProtoError::Refused(format!("mailbox name {mailbox:?} cannot be quoted"))
            })?
        );
        let (status, text) = self
            .command(&cmd, "SELECT", &mut |_, _| false, &mut |resp| {
                match classify(&resp.text)? {
                    Kind::Numbered(n, kw) if kw.eq_ignore_ascii_case(b"EXISTS") => {
                        sel.exists = n;
                        saw_exists = true;
                    }
                    Kind::Untagged(w) if w.eq_ignore_ascii_case(b"OK") => {
                        if let Some(v) = code_number(&resp.text, b"UIDVALIDITY") {
                            sel.uid_validity = Some(v);
                        }
                        if let Some(v) = code_number(&resp.text, b"UIDNEXT") {
                            sel.uid_next = Some(v);
                        }
                    }
                    _ => {}
                }
                Ok(())
            })
            .await?;
        if status != Status::Ok {
            return Err(ProtoError::Refused(format!("SELECT: {status:?} {text}")));
        }
        if !saw_exists {
            return Err(ProtoError::Malformed(
                "SELECT without an EXISTS response".into(),
            ));
        }
        self.exists = Some(sel.exists);
        Ok(sel)
    }

    /// `UID FETCH <set> <items>`: the FETCH responses in arrival order, and every EXISTS
    /// count announced while it ran. Body literals (`BODY[] {n}`) are kept when
    /// `keep_body(seq)` says so; other literals are kept only when small (headers).
    pub async fn uid_fetch(
        &mut self,
        set: &str,
        items: &str,
        keep_body: &(dyn Fn(u32) -> bool + Sync),
    ) -> Result<(Vec<Fetch>, Vec<u32>), ProtoError> {
        let mut fetches = Vec::new();
        let mut exists = Vec::new();
        let mut keep = |text: &[u8], len: u64| {
            let before = text.strip_suffix(b"}").and_then(|t| {
                let open = t.iter().rposition(|&b| b == b'{')?;
                Some(&t[..open])
            });
            let is_body = before.is_some_and(|b| {
                let b = b.trim_ascii_end().to_ascii_uppercase();
                b.ends_with(b"BODY[]") || b.ends_with(b"RFC822")
            });
            if is_body {
                match classify(text) {
                    Ok(Kind::Numbered(seq, _)) => keep_body(seq),
                    _ => false,
                }
            } else {
                len <= 64 * 1024
            }
        };
        let cmd = format!("UID FETCH {set} {items}");
        let (status, text) = self
            .command(&cmd, "UID FETCH", &mut keep, &mut |resp| {
                match classify(&resp.text)? {
                    Kind::Numbered(n, kw) if kw.eq_ignore_ascii_case(b"EXISTS") => exists.push(n),
                    Kind::Numbered(_, kw) if kw.eq_ignore_ascii_case(b"FETCH") => {
                        fetches.push(parse_fetch(resp)?);
                    }
                    _ => {}
                }
                Ok(())
            })
            .await?;
        if status != Status::Ok {
            return Err(ProtoError::Refused(format!("UID FETCH: {status:?} {text}")));
        }
        Ok((fetches, exists))
    }

    /// Sends IDLE and waits for the server's continuation. Returns the tag to end it with.
    pub async fn idle_start(&mut self) -> Result<String, ProtoError> {
        let tag = self.tag();
        self.wire
            .send(format!("{tag} IDLE\r\n").as_bytes(), "IDLE")
            .await?;
        loop {
            let resp = self
                .read_response(&mut |_, _| false, "IDLE continuation")
                .await?;
            self.note(&resp.text);
            match classify(&resp.text)? {
                Kind::Continuation => return Ok(tag),
                Kind::Tagged { status, text, .. } => {
                    return Err(ProtoError::Refused(format!(
                        "IDLE: {status:?} {}",
                        show(text)
                    )));
                }
                Kind::Untagged(w) if w.eq_ignore_ascii_case(b"BYE") => {
                    return Err(ProtoError::Refused(format!("IDLE: {}", show(&resp.text))));
                }
                _ => {}
            }
        }
    }

    /// In IDLE: waits up to `limit` for the next `* n EXISTS`. Other untagged responses
    /// (keep-alives, RECENT, FETCH flag changes) are noted and skipped. Cancel-safe at the
    /// line level: a partial line stays buffered.
    pub async fn idle_wait(&mut self, limit: std::time::Duration) -> Result<IdleEvent, ProtoError> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let Some((start, end)) = self.wire.read_line_within(left, "IDLE update").await? else {
                return Ok(IdleEvent::Quiet);
            };
            // Copy the line out: the buffer is reused by the reads below.
            let mut line = self.wire.line_at(start, end).to_vec();
            let mut last_len = line.len();
            while let Some(len) = literal_at_end(&line[line.len() - last_len..])? {
                // Untagged data with a literal (e.g. a FETCH with a body): skip its bytes
                // and read the rest of the response.
                self.wire.read_exact(len, false, "IDLE update").await?;
                let more = self.wire.read_line("IDLE update").await?;
                if line.len() + more.len() > MAX_LINE {
                    return Err(malformed("response text too long", &line));
                }
                last_len = more.len();
                line.extend_from_slice(more);
            }
            self.note(&line);
            match classify(&line)? {
                Kind::Numbered(n, kw) if kw.eq_ignore_ascii_case(b"EXISTS") => {
                    return Ok(IdleEvent::Exists(n));
                }
                Kind::Untagged(w) if w.eq_ignore_ascii_case(b"BYE") => {
                    return Err(ProtoError::Refused(format!("in IDLE: {}", show(&line))));
                }
                Kind::Tagged { status, text, .. } => {
                    return Err(ProtoError::Malformed(format!(
                        "IDLE ended by the server: {status:?} {}",
                        show(text)
                    )));
                }
                _ => {}
            }
        }
    }

    /// Ends IDLE with DONE and reads the completion.
    pub async fn idle_done(&mut self, tag: &str) -> Result<(), ProtoError> {
        self.wire.send(b"DONE\r\n", "DONE").await?;
        let (status, text) = self
            .complete(tag, "IDLE", &mut |_, _| false, &mut |_| Ok(()))
            .await?;
        match status {
            Status::Ok => Ok(()),
            _ => Err(ProtoError::Refused(format!("IDLE: {status:?} {text}"))),
        }
    }

    /// NOOP; returns the message count as known afterwards.
    pub async fn noop(&mut self) -> Result<Option<u32>, ProtoError> {
        self.simple("NOOP", "NOOP").await?;
        Ok(self.exists)
    }

    /// LOGOUT: "* BYE" then the completion.
    pub async fn logout(&mut self) -> Result<(), ProtoError> {
        self.simple("LOGOUT", "LOGOUT").await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resp(text: &[u8], lits: &[&[u8]]) -> Response {
        Response {
            text: text.to_vec(),
            literals: lits
                .iter()
                .map(|l| Literal {
                    len: l.len() as u64,
                    bytes: Some(l.to_vec()),
                })
                .collect(),
        }
    }

    #[test]
    fn classify_lines() {
        assert_eq!(classify(b"+ idling").unwrap(), Kind::Continuation);
        assert_eq!(classify(b"+").unwrap(), Kind::Continuation);
        assert_eq!(
            classify(b"* 3 EXISTS").unwrap(),
            Kind::Numbered(3, b"EXISTS")
        );
        assert_eq!(
            classify(b"* OK [UIDVALIDITY 5] x").unwrap(),
            Kind::Untagged(b"OK")
        );
        assert_eq!(
            classify(b"a1 NO [AUTHENTICATIONFAILED] bad").unwrap(),
            Kind::Tagged {
                tag: b"a1",
                status: Status::No,
                text: b"[AUTHENTICATIONFAILED] bad"
            }
        );
        for bad in [
            &b""[..],
            b"* ",
            b"*",
            b"a1 MAYBE x",
            b"* 99999999999 EXISTS",
            b"* 3",
            b"a1",
        ] {
            assert!(classify(bad).is_err(), "{}", show(bad));
        }
    }

    #[test]
    fn codes_and_literals() {
        assert_eq!(
            code_number(b"* OK [UIDVALIDITY 1700000000] UIDs valid", b"UIDVALIDITY"),
            Some(1_700_000_000)
        );
        assert_eq!(code_number(b"* OK [UIDNEXT 4] x", b"UIDVALIDITY"), None);
        assert_eq!(code_number(b"* OK [UIDVALIDITY x] y", b"UIDVALIDITY"), None);
        assert_eq!(literal_at_end(b"* 1 FETCH (BODY[] {12}").unwrap(), Some(12));
        assert_eq!(literal_at_end(b"a LOGIN {3+}").unwrap(), Some(3));
        assert_eq!(literal_at_end(b"* OK {not a literal}").unwrap(), None);
        assert_eq!(literal_at_end(b"* OK }").unwrap(), None);
        assert!(literal_at_end(b"x {999999999999999999999999}").is_err());
        assert_eq!(
            capabilities(b"* OK [CAPABILITY IMAP4rev1 IDLE] ready").unwrap(),
            vec!["IMAP4REV1".to_owned(), "IDLE".to_owned()]
        );
    }

    #[test]
    fn fetch_items() {
        let f = parse_fetch(resp(
            b"* 2 FETCH (UID 7 FLAGS (\\Seen $Junk) INTERNALDATE \"17-Jul-1996 02:44:25 -0700\" \
              RFC822.SIZE 42 BODY[HEADER.FIELDS (FROM TO)] {5}\"ENVELOPE\" NIL)",
            &[b"From:"],
        ));
        // A stray token after a literal is a syntax error, not a panic.
        assert!(f.is_err());
        let f = parse_fetch(resp(
            b"* 2 FETCH (UID 7 FLAGS (\\Seen $Junk) INTERNALDATE \"17-Jul-1996 02:44:25 -0700\" \
              RFC822.SIZE 42 BODY[HEADER.FIELDS (FROM TO)] {5} MODSEQ (12))",
            &[b"From:"],
        ))
        .unwrap();
        assert_eq!(f.seq, 2);
        assert_eq!(f.uid, Some(7));
        assert_eq!(f.size, Some(42));
        assert_eq!(
            f.flags.as_deref(),
            Some(&["\\Seen".to_owned(), "$Junk".to_owned()][..])
        );
        assert_eq!(
            f.internal_date.as_deref(),
            Some("17-Jul-1996 02:44:25 -0700")
        );
        assert_eq!(f.header.unwrap().unwrap().bytes.unwrap(), b"From:");
        let f = parse_fetch(resp(b"* 1 FETCH (UID 3 BODY[] NIL)", &[])).unwrap();
        assert_eq!(f.body, Some(None));
        let f = parse_fetch(resp(b"* 1 fetch (BODY[] \"a\\\"b\" UID 3)", &[])).unwrap();
        assert_eq!(f.body.unwrap().unwrap().bytes.unwrap(), b"a\"b");
    }

    #[test]
    fn fetch_garbage_is_an_error() {
        let cases: Vec<(&[u8], Vec<&[u8]>)> = vec![
            (b"* 1 FETCH", vec![]),
            (b"* 1 FETCH (", vec![]),
            (b"* 1 FETCH (UID)", vec![]),
            (b"* 1 FETCH (UID x)", vec![]),
            (b"* 1 FETCH (UID 1 RFC822.SIZE -3)", vec![]),
            (b"* 1 FETCH (BODY[] {3})", vec![]),
            (b"* 1 FETCH (BODY[] {3})", vec![b"ab"]),
            (b"* 1 FETCH (BODY[ {3})", vec![b"abc"]),
            (b"* 1 FETCH (FLAGS (\\Seen)", vec![]),
            (b"* 1 FETCH (FLAGS ((((((((((((((((((((((((((((((((((((((((x)))))))))))))))))))))))))))))))))))))))))", vec![]),
            (b"* 1 FETCH (INTERNALDATE \"unterminated)", vec![]),
            (b"* 1 FETCH (UID 1) trailing", vec![]),
            (b"* 1 EXISTS", vec![]),
            (b"a1 OK done", vec![]),
            (b"* 1 FETCH (UID 1 BODY[] {2+)", vec![]),
        ];
        for (text, lits) in cases {
            assert!(parse_fetch(resp(text, &lits)).is_err(), "{}", show(text));
        }
    }

    #[test]
    fn quoting() {
        assert_eq!(quote("a\"b\\c").unwrap(), "\"a\\\"b\\\\c\"");
        assert!(quote("a\r\nb").is_err());
    }
}
