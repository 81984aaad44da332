"""What SES receiving does to a message before the forwarder sees it: a message id, the
headers SES prepends to the stored copy, and the Lambda event (the shape of
``sam local generate-event ses email-receiving`` and of real events)."""

from __future__ import annotations

import base64
import email.utils
import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from sesame.core.event import Verdicts
from sesame.core.message import parse_message

VERDICT_NAMES = ("spam", "virus", "spf", "dkim", "dmarc")
VERDICT_STATUSES = ("PASS", "FAIL", "GRAY", "PROCESSING_FAILED", "DISABLED")
DMARC_POLICIES = ("none", "quarantine", "reject")


def new_message_id() -> str:
    """An SES receiving message id: 40 characters of ``[a-z0-9]`` (also the S3 key's tail)."""
    return base64.b32encode(secrets.token_bytes(25)).decode("ascii").lower()


def parse_verdicts(items: Sequence[str]) -> Verdicts:
    """``["spam=FAIL", "dmarc=FAIL", "dmarc-policy=reject"]`` -> :class:`Verdicts`."""
    values: dict[str, str | None] = {}
    for item in items:
        name, sep, status = item.partition("=")
        name = name.strip().lower().replace("_", "-")
        if not sep:
            raise ValueError(f"--verdict {item!r}: expected NAME=STATUS, e.g. spam=FAIL")
        if name == "dmarc-policy":
            if status.strip().lower() not in DMARC_POLICIES:
                raise ValueError(f"--verdict {item!r}: dmarc-policy is one of {', '.join(DMARC_POLICIES)}")
            values["dmarc_policy"] = status.strip().lower()
            continue
        if name not in VERDICT_NAMES:
            raise ValueError(f"--verdict {item!r}: NAME is one of {', '.join(VERDICT_NAMES)}, dmarc-policy")
        if status.strip().upper() not in VERDICT_STATUSES:
            raise ValueError(f"--verdict {item!r}: STATUS is one of {', '.join(VERDICT_STATUSES)}")
        values[name] = status.strip().upper()
    # SES reports every verdict; local mode passes them all unless told otherwise.
    return Verdicts(**({name: "PASS" for name in VERDICT_NAMES} | values))  # type: ignore[arg-type]


def verdicts_for_rule(verdicts: Verdicts, scan_enabled: bool, explicit: Sequence[str] = ()) -> Verdicts:
    """A rule without spam and virus scanning reports them DISABLED, unless asked otherwise."""
    if scan_enabled:
        return verdicts
    return replace(verdicts, **{n: "DISABLED" for n in ("spam", "virus") if n not in explicit})


def verdicts_event(verdicts: Verdicts) -> dict[str, Any]:
    """The verdict fields of an SES receipt, as the event carries them."""
    data: dict[str, Any] = {f"{n}Verdict": {"status": getattr(verdicts, n)} for n in VERDICT_NAMES}
    if verdicts.dmarc == "FAIL":
        data["dmarcPolicy"] = verdicts.dmarc_policy or "none"
    return data


@dataclass
class Received:
    """One message as SES receiving accepted it."""

    message_id: str
    source: str
    recipients: tuple[str, ...]
    helo: str
    peer_ip: str
    received_at: datetime
    original: bytes
    stored: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _word(status: str) -> str:
    return {"PASS": "pass", "FAIL": "fail", "GRAY": "neutral", "PROCESSING_FAILED": "temperror"}.get(status, "none")


