//! Helpers shared by integration tests. Each test crate uses only some of them, so unused
//! items are expected here.
#![allow(dead_code)]

pub mod dovecot;
