//! `hookline-report`'s command line: the ClickHouse connection (`HOOKLINE_CLICKHOUSE_*`, as the
//! consumers read it), then the range, the scope and the definitions, as flags.

use clap::Parser;
use hookline_runtime::clickhouse::ClickHouseConnection;
use hookline_schemas::queries::Parameters;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{Date, OffsetDateTime};

#[derive(Debug, Clone, Parser)]
#[command(
    name = "hookline-report",
    version,
    about = "Prints Hookline's engineering metrics for a time range, or writes them as one HTML page.",
    long_about = "Runs every query of Hookline's library (CI pipelines, jobs, merge requests and \
        review, DORA, pushes, issues and incidents; definitions in docs/analytics.md) against \
        the tables the consumers fill, for a time range and a group or project, and prints the \
        results as tables with units. With --html FILE it writes one self-contained page with a \
        chart per question and the DORA four keys with their performance bands."
)]
pub struct Cli {
    /// Where the tables are (HOOKLINE_CLICKHOUSE_*); SELECT on the database is enough.
    #[command(flatten)]
    pub connection: ClickHouseConnection,

    /// Start of the range: a date (YYYY-MM-DD, UTC) or an RFC 3339 time; default: --days before --to.
    #[arg(long, value_parser = instant)]
    pub from: Option<OffsetDateTime>,

    /// End of the range (exclusive): a date (YYYY-MM-DD, UTC) or an RFC 3339 time; default: now.
    #[arg(long, value_parser = instant)]
    pub to: Option<OffsetDateTime>,

    /// Length of the range in days when --from is not given.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..=3650))]
    pub days: u32,

    /// Only projects whose current path starts with this: a group (`gitlab-org/`) or a project.
    #[arg(long, default_value = "")]
    pub project: String,

    /// Only this branch or tag (pipelines, jobs; merge requests by target branch; deployments).
    #[arg(long = "ref", default_value = "")]
    pub git_ref: String,

    /// Only this environment (deployment metrics).
    #[arg(long, default_value = "")]
    pub environment: String,

    /// DORA: the environment tier that is production.
    #[arg(long, default_value = "production")]
    pub production_tier: String,

    /// DORA: environment names (RE2) that are production when GitLab sends no tier.
    #[arg(long, default_value = "^(production|prod)(/.*)?$")]
    pub production_pattern: String,

    /// DORA: what counts as a change failure: incidents, failed_deployments, rollbacks (comma-separated).
    #[arg(long, default_value = "incidents")]
    pub failure: String,

    /// DORA: what restores service: incident_closed or next_success.
    #[arg(long, default_value = "incident_closed")]
    pub restore: String,

    /// Job failure rates: count allowed-to-fail jobs too.
    #[arg(long)]
    pub include_allowed: bool,

    /// Job failure rates: count superseded tries too.
    #[arg(long)]
    pub include_superseded: bool,

    /// Also write the report as one self-contained HTML page with charts to this file.
    #[arg(long, value_name = "FILE")]
    pub html: Option<std::path::PathBuf>,
}

impl Cli {
    /// The query parameters these flags ask for, the range ending at `now` unless --to says.
    pub fn parameters(&self, now: OffsetDateTime) -> Parameters {
        let to = self.to.unwrap_or(now);
        let from = self
            .from
            .unwrap_or(to - time::Duration::days(i64::from(self.days)));
        let ms = |t: OffsetDateTime| (t.unix_timestamp_nanos() / 1_000_000) as i64;
        Parameters {
            project: self.project.clone(),
            git_ref: self.git_ref.clone(),
            environment: self.environment.clone(),
            production_tier: self.production_tier.clone(),
            production_pattern: self.production_pattern.clone(),
            failure: self.failure.clone(),
            restore: self.restore.clone(),
            include_allowed: self.include_allowed,
            include_superseded: self.include_superseded,
            ..Parameters::new(ms(from), ms(to))
        }
    }
}

/// A date (midnight UTC) or an RFC 3339 time.
fn instant(text: &str) -> Result<OffsetDateTime, String> {
    if let Ok(date) = Date::parse(text, format_description!("[year]-[month]-[day]")) {
        return Ok(date.midnight().assume_utc());
    }
    OffsetDateTime::parse(text, &Rfc3339).map_err(|_| {
        format!(
            "`{text}` is neither a date (2026-11-01) nor an RFC 3339 time (2026-11-01T08:00:00Z)"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_range_defaults_to_the_last_days_before_now() {
        let cli = Cli::try_parse_from(["hookline-report", "--days", "7"]).unwrap();
        let now = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
        let parameters = cli.parameters(now);
        assert_eq!(parameters.to_ms, 1_700_000_000_000);
        assert_eq!(parameters.from_ms, 1_700_000_000_000 - 7 * 86_400_000);
        assert_eq!(parameters.failure, "incidents");
    }

    #[test]
    fn dates_and_times_are_read_and_nonsense_is_refused_clearly() {
        let cli = Cli::try_parse_from([
            "hookline-report",
            "--from",
            "2026-11-01",
            "--to",
            "2026-11-02T12:00:00Z",
        ])
        .unwrap();
        let parameters = cli.parameters(OffsetDateTime::UNIX_EPOCH);
        assert_eq!(parameters.from_ms, 1_793_491_200_000);
        assert_eq!(parameters.to_ms, 1_793_620_800_000);
        let error = Cli::try_parse_from(["hookline-report", "--from", "yesterday"])
            .unwrap_err()
            .to_string();
        assert!(error.contains("neither a date"), "{error}");
    }
}
