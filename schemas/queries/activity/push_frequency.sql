-- title: Push frequency
-- question: How often are branches pushed to, by project and day?
-- definition: Pushes of branches (refs/heads/…; not tags, not deletions of a branch) by the
--   UTC day of received_at (push hooks carry no time of their own) in [from, to). ref filters
--   on the branch name.
-- chart: line x=day y=pushes series=project_path
-- columns: day Date, project_path String, pushes UInt64
SELECT
    toDate(p.received_at) AS day,
    coalesce(nullIf(pr.path, ''), p.project_path) AS project_path,
    count() AS pushes
FROM pushes_unique AS p
LEFT JOIN projects AS pr ON pr.project_id = p.project_id
WHERE p.received_at >= {from:DateTime64(3, 'UTC')}
  AND p.received_at < {to:DateTime64(3, 'UTC')}
  -- The full ref tells a branch from a tag even where ref_type was not sent.
  AND startsWith(p.ref, 'refs/heads/')
  AND NOT p.deleted
  AND startsWith(coalesce(nullIf(pr.path, ''), p.project_path), {project:String})
  AND ({ref:String} = '' OR p.ref_name = {ref:String})
GROUP BY day, project_path
ORDER BY day, project_path
