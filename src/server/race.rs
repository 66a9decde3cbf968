//! The first of two futures to finish, without moving either into a second place.
//!
//! Every session waits on its socket "unless the server closes or the session is ended".
//! Written as an `async fn` that pins its argument, that race keeps the future it was given
//! twice in its state (once as the argument, once pinned), because an async fn's arguments
//! are never overlapped with its locals: measured with `-Zprint-type-sizes`, a read under a
//! timeout grew from 1.3 KB to 2.8 KB that way, and a TLS handshake from 3.7 to 7.5 KB, in
//! the state of every session for as long as it lives. [`Unless`] holds each future once,
//! in place. [`timeout`] is the same race against a timer, in place of
//! `compio::time::timeout`, which copies its future the same way.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

pin_project_lite::pin_project! {
    /// `work`, unless `stop` finishes first: `Some(output)`, or `None` once `stop` is done
    /// (and `work`, dropped with this future, is cancelled). `work` is polled first, so a
    /// result that is ready is never thrown away for a stop that is ready too.
    #[must_use = "futures do nothing unless awaited"]
    pub(crate) struct Unless<W, S> {
        #[pin]
        work: W,
        #[pin]
        stop: S,
    }
}

impl<W, S> Unless<W, S> {
    pub fn new(work: W, stop: S) -> Self {
        Unless { work, stop }
    }
}

impl<W: Future, S: Future> Future for Unless<W, S> {
    type Output = Option<W::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Poll::Ready(out) = this.work.poll(cx) {
            return Poll::Ready(Some(out));
        }
        match this.stop.poll(cx) {
            Poll::Ready(_) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// The timer ran out first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Elapsed;

pin_project_lite::pin_project! {
    /// See [`timeout`].
    #[must_use = "futures do nothing unless awaited"]
    pub(crate) struct Timeout<W, S> {
        #[pin]
        race: Unless<W, S>,
    }
}

impl<W: Future, S: Future> Future for Timeout<W, S> {
    type Output = Result<W::Output, Elapsed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().race.poll(cx) {
            Poll::Ready(Some(out)) => Poll::Ready(Ok(out)),
            Poll::Ready(None) => Poll::Ready(Err(Elapsed)),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// `work`, unless `limit` passes first.
pub(crate) fn timeout<W: Future>(
    limit: std::time::Duration,
    work: W,
) -> Timeout<W, impl Future<Output = ()>> {
    Timeout {
        race: Unless::new(work, compio::time::sleep(limit)),
    }
}

#[cfg(test)]
mod tests {
    use super::Unless;
    use std::future::{pending, ready};

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        futures_util::FutureExt::now_or_never(f).expect("ready")
    }

    #[test]
    fn work_wins_when_ready_even_if_stop_is() {
        assert_eq!(block_on(Unless::new(ready(1), ready(()))), Some(1));
        assert_eq!(block_on(Unless::new(pending::<u8>(), ready(()))), None);
        assert_eq!(block_on(Unless::new(ready(2), pending::<()>())), Some(2));
        let waiting = Unless::new(pending::<u8>(), pending::<()>());
        assert!(futures_util::FutureExt::now_or_never(waiting).is_none());
    }

    #[test]
    fn holds_its_work_once() {
        let work = [0u8; 1000];
        let work = async move { work.len() };
        let size = std::mem::size_of_val(&work);
        let raced = Unless::new(work, pending::<()>());
        assert!(std::mem::size_of_val(&raced) < size + 64);
    }
}
