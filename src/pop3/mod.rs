//! The POP3 protocol state machine.
