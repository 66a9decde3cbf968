//! The IMAP side of a folder: its on-disk [`index`] of everything immutable about each
//! message, the [`derived`] forms of its messages in other retrieval formats, the
//! [`snapshot`]s of it that sessions work from, the [`shared`] state of an open
//! folder that publishes them, the process-wide [`registry`] of open folders, and the
//! inotify [`watch`]er that notices changes made behind our back.

pub mod derived;
pub mod index;
mod parallel;
pub mod registry;
pub mod shared;
pub mod snapshot;
pub mod watch;

pub use registry::{Registry, Watching};
pub use shared::{Counts, IndexOptions, Notify, SharedMailbox};
pub use snapshot::{Flags, Message, Snapshot};
