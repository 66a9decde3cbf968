//! STORE and UID STORE (RFC 3501 section 6.4.6): replacing, adding or removing flags, with
//! the new flags echoed unless `.SILENT`.

use super::mailboxes::settable_flags;
use super::{Event, Failure, Request, Session, Wait};
use crate::imap::view;
use crate::imap::{Flag, SequenceSet, StoreMode};

/// A STORE waiting for the runtime.
pub(super) struct StoreCommand {
    positions: Vec<usize>,
    silent: bool,
    uid: bool,
}

impl Session {
    pub(super) fn store(
        &mut self,
        tag: String,
        uid: bool,
        set: &SequenceSet,
        mode: StoreMode,
        silent: bool,
        flags: Vec<Flag>,
    ) -> Option<Event> {
        if self.selected.as_ref()?.read_only {
            self.no(&tag, Some("READ-ONLY"), "Mailbox is read-only.");
            return None;
        }
        if let Some(bad) = settable_flags(&flags) {
            self.bad(&tag, &bad);
            return None;
        }
        let positions = self.positions(&tag, set, uid)?;
        let view = self.selected.as_ref()?;
        if positions.is_empty() {
            self.report_updates(uid);
            self.ok(&tag, "Store completed.");
            return None;
        }
        let uids = super::uids_of(view, &positions);
        self.request(
            tag,
            Wait::Store(StoreCommand {
                positions,
                silent,
                uid,
            }),
            Request::Store { uids, mode, flags },
        )
    }

    pub(super) fn store_reply(
        &mut self,
        tag: &str,
        cmd: StoreCommand,
        result: Result<(), Failure>,
    ) {
        if let Err(f) = result {
            return self.failure(tag, &f);
        }
        let Some(view) = self.selected.as_mut() else {
            return self.ok(tag, "Store completed.");
        };
        let mut out = Vec::new();
        let keywords = view.keywords().to_vec();
        for &pos in &cmd.positions {
            let flags = view.flags(pos);
            view.flags_sent(pos, flags);
            if cmd.silent {
                continue;
            }
            let msg = view.told().messages[pos];
            out.extend_from_slice(format!("* {} FETCH (", pos + 1).as_bytes());
            if cmd.uid {
                out.extend_from_slice(format!("UID {} ", msg.uid).as_bytes());
            }
            out.extend_from_slice(b"FLAGS ");
            view::write_flag_list(&mut out, flags, &keywords, view.is_recent(msg.uid));
            out.extend_from_slice(b")\r\n");
        }
        self.output.raw(&out);
        self.report_updates(cmd.uid);
        self.ok(tag, "Store completed.");
    }
}
