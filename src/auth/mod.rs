//! Accounts and authentication.
