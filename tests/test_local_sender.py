"""The local sender refuses what SES refuses, and writes one .eml per destination."""

from __future__ import annotations

import socket
from datetime import UTC, datetime
from pathlib import Path

import pytest

from sesame.core.event import parse_ses_event
from sesame.core.ports import SendRejected
from sesame.local.sender import LocalSender, Outbox, safe_name
from sesame.core.event import Verdicts
from sesame.local.ses import Received, build_event, parse_verdicts, store_copy, verdicts_for_rule

GOOD = b"From: Jane <john@example.com>\r\nTo: a@b.example\r\nSubject: hi\r\n\r\nbody\r\n"


def sender(tmp_path: Path) -> LocalSender:
    return LocalSender(Outbox(tmp_path / "outbox"), ["example.com"])


def test_a_good_message_lands_once_per_destination(tmp_path: Path) -> None:
    s = sender(tmp_path)
    ses_id = s.send_raw(GOOD, ["a@b.example", "c/d@e.example"], key="abc123:digest")
    assert ses_id.startswith("0100") and ses_id.endswith("-000000")
    names = sorted(p.name for p in (tmp_path / "outbox").iterdir())
    assert names == ["abc123--a@b.example.eml", "abc123--c_d@e.example.eml"]
    assert (tmp_path / "outbox" / names[0]).read_bytes() == GOOD
    s.send_raw(GOOD, ["a@b.example"], key="abc123:digest")  # a second delivery stays visible
    assert (tmp_path / "outbox" / "abc123--a@b.example.2.eml").exists()
    assert len(s.files_for("abc123")) == 3


@pytest.mark.parametrize(
    ("message", "code", "text"),
    [
        (GOOD.replace(b"john@example.com", b"jane@sender.example"), "MessageRejected", "Email address is not verified"),
        (b"Subject: x\r\nSubject: y\r\nFrom: a@example.com\r\n\r\n", "InvalidParameterValue", "Duplicate header 'Subject'"),
        (b"From: a@example.com\r\nSubject: caf\xc3\xa9\r\n\r\n", "InvalidParameterValue", "Non-ASCII"),
        (b"From: a@example.com\r\nX-Long: " + b"x" * 1000 + b"\r\n\r\n", "InvalidParameterValue", "longer than 998"),
        (b"To: a@b.example\r\n\r\nbody", "InvalidParameterValue", "Missing required header 'From'"),
        (b"From: nobody\r\n\r\nbody", "InvalidParameterValue", "Missing final '@domain'"),
        (b"From: a@example.com\r\nSender: x@gmail.example\r\n\r\n", "MessageRejected", "x@gmail.example"),
    ],
)
def test_what_ses_refuses_is_refused(tmp_path: Path, message: bytes, code: str, text: str) -> None:
    with pytest.raises(SendRejected) as caught:
        sender(tmp_path).send_raw(message, ["a@b.example"], key="k:1")
    assert caught.value.code == code and text in str(caught.value)
    assert not (tmp_path / "outbox").exists() or not list((tmp_path / "outbox").iterdir())


def test_subdomains_of_a_verified_domain_may_send_and_sizes_and_counts_are_limited(tmp_path: Path) -> None:
    s = LocalSender(Outbox(tmp_path), ["example.com"], max_bytes=200)
    s.send_raw(GOOD.replace(b"john@example.com", b"john@mail.example.com"), ["a@b.example"], key="k:1")
    with pytest.raises(SendRejected, match="Message length"):
        s.send_raw(GOOD + b"x" * 200, ["a@b.example"], key="k:2")
    with pytest.raises(ValueError, match="1 to 50"):
        s.send_raw(GOOD, [f"a{i}@b.example" for i in range(51)], key="k:3")


