//! One connection's byte pipe: a TCP socket on io_uring, optionally wrapped in TLS. Usually
//! a client's connection (Postern the TLS server); in proxy mode also the connection to a
//! backend (Postern the TLS client).
//!
//! Protocol sessions never see this type; the session drivers move bytes between it and the
//! sans-IO state machines. TLS is rustls used as a state machine too: ciphertext is read
//! from the socket and fed to rustls, plaintext comes out. On the plain path, message bodies
//! are handed to the kernel straight from their memory map in one vectored write (no
//! user-space copy); under TLS each byte is encrypted once, straight from the map, and
//! nothing else is copied.
//!
//! Buffers are small and released when a connection goes idle, because an idle connection's
//! memory is what limits how many a box can hold.

use std::io::{self, Read, Write};
use std::sync::Arc;

use compio::BufResult;
use compio::buf::IoBuf;
use compio::driver::ToSharedFd;
use compio::driver::op::{Interest, PollOnce, Splice, SpliceFlags};
use compio::io::{AsyncRead, AsyncReadManaged, AsyncWrite, AsyncWriteExt};
use compio::net::TcpStream;

use crate::body::MessageBody;

/// Size of a connection's fallback read buffer, used only when the worker's buffer ring is
/// exhausted; also the size of the ring's buffers (see the worker).
pub(crate) const READ_SIZE: usize = 4096;

/// How long a closing connection may take to deliver its TLS close_notify.
const CLOSE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);

/// Bytes received from the socket.
enum Received {
    /// A buffer from the worker's io_uring buffer ring; it goes back when dropped.
    Pooled(<TcpStream as AsyncReadManaged>::Buffer),
    /// The connection's own fallback buffer and the number of bytes in it.
    Owned(Vec<u8>, usize),
}

impl Received {
    fn bytes(&self) -> &[u8] {
        match self {
            Received::Pooled(b) => b.as_init(),
            Received::Owned(b, n) => &b[..*n],
        }
    }
}

/// A piece of output: protocol text or a range of a message body.
pub enum OutBuf {
    Bytes(Vec<u8>),
    Body(MessageBody, std::ops::Range<usize>),
}

impl OutBuf {
    fn bytes(&self) -> &[u8] {
        match self {
            OutBuf::Bytes(v) => v,
            OutBuf::Body(b, r) => &b.as_bytes()[r.clone()],
        }
    }
}

impl IoBuf for OutBuf {
    fn as_init(&self) -> &[u8] {
        self.bytes()
    }
}

/// A client connection, plain or TLS.
pub struct Transport {
    tcp: TcpStream,
    tls: Option<Box<rustls::Connection>>,
    /// The connection's own read buffer, used only when the worker's buffer ring is empty;
    /// taken while such a read is in flight, released when the connection goes idle.
    rbuf: Vec<u8>,
    /// TLS records waiting to be written.
    wbuf: Vec<u8>,
    /// Decrypted bytes handed to the caller by the last `read`.
    pbuf: Vec<u8>,
    /// The TLS peer sent close_notify.
    peer_closed: bool,
    /// rustls holds decrypted bytes nobody has taken yet: they can arrive together with the
    /// last handshake message, and then the socket has nothing more to say.
    plaintext_buffered: bool,
    /// Bytes read from the socket that belong to whoever reads next: what arrived behind a
    /// PROXY protocol header (see [`Transport::unread`]).
    unread: Vec<u8>,
}

impl Transport {
    pub fn new(tcp: TcpStream) -> Transport {
        Transport {
            tcp,
            tls: None,
            rbuf: Vec::new(),
            wbuf: Vec::new(),
            pbuf: Vec::new(),
            peer_closed: false,
            plaintext_buffered: false,
            unread: Vec::new(),
        }
    }

