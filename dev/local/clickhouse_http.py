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

`--port 0` picks a free port. The front has no authentication, so it refuses
to listen on anything but a loopback address unless `--allow-remote` is given.
Once ready, exactly one line is written to stdout: `listening on
http://HOST:PORT`. Logs (one line per query, without row data) go to stderr.
SIGTERM / SIGINT stop the server and close the engine.

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

Limits (this front runs arbitrary SQL for whoever reaches it, so it bounds
what a client can make it do):
  * Loopback only: a non-loopback `--host` (0.0.0.0, ::, a LAN address) is
    refused at start unless `--allow-remote` is given.
  * Request bodies above `--max-body-bytes` (default 512 MiB) answer 413
    (Code 307, TOO_MANY_BYTES) as soon as the size is known: from
    Content-Length before reading anything, or while a chunked body streams.
    The default holds the consumers' largest insert several times over.
  * A client that sends nothing for `--socket-timeout-secs` (default 60) is
    disconnected: the timeout bounds each read and each 1 MiB write, so a
    slow upload that keeps moving is never cut, a stalled one is.
  * SQL that reaches the host's files, programs or network is refused with
    HTTP 403 and Code 497 (ACCESS_DENIED): table functions, table and
    database engines and dictionary sources such as file(), url(), s3(),
    hdfs(), remote(), mysql(), executable(), disk(); `INTO OUTFILE` and
    `FROM INFILE` sent by a client (the front adds its own `FROM INFILE` for
    INSERT bodies after the check); `SYSTEM`, `ATTACH`, `BACKUP` and
    `RESTORE` statements; and settings naming schema or template files.
    The check lexes the SQL as ClickHouse does and, in case that lexing and
    the engine's ever disagree, also refuses a listed function name followed
    by `(` anywhere in the text, string literals included. VALUES data is
    checked too (the engine evaluates expressions in it). It is a guard for
    a development tool bound to loopback, not a sandbox: run untrusted SQL
    only against a real server with proper grants.

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
import ipaddress
import json
import os
import re
import signal
import socket
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
    "(dev/local/clickhouse_http.py); configure the client with compression "
    "none (clickhouse::Compression::None)")
# A write to the client is cut into pieces this big so that the socket timeout
# bounds a stalled reader, not a large answer to a reader that keeps up.
WRITE_PIECE = 1 << 20
# After refusing a request whose body was not read, how long the front keeps
# discarding what the client still sends, so that the client can finish
# sending and read the refusal instead of seeing its connection reset.
LINGER_SECONDS = 2.0
DEFAULT_MAX_BODY_BYTES = 512 << 20
DEFAULT_SOCKET_TIMEOUT_SECS = 60.0


# --- SQL guard ---------------------------------------------------------------
#
# The engine runs in this process with this user's rights, so SQL that names a
# file, a URL or another server would let any client read or write the host's
# files or reach its network. The project itself only sends plain DDL, INSERT
# and SELECT; everything below is refused before the engine sees it.

# Table functions, table/database engines and dictionary sources that reach
# files, programs or other hosts (names compared lower-cased).
DENIED_CALLS = frozenset("""
    file filecluster filesystem filelog url urlcluster http gcs oss cosn hive
    remote remotesecure cluster clusterallreplicas distributed externaldistributed
    mysql materializedmysql postgresql materializedpostgresql mongodb redis
    sqlite odbc jdbc cassandra clickhouse kafka rabbitmq nats keepermap
    executable executablepool executable_pool library yamlregexptree
    arrowflight ytsaurus datalakecatalog backup disk python
    catboostevaluate modelevaluate
""".split())
# Families with many members (s3Cluster, icebergS3, deltaLakeAzure, ...).
DENIED_CALL_PREFIXES = ("s3", "hdfs", "azure", "iceberg", "deltalake", "hudi", "paimon")
# Statements that load data from paths or act on the engine process itself.
DENIED_STATEMENTS = frozenset(("system", "attach", "backup", "restore"))
# Clauses that read or write a file named by the client.
DENIED_WORDS = frozenset(("infile", "outfile"))
# Settings naming files the engine reads (format schemas, templates) or writes.
DENIED_SETTING_PREFIXES = ("format_schema", "format_template", "output_format_schema")
WORD_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
DIGITS = frozenset("0123456789")
HEX_DIGITS = frozenset("0123456789abcdefABCDEF")
ESCAPES = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "0": "\0",
           "a": "\a", "v": "\v", "e": "\x1b"}
