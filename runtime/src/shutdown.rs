//! One shutdown path for the whole process.
//!
//! A [`CancellationToken`] is cancelled on the first SIGINT or SIGTERM. Every task that must
//! finish cleanly (listeners draining in-flight requests, the consumer committing offsets,
//! the producer flushing) waits on a clone of it, so shutdown is decided in one place.
//!
//! Nothing a service starts is left running when `main` returns: the tasks whose order
//! matters (the listeners, the spool drainer, the consumer) are joined by `main` one after
//! the other, and the rest (readiness probes, periodic measurements, retries) are spawned on
//! [`Tasks`] and joined together once the ordered ones are done.

use std::future::Future;
use std::sync::{Arc, Mutex};

use tokio::task::JoinHandle;
pub use tokio_util::sync::CancellationToken;

/// A spawned task, with what it does for the log.
type Named = (&'static str, JoinHandle<()>);

/// Background tasks that stop when the shutdown token is cancelled, in no particular order,
/// to be joined with [`Tasks::join`]; cheap to clone.
#[derive(Clone, Default)]
pub struct Tasks {
    /// Every task spawned and not joined yet.
    handles: Arc<Mutex<Vec<Named>>>,
}

impl Tasks {
    /// Runs `task` on the runtime; `task` must end once the shutdown token is cancelled.
    pub fn spawn<F>(&self, name: &'static str, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let handle = tokio::spawn(task);
        self.handles
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((name, handle));
    }

    /// Waits until every task spawned so far, and any spawned meanwhile, has ended.
    pub async fn join(&self) {
        loop {
            let handles =
                std::mem::take(&mut *self.handles.lock().unwrap_or_else(|e| e.into_inner()));
            if handles.is_empty() {
                return;
            }
            for (name, handle) in handles {
                if let Err(error) = handle.await {
                    tracing::error!(task = name, %error, "background task failed");
                }
            }
        }
    }
}

/// Returns a token that is cancelled when the process receives SIGINT or SIGTERM.
pub fn on_signal() -> CancellationToken {
    let token = CancellationToken::new();
    let cancel = token.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutdown signal received: finishing in-flight work");
        cancel.cancel();
    });
    token
}

async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut terminate) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = terminate.recv() => {}
            }
        }
        Err(error) => {
            tracing::warn!(%error, "cannot watch SIGTERM; only Ctrl-C stops the service");
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// Runs `work` unless `shutdown` is cancelled first; `None` when it was.
///
/// For start-up steps that may wait on an unreachable dependency (creating topics, connecting):
/// a SIGTERM during them ends the process promptly instead of after their timeout.
pub async fn unless_cancelled<F: std::future::Future>(
    shutdown: &CancellationToken,
    work: F,
) -> Option<F::Output> {
    tokio::select! {
        output = work => Some(output),
        () = shutdown.cancelled() => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn join_waits_for_every_task() {
        let tasks = Tasks::default();
        let shutdown = CancellationToken::new();
        let (done, mut ended) = tokio::sync::mpsc::channel(2);
        for name in ["a", "b"] {
            let (shutdown, done) = (shutdown.clone(), done.clone());
            tasks.spawn(name, async move {
                shutdown.cancelled().await;
                done.send(name).await.unwrap();
            });
        }
        shutdown.cancel();
        tasks.join().await;
        let mut names = [ended.recv().await.unwrap(), ended.recv().await.unwrap()];
        names.sort_unstable();
        assert_eq!(names, ["a", "b"]);
    }

    #[tokio::test]
    async fn cancellation_interrupts_pending_work() {
        let shutdown = CancellationToken::new();
        assert_eq!(unless_cancelled(&shutdown, async { 7 }).await, Some(7));
        shutdown.cancel();
        let never = std::future::pending::<()>();
        assert_eq!(unless_cancelled(&shutdown, never).await, None);
    }
}
