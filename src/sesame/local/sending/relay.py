"""Handing what SES sends to a real SMTP server, with SES's envelope.

SES's MAIL FROM is its own bounce address, ``<SES message id>@<region>.amazonses.com``
(``@amazonses.com`` in us-east-1), or the identity's custom MAIL FROM domain when one is set
(SES developer guide, "Using a custom MAIL FROM domain"); never the message's From. A body
with 8-bit bytes is announced with ``BODY=8BITMIME`` (RFC 6152) when the server offers it.
Each destination gets its own result: a 5xx refusal is final (a bounce), a 4xx or a
connection failure is temporary (SES tries again later).
"""

from __future__ import annotations

import smtplib
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class RelayResult:
    destination: str
    code: int
    reply: str

    @property
    def delivered(self) -> bool:
        return 200 <= self.code < 300

    @property
    def permanent(self) -> bool:
        return 500 <= self.code < 600


def bounce_address(ses_message_id: str, region: str, mail_from_domain: str | None = None) -> str:
    """SES's envelope sender for one sent message."""
    if mail_from_domain:
        return f"{ses_message_id}@{mail_from_domain}"
    domain = "amazonses.com" if region == "us-east-1" else f"{region}.amazonses.com"
    return f"{ses_message_id}@{domain}"


def relay(
    host: str, port: int, envelope_from: str, destinations: Sequence[str], message: bytes, *, timeout: float = 60
) -> list[RelayResult]:
    """One SMTP transaction for ``destinations``; a result per destination, never an exception."""
    try:
        with smtplib.SMTP(host, port, timeout=timeout) as smtp:
            smtp.ehlo("email-smtp.amazonses.local")
            options = ["BODY=8BITMIME"] if not message.isascii() and smtp.has_extn("8bitmime") else []
            code, reply = smtp.mail(envelope_from, options)
            if code >= 300:
                return [RelayResult(d, code, _text(reply)) for d in destinations]
            refused: dict[str, RelayResult] = {}
            for destination in destinations:
                code, reply = smtp.rcpt(destination)
                if code >= 300:
                    refused[destination] = RelayResult(destination, code, _text(reply))
            accepted = [d for d in destinations if d not in refused]
            if not accepted:
                smtp.rset()
                return [refused[d] for d in destinations]
            code, reply = smtp.data(message)
            data = RelayResult("", code, _text(reply))
            return [refused.get(d) or RelayResult(d, data.code, data.reply) for d in destinations]
    except (OSError, smtplib.SMTPException) as exc:
        code = getattr(exc, "smtp_code", 421)
        reply = getattr(exc, "smtp_error", str(exc))
        return [RelayResult(d, int(code) if isinstance(code, int) else 421, _text(reply)) for d in destinations]


def _text(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
