"""The operator report: a raw MIME message that SES v2 accepts under ``ses:SendRawEmail``."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime
from typing import Any

import pytest

from sesame.adapters.notify import build_report
from sesame.adapters.ses import SesRawSender

NOW = datetime(2026, 11, 20, 9, 15, 2, tzinfo=UTC)


class RecordingSesV2:
    """Keeps the SendEmail requests it gets; answers like SES v2 (a MessageId)."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []

    def send_email(self, **request: Any) -> dict[str, Any]:
        self.requests.append(request)
        return {"MessageId": "0100018c-report"}


def parse(raw: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(raw, policy=email.policy.default)  # type: ignore[return-value]


def test_given_a_report_when_it_is_sent_then_the_content_is_raw_not_simple() -> None:
    # Simple content is authorized as ses:SendEmail, which the functions are not granted.
    client = RecordingSesV2()

    report_bytes = build_report("sesame@example.com", "ops@example.com", "subject", "text\n")
    message_id = SesRawSender(client).send_raw(report_bytes, ["ops@example.com"], key="m1:report-x")

    (request,) = client.requests
    assert message_id == "0100018c-report"
    assert set(request["Content"]) == {"Raw"}
    assert request["Destination"] == {"ToAddresses": ["ops@example.com"]}
    assert "FromEmailAddress" not in request
    report = parse(request["Content"]["Raw"]["Data"])
    assert (report["From"], report["To"], report["Subject"]) == ("sesame@example.com", "ops@example.com", "subject")


def test_given_a_report_then_it_is_dated_identified_and_marked_auto_generated() -> None:
    report = parse(build_report("sesame@example.com", "ops@example.com", "s", "t\n", now=NOW))

    assert report["Date"] == "Fri, 20 Nov 2026 09:15:02 +0000"
    assert report["Message-ID"].startswith("<") and report["Message-ID"].endswith("@example.com>")
    assert report["Auto-Submitted"] == "auto-generated"
    assert report["MIME-Version"] == "1.0"
    assert report.get_content_type() == "text/plain"
    assert report.get_content_charset() == "utf-8"


def test_given_a_non_ascii_sender_in_the_subject_then_it_is_rfc2047_encoded_and_round_trips() -> None:
    subject = "[sesame] forwarding failed for message from jörg@bücher.example"

    raw = build_report("sesame@example.com", "ops@example.com", subject, "Grüße\n", now=NOW)

    header_block = raw.split(b"\r\n\r\n", 1)[0]
    assert header_block.isascii()
    assert b"=?utf-8?" in header_block
    report = parse(raw)
    assert report["Subject"] == subject
    assert report.get_content() == "Grüße\r\n"  # the body travels with CRLF line ends


@pytest.mark.parametrize("injection", ["\r\nBcc: victim@else.example", "\nBcc: victim@else.example", "\u2028Bcc: x@y"])
def test_given_a_line_break_in_the_subject_then_no_header_is_added(injection: str) -> None:
    raw = build_report("sesame@example.com", "ops@example.com", "failed for x" + injection, "t\n", now=NOW)

    report = parse(raw)
    assert report["Bcc"] is None
    assert "Bcc:" in report["Subject"]  # kept as text, on the subject's own line


def test_given_a_huge_hostile_text_then_every_line_is_short_and_the_text_survives() -> None:
    text = "Subject:     " + "x" * 5000 + " \ud800 end\n" + "ok\n"

    raw = build_report("sesame@example.com", "ops@example.com", "y" * 5000, text, now=NOW)

    assert raw.isascii()
    assert all(len(line) <= 998 for line in raw.split(b"\r\n"))
    assert b"\n" not in raw.replace(b"\r\n", b"")  # CRLF only
    report = parse(raw)
    assert report["Content-Transfer-Encoding"] == "quoted-printable"
    assert report.get_content() == text.replace("\ud800", "\ufffd").replace("\n", "\r\n")
    assert len(report["Subject"]) <= 200
