//! Orders from the control side (reload, `kick`) to a worker thread: open a listener, close
//! one, wake sessions that were marked ended.
//!
//! An order crosses threads once, through the worker's [`Inbox`]; the worker's control task
//! then acts on its own thread, where the listeners and the sessions' wake-ups live.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;

use event_listener::Event;

use super::inbox::Inbox;
use super::sessions::Entry;
use crate::config::ListenerConfig;

/// One order to one worker.
pub(crate) enum Order {
    /// Start accepting on this worker's socket of a new listener.
    Listen {
        id: u64,
        listener: Arc<ListenerConfig>,
        socket: std::net::TcpListener,
    },
    /// Stop accepting on a listener (sessions it accepted carry on).
    Unlisten { id: u64 },
    /// Wake sessions of this worker that were marked ended, so they say goodbye.
    Wake(Vec<Arc<Entry>>),
}

/// The cross-thread side: one inbox per worker.
pub(crate) struct Control {
    inboxes: Vec<Inbox<Order>>,
}

impl Control {
    pub fn new(workers: usize) -> Arc<Control> {
        Arc::new(Control {
            inboxes: (0..workers.max(1)).map(|_| Inbox::default()).collect(),
        })
    }

    pub fn workers(&self) -> usize {
        self.inboxes.len()
    }

    /// Sends an order to `worker`.
    pub fn send(&self, worker: usize, order: Order) {
        if let Some(inbox) = self.inboxes.get(worker) {
            inbox.send(order);
        }
    }

    /// The next orders for `worker`, waiting until there is at least one.
    pub async fn next(&self, worker: usize) -> Vec<Order> {
        self.inboxes[worker].next().await
    }
}

/// A worker's switch for one of its accept loops.
#[derive(Default)]
pub(crate) struct StopSwitch {
    stopped: Cell<bool>,
    event: Event,
}

impl StopSwitch {
    pub fn stop(&self) {
        self.stopped.set(true);
        self.event.notify(usize::MAX);
    }

    pub async fn stopped(&self) {
        loop {
            if self.stopped.get() {
                return;
            }
            // Same thread: nothing can change between the check and `listen`.
            self.event.listen().await;
        }
    }
}

/// A worker's accept loops, by listener id.
#[derive(Default)]
pub(crate) struct LocalListeners {
    switches: RefCell<HashMap<u64, Rc<StopSwitch>>>,
}

impl LocalListeners {
    pub fn add(&self, id: u64) -> Rc<StopSwitch> {
        let switch = Rc::new(StopSwitch::default());
        self.switches.borrow_mut().insert(id, switch.clone());
        switch
    }

    pub fn stop(&self, id: u64) {
        if let Some(switch) = self.switches.borrow_mut().remove(&id) {
            switch.stop();
        }
    }
}
