-- Each row of `pushes` once: copies of a repeated hook collapse here even before ClickHouse
-- merges them.
CREATE OR REPLACE VIEW pushes_unique AS
SELECT *
FROM pushes FINAL
