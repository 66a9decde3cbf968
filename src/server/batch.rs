//! Turning a session's output into few, large vectored writes, with the deadlines every
//! protocol's writes share.
//!
//! Protocol text and message bytes are collected into one batch of [`OutBuf`]s and written
//! with one vectored write (one TLS record run) when the batch is full or the session has
//! nothing more to say. Once the server is closing, a session's last words get a short
//! deadline of their own; before that, a write stuck on a client that stopped reading is cut
//! off by shutdown as well as by the session's idle timer.

use std::io;
use std::time::Duration;

use super::Shared;
use super::shutdown::Phase;
use super::transport::{OutBuf, Transport};

/// Output is written in vectored batches of at most this many bytes...
const BATCH_BYTES: usize = 256 * 1024;
/// ...and this many pieces.
const BATCH_PIECES: usize = 64;
/// Converted message bytes (CRLF, dot-stuffing) are produced in pieces of this size.
pub(crate) const SCRATCH_SIZE: usize = 16 * 1024;
/// How long the final answer of a session that the server is closing may take to send.
const FINAL_WRITE_TIMEOUT: Duration = Duration::from_secs(3);

/// Output being collected for one vectored write.
#[derive(Default)]
pub(crate) struct Batch {
    bufs: Vec<OutBuf>,
    bytes: usize,
    /// Where converted message bytes are produced before they become a piece.
    scratch: Vec<u8>,
}

impl Batch {
    /// Adds a piece, writing the batch first if it is full.
    pub(crate) async fn push(&mut self, transport: &mut Transport, buf: OutBuf) -> io::Result<()> {
        self.bytes += match &buf {
            OutBuf::Bytes(b) => b.len(),
            OutBuf::Body(_, r) => r.len(),
        };
        self.bufs.push(buf);
        if self.bytes >= BATCH_BYTES || self.bufs.len() >= BATCH_PIECES {
            self.write(transport).await?;
        }
        Ok(())
    }

    /// The buffer to produce converted bytes into (empty); [`push_scratch`](Self::push_scratch)
    /// makes what it holds the next piece.
    pub(crate) fn scratch(&mut self) -> &mut Vec<u8> {
        if self.scratch.capacity() == 0 {
            self.scratch = Vec::with_capacity(SCRATCH_SIZE);
        }
        &mut self.scratch
    }

    /// Adds what the scratch buffer holds as a piece (nothing if it is empty).
    pub(crate) async fn push_scratch(&mut self, transport: &mut Transport) -> io::Result<()> {
        if self.scratch.is_empty() {
            return Ok(());
        }
        let piece = std::mem::replace(&mut self.scratch, Vec::with_capacity(SCRATCH_SIZE));
        self.push(transport, OutBuf::Bytes(piece)).await
    }

    /// Writes whatever is collected.
    pub(crate) async fn write(&mut self, transport: &mut Transport) -> io::Result<()> {
        self.bufs = transport
            .write_batch(std::mem::take(&mut self.bufs))
            .await?;
        self.bytes = 0;
        Ok(())
    }

    /// An idle session keeps no batch: memory per idle connection is what limits how many a
    /// server holds.
    pub(crate) fn release(&mut self) {
        if self.bufs.capacity() > BATCH_PIECES / 4 {
            self.bufs = Vec::new();
        }
        if self.scratch.capacity() > 0 {
            self.scratch = Vec::new();
        }
    }
}

/// Runs a session's write under the deadlines (see the module docs). `Err` means the
/// connection is to be closed; the reason has been logged.
pub(crate) async fn guarded(
    shared: &Shared,
    timeout: Duration,
    write: impl Future<Output = io::Result<()>>,
) -> Result<(), ()> {
    let written = if shared.shutdown.phase() >= Phase::Closing {
        Some(crate::server::race::timeout(FINAL_WRITE_TIMEOUT, write).await)
    } else {
        shared
            .shutdown
            .unless_closing(crate::server::race::timeout(timeout, write))
            .await
    };
    match written {
        Some(Ok(Ok(()))) => Ok(()),
        Some(Ok(Err(e))) => {
            tracing::debug!("write failed: {e}");
            Err(())
        }
        Some(Err(_)) => {
            tracing::debug!("client stopped reading; closing");
            Err(())
        }
        None => Err(()),
    }
}
