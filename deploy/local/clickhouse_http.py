#!/usr/bin/env python3
"""Local ClickHouse HTTP front over the embedded chDB engine.

DEVELOPMENT INFRASTRUCTURE ONLY. Production and staging run a real ClickHouse
server. This script exists because no modern ClickHouse server package can be
installed on the dev/CI machines, while the `chdb-core` wheel on PyPI ships the
real ClickHouse engine (26.x) as a library. The script exposes that engine
through the subset of the ClickHouse HTTP interface that the Rust `clickhouse`
crate (0.15.x) uses, so the Rust services and integration tests can run against
real ClickHouse SQL semantics (MergeTree family, codecs, TTL, FINAL, ...).

    python clickhouse_http.py --host 127.0.0.1 --port 8123 --data-dir DIR

`--port 0` picks a free port. Once ready, exactly one line is written to
stdout: `listening on http://HOST:PORT`. Logs (one line per query, without
row data) go to stderr. SIGTERM / SIGINT stop the server and close the engine.

Supported:
  * `GET /ping`, `GET /` -> `Ok.`
  * Queries via `POST /` (SQL in the body, or in the `query` URL parameter with
    the body holding INSERT data) and `GET /?query=...`.
  * `multipart/form-data` bodies with `query` and `param_*` fields (what the
    crate sends for server-side parameters) and `param_*` URL parameters.
  * `database` parameter / `X-ClickHouse-Database` header, `default_format`
    parameter / `X-ClickHouse-Format` header (default output: TabSeparated).
  * Other URL parameters are applied as ClickHouse settings for that request
    only (SET before, restored after); unknown settings fail like ClickHouse.
  * INSERT data in any input format the engine knows (RowBinary,
    RowBinaryWithNamesAndTypes, JSONEachRow, TabSeparated, Values, ...), in the
    body after `query=INSERT ... FORMAT X`, or inline after `FORMAT X` in a
    body-only query. Chunked request bodies and keep-alive connections.
  * Errors: HTTP 500, `X-ClickHouse-Exception-Code` and a `Code: N.
    DB::Exception: ...` body. Malformed requests to this front: HTTP 400.

Not supported (by design; use a real server if you need them):
  * Compression: `decompress=1`, `compress=1` or a request `Content-Encoding`
    other than identity answer 500 - configure the client with
    `Compression::None`. Responses are never compressed.
  * Authentication, roles, quotas: credentials are accepted and ignored.
  * Sessions: `session_id` is ignored; every request is independent. A `SET`
    statement sent as a query is accepted and has no lasting effect (as on a
    real server without a session). Multi-statement queries are passed to the
    engine as is (a real server rejects them).
  * Streaming: results are produced in full before being sent, so progress
    headers and mid-stream exceptions never occur. All engine errors map to
    HTTP 500 (a real server uses 4xx for some codes).
  * Concurrency: one embedded engine session; queries run one at a time.
"""

import argparse
import errno
import json
import os
import re
import signal
import sys
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

# URL parameters that are part of the HTTP protocol rather than settings.
RESERVED_PARAMS = {
    "query", "database", "default_format", "query_id", "session_id",
    "session_timeout", "session_check", "close_session", "user", "password",
    "quota_key", "role", "stacktrace", "buffer_size", "wait_end_of_query",
    "client_protocol_version", "compress", "decompress",
    "enable_http_compression", "http_zlib_compression_level",
}
NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
CODE_RE = re.compile(r"Code: (\d+)\.")
NESTED_PREFIX_RE = re.compile(r"^(?:Code: \d+\. DB::Exception: )+")
# `INSERT INTO ... FORMAT X` at the end of the `query` parameter (data in body).
TAIL_FORMAT_RE = re.compile(
    r"^(\s*INSERT\s+INTO\b.*?)\s+FORMAT\s+([A-Za-z0-9_]+)\s*$", re.I | re.S)
TAIL_VALUES_RE = re.compile(r"^(\s*INSERT\s+INTO\b.*?)\s+VALUES\s*$", re.I | re.S)
# `INSERT INTO ... FORMAT X <data>` as one body (data inline after FORMAT).
INLINE_INSERT_RE = re.compile(
    rb"^(\s*INSERT\s+INTO\b.*?)\s+FORMAT\s+([A-Za-z0-9_]+)(?=\s|$)[ \t]*(?:\r?\n)?",
    re.I | re.S)
