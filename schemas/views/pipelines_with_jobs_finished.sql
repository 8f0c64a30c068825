-- Each pipeline in which a hook reported a job finished in [from, to), copies and superseded
-- states included. Parameterized, as the job queries call it:
--   pipelines_with_jobs_finished(from = {from:DateTime64(3, 'UTC')}, to = {to:DateTime64(3, 'UTC')})
-- A superset of the pipelines whose jobs' latest states finished in the range (the latest
-- state of such a job is one of its rows here), read without FINAL: only to narrow a search
-- to the pipelines that can matter, never to count. The filter on the latest state comes after.
CREATE OR REPLACE VIEW pipelines_with_jobs_finished AS
SELECT DISTINCT project_id, pipeline_id
FROM jobs
WHERE finished_at >= {from:DateTime64(3, 'UTC')}
  AND finished_at < {to:DateTime64(3, 'UTC')}
