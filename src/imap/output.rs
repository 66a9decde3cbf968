//! The queue of what a session has to send, as handed to the I/O runtime.
//!
//! Replies are written straight into one growing text buffer, so a FETCH of ten thousand
//! messages' headers becomes a few large writes, not ten thousand small ones. Message bytes
//! (BODY[] and friends) stay separate items that point into the stored message, so the
//! runtime sends them from the memory map: without a copy when they are already in wire
//! form, converted in bounded pieces when their line ends need a CR.

use std::collections::VecDeque;
use std::fmt;
use std::io::Write as _;

use crate::body::MessageBody;
use crate::wire;

/// Queued bytes past which the session stops processing commands until the runtime has
/// written them: big enough for large batched writes, small enough that a session pipelining
/// FETCHes without reading holds little.
const FLUSH_THRESHOLD: usize = 256 * 1024;

/// One item for the runtime to send, in order.
#[derive(Debug)]
pub enum Output {
    /// Protocol text, ready to send.
    Text(Vec<u8>),
    /// Message bytes: the wire form of part of a stored message. The literal header
    /// (`{n}\r\n`) that announces them is in the preceding text.
    Message {
        body: MessageBody,
        slice: wire::Slice,
    },
}

/// Output waiting for the runtime.
#[derive(Default)]
pub(crate) struct OutputQueue {
    items: VecDeque<Output>,
    /// Text after the last item, still open for appending.
    tail: Vec<u8>,
    /// Bytes queued, text and message slices together.
    bytes: usize,
}

impl OutputQueue {
    /// Queues one response line; the CRLF is added here.
    pub(crate) fn line(&mut self, text: impl fmt::Display) {
        let before = self.tail.len();
        // Writing into a Vec cannot fail.
        let _ = write!(self.tail, "{text}\r\n");
        self.bytes += self.tail.len() - before;
    }

    /// Appends raw protocol bytes (a part of a response being built).
    pub(crate) fn raw(&mut self, bytes: &[u8]) {
        self.tail.extend_from_slice(bytes);
        self.bytes += bytes.len();
    }

    /// The open text buffer, for building a response in place. The caller must report what
    /// it added with [`added`](Self::added).
    pub(crate) fn buffer(&mut self) -> &mut Vec<u8> {
        &mut self.tail
    }

    /// Accounts for `n` bytes appended through [`buffer`](Self::buffer).
    pub(crate) fn added(&mut self, n: usize) {
        self.bytes += n;
    }

    /// Queues message bytes (after their literal header).
    pub(crate) fn message(&mut self, body: MessageBody, slice: wire::Slice) {
        if slice.remaining() == 0 {
            return;
        }
        self.close_tail();
        self.bytes += usize::try_from(slice.remaining()).unwrap_or(usize::MAX);
        self.items.push_back(Output::Message { body, slice });
    }

    pub(crate) fn pop(&mut self) -> Option<Output> {
        let item = match self.items.pop_front() {
            Some(item) => item,
            None if self.tail.is_empty() => return None,
            None => Output::Text(std::mem::take(&mut self.tail)),
        };
        let size = match &item {
            Output::Text(t) => t.len(),
            Output::Message { slice, .. } => usize::try_from(slice.remaining()).unwrap_or(0),
        };
        self.bytes = self.bytes.saturating_sub(size);
        Some(item)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.items.is_empty() && self.tail.is_empty()
    }

    /// Should the runtime write before more commands are processed?
    pub(crate) fn needs_flush(&self) -> bool {
        self.bytes >= FLUSH_THRESHOLD
    }

    /// Frees the text buffer of an idle session.
    pub(crate) fn release(&mut self) {
        if self.tail.is_empty() && self.tail.capacity() > 0 {
            self.tail = Vec::new();
        }
    }

    fn close_tail(&mut self) {
        if !self.tail.is_empty() {
            self.items
                .push_back(Output::Text(std::mem::take(&mut self.tail)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_coalesces_until_a_message_intervenes() {
        let mut q = OutputQueue::default();
        q.line("* 1 EXISTS");
        q.raw(b"* 1 FETCH (BODY[] {5}\r\n");
        let body = MessageBody::from(&b"hello"[..]);
        let slice = wire::Slice::whole(body.as_bytes(), 0..5);
        q.message(body, slice);
        q.raw(b")\r\n");
        match q.pop() {
            Some(Output::Text(t)) => assert_eq!(t, b"* 1 EXISTS\r\n* 1 FETCH (BODY[] {5}\r\n"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(q.pop(), Some(Output::Message { .. })));
        assert!(matches!(q.pop(), Some(Output::Text(t)) if t == b")\r\n"));
        assert!(q.pop().is_none());
        assert!(q.is_empty());
        assert_eq!(q.bytes, 0);
    }

    #[test]
    fn many_bytes_ask_for_a_flush() {
        let mut q = OutputQueue::default();
        while !q.needs_flush() {
            q.line("* 1 FETCH (FLAGS (\\Seen))");
        }
        while q.pop().is_some() {}
        assert!(!q.needs_flush());
    }
}
