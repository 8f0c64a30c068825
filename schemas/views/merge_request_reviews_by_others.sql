-- Reviews of a merge request by someone other than its author: approvals and non-system notes
-- (a system note such as "added 1 commit" is GitLab's, not a reviewer's), with the merge
-- request's current path, target branch and ready time (merge_request_milestones). A review
-- by an unknown actor, or of a merge request whose author is unknown, counts: they cannot be
-- told apart. Reviews of merge requests no hook described are left out.
CREATE OR REPLACE VIEW merge_request_reviews_by_others AS
SELECT
    r.project_id AS project_id,
    r.merge_request_iid AS merge_request_iid,
    r.kind AS kind,
    r.reviewed_at AS reviewed_at,
    r.actor_id AS actor_id,
    m.project_path AS project_path,
    m.target_branch AS target_branch,
    m.ready_at AS ready_at
FROM merge_request_reviews_unique AS r
INNER JOIN merge_request_milestones AS m
    ON m.project_id = r.project_id AND m.merge_request_iid = r.merge_request_iid
WHERE (r.kind IN ('approved', 'approval') OR (r.kind = 'note' AND NOT r.system))
  AND NOT ifNull(r.actor_id = m.author_id, false)
