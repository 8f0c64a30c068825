-- Each row of `issue_events` once: copies of a repeated hook collapse here even before ClickHouse
-- merges them.
CREATE OR REPLACE VIEW issue_events_unique AS
SELECT *
FROM issue_events FINAL
