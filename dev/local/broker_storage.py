"""Indexes the local broker's sqlite storage for how Hookline reads it. Development only.

Tansu 0.6 keeps every record header as a row of a `header` table that has no index, and
looks the headers up record by record when it serves a fetch: every fetched record scans every
header row ever written. Hookline writes seven headers per record and reads every record
twice (the consumers, and ingest's deduplication tailer), so the broker slows down as its
storage grows; with about 15,000 records, fetches took seconds and producing fell from
thousands of records/s to a few hundred. The index below makes each lookup a B-tree search.

    python broker_storage.py PATH/TO/tansu.db

Run it once the broker has created its tables (it is idempotent, and the index stays across
restarts); it waits for the broker's write lock rather than failing.
"""

import sqlite3
import sys

INDEX = "create index if not exists hookline_header_by_record on header (topition, offset_id)"


def index_headers(path: str) -> None:
    """Adds the index on `header (topition, offset_id)` unless it is there."""
    connection = sqlite3.connect(path, timeout=60)
    try:
        tables = {row[0] for row in connection.execute("select name from sqlite_master")}
        if "header" not in tables:
            raise SystemExit(
                f"{path} has no `header` table: is it the storage of a running Tansu broker?"
            )
        connection.execute(INDEX)
        connection.commit()
    finally:
        connection.close()


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    index_headers(sys.argv[1])
