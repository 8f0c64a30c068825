//! The query library: one documented SQL file per question, in `schemas/queries/<area>/`.
//!
//! Every number Hookline shows comes from here: `hookline-report` runs these files, the
//! Grafana dashboards' panels are generated from them, and the tests check them against the
//! expected values of a generated history. The definitions they implement are in
//! `docs/analytics.md`.
//!
//! A file starts with a header of `-- key: value` lines (a line `--   more` continues the
//! value before it), then one `SELECT` without a trailing `;`:
//!
//! ```sql
//! -- title: Pipeline duration
//! -- question: How long do pipelines run, by project and day?
//! -- definition: Finished pipelines by the day of finished_at; percentiles of duration_seconds.
//! -- chart: line x=day y=duration_p50,duration_p95 series=project_path
//! -- columns: day Date, project_path String, duration_p50 Nullable(Float64), duration_p95 Nullable(Float64)
//! SELECT …
//! ```
//!
//! The SQL reads only the views (`schemas/views/`), never a table, and takes ClickHouse query
//! parameters (`{from:DateTime64(3, 'UTC')}`, …): always every one of [`Parameters`], so that
//! one set of values runs the whole library, whichever of them a query uses.

use std::collections::BTreeMap;

/// One query of the library.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Query {
    /// The folder: `ci`, `jobs`, `merge_requests`, `dora` or `activity`.
    pub area: &'static str,
    /// The file name without `.sql`, unique across areas.
    pub name: &'static str,
    /// The whole file.
    pub text: &'static str,
}

/// How a query's result is drawn (the `chart:` header).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chart {
    /// `line` (a series over time), `bar` (one bar per row), `table` or `stat` (one number).
    pub kind: ChartKind,
    /// The column along the x axis (`line`, `bar`); empty for `table` and `stat`.
    pub x: String,
    /// The columns plotted (`stat`: the one number).
    pub y: Vec<String>,
    /// The column whose values are separate lines or bar groups, if any.
    pub series: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChartKind {
    Line,
    Bar,
    Table,
    Stat,
}

/// A query's header, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub title: String,
    pub question: String,
    pub definition: String,
    pub chart: Chart,
    /// The result's columns, in order: name and ClickHouse type.
    pub columns: Vec<(String, String)>,
}

/// A header that does not follow the format.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    #[error("query {query}: header `{key}` is missing")]
    Missing {
        query: &'static str,
        key: &'static str,
    },
    #[error("query {query}: {reason}")]
    Invalid { query: &'static str, reason: String },
}

