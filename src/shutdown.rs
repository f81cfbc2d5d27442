//! One shutdown signal for every long-lived task (mini-redis `shutdown.rs`), plus a count of
//! the calls still running so `serve` can drain them before it exits.
//!
//! SIGTERM/SIGINT flip the signal once; listeners stop accepting, running calls end on their
//! own (bounded by `calls.drain_secs`), then the process flushes and exits 0.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{watch, Notify};

/// The sending side, owned by `serve`.
#[derive(Debug)]
pub struct Shutdown {
    sender: watch::Sender<bool>,
    active: Arc<Active>,
}

#[derive(Debug, Default)]
struct Active {
    count: AtomicUsize,
    idle: Notify,
}

/// A task's view of the signal: cheap to clone, `recv` resolves once shutdown has begun.
#[derive(Debug, Clone)]
pub struct ShutdownListener {
    receiver: watch::Receiver<bool>,
    active: Arc<Active>,
}

/// Held while a call runs; dropping it tells the drain that one call fewer is left.
#[derive(Debug)]
#[must_use = "the call counts as running only while the guard lives"]
pub struct CallGuard {
    active: Arc<Active>,
}

impl Default for Shutdown {
    fn default() -> Self {
        Self::new()
    }
}

impl Shutdown {
    /// A signal that has not fired.
    pub fn new() -> Self {
        let (sender, _) = watch::channel(false);
        Self {
            sender,
            active: Arc::default(),
        }
    }

    /// A listener for a task.
    pub fn listener(&self) -> ShutdownListener {
        ShutdownListener {
            receiver: self.sender.subscribe(),
            active: self.active.clone(),
        }
    }

    /// Fires the signal (idempotent).
    pub fn trigger(&self) {
        self.sender.send_replace(true);
    }

    /// Waits until no call is running, or `limit` has passed. Returns the calls left.
    pub async fn drain(&self, limit: Duration) -> usize {
        let wait = async {
            loop {
                let notified = self.active.idle.notified();
                if self.active.count.load(Ordering::SeqCst) == 0 {
                    return;
                }
                notified.await;
            }
        };
        let _ = tokio::time::timeout(limit, wait).await;
        self.active.count.load(Ordering::SeqCst)
    }
}

impl ShutdownListener {
    /// Whether shutdown has begun.
    pub fn is_shutdown(&self) -> bool {
        *self.receiver.borrow()
    }

    /// Resolves when shutdown begins (at once if it already has).
    pub async fn recv(&mut self) {
        // An error means the sender is gone, which is a shutdown too.
        let _ = self.receiver.wait_for(|fired| *fired).await;
    }

    /// Counts a call as running until the guard drops.
    pub fn call_started(&self) -> CallGuard {
        self.active.count.fetch_add(1, Ordering::SeqCst);
        CallGuard {
            active: self.active.clone(),
        }
    }
}

impl Drop for CallGuard {
    fn drop(&mut self) {
        if self.active.count.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.active.idle.notify_waiters();
        }
    }
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
///
/// The handlers are installed when this is *called*, not when the future is first polled, so a
/// SIGTERM that arrives right after start-up is already ours (and not the default "terminate").
pub fn signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    #[cfg(unix)]
    let mut interrupt =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt()).ok();
    async move {
        #[cfg(unix)]
        {
            let term = async {
                match term.as_mut() {
                    Some(s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            let interrupt = async {
                match interrupt.as_mut() {
                    Some(s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                _ = term => {}
                _ = interrupt => {}
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn drain_waits_for_calls_and_is_bounded() {
        let shutdown = Shutdown::new();
        let mut listener = shutdown.listener();
        let guard = listener.call_started();
        shutdown.trigger();
        listener.recv().await;
        assert!(listener.is_shutdown());
        // A call that never ends: the drain gives up after the limit.
        assert_eq!(shutdown.drain(Duration::from_secs(5)).await, 1);
        let task = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(1)).await;
            drop(guard);
        });
        assert_eq!(shutdown.drain(Duration::from_secs(30)).await, 0);
        task.await.unwrap();
    }
}
