-- When ClickHouse stored each raw hook: the server's clock at the insert (rows inserted before
-- this migration get the time it ran). `hookline-consumers reproject` rebuilds tables from a
-- snapshot of raw_hooks and, once it has swapped them in, projects again every raw hook
-- inserted since shortly before it started, so that hooks the consumers wrote during the
-- rebuild are in the new tables. The consumers never send this column.
ALTER TABLE raw_hooks ADD COLUMN IF NOT EXISTS inserted_at DateTime64(3, 'UTC') DEFAULT now64(3) CODEC(Delta, ZSTD(1));

-- A default is computed when a row is read until the row is rewritten: without this, the rows
-- from before the migration would look inserted at every moment they are read.
ALTER TABLE raw_hooks MATERIALIZE COLUMN inserted_at;
