//! Accounts and authentication.

mod cram;
mod md5_block;
