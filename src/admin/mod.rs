//! Administration, as opposed to serving: editing the passwd-file for `postern account`, and
//! the client side of the running server's admin socket for `postern who`, `kick` and
//! `reload`.
//!
//! The editor is kept apart from [`crate::auth`], which only ever reads the file, so that
//! nothing the server runs can write to it.

pub mod client;
pub mod glob;
pub mod passwd_edit;
pub mod passwd_file;

pub use glob::glob_match;
pub use passwd_edit::{AccountLine, EditError, ExtraEdit, NewAccount, PasswdText};
pub use passwd_file::{FileError, Written};
