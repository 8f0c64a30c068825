-- title: Pipeline duration and queued time
-- question: How long do pipelines run, and wait for runners, by project, ref, source and day?
-- definition: Finished pipelines (success, failed, canceled, skipped) by the UTC day of
--   finished_at in [from, to); p50, p90 and p95 of duration_seconds and of
--   queued_duration_seconds, unknown values left out (NULL when none is known).
-- chart: line x=day y=duration_p50,duration_p95 series=project_path
-- columns: day Date, project_path String, ref String, source String, pipelines UInt64,
--   duration_p50 Nullable(Float64), duration_p90 Nullable(Float64), duration_p95 Nullable(Float64),
--   queued_p50 Nullable(Float64), queued_p90 Nullable(Float64), queued_p95 Nullable(Float64)
SELECT
    toDate(assumeNotNull(p.finished_at)) AS day,
    coalesce(nullIf(pr.path, ''), p.project_path) AS project_path,
    p.ref AS ref,
    CAST(p.source AS String) AS source,
    count() AS pipelines,
    quantileExact(0.5)(p.duration_seconds) AS duration_p50,
    quantileExact(0.9)(p.duration_seconds) AS duration_p90,
    quantileExact(0.95)(p.duration_seconds) AS duration_p95,
    quantileExact(0.5)(p.queued_duration_seconds) AS queued_p50,
    quantileExact(0.9)(p.queued_duration_seconds) AS queued_p90,
    quantileExact(0.95)(p.queued_duration_seconds) AS queued_p95
FROM pipelines_finished AS p
LEFT JOIN projects AS pr ON pr.project_id = p.project_id
WHERE p.finished_at >= {from:DateTime64(3, 'UTC')}
  AND p.finished_at < {to:DateTime64(3, 'UTC')}
  AND startsWith(coalesce(nullIf(pr.path, ''), p.project_path), {project:String})
  AND ({ref:String} = '' OR p.ref = {ref:String})
GROUP BY day, project_path, ref, source
ORDER BY day, project_path, ref, source
