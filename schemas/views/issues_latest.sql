-- One row per issue (and incident): its latest state.
CREATE OR REPLACE VIEW issues_latest AS
SELECT * EXCEPT (version)
FROM issues FINAL