impl Query {
    /// The SQL after the header.
    pub fn sql(&self) -> &'static str {
        let start = self
            .text
            .lines()
            .take_while(|line| line.starts_with("--") || line.trim().is_empty())
            .map(|line| line.len() + 1)
            .sum::<usize>()
            .min(self.text.len());
        self.text[start..].trim_end()
    }

    /// The header's values by key.
    fn header_values(&self) -> BTreeMap<String, String> {
        let mut values: BTreeMap<String, String> = BTreeMap::new();
        let mut last: Option<String> = None;
        for line in self.text.lines() {
            let Some(comment) = line.strip_prefix("--") else {
                if line.trim().is_empty() {
                    continue;
                }
                break;
            };
            if let Some(more) = comment.strip_prefix("   ") {
                if let Some(key) = &last {
                    let value = values.entry(key.clone()).or_default();
                    value.push(' ');
                    value.push_str(more.trim());
                }
                continue;
            }
            if let Some((key, value)) = comment.trim().split_once(':') {
                let key = key.trim().to_owned();
                values.insert(key.clone(), value.trim().to_owned());
                last = Some(key);
            }
        }
        values
    }

    /// The header, checked.
    pub fn header(&self) -> Result<Header, HeaderError> {
        let values = self.header_values();
        let get = |key: &'static str| {
            values
                .get(key)
                .filter(|v| !v.is_empty())
                .cloned()
                .ok_or(HeaderError::Missing {
                    query: self.name,
                    key,
                })
        };
        let invalid = |reason: String| HeaderError::Invalid {
            query: self.name,
            reason,
        };
        let columns = get("columns")?
            .split(',')
            .map(|column| {
                let column = column.trim();
                column
                    .split_once(' ')
                    .map(|(name, ty)| (name.to_owned(), ty.trim().to_owned()))
                    .ok_or_else(|| invalid(format!("column `{column}` has no type")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let chart = parse_chart(&get("chart")?).map_err(invalid)?;
        let known = |name: &String| columns.iter().any(|(c, _)| c == name);
        for name in chart
            .y
            .iter()
            .chain(chart.series.iter())
            .chain(Some(&chart.x).filter(|x| !x.is_empty()))
        {
            if !known(name) {
                return Err(invalid(format!("the chart names `{name}`, not a column")));
            }
        }
        Ok(Header {
            title: get("title")?,
            question: get("question")?,
            definition: get("definition")?,
            chart,
            columns,
        })
    }
}

/// `line x=day y=a,b series=project_path`, `bar x=… y=…`, `table`, `stat y=…`.
fn parse_chart(text: &str) -> Result<Chart, String> {
    let mut words = text.split_whitespace();
    let kind = match words.next() {
        Some("line") => ChartKind::Line,
        Some("bar") => ChartKind::Bar,
        Some("table") => ChartKind::Table,
        Some("stat") => ChartKind::Stat,
        other => return Err(format!("unknown chart kind {other:?}")),
    };
    let mut chart = Chart {
        kind,
        x: String::new(),
        y: Vec::new(),
        series: None,
    };
    for word in words {
        match word.split_once('=') {
            Some(("x", x)) => chart.x = x.to_owned(),
            Some(("y", y)) => chart.y = y.split(',').map(str::to_owned).collect(),
            Some(("series", s)) => chart.series = Some(s.to_owned()),
            _ => return Err(format!("chart: cannot read `{word}`")),
        }
    }
    let needs_axes = matches!(kind, ChartKind::Line | ChartKind::Bar);
    if needs_axes && (chart.x.is_empty() || chart.y.is_empty()) {
        return Err("a line or bar chart needs x= and y=".to_owned());
    }
    if kind == ChartKind::Stat && chart.y.len() != 1 {
        return Err("a stat shows one column: y=…".to_owned());
    }
    Ok(chart)
}

/// The values of every query parameter (see `docs/analytics.md`, Conventions).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parameters {
    /// Start of the time range (inclusive), milliseconds since the epoch.
    pub from_ms: i64,
    /// End of the time range (exclusive), milliseconds since the epoch.
    pub to_ms: i64,
    /// Path prefix of the projects in scope (current paths); empty: every project.
    pub project: String,
    /// Branch or tag name; empty: every ref.
    pub git_ref: String,
    /// Environment name; empty: every environment.
    pub environment: String,
    /// DORA: the environment tier that is production.
    pub production_tier: String,
    /// DORA: names that are production when the tier is unknown (RE2).
    pub production_pattern: String,
    /// DORA: what counts as a change failure (`incidents`, `failed_deployments`,
    /// `rollbacks`, comma-separated).
    pub failure: String,
    /// DORA: what restores service (`incident_closed` or `next_success`).
    pub restore: String,
    /// Jobs: count allowed-to-fail jobs in failure rates.
    pub include_allowed: bool,
    /// Jobs: count superseded tries in failure rates.
    pub include_superseded: bool,
}

impl Parameters {
    /// Every project, ref and environment between `from_ms` and `to_ms`, with GitLab's DORA
    /// definitions.
    pub fn new(from_ms: i64, to_ms: i64) -> Self {
        Self {
            from_ms,
            to_ms,
            project: String::new(),
            git_ref: String::new(),
            environment: String::new(),
            production_tier: "production".to_owned(),
            production_pattern: "^(production|prod)(/.*)?$".to_owned(),
            failure: "incidents".to_owned(),
            restore: "incident_closed".to_owned(),
            include_allowed: false,
            include_superseded: false,
        }
    }

    /// Each parameter's name and its value as ClickHouse reads query parameters (times as
    /// `YYYY-MM-DD hh:mm:ss.sss` in UTC).
    pub fn pairs(&self) -> Vec<(&'static str, String)> {
        vec![
            ("from", datetime(self.from_ms)),
            ("to", datetime(self.to_ms)),
            ("project", self.project.clone()),
            ("ref", self.git_ref.clone()),
            ("environment", self.environment.clone()),
            ("production_tier", self.production_tier.clone()),
            ("production_pattern", self.production_pattern.clone()),
            ("failure", self.failure.clone()),
            ("restore", self.restore.clone()),
            (
                "include_allowed",
                u8::from(self.include_allowed).to_string(),
            ),
            (
                "include_superseded",
                u8::from(self.include_superseded).to_string(),
            ),
        ]
    }
}

/// Milliseconds since the epoch as ClickHouse's `DateTime64(3)` text, in UTC.
fn datetime(ms: i64) -> String {
    let time = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:03}",
        time.year(),
        u8::from(time.month()),
        time.day(),
        time.hour(),
        time.minute(),
        time.second(),
        time.millisecond()
    )
}

