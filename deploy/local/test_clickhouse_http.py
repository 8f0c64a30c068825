"""Tests for deploy/local/clickhouse_http.py (development ClickHouse HTTP front).

Run with the python that has `chdb-core` installed:

    python deploy/local/test_clickhouse_http.py
"""

import http.client
import json
import os
import queue
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import uuid
from urllib.parse import urlencode

HERE = os.path.dirname(os.path.abspath(__file__))
SERVER = os.path.join(HERE, "clickhouse_http.py")
START_DEADLINE = 60.0


class Server:
    """The front as a subprocess on a free port, in its own temp dir."""

    def __init__(self, port=0):
        self.tmp = tempfile.TemporaryDirectory(prefix="ch-http-test-")
        self.stderr_path = os.path.join(self.tmp.name, "stderr.log")
        self.stderr = open(self.stderr_path, "wb")
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            [sys.executable, SERVER, "--host", "127.0.0.1", "--port", str(port),
             "--data-dir", os.path.join(self.tmp.name, "data")],
            stdout=subprocess.PIPE, stderr=self.stderr)
        self.lines = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()
        self.port = None
        self.startup_seconds = None

    def _pump(self):
        for line in self.proc.stdout:
            self.lines.put(line.decode("utf-8", "replace").rstrip("\n"))
        self.lines.put(None)  # EOF

    def wait_listening(self):
        deadline = time.monotonic() + START_DEADLINE
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError("no 'listening on' line within %ss" % START_DEADLINE)
            try:
                line = self.lines.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is None:
                raise AssertionError("server exited before listening: " + self.stderr_text())
            if line.startswith("listening on http://"):
                self.startup_seconds = time.monotonic() - self.started
                self.port = int(line.rsplit(":", 1)[1])
                return self

    def stderr_text(self):
        self.stderr.flush()
        with open(self.stderr_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=30)
        self.proc.stdout.close()
        self.stderr.close()
        self.tmp.cleanup()


def varint(n):
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def rb_string(s):
    b = s.encode()
    return varint(len(b)) + b


def read_varint(buf, pos):
    shift = result = 0
    while True:
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return result, pos


def read_string(buf, pos):
    n, pos = read_varint(buf, pos)
    return buf[pos:pos + n].decode(), pos + n


def parse_rbwnat_header(buf):
    ncols, pos = read_varint(buf, 0)
    names, types = [], []
    for _ in range(ncols):
        name, pos = read_string(buf, pos)
        names.append(name)
    for _ in range(ncols):
        typ, pos = read_string(buf, pos)
        types.append(typ)
    return names, types, pos


class ClickHouseHttpTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = Server()
        cls.addClassCleanup(cls.server.stop)
        cls.server.wait_listening()
        sys.stderr.write("\nstartup to 'listening' line: %.2fs\n" % cls.server.startup_seconds)

    def conn(self):
        c = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=60)
        self.addCleanup(c.close)
        return c

    def request(self, method="POST", params=None, body=None, headers=None, conn=None):
        c = conn or self.conn()
        path = "/" + ("?" + urlencode(params) if params else "")
        c.request(method, path, body=body, headers=headers or {})
        resp = c.getresponse()
        return resp, resp.read()

    def ok(self, sql, **params):
        resp, body = self.request(params=params, body=sql.encode())
        self.assertEqual(resp.status, 200, body)
        return body

    def unique(self, prefix):
        return "%s_%s" % (prefix, uuid.uuid4().hex[:8])

    # --- tests ---------------------------------------------------------------

    def test_ping(self):
        for path in ("/ping", "/"):
            c = self.conn()
            c.request("GET", path)
            resp = c.getresponse()
            self.assertEqual((resp.status, resp.read()), (200, b"Ok.\n"))

    def test_ddl_with_engine_features_and_describe(self):
        db = self.unique("hl")
        self.ok("CREATE DATABASE %s" % db)
        self.ok("""
            CREATE TABLE %s.events (
                id UInt64,
                version UInt32,
                kind LowCardinality(String),
                received_at DateTime64(3, 'UTC'),
                payload String CODEC(ZSTD(3))
            ) ENGINE = ReplacingMergeTree(version)
            PARTITION BY toYYYYMM(received_at)
            ORDER BY id
            TTL toDateTime(received_at) + INTERVAL 10 YEAR
        """ % db)
        # What the Rust crate sends before a validated insert.
        resp, body = self.request(params={
            "default_format": "RowBinaryWithNamesAndTypes", "database": db,
            "describe_include_subcolumns": "0"}, body=b"DESCRIBE TABLE events")
        self.assertEqual(resp.status, 200, body)
        self.assertEqual(resp.getheader("X-ClickHouse-Format"), "RowBinaryWithNamesAndTypes")
        names, types, pos = parse_rbwnat_header(body)
        self.assertEqual(names[:2], ["name", "type"])
        self.assertEqual(len(names), 7)
        self.assertEqual(set(types), {"String"})
        cols = []
        while pos < len(body):
            row = []
            for _ in names:
                value, pos = read_string(body, pos)
                row.append(value)
            cols.append(row)
        self.assertEqual([(r[0], r[1]) for r in cols], [
            ("id", "UInt64"), ("version", "UInt32"), ("kind", "LowCardinality(String)"),
            ("received_at", "DateTime64(3, 'UTC')"), ("payload", "String")])
        self.assertEqual(cols[4][5], "ZSTD(3)")  # codec_expression
        create = self.ok("SHOW CREATE TABLE %s.events" % db, default_format="JSONEachRow")
        statement = json.loads(create)["statement"]
        for part in ("ReplacingMergeTree(version)", "PARTITION BY toYYYYMM(received_at)",
                     "TTL toDateTime(received_at) + toIntervalYear(10)"):
            self.assertIn(part, statement)

    def make_kv(self, db="default"):
        table = self.unique("kv")
        self.ok("CREATE TABLE %s.%s (id UInt64, name String) ENGINE = MergeTree ORDER BY id"
                % (db, table))
        return table

    def test_insert_rowbinary_chunked_and_select_rbwnat(self):
        table = self.make_kv()
        rows = [(1, "alpha"), (2, ""), (3, "ünïcode"), (2 ** 64 - 1, "x" * 300)]
        data = b"".join(struct.pack("<Q", i) + rb_string(s) for i, s in rows)
        # Odd-sized chunks so rows straddle chunk boundaries.
        chunks = [data[i:i + 7] for i in range(0, len(data), 7)]
        c = self.conn()
        c.request("POST", "/?" + urlencode({
            "query": "INSERT INTO %s(id,name) FORMAT RowBinary" % table}),
            body=iter(chunks), encode_chunked=True)
        resp = c.getresponse()
        self.assertEqual((resp.status, resp.read()), (200, b""))

        # RowBinaryWithNamesAndTypes insert, as the crate sends with validation on.
        header = varint(2) + rb_string("id") + rb_string("name") \
            + rb_string("UInt64") + rb_string("String")
        c.request("POST", "/?" + urlencode({
            "query": "INSERT INTO %s(id,name) FORMAT RowBinaryWithNamesAndTypes" % table}),
            body=iter([header, struct.pack("<Q", 4) + rb_string("four")]), encode_chunked=True)
        resp = c.getresponse()
        self.assertEqual((resp.status, resp.read()), (200, b""))

        resp, body = self.request(
            params={"default_format": "RowBinaryWithNamesAndTypes"},
            body=("SELECT id, name FROM %s ORDER BY id" % table).encode(), conn=c)
        self.assertEqual(resp.status, 200, body)
        names, types, pos = parse_rbwnat_header(body)
        self.assertEqual((names, types), (["id", "name"], ["UInt64", "String"]))
        got = []
        while pos < len(body):
            (i,) = struct.unpack_from("<Q", body, pos)
            s, pos = read_string(body, pos + 8)
            got.append((i, s))
        self.assertEqual(got, sorted(rows + [(4, "four")]))

    def test_insert_json_each_row_and_select_format_clause(self):
        table = self.make_kv()
        # Rows in the body, INSERT in the query parameter.
        resp, body = self.request(
            params={"query": "INSERT INTO %s FORMAT JSONEachRow" % table},
            body=b'{"id": 1, "name": "a"}\n{"id": 2, "name": "b"}\n')
        self.assertEqual((resp.status, body), (200, b""))
        # Rows inline after FORMAT in a body-only query.
        self.ok('INSERT INTO %s FORMAT JSONEachRow {"id": 3, "name": "c"}' % table)
        resp, body = self.request(
            body=("SELECT * FROM %s ORDER BY id FORMAT JSONEachRow" % table).encode())
        self.assertEqual(resp.status, 200, body)
        self.assertEqual(resp.getheader("X-ClickHouse-Format"), "JSONEachRow")
        self.assertEqual([json.loads(line) for line in body.splitlines()], [
            {"id": 1, "name": "a"}, {"id": 2, "name": "b"}, {"id": 3, "name": "c"}])
        # Default output format is TabSeparated.
        self.assertEqual(self.ok("SELECT count() FROM %s" % table), b"3\n")

    def test_select_final(self):
        table = self.unique("rmt")
        self.ok("CREATE TABLE %s (id UInt64, v UInt32, s String) "
                "ENGINE = ReplacingMergeTree(v) ORDER BY id" % table)
        self.ok("INSERT INTO %s VALUES (1, 1, 'old'), (2, 1, 'only')" % table)
        self.ok("INSERT INTO %s VALUES (1, 2, 'new')" % table)
        self.assertEqual(self.ok("SELECT id, s FROM %s FINAL ORDER BY id" % table),
                         b"1\tnew\n2\tonly\n")

    def test_database_param_and_header(self):
        db = self.unique("db")
        self.ok("CREATE DATABASE %s" % db)
        table = self.make_kv(db)
        self.ok("INSERT INTO %s VALUES (7, 'seven')" % table, database=db)
        self.assertEqual(self.ok("SELECT name FROM %s" % table, database=db), b"seven\n")
        self.assertEqual(self.ok("SELECT currentDatabase()", database=db), db.encode() + b"\n")
        resp, body = self.request(body=b"SELECT currentDatabase()",
                                  headers={"X-ClickHouse-Database": db})
        self.assertEqual(body, db.encode() + b"\n")
        # A later request without a database is back in `default`.
        self.assertEqual(self.ok("SELECT currentDatabase()"), b"default\n")
        # A USE statement sent by a client does not stick either.
        self.ok("USE %s" % db)
        self.assertEqual(self.ok("SELECT currentDatabase()"), b"default\n")

    def test_settings_are_per_request(self):
        sql = "SELECT getSetting('max_execution_time')"
        self.assertEqual(self.ok(sql, max_execution_time="7", wait_end_of_query="1",
                                 send_progress_in_http_headers="1", query_id="q1",
                                 session_id="s1", user="default", password="x"), b"7\n")
        self.assertEqual(self.ok(sql), b"0\n")
        self.ok("SET max_execution_time = 9")  # no lasting effect without a session
        self.assertEqual(self.ok(sql), b"0\n")
        resp, body = self.request(params={"max_execution_time": "5", "no_such_setting": "1"},
                                  body=b"SELECT 1")
        self.assertEqual(resp.status, 500)
        self.assertEqual(resp.getheader("X-ClickHouse-Exception-Code"), "115")
        self.assertEqual(self.ok(sql), b"0\n")

    def test_query_parameters_url_and_multipart(self):
        self.assertEqual(self.ok("SELECT {x:UInt32} + 1", param_x="41"), b"42\n")
        boundary = "clickhouse-rs-boundary-0123456789abcdef"
        body = b"".join(
            b'--%s\r\nContent-Disposition: form-data; name="%s"\r\n\r\n%s\r\n'
            % (boundary.encode(), name, value)
            for name, value in [(b"query", b"SELECT {v:String} AS v"), (b"param_v", b"hi")])
        body += b"--%s--\r\n" % boundary.encode()
        resp, out = self.request(
            params={"default_format": "JSONEachRow"}, body=body,
            headers={"Content-Type": "multipart/form-data; boundary=" + boundary})
        self.assertEqual((resp.status, out), (200, b'{"v":"hi"}\n'))

    def test_unknown_table_error(self):
        resp, body = self.request(body=b"SELECT * FROM no_such_table_xyz")
        self.assertEqual(resp.status, 500)
        self.assertEqual(resp.getheader("X-ClickHouse-Exception-Code"), "60")
        self.assertTrue(body.startswith(b"Code: 60. DB::Exception"), body)
        self.assertTrue(body.endswith(b"\n"))

    def test_empty_query_is_400(self):
        resp, body = self.request(body=b"")
        self.assertEqual(resp.status, 400)
        self.assertIn(b"Empty query", body)

    def test_compression_rejected(self):
        c = self.conn()
        for params, headers in [({"decompress": "1"}, {}), ({}, {"Content-Encoding": "lz4"})]:
            params = dict(params, query="INSERT INTO t FORMAT RowBinary")
            resp, body = self.request(params=params, body=b"\x00" * 100,
                                      headers=headers, conn=c)
            self.assertEqual(resp.status, 500)
            self.assertIsNotNone(resp.getheader("X-ClickHouse-Exception-Code"))
            self.assertIn(b"compression", body.lower())
        # The connection is still usable afterwards.
        self.assertEqual(self.request(body=b"SELECT 1", conn=c)[1], b"1\n")

    def test_keep_alive(self):
        c = self.conn()
        self.request(body=b"SELECT 1", conn=c)
        sock = c.sock
        self.assertIsNotNone(sock)
        table = self.make_kv()
        for i in range(5):
            resp, body = self.request(
                params={"query": "INSERT INTO %s FORMAT RowBinary" % table},
                body=iter([struct.pack("<Q", i), rb_string("n%d" % i)]), conn=c)
            self.assertEqual(resp.status, 200, body)
            resp, body = self.request(body=b"SELECT * FROM nope_nope", conn=c)
            self.assertEqual(resp.status, 500)
            resp, body = self.request(method="GET", params={"query": "SELECT %d" % i}, conn=c)
            self.assertEqual(body, b"%d\n" % i)
        self.assertIs(c.sock, sock, "connection was re-opened")
        self.assertEqual(self.ok("SELECT count() FROM %s" % table), b"5\n")

    def test_concurrent_clients(self):
        errors = []

        def worker(n):
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=60)
                for i in range(10):
                    c.request("POST", "/", body=b"SELECT %d + %d" % (n, i))
                    resp = c.getresponse()
                    body = resp.read()
                    if body != b"%d\n" % (n + i):
                        errors.append((n, i, resp.status, body))
                c.close()
            except Exception as e:  # reported below
                errors.append((n, repr(e)))

        threads = [threading.Thread(target=worker, args=(n * 100,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        self.assertEqual(errors, [])

    def test_log_has_no_row_data(self):
        table = self.make_kv()
        self.request(params={"query": "INSERT INTO %s FORMAT JSONEachRow" % table},
                     body=b'{"id": 1, "name": "secret-row-value"}')
        self.ok('INSERT INTO %s FORMAT JSONEachRow {"id": 2, "name": "secret-inline"}' % table)
        self.ok("SELECT 1")  # a later query, so earlier log lines have been flushed
        log = self.server.stderr_text()
        self.assertIn("INSERT INTO %s FORMAT JSONEachRow" % table, log)
        self.assertNotIn("secret-", log)


class LifecycleTest(unittest.TestCase):
    def start(self, port=0):
        server = Server(port)
        self.addCleanup(server.stop)
        return server

    def test_stops_on_sigterm(self):
        server = self.start().wait_listening()
        c = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        c.request("GET", "/ping")
        self.assertEqual(c.getresponse().read(), b"Ok.\n")
        c.close()
        server.proc.send_signal(signal.SIGTERM)
        self.assertEqual(server.proc.wait(timeout=30), 0, server.stderr_text())

    def test_port_taken(self):
        sock = socket.socket()
        self.addCleanup(sock.close)
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        port = sock.getsockname()[1]
        server = self.start(port)
        code = server.proc.wait(timeout=START_DEADLINE)
        self.assertNotEqual(code, 0)
        err = server.stderr_text()
        self.assertIn("port %d is taken" % port, err)
        self.assertIn("--port", err)


if __name__ == "__main__":
    unittest.main(verbosity=2)
