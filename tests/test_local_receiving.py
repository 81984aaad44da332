"""SES receiving's part of local mode: the stored copy and the event, shaped as SES makes them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from sesame.core.event import Verdicts, parse_ses_event
from sesame.local.receiving.event import build_event, common_headers, parse_verdicts, verdicts_for_rule
from sesame.local.receiving.smtp import null_to_empty
from sesame.local.receiving.stored import Received, store_copy

ARN = "arn:aws:lambda:eu-west-1:123456789012:function:f"


def received(original: bytes, source: str = "jane@sender.example") -> Received:
    return Received(
        message_id="m" * 40,
        source=source,
        recipients=("john@example.com",),
        helo="mx.sender.example",
        peer_ip="192.0.2.1",
        received_at=datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC),
        original=original,
    )


def test_the_stored_copy_has_ses_headers_in_ses_order_and_the_event_the_ses_shape() -> None:
    original = b"From: Jane <jane@sender.example>\r\nTo: john@example.com, ann@example.com\r\nSubject: hi\r\n\r\nbody\r\n"
    message = received(original)
    verdicts = parse_verdicts(["spam=FAIL", "dmarc=FAIL", "dmarc-policy=reject"])
    stored = store_copy(message, verdicts, "eu-west-1")
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
    event = build_event(message, ["john@example.com"], verdicts, ARN, processing_ms=12)
    record = event["Records"][0]
    assert record["eventSource"] == "aws:ses" and record["eventVersion"] == "1.0"
    mail, receipt = record["ses"]["mail"], record["ses"]["receipt"]
    assert mail["timestamp"] == "2026-01-02T03:04:05.678Z"
    assert mail["destination"] == ["john@example.com", "ann@example.com"]
    assert receipt["recipients"] == ["john@example.com"] and receipt["processingTimeMillis"] == 12
    assert receipt["spamVerdict"] == {"status": "FAIL"} and receipt["dmarcPolicy"] == "reject"
    assert receipt["action"] == {"type": "Lambda", "functionArn": ARN, "invocationType": "Event"}
    (parsed,) = parse_ses_event(event)  # the forwarder's own parser takes it
    assert parsed.verdicts.spam == "FAIL" and parsed.recipients == ("john@example.com",)


def test_common_headers_are_lists_for_addresses_and_strings_for_the_rest() -> None:
    """As SES writes them ("Contents of notifications for Amazon SES email receiving") and as
    Powertools' SesMailCommonHeaders reads them: a Sender header is a list, like From."""
    original = (
        b"From: Jane Doe <jane@sender.example>\r\n"
        b"Sender: list-bounces@lists.example\r\n"
        b"Reply-To: list@lists.example\r\n"
        b"To: team@example.com, \"Ann\" <ann@example.com>\r\n"
        b"Cc: c@example.org\r\n"
        b"Subject: [team] minutes\r\n"
        b"Date: Fri, 2 Jan 2026 03:04:00 +0000\r\n"
        b"Message-ID: <1@lists.example>\r\n"
        b"List-Id: <team.lists.example>\r\n\r\nbody\r\n"
    )
    message = received(original, source="list-bounces@lists.example")
    store_copy(message, Verdicts(), "us-east-1")
    common = common_headers(message.headers)
    assert common == {
        "returnPath": "list-bounces@lists.example",
        "from": ["Jane Doe <jane@sender.example>"],
        "sender": ["list-bounces@lists.example"],
        "replyTo": ["list@lists.example"],
        "date": "Fri, 2 Jan 2026 03:04:00 +0000",
        "to": ["team@example.com", "Ann <ann@example.com>"],
        "cc": ["c@example.org"],
        "messageId": "<1@lists.example>",
        "subject": "[team] minutes",
    }
    (parsed,) = parse_ses_event(build_event(message, ["team@example.com"], Verdicts(), ARN))  # no InvalidEvent
    assert parsed.header_from == ("Jane Doe <jane@sender.example>",)


