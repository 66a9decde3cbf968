//! A small, bounded thread pool for work that must never run on an event loop.
//!
//! Password hashing (an argon2 verify costs milliseconds) and Maildir scans (a 10,000-message
//! directory listing) would stall every session on a core if they ran on its io_uring loop.
//! They run here instead. The queue is bounded: when it is full the caller gets
//! [`Overloaded`] at once and can answer the client with a temporary failure, instead of
//! queueing unbounded work during a login storm. Results come back through a oneshot
//! channel, whose waker is safe to fire from another thread.

use std::thread;

use crossbeam_channel::{Sender, TrySendError, bounded};
use futures_channel::oneshot;

type Job = Box<dyn FnOnce() + Send>;

/// The pool's queue is full (or the pool is gone).
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the blocking pool is overloaded")]
pub struct Overloaded;

/// A fixed set of threads fed by a bounded channel.
#[derive(Clone)]
pub struct BlockingPool {
    tx: Sender<Job>,
}

impl BlockingPool {
    /// Starts `threads` threads with room for `queue` waiting jobs.
    pub fn new(threads: usize, queue: usize) -> std::io::Result<BlockingPool> {
        let (tx, rx) = bounded::<Job>(queue);
        for i in 0..threads.max(1) {
            let rx = rx.clone();
            thread::Builder::new()
                .name(format!("postern-blocking-{i}"))
                .spawn(move || {
                    // Ends when every sender is gone, i.e. when the server is dropped.
                    while let Ok(job) = rx.recv() {
                        job();
                    }
                })?;
        }
        Ok(BlockingPool { tx })
    }

    /// Runs `f` on a pool thread without waiting for it (background work such as refreshing
    /// a folder after a directory event).
    pub fn spawn(&self, f: impl FnOnce() + Send + 'static) -> Result<(), Overloaded> {
        self.tx.try_send(Box::new(f)).map_err(|_| Overloaded)
    }

    /// Runs `f` on a pool thread and waits for its result without blocking the caller's loop.
    pub async fn run<T, F>(&self, f: F) -> Result<T, Overloaded>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let (done, result) = oneshot::channel();
        let job: Job = Box::new(move || {
            // The receiver may be gone (the session was dropped); the result is then unused.
            let _ = done.send(f());
        });
        match self.tx.try_send(job) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => return Err(Overloaded),
        }
        // A panic in `f` drops `done`, which reads here as a cancelled channel.
        result.await.map_err(|_| Overloaded)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_jobs_and_reports_overload() {
        let pool = BlockingPool::new(1, 1).unwrap();
        let out = compio::runtime::Runtime::new()
            .unwrap()
            .block_on(async { pool.run(|| 21 * 2).await });
        assert_eq!(out.unwrap(), 42);
    }

    #[test]
    fn full_queue_is_overloaded() {
        let pool = BlockingPool::new(1, 1).unwrap();
        let (release_tx, release_rx) = crossbeam_channel::bounded::<()>(0);
        let rt = compio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            // One job occupies the thread, one waits in the queue; the third is refused.
            let busy = pool.run(move || release_rx.recv().ok());
            let mut busy = Box::pin(busy);
            futures_util::FutureExt::now_or_never(&mut busy);
            std::thread::sleep(std::time::Duration::from_millis(50));
            let queued = Box::pin(pool.run(|| 1));
            let mut queued = queued;
            futures_util::FutureExt::now_or_never(&mut queued);
            let third = pool.run(|| 2).await;
            assert!(third.is_err());
            release_tx.send(()).unwrap();
            assert_eq!(busy.await.unwrap(), Some(()));
            assert_eq!(queued.await.unwrap(), 1);
        });
    }
}
