//! IDLE (RFC 2177): the client waits for the server to tell it about changes as they happen.
//!
//! After `+ idling` every folder change the runtime hands over goes out at once, expunges
//! included (IDLE is a command in progress, so RFC 3501 section 7.4.1 allows them), until the
//! client's `DONE`.

use super::{Event, Pending, Session};
use crate::imap::is_idle_done;

impl Session {
    pub(super) fn idle(&mut self, tag: String) -> Option<Event> {
        self.output.line("+ idling");
        self.report_updates(true);
        self.reader.expect_line();
        self.pending = Some(Pending::Idle { tag });
        None
    }

    pub(super) fn idle_line(&mut self, tag: &str, line: &[u8]) {
        self.report_updates(true);
        if is_idle_done(line) {
            self.ok(tag, "Idle completed.");
        } else {
            self.bad(tag, "Expected DONE.");
        }
    }
}
