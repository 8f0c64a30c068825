//! `make run`: starts the whole local stack on the documented ports and keeps it running until
//! Ctrl-C, then stops everything it started.
//!
//! While it runs it supervises its components: when one exits, it says which, with its exit
//! status and the last lines of its log, and starts it again, at once the first time and then
//! after a delay that doubles with each quick exit in a row (up to 30 s), so a component that
//! cannot start does not spin.
//!
//! Ports, the token and the data directory come from flags or the environment (see
//! `--help` and the README's configuration reference); data and logs persist in
//! `HOOKLINE_DATA_DIR` (default `.hookline/` in the checkout). An empty token or port
//! setting counts as unset.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
use hookline_dev::process::RestartBackoff;
use hookline_dev::stack::{Component, Ports, Stack, StackOptions};

/// How often the components are checked.
const WATCH_EVERY: Duration = Duration::from_secs(1);
/// Lines of a component's log shown when it exits.
const LOG_LINES: usize = 20;

#[derive(Debug, Parser)]
#[command(
    name = "hookline-stack",
    version,
    about = "Runs the whole local Hookline stack until Ctrl-C (make run).",
    long_about = "Starts the Kafka broker, the ClickHouse engine, hookline-ingest, \
        hookline-consumers and Prometheus on the given ports, restarts a component that exits, \
        and stops everything it started on Ctrl-C. The services' own settings \
        (HOOKLINE_INGEST_LISTEN, …) give the ports the stack uses; it always listens on \
        127.0.0.1."
)]
struct Settings {
    /// The secret GitLab must send in X-Gitlab-Token; generated and printed when unset.
    #[arg(long, env = "HOOKLINE_GITLAB_TOKEN", hide_env_values = true)]
    gitlab_token: Option<String>,

    /// Ingest's webhook listener (HOST:PORT); only its port is used.
    #[arg(long, env = "HOOKLINE_INGEST_LISTEN", default_value = "127.0.0.1:8080", value_parser = listen_port(8080))]
    ingest_listen: u16,

    /// Ingest's admin listener (HOST:PORT); only its port is used.
    #[arg(long, env = "HOOKLINE_INGEST_ADMIN_LISTEN", default_value = "127.0.0.1:9464", value_parser = listen_port(9464))]
    ingest_admin_listen: u16,

    /// The consumers' admin listener (HOST:PORT); only its port is used.
    #[arg(long, env = "HOOKLINE_CONSUMERS_ADMIN_LISTEN", default_value = "127.0.0.1:9465", value_parser = listen_port(9465))]
    consumers_admin_listen: u16,

    /// The Kafka broker's port.
    #[arg(long, env = "HOOKLINE_KAFKA_PORT", default_value_t = 9092, value_parser = port(9092))]
    kafka_port: u16,

    /// The ClickHouse engine's HTTP port.
    #[arg(long, env = "HOOKLINE_CLICKHOUSE_PORT", default_value_t = 8123, value_parser = port(8123))]
    clickhouse_port: u16,

    /// Prometheus's port.
    #[arg(long, env = "HOOKLINE_PROMETHEUS_PORT", default_value_t = 9090, value_parser = port(9090))]
    prometheus_port: u16,

    /// The ClickHouse database of Hookline's tables.
    #[arg(long, env = "HOOKLINE_CLICKHOUSE_DATABASE", default_value = "gitlab")]
    clickhouse_database: String,

    /// Where the components keep their data and logs.
    #[arg(long, env = "HOOKLINE_DATA_DIR", default_value = ".hookline")]
    data_dir: PathBuf,
}

/// A port number; empty means `default`.
fn port(default: u16) -> impl Fn(&str) -> Result<u16, String> + Clone + Send + Sync + 'static {
    move |value| match value {
        "" => Ok(default),
        _ => value
            .parse()
            .map_err(|_| format!("{value:?} is not a port number")),
    }
}

