//! An async POP3 client (RFC 1939, CAPA from RFC 2449, STLS from RFC 2595, AUTH PLAIN from
//! RFC 5034), just enough to download a maildrop the way a mail client does and check that
//! what came back is self-consistent.
//!
//! Reply parsing is split into pure functions over one line (`parse_*`) so it can be tested
//! on canned bytes, including garbage; none of them panics.

use base64::Engine;
use rustls_pki_types::ServerName;
use tokio_rustls::TlsConnector;

use super::{ProtoError, Wire, show};

/// Longest unique-id RFC 1939 allows.
const MAX_UIDL_LEN: usize = 70;

/// The client; owns the connection.
pub struct Pop3 {
    wire: Wire,
    /// The greeting's text after "+OK".
    pub greeting: String,
}

/// A retrieved message: its length after un-dot-stuffing (line endings as sent, i.e.
/// CRLF), and its bytes if the caller asked to keep them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Body {
    pub len: u64,
    pub bytes: Option<Vec<u8>>,
}

/// Splits a status line into `Ok(text)` for "+OK" and `Err(text)` for "-ERR".
pub fn parse_status(line: &[u8]) -> Result<Result<&[u8], &[u8]>, ProtoError> {
    fn text<'a>(rest: &'a [u8], line: &[u8]) -> Result<&'a [u8], ProtoError> {
        match rest.split_first() {
            None => Ok(rest),
            Some((b' ', t)) => Ok(t),
            Some(_) => Err(ProtoError::Malformed(format!(
                "bad POP3 status line: {}",
                show(line)
            ))),
        }
    }
    if let Some(rest) = line.strip_prefix(b"+OK") {
        Ok(Ok(text(rest, line)?))
    } else if let Some(rest) = line.strip_prefix(b"-ERR") {
        Ok(Err(text(rest, line)?))
    } else {
        Err(ProtoError::Malformed(format!(
            "not a POP3 status line: {}",
            show(line)
        )))
    }
}

fn number<T: std::str::FromStr>(
    field: Option<&[u8]>,
    what: &str,
    line: &[u8],
) -> Result<T, ProtoError> {
    field
        .filter(|f| !f.is_empty() && f.iter().all(u8::is_ascii_digit))
        .and_then(|f| std::str::from_utf8(f).ok())
        .and_then(|f| f.parse().ok())
        .ok_or_else(|| ProtoError::Malformed(format!("bad {what} in {:?}", show(line))))
}

/// The text of a "+OK nn mm" STAT reply: message count and total size. RFC 1939 lets the
/// server add more text after the two numbers.
pub fn parse_stat(text: &[u8]) -> Result<(u32, u64), ProtoError> {
    let mut fields = text.split(|&b| b == b' ');
    let count = number(fields.next(), "STAT count", text)?;
    let size = number(fields.next(), "STAT size", text)?;
    Ok((count, size))
}

/// One line of a LIST listing (or a single-message "+OK" text): "msg size".
pub fn parse_list_line(line: &[u8]) -> Result<(u32, u64), ProtoError> {
    let mut fields = line.split(|&b| b == b' ');
    let msg = number(fields.next(), "LIST message number", line)?;
    let size = number(fields.next(), "LIST size", line)?;
    Ok((msg, size))
}

/// One line of a UIDL listing: "msg unique-id", the id 1..70 printable characters.
pub fn parse_uidl_line(line: &[u8]) -> Result<(u32, String), ProtoError> {
    let sp = line
        .iter()
        .position(|&b| b == b' ')
        .ok_or_else(|| ProtoError::Malformed(format!("bad UIDL line {:?}", show(line))))?;
    let msg = number(Some(&line[..sp]), "UIDL message number", line)?;
    let uid = &line[sp + 1..];
    if uid.is_empty()
        || uid.len() > MAX_UIDL_LEN
        || !uid.iter().all(|&b| (0x21..=0x7e).contains(&b))
    {
        return Err(ProtoError::Malformed(format!(
            "bad unique-id in UIDL line {:?}",
            show(line)
        )));
    }
    // All printable ASCII, so valid UTF-8.
    let uid = String::from_utf8_lossy(uid).into_owned();
    Ok((msg, uid))
}

/// Un-dot-stuffs one line of a multi-line reply; `None` for the terminating ".".
pub fn unstuff(line: &[u8]) -> Option<&[u8]> {
    match line {
        b"." => None,
        [b'.', rest @ ..] => Some(rest),
        _ => Some(line),
    }
}

impl Pop3 {
    /// Reads the greeting on a fresh connection.
    pub async fn greet(mut wire: Wire) -> Result<Pop3, ProtoError> {
        let line = wire.read_line("POP3 greeting").await?;
        match parse_status(line)? {
            Ok(text) => {
                let greeting = String::from_utf8_lossy(text).into_owned();
                Ok(Pop3 { wire, greeting })
            }
            Err(text) => Err(ProtoError::Refused(format!(
                "greeting: -ERR {}",
                show(text)
            ))),
        }
    }

