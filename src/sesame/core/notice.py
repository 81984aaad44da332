"""The notice sent instead of a message SES received but cannot send on.

SES receives messages of up to 40 MB but sends at most 40 MB *after base64 encoding* (the SES
v2 quota), about 30 MB of raw message; and a header block past the scan limit is more than any
receiver takes. Such a message is neither bounced (its sender may be forged, and the alias's
owner would never hear of it) nor dropped in silence: its destinations get this short notice,
written by Sesame from scratch (nothing of the original but a few sanitized facts), saying what
arrived and where the original is kept.
"""

from __future__ import annotations

import base64
import email.utils
from datetime import datetime

from sesame.core.addresses import is_valid_address, safe_display_text
from sesame.core.encoding import encode_words
from sesame.core.rewrite import MARKER_HEADER

REASONS = {
    "message-too-large": "it is larger than Amazon SES can send",
    "headers-too-large": "its header block is larger than any mail service accepts",
}


def build_notice(
    *,
    alias: str,
    from_address: str,
    sender: str,
    subject: str | None,
    reason: str,
    size: int,
    limit: int,
    received: datetime,
    kept_at: str,
    kept_until: datetime | None,
    now: datetime,
) -> bytes:
    """The notice as raw bytes: ASCII headers, a base64 UTF-8 body, CRLF line ends."""
    shown_subject = safe_display_text(subject or "(no subject)", limit=200)
    shown_sender = safe_display_text(sender or "<>", limit=254)
    until = f", until {kept_until:%Y-%m-%d}" if kept_until is not None else ""
    text = "\n".join(
        [
            f"A message for {alias} was received but not forwarded: {REASONS.get(reason, reason)}.",
            "",
            f"From:     {shown_sender}",
            f"Subject:  {shown_subject}",
            f"Received: {received.isoformat()}",
            f"Size:     {size:,} bytes (the most that can be sent is {limit:,})",
            "",
            f"The original is kept{until}:",
            f"  {kept_at}",
            "",
            "Ask the operator of this forwarder for it, or, with access to the bucket:",
            f"  aws s3 cp {kept_at} message.eml",
            "",
        ]
    )
    headers = [
        f"{MARKER_HEADER}: {alias}",
        f"From: \"Sesame at {alias}\" <{from_address}>",
        f"To: <{alias}>",
        f"Subject: {encode_words('[not forwarded: too large] ' + shown_subject, chr(13) + chr(10), 66)}",
        f"Date: {email.utils.format_datetime(now)}",
        f"Message-ID: {email.utils.make_msgid('notice', domain=from_address.rpartition('@')[2])}",
        "Auto-Submitted: auto-generated",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: base64",
    ]
    if is_valid_address(sender):
        headers.append(f"Reply-To: <{sender}>")
    body = base64.encodebytes(text.encode("utf-8")).replace(b"\n", b"\r\n")
    return ("\r\n".join(headers) + "\r\n\r\n").encode("ascii") + body
