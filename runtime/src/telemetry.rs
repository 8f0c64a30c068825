//! Logging: human-readable text for a terminal, JSON lines for a log pipeline.
//!
//! Verbosity follows `RUST_LOG` (default `info`). Secrets never reach a log line: the
//! services log header names and outcomes, never tokens or bodies.

use tracing_subscriber::EnvFilter;

/// How log lines are written to standard error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// One human-readable line per event.
    #[default]
    Text,
    /// One JSON object per event, with the structured fields as keys.
    Json,
}

/// The logging settings both services take.
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct LogSettings {
    /// Log format on standard error.
    #[arg(long, env = "HOOKLINE_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

/// Installs the global subscriber. Call once, first thing in `main`.
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
}
