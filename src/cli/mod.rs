//! The `postern` command's administrative subcommands, as clap argument types plus the code
//! that runs them, so that `main.rs` only has to name and dispatch them.

pub mod account;
pub mod password;
