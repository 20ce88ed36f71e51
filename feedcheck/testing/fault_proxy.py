"""A loopback HTTP proxy in front of an S3 endpoint that injects faults into real responses.

The client talks to the proxy as if it were S3 (endpoint override); the proxy forwards each request
unchanged (Host header included, so SigV4 signatures still verify upstream) and answers with
upstream's response, unless a `Fault` matches: then it answers with an error status, cuts the
body short, flips bytes at the end of the body, or streams the body slowly. Every request and
every injected fault is recorded, so tests can assert exact counts.
"""

from __future__ import annotations

import http.client
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Literal
from urllib.parse import unquote, urlsplit

FaultKind = Literal["status", "truncate", "corrupt", "slow"]
LOOPBACK = "127.0.0.1"
# Connection-scoped headers are not forwarded (RFC 9110 §7.6.1); the proxy sets its own length.
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "upgrade",
        "transfer-encoding",
    }
)
#: Bytes flipped at the end of a body by a `corrupt` fault: the Parquet footer length and magic.
CORRUPT_TAIL_BYTES = 16
UPSTREAM_TIMEOUT_S = 30.0


@dataclass
class Fault:
    """Inject `kind` into the next `times` requests (None = all) matching method and path.

    status: answer `status` with an S3 XML error body (code ServiceUnavailable for 503, else
        InternalError / the status) without contacting upstream.
    truncate: send upstream's headers (full Content-Length) and half the body, then close.
    corrupt: flip the last CORRUPT_TAIL_BYTES bytes of the body (same length).
    slow: stream the body in `chunk_bytes` pieces with `delay_s` between them.
    """

    kind: FaultKind
    times: int | None = 1
    method: str = "GET"
    path_suffix: str = ".parquet"
    path_contains: str = ""
    status: int = 503
    chunk_bytes: int = 4096
    delay_s: float = 0.0

    def matches(self, method: str, path: str) -> bool:
        return (
            (self.times is None or self.times > 0)
            and method == self.method
            and path.endswith(self.path_suffix)
            and self.path_contains in path
        )


class FaultProxy:
    """Context manager: `with FaultProxy(upstream, [Fault("status", times=2)]) as endpoint: ...`."""

    def __init__(self, upstream_url: str, faults: list[Fault] | None = None) -> None:
        parts = urlsplit(upstream_url)
        if parts.scheme != "http" or parts.hostname is None or parts.port is None:
            raise ValueError(f"upstream {upstream_url!r} must be http://host:port")
        self.upstream = (parts.hostname, parts.port)
        self.faults: list[Fault] = list(faults or [])
        self.requests: list[tuple[str, str]] = []
        self.injected: list[tuple[FaultKind, str]] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer((LOOPBACK, 0), _Handler)
        self._server.daemon_threads = True
        self._server.proxy = self  # type: ignore[attr-defined]
        self._thread: threading.Thread | None = None

    @property
    def endpoint_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> str:
        # A short poll interval makes shutdown() return within ~10 ms instead of 0.5 s.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        self._thread.start()
        return self.endpoint_url

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join()

    def count(self, method: str, path_suffix: str = "") -> int:
        """Requests seen with this method whose path ends with `path_suffix`."""
        with self._lock:
            return sum(1 for m, p in self.requests if m == method and p.endswith(path_suffix))

    def _take(self, method: str, path: str) -> Fault | None:
        with self._lock:
            self.requests.append((method, path))
            for fault in self.faults:
                if fault.matches(method, path):
                    if fault.times is not None:
                        fault.times -= 1
                    self.injected.append((fault.kind, path))
                    return fault
        return None

    def _forward(
        self, method: str, target: str, headers: list[tuple[str, str]], body: bytes | None
    ) -> tuple[int, str, list[tuple[str, str]], bytes]:
        conn = http.client.HTTPConnection(*self.upstream, timeout=UPSTREAM_TIMEOUT_S)
        try:
            conn.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
            for name, value in headers:
                # The proxy already answered any `Expect: 100-continue` and holds the whole body.
                if name.lower() not in _HOP_BY_HOP | {"content-length", "expect"}:
                    conn.putheader(name, value)
            conn.putheader("Content-Length", str(len(body or b"")))
            conn.endheaders(body)
            response = conn.getresponse()
            payload = response.read()
            return response.status, response.reason, response.getheaders(), payload
        finally:
            conn.close()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        """Silent: the proxy records requests in FaultProxy.requests instead."""

    def do_GET(self) -> None:  # noqa: N802
        self._proxy()

    do_HEAD = do_PUT = do_POST = do_DELETE = do_GET

    def _proxy(self) -> None:
        proxy: FaultProxy = self.server.proxy  # type: ignore[attr-defined]
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        # Match on the decoded key: botocore percent-encodes `=` in Hive paths (`dt%3D2024-...`).
        path = unquote(urlsplit(self.path).path)
        fault = proxy._take(self.command, path)
        try:
            if fault is not None and fault.kind == "status":
                self._send_s3_error(fault.status)
                return
            status, reason, headers, payload = proxy._forward(
                self.command, self.path, list(self.headers.items()), body
            )
            if fault is not None and fault.kind == "corrupt" and payload:
                tail = bytes(b ^ 0xFF for b in payload[-CORRUPT_TAIL_BYTES:])
                payload = payload[:-CORRUPT_TAIL_BYTES] + tail
            self.send_response(status, reason)
            for name, value in headers:
                if name.lower() in _HOP_BY_HOP:
                    continue
                # HEAD carries the object's length with no body; keep upstream's header then.
                if name.lower() == "content-length" and self.command != "HEAD":
                    continue
                self.send_header(name, value)
            if self.command != "HEAD":
                self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if self.command == "HEAD":
                return
            if fault is not None and fault.kind == "truncate":
                self.wfile.write(payload[: len(payload) // 2])
                self.wfile.flush()
                self.close_connection = True
            elif fault is not None and fault.kind == "slow":
                for i in range(0, len(payload), fault.chunk_bytes):
                    self.wfile.write(payload[i : i + fault.chunk_bytes])
                    self.wfile.flush()
                    time.sleep(fault.delay_s)
            else:
                self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            # The client went away mid-response (a killed downloader): nothing left to answer.
            self.close_connection = True

    def _send_s3_error(self, status: int) -> None:
        codes = {503: "ServiceUnavailable", 500: "InternalError", 429: "SlowDown"}
        code = codes.get(status, str(status))
        payload = (
            b""
            if self.command == "HEAD"
            else (
                '<?xml version="1.0" encoding="UTF-8"?>'
                f"<Error><Code>{code}</Code><Message>injected by FaultProxy</Message>"
                "<RequestId>fault-proxy</RequestId></Error>"
            ).encode()
        )
        self.send_response(status)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)
