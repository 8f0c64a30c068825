-- Each row of `instance_events` once: copies of a repeated hook collapse here even before ClickHouse
-- merges them.
CREATE OR REPLACE VIEW instance_events_unique AS
SELECT *
FROM instance_events FINAL
