"""The SES v2 raw sender: the request it builds, what reaches the wire, and its error contract.

The sender encodes the message into the request body itself (see ``sesame.adapters.ses``).
What SES receives must be exactly what botocore would have sent for the joined message,
signed over those bytes, through moto and through a real HTTP connection alike.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import socket
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.config import Config
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError
from hypothesis import given
from hypothesis import strategies as st
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends

from sesame.adapters.ses import ENCODE_CHUNK, SesRawSender, base64_into_buffer, message_tags
from sesame.aws import LazyClients, client_config, make_client
from sesame.core.ports import Outgoing, SendRejected, outgoing_bytes

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
from ses_sink import Received, Reply, SesSink, rejection, sigv4_problem  # noqa: E402

MESSAGE_ID = "o3vrnil0e2ic28trm7dfhrc2v0cnbeccl4nbp0g1"
KEY = f"{MESSAGE_ID}:3f2a9c0d41b7e5a8c6d4f2e0b1a39587"
DESTINATIONS = ["john.doe@gmail.example", "john@work.example"]
HEAD = (
    b'From: "Jane Doe at jane@sender.example" <john@example.com>\r\n'
    b"Reply-To: jane@sender.example\r\n"
    b"To: john@example.com\r\n"
    b"Subject: =?utf-8?q?R=C3=A9union?=\r\n"
    b"X-Sesame-Forwarded-For: john@example.com\r\n"
)


def head_of_length_mod3(remainder: int, text: bytes = b"") -> bytes:
    """A header block (blank line included) whose length is ``remainder`` mod 3."""
    head = HEAD + text
    pad = (remainder - len(head) - len(b"X-Pad: \r\n\r\n")) % 3
    return head + b"X-Pad: " + b"p" * pad + b"\r\n\r\n"


def body_of(size: int) -> memoryview:
    """A view into a larger buffer, as the rewriter hands the body over."""
    original = b"H" * 7 + bytes((i * 7 + 3) % 256 for i in range(size))
    return memoryview(original)[7:]


class _Raw:
    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._data


def capturing_client(captured: list[Received]) -> Any:
    """An SES v2 client whose requests stop just before the network, answered with 200."""
    client = boto3.client("sesv2", region_name="us-east-1")

    def answer(request: Any, **_: Any) -> AWSResponse:
        body = request.body
        data = body.read() if hasattr(body, "read") else bytes(body)
        headers = {k: v.decode() if isinstance(v, bytes) else v for k, v in request.headers.items()}
        url = urlsplit(request.url)
        headers.setdefault("Host", url.netloc)  # urllib3 adds it on the wire; SigV4 signed it
        captured.append(Received(request.method, url.path + (f"?{url.query}" if url.query else ""), headers, bytearray(data)))
        return AWSResponse(request.url, 200, {"Content-Type": "application/json"}, _Raw(b'{"MessageId":"m-1"}'))

    client.meta.events.register("before-send.sesv2.SendEmail", answer)
    return client


def botocore_request_for(params: dict[str, Any], message: Outgoing) -> Received:
    """The request botocore itself builds for ``params`` with the joined message as Data."""
    captured: list[Received] = []
    plain = capturing_client(captured)
    joined = {**params, "Content": {"Raw": {"Data": outgoing_bytes(message)}}}
    plain.send_email(**joined)
    return captured[0]


def send_and_compare(message: Outgoing, **sender_options: Any) -> tuple[Received, Received]:
    """Send ``message`` through the sender and botocore's own path; return both requests."""
    captured: list[Received] = []
    client = capturing_client(captured)
    params: list[dict[str, Any]] = []

    def record(**event: Any) -> None:
        params.append(dict(event["params"]))  # Content.Raw.Data is replaced below anyway

    client.meta.events.register("provide-client-params.sesv2.SendEmail", record)
    SesRawSender(client, **sender_options).send_raw(message, DESTINATIONS, key=KEY)
    return captured[0], botocore_request_for(params[0], message)


