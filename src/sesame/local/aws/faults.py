"""Seeded faults in the emulated AWS calls, injected at the botocore level.

Every HTTP attempt a faulty client makes (each botocore retry included) draws once: with
probability ``rate`` it fails, in one of these ways, chosen with equal weight:

``throttle``
    the service's own throttling error, status and protocol: S3 ``503 SlowDown`` (XML), SES
    v2 ``429 TooManyRequestsException`` (rest-json), DynamoDB ``400
    ProvisionedThroughputExceededException`` and SSM ``400 ThrottlingException`` (JSON
    ``__type``), SQS ``400 RequestThrottled``. Codes from the botocore models' error shapes and
    AWS's error pages; the request never reaches the server.
``server_error``
    a 5xx the same way (S3 ``500 InternalError``, DynamoDB/SSM ``500 InternalServerError``,
    SES/SQS ``500 InternalFailure``, the common code of AWS APIs).
``connect_timeout``
    botocore's ``ConnectTimeoutError``: nothing was sent.
``read_timeout``
    botocore's ``ReadTimeoutError`` before the server acted: nothing reached it.
``lost_response``
    the request really is sent and the server acts on it (an S3 object is written, an SES
    message goes out), then the client sees a ``ReadTimeoutError``: the response was lost.
    Only this kind can make an SES send deliver a copy the sender does not know about.

The hook is botocore's ``before-send`` event: a handler's response replaces the HTTP call,
an exception raised there is handled like one from the HTTP layer (retried by botocore's
retry handler when it is retryable). Every fault is one JSON line in the fault log:
function, service, operation, kind, attempt, and for SES sends the ``sesame-message`` tag
and the destinations, so a harness can attribute every extra copy.
"""

from __future__ import annotations

import json
import random
import re
import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from io import BytesIO
from pathlib import Path
from typing import Any

from botocore.awsrequest import AWSResponse
from botocore.exceptions import ConnectTimeoutError, ReadTimeoutError
from botocore.httpsession import URLLib3Session

# The stored copy's Received header names the SES receiving id, and the rewriter keeps it: a
# send is attributed to its message by it when the sender set no sesame-message tag.
_RECEIVED_ID = re.compile(rb"with SMTP id ([a-z0-9]{20,64})")
KINDS = ("throttle", "server_error", "connect_timeout", "read_timeout", "lost_response")

# (HTTP status, error code, message) per service.
THROTTLE = {
    "s3": (503, "SlowDown", "Please reduce your request rate."),
    "sesv2": (429, "TooManyRequestsException", "Too many requests have been made to the operation."),
    "dynamodb": (
        400,
        "ProvisionedThroughputExceededException",
        "The level of configured provisioned throughput for the table was exceeded. "
        "Consider increasing your provisioning level with the UpdateTable API.",
    ),
    "ssm": (400, "ThrottlingException", "Rate exceeded"),
    "sqs": (400, "RequestThrottled", "Request is throttled."),
}
SERVER_ERROR = {
    "s3": (500, "InternalError", "We encountered an internal error. Please try again."),
    "dynamodb": (500, "InternalServerError", "Internal server error"),
    "ssm": (500, "InternalServerError", "An error occurred on the server side."),
}
GENERIC_SERVER_ERROR = (500, "InternalFailure", "The request processing has failed because of an unknown error.")
# The JSON protocol's __type prefix, where the service uses one (DynamoDB's responses carry it).
JSON_TYPE_PREFIX = {"dynamodb": "com.amazonaws.dynamodb.v20120810#", "sqs": "com.amazonaws.sqs#"}


@dataclass(frozen=True)
class FaultPlan:
    rate: float = 0.0
    seed: int | None = None
    kinds: tuple[str, ...] = KINDS

    def __post_init__(self) -> None:
        if not 0.0 <= self.rate <= 1.0:
            raise ValueError(f"fault rate {self.rate} is not between 0 and 1")
        unknown = set(self.kinds) - set(KINDS)
        if unknown or not self.kinds:
            raise ValueError(f"fault kinds are among {', '.join(KINDS)}, not {', '.join(sorted(unknown)) or 'none'}")


class _Body(BytesIO):
    def stream(self, **_: Any) -> Any:
        yield self.getvalue()


