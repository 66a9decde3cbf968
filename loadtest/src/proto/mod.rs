//! Minimal POP3 and IMAP clients for load generation, and the buffered connection they share.
//!
//! They implement exactly what the scenarios need, but implement it strictly: a load test
//! that accepts a malformed or wrong answer measures nothing. Every reply is parsed by
//! functions that never panic, whatever the bytes, and every read has a timeout, so a
//! misbehaving or stalled server turns into a counted error, never a hung or crashed run.
//!
//! Message bodies can be large and there can be tens of thousands of sessions, so bodies are
//! streamed: a caller says whether it wants the bytes kept (for byte-for-byte verification)
//! or only counted.

pub mod imap;
pub mod pop3;

use std::time::Duration;

use rustls_pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::TlsConnector;

use crate::net::BoxIo;

/// Longest reply line (IMAP: text between literals) accepted. Real servers stay far below;
/// a server that sends endless bytes without a newline must not eat the client's memory.
pub const MAX_LINE: usize = 1024 * 1024;
/// Largest message body kept in memory for verification; bigger ones are only counted.
pub const MAX_KEPT: u64 = 256 * 1024 * 1024;
/// Read sizes: a session starts small and idle (an IDLE session should hold little memory,
/// there may be tens of thousands), and grows its reads while a transfer fills them.
const MIN_READ: usize = 1024;
const MAX_READ: usize = 64 * 1024;

/// What went wrong talking to a server. [`kind`](ProtoError::kind) is the error class the
/// run's report counts.
#[derive(Debug, thiserror::Error)]
pub enum ProtoError {
    #[error("timed out waiting for {0}")]
    Timeout(&'static str),
    #[error("connection closed by the server while waiting for {0}")]
    Closed(&'static str),
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    #[error("TLS handshake failed: {0}")]
    Tls(std::io::Error),
    #[error("login refused: {0}")]
    Login(String),
    #[error("command refused: {0}")]
    Refused(String),
    #[error("malformed reply: {0}")]
    Malformed(String),
}

impl ProtoError {
    /// The error class for the report.
    pub fn kind(&self) -> &'static str {
        match self {
            ProtoError::Timeout(_) => "timeout",
            ProtoError::Closed(_) | ProtoError::Io(_) => "io",
            ProtoError::Tls(_) => "tls",
            ProtoError::Login(_) => "login",
            ProtoError::Refused(_) | ProtoError::Malformed(_) => "protocol",
        }
    }
}

/// Printable form of server bytes for error messages: lossy UTF-8, shortened.
pub fn show(bytes: &[u8]) -> String {
    const MAX: usize = 200;
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(MAX)]);
    let mut s: String = text
        .chars()
        .map(|c| if c.is_control() { '.' } else { c })
        .collect();
    if bytes.len() > MAX {
        s.push('…');
    }
    s
}

/// A connection with a read buffer and a timeout on every read and write.
pub struct Wire {
    /// `None` only after a failed TLS upgrade consumed the stream.
    io: Option<BoxIo>,
    /// Unread input is `buf[pos..]`.
    buf: Vec<u8>,
    pos: usize,
    /// Spare room to offer the next read; adapts to the traffic.
    read_size: usize,
    timeout: Duration,
}

impl Wire {
    pub fn new(io: BoxIo, timeout: Duration) -> Wire {
        Wire {
            io: Some(io),
            buf: Vec::new(),
            pos: 0,
            read_size: 4 * MIN_READ,
            timeout,
        }
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Input received but not consumed yet.
    pub fn buffered(&self) -> &[u8] {
        &self.buf[self.pos..]
    }

    /// Marks `n` buffered bytes as consumed.
    pub fn consume(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.buf.len());
    }

    fn io(&mut self) -> Result<&mut BoxIo, ProtoError> {
        self.io.as_mut().ok_or_else(|| {
            ProtoError::Io(std::io::Error::new(
                std::io::ErrorKind::NotConnected,
                "connection lost in a failed TLS upgrade",
            ))
        })
    }

