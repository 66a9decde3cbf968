//! Graceful shutdown, seen by every worker thread.
//!
//! Shutdown has two phases. In `Draining` the listeners stop accepting and sessions carry
//! on, so a POP3 client in the middle of a download can finish and QUIT (which is when its
//! deletions happen). In `Closing` — after the grace period — every session still open is
//! told why and closed. Waiting tasks on any thread are woken through an
//! [`event_listener::Event`], whose wakers are safe to fire across threads.

use std::sync::atomic::{AtomicU8, Ordering};

use std::future::Future;
use std::pin::pin;

use event_listener::Event;
use futures_util::future::{Either, select};

/// Where the server is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum Phase {
    Running = 0,
    Draining = 1,
    Closing = 2,
}

/// The shared shutdown state.
#[derive(Debug, Default)]
pub struct Shutdown {
    phase: AtomicU8,
    changed: Event,
}

impl Shutdown {
    pub fn phase(&self) -> Phase {
        match self.phase.load(Ordering::Acquire) {
            0 => Phase::Running,
            1 => Phase::Draining,
            _ => Phase::Closing,
        }
    }

    /// Moves to `phase` (never backwards) and wakes every waiter.
    pub fn advance(&self, phase: Phase) {
        self.phase.fetch_max(phase as u8, Ordering::AcqRel);
        self.changed.notify(usize::MAX);
    }

    /// Resolves once the server has reached `phase`.
    pub async fn reached(&self, phase: Phase) {
        loop {
            if self.phase() >= phase {
                return;
            }
            let listener = self.changed.listen();
            // Re-check: the phase may have moved between the check and `listen`.
            if self.phase() >= phase {
                return;
            }
            listener.await;
        }
    }

    /// Runs `work` unless the server starts closing first, in which case `work` is dropped
    /// (cancelling its pending I/O) and `None` is returned. This is what keeps a client that
    /// stalls a handshake or stops reading from holding the process past the grace period.
    pub async fn unless_closing<F: Future>(&self, work: F) -> Option<F::Output> {
        match select(pin!(work), pin!(self.reached(Phase::Closing))).await {
            Either::Left((out, _)) => Some(out),
            Either::Right(_) => None,
        }
    }
}
