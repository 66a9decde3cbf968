//! A slow network link emulated inside the client: a bandwidth cap and a one-way delay in each
//! direction, wrapped around any socket.
//!
//! Servers behave very differently when their clients sit behind a 64 kbit/s mobile link
//! than over loopback: sessions last longer, output buffers fill, and a server that keeps
//! per-session state pays for it. Shaping traffic with `tc` needs root and a dedicated
//! interface; doing it here needs neither and works per connection.
//!
//! The model is a link with bandwidth `B` and one-way delay `d = rtt / 2`. A chunk of `n`
//! bytes handed to the link at time `t` starts transmission when the link is free
//! (`max(t, busy_until)`), takes `n·8/B` seconds to serialise, and becomes visible at the
//! far end `d` later. That is a token bucket with no burst allowance per direction
//! (`busy_until` is the time the bucket has refilled), followed by a delay line:
//!
//! * writes are queued with their due time and written to the socket only when due, so the
//!   server sees them `d` (plus serialisation) after the client wrote them;
//! * reads take what the socket has, queue it with its due time, and hand it to the caller
//!   only when due, so the client sees server bytes `d` (plus serialisation) after they
//!   arrived.
//!
//! Each queue is bounded (about one bandwidth-delay product), so a fast sender is held back
//! by the socket's own flow control just as it would be by a real slow link.
//!
//! Cost: no task, no thread and no polling loop per connection. The wrapper keeps at most
//! two tokio timers, armed only while something is queued and not yet due; the session task
//! that polls the stream is woken by them. Queues are allocated on first use and released
//! when they drain, so an idle connection costs a few dozen bytes. With no bandwidth cap and
//! no delay the wrapper is a plain pass-through.
//!
//! The wrapper is meant to be polled by one task (a client session). Reads also push due
//! writes out, so a command written without an explicit flush still reaches the server
//! while the session waits for the answer.

use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// Smallest unit the pacer releases at once: about one TCP segment. Smaller units would only
/// wake the session more often without making the timing any more realistic.
const MIN_SEGMENT: usize = 1460;
/// Pacing granularity: a segment carries at most this much transmission time (or
/// [`MIN_SEGMENT`] bytes, whichever is more), bounding timer wake-ups to ~50 per second.
const SEGMENT_TIME: Duration = Duration::from_millis(20);
/// Bytes queued per direction when the bandwidth-delay product is tiny.
const MIN_QUEUE: usize = 16 * 1024;
/// Bytes queued per direction at most (unlimited bandwidth with a delay has an infinite
/// bandwidth-delay product).
const MAX_QUEUE: usize = 1024 * 1024;
/// Read size from the socket into the delay line.
const READ_CHUNK: usize = 16 * 1024;

/// What the link does to traffic: bandwidth (`None` = unlimited) and round-trip delay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    pub bits_per_sec: Option<u64>,
    pub rtt: Duration,
}

impl Shape {
    /// Whether the link changes anything at all.
    pub fn is_transparent(&self) -> bool {
        self.bits_per_sec.is_none() && self.rtt.is_zero()
    }

    /// Time to serialise `n` bytes onto the link.
    fn transmission(&self, n: usize) -> Duration {
        match self.bits_per_sec {
            None => Duration::ZERO,
            Some(bps) => {
                let nanos = (n as u128 * 8 * 1_000_000_000) / u128::from(bps.max(1));
                Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
            }
        }
    }

    /// Bytes per pacing segment.
    fn segment(&self) -> usize {
        match self.bits_per_sec {
            None => usize::MAX,
            Some(bps) => {
                let per_slot = (u128::from(bps) * SEGMENT_TIME.as_nanos()) / (8 * 1_000_000_000);
                usize::try_from(per_slot)
                    .unwrap_or(usize::MAX)
                    .max(MIN_SEGMENT)
            }
        }
    }