/// A [`Query`] from `queries/{area}/{name}.sql`.
macro_rules! query {
    ($area:literal, $name:literal) => {
        Query {
            area: $area,
            name: $name,
            text: include_str!(concat!("../queries/", $area, "/", $name, ".sql")),
        }
    };
}

/// Every query of the library, by area.
pub const QUERIES: &[Query] = &[
    query!("ci", "pipeline_duration"),
    query!("ci", "pipeline_success_rate"),
    query!("ci", "default_branch_red_time"),
    query!("ci", "pipelines_per_merge_request"),
    query!("ci", "time_to_first_green_pipeline"),
    query!("ci", "ci_minutes"),
    query!("ci", "slowest_stages"),
    query!("jobs", "job_duration"),
    query!("jobs", "job_failure_rate"),
    query!("jobs", "job_failure_reasons"),
    query!("jobs", "job_retries"),
    query!("jobs", "flaky_jobs"),
    query!("merge_requests", "merge_request_throughput"),
    query!("merge_requests", "time_to_merge"),
    query!("merge_requests", "pickup_time"),
    query!("merge_requests", "time_to_first_approval"),
    query!("merge_requests", "review_rounds"),
    query!("merge_requests", "comments_per_merge_request"),
    query!("merge_requests", "open_merge_request_age"),
    query!("merge_requests", "review_load"),
    query!("merge_requests", "coding_time"),
    query!("dora", "deployment_frequency"),
    query!("dora", "lead_time_for_changes"),
    query!("dora", "change_failure_rate"),
    query!("dora", "time_to_restore"),
    query!("dora", "dora_summary"),
    query!("activity", "push_frequency"),
    query!("activity", "issue_lead_time"),
    query!("activity", "incidents"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_is_listed_once_with_a_complete_header() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("queries");
        let mut files = Vec::new();
        for area in std::fs::read_dir(&dir).expect("schemas/queries") {
            let area = area.expect("an entry").path();
            for file in std::fs::read_dir(&area).expect("an area") {
                let file = file.expect("a file").path();
                files.push(format!(
                    "{}/{}",
                    area.file_name().unwrap().to_string_lossy(),
                    file.file_name().unwrap().to_string_lossy()
                ));
            }
        }
        files.sort();
        let mut listed: Vec<String> = QUERIES
            .iter()
            .map(|q| format!("{}/{}.sql", q.area, q.name))
            .collect();
        listed.sort();
        assert_eq!(files, listed, "schemas/queries/ and QUERIES differ");
        let mut names: Vec<&str> = QUERIES.iter().map(|q| q.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), QUERIES.len(), "two queries share a name");
        for query in QUERIES {
            query.header().unwrap_or_else(|error| panic!("{error}"));
            let sql = query.sql();
            assert!(
                sql.starts_with("SELECT") || sql.starts_with("WITH"),
                "{}",
                query.name
            );
            assert!(!sql.ends_with(';'), "{}", query.name);
            assert!(
                !sql.contains('?'),
                "{}: `?` is the client's placeholder",
                query.name
            );
        }
    }

    #[test]
    fn headers_continue_and_charts_name_their_columns() {
        let query = Query {
            area: "ci",
            name: "t",
            text: "-- title: T\n-- question: Q\n--   continued\n-- definition: D\n-- chart: line x=day y=n series=p\n-- columns: day Date, p String, n UInt64\nSELECT 1",
        };
        let header = query.header().expect("a valid header");
        assert_eq!(header.question, "Q continued");
        assert_eq!(header.chart.series.as_deref(), Some("p"));
        assert_eq!(header.columns[2], ("n".to_owned(), "UInt64".to_owned()));
        assert_eq!(query.sql(), "SELECT 1");
        let wrong = Query {
            text: "-- title: T\n-- question: Q\n-- definition: D\n-- chart: line x=day y=m\n-- columns: day Date\nSELECT 1",
            ..query
        };
        assert!(matches!(wrong.header(), Err(HeaderError::Invalid { .. })));
    }

    #[test]
    fn parameters_are_text_clickhouse_reads() {
        let pairs = Parameters::new(0, 1_700_000_000_123).pairs();
        assert_eq!(pairs[0], ("from", "1970-01-01 00:00:00.000".to_owned()));
        assert_eq!(pairs[1], ("to", "2023-11-14 22:13:20.123".to_owned()));
    }
}
