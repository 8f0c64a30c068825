"""Tests for dev/local/clickhouse_http.py (development ClickHouse HTTP front).

Run with the python that has `chdb-core` installed:

    python dev/local/test_clickhouse_http.py
"""

import http.client
import json
import os
import queue
import re
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
REPO = os.path.dirname(os.path.dirname(HERE))
START_DEADLINE = 60.0
# How long a test waits for the front to react to a stalled or refused client
# (far above the limits the tests configure; only a broken front reaches it).
REACT_DEADLINE = 30.0

sys.path.insert(0, HERE)
import clickhouse_http  # noqa: E402 - the guard's pure functions, tested without a server


class Server:
    """The front as a subprocess on a free port, in its own temp dir."""

    def __init__(self, port=0, host="127.0.0.1", extra=()):
        self.tmp = tempfile.TemporaryDirectory(prefix="ch-http-test-")
        self.stderr_path = os.path.join(self.tmp.name, "stderr.log")
        self.stderr = open(self.stderr_path, "wb")
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            [sys.executable, SERVER, "--host", host, "--port", str(port),
             "--data-dir", os.path.join(self.tmp.name, "data"), *extra],
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


def project_sql():
    """Every SQL text the project sends: the migrations, statement by statement
    (as schemas/src/migrations.rs splits them), and each SQL string literal in
    the consumers', development tools' and tests' Rust code, with format
    arguments and client-side bindings filled in."""
    out = []
    mig_dir = os.path.join(REPO, "schemas", "migrations")
    for name in sorted(os.listdir(mig_dir)):
        current = []
        with open(os.path.join(mig_dir, name)) as f:
            for line in f:
                code = line.rstrip()
                if not code.strip() or code.lstrip().startswith("--"):
                    continue
                current.append(code)
                if code.endswith(";"):
                    out.append((name, "\n".join(current).rstrip(";")))
                    current = []
    literal = re.compile(
        r'"((?:SELECT|INSERT|CREATE|ALTER|OPTIMIZE|DROP|TRUNCATE|SHOW|DESCRIBE)\b'
        r'(?:[^"\\]|\\.)*)"', re.S)
    for top in ("consumers", "dev", "tests"):
        for dirpath, _, files in os.walk(os.path.join(REPO, top)):
            for name in files:
                if not name.endswith(".rs"):
                    continue
                path = os.path.join(dirpath, name)
                with open(path) as f:
                    text = f.read()
                for m in literal.finditer(text):
                    sql = re.sub(r"\\\n\s*", "", m.group(1)).replace('\\"', '"')
                    sql = re.sub(r"\{[^{}]*\}", "1", sql)  # format! arguments
                    sql = sql.replace("?fields", "`a`, `b`").replace("?", "'x'")
                    out.append((os.path.relpath(path, REPO), sql))
    return out


