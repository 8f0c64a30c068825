-- title: Time to merge
-- question: How long do merge requests take from creation to merge, by project?
-- definition: Merge requests whose merge time is in [from, to): merge time − created_at in
--   seconds, p50 and p90 by project. Merge time: the first merge_request_events row with state
--   merged (the merge event, or the first merged state seen when that hook was lost).
--   ref filters on the target branch.
-- chart: bar x=project_path y=p50_seconds,p90_seconds
-- columns: project_path String, merged UInt64, p50_seconds Nullable(Float64), p90_seconds Nullable(Float64)
WITH
    merged_in_range AS (
        SELECT
            project_path,
            (toUnixTimestamp64Milli(assumeNotNull(merged_at)) - toUnixTimestamp64Milli(created_at)) / 1000 AS seconds
        FROM merge_requests_merged(from = {from:DateTime64(3, 'UTC')}, to = {to:DateTime64(3, 'UTC')}, project = {project:String}, ref = {ref:String})
    )
SELECT
    project_path,
    count() AS merged,
    quantileExact(0.5)(toNullable(seconds)) AS p50_seconds,
    quantileExact(0.9)(toNullable(seconds)) AS p90_seconds
FROM merged_in_range
GROUP BY project_path
ORDER BY project_path