    /// Queue bound per direction: about one bandwidth-delay product, within fixed limits.
    fn queue_limit(&self) -> usize {
        let one_way = self.rtt / 2;
        match self.bits_per_sec {
            None if one_way.is_zero() => MIN_QUEUE,
            None => MAX_QUEUE,
            Some(bps) => {
                // Delay plus a second's worth of pacing slack.
                let window = one_way + Duration::from_secs(1);
                let bdp = (u128::from(bps) * window.as_nanos()) / (8 * 1_000_000_000);
                usize::try_from(bdp)
                    .unwrap_or(MAX_QUEUE)
                    .clamp(MIN_QUEUE, MAX_QUEUE)
            }
        }
    }
}

/// Bytes in flight in one direction: a byte queue plus the due time of each segment.
#[derive(Default)]
struct DelayLine {
    /// Queued bytes are `bytes[head..]`.
    bytes: Vec<u8>,
    head: usize,
    /// `(due, len)` per segment, in order; the lengths add up to the queued bytes.
    segments: VecDeque<(Instant, usize)>,
    /// When the emulated link finishes serialising what is queued (the token bucket).
    busy_until: Option<Instant>,
    /// Timer for the head segment, allocated the first time one is needed.
    timer: Option<Pin<Box<Sleep>>>,
}

impl DelayLine {
    fn queued(&self) -> usize {
        self.bytes.len() - self.head
    }

    /// Queues `data` as it enters the link now, split into paced segments.
    fn push(&mut self, shape: &Shape, data: &[u8]) {
        let now = Instant::now();
        let one_way = shape.rtt / 2;
        let seg = shape.segment();
        let mut start = self.busy_until.map_or(now, |b| b.max(now));
        for piece in data.chunks(seg.min(data.len().max(1))) {
            start += shape.transmission(piece.len());
            self.segments.push_back((start + one_way, piece.len()));
        }
        self.busy_until = Some(start);
        self.bytes.extend_from_slice(data);
    }

    /// The head segment's bytes, if it is due; otherwise arms the timer for it and returns
    /// `Pending` (or `Ready(None)` when nothing is queued).
    fn poll_due(&mut self, cx: &mut Context<'_>) -> Poll<Option<&[u8]>> {
        let Some(&(due, len)) = self.segments.front() else {
            return Poll::Ready(None);
        };
        if due > Instant::now() {
            let timer = self
                .timer
                .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(due)));
            if timer.deadline() != due {
                timer.as_mut().reset(due);
            }
            if timer.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
        }
        Poll::Ready(Some(&self.bytes[self.head..self.head + len]))
    }

    /// Removes `n` bytes (at most the head segment) from the front.
    fn consume(&mut self, n: usize) {
        let Some(front) = self.segments.front_mut() else {
            return;
        };
        let n = n.min(front.1);
        front.1 -= n;
        if front.1 == 0 {
            self.segments.pop_front();
        }
        self.head += n;
        if self.segments.is_empty() {
            // Drained: give the memory back, an idle connection should cost nothing.
            self.bytes = Vec::new();
            self.head = 0;
            self.timer = None;
        } else if self.head > 64 * 1024 && self.head * 2 > self.bytes.len() {
            self.bytes.drain(..self.head);
            self.head = 0;
        }
    }
}

/// A stream whose traffic is shaped as by a slow link (see the module docs).
pub struct SlowLink<S> {
    inner: S,
    shape: Shape,
    /// Client → server.
    out: DelayLine,
    /// Server → client.
    inb: DelayLine,
    /// Socket read buffer for the delay line (kept only while shaping).
    scratch: Vec<u8>,
    /// The server closed its side: `Some(due)` is when the client gets to see that.
    eof_due: Option<Instant>,
}

