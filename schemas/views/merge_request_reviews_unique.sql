-- Each row of `merge_request_reviews` once: copies of a repeated hook collapse here even before ClickHouse
-- merges them.
CREATE OR REPLACE VIEW merge_request_reviews_unique AS
SELECT *
FROM merge_request_reviews FINAL
