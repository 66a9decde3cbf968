//! The maildrop as a POP3 session sees it in the TRANSACTION state (RFC 1939 section 5).
//!
//! The store hands over a [`Listing`] (uid and size per message) once, at login; from then on
//! the session works on it alone. Message numbers are fixed for the whole session, DELE only
//! marks, and RSET unmarks: nothing reaches the store until QUIT commits the marks, so a
//! dropped connection leaves the mailbox untouched.

use super::command::MessageNumber;

/// The messages of a maildrop at login, in POP3 message-number order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing {
    /// The authenticated user's canonical name.
    pub user: String,
    /// The mailbox's UIDVALIDITY; part of every UIDL.
    pub uid_validity: u32,
    /// `(uid, size in octets)` per message; message number n is `messages[n - 1]`.
    pub messages: Vec<(u32, u64)>,
}

/// Why a message number cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum LookupError {
    /// Zero, too big, or past the last message.
    NoSuchMessage,
    /// Marked by DELE in this session.
    Deleted,
}

/// A listing plus this session's deletion marks.
pub(super) struct Maildrop {
    listing: Listing,
    deleted: Vec<bool>,
    deleted_count: usize,
    deleted_octets: u64,
    total_octets: u64,
}

impl Maildrop {
    pub(super) fn new(listing: Listing) -> Self {
        let total_octets = listing.messages.iter().map(|&(_, size)| size).sum();
        Maildrop {
            deleted: vec![false; listing.messages.len()],
            listing,
            deleted_count: 0,
            deleted_octets: 0,
            total_octets,
        }
    }

    /// The 0-based index of a visible message.
    pub(super) fn lookup(&self, number: MessageNumber<'_>) -> Result<usize, LookupError> {
        let index = number
            .0
            .parse::<usize>()
            .ok()
            .and_then(|n| n.checked_sub(1))
            .filter(|&i| i < self.deleted.len())
            .ok_or(LookupError::NoSuchMessage)?;
        if self.deleted[index] {
            Err(LookupError::Deleted)
        } else {
            Ok(index)
        }
    }

    /// Number and total size of the messages not marked deleted (the STAT figures).
    pub(super) fn stat(&self) -> (usize, u64) {
        (
            self.deleted.len() - self.deleted_count,
            self.total_octets - self.deleted_octets,
        )
    }

    pub(super) fn size(&self, index: usize) -> u64 {
        self.listing.messages[index].1
    }

    /// The UIDL of a message exactly as Dovecot 2.3 gives it by default, so that clients
    /// moving between Dovecot and Postern do not download every message again.
    pub(super) fn uidl(&self, index: usize) -> String {
        crate::store::uidl(self.listing.uid_validity, self.listing.messages[index].0)
    }

    /// Indexes of the messages not marked deleted, ascending.
    pub(super) fn visible(&self) -> impl Iterator<Item = usize> + '_ {
        self.deleted
            .iter()
            .enumerate()
            .filter(|(_, deleted)| !**deleted)
            .map(|(i, _)| i)
    }

    /// Marks a visible message (an index from [`lookup`](Self::lookup)) deleted.
    pub(super) fn delete(&mut self, index: usize) {
        if !std::mem::replace(&mut self.deleted[index], true) {
            self.deleted_count += 1;
            self.deleted_octets += self.size(index);
        }
    }

    /// Unmarks everything (RSET).
    pub(super) fn reset(&mut self) {
        self.deleted.fill(false);
        self.deleted_count = 0;
        self.deleted_octets = 0;
    }

    /// Indexes marked deleted, ascending, for the commit at QUIT.
    pub(super) fn deleted(&self) -> Vec<usize> {
        self.deleted
            .iter()
            .enumerate()
            .filter(|(_, deleted)| **deleted)
            .map(|(i, _)| i)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn maildrop() -> Maildrop {
        Maildrop::new(Listing {
            user: "u".into(),
            uid_validity: 0x5f00_0001,
            messages: vec![(1, 100), (2, 200), (0xdead_beef, 300)],
        })
    }

    #[test]
    fn lookup_rejects_what_does_not_exist() {
        let m = maildrop();
        assert_eq!(m.lookup(MessageNumber("1")), Ok(0));
        assert_eq!(m.lookup(MessageNumber("003")), Ok(2));
        for bad in [
            "0",
            "4",
            "18446744073709551617",
            "99999999999999999999999999",
        ] {
            assert_eq!(
                m.lookup(MessageNumber(bad)),
                Err(LookupError::NoSuchMessage),
                "{bad}"
            );
        }
    }

    #[test]
    fn delete_and_reset() {
        let mut m = maildrop();
        assert_eq!(m.stat(), (3, 600));
        m.delete(1);
        m.delete(1);
        assert_eq!(m.lookup(MessageNumber("2")), Err(LookupError::Deleted));
        assert_eq!(m.stat(), (2, 400));
        assert_eq!(m.visible().collect::<Vec<_>>(), vec![0, 2]);
        assert_eq!(m.deleted(), vec![1]);
        m.reset();
        assert_eq!(m.stat(), (3, 600));
        assert!(m.deleted().is_empty());
    }

    #[test]
    fn uidl_is_dovecot_default_format() {
        let m = maildrop();
        assert_eq!(m.uidl(0), "000000015f000001");
        assert_eq!(m.uidl(2), "deadbeef5f000001");
    }
}
