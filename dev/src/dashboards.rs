//! The analytics dashboards of `deploy/grafana/dashboards/`, generated from the query library.
//!
//! Every panel is one query of `hookline_schemas::queries`, its SQL unchanged but for the
//! query parameters, which become what Grafana's ClickHouse data source fills in: the time
//! range becomes the `$__fromTime_ms` and `$__toTime_ms` macros (the dashboard's range as
//! `DateTime64(3)`), every other parameter a dashboard variable (`${project:sqlstring}`, a
//! quoted and escaped string). So a panel shows exactly what the library answers, and
//! [`expand`] turns a panel's SQL back into a query the tests run against ground truth.
//!
//! `hookline-dashboards` writes the files; a test fails when they differ from what this
//! module generates, so a change to a query reaches its panel.

use hookline_schemas::queries::{ChartKind, Parameters, Query, QUERIES};
use serde_json::{json, Value};

/// The ClickHouse data source provisioned in `deploy/grafana/provisioning/datasources/`.
const DATASOURCE_UID: &str = "hookline-clickhouse";

/// One generated dashboard: which queries it shows.
pub struct Dashboard {
    /// File name without `.json`, and the dashboard's uid.
    pub uid: &'static str,
    pub title: &'static str,
    pub description: &'static str,
    /// Areas of the library shown whole.
    pub areas: &'static [&'static str],
    /// Queries of other areas shown too, by name.
    pub also: &'static [&'static str],
    /// The DORA settings are variables of this dashboard (elsewhere: GitLab's definitions).
    pub dora_variables: bool,
}

/// Every generated dashboard.
pub const DASHBOARDS: &[Dashboard] = &[
    Dashboard {
        uid: "hookline-ci",
        title: "Hookline: CI pipelines",
        description: "Pipeline durations, queued time, success rate, red default branches and merge request pipelines (docs/analytics.md, CI).",
        areas: &["ci"],
        also: &[],
        dora_variables: false,
    },
    Dashboard {
        uid: "hookline-jobs",
        title: "Hookline: jobs and flaky jobs",
        description: "Job durations, failure rates and reasons, retries and flaky jobs (docs/analytics.md, Jobs).",
        areas: &["jobs"],
        also: &[],
        dora_variables: false,
    },
    Dashboard {
        uid: "hookline-runners",
        title: "Hookline: runners",
        description: "CI minutes and failure rates by runner.",
        areas: &[],
        also: &["ci_minutes", "job_failure_rate"],
        dora_variables: false,
    },
    Dashboard {
        uid: "hookline-merge-requests",
        title: "Hookline: merge requests and review",
        description: "Throughput, time to merge, pickup and approval times, review rounds and load, coding time (docs/analytics.md, Merge requests).",
        areas: &["merge_requests"],
        also: &[],
        dora_variables: false,
    },
    Dashboard {
        uid: "hookline-dora",
        title: "Hookline: DORA",
        description: "Deployment frequency, lead time for changes, change failure rate and time to restore, with the definitions as variables (docs/analytics.md, DORA).",
        areas: &["dora"],
        also: &[],
        dora_variables: true,
    },
    Dashboard {
        uid: "hookline-activity",
        title: "Hookline: pushes, issues and incidents",
        description: "Push frequency, issue lead time, incidents opened and time to close (docs/analytics.md, Other).",
        areas: &["activity"],
        also: &[],
        dora_variables: false,
    },
];

impl Dashboard {
    /// The library's queries this dashboard shows, in library order.
    pub fn queries(&self) -> Vec<&'static Query> {
        QUERIES
            .iter()
            .filter(|q| self.areas.contains(&q.area) || self.also.contains(&q.name))
            .collect()
    }

    /// The dashboard's JSON, as Grafana provisions it.
    pub fn json(&self) -> Value {
        let panels: Vec<Value> = self
            .queries()
            .iter()
            .enumerate()
            .map(|(i, query)| panel(query, i))
            .collect();
        json!({
            "uid": self.uid,
            "title": self.title,
            "description": self.description,
            "tags": ["hookline", "analytics"],
            "timezone": "utc",
            "editable": false,
            "graphTooltip": 1,
            "refresh": "1m",
            "schemaVersion": 39,
            "version": 1,
            "time": {"from": "now-30d", "to": "now"},
            "templating": {"list": variables(self.dora_variables)},
            "annotations": {"list": []},
            "links": [],
            "panels": panels,
        })
    }
}

