"""Tests of broker_storage.py against a database with Tansu 0.6's `header` table."""

import os
import sqlite3
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from broker_storage import index_headers  # noqa: E402

# As Tansu 0.6 creates it.
HEADER_TABLE = (
    "create table header ( topition integer, offset_id integer, k blob, v blob,"
    " last_updated datetime default current_timestamp not null,"
    " created_at datetime default current_timestamp not null )"
)
LOOKUP = "select k, v from header where topition = ? and offset_id = ?"


class IndexHeadersTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.path = os.path.join(self.dir.name, "tansu.db")

    def tearDown(self):
        self.dir.cleanup()

    def plan(self):
        with sqlite3.connect(self.path) as connection:
            rows = connection.execute("explain query plan " + LOOKUP, (1, 1)).fetchall()
        return " ".join(str(row[-1]) for row in rows)

    def test_a_header_lookup_scans_before_and_searches_the_index_after(self):
        with sqlite3.connect(self.path) as connection:
            connection.execute(HEADER_TABLE)
        self.assertIn("SCAN", self.plan())
        index_headers(self.path)
        self.assertIn("USING INDEX hookline_header_by_record", self.plan())
        # Idempotent: a restarted broker's storage already has it.
        index_headers(self.path)
        self.assertIn("USING INDEX hookline_header_by_record", self.plan())

    def test_a_database_without_the_table_is_refused_clearly(self):
        sqlite3.connect(self.path).close()
        with self.assertRaises(SystemExit) as refused:
            index_headers(self.path)
        self.assertIn("no `header` table", str(refused.exception))


if __name__ == "__main__":
    unittest.main()