    /// Puts bytes back in front of the socket's input: the next read from the socket (by
    /// [`read`](Self::read) on a plain connection, or by the TLS handshake) returns them
    /// first, as if they had just arrived. Used once, before anything else reads, for the
    /// bytes that came in the same packets as a PROXY protocol header, so that a pipelined
    /// first command or TLS ClientHello is not lost.
    pub fn unread(&mut self, bytes: &[u8]) {
        debug_assert!(self.unread.is_empty(), "one push-back at a time");
        self.unread.extend_from_slice(bytes);
    }

    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// The negotiated SNI name, if any.
    pub fn sni(&self) -> Option<&str> {
        match self.tls.as_deref() {
            Some(rustls::Connection::Server(s)) => s.server_name(),
            _ => None,
        }
    }

    /// Runs the server side of a TLS handshake on this connection.
    pub async fn start_tls(&mut self, config: Arc<rustls::ServerConfig>) -> io::Result<()> {
        let conn = rustls::ServerConnection::new(config).map_err(io::Error::other)?;
        self.handshake(conn.into()).await
    }

    /// Runs the client side of a TLS handshake (a proxy's backend connection), verifying the
    /// server's certificate for `name` as `config` says.
    pub async fn connect_tls(
        &mut self,
        config: Arc<rustls::ClientConfig>,
        name: rustls_pki_types::ServerName<'static>,
    ) -> io::Result<()> {
        let conn = rustls::ClientConnection::new(config, name).map_err(io::Error::other)?;
        self.handshake(conn.into()).await
    }