    /// Sends one command line and reads its status; "-ERR" is `Refused`.
    async fn command(&mut self, cmd: &[u8], what: &'static str) -> Result<String, ProtoError> {
        match self.command_status(cmd, what).await? {
            Ok(text) => Ok(text),
            Err(text) => Err(ProtoError::Refused(format!("{what}: -ERR {text}"))),
        }
    }

    /// Sends one command line; returns the status text, `Err` for "-ERR".
    async fn command_status(
        &mut self,
        cmd: &[u8],
        what: &'static str,
    ) -> Result<Result<String, String>, ProtoError> {
        let mut line = Vec::with_capacity(cmd.len() + 2);
        line.extend_from_slice(cmd);
        line.extend_from_slice(b"\r\n");
        self.wire.send(&line, what).await?;
        let reply = self.wire.read_line(what).await?;
        Ok(match parse_status(reply)? {
            Ok(t) => Ok(String::from_utf8_lossy(t).into_owned()),
            Err(t) => Err(String::from_utf8_lossy(t).into_owned()),
        })
    }

    /// Reads the lines of a multi-line listing up to ".", un-stuffed, each passed to `each`.
    async fn listing(
        &mut self,
        what: &'static str,
        mut each: impl FnMut(&[u8]) -> Result<(), ProtoError>,
    ) -> Result<(), ProtoError> {
        loop {
            let line = self.wire.read_line(what).await?;
            match unstuff(line) {
                None => return Ok(()),
                Some(l) => each(l)?,
            }
        }
    }

    /// CAPA: the capability lines (upper-cased tags kept as sent).
    pub async fn capa(&mut self) -> Result<Vec<String>, ProtoError> {
        self.command(b"CAPA", "CAPA").await?;
        let mut caps = Vec::new();
        self.listing("CAPA listing", |l| {
            caps.push(String::from_utf8_lossy(l).into_owned());
            Ok(())
        })
        .await?;
        Ok(caps)
    }

    /// STLS, then the TLS handshake.
    pub async fn stls(
        &mut self,
        connector: &TlsConnector,
        name: ServerName<'static>,
    ) -> Result<(), ProtoError> {
        self.command(b"STLS", "STLS").await?;
        self.wire.start_tls(connector, name).await
    }

    /// USER and PASS.
    pub async fn user_pass(&mut self, user: &str, pass: &str) -> Result<(), ProtoError> {
        check_arg(user)?;
        check_arg(pass)?;
        if let Err(e) = self
            .command_status(format!("USER {user}").as_bytes(), "USER")
            .await?
        {
            return Err(ProtoError::Login(format!("USER: -ERR {e}")));
        }
        match self
            .command_status(format!("PASS {pass}").as_bytes(), "PASS")
            .await?
        {
            Ok(_) => Ok(()),
            Err(e) => Err(ProtoError::Login(format!("PASS: -ERR {e}"))),
        }
    }

    /// AUTH PLAIN with the credentials as initial response (RFC 5034).
    pub async fn auth_plain(&mut self, user: &str, pass: &str) -> Result<(), ProtoError> {
        let token = sasl_plain(user, pass);
        match self
            .command_status(format!("AUTH PLAIN {token}").as_bytes(), "AUTH PLAIN")
            .await?
        {
            Ok(_) => Ok(()),
            Err(e) => Err(ProtoError::Login(format!("AUTH PLAIN: -ERR {e}"))),
        }
    }

    /// STAT: (message count, total size).
    pub async fn stat(&mut self) -> Result<(u32, u64), ProtoError> {
        let text = self.command(b"STAT", "STAT").await?;
        parse_stat(text.as_bytes())
    }

    /// LIST: (message number, size) per message, as listed.
    pub async fn list(&mut self) -> Result<Vec<(u32, u64)>, ProtoError> {
        self.command(b"LIST", "LIST").await?;
        let mut out = Vec::new();
        self.listing("LIST listing", |l| {
            out.push(parse_list_line(l)?);
            Ok(())
        })
        .await?;
        Ok(out)
    }

    /// UIDL: (message number, unique id) per message, as listed.
    pub async fn uidl(&mut self) -> Result<Vec<(u32, String)>, ProtoError> {
        self.command(b"UIDL", "UIDL").await?;
        let mut out = Vec::new();
        self.listing("UIDL listing", |l| {
            out.push(parse_uidl_line(l)?);
            Ok(())
        })
        .await?;
        Ok(out)
    }

    /// RETR: the message, un-dot-stuffed, streamed; kept only if `keep`.
    pub async fn retr(&mut self, msg: u32, keep: bool) -> Result<Body, ProtoError> {
        self.command(format!("RETR {msg}").as_bytes(), "RETR")
            .await?;
        self.read_body(keep).await
    }