SETTINGS_RE = re.compile(r"\sSETTINGS\s", re.I)
OUTPUT_FORMAT_RE = re.compile(r"\bFORMAT\s+([A-Za-z0-9_]+)", re.I)
SET_STATEMENT_RE = re.compile(r"^\s*SET\s+(?!ROLE\b|DEFAULT\s+ROLE\b)", re.I)

COMPRESSION_MESSAGE = (
    "Compressed HTTP requests are not supported by the local engine front "
    "(deploy/local/clickhouse_http.py); configure the client with compression "
    "none (clickhouse::Compression::None)")


class FrontError(Exception):
    """A request this front refuses on its own (not an engine error)."""

    def __init__(self, status, code, message, close=False):
        super().__init__(message)
        self.status, self.code, self.close = status, code, close


def quote_string(value):
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def quote_ident(name):
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"


def one_line(text, limit=200):
    return " ".join(text[:limit].split())


class Engine:
    """The single chDB session, serialised by one lock."""

    def __init__(self, data_dir):
        from chdb import session  # imported late: argparse --help stays fast
        self.session = session.Session(data_dir)
        self.lock = threading.Lock()

    def close(self):
        with self.lock:
            if self.session is not None:
                self.session.close()
                self.session = None

    def _q(self, sql, fmt="TabSeparated", params=None):
        if self.session is None:
            raise RuntimeError("Code: 1000. DB::Exception: engine is shut down")
        return self.session.query(sql, fmt, params=params or None)

    def run(self, sql, fmt, database, settings, params):
        """Run one query in `database` with per-request `settings`."""
        with self.lock:
            self._q("USE " + quote_ident(database))
            saved = self._snapshot(settings) if settings else []
            try:
                if settings:  # unknown names fail here with UNKNOWN_SETTING
                    self._q("SET " + ", ".join(
                        "%s = %s" % (n, quote_string(v)) for n, v in settings.items()))
                return self._q(sql, fmt, params)
            finally:
                for name, value, changed in saved:
                    restored = quote_string(value) if changed else "DEFAULT"
                    self._q("SET %s = %s" % (name, restored))

    def _snapshot(self, settings):
        names = ", ".join(quote_string(n) for n in settings)
        res = self._q("SELECT name, value, changed FROM system.settings "
                      "WHERE name IN (%s)" % names, "JSONEachRow")
        return [(row["name"], row["value"], int(row["changed"]))
                for row in map(json.loads, res.bytes().splitlines())]


def parse_multipart(body, content_type):
    m = re.search(r'boundary="?([^";]+)"?', content_type)
    if not m:
        raise FrontError(400, 1000, "multipart/form-data without a boundary")
    fields = {}
    for part in body.split(b"--" + m.group(1).encode())[1:]:
        if part.startswith(b"--"):
            break
        head, _, value = part.partition(b"\r\n\r\n")
        name = re.search(rb'name="([^"]*)"', head)
        if name:
            fields[name.group(1).decode()] = value[:-2] if value.endswith(b"\r\n") else value
    return fields


def summary(res, elapsed):
    def get(attr):
        fn = getattr(res, attr, None)
        try:
            return str(int(fn())) if fn else "0"
        except Exception:
            return "0"
    return json.dumps({
        "read_rows": get("storage_rows_read"), "read_bytes": get("storage_bytes_read"),
        "written_rows": get("rows_written"), "written_bytes": get("bytes_written"),
        "total_rows_to_read": get("storage_rows_read"), "result_rows": get("rows_read"),
        "result_bytes": get("size"), "elapsed_ns": str(int(elapsed * 1e9)),
    }, separators=(",", ":"))


