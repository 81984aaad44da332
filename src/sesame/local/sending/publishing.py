"""SES event publishing: the event record SES writes for a send's bounce or complaint, and
the EventBridge event that carries it.

Shapes from the SES Developer Guide: "Contents of event data that Amazon SES publishes" (the
``mail`` object: ``timestamp``, ``messageId`` (the id SendEmail answered), ``source``,
``sourceArn``, ``sendingAccountId``, ``destination`` (every recipient of the send),
``headersTruncated``, ``headers`` (name and value, as sent), ``commonHeaders``, ``tags`` (the
send's message tags and SES's own ``ses:*`` tags, each a list of values); the ``bounce`` and
``complaint`` objects), and "Monitoring SES events using Amazon EventBridge" (``source``
``aws.ses``, ``detail-type`` such as ``Email Bounced``, ``detail`` the record). The samples in
``events/ses_feedback_*.json`` have the same fields in the same places.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sesame.local.cfn import LOCAL_ACCOUNT
from sesame.local.sending.api import SentMessage, new_ses_message_id
from sesame.local.sending.fates import Fate

DETAIL_TYPES = {"bounce": "Email Bounced", "complaint": "Email Complaint Received"}
EVENT_TYPES = {"bounce": "Bounce", "complaint": "Complaint"}
# "headersTruncated: whether the headers are truncated in the notification, which occurs if
# the headers are larger than 10 KB" (SES Developer Guide, the mail object). Which fields
# survive is not documented: here the first ones that fit.
HEADERS_LIMIT = 10 * 1024
# commonHeaders: the address fields are lists of addresses, the others strings.
_COMMON_LISTS = {"from": "from", "to": "to", "cc": "cc", "bcc": "bcc", "reply-to": "replyTo", "sender": "sender"}
_COMMON_TEXT = {"date": "date", "subject": "subject", "message-id": "messageId", "return-path": "returnPath"}
LOCAL_IP = "127.0.0.1"


def _iso_millis(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def header_fields(raw: bytes) -> list[tuple[str, str]]:
    """The header block's fields, unfolded, in order. SES's checks let only ASCII header lines
    through, so this reads text; anything else is replaced, never raised on."""
    head = raw.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
    fields: list[tuple[str, str]] = []
    for line in head.decode("ascii", "replace").replace("\r\n", "\n").split("\n"):
        if line[:1] in (" ", "\t") and fields:
            name, value = fields[-1]
            fields[-1] = (name, f"{value} {line.strip()}")
        elif ":" in line:
            name, _, value = line.partition(":")
            fields.append((name.strip(), value.strip()))
    return fields


def split_addresses(value: str) -> list[str]:
    """An address field's addresses as written, split at the commas outside quotes, angle
    brackets and comments."""
    out, current, quoted, depth, angle, escaped = [], [], False, 0, False, False
    for ch in value:
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == '"' and not depth:
            quoted = not quoted
        elif not quoted and ch == "(":
            depth += 1
        elif not quoted and ch == ")" and depth:
            depth -= 1
        elif not quoted and not depth and ch in "<>":
            angle = ch == "<"
        elif ch == "," and not (quoted or depth or angle):
            out.append("".join(current).strip())
            current = []
            continue
        current.append(ch)
    out.append("".join(current).strip())
    return [a for a in out if a]


def mail_object(message: SentMessage, region: str, sent_at: datetime) -> dict[str, Any]:
    fields = header_fields(message.raw)
    headers: list[dict[str, str]] = []
    size, truncated = 0, False
    for name, value in fields:
        size += len(name) + len(value) + 4
        if size > HEADERS_LIMIT:
            truncated = True
            break
        headers.append({"name": name, "value": value})
    common: dict[str, Any] = {}
    for name, value in fields:
        key = name.lower()
        if key in _COMMON_LISTS and _COMMON_LISTS[key] not in common:
            common[_COMMON_LISTS[key]] = split_addresses(value)
        elif key in _COMMON_TEXT and _COMMON_TEXT[key] not in common:
            common[_COMMON_TEXT[key]] = value
    domain = message.from_address.rpartition("@")[2].lower()
    tags: dict[str, list[str]] = {name: [value] for name, value in message.tags.items()}
    if message.configuration_set:
        tags["ses:configuration-set"] = [message.configuration_set]
    tags.update({
        "ses:source-ip": [LOCAL_IP],  # the API caller's address: local mode's functions, on this machine
        "ses:from-domain": [domain],
        "ses:outgoing-ip": [LOCAL_IP],
    })
    return {
        "timestamp": _iso_millis(sent_at),
        "source": message.from_address,
        "sourceArn": f"arn:aws:ses:{region}:{LOCAL_ACCOUNT}:identity/{domain}",
        "sendingAccountId": LOCAL_ACCOUNT,
        "messageId": message.ses_message_id,
        "destination": list(message.destinations),
        "headersTruncated": truncated,
        "headers": headers,
        "commonHeaders": common,
        "tags": tags,
    }


def event_record(message: SentMessage, destination: str, fate: Fate, *, region: str, sent_at: datetime,
                 at: datetime | None = None) -> dict[str, Any]:
    """SES's record of ``fate`` for ``destination`` (a bounce or a complaint)."""
    at = at or datetime.now(UTC)
    if fate.kind == "bounce":
        recipient = {"emailAddress": destination, "action": "failed", "status": fate.status,
                     "diagnosticCode": fate.diagnostic}
        section: dict[str, Any] = {
            "feedbackId": new_ses_message_id(),
            "bounceType": fate.bounce_type,
            "bounceSubType": fate.bounce_subtype,
            "bouncedRecipients": [{k: v for k, v in recipient.items() if v is not None}],
            "timestamp": _iso_millis(at),
            "remoteMtaIp": fate.remote_mta_ip,
            "reportingMTA": fate.reporting_mta,
        }
        section = {k: v for k, v in section.items() if v is not None}  # remoteMtaIp only when a server answered
        name = "bounce"
    elif fate.kind == "complaint":
        section = {
            "feedbackId": new_ses_message_id(),
            "complaintSubType": None,
            "complainedRecipients": [{"emailAddress": destination}],
            "timestamp": _iso_millis(at),
            "userAgent": f"sesame local ({fate.why})",
            "complaintFeedbackType": fate.feedback_type,
            "arrivalDate": _iso_millis(sent_at),
        }
        name = "complaint"
    else:
        raise ValueError(f"SES publishes no bounce or complaint for a {fate.kind} destination")
    return {"eventType": EVENT_TYPES[name], name: section, "mail": mail_object(message, region, sent_at)}


def eventbridge_event(record: dict[str, Any], *, region: str, at: datetime | None = None) -> dict[str, Any]:
    """The event SES puts on the default event bus for ``record``."""
    at = at or datetime.now(UTC)
    kind = record["eventType"].lower()
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": DETAIL_TYPES[kind],
        "source": "aws.ses",
        "account": LOCAL_ACCOUNT,
        "time": at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [],
        "detail": record,
    }


__all__ = ["event_record", "eventbridge_event", "header_fields", "mail_object", "split_addresses"]