RAW_NAME_RE = re.compile(r"(?<![A-Za-z0-9_])[`\"]?([A-Za-z_][A-Za-z0-9_]*)[`\"]?")


def denied_call(name):
    name = name.lower()
    return name in DENIED_CALLS or name.startswith(DENIED_CALL_PREFIXES)


def denied_setting(name):
    return name.lower().startswith(DENIED_SETTING_PREFIXES)


def _skip_space_and_comments(text, i):
    """Index of the first character at or after `i` that ClickHouse's lexer
    does not treat as whitespace or a comment (comments nest, as they do there)."""
    n = len(text)
    while i < n:
        c = text[i]
        if c in " \t\n\r\f\v":
            i += 1
        elif text.startswith(("--", "//"), i) or (
                c == "#" and i + 1 < n and text[i + 1] in " !"):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text.startswith("/*", i):
            depth, i = 1, i + 2
            while i + 1 < n and depth:
                if text.startswith("/*", i):
                    depth, i = depth + 1, i + 2
                elif text.startswith("*/", i):
                    depth, i = depth - 1, i + 2
                else:
                    i += 1
            if depth:
                return n
        else:
            return i
    return i


def _quoted_end(text, i, quote):
    """End of the quoted token starting at `i` (backslash escapes and doubled
    quotes, as the engine reads them), or None when it is not closed."""
    i += 1
    n = len(text)
    while i < n:
        c = text[i]
        if c == "\\":
            i += 2
        elif c == quote:
            if i + 1 < n and text[i + 1] == quote:
                i += 2
            else:
                return i + 1
        else:
            i += 1
    return None


def _unquote(token):
    """The name a quoted identifier stands for."""
    body, out, i = token[1:-1], [], 0
    while i < len(body):
        c = body[i]
        if c == "\\" and i + 1 < len(body):
            e = body[i + 1]
            if e in "xX" and all(ch in HEX_DIGITS for ch in body[i + 2:i + 4]) \
                    and len(body[i + 2:i + 4]) == 2:
                out.append(chr(int(body[i + 2:i + 4], 16)))
                i += 4
                continue
            out.append(ESCAPES.get(e, e))
            i += 2
        elif c == token[0] and i + 1 < len(body) and body[i + 1] == c:
            out.append(c)
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _number_end(text, i, after_dot):
    """End of a number starting at `i`, following the engine's lexer (what it
    swallows decides where a later comment or string starts)."""
    n = len(text)

    def separator(j, block_start, hex_digits):
        return (text[j] == "_" and not block_start and j + 1 < n
                and text[j + 1] in (HEX_DIGITS if hex_digits else DIGITS))

    if after_dot:
        i += 1
        while i < n and (text[i] in DIGITS or separator(i, False, False)):
            i += 1
        return i
    block_start = is_hex = False
    if i + 2 < n and text[i] == "0" and text[i + 1] in "xXbB":
        if text[i + 1] in "xX" and text[i + 2] in HEX_DIGITS:
            is_hex, block_start, i = True, True, i + 2
        elif text[i + 1] in "bB" and text[i + 2] in "01":
            block_start, i = True, i + 2
        else:
            i += 1
    else:
        i += 1
    digits = HEX_DIGITS if is_hex else DIGITS
    while i < n and (text[i] in digits or separator(i, block_start, is_hex)):
        i, block_start = i + 1, False
    if i < n and text[i] == ".":
        i, block_start = i + 1, True
        while i < n and (text[i] in digits or separator(i, block_start, is_hex)):
            i, block_start = i + 1, False
    if i + 1 < n and text[i] in ("pP" if is_hex else "eE"):
        i, block_start = i + 1, True
        if i + 1 < n and text[i] in "+-":
            i += 1
        while i < n and (text[i] in DIGITS or separator(i, block_start, False)):
            i, block_start = i + 1, False
    return i


