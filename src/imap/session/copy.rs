//! COPY, UID COPY (RFC 3501 section 6.4.7), MOVE and UID MOVE (RFC 6851), with UIDPLUS's
//! `COPYUID` (RFC 4315).

use super::{Event, Failure, Request, Session, Wait};
use crate::imap::{Mailbox, SequenceSet};

impl Session {
    pub(super) fn copy(
        &mut self,
        tag: String,
        uid: bool,
        set: &SequenceSet,
        mailbox: Mailbox,
        moving: bool,
    ) -> Option<Event> {
        if moving && self.selected.as_ref()?.read_only {
            self.no(&tag, Some("READ-ONLY"), "Mailbox is read-only.");
            return None;
        }
        let positions = self.positions(&tag, set, uid)?;
        let view = self.selected.as_ref()?;
        if positions.is_empty() {
            self.ok(&tag, "No messages found.");
            return None;
        }
        let uids = super::uids_of(view, &positions);
        self.request(
            tag,
            Wait::Copy {
                moving,
                uid_command: uid,
            },
            Request::Copy {
                uids,
                mailbox,
                moving,
            },
        )
    }

    pub(super) fn copy_reply(
        &mut self,
        tag: &str,
        moving: bool,
        _uid_command: bool,
        result: Result<(u32, Vec<u32>, Vec<u32>), Failure>,
    ) {
        let (validity, src, dst) = match result {
            Ok(v) => v,
            Err(f) => return self.failure(tag, &f),
        };
        if src.is_empty() {
            // Everything asked for was expunged meanwhile.
            self.report_updates(true);
            return self.ok(tag, "No messages found.");
        }
        let code = format!(
            "COPYUID {validity} {} {}",
            super::uid_set(&src),
            super::uid_set(&dst)
        );
        if moving {
            // RFC 6851 section 4.3: the COPYUID goes in an untagged OK before the expunges.
            self.output.line(format_args!("* OK [{code}] Moved UIDs."));
            self.report_updates(true);
            self.ok(tag, "Move completed.");
        } else {
            self.report_updates(true);
            self.ok_code(tag, &code, "Copy completed.");
        }
    }
}
