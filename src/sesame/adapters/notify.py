"""Telling the operator: a plain-text email, built here and sent raw through SES v2 (by the
dead-letter runtime, through the same once-only delivery as every other send).

The report is sent as raw MIME, not as SES "Simple" content: IAM authorizes a v2
``SendEmail`` by its content, Raw as ``ses:SendRawEmail`` and Simple as ``ses:SendEmail``
(Service Authorization Reference, Amazon SES v2, SendEmail), and the functions are granted
only ``ses:SendRawEmail``. Building the message here also lets it carry
``Auto-Submitted: auto-generated`` (RFC 3834), so no vacation responder answers a report.

Everything in a report comes from a message a stranger sent (its sender, subject and
recipients), so the header values are cleaned of line breaks and control characters, the
text is made valid UTF-8, and the body is quoted-printable: every line stays far below
SMTP's 998-character limit however long a hostile subject is.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, make_msgid

from sesame.core.documents import without_lone_surrogates

# Control characters (C0, DEL, C1) and the Unicode line and paragraph separators: none may
# reach a header, where a line break would start a new header.
_UNSAFE_IN_HEADER = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
# A subject longer than this helps nobody; the full text is in the body.
MAX_SUBJECT_CHARS = 200


def _clean_text(text: str) -> str:
    """``text`` as valid UTF-8: a lone surrogate (JSON allows ``\\ud800``) becomes U+FFFD, as in
    the index and feedback records."""
    return without_lone_surrogates(text)


def _header_value(text: str) -> str:
    return _UNSAFE_IN_HEADER.sub(" ", _clean_text(text)).strip()


def build_report(
    from_address: str, to_address: str, subject: str, text: str, *, now: datetime | None = None
) -> bytes:
    """The report as the raw bytes SES sends: RFC 5322 with CRLF line ends."""
    message = EmailMessage(policy=SMTP)
    message["From"] = from_address
    message["To"] = to_address
    subject = _header_value(subject)
    if len(subject) > MAX_SUBJECT_CHARS:
        subject = subject[: MAX_SUBJECT_CHARS - 3] + "..."
    message["Subject"] = subject  # encoded as RFC 2047 words when it is not ASCII
    message["Date"] = format_datetime(now or datetime.now(UTC))
    message["Message-ID"] = make_msgid(domain=from_address.rpartition("@")[2] or None)
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(_clean_text(text), charset="utf-8", cte="quoted-printable")
    return message.as_bytes()