def sql_tokens(text):
    """The significant tokens of `text` as ClickHouse's lexer splits them, as
    (kind, text) pairs: kind is "word", "quoted" (an identifier), "string",
    "number" or "punct". Whitespace and comments are dropped; an unclosed
    string or comment ends the stream (the engine refuses such a query)."""
    i, n, prev = 0, len(text), None
    while True:
        i = _skip_space_and_comments(text, i)
        if i >= n:
            return
        c, start = text[i], i
        if c in DIGITS:
            i = _number_end(text, i, prev == "dot")
            kind = "number"
            if i < n and text[i] in WORD_CHARS:
                while i < n and text[i] in WORD_CHARS:
                    i += 1
                kind = "word"
        elif c in "'\"`":
            end = _quoted_end(text, i, c)
            if end is None:
                return
            i, kind = end, ("string" if c == "'" else "quoted")
        elif c == "." and i > 0 and not (
                i + 1 < n and text[i + 1] in DIGITS
                and prev not in ("word", "quoted", "number", ")", "]")):
            i, kind = i + 1, "dot"
        elif c == ".":
            i, kind = _number_end(text, i, True), "number"
            if i + 1 < n and text[i] in "eE":
                i += 1
                if i + 1 < n and text[i] in "+-":
                    i += 1
                while i < n and text[i] in DIGITS:
                    i += 1
        elif c == "$" and text.find("$", i + 1) >= 0 and text.find(
                text[i:text.find("$", i + 1) + 1], text.find("$", i + 1) + 1) >= 0:
            tag = text[i:text.find("$", i + 1) + 1]
            i = text.find(tag, i + len(tag)) + len(tag)
            kind = "string"  # a heredoc
        elif c == "$" and (i + 1 == n or text[i + 1] not in WORD_CHARS):
            i, kind = i + 1, "punct"
        elif c in "xXbB" and i + 2 < n and text[i + 1] == "'":
            j = i + 2
            ok = HEX_DIGITS if c in "xX" else "01"
            while j < n and text[j] in ok:
                j += 1
            if j >= n or text[j] != "'":
                return
            i, kind = j + 1, "string"
        elif c in WORD_CHARS or c == "$":
            i += 1
            while i < n and (text[i] in WORD_CHARS or text[i] == "$"):
                i += 1
            kind = "word"
        elif text.startswith(("->", "::", "||", "<=", ">=", "<>", "!=", "=="), i):
            i, kind = i + 2, "punct"
        else:
            # Closing brackets are remembered apart: a dot after them is a dot.
            i, kind = i + 1, (c if c in ")]" else "punct")
        prev = kind
        yield ("punct" if kind in (")", "]", "dot") else kind), text[start:i]


def refused_sql(text, data=False):
    """Why `text` must not reach the engine, or None. `data` is VALUES data,
    where only function calls matter."""
    tokens = list(sql_tokens(text))
    statement_start = True
    for k, (kind, token) in enumerate(tokens):
        name = _unquote(token) if kind == "quoted" else token
        following = tokens[k + 1][1] if k + 1 < len(tokens) else ""
        if kind in ("word", "quoted"):
            if following == "(" and denied_call(name):
                return "%s() reaches the host's files, programs or network" % name
            if k >= 2 and tokens[k - 1][1] == "=" and tokens[k - 2][1].lower() == "engine" \
                    and denied_call(name):
                return "ENGINE = %s reaches the host's files or network" % name
            if k >= 1 and tokens[k - 1][1].lower() == "engine" and denied_call(name):
                return "ENGINE %s reaches the host's files or network" % name
            if denied_setting(name) and not data:
                return "setting %s names a file on the host" % name
        if kind == "word" and not data:
            if token.lower() in DENIED_WORDS:
                return "%s names a file on the host (the front loads INSERT bodies " \
                       "itself: send the rows in the request body)" % token.upper()
            if statement_start and token.lower() in DENIED_STATEMENTS:
                return "%s statements act on the host's files or the engine process" \
                    % token.upper()
        statement_start = token == ";"
    # Should this lexer and the engine's ever disagree about where a string or
    # comment ends, a call could hide from the loop above: refuse a listed
    # name followed by `(` anywhere, string literals included.
    for m in RAW_NAME_RE.finditer(text):
        if denied_call(m.group(1)):
            after = _skip_space_and_comments(text, m.end())
            if after < len(text) and text[after] == "(":
                return "%s( appears in the query (refused even inside a string " \
                       "literal)" % m.group(1)
    if not data:
        for m in RAW_NAME_RE.finditer(text):
            if m.group(1).lower() in DENIED_WORDS:
                return "%s appears in the query (refused even inside a string " \
                       "literal)" % m.group(1).upper()
    return None


