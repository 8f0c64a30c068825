-- Incidents and severity on issues, and a log of what happened to every issue.
--
-- `is_incident` is NULL when unknown: older GitLab versions send no `type` (it came with
-- GitLab 17), so there an issue without an `incident` label cannot be told from an incident;
-- rows written before this migration are NULL too. `severity` is empty when not sent (older
-- versions, and rows written before this migration); GitLab itself sends `unknown` for an
-- issue without a severity.
ALTER TABLE issues ADD COLUMN IF NOT EXISTS is_incident Nullable(Bool) AFTER issue_type;
ALTER TABLE issues ADD COLUMN IF NOT EXISTS severity LowCardinality(String) DEFAULT '' AFTER is_incident;

-- One row per Issue Hook (open, close, reopen, update): an append-only log with the labels
-- each event added and removed. Copies of one event share the sorting key and collapse.
CREATE TABLE IF NOT EXISTS issue_events
(
    project_id          UInt64,
    project_path        LowCardinality(String),
    issue_id            UInt64,
    issue_iid           UInt64,
    action              LowCardinality(String),
    state               LowCardinality(String),
    event_at            DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
    actor_id            UInt64,
    actor_username      LowCardinality(String),
    issue_type          LowCardinality(String),
    is_incident         Nullable(Bool),
    severity            LowCardinality(String),
    labels              Array(LowCardinality(String)),
    labels_added        Array(LowCardinality(String)),
    labels_removed      Array(LowCardinality(String)),
    event_id            String,
    received_at         DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1))
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(event_at)
ORDER BY (project_id, issue_iid, issue_id, event_at, action, actor_id);
