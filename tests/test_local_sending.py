"""The SES v2 stand-in: botocore's own client against it, SES's checks and error shapes, the
outbox, and delivery through a relay with SES's envelope and a result per destination."""

from __future__ import annotations

import base64
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sesame.aws import make_client
from sesame.local.receiving.smtp import Delivery, SmtpFront
from sesame.local.sending.api import SentMessage, SesV2Api
from sesame.local.sending.checks import MAX_BASE64_BYTES, Identities
from sesame.local.sending.delivery import DeliveryAgent, DeliveryEvent
from sesame.local.sending.outbox import Outbox, safe_name
from sesame.local.sending.relay import bounce_address
from sesame.local.sending.server import SesServer

GOOD = b"From: Jane <john@example.com>\r\nTo: a@b.example\r\nSubject: hi\r\n\r\nbody\r\n"
TAGS = [{"Name": "sesame-message", "Value": "m" * 40}, {"Name": "sesame-send", "Value": "abc123"}]


@pytest.fixture
def ses(tmp_path: Path) -> Iterator[tuple[Any, list[SentMessage], DeliveryAgent]]:
    """An SES v2 stand-in with example.com verified, and a botocore client made as Sesame makes it."""
    events: list[DeliveryEvent] = []
    agent = DeliveryAgent(Outbox(tmp_path / "outbox"), region="us-east-1", events=events.append)
    sent: list[SentMessage] = []

    def accept(message: SentMessage) -> None:
        sent.append(message)
        agent.accept(message)

    server = SesServer(SesV2Api(Identities.of(["example.com"]), accept))
    server.start()
    try:
        yield make_client("sesv2", region_name="us-east-1", endpoint_url=server.endpoint), sent, agent
    finally:
        server.stop()


def send(client: Any, raw: bytes, destinations: list[str] | None = None, **extra: Any) -> str:
    return client.send_email(
        Destination={"ToAddresses": destinations or ["a@b.example"]}, Content={"Raw": {"Data": raw}}, **extra
    )["MessageId"]


def test_a_raw_send_lands_once_per_destination_named_by_the_message_tag(ses: Any, tmp_path: Path) -> None:
    client, sent, agent = ses
    ses_id = send(client, GOOD, ["a@b.example", "c/d@e.example"], EmailTags=TAGS)
    assert ses_id.startswith("0100") and ses_id.endswith("-000000")
    assert sorted(p.name for p in (tmp_path / "outbox").iterdir()) == [
        f"{'m' * 40}--a@b.example.eml",
        f"{'m' * 40}--c_d@e.example.eml",
    ]
    assert (tmp_path / "outbox" / f"{'m' * 40}--a@b.example.eml").read_bytes() == GOOD  # decoded from base64
    send(client, GOOD, ["a@b.example"], EmailTags=TAGS)  # a second copy stays visible
    assert (tmp_path / "outbox" / f"{'m' * 40}--a@b.example.2.eml").exists()
    assert len(agent.files_for("m" * 40)) == 3
    untagged = send(client, GOOD)
    assert [p.name for p in agent.files_for(untagged)] == [f"{untagged}--a@b.example.eml"]


@pytest.mark.parametrize(
    ("message", "code", "text"),
    [
        (GOOD.replace(b"john@example.com", b"jane@sender.example"), "MessageRejected", "Email address is not verified"),
        (b"Subject: x\r\nSubject: y\r\nFrom: a@example.com\r\n\r\n", "BadRequestException", "Duplicate header 'Subject'"),
        (b"From: a@example.com\r\nSubject: caf\xc3\xa9\r\n\r\n", "BadRequestException", "Non-ASCII"),
        (b"From: a@example.com\r\nX-Long: " + b"x" * 1000 + b"\r\n\r\n", "BadRequestException", "longer than 998"),
        (b"To: a@b.example\r\n\r\nbody", "BadRequestException", "Missing required header 'From'"),
        (b"From: nobody\r\n\r\nbody", "BadRequestException", "Missing final '@domain'"),
        (b"From: a@example.com\r\n: empty\r\n\r\n", "BadRequestException", "Empty header names are illegal"),
        (b"From: a@example.com\r\nSender: x@gmail.example\r\n\r\n", "MessageRejected", "x@gmail.example"),
        # 2,000 nested comments (folded): read, not a RecursionError, and judged like any From
        (b"From: " + b"\r\n ".join([b"(" * 400] * 5) + b"c" + b"\r\n ".join([b")" * 400] * 5)
         + b" <jane@sender.example>\r\n\r\n", "MessageRejected", "Email address is not verified"),
    ],
)
def test_what_ses_refuses_is_refused_with_its_error_code(
    ses: Any, tmp_path: Path, message: bytes, code: str, text: str
) -> None:
    client, sent, _ = ses
    with pytest.raises(client.exceptions.ClientError) as caught:
        send(client, message)
    error = caught.value.response["Error"]
    assert error["Code"] == code and text in error["Message"]
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert sent == [] and not list((tmp_path / "outbox").glob("*.eml"))


