"""The event SES's Lambda action hands the function, and the verdicts local mode reports.

Shape: AWS's "Contents of notifications for Amazon SES email receiving" (the ``mail`` and
``receipt`` objects; ``commonHeaders`` holds lists of strings for from, to, cc, bcc, sender
and replyTo, and strings for returnPath, messageId, date and subject, each present only when
the message has that header), the same as Powertools' ``SesMailCommonHeaders`` and
``sam local generate-event ses email-receiving``.
"""

from __future__ import annotations

import email.utils
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from sesame.core.event import Verdicts
from sesame.local.receiving.stored import Received, read_addresses

VERDICT_NAMES = ("spam", "virus", "spf", "dkim", "dmarc")
VERDICT_STATUSES = ("PASS", "FAIL", "GRAY", "PROCESSING_FAILED", "DISABLED")
DMARC_POLICIES = ("none", "quarantine", "reject")
# commonHeaders keys: (event key, header name, a list of addresses?)
COMMON_HEADERS = (
    ("returnPath", "return-path", False),
    ("from", "from", True),
    ("sender", "sender", True),
    ("replyTo", "reply-to", True),
    ("date", "date", False),
    ("to", "to", True),
    ("cc", "cc", True),
    ("bcc", "bcc", True),
    ("messageId", "message-id", False),
    ("subject", "subject", False),
)


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


def iso_millis(moment: datetime) -> str:
    """``2015-09-11T20:32:33.936Z``: SES's and Lambda's timestamp format."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _address_list(values: Sequence[str]) -> list[str]:
    out = []
    for name, address in read_addresses(values):
        if address:
            out.append(_mailbox(name, address))
    return out


def _mailbox(name: str, address: str) -> str:
    """``Name <address>`` as formataddr writes it (the name quoted or RFC 2047 encoded), also for
    an internationalized address (RFC 6532, ``josé@example.com``), which formataddr refuses."""
    if not name:
        return address
    if address.isascii():
        return email.utils.formataddr((name, address))
    shown = email.utils.formataddr((name, "x@x")).removesuffix(" <x@x>")
    return f"{shown} <{address}>"


def common_headers(headers: Sequence[tuple[str, str]]) -> dict[str, Any]:
    by_name: dict[str, list[str]] = {}
    for name, value in headers:
        by_name.setdefault(name.lower(), []).append(value)
    common: dict[str, Any] = {}
    for key, header, is_list in COMMON_HEADERS:
        values = by_name.get(header)
        if not values:
            continue
        if is_list:
            common[key] = _address_list(values)
        elif key == "returnPath":
            common[key] = values[0].strip().removeprefix("<").removesuffix(">")
        else:
            common[key] = values[0]
    return common


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
    header_values = [v for n, v in headers if n.lower() in ("to", "cc")]
    mail = {
        "timestamp": iso_millis(received.received_at),
        "source": received.source,
        "messageId": received.message_id,
        "destination": [a for _, a in read_addresses(header_values) if a],
        "headersTruncated": False,
        "headers": [{"name": n, "value": v} for n, v in headers],
        "commonHeaders": common_headers(headers),
    }
    receipt: dict[str, Any] = {
        "timestamp": iso_millis(received.received_at),
        "processingTimeMillis": processing_ms,
        "recipients": list(recipients),
        **verdicts_event(verdicts),
        "action": {"type": "Lambda", "functionArn": function_arn, "invocationType": invocation_type},
    }
    return {"Records": [{"eventSource": "aws:ses", "eventVersion": "1.0", "ses": {"mail": mail, "receipt": receipt}}]}
