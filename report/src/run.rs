//! Running the query library against ClickHouse.

use hookline_runtime::clickhouse::bounded;
use hookline_schemas::queries::{Header, Parameters, Query, QUERIES};
use serde_json::Value;

/// One query's answer.
#[derive(Debug, Clone)]
pub struct Section {
    /// The query, for its name and area.
    pub query: &'static Query,
    /// Its title, definition, chart and declared columns.
    pub header: Header,
    /// The rows, each a value per declared column.
    pub rows: Vec<Vec<Value>>,
}

/// A query that could not be run.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("query {query} has an invalid header: {source}")]
    Header {
        query: &'static str,
        #[source]
        source: hookline_schemas::queries::HeaderError,
    },
    #[error("ClickHouse failed to run query {query}: {source}; check HOOKLINE_CLICKHOUSE_URL and that the consumers have created the tables and views (they do at start)")]
    ClickHouse {
        query: &'static str,
        #[source]
        source: clickhouse::error::Error,
    },
    #[error("query {query} returned a row that is not JSON: {reason}")]
    Row { query: &'static str, reason: String },
}

/// Runs every query of the library with `parameters`, in library order.
pub async fn run(
    client: &clickhouse::Client,
    parameters: &Parameters,
    timeout: std::time::Duration,
) -> Result<Vec<Section>, RunError> {
    let mut sections = Vec::with_capacity(QUERIES.len());
    for query in QUERIES {
        let header = query.header().map_err(|source| RunError::Header {
            query: query.name,
            source,
        })?;
        let rows = bounded(timeout, fetch(client, query, parameters))
            .await
            .map_err(|source| RunError::ClickHouse {
                query: query.name,
                source,
            })?;
        let rows = rows
            .lines()
            .filter(|line| !line.trim().is_empty())
            .map(serde_json::from_str::<Vec<Value>>)
            .collect::<Result<_, _>>()
            .map_err(|error| RunError::Row {
                query: query.name,
                reason: error.to_string(),
            })?;
        sections.push(Section {
            query,
            header,
            rows,
        });
    }
    Ok(sections)
}

/// The query's rows as `JSONCompactEachRow` text.
async fn fetch(
    client: &clickhouse::Client,
    query: &Query,
    parameters: &Parameters,
) -> clickhouse::error::Result<String> {
    let mut request = client
        .query(query.sql())
        .with_setting("output_format_json_quote_64bit_integers", "0");
    for (name, value) in parameters.pairs() {
        request = request.param(name, value);
    }
    let mut cursor = request.fetch_bytes("JSONCompactEachRow")?;
    let mut text = Vec::new();
    while let Some(chunk) = cursor.next().await? {
        text.extend_from_slice(&chunk);
    }
    Ok(String::from_utf8_lossy(&text).into_owned())
}