def test_subdomains_of_a_verified_domain_may_send_and_destination_counts_are_limited(ses: Any) -> None:
    client, sent, _ = ses
    send(client, GOOD.replace(b"john@example.com", b"john@mail.example.com"))
    with pytest.raises(client.exceptions.MessageRejected, match="Recipient count exceeds 50"):
        send(client, GOOD, [f"a{i}@b.example" for i in range(51)])
    assert len(sent) == 1


def test_the_size_limit_counts_the_base64_encoded_message(ses: Any) -> None:
    """SES: "40 MB per message (after base64 encoding)": about 30 MB of raw message, not 40."""
    client, sent, _ = ses
    head = GOOD.split(b"\r\n\r\n")[0] + b"\r\n\r\n"
    fits = MAX_BASE64_BYTES // 4 * 3 - len(head)
    send(client, head + b"x" * fits)
    assert len(base64.b64encode(sent[-1].raw)) == MAX_BASE64_BYTES
    with pytest.raises(client.exceptions.MessageRejected, match="after base64 encoding"):
        send(client, head + b"x" * (fits + 3))  # 30,000,001 raw bytes: under 40 MB raw, over it in base64
    assert len(sent) == 1


def test_simple_content_and_get_account(ses: Any) -> None:
    client, sent, _ = ses
    client.send_email(
        FromEmailAddress="sesame@example.com",
        Destination={"ToAddresses": ["operator@x.example"]},
        Content={"Simple": {"Subject": {"Data": "Fehler für dich"}, "Body": {"Text": {"Data": "hé\n"}}}},
    )
    (message,) = sent
    assert b"Subject: Fehler =?utf-8?q?f=C3=BCr?= dich" in message.raw and message.raw.isascii()
    assert client.get_account()["SendingEnabled"] is True
    with pytest.raises(client.exceptions.MessageRejected):
        client.send_email(
            FromEmailAddress="x@gmail.example",
            Destination={"ToAddresses": ["o@x.example"]},
            Content={"Simple": {"Subject": {"Data": "s"}, "Body": {"Text": {"Data": "b"}}}},
        )


def test_bad_tags_and_unknown_configuration_sets_are_refused(ses: Any) -> None:
    client, sent, _ = ses
    with pytest.raises(client.exceptions.BadRequestException):
        send(client, GOOD, EmailTags=[{"Name": "sesame-message", "Value": "not ok!"}])
    with pytest.raises(client.exceptions.NotFoundException):
        send(client, GOOD, ConfigurationSetName="nope")
    assert sent == []


def test_file_names_are_safe() -> None:
    assert safe_name("../../etc/passwd") == "_.._etc_passwd"
    assert safe_name('we"ird <x>@a.example') == "we_ird__x_@a.example"


# --- relay -----------------------------------------------------------------------------------


class Sink:
    """A receiving SMTP server that refuses what it is told to refuse."""

    def __init__(self, refuse: dict[str, str] | None = None) -> None:
        self.refuse = refuse or {}
        self.got: list[Delivery] = []
        self.options: list[list[str]] = []
        self.front = SmtpFront(check_recipient=self.check, accept=self.accept, port=0)

    def check(self, rcpt: str, sender: str) -> str | None:
        return self.refuse.get(rcpt)

    def accept(self, delivery: Delivery) -> str:
        self.got.append(delivery)
        return "250 OK queued"


@pytest.fixture
def sink() -> Iterator[Sink]:
    sink = Sink({"refused@b.example": "554 5.7.1 Relay access denied", "busy@b.example": "450 4.2.1 Try later"})
    sink.front.start()
    try:
        yield sink
    finally:
        sink.front.stop()