def ses_headers(
    received: Received, verdicts: Verdicts, region: str, eol: bytes, extra: Sequence[tuple[str, str]] = ()
) -> bytes:
    """The header fields SES puts in front of a message it stores, in SES's order."""
    source = received.source
    helo = received.helo or "unknown"
    ip = received.peer_ip or "127.0.0.1"
    first = received.recipients[0] if received.recipients else ""
    parsed = parse_message(received.original)
    from_field = parsed.first("From")
    from_domain = ""
    if from_field is not None:
        addresses = [a for _, a in email.utils.getaddresses([from_field.text()]) if "@" in a]
        from_domain = addresses[0].rpartition("@")[2].lower() if addresses else ""
    env_domain = source.rpartition("@")[2].lower() or helo
    date = email.utils.format_datetime(received.received_at.astimezone(UTC)).replace("-0000", "+0000")
    spf = _word(verdicts.spf)
    spf_text = {
        "pass": f"domain of {env_domain} designates {ip} as permitted sender",
        "fail": f"domain of {env_domain} does not designate {ip} as permitted sender",
    }.get(spf, f"no conclusive SPF result for {env_domain}")
    body = received.original[parsed.body_offset :] if parsed.has_separator else b""
    body_hash = base64.b64encode(hashlib.sha256(body).digest()).decode()
    receipt_blob = base64.b64encode(secrets.token_bytes(96)).decode()
    signature = base64.b64encode(secrets.token_bytes(128)).decode()
    lines = [
        f"Return-Path: <{source}>",
        f"Received: from {helo} ({helo} [{ip}])",
        f" by inbound-smtp.{region}.amazonaws.com with SMTP id {received.message_id}",
        f" for {first};",
        f" {date} (UTC)",
        *(f"{name}: {value}" for name, value in extra),
        f"X-SES-Spam-Verdict: {verdicts.spam}",
        f"X-SES-Virus-Verdict: {verdicts.virus}",
        f"Received-SPF: {spf} (spfCheck: {spf_text}) client-ip={ip}; envelope-from={source}; helo={helo};",
        "Authentication-Results: amazonses.com;",
        f" spf={spf} (spfCheck: {spf_text}) client-ip={ip}; envelope-from={source}; helo={helo};",
        f" dkim={_word(verdicts.dkim)} header.i=@{from_domain or env_domain};",
        f" dmarc={_word(verdicts.dmarc)} header.from={from_domain or env_domain};",
        f"X-SES-RECEIPT: {receipt_blob[:76]}",
        f" {receipt_blob[76:]}",
        "X-SES-DKIM-SIGNATURE: a=rsa-sha256; q=dns/txt; c=relaxed/simple;",
        f" s=224i4yxa5dv7c2xz3womw6peuasteono; d=amazonses.com; t={int(received.received_at.timestamp())};",
        " v=1; h=From:To:Cc:Bcc:Subject:Date:Message-ID:MIME-Version:Content-Type:X-SES-RECEIPT;",
        f" bh={body_hash};",
        f" b={signature[:70]}",
        f" {signature[70:]}",
    ]
    return eol.join(line.encode("ascii", "replace") for line in lines) + eol


def store_copy(received: Received, verdicts: Verdicts, region: str, extra: Sequence[tuple[str, str]] = ()) -> bytes:
    """The message as SES writes it to S3: its added headers, then the message untouched."""
    parsed = parse_message(received.original)
    eol = parsed.eol or b"\r\n"
    received.stored = ses_headers(received, verdicts, region, eol, extra) + received.original
    stored = parse_message(received.stored)
    received.headers = [(f.name, f.text()) for f in stored.fields]
    return received.stored


def _addresses(values: Sequence[str]) -> list[str]:
    out = []
    for name, address in email.utils.getaddresses(list(values)):
        if address:
            out.append(email.utils.formataddr((name, address)) if name else address)
    return out


def build_event(
    received: Received,
    recipients: Sequence[str],
    verdicts: Verdicts,
    function_arn: str,
    invocation_type: str = "Event",
    processing_ms: int = 0,
) -> dict[str, Any]:
    """The event SES's Lambda action hands the function for ``recipients`` (those the rule matched)."""
    headers = received.headers
    by_name: dict[str, list[str]] = {}
    for name, value in headers:
        by_name.setdefault(name.lower(), []).append(value)

    def first(name: str) -> str | None:
        values = by_name.get(name)
        return values[0] if values else None

    common: dict[str, Any] = {}
    if first("return-path") is not None:
        common["returnPath"] = (first("return-path") or "").strip().strip("<>")
    for key, header in (("from", "from"), ("replyTo", "reply-to"), ("to", "to"), ("cc", "cc"), ("sender", "sender")):
        if header in by_name:
            common[key] = _addresses(by_name[header]) if key != "sender" else by_name[header][0]
    for key, header in (("date", "date"), ("messageId", "message-id"), ("subject", "subject")):
        if first(header) is not None:
            common[key] = first(header)
    destination = [a for _, a in email.utils.getaddresses(by_name.get("to", []) + by_name.get("cc", [])) if a]
    mail = {
        "timestamp": _iso(received.received_at),
        "source": received.source,
        "messageId": received.message_id,
        "destination": destination,
        "headersTruncated": False,
        "headers": [{"name": n, "value": v} for n, v in headers],
        "commonHeaders": common,
    }
    receipt: dict[str, Any] = {
        "timestamp": _iso(received.received_at),
        "processingTimeMillis": processing_ms,
        "recipients": list(recipients),
        **verdicts_event(verdicts),
        "action": {"type": "Lambda", "functionArn": function_arn, "invocationType": invocation_type},
    }
    return {"Records": [{"eventSource": "aws:ses", "eventVersion": "1.0", "ses": {"mail": mail, "receipt": receipt}}]}

