-- Each row of `push_commits` once: copies of a repeated hook collapse here even before ClickHouse
-- merges them.
CREATE OR REPLACE VIEW push_commits_unique AS
SELECT *
FROM push_commits FINAL