def test_the_relay_gets_what_ses_would_send(tmp_path: Path) -> None:
    from sesame.local.smtp import Delivery, SmtpFront

    got: list[Delivery] = []

    def accept(delivery: Delivery) -> str:
        got.append(delivery)
        return "250 OK"

    sink = SmtpFront(check_recipient=lambda rcpt, sender: None, accept=accept, port=0)
    sink.start()
    try:
        s = LocalSender(Outbox(tmp_path), ["example.com"], relay=("127.0.0.1", sink.port))
        s.send_raw(GOOD, ["a@b.example", "c@d.example"], key="m1:x")
    finally:
        sink.stop()
    (delivery,) = got
    assert delivery.mail_from == "john@example.com"
    assert delivery.recipients == ("a@b.example", "c@d.example")
    assert delivery.content == GOOD
    assert len(list(tmp_path.glob("m1--*.eml"))) == 2


def test_a_relay_that_is_down_is_a_transient_failure(tmp_path: Path) -> None:
    from sesame.local.sender import RelayError

    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    s = LocalSender(Outbox(tmp_path), ["example.com"], relay=("127.0.0.1", port))
    with pytest.raises(RelayError):
        s.send_raw(GOOD, ["a@b.example"], key="m2:x")
    assert not list(tmp_path.glob("*.eml"))  # nothing claimed as sent


def test_file_names_are_safe() -> None:
    assert safe_name("../../etc/passwd") == "_.._etc_passwd"
    assert safe_name('we"ird <x>@a.example') == "we_ird__x_@a.example"


def test_the_event_has_the_ses_shape_and_the_stored_copy_the_ses_headers() -> None:
    original = b"From: Jane <jane@sender.example>\r\nTo: john@example.com, ann@example.com\r\nSubject: hi\r\n\r\nbody\r\n"
    received = Received(
        message_id="m" * 40,
        source="jane@sender.example",
        recipients=("john@example.com",),
        helo="mx.sender.example",
        peer_ip="192.0.2.1",
        received_at=datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC),
        original=original,
    )
    verdicts = parse_verdicts(["spam=FAIL", "dmarc=FAIL", "dmarc-policy=reject"])
    stored = store_copy(received, verdicts, "eu-west-1")
    assert stored.endswith(original)
    names = [line.split(b":")[0] for line in stored[: -len(original)].split(b"\r\n") if line and line[:1] != b" "]
    assert names == [
        b"Return-Path",
        b"Received",
        b"X-SES-Spam-Verdict",
        b"X-SES-Virus-Verdict",
        b"Received-SPF",
        b"Authentication-Results",
        b"X-SES-RECEIPT",
        b"X-SES-DKIM-SIGNATURE",
    ]
    assert b"by inbound-smtp.eu-west-1.amazonaws.com with SMTP id " + b"m" * 40 in stored
    event = build_event(received, ["john@example.com"], verdicts, "arn:aws:lambda:eu-west-1:1:function:f")
    record = event["Records"][0]
    assert record["eventSource"] == "aws:ses" and record["eventVersion"] == "1.0"
    mail, receipt = record["ses"]["mail"], record["ses"]["receipt"]
    assert mail["timestamp"] == "2026-01-02T03:04:05.678Z"
    assert mail["destination"] == ["john@example.com", "ann@example.com"]
    assert mail["commonHeaders"]["from"] == ["Jane <jane@sender.example>"]
    assert mail["commonHeaders"]["returnPath"] == "jane@sender.example"
    assert receipt["recipients"] == ["john@example.com"]
    assert receipt["spamVerdict"] == {"status": "FAIL"} and receipt["dmarcPolicy"] == "reject"
    assert receipt["action"] == {"type": "Lambda", "functionArn": "arn:aws:lambda:eu-west-1:1:function:f", "invocationType": "Event"}
    (parsed,) = parse_ses_event(event)  # the forwarder's own parser takes it
    assert parsed.verdicts.spam == "FAIL" and parsed.recipients == ("john@example.com",)
    with pytest.raises(ValueError, match="NAME is one of"):
        parse_verdicts(["bogus=FAIL"])
    assert verdicts_for_rule(Verdicts(), scan_enabled=False).spam == "DISABLED"
