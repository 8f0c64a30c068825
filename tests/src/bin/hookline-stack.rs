//! `make run`: starts the whole local stack on the documented ports and keeps it running until
//! Ctrl-C, then stops everything it started.
//!
//! Ports and the token come from the environment (see the README's configuration reference);
//! data and logs persist in `HOOKLINE_DATA_DIR` (default `.hookline/` in the checkout).

use std::path::PathBuf;

use anyhow::Context;
use hookline_tests::stack::{Ports, Stack, StackOptions};

fn port(name: &str, default: u16) -> anyhow::Result<u16> {
    match std::env::var(name) {
        Ok(value) if !value.is_empty() => value
            .parse()
            .with_context(|| format!("{name}={value:?} is not a port number")),
        _ => Ok(default),
    }
}

/// The port of a `HOST:PORT` setting shared with the services (e.g. HOOKLINE_INGEST_LISTEN).
fn listen_port(name: &str, default: u16) -> anyhow::Result<u16> {
    match std::env::var(name) {
        Ok(value) if !value.is_empty() => value
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .with_context(|| format!("{name}={value:?} is not HOST:PORT")),
        _ => Ok(default),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let (token, generated) = match std::env::var("HOOKLINE_GITLAB_TOKEN") {
        Ok(token) if !token.trim().is_empty() => (token, false),
        _ => (random_token()?, true),
    };
    let data_dir = std::env::var_os("HOOKLINE_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(".hookline"));
    let options = StackOptions {
        token,
        ports: Ports {
            webhooks: listen_port("HOOKLINE_INGEST_LISTEN", 8080)?,
            ingest_admin: listen_port("HOOKLINE_INGEST_ADMIN_LISTEN", 9464)?,
            consumers_admin: listen_port("HOOKLINE_CONSUMERS_ADMIN_LISTEN", 9465)?,
            kafka: port("HOOKLINE_KAFKA_PORT", 9092)?,
            clickhouse: port("HOOKLINE_CLICKHOUSE_PORT", 8123)?,
            prometheus: port("HOOKLINE_PROMETHEUS_PORT", 9090)?,
        },
        data_dir: Some(data_dir.clone()),
        broker_dir: None,
        clickhouse_database: std::env::var("HOOKLINE_CLICKHOUSE_DATABASE")
            .unwrap_or_else(|_| "gitlab".to_owned()),
        with_prometheus: true,
        ingest_args: Vec::new(),
        ingest_env: Vec::new(),
        consumers_args: Vec::new(),
    };
    println!(
        "starting the Hookline stack (data and logs in {})…",
        data_dir.display()
    );
    let stack = Stack::start(options).await?;
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
    println!("Press Ctrl-C to stop.");
    hookline_runtime::shutdown::on_signal().cancelled().await;
    println!("stopping…");
    drop(stack);
    println!("stopped.");
    Ok(())
}

/// 32 random bytes from the kernel, hex-encoded.
fn random_token() -> anyhow::Result<String> {
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut bytes))
        .context("cannot read /dev/urandom to generate a token")?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}
