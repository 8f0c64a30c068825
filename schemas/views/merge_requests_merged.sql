-- merge_request_milestones of the merge requests merged in [from, to) in scope: current
-- project path starting with `project`, target branch `ref` (empty: any). Parameterized, as
-- the merge-request queries call it:
--   merge_requests_merged(from = {from:DateTime64(3, 'UTC')}, to = {to:DateTime64(3, 'UTC')},
--                         project = {project:String}, ref = {ref:String})
CREATE OR REPLACE VIEW merge_requests_merged AS
SELECT *
FROM merge_request_milestones
WHERE merged_at >= {from:DateTime64(3, 'UTC')}
  AND merged_at < {to:DateTime64(3, 'UTC')}
  AND startsWith(project_path, {project:String})
  AND ({ref:String} = '' OR target_branch = {ref:String})