    /// Reads more input (at least one byte) within the timeout.
    pub async fn fill(&mut self, what: &'static str) -> Result<(), ProtoError> {
        let timeout = self.timeout;
        match self.fill_within(timeout, what).await? {
            true => Ok(()),
            false => Err(ProtoError::Timeout(what)),
        }
    }

    /// Reads more input within `limit`; `Ok(false)` if nothing came in time. Cancel-safe:
    /// nothing read is lost if the future is dropped.
    pub async fn fill_within(
        &mut self,
        limit: Duration,
        what: &'static str,
    ) -> Result<bool, ProtoError> {
        if self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
            // Drained: give back what a big transfer needed, before a possibly long wait.
            if self.buf.capacity() > 4 * self.read_size {
                self.buf = Vec::with_capacity(self.read_size);
            }
        } else if self.pos > 0 && self.pos * 2 >= self.buf.len() {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        let spare = self.buf.capacity() - self.buf.len();
        if spare < self.read_size {
            self.buf.reserve(self.read_size);
        }
        let offered = self.buf.capacity() - self.buf.len();
        let mut buf = std::mem::take(&mut self.buf);
        let result = match self.io() {
            Ok(io) => tokio::time::timeout(limit, io.read_buf(&mut buf)).await,
            Err(e) => {
                self.buf = buf;
                return Err(e);
            }
        };
        self.buf = buf;
        match result {
            Err(_) => Ok(false),
            Ok(Ok(0)) => Err(ProtoError::Closed(what)),
            Ok(Ok(n)) => {
                if n >= offered {
                    self.read_size = (self.read_size * 2).min(MAX_READ);
                } else if n < self.read_size / 8 {
                    self.read_size = (self.read_size / 2).max(MIN_READ);
                }
                Ok(true)
            }
            Ok(Err(e)) => Err(ProtoError::Io(e)),
        }
    }

    /// The next line without its line ending (CRLF, or a bare LF from a sloppy server).
    pub async fn read_line(&mut self, what: &'static str) -> Result<&[u8], ProtoError> {
        let timeout = self.timeout;
        match self.read_line_within(timeout, what).await? {
            Some((start, end)) => Ok(&self.buf[start..end]),
            None => Err(ProtoError::Timeout(what)),
        }
    }

    /// Like [`read_line`](Self::read_line), but `Ok(None)` when no complete line arrived
    /// within `limit` (the partial line stays buffered). Returns the line's range in the
    /// buffer, valid until the next read.
    pub async fn read_line_within(
        &mut self,
        limit: Duration,
        what: &'static str,
    ) -> Result<Option<(usize, usize)>, ProtoError> {
        let deadline = tokio::time::Instant::now() + limit;
        let mut scanned = 0;
        loop {
            let unread = &self.buf[self.pos..];
            if let Some(i) = memchr::memchr(b'\n', &unread[scanned..]) {
                let start = self.pos;
                let mut end = start + scanned + i;
                self.pos = end + 1;
                if end > start && self.buf[end - 1] == b'\r' {
                    end -= 1;
                }
                return Ok(Some((start, end)));
            }
            scanned = unread.len();
            if scanned > MAX_LINE {
                return Err(ProtoError::Malformed(format!(
                    "reply line longer than {MAX_LINE} bytes while waiting for {what}"
                )));
            }
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            // `fill` may move the unread bytes to the front of the buffer; `scanned` counts
            // from the first unread byte, so it stays valid.
            if !self.fill_within(left, what).await? {
                return Ok(None);
            }
        }
    }

    /// The bytes of a line returned by [`read_line_within`](Self::read_line_within).
    pub fn line_at(&self, start: usize, end: usize) -> &[u8] {
        self.buf.get(start..end).unwrap_or_default()
    }

