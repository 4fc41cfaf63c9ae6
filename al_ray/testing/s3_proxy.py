"""A fault-injecting HTTP proxy between s3fs and moto's S3 server, for the fault tests and benchmarks.

Support code for the test suite and the benchmarks (tests/faults, benchmarks/bench_faults.py), not
used by the pipeline.

s3fs is pointed at the proxy (``endpoint_url=proxy.url``), so requests are signed for the proxy's
host; moto does not check signatures, so forwarding them unchanged (method, path, query, headers,
body) works. Each request is matched against a thread-safe *plan* of rules, first match wins:

- ``status``: answer with an S3-style XML error (``503 SlowDown``, ``500 InternalError`` ...)
  instead of forwarding;
- ``delay``: wait ``seconds`` before forwarding (slow responses; longer than the client's
  ``read_timeout`` it becomes a timeout);
- ``drop``: close the connection without any response.

A rule fires ``times`` times (``None``: for ever). Every injected fault is recorded in
``proxy.events``. Loopback only; the server thread stops at ``close()``.

Every request is also counted by (method, kind) (``request_kind``: "list" for a listing, else the
method in lower case), faults included: ``proxy.counts()`` is a snapshot, ``reset()`` zeroes it. The
benchmarks use it to show how many LIST/GET/HEAD/PUT requests a phase made.
"""

from __future__ import annotations

import http.client
import re
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

_HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade"}


# query parameters of a bucket-level GET that are still a listing (ListObjects v1 and v2's own)
_LIST_PARAMS = {"prefix", "delimiter", "marker", "max-keys", "encoding-type", "continuation-token",
                "start-after", "fetch-owner", "list-type", "versions", "key-marker", "version-id-marker"}


def request_kind(method: str, target: str) -> str:
    """What an S3 request is, from its method and request target (path and query, path-style):
    "list" for ListObjects (v2: the query has ``list-type``; v1 or versions: a GET of the bucket itself
    with only listing parameters) and ListBuckets (GET /); otherwise the method in lower case
    ("get", "head", "put", "post", "delete")."""
    parts = urlsplit(target)
    query = parse_qs(parts.query, keep_blank_values=True)
    if "list-type" in query:
        return "list"
    if method == "GET" and "/" not in parts.path.strip("/") and set(query) <= _LIST_PARAMS:
        return "list"  # /bucket (or /bucket/, or /) with no sub-resource such as ?location or ?acl
    return method.lower()


@dataclass
class Rule:
    action: str  # "status" | "delay" | "drop"
    key: str = ".*"  # regex searched in the request path ("/bucket/key"), query excluded
    method: str | None = None  # "GET", "PUT", "HEAD", ... or None for any
    times: int | None = 1  # how many requests it fires on; None: every matching request
    status: int = 503
    code: str = "SlowDown"
    seconds: float = 0.0
    hits: int = 0

    def matches(self, method: str, path: str) -> bool:
        if self.method and self.method != method:
            return False
        if self.times is not None and self.hits >= self.times:
            return False
        return re.search(self.key, path) is not None


@dataclass
class Event:
    method: str
    path: str
    action: str
    detail: str
    at: float = field(default_factory=time.monotonic)


class FaultProxy:
    def __init__(self, upstream: str, host: str = "127.0.0.1") -> None:
        up = urlsplit(upstream)
        if up.hostname not in ("127.0.0.1", "localhost"):
            raise ValueError("the fault proxy only forwards to loopback")
        self.upstream = (up.hostname, up.port or 80)
        self._lock = threading.Lock()
        self._rules: list[Rule] = []
        self.events: list[Event] = []
        self.requests = 0
        self._counts: Counter[tuple[str, str]] = Counter()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # quiet
                pass

            def _body(self) -> bytes:
                if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
                    data = b""
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                        if size == 0:
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                                pass
                            return data
                        data += self.rfile.read(size)
                        self.rfile.readline()
                n = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(n) if n else b""

            def _handle(self) -> None:
                body = self._body()
                path = urlsplit(self.path).path
                proxy._count(self.command, self.path)
                rule = proxy._match(self.command, path)
                if rule is not None:
                    proxy._record(self.command, path, rule)
                    if rule.action == "drop":
                        self.close_connection = True
                        try:
                            self.connection.shutdown(socket.SHUT_RDWR)
                        except OSError:
                            pass
                        return
                    if rule.action == "status":
                        self._error(rule.status, rule.code, path)
                        return
                    if rule.action == "delay":
                        time.sleep(rule.seconds)
                self._forward(body)

            def _error(self, status: int, code: str, path: str) -> None:
                xml = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
                       f"<Message>injected by the fault proxy</Message><Resource>{path}</Resource>"
                       f"<RequestId>fault-proxy</RequestId></Error>").encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/xml")
                    self.send_header("Content-Length", str(0 if self.command == "HEAD" else len(xml)))
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(xml)
                except OSError:
                    self.close_connection = True

            def _forward(self, body: bytes) -> None:
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
                if body or self.command in ("PUT", "POST"):
                    headers["Content-Length"] = str(len(body))
                conn = http.client.HTTPConnection(*proxy.upstream, timeout=60)
                try:
                    conn.request(self.command, self.path, body=body or None, headers=headers)
                    resp = conn.getresponse()
                    data = resp.read()
                    status, resp_headers = resp.status, resp.getheaders()
                finally:
                    conn.close()
                try:
                    self.send_response(status)
                    for k, v in resp_headers:
                        if k.lower() not in _HOP_BY_HOP and k.lower() != "content-length":
                            self.send_header(k, v)
                    if self.command == "HEAD":
                        length = dict((k.lower(), v) for k, v in resp_headers).get("content-length", "0")
                        self.send_header("Content-Length", length)
                    else:
                        self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    if self.command != "HEAD" and data:
                        self.wfile.write(data)
                except OSError:  # the client gave up (timed out) meanwhile
                    self.close_connection = True

            do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _handle

        self._server = ThreadingHTTPServer((host, 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://{host}:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="s3-fault-proxy", daemon=True)
        self._thread.start()

    # -- the plan -------------------------------------------------------------------------------
    def add(self, action: str, **kw) -> Rule:
        rule = Rule(action, **kw)
        with self._lock:
            self._rules.append(rule)
        return rule

    def reset(self) -> None:
        with self._lock:
            self._rules.clear()
            self.events.clear()
            self.requests = 0
            self._counts.clear()

    # -- the request counter --------------------------------------------------------------------
    def _count(self, method: str, target: str) -> None:
        key = (method, request_kind(method, target))
        with self._lock:
            self._counts[key] += 1

    def counts(self) -> dict[tuple[str, str], int]:
        """A snapshot of the requests seen since the start or the last ``reset``: (method, kind) -> n."""
        with self._lock:
            return dict(self._counts)

    def reset_counts(self) -> dict[tuple[str, str], int]:
        """Zero the counter only (the fault plan stays); returns what it held."""
        with self._lock:
            snap = dict(self._counts)
            self._counts.clear()
            return snap

    def _match(self, method: str, path: str) -> Rule | None:
        with self._lock:
            self.requests += 1
            for rule in self._rules:
                if rule.matches(method, path):
                    rule.hits += 1
                    return rule
        return None

    def _record(self, method: str, path: str, rule: Rule) -> None:
        detail = {"status": f"{rule.status} {rule.code}", "delay": f"{rule.seconds}s", "drop": "dropped"}[rule.action]
        with self._lock:
            self.events.append(Event(method, path, rule.action, detail))

    def injected(self, action: str | None = None) -> list[Event]:
        with self._lock:
            return [e for e in self.events if action is None or e.action == action]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)
