-- One row per deployment: its latest state.
CREATE OR REPLACE VIEW deployments_latest AS
SELECT * EXCEPT (version)
FROM deployments FINAL