/// The port of a `HOST:PORT` setting shared with the services (e.g. HOOKLINE_INGEST_LISTEN);
/// empty means `default`.
fn listen_port(
    default: u16,
) -> impl Fn(&str) -> Result<u16, String> + Clone + Send + Sync + 'static {
    move |value| match value {
        "" => Ok(default),
        _ => value
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .ok_or_else(|| format!("{value:?} is not HOST:PORT")),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings = Settings::parse();
    let (token, generated) = match settings.gitlab_token {
        Some(token) if !token.trim().is_empty() => (token, false),
        _ => (random_token()?, true),
    };
    let data_dir = settings.data_dir;
    let options = StackOptions {
        token,
        ports: Ports {
            webhooks: settings.ingest_listen,
            ingest_admin: settings.ingest_admin_listen,
            consumers_admin: settings.consumers_admin_listen,
            kafka: settings.kafka_port,
            clickhouse: settings.clickhouse_port,
            prometheus: settings.prometheus_port,
        },
        data_dir: Some(data_dir.clone()),
        broker_dir: None,
        clickhouse_database: settings.clickhouse_database,
        with_prometheus: true,
        ingest_args: Vec::new(),
        ingest_env: Vec::new(),
        consumers_args: Vec::new(),
    };
    println!(
        "starting the Hookline stack (data and logs in {})…",
        data_dir.display()
    );
    let mut stack = Stack::start(options).await?;
    println!();
    println!("Hookline is running. In GitLab (Settings → Webhooks, or Admin → System hooks):");
    println!("  URL:           {}", stack.webhook_url);
    println!(
        "  Secret token:  {}{}",
        stack.token,
        if generated {
            "   (generated; set HOOKLINE_GITLAB_TOKEN to choose one)"
        } else {
            ""
        }
    );
    println!();
    println!("  Ingest metrics:    {}/metrics", stack.ingest_admin_url);
    println!("  Consumers metrics: {}/metrics", stack.consumers_admin_url);
    println!("  Kafka:             {}", stack.kafka_brokers);
    println!(
        "  ClickHouse:        {}  (database {})",
        stack.clickhouse_url, stack.clickhouse_database
    );
    if let Some(url) = &stack.prometheus_url {
        println!("  Prometheus:        {url}");
    }
    println!(
        "  Logs:              {}",
        stack.data_dir.join("logs").display()
    );
    println!();
    println!("Engineering metrics once hooks arrive (in another terminal; --html FILE for a page with charts):");
    println!(
        "  ./target/release/hookline-report --clickhouse-url {} --clickhouse-database {} --clickhouse-compression none --days 30",
        stack.clickhouse_url, stack.clickhouse_database
    );
    println!();
    println!("Press Ctrl-C to stop.");
    let shutdown = hookline_runtime::shutdown::on_signal();
    tokio::select! {
        _ = shutdown.cancelled() => {}
        _ = supervise(&mut stack) => {}
    }
    println!("stopping…");
    drop(stack);
    println!("stopped.");
    Ok(())
}

/// What the supervisor knows of one component.
struct Watched {
    component: Component,
    /// When it was last started.
    started: Instant,
    backoff: RestartBackoff,
    /// When it is to be started again, after it exited.
    restart_at: Option<Instant>,
}

/// Watches every component and starts again the ones that exit; runs until cancelled.
async fn supervise(stack: &mut Stack) {
    let mut watched: Vec<Watched> = [
        Component::Broker,
        Component::ClickHouse,
        Component::Ingest,
        Component::Consumers,
        Component::Prometheus,
    ]
    .into_iter()
    .filter(|c| stack.component(*c).is_some())
    .map(|component| Watched {
        component,
        started: Instant::now(),
        backoff: RestartBackoff::new(
            Duration::from_secs(1),
            Duration::from_secs(30),
            Duration::from_secs(60),
        ),
        restart_at: None,
    })
    .collect();
    loop {
        tokio::time::sleep(WATCH_EVERY).await;
        for (component, status) in stack.exited_components() {
            let Some(w) = watched.iter_mut().find(|w| w.component == component) else {
                continue;
            };
            if w.restart_at.is_some() {
                continue; // Already reported, waiting for its restart.
            }
            let delay = w.backoff.after_exit(w.started.elapsed());
            w.restart_at = Some(Instant::now() + delay);
            if let Some(process) = stack.component(component) {
                eprintln!(
                    "\n{} exited ({status}) after {:.0} s; its last output ({}):\n{}\nrestarting it{}…",
                    process.name(),
                    w.started.elapsed().as_secs_f64(),
                    process.log_path().display(),
                    process.log_tail(LOG_LINES),
                    if delay.is_zero() {
                        String::new()
                    } else {
                        format!(" in {} s", delay.as_secs())
                    }
                );
            }
        }
        for w in &mut watched {
            if w.restart_at.is_none_or(|at| at > Instant::now()) {
                continue;
            }
            w.started = Instant::now();
            let name = stack
                .component(w.component)
                .map_or_else(String::new, |p| p.name().to_owned());
            match stack.restart_component(w.component).await {
                Ok(()) => {
                    w.restart_at = None;
                    eprintln!("{name} is running again");
                }
                Err(error) => {
                    let delay = w.backoff.after_exit(w.started.elapsed());
                    w.restart_at = Some(Instant::now() + delay);
                    eprintln!(
                        "{name} did not start again: {error:#}\nnext attempt in {} s",
                        delay.as_secs()
                    );
                }
            }
        }
    }
}

/// 32 random bytes from the kernel, hex-encoded.
fn random_token() -> anyhow::Result<String> {
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut bytes))
        .context("cannot read /dev/urandom to generate a token")?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn the_configuration_reference_matches_the_command_line() {
        let document = include_str!("../../../docs/configuration.md");
        let sections = &["make run (the local stack)"];
        if let Err(drift) =
            hookline_runtime::reference::verify(&super::Settings::command(), document, sections)
        {
            panic!("{drift}");
        }
    }
}
