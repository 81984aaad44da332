"""The SES v2 API as botocore speaks it (``rest-json``): requests in, responses out.

``SendEmail`` (``POST /v2/email/outbound-emails``) with ``Raw`` or ``Simple`` content and
``GetAccount`` (``GET /v2/email/account``). Errors are answered as a ``rest-json`` service
answers them and as botocore's parser reads them: the HTTP status of the error shape in the
``sesv2`` model, the code in the ``x-amzn-ErrorType`` header, ``{"message": ...}`` as body.
"""

from __future__ import annotations

import base64
import binascii
import email.policy
import email.utils
import json
import re
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any

from sesame.local.sending.checks import (
    Identities,
    SesError,
    bad_request,
    check_destinations,
    check_raw_message,
    check_size,
)

SEND_EMAIL_PATH = "/v2/email/outbound-emails"
ACCOUNT_PATH = "/v2/email/account"
# MessageTag (SES v2 API reference): name and value "can only contain ASCII letters (a-z,
# A-Z), numbers (0-9), underscores (_), or dashes (-)", 256 characters or fewer.
_TAG = re.compile(r"[A-Za-z0-9_-]{1,256}")
# Tags Sesame's sender sets: the received message's SES id, and which send of it this is.
MESSAGE_TAG = "sesame-message"
SEND_TAG = "sesame-send"


def new_ses_message_id() -> str:
    """An id shaped like SES's sending ids (``0100018c...-uuid-000000``)."""
    return f"0100{int(time.time() * 1000):012x}-{uuid.uuid4()}-000000"


@dataclass(frozen=True)
class SentMessage:
    """A message SES accepted for sending."""

    ses_message_id: str
    raw: bytes
    from_address: str
    destinations: tuple[str, ...]
    tags: dict[str, str] = field(default_factory=dict)
    configuration_set: str | None = None
    accepted_at: datetime = field(default_factory=lambda: datetime.now(UTC))  # mail.timestamp of its events

    @property
    def name(self) -> str:
        """The outbox name: the received message's id when the sender tagged it, else SES's id."""
        return self.tags.get(MESSAGE_TAG) or self.ses_message_id


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]
    body: bytes


class SesV2Api:
    """Answers SES v2 requests; ``accept`` gets each message SES would send."""

    def __init__(
        self,
        identities: Identities,
        accept: Callable[[SentMessage], None],
        configuration_sets: Iterable[str] = (),
    ) -> None:
        self.identities = identities
        self.accept = accept
        self.configuration_sets = frozenset(configuration_sets)
        self.sent_count = 0

    def handle(self, method: str, path: str, body: bytes) -> Response:
        route = path.split("?", 1)[0].rstrip("/")
        try:
            if method == "POST" and route == SEND_EMAIL_PATH:
                return _json(200, {"MessageId": self.send_email(_request_json(body))})
            if method == "GET" and route == ACCOUNT_PATH:
                return _json(200, self.account())
            raise SesError("NotFoundException", f"No operation for {method} {route} in this SES v2 stand-in", 404)
        except SesError as error:
            return error_response(error)

    def account(self) -> dict[str, Any]:
        # GetAccount response fields (SES v2 API reference); production access, no sandbox.
        return {
            "DedicatedIpAutoWarmupEnabled": False,
            "EnforcementStatus": "HEALTHY",
            "ProductionAccessEnabled": True,
            "SendQuota": {"Max24HourSend": 50000.0, "MaxSendRate": 14.0, "SentLast24Hours": float(self.sent_count)},
            "SendingEnabled": True,
        }

    def send_email(self, request: dict[str, Any]) -> str:
        destination = request.get("Destination") or {}
        destinations = tuple(
            str(a) for key in ("ToAddresses", "CcAddresses", "BccAddresses") for a in destination.get(key) or []
        )
        tags = _tags(request.get("EmailTags") or [])
        configuration_set = request.get("ConfigurationSetName")
        if configuration_set is not None and configuration_set not in self.configuration_sets:
            # ConfigurationSetName names a set that must exist (SES v2 SendEmail: NotFoundException).
            raise SesError("NotFoundException", f"Configuration set <{configuration_set}> does not exist.", 404)
        content = request.get("Content") or {}
        if "Raw" in content:
            encoded = (content["Raw"] or {}).get("Data")
            if not isinstance(encoded, str):
                raise bad_request("Content.Raw.Data is required")
            check_size(len(encoded))
            try:
                raw = base64.b64decode(encoded, validate=True)
            except (binascii.Error, ValueError):
                raise bad_request("Content.Raw.Data is not valid base64") from None
            check_destinations(len(destinations))
            from_address = check_raw_message(raw, self.identities)
            if request.get("FromEmailAddress"):
                self.identities.require([str(request["FromEmailAddress"])])
        elif "Simple" in content:
            from_address = str(request.get("FromEmailAddress") or "")
            if not from_address:
                raise bad_request("FromEmailAddress is required for Simple content")
            check_destinations(len(destinations))
            self.identities.require([from_address])
            raw = simple_message(from_address, destination, content["Simple"] or {})
        else:
            raise bad_request("Content must have one of Raw, Simple, Template")
        message = SentMessage(new_ses_message_id(), raw, from_address, destinations, tags, configuration_set)
        self.accept(message)
        self.sent_count += 1
        return message.ses_message_id


def simple_message(from_address: str, destination: dict[str, Any], simple: dict[str, Any]) -> bytes:
    """The MIME message SES builds from ``Simple`` content."""
    message = EmailMessage(policy=email.policy.SMTP)
    message["From"] = from_address
    if destination.get("ToAddresses"):
        message["To"] = ", ".join(destination["ToAddresses"])
    if destination.get("CcAddresses"):
        message["Cc"] = ", ".join(destination["CcAddresses"])
    message["Subject"] = str((simple.get("Subject") or {}).get("Data", ""))
    message["Date"] = email.utils.formatdate(usegmt=True)
    message["Message-ID"] = email.utils.make_msgid(domain="email.amazonses.com")
    body = simple.get("Body") or {}
    text = (body.get("Text") or {}).get("Data")
    html = (body.get("Html") or {}).get("Data")
    message.set_content(text if text is not None else "", cte="quoted-printable")
    if html is not None:
        message.add_alternative(html, subtype="html", cte="quoted-printable")
    return message.as_bytes()


def error_response(error: SesError) -> Response:
    return Response(
        error.status,
        {"Content-Type": "application/json", "x-amzn-ErrorType": error.code, "x-amzn-RequestId": str(uuid.uuid4())},
        json.dumps({"message": error.message}).encode(),
    )


def _json(status: int, data: dict[str, Any]) -> Response:
    return Response(
        status, {"Content-Type": "application/json", "x-amzn-RequestId": str(uuid.uuid4())}, json.dumps(data).encode()
    )


def _request_json(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body or b"{}")
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise bad_request("The request body is not JSON") from None
    if not isinstance(data, dict):
        raise bad_request("The request body is not a JSON object")
    return data


def _tags(tags: list[Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    for tag in tags:
        name, value = (tag or {}).get("Name"), (tag or {}).get("Value")
        if not (isinstance(name, str) and isinstance(value, str) and _TAG.fullmatch(name) and _TAG.fullmatch(value)):
            raise bad_request(
                f"Invalid message tag {tag!r}: names and values are 1 to 256 ASCII letters, digits, '_' or '-'"
            )
        out[name] = value
    return out
