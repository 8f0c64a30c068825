-- One row per job (every try its own row): its latest state, and its name with a parallel
-- job's " N/M" suffix removed (`rspec 1/3` → `rspec`) for grouping.
CREATE OR REPLACE VIEW jobs_latest AS
SELECT
    * EXCEPT (version),
    replaceRegexpOne(name, '\\s+\\d+/\\d+$', '') AS normalised_name
FROM jobs FINAL
