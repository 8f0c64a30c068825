-- Each row of `merge_request_events` once: copies of a repeated hook collapse here even before ClickHouse
-- merges them.
CREATE OR REPLACE VIEW merge_request_events_unique AS
SELECT *
FROM merge_request_events FINAL