def refused_identifier_params(text, query_params):
    """Why a server-side parameter of type Identifier may not be substituted
    (it could name a table function), or None."""
    tokens = [t for _, t in sql_tokens(text)]
    for k in range(len(tokens) - 4):
        if tokens[k] == "{" and tokens[k + 2] == ":" and tokens[k + 4] == "}" \
                and tokens[k + 3].lower() == "identifier":
            value = query_params.get(tokens[k + 1], "")
            for part in re.split(r"[.`\"\s]+", value):
                if part and (denied_call(part) or denied_setting(part)):
                    return "parameter %s names %s" % (tokens[k + 1], part)
    return None


class FrontError(Exception):
    """A request this front refuses on its own (not an engine error)."""

    def __init__(self, status, code, message, close=False):
        super().__init__(message)
        self.status, self.code, self.close = status, code, close


def access_denied(why):
    return FrontError(
        403, 497, "%s: refused by the local development front "
        "(dev/local/clickhouse_http.py), which never lets SQL reach the host's files "
        "or network; use a real ClickHouse server with grants for that. (ACCESS_DENIED)"
        % why)


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
    # Set in main(): the largest request body accepted, and the per-operation
    # socket timeout (StreamRequestHandler applies `timeout` to the socket).
    max_body_bytes = DEFAULT_MAX_BODY_BYTES
    timeout = DEFAULT_SOCKET_TIMEOUT_SECS

    def log_message(self, format, *args):  # noqa: A002 - silence default access log
        pass

    def log_error(self, format, *args):  # noqa: A002 - e.g. a request line that timed out
        sys.stderr.write("%s %s\n" % (time.strftime("%H:%M:%S"), format % args))
        sys.stderr.flush()

    def do_GET(self):
        self.handle_request()

    def do_POST(self):
        self.handle_request()

    # --- request body -------------------------------------------------------

    def too_large(self, size):
        return FrontError(
            413, 307, "request body of %s bytes is larger than this front's "
            "--max-body-bytes %d: send smaller batches or raise the limit. (TOO_MANY_BYTES)"
            % (size, self.max_body_bytes), close=True)

    def iter_body(self):
        """The request body in pieces; refuses it (413) as soon as it is known
        to exceed max_body_bytes, without reading the rest."""
        rfile = self.rfile
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            total = 0
            while True:
                line = rfile.readline(65537)
                try:
                    size = int(line.split(b";", 1)[0].strip(), 16)
                except ValueError:
                    raise FrontError(400, 1000, "malformed chunked body", close=True)
                total += size
                if total > self.max_body_bytes:
                    raise self.too_large("more than %d" % self.max_body_bytes)
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
            if left > self.max_body_bytes:
                raise self.too_large(left)
            while left > 0:
                data = rfile.read(min(left, 1 << 20))
                if not data:
                    raise FrontError(400, 1000, "truncated request body", close=True)
                left -= len(data)
                yield data

    def read_body(self):
        return b"".join(self.iter_body())

    def discard_body(self):
        for _ in self.iter_body():
            pass

    # --- responses ----------------------------------------------------------

    def send(self, status, body, headers=()):
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        view = memoryview(body)
        for at in range(0, len(view), WRITE_PIECE):
            self.wfile.write(view[at:at + WRITE_PIECE])

    def linger(self):
        """Discards what the client still sends for up to LINGER_SECONDS (or
        until it stops sending), so that a client still writing a refused body
        reads the answer rather than a connection reset; then the connection
        closes."""
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_WR)
            deadline = time.monotonic() + LINGER_SECONDS
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                self.connection.settimeout(min(left, 0.5))
                if not self.connection.recv(1 << 16):
                    return
        except OSError:
            return

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
            if e.close:
                self.linger()
        except TimeoutError:
            # The client sent (or read) nothing for `timeout` seconds: it holds
            # a thread and maybe a half-written insert; give both back.
            self.close_connection = True
            status = 408
            log_sql = log_sql or "client stalled for %gs (--socket-timeout-secs): " \
                "connection closed" % self.timeout
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
            self.discard_body()
            raise FrontError(400, 115, "bad setting name %r. (UNKNOWN_SETTING)" % bad[0])
        denied = [k for k in settings if denied_setting(k)]
        if denied:
            self.discard_body()
            raise access_denied("setting %s names a file on the host" % denied[0])

        qp = params.get("query")
        data_path, fmt = None, out_fmt
        try:
            tail = TAIL_FORMAT_RE.match(qp or "") or TAIL_VALUES_RE.match(qp or "")
            if tail:  # INSERT in `query`, rows in the body: stream them to a file
                head = tail.group(1)
                data_fmt = tail.group(2) if tail.re is TAIL_FORMAT_RE else "Values"
                why = refused_sql(head)
                if why:
                    self.discard_body()
                    raise access_denied(why)
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
                    why = refused_sql(head)
                    if why:
                        raise access_denied(why)
                    data_path = self.spool([text[inline.end():]])
                else:
                    try:
                        sql = text.decode("utf-8")
                    except UnicodeDecodeError:
                        raise FrontError(400, 1000, "query is not valid UTF-8")
                    why = refused_sql(sql) or refused_identifier_params(sql, query_params)
                    if why:
                        raise access_denied(why)
            if data_path is not None and data_fmt.lower() == "values":
                # The engine evaluates expressions found in VALUES data.
                with open(data_path, "rb") as f:
                    why = refused_sql(f.read().decode("utf-8", "replace"), data=True)
                if why:
                    raise access_denied(why)
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


