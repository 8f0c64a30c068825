-- One row per commit of a project: its richest observation.
CREATE OR REPLACE VIEW commits_latest AS
SELECT * EXCEPT (version)
FROM commits FINAL
