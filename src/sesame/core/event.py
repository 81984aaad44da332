"""The SES receipt event, read into plain frozen data for the rest of the core.

The shape is SES's ("Invoking Lambda functions" and "Contents of notifications for Amazon SES
email receiving" in the SES developer guide; the same as Powertools' ``SesRecordModel`` and
``sam local generate-event ses email-receiving``). Only what the forwarder uses is required:
``mail.messageId``, ``mail.source``, ``mail.timestamp``, ``receipt.recipients`` and
``receipt.action``. Everything else is a summary SES computed from the headers
(``commonHeaders``, ``headers``, ``destination``); a summary field of an unexpected shape is
ignored, never a reason to refuse a deliverable message. A verdict SES did not report reads
as ``DISABLED``: not scanned, so neither a failure nor an authentication.

Plain code rather than a pydantic model: parsing the event costs well under 1% of a warm
invocation, while importing pydantic and Powertools' parser costs 150-270 ms of every cold
start.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

VerdictStatus = Literal["PASS", "FAIL", "GRAY", "PROCESSING_FAILED", "DISABLED"]
VERDICT_NAMES = ("spam", "virus", "spf", "dkim", "dmarc")
# SES receiving message ids are 40 characters of [a-z0-9]; they are S3 keys and file names
# here, so a hand-made event may use letters, digits, dot, dash and underscore, no more.
_MESSAGE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,254}")


class InvalidEvent(ValueError):
    """The event is not an SES receipt event; nothing can be done with it."""


@dataclass(frozen=True)
class Verdicts:
    spam: str = "DISABLED"
    virus: str = "DISABLED"
    spf: str = "DISABLED"
    dkim: str = "DISABLED"
    dmarc: str = "DISABLED"
    dmarc_policy: str | None = None


@dataclass(frozen=True)
class InboundMail:
    """One received message as the forwarder needs it."""

    message_id: str
    source: str
    timestamp: datetime
    recipients: tuple[str, ...]
    header_from: tuple[str, ...] = ()
    header_to: tuple[str, ...] = ()
    subject: str | None = None
    verdicts: Verdicts = Verdicts()
    headers_truncated: bool = False
    headers: tuple[tuple[str, str], ...] = ()
    s3_bucket: str | None = None
    s3_key: str | None = None
    raw_event: dict[str, Any] | None = None

    def header(self, name: str) -> str | None:
        """A header from the event's header list (may be truncated for huge header blocks)."""
        key = name.lower()
        return next((value for n, value in self.headers if n.lower() == key), None)


def parse_ses_event(event: Any) -> list[InboundMail]:
    """Read an SES receipt event; one :class:`InboundMail` per record."""
    if not isinstance(event, dict):
        raise InvalidEvent("not an SES receipt event: the event is not an object")
    records = event.get("Records")
    if not isinstance(records, list) or not records:
        raise InvalidEvent("not an SES receipt event: no Records list")
    return [_record(index, record) for index, record in enumerate(records)]


