//! A service's lifecycle, written once: the shutdown token that SIGINT and SIGTERM cancel, the
//! tasks the service starts (tracked, so that stopping joins them) and its admin listener.
//!
//! Each `main.rs` starts a [`Service`] before anything else and ends with [`Service::stop`],
//! after its own ordered steps (draining requests, flushing producers): `stop` cancels the
//! token, joins every tracked task, and joins the admin listener last, so that `/metrics` and
//! `/readyz` answer until the service is gone.

use prometheus::Registry;
use tokio::task::JoinHandle;

use crate::admin::{self, AdminListener, AdminSettings, Readiness};
use crate::listen::ListenError;
use crate::shutdown::{self, CancellationToken, Tasks};

/// A running service's shared lifecycle.
pub struct Service {
    /// Cancelled by SIGINT or SIGTERM, or by [`Service::stop`]; every task watches it.
    pub shutdown: CancellationToken,
    /// The tasks the service started, joined by [`Service::stop`].
    pub tasks: Tasks,
    /// The admin listener, which ends once `shutdown` is cancelled.
    admin: JoinHandle<std::io::Result<()>>,
}

/// Why a service did not stop cleanly.
#[derive(Debug, thiserror::Error)]
pub enum StopError {
    #[error("the admin listener panicked")]
    AdminPanicked(#[source] tokio::task::JoinError),
    #[error("the admin listener failed")]
    Admin(#[source] std::io::Error),
}

impl Service {
    /// Starts listening for signals and serves the admin listener.
    pub async fn start<L: AdminListener>(
        settings: &AdminSettings<L>,
        registry: Registry,
        readiness: Readiness,
    ) -> Result<Self, ListenError> {
        let shutdown = shutdown::on_signal();
        let admin = admin::start(settings, registry, readiness, &shutdown).await?;
        Ok(Self {
            shutdown,
            tasks: Tasks::default(),
            admin,
        })
    }

    /// Cancels the shutdown token (if no signal did), joins every tracked task, then the admin
    /// listener.
    pub async fn stop(self) -> Result<(), StopError> {
        self.shutdown.cancel();
        self.tasks.join().await;
        self.admin
            .await
            .map_err(StopError::AdminPanicked)?
            .map_err(StopError::Admin)
    }
}