@pytest.mark.parametrize("head_remainder", [0, 1, 2])
@pytest.mark.parametrize(
    "body_size", [0, 1, 2, 3, 4, 5, 1000, ENCODE_CHUNK - 1, ENCODE_CHUNK, ENCODE_CHUNK + 1, 2 * ENCODE_CHUNK + 2]
)
def test_given_header_and_body_parts_when_sent_then_the_body_is_byte_identical_to_botocores(
    head_remainder: int, body_size: int
) -> None:
    message = (head_of_length_mod3(head_remainder), body_of(body_size))

    ours, botocores = send_and_compare(message)

    assert ours.body == botocores.body
    assert ours.headers["Content-Length"] == botocores.headers["Content-Length"] == str(len(botocores.body))
    assert ours.headers["Content-Type"] == "application/json"
    assert sigv4_problem(ours, "testing") is None  # signed over the bytes that were sent


def test_given_a_body_changed_after_signing_then_the_signature_check_fails() -> None:
    ours, _ = send_and_compare((head_of_length_mod3(0), body_of(30)))
    tampered = bytearray(ours.body)
    tampered[-3] ^= 1

    changed = Received(ours.method, ours.path, ours.headers, tampered)
    assert sigv4_problem(ours, "testing") is None
    assert sigv4_problem(changed, "testing") == "SigV4 signature does not match the body received"


@pytest.mark.parametrize(
    "message",
    [
        pytest.param((head_of_length_mod3(1, "X-Note: Grüße, 東京\r\n".encode()), body_of(10)), id="8bit-header-text"),
        pytest.param(head_of_length_mod3(2) + b"one buffer\r\n", id="bytes"),
        pytest.param((b"F", b"", memoryview(b"ro"), b"m: a@b\r\n", b"", b"\r\n", body_of(4)), id="many-small-parts"),
        pytest.param((head_of_length_mod3(0), b""), id="empty-body"),
    ],
)
def test_given_other_message_shapes_when_sent_then_the_body_is_byte_identical_to_botocores(message: Outgoing) -> None:
    ours, botocores = send_and_compare(message, configuration_set="sesame-events")
    assert ours.body == botocores.body
    assert sigv4_problem(ours, "testing") is None


def test_given_a_send_then_the_request_names_destinations_tags_and_no_from_address() -> None:
    message = (head_of_length_mod3(0), body_of(50))
    ours, _ = send_and_compare(message, configuration_set="sesame-events")

    request = json.loads(ours.body)

    assert "FromEmailAddress" not in request  # SES would rewrite the From header with it
    assert request["Destination"] == {"ToAddresses": DESTINATIONS}
    assert base64.b64decode(request["Content"]["Raw"]["Data"]) == outgoing_bytes(message)
    assert request["ConfigurationSetName"] == "sesame-events"
    assert request["EmailTags"] == [
        {"Name": "sesame-message", "Value": MESSAGE_ID},
        {"Name": "sesame-send", "Value": KEY.split(":")[1]},
    ]


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("abc123:bounce", {"sesame-message": "abc123", "sesame-send": "bounce"}),
        ("abc.123:bounce", {"sesame-send": "bounce"}),  # "." is not allowed in a tag value
        ("abc123:" + "d" * 257, {"sesame-message": "abc123"}),  # over 256 characters
        ("abc123", {"sesame-message": "abc123"}),  # no send part: an empty value is no value
        ("ab c:dé", {}),
    ],
)
def test_given_a_send_key_then_only_tag_values_ses_accepts_are_sent(key: str, expected: dict[str, str]) -> None:
    assert {tag["Name"]: tag["Value"] for tag in message_tags(key)} == expected


