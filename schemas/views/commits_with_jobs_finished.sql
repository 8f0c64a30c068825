-- Each commit (`project_id`, `sha`) for which a hook reported a job finished in [from, to),
-- copies and superseded states included. Parameterized, as the flaky-jobs query calls it:
--   commits_with_jobs_finished(from = {from:DateTime64(3, 'UTC')}, to = {to:DateTime64(3, 'UTC')})
-- A superset of the commits whose jobs' latest states finished in the range, read without
-- FINAL: only to narrow a search, never to count.
CREATE OR REPLACE VIEW commits_with_jobs_finished AS
SELECT DISTINCT project_id, sha
FROM jobs
WHERE finished_at >= {from:DateTime64(3, 'UTC')}
  AND finished_at < {to:DateTime64(3, 'UTC')}
  AND sha != ''