class SqlGuardTest(unittest.TestCase):
    """The guard's decisions, without a server (the server tests below show
    the refusals reach the client and the engine never acts)."""

    REFUSED = [
        "SELECT * FROM file('/etc/passwd', 'LineAsString')",
        "select file('/etc/passwd')",
        "SELECT * FROM url('http://127.0.0.1:1/', 'RawBLOB')",
        "SELECT * FROM s3('http://127.0.0.1:1/b/k')",
        "SELECT * FROM s3Cluster('c', 'http://127.0.0.1:1/b/k')",
        "SELECT * FROM hdfs('hdfs://127.0.0.1:1/x')",
        "SELECT * FROM remote('127.0.0.1:1', system.one)",
        "SELECT * FROM mysql('127.0.0.1:1', 'd', 't', 'u', 'p')",
        "SELECT * FROM executable('x.sh', TSV, 'a String')",
        "SELECT * FROM icebergLocal('/x')",
        "INSERT INTO FUNCTION file('/tmp/out.tsv') SELECT 1",
        "SELECT 1 INTO OUTFILE '/tmp/x'",
        "INSERT INTO t FROM INFILE '/etc/passwd' FORMAT LineAsString",
        "SYSTEM SHUTDOWN",
        "  system reload config",
        "SELECT 1; SYSTEM FLUSH LOGS",
        "ATTACH TABLE t FROM '/var/lib/x' (a UInt8) ENGINE = MergeTree ORDER BY a",
        "BACKUP TABLE t TO Disk('default', 'x')",
        "RESTORE TABLE t FROM File('/x')",
        "CREATE TABLE t (a String) ENGINE = File(TSV, '/etc/passwd')",
        "CREATE TABLE t (a String) ENGINE=URL('http://127.0.0.1:1/', TSV)",
        "CREATE DATABASE d ENGINE = Filesystem",
        "CREATE TABLE t (a UInt8) ENGINE = MergeTree ORDER BY a "
        "SETTINGS disk = disk(type = local, path = '/')",
        "CREATE DICTIONARY d (a UInt8) PRIMARY KEY a "
        "SOURCE(FILE(path '/etc/passwd' format 'TSV')) LAYOUT(FLAT()) LIFETIME(0)",
        "SELECT * FROM `file`('/etc/passwd')",
        "SELECT * FROM \"FILE\"('/etc/passwd')",
        "SELECT * FROM `\\x66ile`('/etc/passwd')",
        "SELECT * FROM file /* comment */ ('/etc/passwd')",
        "SELECT * FROM file -- comment\n('/etc/passwd')",
        "SELECT 1 FORMAT Template SETTINGS format_template_row = '/etc/passwd'",
        "SELECT catboostEvaluate('/model.bin', 1)",
    ]
    # Each hides the call from a lexer that gets one of ClickHouse's rules
    # wrong (nested comments, heredocs, `#` comments, exponent signs,
    # backslash escapes); test_lexer_rules_match_the_engine checks the rules.
    CONFUSING = [
        "SELECT 1 /* /* */ ' */, file('/x') -- '",
        "SELECT $$ ' $$, file('/x') -- '",
        "SELECT $a b$ ' $a b$, file('/x') -- '",
        "SELECT 1 # it's\n, file('/x') -- '",
        "SELECT 1e--1\n, file('/x')",
        "SELECT 'a\\'', file('/x') -- '",
        "SELECT 'a'" "'', file('/x') -- '",
        "SELECT x'41', file('/x') -- '",
    ]
    ACCEPTED = [
        "SELECT 1",
        "SELECT url, system, disk, file_name FROM t",
        "SELECT * FROM system.disks",
        "INSERT INTO t VALUES (1, 'file'), (2, 'the url')",
        "SELECT 'a # b', 1.5e-3, 0x1F, x'AB', .5, t.1, $$heredoc$$",
        "OPTIMIZE TABLE jobs FINAL",
        "ALTER TABLE t ATTACH PARTITION 202401 FROM other",
        # Built at run time, so project_sql() cannot read them from the code.
        "ALTER TABLE raw_hooks MODIFY TTL toDateTime(received_at) + toIntervalDay(30)",
        "INSERT INTO raw_hooks(`event_id`,`body`) FORMAT RowBinaryWithNamesAndTypes",
        "DESCRIBE TABLE raw_hooks",
    ]

    def test_refuses_sql_that_reaches_the_host(self):
        for sql in self.REFUSED + self.CONFUSING:
            with self.subTest(sql=sql):
                self.assertIsNotNone(clickhouse_http.refused_sql(sql))

    def test_accepts_plain_sql(self):
        for sql in self.ACCEPTED:
            with self.subTest(sql=sql):
                self.assertIsNone(clickhouse_http.refused_sql(sql))

    def test_accepts_every_statement_the_project_sends(self):
        statements = project_sql()
        # The migrations and the code's queries were all found.
        self.assertGreater(sum(1 for where, _ in statements if where.endswith(".sql")), 8)
        self.assertTrue(any("hookline_migrations" in sql for _, sql in statements))
        for where, sql in statements:
            with self.subTest(where=where, sql=sql[:80]):
                self.assertIsNone(clickhouse_http.refused_sql(sql))

    def test_values_data_is_checked_for_calls_only(self):
        self.assertIsNotNone(clickhouse_http.refused_sql("(1, file('/x'))", data=True))
        self.assertIsNone(clickhouse_http.refused_sql("(1, 'outfile', 'system')", data=True))

    def test_identifier_parameters_cannot_name_a_table_function(self):
        sql = "SELECT * FROM {t:Identifier}('/etc/passwd')"
        self.assertIsNotNone(clickhouse_http.refused_identifier_params(sql, {"t": "file"}))
        self.assertIsNone(clickhouse_http.refused_identifier_params(sql, {"t": "events"}))

    def test_loopback_addresses(self):
        for host in ("127.0.0.1", "127.0.0.2", "::1", "localhost"):
            self.assertTrue(clickhouse_http.is_loopback(host), host)
        for host in ("0.0.0.0", "::", "", "192.0.2.1"):
            self.assertFalse(clickhouse_http.is_loopback(host), host)

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

    def assert_denied(self, resp, body):
        self.assertEqual(resp.status, 403, body)
        self.assertEqual(resp.getheader("X-ClickHouse-Exception-Code"), "497", body)
        self.assertIn(b"ACCESS_DENIED", body)

    def test_host_reaching_sql_refused_and_never_run(self):
        target = os.path.join(self.server.tmp.name, "written-by-sql.tsv")
        c = self.conn()
        for sql in ["SELECT * FROM file('/etc/passwd', 'LineAsString')",
                    "SELECT * FROM url('http://127.0.0.1:%d/ping', 'RawBLOB')" % self.server.port,
                    "INSERT INTO FUNCTION file('%s', 'TSV', 'a UInt8') SELECT 1" % target,
                    "SELECT 1 INTO OUTFILE '%s'" % target,
                    "SYSTEM FLUSH LOGS"]:
            with self.subTest(sql=sql):
                self.assert_denied(*self.request(body=sql.encode(), conn=c))
        self.assertFalse(os.path.exists(target))
        # A client-sent INFILE in the `query` parameter, rows in the body.
        table = self.make_kv()
        resp, body = self.request(
            params={"query": "INSERT INTO %s FROM INFILE '/etc/hostname' FORMAT TSV" % table},
            body=b"1\ta\n", conn=c)
        self.assert_denied(resp, body)
        # VALUES data: the engine would evaluate the call in it.
        resp, body = self.request(params={"query": "INSERT INTO %s VALUES" % table},
                                  body=b"(1, file('/etc/hostname'))", conn=c)
        self.assert_denied(resp, body)
        # A setting naming a file, as a URL parameter.
        resp, body = self.request(params={"format_schema": "/etc/passwd:M"},
                                  body=b"SELECT 1", conn=c)
        self.assert_denied(resp, body)
        self.assertEqual(self.ok("SELECT count() FROM %s" % table), b"0\n")
        # The connection stays usable, and plain inserts still go through.
        resp, body = self.request(params={"query": "INSERT INTO %s VALUES" % table},
                                  body=b"(1, 'file url s3')", conn=c)
        self.assertEqual((resp.status, body), (200, b""))
        self.assertEqual(self.ok("SELECT name FROM %s" % table), b"file url s3\n")

    def test_lexer_rules_match_the_engine(self):
        # The guard finds calls by lexing SQL as this engine does; each query
        # here shows the engine follows one rule the guard relies on.
        for sql, expected in [
                ("SELECT 1 /* /* nested */ still a comment */ + 1", b"2\n"),
                ("SELECT $$it's$$", b"it\\'s\n"),
                ("SELECT $tag$a$$b$tag$", b"a$$b\n"),
                ("SELECT 1 # a comment\n + 1", b"2\n"),
                ("SELECT 1 // a comment\n + 1", b"2\n"),
                ("SELECT 'a\\'b', 'c''d'", b"a\\'b\tc\\'d\n"),
                ("SELECT 1e-1", b"0.1\n"),
                ("SELECT x'41'", b"A\n")]:
            with self.subTest(sql=sql):
                self.assertEqual(self.ok(sql), expected)

    def test_log_has_no_row_data(self):
        table = self.make_kv()
        self.request(params={"query": "INSERT INTO %s FORMAT JSONEachRow" % table},
                     body=b'{"id": 1, "name": "secret-row-value"}')
        self.ok('INSERT INTO %s FORMAT JSONEachRow {"id": 2, "name": "secret-inline"}' % table)
        self.ok("SELECT 1")  # a later query, so earlier log lines have been flushed
        log = self.server.stderr_text()
        self.assertIn("INSERT INTO %s FORMAT JSONEachRow" % table, log)
        self.assertNotIn("secret-", log)


