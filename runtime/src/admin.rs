//! The admin listener: `/metrics`, `/healthz` and `/readyz`, apart from the service's traffic.
//!
//! A separate listener keeps metrics and probes reachable while the main listener is saturated
//! and lets operators expose them on a private interface only.
//!
//! - `/healthz` answers 200 while the process serves HTTP at all (liveness).
//! - `/readyz` answers 200 only when every dependency registered with [`Readiness`] is
//!   reachable, and otherwise 503 with one line per failing dependency (readiness).
//! - `/metrics` is the Prometheus text exposition of the service's own [`Registry`].

use std::collections::BTreeMap;
use std::marker::PhantomData;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use prometheus::{Encoder, Registry, TextEncoder};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::listen::{self, ListenError};
use crate::shutdown::Tasks;

/// Which service an admin listener belongs to: each has its own variable and port, so that
/// both can run on one host.
pub trait AdminListener: Clone + Send + Sync + 'static {
    /// The variable that sets the address, also named when the address is taken.
    const ENV: &'static str;
    /// The address when the variable is not set.
    const DEFAULT: &'static str;
}

/// The admin listener's address, as `--admin-listen` and the service's variable.
#[derive(Clone, clap::Args)]
pub struct AdminSettings<L: AdminListener> {
    /// Address for /metrics, /healthz and /readyz.
    #[arg(long, env = L::ENV, default_value = L::DEFAULT)]
    pub admin_listen: SocketAddr,
    /// Which service's variable and default apply.
    #[arg(skip)]
    service: PhantomData<L>,
}

impl<L: AdminListener> std::fmt::Debug for AdminSettings<L> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminSettings")
            .field("admin_listen", &self.admin_listen)
            .finish()
    }
}

/// Whether the service's dependencies are reachable, as last observed by the service.
#[derive(Debug, Clone, Default)]
pub struct Readiness {
    /// Per dependency: `None` when reachable, otherwise why it is not.
    checks: Arc<Mutex<BTreeMap<&'static str, Option<String>>>>,
}

impl Readiness {
    /// Registers a dependency, not ready until [`Readiness::set_ready`] says otherwise.
    pub fn register(&self, dependency: &'static str) {
        self.set(dependency, Some("starting".to_owned()));
    }

    pub fn set_ready(&self, dependency: &'static str) {
        self.set(dependency, None);
    }

    pub fn set_not_ready(&self, dependency: &'static str, reason: impl Into<String>) {
        self.set(dependency, Some(reason.into()));
    }

    fn set(&self, dependency: &'static str, state: Option<String>) {
        let mut checks = self.checks.lock().unwrap_or_else(|e| e.into_inner());
        checks.insert(dependency, state);
    }

    /// Registers `dependency` and keeps it current by running the blocking `probe` every
    /// `interval` on the blocking thread pool, on `tasks`, until `shutdown` is cancelled.
    pub fn watch<F>(
        &self,
        dependency: &'static str,
        interval: std::time::Duration,
        tasks: &Tasks,
        shutdown: &CancellationToken,
        probe: F,
    ) where
        F: Fn() -> Result<(), String> + Send + Sync + 'static,
    {
        self.register(dependency);
        let readiness = self.clone();
        let probe = Arc::new(probe);
        let shutdown = shutdown.clone();
        tasks.spawn(dependency, async move {
            loop {
                let attempt = probe.clone();
                // A probe still waiting on its dependency at shutdown is left to finish on
                // the blocking pool: its answer no longer matters.
                let probed = tokio::select! {
                    probed = tokio::task::spawn_blocking(move || attempt()) => probed,
                    () = shutdown.cancelled() => return,
                };
                match probed {
                    Ok(Ok(())) => readiness.set_ready(dependency),
                    Ok(Err(reason)) => readiness.set_not_ready(dependency, reason),
                    Err(error) => readiness.set_not_ready(dependency, error.to_string()),
                }
                tokio::select! {
                    () = tokio::time::sleep(interval) => {}
                    () = shutdown.cancelled() => return,
                }
            }
        });
    }