def content_type_for(fmt):
    f = fmt.lower()
    if f.startswith("json"):
        return "application/json; charset=UTF-8"
    if f.startswith(("tabseparated", "tsv")):
        return "text/tab-separated-values; charset=UTF-8"
    if f.startswith("csv"):
        return "text/csv; charset=UTF-8; header=absent"
    if f.startswith(("pretty", "values", "vertical", "markdown", "xml")):
        return "text/plain; charset=UTF-8"
    return "application/octet-stream"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "hookline-local-clickhouse"
    engine = None  # set in main()

    def log_message(self, format, *args):  # noqa: A002 - silence default access log
        pass

    def do_GET(self):
        self.handle_request()

    def do_POST(self):
        self.handle_request()

    # --- request body -------------------------------------------------------

    def iter_body(self):
        rfile = self.rfile
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            while True:
                line = rfile.readline(65537)
                try:
                    size = int(line.split(b";", 1)[0].strip(), 16)
                except ValueError:
                    raise FrontError(400, 1000, "malformed chunked body", close=True)
                if size == 0:
                    while rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return
                while size:
                    data = rfile.read(min(size, 1 << 20))
                    if not data:
                        raise FrontError(400, 1000, "truncated chunked body", close=True)
                    size -= len(data)
                    yield data
                if rfile.readline(3) not in (b"\r\n", b"\n"):
                    raise FrontError(400, 1000, "malformed chunked body", close=True)
        else:
            try:
                left = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                raise FrontError(400, 1000, "bad Content-Length", close=True)
            while left > 0:
                data = rfile.read(min(left, 1 << 20))
                if not data:
                    raise FrontError(400, 1000, "truncated request body", close=True)
                left -= len(data)
                yield data

    def read_body(self):
        return b"".join(self.iter_body())

    # --- responses ----------------------------------------------------------

    def send(self, status, body, headers=()):
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def send_exception(self, status, code, message, query_id):
        message = NESTED_PREFIX_RE.sub("Code: %d. DB::Exception: " % code, message.strip())
        if not message.startswith("Code: "):
            message = "Code: %d. DB::Exception: %s" % (code, message)
        self.send(status, (message + "\n").encode("utf-8", "replace"), [
            ("Content-Type", "text/plain; charset=UTF-8"),
            ("X-ClickHouse-Exception-Code", str(code)),
            ("X-ClickHouse-Query-Id", query_id)])

    # --- dispatch -----------------------------------------------------------

    def handle_request(self):
        started = time.monotonic()
        url = urlsplit(self.path)
        params = dict(parse_qsl(url.query, keep_blank_values=True))
        query_id = params.get("query_id") or str(uuid.uuid4())
        log_sql, status = "", 200
        try:
            if url.path == "/ping" or (url.path == "/" and self.command == "GET"
                                       and "query" not in params):
                self.read_body()
                self.send(200, b"Ok.\n", [("Content-Type", "text/html; charset=UTF-8")])
                return
            if url.path != "/":
                self.read_body()
                raise FrontError(404, 1000, "no handler for %s (use / or /ping)" % url.path)
            status, log_sql = self.handle_query(params, query_id, started)
        except FrontError as e:
            status = e.status
            if e.close:
                self.close_connection = True
            self.send_exception(e.status, e.code, str(e), query_id)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
            status = 499
        finally:
            if log_sql or status != 200:
                sys.stderr.write("%s %s %d %.1fms %s\n" % (
                    time.strftime("%H:%M:%S"), self.command, status,
                    (time.monotonic() - started) * 1000, log_sql or self.path[:200]))
                sys.stderr.flush()

    def handle_query(self, params, query_id, started):
        encoding = self.headers.get("Content-Encoding", "").strip().lower()
        if (params.get("decompress", "0") not in ("", "0")
                or params.get("compress", "0") not in ("", "0")
                or encoding not in ("", "identity")):
            self.read_body()
            raise FrontError(500, 48, COMPRESSION_MESSAGE + ". (NOT_IMPLEMENTED)")

        database = (params.get("database") or self.headers.get("X-ClickHouse-Database")
                    or "default")
        out_fmt = (params.get("default_format") or self.headers.get("X-ClickHouse-Format")
                   or "TabSeparated")
        if not NAME_RE.match(out_fmt):
            self.read_body()
            raise FrontError(400, 73, "bad default_format %r. (UNKNOWN_FORMAT)" % out_fmt)
        query_params = {k[6:]: v for k, v in params.items() if k.startswith("param_")}
        settings = {k: v for k, v in params.items()
                    if k not in RESERVED_PARAMS and not k.startswith("param_")}
        bad = [k for k in settings if not NAME_RE.match(k)]
        if bad:
            self.read_body()
            raise FrontError(400, 115, "bad setting name %r. (UNKNOWN_SETTING)" % bad[0])

        qp = params.get("query")
        data_path, fmt = None, out_fmt
        try:
            tail = TAIL_FORMAT_RE.match(qp or "") or TAIL_VALUES_RE.match(qp or "")
            if tail:  # INSERT in `query`, rows in the body: stream them to a file
                head = tail.group(1)
                data_fmt = tail.group(2) if tail.re is TAIL_FORMAT_RE else "Values"
                data_path = self.spool(self.iter_body())
            else:
                body = self.read_body()
                if "multipart/form-data" in self.headers.get("Content-Type", ""):
                    fields = parse_multipart(body, self.headers["Content-Type"])
                    body = fields.pop("query", b"")
                    query_params.update({k[6:]: v.decode("utf-8", "replace")
                                         for k, v in fields.items() if k.startswith("param_")})
                text = body if qp is None else (
                    qp.encode() + b"\n" + body if body else qp.encode())
                if not text.strip():
                    raise FrontError(400, 62, "Empty query: send SQL in the `query` URL "
                                     "parameter or in the request body. (SYNTAX_ERROR)")
                inline = INLINE_INSERT_RE.match(text)
                if inline:  # INSERT ... FORMAT X <rows>
                    head = inline.group(1).decode("utf-8", "replace")
                    data_fmt = inline.group(2).decode()
                    data_path = self.spool([text[inline.end():]])
                else:
                    try:
                        sql = text.decode("utf-8")
                    except UnicodeDecodeError:
                        raise FrontError(400, 1000, "query is not valid UTF-8")
            if data_path is not None:
                at = [m.start() for m in SETTINGS_RE.finditer(head)]
                cut = at[-1] if at else len(head)
                sql = "%s FROM INFILE %s%s FORMAT %s" % (
                    head[:cut], quote_string(data_path), head[cut:], data_fmt)
                log_sql = one_line("%s FORMAT %s" % (head, data_fmt))
            else:
                log_sql = one_line(sql)
                formats = OUTPUT_FORMAT_RE.findall(sql)
                fmt = formats[-1] if formats else out_fmt
                if SET_STATEMENT_RE.match(sql):
                    self.send(200, b"", [("X-ClickHouse-Query-Id", query_id)])
                    return 200, log_sql
            try:
                res = self.engine.run(sql, out_fmt, database, settings, query_params)
            except Exception as e:  # engine error: report it ClickHouse-style
                msg = str(e)
                m = CODE_RE.search(msg)
                self.send_exception(500, int(m.group(1)) if m else 1000, msg, query_id)
                return 500, log_sql
        finally:
            if data_path is not None:
                os.unlink(data_path)

        out = res.bytes() if data_path is None else b""
        headers = [("X-ClickHouse-Query-Id", query_id),
                   ("X-ClickHouse-Summary", summary(res, time.monotonic() - started))]
        if data_path is None:
            headers += [("X-ClickHouse-Format", fmt), ("Content-Type", content_type_for(fmt))]
        else:
            headers.append(("Content-Type", "text/plain; charset=UTF-8"))
        self.send(200, out, headers)
        return 200, log_sql

    @staticmethod
    def spool(chunks):
        # A plain suffix: FROM INFILE picks a decompressor from the extension.
        fd, path = tempfile.mkstemp(prefix="hookline-ch-insert-", suffix=".data")
        try:
            with os.fdopen(fd, "wb") as f:
                for chunk in chunks:
                    f.write(chunk)
        except BaseException:
            os.unlink(path)
            raise
        return path


