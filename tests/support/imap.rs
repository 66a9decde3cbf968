//! A minimal IMAP client for raw protocol tests: sends command lines, reads responses with
//! their literals, over plain TCP or TLS.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

/// A byte stream an IMAP client can run over.
pub trait Stream: Read + Write {}
impl<T: Read + Write> Stream for T {}

pub struct Client {
    pub reader: BufReader<Box<dyn Stream>>,
    next_tag: u32,
}

/// One response: the whole thing, literals included, CRLFs kept.
pub type Response = Vec<u8>;

impl Client {
    /// Connects and reads the greeting.
    pub fn connect(addr: SocketAddr) -> (Client, String) {
        let s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        Client::over(Box::new(s))
    }

    /// Connects with implicit TLS, trusting `cert`.
    pub fn connect_tls(addr: SocketAddr, cert: &Path) -> (Client, String) {
        let s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let name = rustls_pki_types::ServerName::try_from("localhost".to_owned()).unwrap();
        let conn = rustls::ClientConnection::new(super::client_tls(cert), name).unwrap();
        Client::over(Box::new(rustls::StreamOwned::new(conn, s)))
    }

    /// Runs over a stream already connected (and, say, past a PROXY protocol header);
    /// reads the greeting.
    pub fn over(stream: Box<dyn Stream>) -> (Client, String) {
        let mut c = Client {
            reader: BufReader::new(stream),
            next_tag: 1,
        };
        let greeting = c.response();
        (c, String::from_utf8_lossy(&greeting).into_owned())
    }

    pub fn send(&mut self, bytes: &[u8]) {
        let w = self.reader.get_mut();
        w.write_all(bytes).unwrap();
        w.flush().unwrap();
    }

    /// Reads one response (a line plus any literals it announces).
    pub fn response(&mut self) -> Response {
        let mut out = Vec::new();
        loop {
            let mut line = Vec::new();
            self.reader.read_until(b'\n', &mut line).unwrap();
            assert!(
                !line.is_empty(),
                "connection closed; so far: {}",
                String::from_utf8_lossy(&out)
            );
            out.extend_from_slice(&line);
            match literal_size(&line) {
                Some(n) => {
                    let mut data = vec![0; n];
                    self.reader.read_exact(&mut data).unwrap();
                    out.extend_from_slice(&data);
                }
                None => return out,
            }
        }
    }

    /// Sends `a<n> <command>` and reads up to its tagged answer. Returns the untagged
    /// responses and the tagged line.
    pub fn command(&mut self, command: &str) -> (Vec<Response>, String) {
        let tag = format!("a{}", self.next_tag);
        self.next_tag += 1;
        self.send(format!("{tag} {command}\r\n").as_bytes());
        self.until_tagged(&tag)
    }

    /// Reads responses until the one tagged `tag`.
    pub fn until_tagged(&mut self, tag: &str) -> (Vec<Response>, String) {
        let mut untagged = Vec::new();
        loop {
            let r = self.response();
            if r.starts_with(format!("{tag} ").as_bytes()) {
                return (untagged, String::from_utf8_lossy(&r).into_owned());
            }
            untagged.push(r);
        }
    }

    /// Like [`command`](Self::command) but asserts a tagged OK.
    pub fn ok(&mut self, command: &str) -> Vec<Response> {
        let (untagged, tagged) = self.command(command);
        assert!(
            tagged.split(' ').nth(1) == Some("OK"),
            "{command}: {tagged}\n{}",
            show(&untagged)
        );
        untagged
    }

    pub fn login(&mut self, user: &str, password: &str) {
        self.ok(&format!("LOGIN {user} {password}"));
    }

    /// APPENDs a message with a synchronizing literal; `flags` is `""` or a list such as
    /// `(\Seen)`. Returns the tagged line.
    pub fn append(&mut self, mailbox: &str, flags: &str, message: &[u8]) -> String {
        self.append_all(mailbox, flags, message).1
    }

    /// APPENDs a message; returns the untagged responses and the tagged line.
    pub fn append_all(
        &mut self,
        mailbox: &str,
        flags: &str,
        message: &[u8],
    ) -> (Vec<Response>, String) {
        let tag = format!("a{}", self.next_tag);
        self.next_tag += 1;
        let flags = if flags.is_empty() {
            String::new()
        } else {
            format!("{flags} ")
        };
        self.send(format!("{tag} APPEND {mailbox} {flags}{{{}}}\r\n", message.len()).as_bytes());
        let cont = self.response();
        assert!(cont.starts_with(b"+"), "{}", String::from_utf8_lossy(&cont));
        self.send(message);
        self.send(b"\r\n");
        self.until_tagged(&tag)
    }

    /// Reads responses until one contains `needle` or `timeout` passes.
    pub fn wait_for(&mut self, needle: &str, timeout: Duration) -> Option<(Response, Duration)> {
        let start = Instant::now();
        loop {
            let r = self.response();
            if String::from_utf8_lossy(&r).contains(needle) {
                return Some((r, start.elapsed()));
            }
            if start.elapsed() > timeout {
                return None;
            }
        }
    }
}

/// `{123}\r\n` at the end of a line.
fn literal_size(line: &[u8]) -> Option<usize> {
    let line = line
        .strip_suffix(b"\r\n")
        .or_else(|| line.strip_suffix(b"\n"))?;
    let line = line.strip_suffix(b"}")?;
    let open = line.iter().rposition(|&b| b == b'{')?;
    std::str::from_utf8(&line[open + 1..]).ok()?.parse().ok()
}

/// The literal data of the first `ITEM {n}` in a response.
pub fn literal_after(response: &[u8], item: &str) -> Option<Vec<u8>> {
    let needle = format!("{item} {{");
    let at = memfind(response, needle.as_bytes())?;
    let rest = &response[at + needle.len()..];
    let close = rest.iter().position(|&b| b == b'}')?;
    let n: usize = std::str::from_utf8(&rest[..close]).ok()?.parse().ok()?;
    let data = rest.get(close + 3..close + 3 + n)?;
    Some(data.to_vec())
}

fn memfind(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

pub fn show(responses: &[Response]) -> String {
    responses
        .iter()
        .map(|r| String::from_utf8_lossy(r).into_owned())
        .collect()
}