def relayed(tmp_path: Path, port: int, raw: bytes, destinations: tuple[str, ...]) -> tuple[list[DeliveryEvent], Outbox]:
    events: list[DeliveryEvent] = []
    outbox = Outbox(tmp_path / "outbox")
    agent = DeliveryAgent(
        outbox, region="eu-west-1", relay_to=("127.0.0.1", port), events=events.append, retry_delays=(0.01, 0.01)
    )
    agent.start()
    try:
        agent.accept(SentMessage("0100abc-000000", raw, "john@example.com", destinations, {"sesame-message": "m1"}))
        assert agent.wait_idle(30)
    finally:
        agent.stop()
    return events, outbox


def test_the_relay_gets_ses_envelope_and_each_refusal_becomes_that_destinations_bounce(
    tmp_path: Path, sink: Sink
) -> None:
    raw = GOOD.replace(b"body", b"caf\xe9")  # 8-bit body
    events, outbox = relayed(tmp_path, sink.front.port, raw, ("a@b.example", "refused@b.example", "busy@b.example"))
    (delivery,) = sink.got
    assert delivery.mail_from == "0100abc-000000@eu-west-1.amazonses.com"  # SES's bounce address, not the From
    assert delivery.recipients == ("a@b.example",) and delivery.content == raw
    by_destination = {e.destination: e for e in events}
    assert by_destination["a@b.example"].event_type == "Delivery"
    refused = by_destination["refused@b.example"]
    assert (refused.event_type, refused.bounce_type) == ("Bounce", "Permanent")
    assert refused.smtp_response.startswith("554 5.7.1")
    busy = by_destination["busy@b.example"]  # 4xx: tried again, then given up on as transient
    assert (busy.event_type, busy.bounce_type) == ("Bounce", "Transient")
    assert sorted(p.name for p in outbox.folder.glob("*.eml")) == ["m1--a@b.example.eml"]
    assert sorted(p.name for p in (outbox.folder / "bounced").glob("*.eml")) == [
        "m1--busy@b.example.eml",
        "m1--refused@b.example.eml",
    ]


def test_a_permanent_refusal_is_not_retried(tmp_path: Path, sink: Sink) -> None:
    attempts: list[str] = []
    original = sink.check

    def counting(rcpt: str, sender: str) -> str | None:
        attempts.append(rcpt)
        return original(rcpt, sender)

    sink.front.check_recipient = counting
    events, _ = relayed(tmp_path, sink.front.port, GOOD, ("refused@b.example",))
    assert attempts == ["refused@b.example"]
    assert [e.bounce_type for e in events] == ["Permanent"]


def test_8bit_bodies_are_announced_to_the_relay(tmp_path: Path) -> None:
    import smtplib

    seen: list[list[str]] = []
    real_mail = smtplib.SMTP.mail

    def mail(self: smtplib.SMTP, sender: str, options: Any = ()) -> Any:
        seen.append(list(options))
        return real_mail(self, sender, options)

    sink = Sink()
    sink.front.start()
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(smtplib.SMTP, "mail", mail)
            relayed(tmp_path, sink.front.port, GOOD.replace(b"body", b"caf\xe9"), ("a@b.example",))
            relayed(tmp_path / "ascii", sink.front.port, GOOD, ("a@b.example",))
    finally:
        sink.front.stop()
    assert seen == [["BODY=8BITMIME"], []]


def test_a_relay_that_is_down_bounces_after_the_retries_and_says_why(tmp_path: Path) -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    events, outbox = relayed(tmp_path, port, GOOD, ("a@b.example",))
    (event,) = events
    assert (event.event_type, event.bounce_type) == ("Bounce", "Transient")
    assert not list(outbox.folder.glob("*.eml"))  # not shown as delivered


def test_the_bounce_address_is_ses_own_or_the_custom_mail_from() -> None:
    assert bounce_address("0100x-000000", "us-east-1") == "0100x-000000@amazonses.com"
    assert bounce_address("0100x-000000", "eu-west-1") == "0100x-000000@eu-west-1.amazonses.com"
    assert bounce_address("0100x-000000", "eu-west-1", "bounce.example.com") == "0100x-000000@bounce.example.com"
