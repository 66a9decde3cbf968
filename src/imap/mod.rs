//! The IMAP4rev1 server protocol, sans-IO. So far: reading commands.
//!
//! [`CommandReader`] takes the client's bytes as they arrive and yields [`Event`]s: complete
//! [`Command`]s, requests to send a `+` continuation for a synchronizing literal, plain lines
//! (AUTHENTICATE responses, IDLE's DONE) and refused commands with the answer they get. It
//! covers every RFC 3501 command plus IDLE, MOVE, NAMESPACE, ENABLE, ID, UNSELECT, UID
//! EXPUNGE, SASL-IR and LITERAL+/LITERAL-, and holds the client to the [`Limits`]. The session
//! state machine that acts on commands comes next.
//!
//! Layout: `reader` frames the byte stream into commands (lines, literals, limits); `parser`
//! is the grammar, one file per command family; `command` the parsed form; `error` the refusals
//! and their answers; `limits` the knobs; `mutf7` the mailbox name encoding.

mod capability;
mod command;
pub mod date;
mod error;
mod limits;
pub mod list;
pub mod mutf7;
mod output;
mod parser;
mod reader;
mod session;
mod settings;
pub(crate) mod syntax;
mod view;

#[cfg(test)]
mod tests;

pub use command::{
    Command, CommandBody, Date, DateTime, FetchItem, Flag, IdParameters, Mailbox, Partial,
    SearchKey, Secret, Section, SectionText, SeqNumber, SeqRange, SequenceSet, StatusItem,
    StoreMode,
};
pub use error::{Error, ErrorKind, Status, Syntax};
pub use limits::{LITERAL_MINUS_MAX, Limits, NonSyncLiterals};
pub use output::Output;
pub use reader::{CommandReader, Event, is_idle_done};
pub use session::{
    CloseReason, Event as SessionEvent, Failure, Folder, LoadedMessage, LoginReply, MessageError,
    Reply, Request, SearchError, SearchJob, SearchSource, Selected, Session, StatusInfo,
};
pub use settings::Settings;
