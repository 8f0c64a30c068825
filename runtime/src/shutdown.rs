//! One shutdown path for the whole process.
//!
//! A [`CancellationToken`] is cancelled on the first SIGINT or SIGTERM. Every task that must
//! finish cleanly (listeners draining in-flight requests, the consumer committing offsets,
//! the producer flushing) waits on a clone of it, so shutdown is decided in one place.

pub use tokio_util::sync::CancellationToken;

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
    async fn cancellation_interrupts_pending_work() {
        let shutdown = CancellationToken::new();
        assert_eq!(unless_cancelled(&shutdown, async { 7 }).await, Some(7));
        shutdown.cancel();
        let never = std::future::pending::<()>();
        assert_eq!(unless_cancelled(&shutdown, never).await, None);
    }
}