def error_response(service: str, protocol: str, url: str, status: int, code: str, message: str) -> AWSResponse:
    """An error response in ``protocol``, as botocore's parser for it reads one."""
    request_id = str(uuid.uuid4())
    headers = {"x-amzn-RequestId": request_id}
    if protocol == "rest-xml":
        body = (
            f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{message}</Message>'
            f"<RequestId>{request_id}</RequestId><HostId>local</HostId></Error>"
        ).encode()
        headers = {"Content-Type": "application/xml", "x-amz-request-id": request_id}
    elif protocol == "rest-json":
        headers.update({"Content-Type": "application/json", "x-amzn-ErrorType": code})
        body = json.dumps({"message": message}).encode()
    elif protocol == "json":
        headers["Content-Type"] = "application/x-amz-json-1.0"
        body = json.dumps({"__type": JSON_TYPE_PREFIX.get(service, "") + code, "message": message}).encode()
    else:  # query
        headers["Content-Type"] = "text/xml"
        body = (
            f"<ErrorResponse><Error><Type>Receiver</Type><Code>{code}</Code><Message>{message}</Message></Error>"
            f"<RequestId>{request_id}</RequestId></ErrorResponse>"
        ).encode()
    return AWSResponse(url, status, headers, _Body(body))


def received_id(data: Any) -> str | None:
    """The SES receiving id in a forwarded message's header block, if it has one."""
    if isinstance(data, tuple) and data:
        data = data[0]
    if not isinstance(data, (bytes, bytearray, memoryview)):
        return None
    match = _RECEIVED_ID.search(bytes(data[:16384]))
    return match.group(1).decode() if match else None


class FaultInjector:
    """Draws faults for the clients it is attached to and logs each one."""

    def __init__(self, plan: FaultPlan, log: Path | None = None) -> None:
        self.plan = plan
        self.log = log
        self.counts: dict[str, int] = dict.fromkeys(plan.kinds, 0)
        self.records: list[dict[str, Any]] = []
        self._random = random.Random(plan.seed)
        self._lock = threading.Lock()
        self._call = threading.local()
        self._http = URLLib3Session(timeout=60)

    def attach(self, client: Any, function: str) -> None:
        """Register the hooks on one client (the clients ``function`` is given)."""
        service = client.meta.service_model.service_name
        protocol = client.meta.service_model.protocol
        events = client.meta.events
        events.register("before-parameter-build", self._remember_call)
        events.register("before-send", lambda request, **kw: self._maybe_fail(request, function, service, protocol, kw))

    def _remember_call(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        call: dict[str, Any] = {"attempt": 0}
        if model.name == "SendEmail":
            tags = {t.get("Name"): t.get("Value") for t in params.get("EmailTags") or [] if isinstance(t, dict)}
            destination = params.get("Destination") or {}
            call["message"] = tags.get("sesame-message") or received_id(((params.get("Content") or {}).get("Raw") or {}).get("Data"))
            call["send"] = tags.get("sesame-send")
            call["destinations"] = [
                a for k in ("ToAddresses", "CcAddresses", "BccAddresses") for a in destination.get(k) or []
            ]
        self._call.current = call

    def _draw(self) -> str | None:
        with self._lock:
            if self._random.random() >= self.plan.rate:
                return None
            return self._random.choice(self.plan.kinds)

    def _maybe_fail(self, request: Any, function: str, service: str, protocol: str, kw: dict[str, Any]) -> Any:
        call = getattr(self._call, "current", None) or {"attempt": 0}
        call["attempt"] += 1
        kind = self._draw()
        if kind is None:
            return None
        operation = str(kw.get("event_name", "")).rsplit(".", 1)[-1]
        self._record(kind, function, service, operation, call)
        if kind == "throttle":
            status, code, message = THROTTLE.get(service, THROTTLE["sqs"])
            return error_response(service, protocol, request.url, status, code, message)
        if kind == "server_error":
            status, code, message = SERVER_ERROR.get(service, GENERIC_SERVER_ERROR)
            return error_response(service, protocol, request.url, status, code, message)
        if kind == "connect_timeout":
            raise ConnectTimeoutError(endpoint_url=request.url)
        if kind == "lost_response":
            lost = self._http.send(request)  # the server acts; its answer goes nowhere
            _ = lost.content  # read it, so the connection goes back to the pool
        raise ReadTimeoutError(endpoint_url=request.url)

    def _record(self, kind: str, function: str, service: str, operation: str, call: dict[str, Any]) -> None:
        record = {
            "time": datetime.now(UTC).isoformat(),
            "function": function,
            "service": service,
            "operation": operation,
            "kind": kind,
            "attempt": call["attempt"],
        }
        for key in ("message", "send", "destinations"):
            if key in call:
                record[key] = call[key]
        with self._lock:
            self.counts[kind] += 1
            self.records.append(record)
            if self.log is not None:
                with self.log.open("a", encoding="utf-8") as log:
                    log.write(json.dumps(record) + "\n")

    def close(self) -> None:
        self._http.close()