def is_loopback(host):
    """Whether every address `host` names is a loopback address (an empty host
    or a wildcard means every interface, so it is not)."""
    try:
        infos = socket.getaddrinfo(host or None, None, proto=socket.IPPROTO_TCP,
                                   flags=socket.AI_PASSIVE)
    except socket.gaierror:
        return False
    addresses = {info[4][0].split("%", 1)[0] for info in infos}
    return bool(addresses) and all(ipaddress.ip_address(a).is_loopback for a in addresses)


def positive_float(text):
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError("must be greater than 0, got %s" % text)
    return value


def positive_int(text):
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be greater than 0, got %s" % text)
    return value


def main(argv=None):
    ap = argparse.ArgumentParser(
        description="Development-only ClickHouse HTTP front over the embedded chDB "
                    "engine (see the module docstring for what it supports). It has no "
                    "authentication: keep it on a loopback address.")
    ap.add_argument("--host", default="127.0.0.1",
                    help="address to bind (default 127.0.0.1); anything but a loopback "
                         "address needs --allow-remote")
    ap.add_argument("--port", type=int, default=8123,
                    help="port to bind, 0 picks a free one (default 8123)")
    ap.add_argument("--data-dir", required=True,
                    help="directory holding the engine's databases (created if missing)")
    ap.add_argument("--allow-remote", action="store_true",
                    help="allow a non-loopback --host: anyone who reaches the port can "
                         "read, change and delete every table, without a password")
    ap.add_argument("--max-body-bytes", type=positive_int, default=DEFAULT_MAX_BODY_BYTES,
                    help="largest request body accepted; larger ones answer 413 without "
                         "being read (default %d = 512 MiB: the consumers' default batch "
                         "is up to 64 MiB of hook bodies plus one more body of up to "
                         "25 MiB and per-row columns, so this leaves several times that)"
                         % DEFAULT_MAX_BODY_BYTES)
    ap.add_argument("--socket-timeout-secs", type=positive_float,
                    default=DEFAULT_SOCKET_TIMEOUT_SECS,
                    help="close a connection whose client sends or reads nothing for this "
                         "long; it bounds each read and each 1 MiB write, not a whole "
                         "request, so a slow upload that keeps moving is never cut "
                         "(default %g)" % DEFAULT_SOCKET_TIMEOUT_SECS)
    args = ap.parse_args(argv)

    if not is_loopback(args.host):
        if not args.allow_remote:
            print("refusing to listen on %r: it is not a loopback address, and this "
                  "development front has no authentication (anyone who reaches it can "
                  "read, change and drop every table). Use --host 127.0.0.1, or pass "
                  "--allow-remote if every host that can reach this address is trusted."
                  % args.host, file=sys.stderr)
            return 2
        print("warning: listening on %r (--allow-remote): every host that reaches it "
              "can use the engine without a password" % args.host, file=sys.stderr)
    Handler.max_body_bytes = args.max_body_bytes
    Handler.timeout = args.socket_timeout_secs

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