    async fn handshake(&mut self, conn: rustls::Connection) -> io::Result<()> {
        self.tls = Some(Box::new(conn));
        loop {
            self.flush_tls().await?;
            let tls = self.tls.as_mut().expect("set above");
            if !tls.is_handshaking() {
                return Ok(());
            }
            if self.read_tls_records().await? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
    }

    /// Waits until the client has sent something (or closed the connection) without taking
    /// it. Unlike a pending read, this wait can be dropped at any moment without losing a
    /// byte: an io_uring read cancelled just as data arrives may have consumed the data, a
    /// poll has not. Sessions that wait for the client and for something else at once (IMAP
    /// IDLE waits for DONE and for new mail) wait here, then read.
    pub async fn readable(&self) -> io::Result<()> {
        if self.peer_closed || self.plaintext_buffered || !self.unread.is_empty() {
            return Ok(());
        }
        let op = PollOnce::new(self.tcp.to_shared_fd(), Interest::Readable);
        let BufResult(result, _) = compio::runtime::submit(op).await;
        result.map(|_| ())
    }

    /// Reads the next plaintext bytes from the client. An empty slice means the client closed
    /// the connection.
    pub async fn read(&mut self) -> io::Result<&[u8]> {
        let mut plain = std::mem::take(&mut self.pbuf);
        plain.clear();
        let result = if self.tls.is_none() {
            self.recv().await.map(|received| {
                plain.extend_from_slice(received.bytes());
                self.recycle(received);
            })
        } else {
            loop {
                // Plaintext may already be buffered: it can arrive with the last handshake flight.
                match self.drain_plaintext(&mut plain) {
                    Ok(0) => {}
                    Ok(_) => break Ok(()),
                    Err(e) => break Err(e),
                }
                // A peer's close_notify reads as a clean end of stream.
                if self.peer_closed {
                    break Ok(());
                }
                match self.read_tls_records().await {
                    Ok(0) => break Ok(()),
                    Ok(_) => {}
                    Err(e) => break Err(e),
                }
            }
        };
        self.pbuf = plain;
        result.map(|()| &self.pbuf[..])
    }

    /// Reads the next plaintext bytes into `buf` (replacing its contents), up to its
    /// capacity on a plain connection — a relay reads big chunks of a busy stream this way
    /// instead of the ring's small buffers. Returns the buffer; empty means the peer closed.
    pub async fn read_owned(&mut self, mut buf: Vec<u8>) -> (io::Result<()>, Vec<u8>) {
        buf.clear();
        if self.tls.is_some() || !self.unread.is_empty() {
            let result = self.read().await.map(|data| buf.extend_from_slice(data));
            return (result, buf);
        }
        let BufResult(result, buf) = self.tcp.read(buf).await;
        (result.map(drop), buf)
    }

    /// Writes `buf` whole and gives it back for reuse.
    pub async fn write_owned(&mut self, buf: Vec<u8>) -> (io::Result<()>, Vec<u8>) {
        if self.tls.is_none() {
            let BufResult(result, buf) = self.tcp.write_all(buf).await;
            return (result, buf);
        }
        let mut result = self.encrypt(&buf).await;
        if result.is_ok() {
            result = self.flush_tls().await;
        }
        (result, buf)
    }

    /// Hands plaintext to rustls, putting records on the wire whenever its outgoing buffer
    /// fills up (the last ones stay queued for the caller's `flush_tls`).
    async fn encrypt(&mut self, mut rest: &[u8]) -> io::Result<()> {
        while !rest.is_empty() {
            let tls = self.tls.as_mut().expect("tls");
            let n = tls.writer().write(rest)?;
            rest = &rest[n..];
            if n == 0 || tls.wants_write() && !rest.is_empty() {
                self.flush_tls().await?;
            }
        }
        Ok(())
    }

    /// Receives bytes from the socket into a buffer lent by the worker's io_uring buffer ring,
    /// so a connection waiting for its client holds no read buffer of its own. If the ring is
    /// empty (a burst on many connections at once), it falls back to a buffer of its own.
    async fn recv(&mut self) -> io::Result<Received> {
        if !self.unread.is_empty() {
            let bytes = std::mem::take(&mut self.unread);
            let n = bytes.len();
            return Ok(Received::Owned(bytes, n));
        }
        match self.tcp.read_managed(0).await {
            Ok(Some(buf)) => return Ok(Received::Pooled(buf)),
            Ok(None) => return Ok(Received::Owned(Vec::new(), 0)),
            // compio reports the kernel's ENOBUFS (the ring is empty) as ResourceBusy.
            Err(e)
                if e.kind() == io::ErrorKind::ResourceBusy
                    || e.raw_os_error() == Some(libc::ENOBUFS) => {}
            Err(e) => return Err(e),
        }
        let mut buf = std::mem::take(&mut self.rbuf);
        if buf.capacity() < READ_SIZE {
            buf = Vec::with_capacity(READ_SIZE);
        }
        buf.clear();
        let BufResult(res, buf) = self.tcp.read(buf).await;
        match res {
            Ok(n) => Ok(Received::Owned(buf, n)),
            Err(e) => {
                self.rbuf = buf;
                Err(e)
            }
        }
    }

    /// Returns a fallback read buffer for the next fallback read (pooled ones go back to the
    /// ring when dropped).
    fn recycle(&mut self, received: Received) {
        if let Received::Owned(buf, _) = received {
            self.rbuf = buf;
        }
    }

    fn drain_plaintext(&mut self, out: &mut Vec<u8>) -> io::Result<usize> {
        let tls = self.tls.as_mut().expect("tls");
        let start = out.len();
        let mut chunk = [0u8; 2048];
        loop {
            match tls.reader().read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => out.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(e),
            }
        }
        self.plaintext_buffered = false;
        Ok(out.len() - start)
    }

    /// Reads ciphertext from the socket into rustls and processes it. Returns the bytes read
    /// from the socket (0 at end of stream). Any records rustls wants to send in answer
    /// (handshake messages, alerts) are written before returning.
    async fn read_tls_records(&mut self) -> io::Result<usize> {
        let received = self.recv().await?;
        let tls = self.tls.as_mut().expect("tls");
        let mut offered = received.bytes();
        let n = offered.len();
        let mut failure = None;
        while !offered.is_empty() {
            if let Err(e) = tls.read_tls(&mut offered) {
                failure = Some(e);
                break;
            }
            match tls.process_new_packets() {
                Ok(state) => {
                    self.peer_closed |= state.peer_has_closed();
                    self.plaintext_buffered |= state.plaintext_bytes_to_read() > 0;
                }
                Err(e) => {
                    failure = Some(io::Error::new(io::ErrorKind::InvalidData, e));
                    break;
                }
            }
        }
        self.recycle(received);
        if let Some(e) = failure {
            // Tell the peer why, if we can; the error stands either way.
            let _ = self.flush_tls().await;
            return Err(e);
        }
        self.flush_tls().await?;
        Ok(n)
    }

