//! The POP3 server protocol, sans-IO: RFC 1939 with CAPA and response codes (RFC 2449), AUTH
//! (RFC 5034) and STLS (RFC 2595).
//!
//! Nothing here touches a socket, a clock, a file or a thread: a [`Session`] takes the client's
//! bytes and produces reply bytes and [`Event`]s that the I/O runtime answers, and a [`Framer`]
//! turns a stored message into its wire form for RETR and TOP. That split keeps the protocol
//! testable byte for byte and the runtime free of protocol decisions.
//!
//! Layout, one idea per file: `session` is the state machine; `command` parses a command line;
//! `input` cuts the byte stream into bounded lines; `output` queues what is to be sent;
//! `response` holds the reply texts; `capa` decides what the connection offers and lists it;
//! `maildrop` is the listing with this session's deletion marks; `framing` is the RETR/TOP
//! byte stream; `settings` the per-listener knobs.

mod capa;
mod command;
mod framing;
mod input;
mod maildrop;
mod output;
mod response;
mod session;
mod settings;

#[cfg(test)]
mod tests;

pub use framing::{Chunk, Framer};
pub use maildrop::Listing;
pub use output::Output;
pub use session::{CloseReason, Event, LoginReply, Session};
pub use settings::Settings;