def _record(index: int, record: Any) -> InboundMail:
    where = f"Records[{index}]"
    if not isinstance(record, dict):
        raise InvalidEvent(f"not an SES receipt event: {where} is not an object")
    source_name = record.get("eventSource")
    if source_name is not None and source_name != "aws:ses":
        raise InvalidEvent(f"not an SES receipt event: {where}.eventSource is {source_name!r}")
    ses = _object(record, "ses", where)
    mail = _object(ses, "mail", f"{where}.ses")
    receipt = _object(ses, "receipt", f"{where}.ses")

    message_id = mail.get("messageId")
    if not isinstance(message_id, str) or not _MESSAGE_ID.fullmatch(message_id):
        raise InvalidEvent(f"not an SES receipt event: {where}.ses.mail.messageId is missing or not an SES id")
    source = mail.get("source", "")
    if not isinstance(source, str):
        raise InvalidEvent(f"not an SES receipt event: {where}.ses.mail.source is not a string")
    timestamp = parse_timestamp(mail.get("timestamp")) or parse_timestamp(receipt.get("timestamp"))
    if timestamp is None:
        raise InvalidEvent(f"not an SES receipt event: {where}.ses.mail.timestamp is missing or not ISO 8601")
    recipients = receipt.get("recipients")
    if not isinstance(recipients, list) or not recipients or not all(isinstance(r, str) for r in recipients):
        raise InvalidEvent(f"not an SES receipt event: {where}.ses.receipt.recipients is not a list of addresses")
    action = receipt.get("action")
    if not isinstance(action, dict) or not isinstance(action.get("type"), str):
        raise InvalidEvent(f"not an SES receipt event: {where}.ses.receipt.action has no type")

    common = mail.get("commonHeaders") if isinstance(mail.get("commonHeaders"), dict) else {}
    s3 = action["type"] == "S3"
    return InboundMail(
        message_id=message_id,
        source=source,
        timestamp=timestamp,
        recipients=tuple(recipients),
        header_from=_strings(common.get("from")),
        header_to=_strings(common.get("to")),
        subject=common.get("subject") if isinstance(common.get("subject"), str) else None,
        verdicts=_verdicts(receipt),
        headers_truncated=mail.get("headersTruncated") is True,
        headers=tuple(
            (h["name"], h["value"])
            for h in (mail.get("headers") if isinstance(mail.get("headers"), list) else [])
            if isinstance(h, dict) and isinstance(h.get("name"), str) and isinstance(h.get("value"), str)
        ),
        s3_bucket=_string(action.get("bucketName")) if s3 else None,
        s3_key=_string(action.get("objectKey")) if s3 else None,
        raw_event=ses,
    )


def _object(parent: dict[str, Any], key: str, where: str) -> dict[str, Any]:
    value = parent.get(key)
    if not isinstance(value, dict):
        raise InvalidEvent(f"not an SES receipt event: {where}.{key} is missing")
    return value


def parse_timestamp(value: Any) -> datetime | None:
    """An ISO 8601 time as SES writes it (``2026-11-20T09:15:03.201Z``); naive means UTC."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _strings(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list):
        return tuple(v for v in value if isinstance(v, str))
    return ()


def _string(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _verdicts(receipt: dict[str, Any]) -> Verdicts:
    def status(name: str) -> str:
        verdict = receipt.get(f"{name}Verdict")
        value = verdict.get("status") if isinstance(verdict, dict) else None
        return value.upper() if isinstance(value, str) and value else "DISABLED"

    policy = receipt.get("dmarcPolicy")
    return Verdicts(
        **{name: status(name) for name in VERDICT_NAMES},
        dmarc_policy=policy.lower() if isinstance(policy, str) and policy else None,
    )


def verdicts_from_headers(fields: list[tuple[str, str]]) -> Verdicts:
    """The verdicts SES wrote into a message it stored (``X-SES-Spam-Verdict``,
    ``X-SES-Virus-Verdict`` and its ``Authentication-Results``), for a message read from the
    bucket rather than from an event (``sesame preview``). Only the first of each field
    counts: SES puts its own on top, and a sender can write any below them."""
    first: dict[str, str] = {}
    for name, value in fields:
        first.setdefault(name.lower(), value)
    values: dict[str, str] = {}
    for name, header in (("spam", "x-ses-spam-verdict"), ("virus", "x-ses-virus-verdict")):
        if header in first:
            values[name] = first[header].strip().upper() or "DISABLED"
    results = first.get("authentication-results", "")
    if results.split(";", 1)[0].strip().lower() == "amazonses.com":
        words = {"pass": "PASS", "fail": "FAIL", "neutral": "GRAY", "softfail": "FAIL", "temperror": "PROCESSING_FAILED"}
        for name in ("spf", "dkim", "dmarc"):
            found = re.search(rf"\b{name}=([a-z]+)", results, re.IGNORECASE)
            if found:
                values[name] = words.get(found.group(1).lower(), "GRAY")
    return Verdicts(**values)
