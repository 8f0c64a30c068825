-- title: Pipeline success rate
-- question: What share of pipelines succeed, by project, ref and day?
-- definition: Finished pipelines other than skipped and canceled, by the UTC day of
--   finished_at in [from, to): success_rate = success / (success + failed).
-- chart: line x=day y=success_rate series=project_path
-- columns: day Date, project_path String, ref String, succeeded UInt64, failed UInt64,
--   success_rate Float64
SELECT
    toDate(assumeNotNull(p.finished_at)) AS day,
    coalesce(nullIf(pr.path, ''), p.project_path) AS project_path,
    p.ref AS ref,
    countIf(p.status = 'success') AS succeeded,
    countIf(p.status = 'failed') AS failed,
    succeeded / (succeeded + failed) AS success_rate
FROM pipelines_finished AS p
LEFT JOIN projects AS pr ON pr.project_id = p.project_id
WHERE p.finished_at >= {from:DateTime64(3, 'UTC')}
  AND p.finished_at < {to:DateTime64(3, 'UTC')}
  -- Skipped and canceled pipelines neither passed nor failed: they stay out of the rate.
  AND p.status IN ('success', 'failed')
  AND startsWith(coalesce(nullIf(pr.path, ''), p.project_path), {project:String})
  AND ({ref:String} = '' OR p.ref = {ref:String})
GROUP BY day, project_path, ref
ORDER BY day, project_path, ref
