//! The Maildir mailstore.