def main(argv=None):
    ap = argparse.ArgumentParser(
        description="Development-only ClickHouse HTTP front over the embedded chDB "
                    "engine (see the module docstring for what it supports).")
    ap.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    ap.add_argument("--port", type=int, default=8123,
                    help="port to bind, 0 picks a free one (default 8123)")
    ap.add_argument("--data-dir", required=True,
                    help="directory holding the engine's databases (created if missing)")
    args = ap.parse_args(argv)

    try:
        server = ThreadingHTTPServer((args.host, args.port), Handler)
    except OSError as e:
        if e.errno == errno.EADDRINUSE:
            print("port %d is taken: %s; choose another with --port" % (args.port, e),
                  file=sys.stderr)
        else:
            print("cannot listen on %s:%d: %s" % (args.host, args.port, e), file=sys.stderr)
        return 1
    server.daemon_threads = True

    try:
        os.makedirs(args.data_dir, exist_ok=True)
        Handler.engine = Engine(os.path.abspath(args.data_dir))
    except Exception as e:
        print("cannot start the chDB engine in %s: %s" % (args.data_dir, e), file=sys.stderr)
        server.server_close()
        return 1

    def stop(signum, frame):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    host, port = server.server_address[:2]
    print("listening on http://%s:%d" % (host, port), flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
        Handler.engine.close()
    print("stopped", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
