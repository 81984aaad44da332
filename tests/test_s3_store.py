"""The S3 message store: one buffer of exactly the object's size, and a loud failure when the
stream and its Content-Length disagree."""

from __future__ import annotations

import io
import mmap
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import IncompleteReadError
from botocore.response import StreamingBody
from botocore.stub import Stubber
from moto import mock_aws

from sesame.adapters.s3 import READ_CHUNK, IncompleteMessage, S3MessageStore
from sesame.core.event import InboundMail
from sesame.core.message import parse_message
from sesame.core.rewrite import RewriteOptions, rewrite

BUCKET = "sesame-mail-test"
EML = Path(__file__).parent / "fixtures" / "eml"


def mail(message_id: str, **where: str) -> InboundMail:
    return InboundMail(
        message_id=message_id,
        source="jane@sender.example",
        timestamp=datetime(2026, 11, 20, 9, 14, 58, tzinfo=UTC),
        recipients=("john@example.com",),
        **where,  # type: ignore[arg-type]
    )


@pytest.fixture
def s3() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


@pytest.mark.parametrize("fixture", sorted(p.name for p in EML.glob("*.eml")))
def test_given_a_stored_message_when_fetched_then_the_rewrite_is_the_same_as_from_bytes(s3: Any, fixture: str) -> None:
    raw = (EML / fixture).read_bytes()
    s3.put_object(Bucket=BUCKET, Key="messages/m1", Body=raw)

    fetched = S3MessageStore(s3, BUCKET, "messages/").fetch(mail("m1"))

    assert bytes(fetched) == raw
    options = RewriteOptions(alias="john@example.com", from_address="john@example.com")
    from_store, from_bytes = rewrite(parse_message(fetched), options), rewrite(parse_message(raw), options)
    assert (from_store.head, bytes(from_store.body), from_store.defects) == (
        from_bytes.head,
        bytes(from_bytes.body),
        from_bytes.defects,
    )
    assert all(type(line) is bytes for f in parse_message(fetched).fields for line in f.lines)


def test_given_a_large_message_then_it_lands_in_one_buffer_that_the_body_view_points_into(s3: Any) -> None:
    raw = b"From: a@b.example\r\nSubject: big\r\n\r\n" + bytes(range(256)) * (3 * READ_CHUNK // 256 + 7)
    s3.put_object(Bucket=BUCKET, Key="messages/big", Body=raw)

    fetched = S3MessageStore(s3, BUCKET, "messages/").fetch(mail("big"))
    message = parse_message(fetched)

    assert isinstance(fetched, mmap.mmap) and len(fetched) == len(raw)
    assert message.body.obj is fetched  # the body is a view of the fetched buffer, not a copy
    assert message.body == memoryview(raw)[message.body_offset :]


def test_given_an_empty_object_then_an_empty_message(s3: Any) -> None:
    s3.put_object(Bucket=BUCKET, Key="messages/empty", Body=b"")
    assert S3MessageStore(s3, BUCKET, "messages/").fetch(mail("empty")) == b""


def test_given_the_event_names_the_object_then_that_object_is_read(s3: Any) -> None:
    s3.create_bucket(Bucket="other-bucket")
    s3.put_object(Bucket="other-bucket", Key="in/x", Body=b"Subject: x\r\n\r\nbody")
    event_mail = mail("x", s3_bucket="other-bucket", s3_key="in/x")
    assert bytes(S3MessageStore(s3, BUCKET, "messages/").fetch(event_mail)) == b"Subject: x\r\n\r\nbody"


# ---------------------------------------------------------------- streams that lie


class _ReadOnlyBody:
    """A response body as botocore before StreamingBody.readinto (2025) had it: read() only."""

    def __init__(self, body: StreamingBody) -> None:
        self._body = body

    def read(self, amt: int | None = None) -> bytes:
        return self._body.read(amt)

    def close(self) -> None:
        self._body.close()


def stubbed_store(
    stream: bytes, content_length: int | None, wrap: Any = None, body_checks_length: bool = True
) -> tuple[S3MessageStore, io.BytesIO]:
    """A store whose GetObject answers with ``stream`` and a ``ContentLength`` that may lie
    (``None``: absent), and the raw stream, to see that the store closed it. Unless
    ``body_checks_length``, the body does not compare what it read with the length itself."""
    client = boto3.client("s3", region_name="us-east-1")
    stubber = Stubber(client)
    raw = io.BytesIO(stream)
    body = StreamingBody(raw, content_length if body_checks_length else None)
    response: dict[str, Any] = {"Body": wrap(body) if wrap else body}
    if content_length is not None:
        response["ContentLength"] = content_length
    stubber.add_response("get_object", response, {"Bucket": BUCKET, "Key": "messages/m1"})
    stubber.activate()
    return S3MessageStore(client, BUCKET, "messages/"), raw


def test_given_the_stream_ends_early_then_botocore_refuses_the_short_read() -> None:
    store, raw = stubbed_store(b"Subject: x\r\n\r\nbod", content_length=20)
    with pytest.raises(IncompleteReadError, match="17 read, but total bytes expected is 20"):
        store.fetch(mail("m1"))
    assert raw.closed


def test_given_an_older_botocore_and_a_short_stream_then_the_store_refuses_it() -> None:
    store, raw = stubbed_store(
        b"Subject: x\r\n\r\nbod", content_length=20, wrap=_ReadOnlyBody, body_checks_length=False
    )
    with pytest.raises(IncompleteMessage, match="ended after 17 of 20 bytes"):
        store.fetch(mail("m1"))
    assert raw.closed


def test_given_an_older_botocore_then_the_message_is_read_all_the_same() -> None:
    message = b"Subject: x\r\n\r\n" + b"b" * (2 * READ_CHUNK + 5)
    store, _ = stubbed_store(message, content_length=len(message), wrap=_ReadOnlyBody)
    assert bytes(store.fetch(mail("m1"))) == message


def test_given_more_bytes_than_announced_then_the_store_refuses_them() -> None:
    store, raw = stubbed_store(b"Subject: x\r\n\r\nbody and more", content_length=18)
    with pytest.raises(IncompleteMessage, match="more bytes than the 18 announced"):
        store.fetch(mail("m1"))
    assert raw.closed


def test_given_no_content_length_then_the_store_refuses_to_guess() -> None:
    store, raw = stubbed_store(b"Subject: x\r\n\r\nbody", content_length=None)
    with pytest.raises(IncompleteMessage, match="no usable Content-Length"):
        store.fetch(mail("m1"))
    assert raw.closed