def test_given_two_senders_on_one_client_then_the_message_is_encoded_once() -> None:
    captured: list[Received] = []
    client = capturing_client(captured)
    SesRawSender(client)
    message = (head_of_length_mod3(1), body_of(100))

    SesRawSender(client).send_raw(message, DESTINATIONS, key=KEY)

    assert base64.b64decode(json.loads(captured[0].body)["Content"]["Raw"]["Data"]) == outgoing_bytes(message)


def test_given_a_hook_that_copies_the_call_parameters_then_it_sees_the_message_and_the_send_works() -> None:
    captured: list[Received] = []
    client = capturing_client(captured)
    recorded: list[dict[str, Any]] = []
    client.meta.events.register(
        "provide-client-params.sesv2.SendEmail", lambda params, **_: recorded.append(copy.deepcopy(params))
    )
    message = (head_of_length_mod3(2), body_of(40))

    SesRawSender(client).send_raw(message, DESTINATIONS, key=KEY)

    assert bytes(recorded[0]["Content"]["Raw"]["Data"]) == outgoing_bytes(message)
    assert base64.b64decode(json.loads(captured[0].body)["Content"]["Raw"]["Data"]) == outgoing_bytes(message)


def test_given_a_lazily_made_client_then_the_sender_makes_it_only_when_it_sends() -> None:
    made: list[str] = []
    captured: list[Received] = []

    def factory(service: str) -> Any:
        made.append(service)
        return capturing_client(captured)

    sender = SesRawSender(LazyClients(factory).get("sesv2"))
    assert made == []  # a message that is dropped never pays for an SES client

    sender.send_raw((head_of_length_mod3(0), body_of(9)), DESTINATIONS, key=KEY)
    assert made == ["sesv2"] and len(captured) == 1


@pytest.mark.parametrize("count", [0, 51])
def test_given_no_or_too_many_destinations_then_nothing_is_sent(count: int) -> None:
    captured: list[Received] = []
    sender = SesRawSender(capturing_client(captured))
    with pytest.raises(ValueError, match="1 to 50 destinations"):
        sender.send_raw(b"x", [f"d{i}@example.org" for i in range(count)], key=KEY)
    assert captured == []


# ---------------------------------------------------------------- the encoder on its own


@given(
    prefix=st.binary(max_size=8),
    parts=st.lists(st.binary(max_size=20), max_size=6),
    suffix=st.binary(max_size=8),
    chunk=st.sampled_from([3, 6, 9, ENCODE_CHUNK]),
    as_views=st.booleans(),
)
def test_the_encoder_matches_base64_of_the_joined_parts(
    prefix: bytes, parts: list[bytes], suffix: bytes, chunk: int, as_views: bool
) -> None:
    given_parts = [memoryview(p) for p in parts] if as_views else parts
    encoded = base64_into_buffer(prefix, given_parts, suffix, chunk=chunk)
    assert encoded[:] == prefix + base64.b64encode(b"".join(parts)) + suffix


# ---------------------------------------------------------------- through moto


def test_given_moto_when_parts_are_sent_then_moto_receives_the_joined_message() -> None:
    message = (head_of_length_mod3(2, "X-Note: Grüße\r\n".encode()), memoryview(b"Hello,\r\nbody.\r\n"))
    with mock_aws():
        client = boto3.client("sesv2", region_name="us-east-1")
        client.create_email_identity(EmailIdentity="example.com")

        message_id = SesRawSender(client).send_raw(message, DESTINATIONS, key=KEY)

        (sent,) = ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sent_messages
    assert sent.id == message_id
    assert sent.raw_data.encode() == outgoing_bytes(message)
    assert sent.destinations[:2] == DESTINATIONS  # moto appends the To header's addresses


# ---------------------------------------------------------------- over a real HTTP connection


@pytest.fixture
def sink() -> Iterator[SesSink]:
    server = SesSink().start()
    yield server
    server.stop()


