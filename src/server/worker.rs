//! One worker thread: a compio runtime, its listening sockets, the sessions it accepted, and
//! the task that obeys the control side's orders (listeners opened and closed by a reload,
//! sessions ended by `kick`).

use std::cell::Cell;
use std::pin::pin;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use compio::net::TcpListener;

use futures_util::future::{Either, select};

use super::Shared;
use super::control::{LocalListeners, Order, StopSwitch};
use super::shutdown::Phase;
use crate::config::ListenerConfig;

/// Runs a worker until shutdown has drained its sessions.
pub(crate) fn run(
    index: usize,
    shared: Arc<Shared>,
    listeners: Vec<(u64, Arc<ListenerConfig>, std::net::TcpListener)>,
) {
    let mut proactor = compio::driver::ProactorBuilder::new();
    // Reads take a buffer from this ring only when data has arrived, so the thousands of
    // connections a worker holds while their clients are silent cost no read buffer each.
    proactor
        .buffer_pool_size(shared.boot.server.read_buffers)
        .buffer_pool_buffer_len(super::transport::READ_SIZE);
    let runtime = match compio::runtime::RuntimeBuilder::new()
        .with_proactor(proactor)
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!(worker = index, "cannot start io_uring runtime: {e}");
            return;
        }
    };
    runtime.block_on(async move {
        // Installed before any session exists: they all wait on this thread's copy.
        let relay = shared.shutdown.relay_to_this_thread();
        compio::runtime::spawn(shared.notifier.clone().relay(index)).detach();
        let work = serve_until_drained(index, &shared, listeners);
        // The relay ends at Closing, usually before the sessions it closes have finished.
        if let Either::Left(((), work)) = select(pin!(relay), pin!(work)).await {
            work.await;
        }
    });
}

/// Accepts until shutdown starts, obeying the control side's orders meanwhile, then waits
/// for this worker's sessions to end (by themselves, or closed when the phase reaches
/// Closing).
async fn serve_until_drained(
    index: usize,
    shared: &Arc<Shared>,
    listeners: Vec<(u64, Arc<ListenerConfig>, std::net::TcpListener)>,
) {
    let live = Rc::new(Cell::new(0usize));
    let accepting = Rc::new(Cell::new(0usize));
    let local = LocalListeners::default();
    let start = |id: u64, config: Arc<ListenerConfig>, socket: std::net::TcpListener| {
        match TcpListener::from_std(socket) {
            Ok(l) => {
                let switch = local.add(id);
                let count = Counted::enter(&accepting);
                compio::runtime::spawn(accept_loop(
                    index,
                    config,
                    l,
                    shared.clone(),
                    live.clone(),
                    switch,
                    count,
                ))
                .detach();
            }
            Err(e) => tracing::error!(worker = index, "cannot register listener: {e}"),
        }
    };
    for (id, config, socket) in listeners {
        start(id, config, socket);
    }
    let orders = async {
        loop {
            for order in shared.control.next(index).await {
                match order {
                    Order::Listen {
                        id,
                        listener,
                        socket,
                    } => start(id, listener, socket),
                    Order::Unlisten { id } => local.stop(id),
                    Order::Wake(entries) => entries.iter().for_each(|e| e.wake()),
                }
            }
        }
    };
    // Orders are obeyed until Closing: a kick during the grace period still works.
    let closing = shared.shutdown.reached(Phase::Closing);
    select(pin!(orders), pin!(closing)).await;
    while live.get() > 0 || accepting.get() > 0 {
        compio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn accept_loop(
    worker: usize,
    config: Arc<ListenerConfig>,
    listener: TcpListener,
    shared: Arc<Shared>,
    live: Rc<Cell<usize>>,
    switch: Rc<StopSwitch>,
    _count: Counted,
) {
    loop {
        let accept = pin!(listener.accept());
        let stop = pin!(async {
            let draining = pin!(shared.shutdown.reached(Phase::Draining));
            select(draining, pin!(switch.stopped())).await;
        });
        match select(accept, stop).await {
            Either::Left((Ok((stream, peer)), _)) => {
                let shared = shared.clone();
                let config = config.clone();
                let live = Counted::enter(&live);
                compio::runtime::spawn(async move {
                    let relay = super::conn::serve(worker, &config, stream, peer, shared).await;
                    // A proxied session after login: relayed by a task of its own, which
                    // holds only the relay's state, while this one (sized for the login)
                    // ends and frees its memory.
                    if let Some(relay) = relay {
                        compio::runtime::spawn(async move {
                            relay.run().await;
                            drop(live);
                        })
                        .detach();
                    }
                })
                .detach();
            }
            Either::Left((Err(e), _)) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!(worker, "accept failed: {e}");
                compio::time::sleep(Duration::from_millis(50)).await;
            }
            Either::Right(_) => break,
        }
    }
    // Dropping the listener closes this worker's socket; the kernel sends new connections
    // to the workers still listening, or refuses them once all have stopped.
    let _ = listener.close().await;
}

/// Counts something on its worker (a session, an accept loop) for as long as it exists, even
/// if its task panics, so the worker does not finish before it has.
struct Counted(Rc<Cell<usize>>);

impl Counted {
    fn enter(count: &Rc<Cell<usize>>) -> Counted {
        count.set(count.get() + 1);
        Counted(count.clone())
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.set(self.0.get() - 1);
    }
}
