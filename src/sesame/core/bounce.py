"""Delivery status notifications (RFC 3464) for recipients Sesame refuses.

SES's own SendBounce works only through the SES API against messages it received in the
last day; a DSN we build is plain mail, sent through the same path as everything else,
so it can be tested and run locally. ``Auto-Submitted`` keeps auto-responders away.
"""

from __future__ import annotations

import email.utils
from collections.abc import Sequence
from datetime import datetime

from sesame.core.message import ParsedMessage
from sesame.core.outcome import Decision

_REASONS = {
    "unknown-recipient": "The address is not known here.",
    "invalid-recipient": "The address is not known here.",
    "alias-disabled": "The address is no longer accepting mail.",
    "alias-expired": "The address has expired and no longer accepts mail.",
    "no-destinations": "The address has nowhere to deliver to.",
    "dmarc-reject": "The message failed DMARC and its domain asks for rejection.",
    "message-too-large": "The message is too large to be forwarded.",
    "virus": "The message contains a virus.",
    "spam": "The message was classified as spam.",
}


def build_dsn(
    *,
    bounce_from: str,
    to: str,
    decisions: Sequence[Decision],
    original: ParsedMessage | None,
    original_message_id: str,
    reporting_mta: str,
    arrival: datetime,
    now: datetime,
) -> bytes:
    """A multipart/report DSN telling ``to`` which recipients failed and why."""
    boundary = f"=_sesame_{original_message_id}"
    lines = [
        f"From: Mail Delivery System <{bounce_from}>",
        f"To: <{to}>",
        "Subject: Undelivered Mail Returned to Sender",
        f"Date: {email.utils.format_datetime(now)}",
        f"Message-ID: {email.utils.make_msgid('dsn', domain=bounce_from.rpartition('@')[2])}",
        "Auto-Submitted: auto-replied",
        "MIME-Version: 1.0",
        f'Content-Type: multipart/report; report-type=delivery-status; boundary="{boundary}"',
        "",
        "This is a MIME-encapsulated message.",
        "",
        f"--{boundary}",
        "Content-Type: text/plain; charset=us-ascii",
        "",
        "Your message could not be delivered to the following recipients:",
        "",
    ]
    for decision in decisions:
        lines.append(f"  <{decision.recipient}>: {_REASONS.get(decision.reason, decision.reason)}")
    lines += [
        "",
        f"--{boundary}",
        "Content-Type: message/delivery-status",
        "",
        f"Reporting-MTA: dns; {reporting_mta}",
        f"Arrival-Date: {email.utils.format_datetime(arrival)}",
        "",
    ]
    for decision in decisions:
        code = decision.status_code or "5.0.0"
        lines += [
            f"Final-Recipient: rfc822; {decision.recipient}",
            "Action: failed",
            f"Status: {code}",
            f"Diagnostic-Code: smtp; 550 {code} {_REASONS.get(decision.reason, decision.reason)}",
            "",
        ]
    text = "\r\n".join(lines).encode("ascii", errors="replace")
    headers = b""
    if original is not None:
        headers = b"".join(f.render(b"\r\n") for f in original.fields if f.is_ascii)
    tail = (
        f"--{boundary}\r\nContent-Type: text/rfc822-headers\r\n\r\n".encode()
        + headers
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return text + b"\r\n" + tail
