-- One row per release: its latest state.
CREATE OR REPLACE VIEW releases_latest AS
SELECT * EXCEPT (version)
FROM releases FINAL
