-- One row per pipeline: its latest state.
CREATE OR REPLACE VIEW pipelines_latest AS
SELECT * EXCEPT (version)
FROM pipelines FINAL
