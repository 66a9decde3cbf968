//! Entering and leaving the selected state, and the commands that only resynchronise it:
//! SELECT, EXAMINE, CLOSE, UNSELECT (RFC 3691), EXPUNGE, UID EXPUNGE (RFC 4315), CHECK.

use super::{Event, Failure, Request, Selected, Session, Wait};
use crate::imap::view::{self, View};
use crate::imap::{Mailbox, SequenceSet};
use crate::store::SystemFlags;

impl Session {
    pub(super) fn select(
        &mut self,
        tag: String,
        mailbox: Mailbox,
        read_only: bool,
    ) -> Option<Event> {
        // RFC 3501 section 6.3.1: a SELECT first leaves the selected folder, and a failed one
        // leaves none selected. The runtime closes the old one as part of opening the new.
        self.selected = None;
        self.request(
            tag,
            Wait::Select { read_only },
            Request::Select { mailbox, read_only },
        )
    }

    pub(super) fn selected_reply(
        &mut self,
        tag: &str,
        read_only: bool,
        result: Result<Selected, Failure>,
    ) {
        let Selected { snapshot, recent } = match result {
            Ok(s) => s,
            Err(f) => return self.failure(tag, &f),
        };
        let mut out = Vec::new();
        view::write_defined_flags(&mut out, &snapshot);
        view::write_permanent_flags(&mut out, &snapshot, read_only);
        out.extend_from_slice(format!("* {} EXISTS\r\n", snapshot.len()).as_bytes());
        out.extend_from_slice(format!("* {} RECENT\r\n", recent.len()).as_bytes());
        if let Some(first) = snapshot
            .messages
            .iter()
            .position(|m| !m.flags.system.contains(SystemFlags::SEEN))
        {
            out.extend_from_slice(
                format!("* OK [UNSEEN {}] First unseen.\r\n", first + 1).as_bytes(),
            );
        }
        out.extend_from_slice(
            format!(
                "* OK [UIDVALIDITY {}] UIDs valid\r\n* OK [UIDNEXT {}] Predicted next UID\r\n",
                snapshot.uid_validity, snapshot.uid_next
            )
            .as_bytes(),
        );
        self.output.raw(&out);
        self.selected = Some(View::new(snapshot, recent, read_only));
        if read_only {
            self.ok_code(tag, "READ-ONLY", "Examine completed.");
        } else {
            self.ok_code(tag, "READ-WRITE", "Select completed.");
        }
    }

    /// CLOSE (`close`: with its silent expunge, in a read-write folder) or UNSELECT.
    pub(super) fn close_mailbox(&mut self, tag: String, close: bool) -> Option<Event> {
        let view = self.selected.take()?;
        let text = if close {
            "Close completed."
        } else {
            "Unselect completed."
        };
        let expunge = close && !view.read_only;
        self.request(tag, Wait::Close { text }, Request::Close { expunge })
    }

    pub(super) fn expunge(&mut self, tag: String, set: Option<SequenceSet>) -> Option<Event> {
        let view = self.selected.as_ref()?;
        if view.read_only {
            self.no(&tag, Some("READ-ONLY"), "Mailbox is read-only.");
            return None;
        }
        let uid = set.is_some();
        let uids = match set {
            None => None,
            Some(set) => match view.resolve(&set, true) {
                Ok(positions) => Some(super::uids_of(view, &positions)),
                Err(_) => {
                    self.bad(&tag, "Invalid message set.");
                    return None;
                }
            },
        };
        self.request(tag, Wait::Expunge { uid }, Request::Expunge { uids })
    }

    pub(super) fn expunge_reply(&mut self, tag: &str, _uid: bool, result: Result<(), Failure>) {
        // EXPUNGE is where the client expects to hear of expunges, its own and others'.
        self.report_updates(true);
        self.done(tag, result, "Expunge completed.");
    }
}
