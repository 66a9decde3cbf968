//! Administration of what the server reads, as opposed to serving it: editing the passwd-file
//! for `postern account`.
//!
//! Kept apart from [`crate::auth`], which only ever reads the file, so that nothing the server
//! runs can write to it.

pub mod glob;
pub mod passwd_edit;
pub mod passwd_file;

pub use glob::glob_match;
pub use passwd_edit::{AccountLine, EditError, ExtraEdit, NewAccount, PasswdText};
pub use passwd_file::{FileError, Written};
