//! A worker's inbox: how something crosses from any thread to one worker's event loop.
//!
//! A message goes into a crossbeam channel and one task of the worker is woken; that task
//! then acts on its own thread. Folder change notices (the notify module) and control orders
//! (the control module) both cross this way, once per worker rather than once per session,
//! because the runtime's cross-thread wake-up queue is bounded and fills up when a thread
//! wakes thousands of tasks on another (the shutdown module tells that story).

use crossbeam_channel::{Receiver, Sender, unbounded};
use event_listener::Event;

pub(crate) struct Inbox<T> {
    tx: Sender<T>,
    rx: Receiver<T>,
    wake: Event,
}

impl<T> Default for Inbox<T> {
    fn default() -> Self {
        let (tx, rx) = unbounded();
        Inbox {
            tx,
            rx,
            wake: Event::new(),
        }
    }
}

impl<T> Inbox<T> {
    /// Queues `message` and wakes the worker's task. Callable from any thread.
    pub fn send(&self, message: T) {
        // The receiver lives as long as the inbox, so sending cannot fail.
        let _ = self.tx.send(message);
        self.wake.notify(1);
    }

    /// Everything queued, waiting until there is at least one message.
    pub async fn next(&self) -> Vec<T> {
        loop {
            // Listen first, then drain: a message sent between the two is not lost.
            let listener = self.wake.listen();
            let messages: Vec<T> = self.rx.try_iter().collect();
            if !messages.is_empty() {
                return messages;
            }
            listener.await;
        }
    }
}
