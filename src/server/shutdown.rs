//! Graceful shutdown, seen by every worker thread.
//!
//! Shutdown has two phases. In `Draining` the listeners stop accepting and sessions carry
//! on, so a POP3 client in the middle of a download can finish and QUIT (which is when its
//! deletions happen). In `Closing` — after the grace period — every session still open is
//! told why and closed.
//!
//! The phase change crosses threads exactly once per worker. Each worker runs one relay task
//! that waits for the shared phase and mirrors it into a thread-local copy; sessions and
//! accept loops wait on that copy, so waking ten thousand sessions is ten thousand local
//! wake-ups on their own thread. (Waking every session's task directly from the signalling
//! thread pushes each wake-up through the runtime's bounded cross-thread queue, and with
//! enough sessions the signalling thread spins on that full queue.)

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::rc::Rc;
use std::sync::atomic::{AtomicU8, Ordering};

use event_listener::Event;

/// Where the server is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum Phase {
    Running = 0,
    Draining = 1,
    Closing = 2,
}

impl Phase {
    fn from_u8(v: u8) -> Phase {
        match v {
            0 => Phase::Running,
            1 => Phase::Draining,
            _ => Phase::Closing,
        }
    }
}

/// The shared shutdown state.
#[derive(Debug, Default)]
pub struct Shutdown {
    phase: AtomicU8,
    changed: Event,
}

/// A worker thread's copy of the phase.
#[derive(Default)]
struct Mirror {
    phase: Cell<u8>,
    changed: Event,
}

thread_local! {
    static MIRROR: RefCell<Option<Rc<Mirror>>> = const { RefCell::new(None) };
}

impl Shutdown {
    pub fn phase(&self) -> Phase {
        Phase::from_u8(self.phase.load(Ordering::Acquire))
    }

    /// Moves to `phase` (never backwards) and wakes every waiter.
    pub fn advance(&self, phase: Phase) {
        self.phase.fetch_max(phase as u8, Ordering::AcqRel);
        self.changed.notify(usize::MAX);
    }

    /// Resolves once the server has reached `phase`. On a worker thread this waits on the
    /// worker's mirror (see the module docs); elsewhere on the shared state.
    pub async fn reached(&self, phase: Phase) {
        match MIRROR.with(|m| m.borrow().clone()) {
            Some(mirror) => loop {
                if mirror.phase.get() >= phase as u8 {
                    return;
                }
                // Same thread, so nothing can change between the check and `listen`.
                mirror.changed.listen().await;
            },
            None => self.reached_shared(phase).await,
        }
    }

    async fn reached_shared(&self, phase: Phase) {
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

    /// Installs this thread's mirror and keeps it in step with the shared phase until
    /// `Closing`. Run once per worker, as a task on its runtime, before any session starts.
    pub fn relay_to_this_thread(&self) -> impl Future<Output = ()> + '_ {
        let mirror = Rc::new(Mirror::default());
        MIRROR.with(|m| *m.borrow_mut() = Some(mirror.clone()));
        async move {
            for phase in [Phase::Draining, Phase::Closing] {
                self.reached_shared(phase).await;
                mirror.phase.set(phase as u8);
                mirror.changed.notify(usize::MAX);
            }
        }
    }

    /// Runs `work` unless the server starts closing first, in which case `work` is dropped
    /// (cancelling its pending I/O) and `None` is returned. This is what keeps a client that
    /// stalls a handshake or stops reading from holding the process past the grace period.
    pub fn unless_closing<F: Future>(&self, work: F) -> impl Future<Output = Option<F::Output>> {
        super::race::Unless::new(work, self.reached(Phase::Closing))
    }
}