def test_an_internationalized_address_with_a_name_is_in_common_headers_not_a_refused_message() -> None:
    # RFC 6532 mail (8-bit UTF-8 addresses): formataddr refuses a non-ASCII address, which made
    # local mode answer 451 to such a message, so a sender retried it for ever.
    original = "From: José <josé@bücher.example>\r\nTo: \"Ann, B\" <ann@example.com>, 名前 <名前@例え.jp>\r\n\r\nbody\r\n"
    message = received(original.encode())
    store_copy(message, Verdicts(), "us-east-1")
    common = common_headers(message.headers)
    assert common["from"] == ["=?utf-8?b?Sm9zw6k=?= <josé@bücher.example>"]
    assert common["to"] == ['"Ann, B" <ann@example.com>', "=?utf-8?b?5ZCN5YmN?= <名前@例え.jp>"]
    (parsed,) = parse_ses_event(build_event(message, ["ann@example.com"], Verdicts(), ARN))
    assert parsed.header_from == ("=?utf-8?b?Sm9zw6k=?= <josé@bücher.example>",)


def test_headers_a_message_lacks_are_absent_from_common_headers() -> None:
    message = received(b"From: a@sender.example\r\n\r\nbody\r\n")
    store_copy(message, Verdicts(), "us-east-1")
    assert set(common_headers(message.headers)) == {"returnPath", "from"}


def test_the_null_reverse_path_is_stored_as_return_path_angle_brackets() -> None:
    assert null_to_empty("<>") == "" and null_to_empty("") == "" and null_to_empty(None) == ""
    assert null_to_empty("<a@b.example>") == "a@b.example"
    message = received(b"From: MAILER-DAEMON@sender.example\r\n\r\nbounce\r\n", source="")
    stored = store_copy(message, Verdicts(), "us-east-1")
    assert stored.startswith(b"Return-Path: <>\r\n")
    event = build_event(message, ["john@example.com"], Verdicts(), ARN)
    assert event["Records"][0]["ses"]["mail"]["source"] == ""
    assert event["Records"][0]["ses"]["mail"]["commonHeaders"]["returnPath"] == ""


def test_verdict_options() -> None:
    with pytest.raises(ValueError, match="NAME is one of"):
        parse_verdicts(["bogus=FAIL"])
    with pytest.raises(ValueError, match="STATUS is one of"):
        parse_verdicts(["spam=MAYBE"])
    assert verdicts_for_rule(Verdicts(), scan_enabled=False).spam == "DISABLED"
    assert verdicts_for_rule(parse_verdicts(["spam=FAIL"]), scan_enabled=False, explicit=("spam",)).spam == "FAIL"


def test_deeply_nested_comments_in_address_fields_are_stored_and_read_not_refused() -> None:
    """The standard address parser recurses once per comment level: a From of a few hundred
    nested comments raised RecursionError and the SMTP front answered 451 for ever, where SES
    stores and delivers the message."""
    nested = b"(" * 2000 + b"c" + b")" * 2000
    original = (b"From: " + nested + b" <jane@sender.example>\r\nTo: " + nested + b" john@example.com\r\n"
                b"Subject: deep\r\n\r\nbody\r\n")
    message = received(original)
    stored = store_copy(message, Verdicts(), "us-east-1")
    assert stored.endswith(original)
    assert b"header.from=sender.example" in stored  # the From domain still read for Authentication-Results
    mail = build_event(message, ["john@example.com"], Verdicts(), ARN)["Records"][0]["ses"]["mail"]
    assert mail["commonHeaders"]["from"] == ["jane@sender.example"]
    assert mail["destination"] == ["john@example.com"]
    (parsed,) = parse_ses_event(build_event(message, ["john@example.com"], Verdicts(), ARN))
    assert parsed.header_from == ("jane@sender.example",)
