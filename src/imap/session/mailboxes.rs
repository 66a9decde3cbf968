//! Folder management in the authenticated state: CREATE, DELETE, RENAME, SUBSCRIBE,
//! UNSUBSCRIBE, LIST, LSUB, STATUS and APPEND (RFC 3501 sections 6.3.3–6.3.11), with the
//! CHILDREN (RFC 3348) and SPECIAL-USE (RFC 6154) attributes in LIST.
//!
//! The runtime answers with every folder and subscription; pattern matching and the choice
//! of attributes happen here, so what a client sees does not depend on the store.

use super::{Event, Failure, Folder, Pending, Request, Session, StatusInfo, Wait};
use crate::imap::list;
use crate::imap::syntax;
use crate::imap::{DateTime, Flag, Mailbox, StatusItem};

/// The hierarchy separator of Maildir++ folders.
pub(crate) const SEPARATOR: u8 = b'.';

/// A LIST or LSUB waiting for the folder list.
pub(super) struct ListQuery {
    pattern: Vec<u8>,
    lsub: bool,
}

impl Session {
    pub(super) fn create(&mut self, tag: String, mailbox: Mailbox) -> Option<Event> {
        // A trailing separator announces that the client means to put folders under it
        // (RFC 3501 section 6.3.3); the folder itself is what gets created.
        let name = mailbox.as_str().trim_end_matches(SEPARATOR as char);
        if name.is_empty() {
            self.no(&tag, Some("CANNOT"), "Invalid mailbox name.");
            return None;
        }
        let mailbox = match Mailbox::new(name) {
            Ok(m) => m,
            Err(_) => {
                self.no(&tag, Some("CANNOT"), "Invalid mailbox name.");
                return None;
            }
        };
        if mailbox.is_inbox() {
            self.no(&tag, Some("ALREADYEXISTS"), "Mailbox already exists.");
            return None;
        }
        self.request(tag, Wait::Create, Request::Create { mailbox })
    }

    pub(super) fn list(
        &mut self,
        tag: String,
        reference: &Mailbox,
        pattern: &[u8],
        lsub: bool,
    ) -> Option<Event> {
        if !lsub && pattern.is_empty() {
            // RFC 3501: an empty pattern asks for the hierarchy delimiter and root.
            self.output.line("* LIST (\\Noselect) \".\" \"\"");
            self.ok(&tag, "List completed.");
            return None;
        }
        let pattern = list::join(reference.as_str().as_bytes(), pattern);
        self.request(tag, Wait::List(ListQuery { pattern, lsub }), Request::List)
    }

    pub(super) fn list_reply(
        &mut self,
        tag: &str,
        query: &ListQuery,
        result: Result<(Vec<Folder>, Vec<String>), Failure>,
    ) {
        let (folders, subscribed) = match result {
            Ok(v) => v,
            Err(f) => return self.failure(tag, &f),
        };
        let mut out = Vec::new();
        if query.lsub {
            for (name, noselect) in list::lsub(&query.pattern, &subscribed, SEPARATOR) {
                out.extend_from_slice(if noselect {
                    b"* LSUB (\\Noselect) \".\" "
                } else {
                    b"* LSUB () \".\" "
                });
                syntax::mailbox(&mut out, &name);
                out.extend_from_slice(b"\r\n");
            }
        } else {
            for folder in folders
                .iter()
                .filter(|f| list::matches(&query.pattern, f.name.as_bytes(), SEPARATOR))
            {
                out.extend_from_slice(b"* LIST (");
                let mut attrs: Vec<&str> = Vec::new();
                if !folder.selectable {
                    attrs.push("\\Noselect");
                }
                attrs.push(if folder.has_children {
                    "\\HasChildren"
                } else {
                    "\\HasNoChildren"
                });
                if let Some(special) = self.settings.special_use_of(&folder.name) {
                    attrs.push(special);
                }
                out.extend_from_slice(attrs.join(" ").as_bytes());
                out.extend_from_slice(b") \".\" ");
                syntax::mailbox(&mut out, &folder.name);
                out.extend_from_slice(b"\r\n");
            }
        }
        self.output.raw(&out);
        self.ok(
            tag,
            if query.lsub {
                "Lsub completed."
            } else {
                "List completed."
            },
        );
    }

    pub(super) fn status_reply(
        &mut self,
        tag: &str,
        mailbox: &Mailbox,
        items: &[StatusItem],
        result: Result<StatusInfo, Failure>,
    ) {
        let info = match result {
            Ok(info) => info,
            Err(f) => return self.failure(tag, &f),
        };
        let mut out = b"* STATUS ".to_vec();
        syntax::mailbox(&mut out, mailbox.as_str());
        out.extend_from_slice(b" (");
        let parts: Vec<String> = items
            .iter()
            .map(|item| match item {
                StatusItem::Messages => format!("MESSAGES {}", info.messages),
                StatusItem::Recent => format!("RECENT {}", info.recent),
                StatusItem::UidNext => format!("UIDNEXT {}", info.uid_next),
                StatusItem::UidValidity => format!("UIDVALIDITY {}", info.uid_validity),
                StatusItem::Unseen => format!("UNSEEN {}", info.unseen),
            })
            .collect();
        out.extend_from_slice(parts.join(" ").as_bytes());
        out.extend_from_slice(b")\r\n");
        self.output.raw(&out);
        self.ok(tag, "Status completed.");
    }

    pub(super) fn append(
        &mut self,
        tag: String,
        mailbox: Mailbox,
        flags: Vec<Flag>,
        date: Option<DateTime>,
        message: Vec<u8>,
    ) -> Option<Event> {
        if let Some(bad) = settable_flags(&flags) {
            self.bad(&tag, &bad);
            return None;
        }
        self.pending = Some(Pending::Reply {
            tag,
            wait: Wait::Append,
        });
        Some(Event::Request(Request::Append {
            mailbox,
            flags,
            date,
            message,
        }))
    }

    pub(super) fn append_reply(&mut self, tag: &str, result: Result<(u32, u32), Failure>) {
        match result {
            Ok((uid_validity, uid)) => {
                // Appending to the selected folder: the client hears of the new message now.
                self.report_updates(true);
                self.ok_code(
                    tag,
                    &format!("APPENDUID {uid_validity} {uid}"),
                    "Append completed.",
                );
            }
            Err(f) => self.failure(tag, &f),
        }
    }
}

/// Why a flag list cannot be stored, as a BAD text: `\Recent` belongs to the server and
/// other `\`-flags do not exist (RFC 3501 section 2.3.2).
pub(super) fn settable_flags(flags: &[Flag]) -> Option<String> {
    flags.iter().find_map(|f| match f {
        Flag::Extension(name) => Some(format!(
            "Invalid system flag \\{}.",
            crate::quote::quote(name.as_bytes(), 40)
        )),
        _ => None,
    })
}
