-- title: CI minutes by project and runner
-- question: How many runner minutes do jobs use, by project and runner?
-- definition: Finished jobs (success, failed, canceled, skipped; every try) by finished_at in
--   [from, to): the sum of duration_seconds / 60 by project and runner_description (runner,
--   '' when unknown); unknown durations add nothing.
-- chart: bar x=project_path y=minutes series=runner
-- columns: project_path String, runner String, jobs UInt64, minutes Float64
SELECT
    coalesce(nullIf(pr.path, ''), j.project_path) AS project_path,
    CAST(j.runner_description AS String) AS runner,
    count() AS jobs,
    toFloat64(ifNull(sum(j.duration_seconds), 0)) / 60 AS minutes
FROM jobs_finished AS j
LEFT JOIN projects AS pr ON pr.project_id = j.project_id
WHERE j.finished_at >= {from:DateTime64(3, 'UTC')}
  AND j.finished_at < {to:DateTime64(3, 'UTC')}
  AND startsWith(coalesce(nullIf(pr.path, ''), j.project_path), {project:String})
  AND ({ref:String} = '' OR j.ref = {ref:String})
GROUP BY project_path, runner
ORDER BY project_path, runner
