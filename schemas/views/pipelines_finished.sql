-- Pipelines in a final status (success, failed, canceled, skipped): what durations and
-- success rates count.
CREATE OR REPLACE VIEW pipelines_finished AS
SELECT *
FROM pipelines_latest
WHERE status IN ('success', 'failed', 'canceled', 'skipped')
