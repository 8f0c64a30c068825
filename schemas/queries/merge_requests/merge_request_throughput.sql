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
    -- Every merge request once, with its project's current path; ref is the branch it targets.
    merge_requests_in_scope AS (
        SELECT
            m.project_id AS project_id,
            m.merge_request_iid AS merge_request_iid,
            m.created_at AS created_at,
            coalesce(nullIf(pr.path, ''), m.project_path) AS project_path
        FROM merge_requests_latest AS m
        LEFT JOIN projects AS pr ON pr.project_id = m.project_id
        WHERE startsWith(coalesce(nullIf(pr.path, ''), m.project_path), {project:String})
          AND ({ref:String} = '' OR m.target_branch = {ref:String})
    ),
    -- The merge_requests table keeps no merge or close time: they are the first events of the
    -- log that saw the state (NULL when none did).
    state_times AS (
        SELECT
            project_id,
            merge_request_iid,
            if(countIf(state = 'merged') > 0, minIf(event_at, state = 'merged'), NULL) AS merged_at,
            if(countIf(state = 'closed') > 0, minIf(event_at, state = 'closed'), NULL) AS closed_at
        FROM merge_request_events_unique
        GROUP BY project_id, merge_request_iid
    ),
    -- One row per counted event: what happened, to which project, when.
    counted_events AS (
        SELECT 'opened' AS what, project_path, created_at AS happened_at
        FROM merge_requests_in_scope
        UNION ALL
        SELECT 'merged' AS what, m.project_path AS project_path, assumeNotNull(t.merged_at) AS happened_at
        FROM merge_requests_in_scope AS m
        INNER JOIN state_times AS t USING (project_id, merge_request_iid)
        WHERE t.merged_at IS NOT NULL
        UNION ALL
        -- A merge request closed and then reopened and merged counts as merged only.
        SELECT 'closed' AS what, m.project_path AS project_path, assumeNotNull(t.closed_at) AS happened_at
        FROM merge_requests_in_scope AS m
        INNER JOIN state_times AS t USING (project_id, merge_request_iid)
        WHERE t.closed_at IS NOT NULL AND t.merged_at IS NULL
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
