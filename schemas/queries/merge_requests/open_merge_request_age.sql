-- title: Age of open merge requests
-- question: How long have the merge requests still open been waiting, by project?
-- definition: Merge requests whose latest state is opened (drafts included; locked, closed and
--   merged ones are not open) and that were created before to: to − created_at in days, median
--   and maximum by project. The latest state is the one known when the query runs; from is not
--   used. ref filters on the target branch.
-- chart: bar x=project_path y=p50_days,max_days
-- columns: project_path String, open UInt64, p50_days Nullable(Float64), max_days Nullable(Float64)
WITH
    open_merge_requests AS (
        SELECT
            coalesce(nullIf(pr.path, ''), m.project_path) AS project_path,
            (toUnixTimestamp64Milli({to:DateTime64(3, 'UTC')}) - toUnixTimestamp64Milli(m.created_at)) / 86400000 AS days
        FROM merge_requests_latest AS m
        LEFT JOIN projects AS pr ON pr.project_id = m.project_id
        WHERE m.state = 'opened'
          -- A merge request created after `to` had no age then.
          AND m.created_at < {to:DateTime64(3, 'UTC')}
          AND startsWith(coalesce(nullIf(pr.path, ''), m.project_path), {project:String})
          AND ({ref:String} = '' OR m.target_branch = {ref:String})
    )
SELECT
    project_path,
    count() AS open,
    quantileExact(0.5)(toNullable(days)) AS p50_days,
    toNullable(max(days)) AS max_days
FROM open_merge_requests
GROUP BY project_path
ORDER BY project_path