    /// `Ok` when every dependency is ready, otherwise one line per dependency that is not.
    pub fn status(&self) -> Result<(), String> {
        let checks = self.checks.lock().unwrap_or_else(|e| e.into_inner());
        let failing: Vec<String> = checks
            .iter()
            .filter_map(|(name, state)| state.as_ref().map(|reason| format!("{name}: {reason}")))
            .collect();
        if failing.is_empty() {
            Ok(())
        } else {
            Err(failing.join("\n"))
        }
    }
}

#[derive(Clone)]
struct AdminState {
    /// What `/metrics` shows.
    registry: Registry,
    /// What `/readyz` answers from.
    readiness: Readiness,
}

/// The admin routes over a service's registry and readiness.
pub fn router(registry: Registry, readiness: Readiness) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .with_state(AdminState {
            registry,
            readiness,
        })
}

/// Opens the admin listener and serves the admin routes on it until `shutdown` is cancelled;
/// the handle resolves once it stopped.
pub async fn start<L: AdminListener>(
    settings: &AdminSettings<L>,
    registry: Registry,
    readiness: Readiness,
    shutdown: &CancellationToken,
) -> Result<JoinHandle<std::io::Result<()>>, ListenError> {
    let listener = listen::bind(settings.admin_listen, "metrics and health probes", L::ENV).await?;
    Ok(tokio::spawn(serve(
        listener,
        registry,
        readiness,
        shutdown.clone(),
    )))
}

/// Serves the admin routes until `shutdown` is cancelled.
pub async fn serve(
    listener: TcpListener,
    registry: Registry,
    readiness: Readiness,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    axum::serve(listener, router(registry, readiness))
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
}

async fn metrics(State(state): State<AdminState>) -> Response {
    let mut body = Vec::new();
    let encoder = TextEncoder::new();
    match encoder.encode(&state.registry.gather(), &mut body) {
        Ok(()) => ([(header::CONTENT_TYPE, encoder.format_type())], body).into_response(),
        Err(error) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot encode metrics: {error}\n"),
        )
            .into_response(),
    }
}

async fn readyz(State(state): State<AdminState>) -> Response {
    match state.readiness.status() {
        Ok(()) => "ready\n".into_response(),
        Err(failing) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready\n{failing}\n"),
        )
            .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone)]
    struct TestAdmin;

    impl AdminListener for TestAdmin {
        const ENV: &'static str = "HOOKLINE_TEST_ADMIN_LISTEN";
        const DEFAULT: &'static str = "127.0.0.1:9999";
    }

    #[test]
    fn the_admin_address_comes_from_the_services_variable() {
        use clap::Parser;

        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            admin: AdminSettings<TestAdmin>,
        }

        let parse = |args: &[&str]| Cli::try_parse_from(args).unwrap().admin.admin_listen;
        assert_eq!(parse(&["test"]).to_string(), "127.0.0.1:9999");
        assert_eq!(
            parse(&["test", "--admin-listen=0.0.0.0:1"]).to_string(),
            "0.0.0.0:1"
        );
        // No other test reads this variable.
        std::env::set_var(TestAdmin::ENV, "127.0.0.2:2");
        assert_eq!(parse(&["test"]).to_string(), "127.0.0.2:2");
    }

    #[test]
    fn readiness_needs_every_dependency() {
        let readiness = Readiness::default();
        assert!(readiness.status().is_ok(), "nothing registered is ready");
        readiness.register("kafka");
        readiness.register("clickhouse");
        readiness.set_ready("kafka");
        assert_eq!(readiness.status().unwrap_err(), "clickhouse: starting");
        readiness.set_ready("clickhouse");
        assert!(readiness.status().is_ok());
        readiness.set_not_ready("kafka", "broker 127.0.0.1:9092 unreachable");
        assert_eq!(
            readiness.status().unwrap_err(),
            "kafka: broker 127.0.0.1:9092 unreachable"
        );
    }
}