class LimitsTest(unittest.TestCase):
    """Body size and socket timeout limits, on a front with small ones."""

    MAX_BODY = 64 * 1024
    TIMEOUT = 2

    @classmethod
    def setUpClass(cls):
        cls.server = Server(extra=("--max-body-bytes", str(cls.MAX_BODY),
                                   "--socket-timeout-secs", str(cls.TIMEOUT)))
        cls.addClassCleanup(cls.server.stop)
        cls.server.wait_listening()

    def raw(self):
        sock = socket.create_connection(("127.0.0.1", self.server.port), timeout=REACT_DEADLINE)
        self.addCleanup(sock.close)
        return sock

    @staticmethod
    def read_until_closed(sock):
        """Everything the front sends until it closes the connection."""
        data = b""
        while True:
            piece = sock.recv(65536)
            if not piece:
                return data
            data += piece

    def conn(self):
        c = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=REACT_DEADLINE)
        self.addCleanup(c.close)
        return c

    def kv_table(self):
        table = "kv_%s" % uuid.uuid4().hex[:8]
        c = self.conn()
        c.request("POST", "/", body=("CREATE TABLE %s (id UInt64, name String) "
                                     "ENGINE = MergeTree ORDER BY id" % table).encode())
        resp = c.getresponse()
        self.assertEqual((resp.status, resp.read()), (200, b""))
        return table

    def count(self, table):
        c = self.conn()
        c.request("POST", "/", body=b"SELECT count() FROM " + table.encode())
        return c.getresponse().read()

    def test_oversized_content_length_is_413_before_reading_the_body(self):
        table = self.kv_table()
        sock = self.raw()
        query = urlencode({"query": "INSERT INTO %s FORMAT RowBinary" % table})
        # Claims 600 MiB and sends 100 bytes: the answer cannot wait for the rest.
        sock.sendall(b"POST /?%s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"
                     % (query.encode(), 600 << 20) + b"\0" * 100)
        answer = self.read_until_closed(sock)
        self.assertTrue(answer.startswith(b"HTTP/1.1 413 "), answer[:200])
        self.assertIn(b"X-ClickHouse-Exception-Code: 307", answer)
        self.assertIn(b"--max-body-bytes", answer)
        self.assertEqual(self.count(table), b"0\n")

    def test_oversized_chunked_body_is_413(self):
        table = self.kv_table()
        piece = b'{"id": 1, "name": "%s"}\n' % (b"x" * 1000)
        chunks = [piece] * (2 * self.MAX_BODY // len(piece))
        c = self.conn()
        c.request("POST", "/?" + urlencode({
            "query": "INSERT INTO %s FORMAT JSONEachRow" % table}),
            body=iter(chunks), encode_chunked=True)
        resp = c.getresponse()
        body = resp.read()
        self.assertEqual(resp.status, 413, body)
        self.assertEqual(resp.getheader("X-ClickHouse-Exception-Code"), "307")
        self.assertEqual(self.count(table), b"0\n")

    def test_body_within_the_limit_is_inserted(self):
        table = self.kv_table()
        rows = b"".join(b'{"id": %d, "name": "%s"}\n' % (i, b"y" * 500) for i in range(100))
        self.assertLess(len(rows), self.MAX_BODY)
        c = self.conn()
        c.request("POST", "/?" + urlencode({"query": "INSERT INTO %s FORMAT JSONEachRow"
                                                     % table}), body=rows)
        resp = c.getresponse()
        self.assertEqual((resp.status, resp.read()), (200, b""))
        self.assertEqual(self.count(table), b"100\n")

    def test_stalled_client_is_cut_off(self):
        table = self.kv_table()
        sock = self.raw()
        query = urlencode({"query": "INSERT INTO %s FORMAT RowBinary" % table})
        sock.sendall(b"POST /?%s HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n"
                     % query.encode() + b"\0" * 10)
        # Then nothing: the front must close the connection by itself.
        self.assertEqual(self.read_until_closed(sock), b"")
        deadline = time.monotonic() + REACT_DEADLINE
        while "client stalled" not in self.server.stderr_text():
            self.assertLess(time.monotonic(), deadline, self.server.stderr_text())
            time.sleep(0.05)
        self.assertEqual(self.count(table), b"0\n")
        # A connection that never sends a request is closed too.
        self.assertEqual(self.read_until_closed(self.raw()), b"")

    def test_slow_but_progressing_upload_is_not_cut(self):
        table = self.kv_table()
        rows = [struct.pack("<Q", i) + rb_string("slow%d" % i) for i in range(8)]

        def slowly():
            # A client pacing its upload (the behaviour under test, not a
            # wait): the body takes twice the timeout, each gap a quarter.
            for row in rows:
                time.sleep(self.TIMEOUT / 4)
                yield row

        c = self.conn()
        c.request("POST", "/?" + urlencode({"query": "INSERT INTO %s FORMAT RowBinary"
                                                     % table}),
                  body=slowly(), encode_chunked=True)
        resp = c.getresponse()
        self.assertEqual((resp.status, resp.read()), (200, b""))
        self.assertEqual(self.count(table), b"8\n")

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

    def test_refuses_a_non_loopback_address(self):
        for host in ("0.0.0.0", "::"):
            with self.subTest(host=host):
                server = Server(host=host)
                self.addCleanup(server.stop)
                self.assertEqual(server.proc.wait(timeout=START_DEADLINE), 2)
                err = server.stderr_text()
                self.assertIn("not a loopback address", err)
                self.assertIn("--allow-remote", err)
                self.assertIsNone(server.lines.get(timeout=START_DEADLINE))  # printed nothing

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