    /// Reads a multi-line body up to the terminating ".", removing dot-stuffing. Lines of
    /// any length are handled without holding more than the read buffer.
    async fn read_body(&mut self, keep: bool) -> Result<Body, ProtoError> {
        const WHAT: &str = "message body";
        let mut kept = keep.then(Vec::new);
        let mut len: u64 = 0;
        let mut at_line_start = true;
        loop {
            if at_line_start {
                let avail = self.wire.buffered();
                // Need three bytes (or a decision) to tell ".\r\n" from a stuffed line.
                if avail.len() < 3 && b".\r\n".starts_with(avail) {
                    self.wire.fill(WHAT).await?;
                    continue;
                }
                if avail.starts_with(b".\r\n") {
                    self.wire.consume(3);
                    return Ok(Body { len, bytes: kept });
                }
                if avail.first() == Some(&b'.') {
                    self.wire.consume(1);
                }
            }
            if self.wire.buffered().is_empty() {
                self.wire.fill(WHAT).await?;
            }
            let avail = self.wire.buffered();
            let (take, ends_line) = match memchr::memchr(b'\n', avail) {
                Some(i) => (i + 1, true),
                None => (avail.len(), false),
            };
            if let Some(k) = kept.as_mut() {
                if (k.len() + take) as u64 > super::MAX_KEPT {
                    return Err(ProtoError::Malformed(
                        "message too large to keep for verification".into(),
                    ));
                }
                k.extend_from_slice(&avail[..take]);
            }
            len += take as u64;
            self.wire.consume(take);
            at_line_start = ends_line;
        }
    }

    /// DELE.
    pub async fn dele(&mut self, msg: u32) -> Result<(), ProtoError> {
        self.command(format!("DELE {msg}").as_bytes(), "DELE")
            .await?;
        Ok(())
    }

    /// RSET.
    pub async fn rset(&mut self) -> Result<(), ProtoError> {
        self.command(b"RSET", "RSET").await?;
        Ok(())
    }

    /// NOOP.
    pub async fn noop(&mut self) -> Result<(), ProtoError> {
        self.command(b"NOOP", "NOOP").await?;
        Ok(())
    }

    /// QUIT: the server commits deletions and closes.
    pub async fn quit(&mut self) -> Result<(), ProtoError> {
        self.command(b"QUIT", "QUIT").await?;
        Ok(())
    }
}

/// The base64 SASL PLAIN token: authzid (empty), authcid, password, NUL-separated.
pub fn sasl_plain(user: &str, pass: &str) -> String {
    let raw = format!("\0{user}\0{pass}");
    base64::engine::general_purpose::STANDARD.encode(raw)
}

/// Refuses arguments that would break the command line (and so the session's framing).
fn check_arg(arg: &str) -> Result<(), ProtoError> {
    if arg.bytes().any(|b| b == b'\r' || b == b'\n') {
        return Err(ProtoError::Login(
            "user name or password contains a line break".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines() {
        assert_eq!(parse_status(b"+OK").unwrap(), Ok(&b""[..]));
        assert_eq!(parse_status(b"+OK 2 320").unwrap(), Ok(&b"2 320"[..]));
        assert_eq!(
            parse_status(b"-ERR [IN-USE] locked").unwrap(),
            Err(&b"[IN-USE] locked"[..])
        );
        assert!(parse_status(b"+OKAY").is_err());
        assert!(parse_status(b"").is_err());
        assert!(parse_status(b"* OK imap").is_err());
    }

    #[test]
    fn stat_list_uidl() {
        assert_eq!(parse_stat(b"2 320").unwrap(), (2, 320));
        assert_eq!(parse_stat(b"2 320 extra words").unwrap(), (2, 320));
        for bad in [&b""[..], b"2", b"x 3", b"2 -1", b"99999999999 1", b" 2 3"] {
            assert!(parse_stat(bad).is_err(), "{:?}", show(bad));
        }
        assert_eq!(parse_list_line(b"1 120").unwrap(), (1, 120));
        assert!(parse_list_line(b"1").is_err());
        assert_eq!(
            parse_uidl_line(b"3 000000036b09d1c3").unwrap(),
            (3, "000000036b09d1c3".into())
        );
        assert!(parse_uidl_line(b"3").is_err());
        assert!(parse_uidl_line(b"3 ").is_err());
        assert!(parse_uidl_line(b"3 a b").is_err());
        assert!(parse_uidl_line(&[b"1 ".as_slice(), &[b'x'; 71]].concat()).is_err());
        assert!(parse_uidl_line(b"1 \xff").is_err());
    }

    #[test]
    fn unstuffing() {
        assert_eq!(unstuff(b"."), None);
        assert_eq!(unstuff(b".."), Some(&b"."[..]));
        assert_eq!(unstuff(b"..x"), Some(&b".x"[..]));
        assert_eq!(unstuff(b"x."), Some(&b"x."[..]));
    }

    #[test]
    fn sasl_token() {
        assert_eq!(
            sasl_plain("tim", "tanstaaftanstaaf"),
            "AHRpbQB0YW5zdGFhZnRhbnN0YWFm"
        );
    }
}
