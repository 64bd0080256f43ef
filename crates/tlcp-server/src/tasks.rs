//! The server's connection tasks: tracked so that a shutdown can wait for them (a bounded
//! time) and then abort those still running, so that none outlives [`crate::run`].

use std::future::Future;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::{Notify, watch};
use tokio::task::{AbortHandle, JoinHandle};
use tokio::time::Instant;

/// A set of tasks that can be waited for and aborted.
#[derive(Default)]
pub(crate) struct TaskSet {
    handles: Mutex<Vec<AbortHandle>>,
    live: AtomicUsize,
    idle: Notify,
}

/// Counts a task as live until it ends (or is aborted, even before it first ran: its
/// future, which owns this, is dropped).
struct Live(std::sync::Arc<TaskSet>);

impl Drop for Live {
    fn drop(&mut self) {
        if self.0.live.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

impl TaskSet {
    /// Spawns `f` as a tracked task.
    pub(crate) fn spawn<T: Send + 'static>(
        self: &std::sync::Arc<Self>,
        f: impl Future<Output = T> + Send + 'static,
    ) -> JoinHandle<T> {
        self.live.fetch_add(1, Ordering::AcqRel);
        let live = Live(std::sync::Arc::clone(self));
        let h = tokio::spawn(async move {
            let _live = live;
            f.await
        });
        let mut v = self.handles.lock().unwrap_or_else(|e| e.into_inner());
        v.retain(|h| !h.is_finished());
        v.push(h.abort_handle());
        h
    }

    /// Waits until every task has ended, or until `deadline`; returns whether they all
    /// ended.
    pub(crate) async fn wait_idle(&self, deadline: Instant) -> bool {
        loop {
            let idle = self.idle.notified();
            tokio::pin!(idle);
            idle.as_mut().enable();
            if self.live.load(Ordering::Acquire) == 0 {
                return true;
            }
            if tokio::time::timeout_at(deadline, idle).await.is_err() {
                return self.live.load(Ordering::Acquire) == 0;
            }
        }
    }

    /// Aborts every task still running.
    pub(crate) fn abort_all(&self) {
        for h in self
            .handles
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
        {
            h.abort();
        }
    }
}

/// Aborts its task when dropped (a connection's helper tasks end with the connection,
/// even when the connection's own task is aborted).
pub(crate) struct AbortOnDrop<T>(pub(crate) JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The server's shutdown signal, which connection tasks watch.
pub(crate) struct Shutdown(watch::Sender<bool>);

impl Default for Shutdown {
    fn default() -> Self {
        Self(watch::Sender::new(false))
    }
}

impl Shutdown {
    /// Signals the shutdown.
    pub(crate) fn begin(&self) {
        self.0.send_replace(true);
    }

    /// Whether the shutdown began.
    pub(crate) fn begun(&self) -> bool {
        *self.0.borrow()
    }

    /// Completes once the shutdown has begun.
    pub(crate) fn wait(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut rx = self.0.subscribe();
        async move {
            let _ = rx.wait_for(|begun| *begun).await;
        }
    }
}
