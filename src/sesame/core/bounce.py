"""Delivery status notifications (RFC 3464) for recipients Sesame refuses.

SES's own SendBounce works only through the SES API against messages it received in the
last day; a DSN we build is plain mail, sent through the same path as everything else,
so it can be tested and run locally. ``Auto-Submitted`` keeps auto-responders away.

Only :func:`sesame.core.policy.may_bounce`-approved senders get one. Everything in it is
ASCII and checked: the recipient and the reporting domain are validated addresses, and the
quoted original header block is re-folded to legal lines and cut at
:data:`~sesame.core.limits.MAX_DSN_QUOTE` bytes.
"""

from __future__ import annotations

import email.utils
import re
from collections.abc import Sequence
from datetime import datetime

from sesame.core.addresses import is_valid_address
from sesame.core.limits import MAX_DSN_QUOTE, MAX_LINE
from sesame.core.message import ParsedMessage
from sesame.core.outcome import Decision
from sesame.core.rewrite import quote_headers

_REASONS = {
    "unknown-recipient": "The address is not known here.",
    "invalid-recipient": "The address is not a valid mailbox address.",
    "alias-disabled": "The address is no longer accepting mail.",
    "alias-expired": "The address has expired and no longer accepts mail.",
    "no-destinations": "The address has nowhere to deliver to.",
    "dmarc-reject": "The message failed DMARC and its domain asks for rejection.",
    "message-too-large": "The message is too large to be forwarded.",
    "headers-too-large": "The message header is too large to be forwarded.",
    "virus": "The message contains a virus.",
    "spam": "The message was classified as spam.",
    "blocked-sender": "The recipient does not accept mail from this sender.",
    "sender-not-allowed": "The recipient accepts mail only from known senders.",
}
_SAFE_ID = re.compile(r"[^A-Za-z0-9._-]")


class UnsafeBounce(ValueError):
    """A DSN could not be built safely (an address or a line that must not be sent)."""


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
    for address in (bounce_from, to):
        if not is_valid_address(address):
            raise UnsafeBounce(f"not an address a bounce may use: {address!r}")
    if not is_valid_address(f"postmaster@{reporting_mta}"):
        raise UnsafeBounce(f"not a domain: {reporting_mta!r}")
    boundary = f"=_sesame_{_SAFE_ID.sub('_', original_message_id)[:60]}"
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
    recipients = [(_ascii(d.recipient), d) for d in decisions]
    for recipient, decision in recipients:
        lines.append(f"  <{recipient}>: {_REASONS.get(decision.reason, decision.reason)}")
    lines += [
        "",
        f"--{boundary}",
        "Content-Type: message/delivery-status",
        "",
        f"Reporting-MTA: dns; {reporting_mta}",
        f"Arrival-Date: {email.utils.format_datetime(arrival)}",
        "",
    ]
    for recipient, decision in recipients:
        code = decision.status_code or "5.0.0"
        lines += [
            f"Final-Recipient: rfc822; {recipient}",
            "Action: failed",
            f"Status: {code}",
            f"Diagnostic-Code: smtp; 550 {code} {_REASONS.get(decision.reason, decision.reason)}",
            "",
        ]
    if any(len(line) > MAX_LINE or not line.isascii() for line in lines):
        raise UnsafeBounce("a DSN line is not sendable")
    text = "\r\n".join(lines).encode("ascii")
    headers = quote_headers(original, MAX_DSN_QUOTE) if original is not None else b""
    if original is not None and original.eol != b"\r\n":
        headers = headers.replace(original.eol, b"\r\n")
    tail = (
        f"--{boundary}\r\nContent-Type: text/rfc822-headers\r\n\r\n".encode()
        + headers
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return text + b"\r\n" + tail


def _ascii(text: str) -> str:
    return "".join(ch if " " < ch < "\x7f" else "?" for ch in text)[:MAX_LINE // 2]
