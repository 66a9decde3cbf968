//! The queue of what a session has to send, as handed to the I/O runtime.
//!
//! Short replies are coalesced into one text buffer so that a pipelined burst of commands is
//! answered with one write, while message bodies stay separate items that the runtime streams
//! straight from the store's memory map through a [`Framer`](super::Framer). The queue also
//! knows when it holds enough to be worth flushing, which is how the session applies
//! back-pressure to a client that pipelines faster than it reads.

use std::collections::VecDeque;
use std::fmt;
use std::io::Write as _;

use crate::body::MessageBody;

/// Pending text past which the session stops processing commands until the runtime has
/// written it.
const FLUSH_THRESHOLD: usize = 64 * 1024;

/// One item for the runtime to send, in order.
#[derive(Debug)]
pub enum Output {
    /// Protocol lines, ready to send; often several replies coalesced.
    Text(Vec<u8>),
    /// A message body for a multi-line reply, to be streamed through a
    /// [`Framer`](super::Framer), which adds the terminating `.` line itself. The `+OK` line
    /// before it is the preceding `Text` item.
    Message {
        body: MessageBody,
        /// `None` for RETR (the whole message), `Some(n)` for `TOP msg n`.
        top_lines: Option<u32>,
    },
}

/// Output waiting for the runtime.
#[derive(Default)]
pub(super) struct OutputQueue {
    /// Items closed for appending, oldest first.
    items: VecDeque<Output>,
    /// Text after the last item, still open for coalescing.
    tail: Vec<u8>,
    /// Bytes in queued text, `tail` included.
    text_bytes: usize,
    /// Number of queued `Message` items.
    messages: usize,
}

impl OutputQueue {
    /// Queues one protocol line; the CRLF is added here.
    pub(super) fn line(&mut self, text: impl fmt::Display) {
        let before = self.tail.len();
        // Writing into a Vec cannot fail.
        let _ = write!(self.tail, "{text}\r\n");
        self.text_bytes += self.tail.len() - before;
    }

    /// Queues a message body.
    pub(super) fn message(&mut self, body: MessageBody, top_lines: Option<u32>) {
        self.close_tail();
        self.items.push_back(Output::Message { body, top_lines });
        self.messages += 1;
    }

    pub(super) fn pop(&mut self) -> Option<Output> {
        let item = match self.items.pop_front() {
            Some(item) => item,
            None if self.tail.is_empty() => return None,
            None => Output::Text(std::mem::take(&mut self.tail)),
        };
        match &item {
            Output::Text(t) => self.text_bytes -= t.len(),
            Output::Message { .. } => self.messages -= 1,
        }
        Some(item)
    }

    pub(super) fn is_empty(&self) -> bool {
        self.items.is_empty() && self.tail.is_empty()
    }

    /// Should the runtime write before more commands are processed? A queued message body
    /// always counts: it can be megabytes, and the next RETR's event should not be raised
    /// before the previous body is on its way.
    pub(super) fn needs_flush(&self) -> bool {
        self.messages > 0 || self.text_bytes >= FLUSH_THRESHOLD
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
    fn lines_coalesce_until_a_message_intervenes() {
        let mut q = OutputQueue::default();
        q.line("+OK");
        q.line(format_args!("+OK {} octets", 5));
        q.message(MessageBody::from(&b"hello"[..]), None);
        assert!(q.needs_flush());
        q.line("+OK");
        match q.pop() {
            Some(Output::Text(t)) => assert_eq!(t, b"+OK\r\n+OK 5 octets\r\n"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            q.pop(),
            Some(Output::Message {
                top_lines: None,
                ..
            })
        ));
        assert!(!q.needs_flush());
        assert!(matches!(q.pop(), Some(Output::Text(t)) if t == b"+OK\r\n"));
        assert!(q.pop().is_none());
        assert!(q.is_empty());
    }

    #[test]
    fn large_text_asks_for_a_flush() {
        let mut q = OutputQueue::default();
        while !q.needs_flush() {
            q.line("1 12345");
        }
        assert!(q.text_bytes >= FLUSH_THRESHOLD);
        q.pop();
        assert_eq!(q.text_bytes, 0);
        assert!(!q.needs_flush());
    }
}