    /// Reads exactly `n` bytes; returns them if `keep` (and they are not absurdly large),
    /// otherwise only consumes them.
    pub async fn read_exact(
        &mut self,
        n: u64,
        keep: bool,
        what: &'static str,
    ) -> Result<Option<Vec<u8>>, ProtoError> {
        if keep && n > MAX_KEPT {
            return Err(ProtoError::Malformed(format!(
                "{n}-byte literal is too large to keep"
            )));
        }
        let mut kept = keep.then(|| Vec::with_capacity(usize::try_from(n).unwrap_or(0)));
        let mut left = n;
        while left > 0 {
            if self.buffered().is_empty() {
                self.fill(what).await?;
            }
            let avail = self.buffered();
            let take = usize::try_from(left).unwrap_or(usize::MAX).min(avail.len());
            if let Some(k) = kept.as_mut() {
                k.extend_from_slice(&avail[..take]);
            }
            self.consume(take);
            left -= take as u64;
        }
        Ok(kept)
    }

    /// Writes all of `data` and flushes it, within the timeout.
    pub async fn send(&mut self, data: &[u8], what: &'static str) -> Result<(), ProtoError> {
        let timeout = self.timeout;
        let io = self.io()?;
        let write = async {
            io.write_all(data).await?;
            io.flush().await
        };
        match tokio::time::timeout(timeout, write).await {
            Err(_) => Err(ProtoError::Timeout(what)),
            Ok(Err(e)) => Err(ProtoError::Io(e)),
            Ok(Ok(())) => Ok(()),
        }
    }

    /// Replaces the plain stream by TLS over it (after STARTTLS/STLS was accepted).
    /// Input the server sent after its "go ahead" is refused: it would be plaintext
    /// injected into what the client then trusts as protected (CVE-2011-0411 and kin).
    pub async fn start_tls(
        &mut self,
        connector: &TlsConnector,
        name: ServerName<'static>,
    ) -> Result<(), ProtoError> {
        if !self.buffered().is_empty() {
            return Err(ProtoError::Malformed(format!(
                "server sent data after accepting STARTTLS: {}",
                show(self.buffered())
            )));
        }
        let io = self.io.take().ok_or_else(|| {
            ProtoError::Io(std::io::Error::new(
                std::io::ErrorKind::NotConnected,
                "connection lost in a failed TLS upgrade",
            ))
        })?;
        match tokio::time::timeout(self.timeout, connector.connect(name, io)).await {
            Err(_) => Err(ProtoError::Timeout("TLS handshake")),
            Ok(Err(e)) => Err(ProtoError::Tls(e)),
            Ok(Ok(tls)) => {
                self.io = Some(Box::new(tls));
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire(input: &[u8]) -> Wire {
        let (client, mut server) = tokio::io::duplex(1 << 16);
        let input = input.to_vec();
        tokio::spawn(async move {
            server.write_all(&input).await.unwrap();
            // Keep the pipe open long enough for the reads; closing is tested separately.
            tokio::time::sleep(Duration::from_millis(200)).await;
        });
        Wire::new(Box::new(client), Duration::from_millis(100))
    }

    #[tokio::test]
    async fn lines_and_exact_reads() {
        let mut w = wire(b"one\r\ntwo\nthree-partial");
        assert_eq!(w.read_line("x").await.unwrap(), b"one");
        assert_eq!(w.read_line("x").await.unwrap(), b"two");
        assert_eq!(w.read_exact(5, true, "x").await.unwrap().unwrap(), b"three");
        assert!(w.read_exact(8, false, "x").await.unwrap().is_none());
        // Nothing more arrives: a timeout, not a hang.
        assert!(matches!(
            w.read_line("more").await,
            Err(ProtoError::Timeout("more"))
        ));
    }

    #[tokio::test]
    async fn closed_connection_is_an_error() {
        let (client, server) = tokio::io::duplex(64);
        drop(server);
        let mut w = Wire::new(Box::new(client), Duration::from_secs(1));
        let err = w.read_line("greeting").await.unwrap_err();
        assert_eq!(err.kind(), "io");
    }

    #[test]
    fn show_is_printable_and_short() {
        assert_eq!(show(b"a\r\nb"), "a..b");
        assert!(show(&[b'x'; 500]).ends_with('…'));
    }
}
