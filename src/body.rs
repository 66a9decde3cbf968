//! The bytes of one stored message, as handed from the store to a protocol session and on to
//! the I/O layer.
//!
//! A body is either a read-only memory map of the message file (the normal case: the kernel
//! pages it in and the plaintext path writes straight from it) or an owned buffer (empty files,
//! which cannot be mapped, converted forms, and tests). Cloning is a reference-count bump, so a
//! session can queue a body for writing without copying it.

use std::sync::Arc;

/// Immutable, cheaply clonable message bytes.
#[derive(Clone)]
pub enum MessageBody {
    /// A private read-only mapping of the message file.
    Mapped(Arc<memmap2::Mmap>),
    /// Bytes held in memory.
    Owned(Arc<[u8]>),
}

impl MessageBody {
    /// The message bytes.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            MessageBody::Mapped(m) => m,
            MessageBody::Owned(b) => b,
        }
    }

    /// Length in bytes (as stored, before any line-ending conversion).
    pub fn len(&self) -> usize {
        self.as_bytes().len()
    }

    /// True for an empty message.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl From<Vec<u8>> for MessageBody {
    fn from(v: Vec<u8>) -> Self {
        MessageBody::Owned(v.into())
    }
}

impl From<&[u8]> for MessageBody {
    fn from(v: &[u8]) -> Self {
        MessageBody::Owned(v.into())
    }
}

impl std::fmt::Debug for MessageBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self {
            MessageBody::Mapped(_) => "Mapped",
            MessageBody::Owned(_) => "Owned",
        };
        write!(f, "MessageBody::{kind}({} bytes)", self.len())
    }
}
