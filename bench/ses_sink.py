"""A stand-in for the SES v2 ``SendEmail`` endpoint that checks every request it gets.

It answers the way SES v2 does (restJson1): ``200 {"MessageId": ...}``, or an error with the
status code the SES v2 model gives it (``MessageRejected`` 400, ``TooManyRequestsException``
429, ...), the error code in the ``x-amzn-ErrorType`` header and ``{"message": ...}`` in the
body (Smithy's AWS restJson1 protocol, "Operation error serialization"; the header is where
botocore's ``RestJSONParser`` reads the code from).

Each request is kept as received and checked on demand, independently of botocore:

- ``POST /v2/email/outbound-emails``, ``Content-Type: application/json``, a
  ``Content-Length`` equal to the body received;
- the SigV4 signature, recomputed here from the credentials, over the exact body received
  (so a body changed after signing fails);
- the JSON: ``Content.Raw.Data`` decodes as strict base64, ``Destination.ToAddresses``, no
  ``FromEmailAddress``; the decoded message's size and SHA-256 are reported, not the bytes.

Used in-process by the tests (:class:`SesSink`) and as a separate process by
``bench/bench_handler.py``: ``python bench/ses_sink.py`` prints its port, serves until its
stdin closes, and answers ``GET /checks`` with the checks of the requests received so far
(as JSON, then forgets them).
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import hmac
import itertools
import json
import sys
import threading
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

SEND_EMAIL_PATH = "/v2/email/outbound-emails"
# The fake credentials the tests and the benchmark give botocore.
ACCESS_KEY = "testing"
SECRET_KEY = "testing"


@dataclass(frozen=True)
class Reply:
    """What the sink answers to one request."""

    status: int = 200
    error_code: str | None = None
    message: str = ""
    hold: threading.Event | None = None  # answer only once this is set (a hung SES)


def rejection(code: str, message: str) -> Reply:
    """An SES v2 error reply; status codes as the SES v2 model (botocore's sesv2
    service-2.json) gives them."""
    status = {"TooManyRequestsException": 429, "NotFoundException": 404, "InternalFailure": 500}.get(code, 400)
    return Reply(status, code, message)


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes | bytearray


@dataclass
class Check:
    """What one request carried, and every way it differs from what SES v2 accepts."""

    problems: list[str] = field(default_factory=list)
    destinations: list[str] = field(default_factory=list)
    message_size: int = 0
    message_sha256: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    configuration_set: str | None = None
    body_size: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems


def check_request(request: Received, *, secret_key: str = SECRET_KEY) -> Check:
    check = Check(body_size=len(request.body))
    headers = {k.lower(): v for k, v in request.headers.items()}
    if (request.method, urlsplit(request.path).path) != ("POST", SEND_EMAIL_PATH):
        check.problems.append(f"not a SendEmail call: {request.method} {request.path}")
    if headers.get("content-type") != "application/json":
        check.problems.append(f"Content-Type {headers.get('content-type')!r}")
    if headers.get("content-length") != str(len(request.body)):
        check.problems.append(f"Content-Length {headers.get('content-length')} for {len(request.body)} bytes")
    if problem := sigv4_problem(request, secret_key):
        check.problems.append(problem)
    try:
        payload = json.loads(request.body)
        data = base64.b64decode(payload["Content"]["Raw"]["Data"], validate=True)
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        check.problems.append(f"body is not a raw SendEmail request: {exc!r}")
        return check
    if "FromEmailAddress" in payload:
        check.problems.append("FromEmailAddress set (SES would rewrite the From header)")
    check.destinations = list(payload.get("Destination", {}).get("ToAddresses", []))
    check.message_size = len(data)
    check.message_sha256 = hashlib.sha256(data).hexdigest()
    check.tags = {tag["Name"]: tag["Value"] for tag in payload.get("EmailTags", [])}
    check.configuration_set = payload.get("ConfigurationSetName")
    return check


def sigv4_problem(request: Received, secret_key: str) -> str | None:
    """Why the request's SigV4 signature does not hold, or None.

    Recomputed as the SigV4 documentation describes ("Create a signed AWS API request"):
    canonical request, string to sign, derived key, HMAC.
    """
    headers = {k.lower(): v for k, v in request.headers.items()}
    authorization = headers.get("authorization", "")
    algorithm, _, fields = authorization.partition(" ")
    if algorithm != "AWS4-HMAC-SHA256":
        return f"not signed with SigV4: {authorization[:40]!r}"
    parts = dict(item.strip().split("=", 1) for item in fields.split(","))
    scope = parts["Credential"].split("/", 1)[1]
    date, region, service, _ = scope.split("/")
    signed = parts["SignedHeaders"].split(";")
    url = urlsplit(request.path)
    canonical = "\n".join(
        [
            request.method,
            url.path or "/",
            url.query,
            "".join(f"{name}:{' '.join(headers.get(name, '').split())}\n" for name in signed),
            parts["SignedHeaders"],
            hashlib.sha256(request.body).hexdigest(),
        ]
    )
    to_sign = "\n".join(
        ["AWS4-HMAC-SHA256", headers.get("x-amz-date", ""), scope, hashlib.sha256(canonical.encode()).hexdigest()]
    )
    key = f"AWS4{secret_key}".encode()
    for step in (date, region, service, "aws4_request"):
        key = hmac.new(key, step.encode(), hashlib.sha256).digest()
    expected = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, parts["Signature"]):
        return "SigV4 signature does not match the body received"
    return None


class _Server(ThreadingHTTPServer):
    # A thread per connection: a client holding a keep-alive connection open (botocore's
    # pool does) must not stop the sink from serving the next one, or from shutting down.
    daemon_threads = True
    block_on_close = False


class SesSink:
    """The sink as an HTTP server on 127.0.0.1."""

    def __init__(self, port: int = 0) -> None:
        self.received: list[Received] = []
        self.replies: list[Reply] = []  # answered in order; then 200s
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._server = _Server(("127.0.0.1", port), self._handler_class())
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> SesSink:
        self._thread = threading.Thread(target=self._server.serve_forever, name="ses-sink", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join()

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def checks(self) -> list[Check]:
        """Check every SendEmail request received since the last call, then forget them."""
        with self._lock:
            received, self.received = self.received, []
        return [check_request(request) for request in received]

    def _record(self, request: Received) -> tuple[Reply, int]:
        with self._lock:
            self.received.append(request)
            return (self.replies.pop(0) if self.replies else Reply()), next(self._ids)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        sink = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as botocore's connection pool expects

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                if self.path != "/checks":
                    self._send(404, {"message": "not found"})
                    return
                self._send(200, [asdict(check) | {"ok": check.ok} for check in sink.checks()])

            def do_POST(self) -> None:
                # One read of the announced size: the fastest way to drain the socket, so the
                # sink slows the sender as little as it can. (Fewer bytes: the client hung up.)
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                reply, number = sink._record(Received("POST", self.path, dict(self.headers.items()), body))
                if reply.hold is not None:
                    reply.hold.wait()
                if reply.error_code:
                    self._send(reply.status, {"message": reply.message}, {"x-amzn-ErrorType": reply.error_code})
                else:
                    # A v2 message id as SES returns them (the SES event publishing examples:
                    # "0000014a5fd2a0e9-...-000000").
                    message_id = f"010001{number:010x}-5f1c2e3a-7b4d-4e1f-9a2b-3c4d5e6f7a8b-000000"
                    self._send(200, {"MessageId": message_id})

            def _send(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("x-amzn-RequestId", "6a3c9f7e-2b1d-4c5e-8f9a-0b1c2d3e4f5a")
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                try:
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True  # the client gave up waiting (a read timeout)

        return Handler


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="SES v2 SendEmail stand-in that checks each request")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    sink = SesSink(args.port).start()
    print(sink.url.rsplit(":", 1)[1], flush=True)
    sys.stdin.read()  # until whoever started us closes our stdin
    sink.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
