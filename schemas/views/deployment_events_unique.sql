-- Each row of `deployment_events` once: copies of a repeated hook collapse here even before ClickHouse
-- merges them.
CREATE OR REPLACE VIEW deployment_events_unique AS
SELECT *
FROM deployment_events FINAL
