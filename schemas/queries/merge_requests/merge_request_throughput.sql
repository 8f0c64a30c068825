-- title: Merge requests opened, merged and closed per week
-- question: How many merge requests are opened, merged and closed each week, by project?
-- definition: Merge requests counted by the UTC week (Monday) of their event in [from, to):
--   opened by created_at; merged by the merge time (the first merge_request_events row with
--   state merged); closed by the close time (the first event with state closed: the close
--   event, or the first later hook that saw it closed when that hook was lost) of merge
--   requests never merged, even if reopened since. ref filters on the target branch.
-- chart: bar x=week y=opened,merged,closed
-- columns: week Date, project_path String, opened UInt64, merged UInt64, closed UInt64
WITH
    merge_requests_in_scope AS (
        SELECT project_path, created_at, merged_at, closed_at
        FROM merge_request_milestones
        WHERE startsWith(project_path, {project:String})
          AND ({ref:String} = '' OR target_branch = {ref:String})
    ),
    -- One row per counted event: what happened, to which project, when.
    counted_events AS (
        SELECT 'opened' AS what, project_path, created_at AS happened_at
        FROM merge_requests_in_scope
        UNION ALL
        SELECT 'merged' AS what, project_path, assumeNotNull(merged_at) AS happened_at
        FROM merge_requests_in_scope
        WHERE merged_at IS NOT NULL
        UNION ALL
        -- A merge request closed and then reopened and merged counts as merged only.
        SELECT 'closed' AS what, project_path, assumeNotNull(closed_at) AS happened_at
        FROM merge_requests_in_scope
        WHERE closed_at IS NOT NULL AND merged_at IS NULL
    )
SELECT
    toMonday(happened_at) AS week,
    project_path,
    countIf(what = 'opened') AS opened,
    countIf(what = 'merged') AS merged,
    countIf(what = 'closed') AS closed
FROM counted_events
WHERE happened_at >= {from:DateTime64(3, 'UTC')}
  AND happened_at < {to:DateTime64(3, 'UTC')}
GROUP BY week, project_path
ORDER BY week, project_path