def sink_client(sink: SesSink, **config: Any) -> Any:
    """An SES v2 client as the forwarder makes it (one attempt), pointed at the sink."""
    if not config:
        return make_client("sesv2", region_name="us-east-1", endpoint_url=sink.url)
    merged = client_config("sesv2").merge(Config(**config))
    return boto3.session.Session().client("sesv2", region_name="us-east-1", endpoint_url=sink.url, config=merged)


def test_given_a_large_message_when_sent_over_http_then_ses_receives_it_whole_and_signed(sink: SesSink) -> None:
    message = (head_of_length_mod3(1), body_of(3 * ENCODE_CHUNK + 1))

    message_id = SesRawSender(sink_client(sink)).send_raw(message, DESTINATIONS, key=KEY)

    (check,) = sink.checks()
    assert check.problems == []
    assert message_id.startswith("010001") and message_id.endswith("-000000")
    assert check.message_size == len(outgoing_bytes(message))
    assert check.message_sha256 == hashlib.sha256(outgoing_bytes(message)).hexdigest()
    assert check.destinations == DESTINATIONS
    assert check.tags == {"sesame-message": MESSAGE_ID, "sesame-send": KEY.split(":")[1]}


@pytest.mark.parametrize("code", ["MessageRejected", "BadRequestException"])
def test_given_a_permanent_refusal_then_send_rejected_after_one_request(sink: SesSink, code: str) -> None:
    sink.replies = [rejection(code, "Email address is not verified. The following identities failed the check")]

    with pytest.raises(SendRejected) as raised:
        SesRawSender(sink_client(sink)).send_raw((HEAD + b"\r\n", body_of(10)), DESTINATIONS, key=KEY)

    assert raised.value.code == code
    assert "not verified" in str(raised.value)
    assert len(sink.checks()) == 1


@pytest.mark.parametrize("code", ["TooManyRequestsException", "InternalFailure", "SendingPausedException"])
def test_given_a_transient_failure_then_botocores_error_is_raised_after_exactly_one_request(
    sink: SesSink, code: str
) -> None:
    sink.replies = [rejection(code, "try later")]

    with pytest.raises(ClientError) as raised:
        SesRawSender(sink_client(sink)).send_raw((HEAD + b"\r\n", body_of(10)), DESTINATIONS, key=KEY)

    assert not isinstance(raised.value, SendRejected)
    assert raised.value.response["Error"]["Code"] == code
    assert len(sink.checks()) == 1  # the client makes one attempt; the core decides on retries


def test_given_ses_never_answers_then_the_read_timeout_is_raised_as_botocore_raised_it(sink: SesSink) -> None:
    released = threading.Event()
    sink.replies = [Reply(hold=released)]
    try:
        with pytest.raises(ReadTimeoutError):
            SesRawSender(sink_client(sink, read_timeout=0.2)).send_raw(
                (HEAD + b"\r\n", body_of(10)), DESTINATIONS, key=KEY
            )
    finally:
        released.set()
    (check,) = sink.checks()
    assert check.problems == []  # the whole request arrived: this send may have been delivered


def test_given_no_ses_listening_then_the_connect_error_is_raised() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = make_client("sesv2", region_name="us-east-1", endpoint_url=f"http://127.0.0.1:{port}")
    with pytest.raises(EndpointConnectionError):
        SesRawSender(client).send_raw((HEAD + b"\r\n", body_of(10)), DESTINATIONS, key=KEY)


def test_given_botocore_retries_then_every_attempt_sends_the_same_signed_body(sink: SesSink) -> None:
    # The forwarder's client never retries; a client that does must still resend the same bytes.
    sink.replies = [rejection("InternalFailure", "try again")]
    client = sink_client(sink, retries={"mode": "standard", "total_max_attempts": 2})

    SesRawSender(client).send_raw((head_of_length_mod3(2), body_of(ENCODE_CHUNK + 2)), DESTINATIONS, key=KEY)

    first, second = sink.checks()
    assert first.problems == second.problems == []
    assert first.message_sha256 == second.message_sha256
    assert first.body_size == second.body_size