impl<S> SlowLink<S> {
    pub fn new(inner: S, shape: Shape) -> Self {
        SlowLink {
            inner,
            shape,
            out: DelayLine::default(),
            inb: DelayLine::default(),
            scratch: Vec::new(),
            eof_due: None,
        }
    }

    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S: AsyncWrite + Unpin> SlowLink<S> {
    /// Writes every due queued segment to the socket. `Ready(Ok)` once the queue is empty.
    fn poll_drain_out(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            let chunk = match ready!(self.out.poll_due(cx)) {
                None => return Poll::Ready(Ok(())),
                Some(chunk) => chunk,
            };
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, chunk))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.out.consume(n);
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for SlowLink<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.shape.is_transparent() {
            return Pin::new(&mut this.inner).poll_read(cx, buf);
        }
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        // A session waiting for an answer must still get its queued command out.
        if let Poll::Ready(Err(e)) = this.poll_drain_out(cx) {
            return Poll::Ready(Err(e));
        }
        let limit = this.shape.queue_limit();
        loop {
            // Pull what the socket has into the delay line while there is room. Not reading
            // beyond the bound leaves the rest in the kernel, which throttles the server.
            let mut socket_pending = false;
            while this.eof_due.is_none() && this.inb.queued() < limit {
                let want = READ_CHUNK.min(limit - this.inb.queued());
                this.scratch.resize(want, 0);
                let mut rb = ReadBuf::new(&mut this.scratch);
                match Pin::new(&mut this.inner).poll_read(cx, &mut rb) {
                    Poll::Pending => {
                        socket_pending = true;
                        break;
                    }
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    Poll::Ready(Ok(())) => {
                        let n = rb.filled().len();
                        if n == 0 {
                            // The close travels the link like data: it is seen after the
                            // last byte and at least one delay after it happened.
                            let after_data = this.inb.segments.back().map(|&(due, _)| due);
                            let own = Instant::now() + this.shape.rtt / 2;
                            this.eof_due = Some(after_data.map_or(own, |d| d.max(own)));
                        } else {
                            let data = std::mem::take(&mut this.scratch);
                            this.inb.push(&this.shape, &data[..n]);
                            this.scratch = data;
                        }
                    }
                }
            }
            if this.inb.segments.is_empty() {
                this.scratch = Vec::new();
            }
            match this.inb.poll_due(cx) {
                Poll::Ready(Some(chunk)) => {
                    let n = chunk.len().min(buf.remaining());
                    buf.put_slice(&chunk[..n]);
                    this.inb.consume(n);
                    return Poll::Ready(Ok(()));
                }
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => {}
            }
            // Nothing queued.
            match this.eof_due {
                Some(due) if due <= Instant::now() => return Poll::Ready(Ok(())),
                Some(due) => {
                    // Reuse the (empty) inbound line's timer slot for the close.
                    let timer = this
                        .inb
                        .timer
                        .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(due)));
                    if timer.deadline() != due {
                        timer.as_mut().reset(due);
                    }
                    ready!(timer.as_mut().poll(cx));
                    continue;
                }
                None if socket_pending => return Poll::Pending,
                // The socket had data but the queue was full: impossible with an empty queue,
                // so loop to read again.
                None => continue,
            }
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for SlowLink<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.shape.is_transparent() {
            return Pin::new(&mut this.inner).poll_write(cx, buf);
        }
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        // Make room by writing out what is due. If this stays pending, it has arranged a
        // wake-up (the head segment's timer or the socket becoming writable).
        if let Poll::Ready(Err(e)) = this.poll_drain_out(cx) {
            return Poll::Ready(Err(e));
        }
        let room = this.shape.queue_limit().saturating_sub(this.out.queued());
        if room == 0 {
            return Poll::Pending;
        }
        let n = buf.len().min(room);
        this.out.push(&this.shape, &buf[..n]);
        // Arm the timer for the new head so the task is woken when it is due.
        if let Poll::Ready(Err(e)) = this.poll_drain_out(cx) {
            return Poll::Ready(Err(e));
        }
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_drain_out(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_drain_out(cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape_arithmetic() {
        let mobile = Shape {
            bits_per_sec: Some(64_000),
            rtt: Duration::from_millis(300),
        };
        assert_eq!(mobile.transmission(8000), Duration::from_secs(1));
        assert_eq!(mobile.segment(), MIN_SEGMENT);
        assert!(mobile.queue_limit() >= MIN_QUEUE);
        let fast = Shape {
            bits_per_sec: Some(10_000_000),
            rtt: Duration::from_millis(40),
        };
        assert_eq!(fast.segment(), 25_000);
        let open = Shape {
            bits_per_sec: None,
            rtt: Duration::ZERO,
        };
        assert!(open.is_transparent());
        assert_eq!(open.transmission(1 << 30), Duration::ZERO);
    }
}