    /// Writes everything rustls has queued for the socket.
    async fn flush_tls(&mut self) -> io::Result<()> {
        let Some(tls) = self.tls.as_mut() else {
            return Ok(());
        };
        while tls.wants_write() {
            let mut wbuf = std::mem::take(&mut self.wbuf);
            wbuf.clear();
            tls.write_tls(&mut wbuf)?;
            let BufResult(res, wbuf) = self.tcp.write_all(wbuf).await;
            self.wbuf = wbuf;
            res?;
        }
        Ok(())
    }

    /// Writes a batch of output. Returns the vector (emptied) for reuse.
    pub async fn write_batch(&mut self, mut bufs: Vec<OutBuf>) -> io::Result<Vec<OutBuf>> {
        if bufs.is_empty() {
            return Ok(bufs);
        }
        if self.tls.is_none() {
            let BufResult(res, mut bufs) = self.tcp.write_vectored_all(bufs).await;
            bufs.clear();
            res?;
            return Ok(bufs);
        }
        for b in &bufs {
            self.encrypt(b.bytes()).await?;
        }
        self.flush_tls().await?;
        bufs.clear();
        Ok(bufs)
    }

    /// Frees the buffers an idle connection does not need.
    pub fn release_buffers(&mut self) {
        if self.wbuf.capacity() > 0 {
            self.wbuf = Vec::new();
        }
        if self.pbuf.capacity() > 0 {
            self.pbuf = Vec::new();
        }
        if self.rbuf.capacity() > 0 {
            self.rbuf = Vec::new();
        }
    }

    /// Sends TLS close_notify (if TLS) and shuts the socket down.
    /// A peer that does not read gets a few seconds for the close_notify, not forever.
    pub async fn close(mut self) {
        if let Some(tls) = self.tls.as_mut() {
            tls.send_close_notify();
            let _ = crate::server::race::timeout(CLOSE_TIMEOUT, self.flush_tls()).await;
        }
        let _ = self.tcp.shutdown().await;
        let _ = self.tcp.close().await;
    }
}

/// A pipe lent to a relay for one splice transfer: socket to pipe, then pipe to socket, so
/// the bytes never enter user space. Shared ends, because an io_uring operation owns what it
/// works on until it completes.
pub(crate) struct Pipe {
    read: Arc<std::io::PipeReader>,
    write: Arc<std::io::PipeWriter>,
}

impl Pipe {
    pub fn new() -> io::Result<Pipe> {
        let (read, write) = std::io::pipe()?;
        Ok(Pipe {
            read: Arc::new(read),
            write: Arc::new(write),
        })
    }
}

impl Transport {
    /// Can bytes go from this connection to `other` by splice: both plain, and nothing
    /// already read from this one waiting to be handed out?
    pub fn can_splice_to(&self, other: &Transport) -> bool {
        self.tls.is_none() && other.tls.is_none() && self.unread.is_empty()
    }

    /// Moves up to `max` bytes that have arrived on this socket into `pipe`; 0 means the
    /// peer closed the connection.
    pub async fn splice_in(&self, pipe: &Pipe, max: usize) -> io::Result<usize> {
        let op = Splice::new(
            self.tcp.to_shared_fd(),
            -1,
            pipe.write.clone(),
            -1,
            max,
            SpliceFlags::empty(),
        );
        compio::runtime::submit(op).await.0
    }

    /// Moves exactly `len` bytes from `pipe` to this socket.
    pub async fn splice_out(&self, pipe: &Pipe, mut len: usize) -> io::Result<()> {
        while len > 0 {
            let op = Splice::new(
                pipe.read.clone(),
                -1,
                self.tcp.to_shared_fd(),
                -1,
                len,
                SpliceFlags::empty(),
            );
            match compio::runtime::submit(op).await.0? {
                0 => return Err(io::ErrorKind::WriteZero.into()),
                n => len -= n,
            }
        }
        Ok(())
    }
}
