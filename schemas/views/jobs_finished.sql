-- Jobs in a final status (success, failed, canceled, skipped); every try.
CREATE OR REPLACE VIEW jobs_finished AS
SELECT *
FROM jobs_latest
WHERE status IN ('success', 'failed', 'canceled', 'skipped')
