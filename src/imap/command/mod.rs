//! What a parsed IMAP command is: the tag and one variant per command, with arguments as the
//! server needs them.
//!
//! The values are owned, so a command outlives the reader's buffer and can wait in a queue
//! while the session works on an earlier one. Everything but the APPEND message is bounded by
//! the line and literal limits, so owning it costs little; the message, the one large value, is
//! moved into [`CommandBody::Append`] from the buffer it was received into, never copied.
//!
//! Arguments keep what the client sent where the meaning is not the parser's business: strings
//! are bytes (a SEARCH string is in the CHARSET the client named, a literal may hold 8-bit
//! data), mailbox names are the modified UTF-7 wire form, and message numbers are not checked
//! against any mailbox.

mod fetch;
mod search;
mod sequence;
mod values;

pub use fetch::{FetchItem, Partial, Section, SectionText};
pub use search::SearchKey;
pub use sequence::{SeqNumber, SeqRange, SequenceSet};
pub use values::{Date, DateTime, Flag, Mailbox, Secret, StatusItem, StoreMode};

/// The field/value pairs of an ID command, in order; a value may be NIL.
pub type IdParameters = Vec<(Vec<u8>, Option<Vec<u8>>)>;

/// One complete, syntactically valid command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// The client's tag, to be repeated in the tagged reply.
    pub tag: String,
    pub body: CommandBody,
}

/// The command and its arguments. `uid: true` marks the `UID` form of a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandBody {
    Capability,
    Noop,
    Logout,
    StartTls,
    /// `AUTHENTICATE mechanism [initial-response]` (RFC 3501, RFC 4959 SASL-IR). The mechanism
    /// is upper-cased; the initial response is the base64 text as sent, `=` standing for an
    /// empty one, which is what [`crate::auth::SaslExchange::start`] takes.
    Authenticate {
        mechanism: String,
        initial_response: Option<Secret<String>>,
    },
    Login {
        username: Vec<u8>,
        password: Secret<Vec<u8>>,
    },
    Select {
        mailbox: Mailbox,
    },
    Examine {
        mailbox: Mailbox,
    },
    Create {
        mailbox: Mailbox,
    },
    Delete {
        mailbox: Mailbox,
    },
    Rename {
        from: Mailbox,
        to: Mailbox,
    },
    Subscribe {
        mailbox: Mailbox,
    },
    Unsubscribe {
        mailbox: Mailbox,
    },
    /// `LIST reference pattern`. The pattern may hold the wildcards `*` and `%` and is not a
    /// mailbox name, so it is kept as bytes and not checked as modified UTF-7.
    List {
        reference: Mailbox,
        pattern: Vec<u8>,
    },
    Lsub {
        reference: Mailbox,
        pattern: Vec<u8>,
    },
    Status {
        mailbox: Mailbox,
        items: Vec<StatusItem>,
    },
    /// `APPEND mailbox [flags] [date-time] message`; `flags` is empty when none were given.
    Append {
        mailbox: Mailbox,
        flags: Vec<Flag>,
        date: Option<DateTime>,
        message: Vec<u8>,
    },
    Check,
    Close,
    Expunge,
    /// `UID EXPUNGE set` (RFC 4315).
    UidExpunge {
        set: SequenceSet,
    },
    /// The criteria are ANDed, as in the command; there is always at least one.
    Search {
        uid: bool,
        charset: Option<String>,
        criteria: Vec<SearchKey>,
    },
    /// The macros ALL, FAST and FULL are expanded into the items they stand for.
    Fetch {
        uid: bool,
        set: SequenceSet,
        items: Vec<FetchItem>,
    },
    Store {
        uid: bool,
        set: SequenceSet,
        mode: StoreMode,
        silent: bool,
        flags: Vec<Flag>,
    },
    Copy {
        uid: bool,
        set: SequenceSet,
        mailbox: Mailbox,
    },
    /// RFC 6851.
    Move {
        uid: bool,
        set: SequenceSet,
        mailbox: Mailbox,
    },
    /// RFC 2177: the session answers `+ idling` and then reads lines until `DONE`
    /// (see [`crate::imap::CommandReader::expect_line`] and [`crate::imap::is_idle_done`]).
    Idle,
    /// RFC 2342.
    Namespace,
    /// RFC 5161: the capability names as sent.
    Enable {
        capabilities: Vec<String>,
    },
    /// RFC 2971: `None` for `ID NIL`, otherwise the field/value pairs in order.
    Id {
        parameters: Option<IdParameters>,
    },
    /// RFC 3691.
    Unselect,
}

impl CommandBody {
    /// The command name as the RFCs spell it, for replies and logs (`UID FETCH` for the UID
    /// form).
    pub fn name(&self) -> &'static str {
        use CommandBody as C;
        match self {
            C::Capability => "CAPABILITY",
            C::Noop => "NOOP",
            C::Logout => "LOGOUT",
            C::StartTls => "STARTTLS",
            C::Authenticate { .. } => "AUTHENTICATE",
            C::Login { .. } => "LOGIN",
            C::Select { .. } => "SELECT",
            C::Examine { .. } => "EXAMINE",
            C::Create { .. } => "CREATE",
            C::Delete { .. } => "DELETE",
            C::Rename { .. } => "RENAME",
            C::Subscribe { .. } => "SUBSCRIBE",
            C::Unsubscribe { .. } => "UNSUBSCRIBE",
            C::List { .. } => "LIST",
            C::Lsub { .. } => "LSUB",
            C::Status { .. } => "STATUS",
            C::Append { .. } => "APPEND",
            C::Check => "CHECK",
            C::Close => "CLOSE",
            C::Expunge => "EXPUNGE",
            C::UidExpunge { .. } => "UID EXPUNGE",
            C::Search { uid: false, .. } => "SEARCH",
            C::Search { uid: true, .. } => "UID SEARCH",
            C::Fetch { uid: false, .. } => "FETCH",
            C::Fetch { uid: true, .. } => "UID FETCH",
            C::Store { uid: false, .. } => "STORE",
            C::Store { uid: true, .. } => "UID STORE",
            C::Copy { uid: false, .. } => "COPY",
            C::Copy { uid: true, .. } => "UID COPY",
            C::Move { uid: false, .. } => "MOVE",
            C::Move { uid: true, .. } => "UID MOVE",
            C::Idle => "IDLE",
            C::Namespace => "NAMESPACE",
            C::Enable { .. } => "ENABLE",
            C::Id { .. } => "ID",
            C::Unselect => "UNSELECT",
        }
    }
}
