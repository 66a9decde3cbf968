//! Telling sessions, on whatever worker thread they live, that a folder they watch changed.
//!
//! A folder's shared state is changed by whichever thread did the work (a blocking-pool
//! thread after a STORE, the watcher after a delivery), while the sessions that must hear of
//! it — IMAP sessions in IDLE — live on their own workers' io_uring loops. Waking every such
//! session from the changing thread would push one wake-up per session through the runtime's
//! bounded cross-thread queue (the shutdown module describes how badly that goes with ten
//! thousand sessions). So the change crosses threads once per worker: the folder's id goes
//! into that worker's crossbeam channel and one relay task per worker is woken; the relay
//! then wakes the worker's own waiters for that folder with plain same-thread wake-ups.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;

use event_listener::{Event, EventListener};

use super::inbox::Inbox;
use crate::mailbox::Notify;

/// The cross-thread side: one inbox of changed folders per worker.
pub(crate) struct Notifier {
    inboxes: Vec<Inbox<u64>>,
}

/// A worker's table of local waiters, by folder id.
#[derive(Default)]
struct Local {
    waiters: RefCell<HashMap<u64, Rc<Event>>>,
    /// The table's size after it was last pruned of folders nobody waits for.
    pruned_at: std::cell::Cell<usize>,
}

thread_local! {
    static LOCAL: RefCell<Option<Rc<Local>>> = const { RefCell::new(None) };
}

impl Notifier {
    pub(crate) fn new(workers: usize) -> Arc<Notifier> {
        Arc::new(Notifier {
            inboxes: (0..workers.max(1)).map(|_| Inbox::default()).collect(),
        })
    }

    /// Installs this worker's waiter table and relays its notices until the runtime stops.
    /// Run once per worker, as a task on its runtime, before any session starts.
    pub(crate) fn relay(self: Arc<Self>, worker: usize) -> impl std::future::Future<Output = ()> {
        let local = Rc::new(Local::default());
        LOCAL.with(|l| *l.borrow_mut() = Some(local.clone()));
        async move {
            let inbox = &self.inboxes[worker];
            loop {
                for id in inbox.next().await {
                    local.wake(id);
                }
            }
        }
    }

    /// A listener that fires when folder `id` changes next. Call on a worker thread whose
    /// relay runs; elsewhere `None`.
    pub(crate) fn listen(id: u64) -> Option<EventListener> {
        LOCAL.with(|l| {
            let local = l.borrow();
            let local = local.as_ref()?;
            let mut waiters = local.waiters.borrow_mut();
            if waiters.len() > 1024 && waiters.len() > 2 * local.pruned_at.get() {
                waiters.retain(|_, e| e.total_listeners() > 0);
                local.pruned_at.set(waiters.len());
            }
            Some(
                waiters
                    .entry(id)
                    .or_insert_with(|| Rc::new(Event::new()))
                    .listen(),
            )
        })
    }
}

impl Local {
    fn wake(&self, id: u64) {
        let waiters = self.waiters.borrow();
        if let Some(event) = waiters.get(&id) {
            event.notify(usize::MAX);
        }
    }
}

impl Notify for Notifier {
    fn changed(&self, worker: usize, mailbox: u64) {
        if let Some(inbox) = self.inboxes.get(worker) {
            inbox.send(mailbox);
        }
    }
}