/// The dashboard variables: one per query parameter but the time range.
fn variables(dora: bool) -> Vec<Value> {
    let text = |name: &str, label: &str, value: &str, description: &str| {
        json!({
            "type": "textbox", "name": name, "label": label, "description": description,
            "query": value, "current": {"text": value, "value": value}, "hide": 0,
        })
    };
    let hidden = |name: &str, value: &str| {
        json!({
            "type": "constant", "name": name, "query": value, "hide": 2,
        })
    };
    let defaults = Parameters::new(0, 0);
    let mut list = vec![
        json!({
            "type": "query", "name": "project", "label": "Group or project",
            "description": "A path prefix: a group (gitlab-org/) or a project; All: every project.",
            "datasource": {"type": "grafana-clickhouse-datasource", "uid": DATASOURCE_UID},
            "query": "SELECT arrayJoin(arrayConcat([''], groupUniqArray(path))) AS path FROM projects WHERE path != '' ORDER BY path",
            "refresh": 2, "includeAll": false, "current": {"text": "", "value": ""}, "hide": 0,
        }),
        text("ref", "Ref", "", "A branch or tag name; empty: every ref."),
        text(
            "environment",
            "Environment",
            "",
            "An environment name; empty: every environment.",
        ),
    ];
    let dora_settings = [
        (
            "production_tier",
            "Production tier",
            defaults.production_tier.as_str(),
            "The environment tier that is production.",
        ),
        (
            "production_pattern",
            "Production names",
            defaults.production_pattern.as_str(),
            "Environment names (RE2) that are production when GitLab sends no tier.",
        ),
        (
            "failure",
            "Change failures",
            defaults.failure.as_str(),
            "incidents, failed_deployments, rollbacks (comma-separated).",
        ),
        (
            "restore",
            "Restored by",
            defaults.restore.as_str(),
            "incident_closed or next_success.",
        ),
    ];
    for (name, label, value, description) in dora_settings {
        list.push(if dora {
            text(name, label, value, description)
        } else {
            hidden(name, value)
        });
    }
    list.push(hidden("include_allowed", "0"));
    list.push(hidden("include_superseded", "0"));
    list
}

/// One panel: the query's chart, its SQL for Grafana.
fn panel(query: &Query, index: usize) -> Value {
    let header = query
        .header()
        .unwrap_or_else(|error| panic!("the library's headers are checked by its tests: {error}"));
    let (kind, width, height) = match header.chart.kind {
        ChartKind::Line => ("timeseries", 12, 8),
        ChartKind::Bar => ("barchart", 12, 8),
        ChartKind::Table => ("table", 24, 8),
        ChartKind::Stat => ("stat", 6, 4),
    };
    let format = if header.chart.kind == ChartKind::Line {
        0 // time series
    } else {
        1 // table
    };
    let x = (index % 2) * 12;
    let y = (index / 2) * 8;
    json!({
        "id": index + 1,
        "type": kind,
        "title": header.title,
        "description": format!("{} {}", header.question, header.definition),
        "datasource": {"type": "grafana-clickhouse-datasource", "uid": DATASOURCE_UID},
        "gridPos": {"h": height, "w": width, "x": x, "y": y},
        "targets": [{
            "datasource": {"type": "grafana-clickhouse-datasource", "uid": DATASOURCE_UID},
            "editorType": "sql",
            "queryType": if format == 0 { "timeseries" } else { "table" },
            "format": format,
            "rawSql": grafana_sql(query.sql()),
            "refId": "A",
        }],
        "options": {},
        "fieldConfig": {"defaults": {}, "overrides": []},
    })
}

