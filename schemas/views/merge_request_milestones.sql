-- One row per merge request with the times every review and delivery metric starts from
-- (docs/analytics.md): its creation, when it became ready for review, merged and closed, and
-- its project's current path (`projects`, else the path its hooks named). `merge_requests`
-- keeps none of these times because a later update would overwrite them; they come from the
-- log of its events:
--   merged_at: the first event that saw the state `merged` (the merge event, or the first
--     merged state seen when that hook was lost); NULL if never merged.
--   closed_at: the first event that saw the state `closed`; NULL if never closed (a merge
--     request closed, reopened and merged has both).
--   ready_at: `created_at` when it was opened as a non-draft, else the first event that removed
--     the draft flag; NULL when neither is known (the open hook lost, or payloads without the
--     flag).
-- A merge request without events reads NULL for the three: they are Nullable, whose default
-- is NULL in a LEFT JOIN, and `opened_ready` reads false.
CREATE OR REPLACE VIEW merge_request_milestones AS
SELECT
    m.project_id AS project_id,
    m.merge_request_iid AS merge_request_iid,
    CAST(coalesce(nullIf(pr.path, ''), m.project_path) AS String) AS project_path,
    m.target_branch AS target_branch,
    if(m.source_project_id = 0, m.project_id, m.source_project_id) AS source_project_id,
    m.source_branch AS source_branch,
    m.author_id AS author_id,
    m.state AS state,
    m.created_at AS created_at,
    e.merged_at AS merged_at,
    e.closed_at AS closed_at,
    if(e.opened_ready, CAST(m.created_at AS Nullable(DateTime64(3, 'UTC'))), e.draft_removed_at) AS ready_at
FROM merge_requests_latest AS m
LEFT JOIN projects AS pr ON pr.project_id = m.project_id
LEFT JOIN
(
    SELECT
        project_id,
        merge_request_iid,
        if(countIf(state = 'merged') > 0, minIf(event_at, state = 'merged'), NULL) AS merged_at,
        if(countIf(state = 'closed') > 0, minIf(event_at, state = 'closed'), NULL) AS closed_at,
        countIf(action = 'open' AND draft = false) > 0 AS opened_ready,
        if(
            countIf(draft_before = true AND draft = false) > 0,
            minIf(event_at, draft_before = true AND draft = false),
            NULL
        ) AS draft_removed_at
    FROM merge_request_events_unique
    GROUP BY project_id, merge_request_iid
) AS e ON e.project_id = m.project_id AND e.merge_request_iid = m.merge_request_iid
