-- One row per merge request: its latest state.
CREATE OR REPLACE VIEW merge_requests_latest AS
SELECT * EXCEPT (version)
FROM merge_requests FINAL