/// The SQL of every panel that shows `query`, read from its dashboard's JSON (what Grafana
/// runs), with the dashboard's uid.
pub fn panels_of(query: &Query) -> Vec<(&'static str, String)> {
    let title = query
        .header()
        .map(|header| header.title)
        .unwrap_or_default();
    DASHBOARDS
        .iter()
        .filter(|dashboard| dashboard.queries().contains(&query))
        .filter_map(|dashboard| {
            let json = dashboard.json();
            let panel = json["panels"]
                .as_array()?
                .iter()
                .find(|panel| panel["title"] == title.as_str())?;
            Some((
                dashboard.uid,
                panel["targets"][0]["rawSql"].as_str()?.to_owned(),
            ))
        })
        .collect()
}

/// A query of the library with its parameters as Grafana's macros and variables.
pub fn grafana_sql(sql: &str) -> String {
    let mut out = sql
        .replace("{from:DateTime64(3, 'UTC')}", "$__fromTime_ms")
        .replace("{to:DateTime64(3, 'UTC')}", "$__toTime_ms");
    for (name, _) in Parameters::new(0, 0).pairs() {
        out = out
            .replace(
                &format!("{{{name}:String}}"),
                &format!("${{{name}:sqlstring}}"),
            )
            .replace(&format!("{{{name}:UInt8}}"), &format!("${{{name}}}"));
    }
    out
}

/// A panel's SQL with Grafana's macros and variables expanded as Grafana's ClickHouse data
/// source expands them for `parameters`: what ClickHouse runs when the dashboard shows them.
pub fn expand(sql: &str, parameters: &Parameters) -> String {
    let mut out = sql
        .replace(
            "$__fromTime_ms",
            &format!("fromUnixTimestamp64Milli({})", parameters.from_ms),
        )
        .replace(
            "$__toTime_ms",
            &format!("fromUnixTimestamp64Milli({})", parameters.to_ms),
        );
    for (name, value) in parameters.pairs() {
        let quoted = format!("'{}'", value.replace('\\', "\\\\").replace('\'', "''"));
        out = out
            .replace(&format!("${{{name}:sqlstring}}"), &quoted)
            .replace(&format!("${{{name}}}"), &value);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_committed_dashboards_are_the_generated_ones() {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/grafana/dashboards");
        for dashboard in DASHBOARDS {
            let path = dir.join(format!("{}.json", dashboard.uid));
            let committed: Value = std::fs::read(&path)
                .ok()
                .and_then(|bytes| serde_json::from_slice(&bytes).ok())
                .unwrap_or(Value::Null);
            assert!(
                committed == dashboard.json(),
                "{} is not what the query library generates: run `cargo run -p hookline-dev --bin hookline-dashboards`",
                path.display()
            );
        }
    }

    #[test]
    fn every_query_is_on_a_dashboard_and_no_parameter_is_left() {
        for query in QUERIES {
            assert!(
                DASHBOARDS.iter().any(|d| d.queries().contains(&query)),
                "{} is on no dashboard",
                query.name
            );
            let sql = grafana_sql(query.sql());
            assert!(
                !sql.contains(":String}")
                    && !sql.contains(":DateTime64")
                    && !sql.contains(":UInt8}"),
                "{}: a parameter Grafana cannot fill: {sql}",
                query.name
            );
        }
    }

    #[test]
    fn expanding_a_panel_gives_literals_with_quotes_escaped() {
        let sql = grafana_sql(
            "SELECT 1 WHERE t >= {from:DateTime64(3, 'UTC')} AND startsWith(p, {project:String}) AND {include_allowed:UInt8} = 0",
        );
        assert_eq!(
            sql,
            "SELECT 1 WHERE t >= $__fromTime_ms AND startsWith(p, ${project:sqlstring}) AND ${include_allowed} = 0"
        );
        let mut parameters = Parameters::new(1_000, 2_000);
        parameters.project = "o'brien/".to_owned();
        assert_eq!(
            expand(&sql, &parameters),
            "SELECT 1 WHERE t >= fromUnixTimestamp64Milli(1000) AND startsWith(p, 'o''brien/') AND 0 = 0"
        );
    }
}
