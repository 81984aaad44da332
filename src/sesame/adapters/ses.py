"""Sending through SES v2 with raw content (40 MB, at most 50 recipients a send).

botocore would serialize a raw message by base64-encoding it into a text, putting that text
in a JSON text, and encoding the JSON to bytes: four copies of a message up to 40 MB alive at
once, and a joined copy of header and body before that. Here the request body is built once,
inside botocore's own request lifecycle, so endpoint resolution, signing, retries and error
parsing stay botocore's:

1. ``send_raw`` passes the message parts as ``Content.Raw.Data`` wrapped in :class:`RawParts`.
2. On ``before-parameter-build`` (before validation and serialization) the parts move into
   the request context and ``Data`` becomes a small random placeholder.
3. botocore serializes the request as usual: the JSON body holds the placeholder's base64.
4. On ``before-call`` (after serialization, before compression, checksums, signing and the
   attempt loop) the body is rebuilt in one preallocated buffer: the JSON up to the
   placeholder, the base64 of the parts encoded straight from them, the JSON after it.
   The result is byte for byte what botocore makes from the joined message.

Every attempt botocore makes creates its request from that one body and signs it again,
so a retry sends (and signs) exactly the same bytes.
"""

from __future__ import annotations

import binascii
import mmap
import os
import re
from collections.abc import Sequence
from typing import Any

from sesame.adapters.buffers import anonymous_buffer
from sesame.core.ports import Outgoing, SendRejected, outgoing_bytes
from sesame.core.settings import SES_MAX_RECIPIENTS

# Refusals about this message that no retry will change. Throttling, 5xx, and account-wide
# problems (sending paused, account suspended) raise instead, so Lambda retries and the
# dead-letter queue keeps the message until an operator fixes things.
PERMANENT_ERRORS = frozenset({"MessageRejected", "BadRequestException", "InvalidParameterValue"})

# SES v2 API reference, MessageTag: a tag name or value "can only contain ASCII letters
# (a-z, A-Z), numbers (0-9), underscores (_), or dashes (-)" and "no more than 256 characters".
_TAG_VALUE = re.compile(r"[A-Za-z0-9_-]{1,256}")
MESSAGE_TAG = "sesame-message"  # the received message's SES id
SEND_TAG = "sesame-send"  # which send of it: the destination batch's digest, or "bounce"

# Input bytes per b2a_base64 call: a multiple of 3, so no padding mid-stream. The encoded
# chunk (128 KiB) is the only temporary; small enough to be copied out of the CPU cache
# (measured: a third faster for 30 MB than 1 MiB chunks).
ENCODE_CHUNK = 3 * 32 * 1024

_SERVICE_EVENT = "sesv2.SendEmail"
_CONTEXT_KEY = "sesame_raw_parts"


class RawParts:
    """``Content.Raw.Data`` given in parts, which :func:`install_raw_encoder` encodes."""

    __slots__ = ("parts",)

    def __init__(self, message: Outgoing) -> None:
        self.parts: tuple[bytes | memoryview, ...] = (message,) if isinstance(message, bytes) else tuple(message)

    def __len__(self) -> int:
        return sum(len(part) for part in self.parts)

    def __bytes__(self) -> bytes:
        """The joined message (a copy), for a reader of the call's parameters that needs it."""
        return b"".join(self.parts)

    def __repr__(self) -> str:  # botocore's debug log prints parameters: never 40 MB of them
        return f"RawParts({len(self.parts)} parts, {len(self)} bytes)"

    # Whoever copies the call's parameters (a hook recording calls) gets this same value: the
    # parts are never changed, and a view of the message cannot be copied (nor should 40 MB).
    def __copy__(self) -> RawParts:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> RawParts:
        return self


class SesRawSender:
    def __init__(self, client: Any, configuration_set: str | None = None) -> None:
        self._client = client
        self._configuration_set = configuration_set
        self._encodes_parts: bool | None = None  # known at the first send: the client may be lazy

    def send_raw(self, message: Outgoing, destinations: Sequence[str], *, key: str) -> str:
        if not 1 <= len(destinations) <= SES_MAX_RECIPIENTS:
            raise ValueError(f"SES takes 1 to {SES_MAX_RECIPIENTS} destinations a send, not {len(destinations)}")
        request: dict[str, Any] = {
            # No FromEmailAddress: on a raw send SES takes From from the message, and setting
            # it was reported to overwrite the header and lose the display name.
            "Destination": {"ToAddresses": list(destinations)},
            "Content": {"Raw": {"Data": self._raw_data(message)}},
        }
        if self._configuration_set:
            request["ConfigurationSetName"] = self._configuration_set
        if tags := message_tags(key):
            request["EmailTags"] = tags
        try:
            response = self._client.send_email(**request)
        except Exception as exc:
            if (rejected := permanent_refusal(exc)) is not None:
                raise rejected from exc
            raise
        return str(response["MessageId"])

    def _raw_data(self, message: Outgoing) -> RawParts | bytes:
        if self._encodes_parts is None:
            self._encodes_parts = install_raw_encoder(self._client)
        # A client without botocore's event system (a stand-in) gets the message joined.
        return RawParts(message) if self._encodes_parts else outgoing_bytes(message)


def permanent_refusal(error: Exception) -> SendRejected | None:
    """``error`` as a :class:`SendRejected` when SES refused this message for good."""
    # Imported here, not at the top: botocore is loaded once a client has raised, and the
    # handler's cold import stays free of it.
    from botocore.exceptions import ClientError

    if not isinstance(error, ClientError):
        return None
    details = error.response.get("Error", {})
    code = details.get("Code", "")
    return SendRejected(code, details.get("Message", "")) if code in PERMANENT_ERRORS else None


def message_tags(key: str) -> list[dict[str, str]]:
    """The send's ``EmailTags``: which received message and which send of it, so SES events
    (bounces, complaints, deliveries) lead back to both. A value SES would refuse is left out."""
    message_id, _, send = key.partition(":")
    tags = [{"Name": MESSAGE_TAG, "Value": message_id}, {"Name": SEND_TAG, "Value": send}]
    return [tag for tag in tags if _TAG_VALUE.fullmatch(tag["Value"])]


def install_raw_encoder(client: Any) -> bool:
    """Let ``client.send_email`` take :class:`RawParts` as ``Content.Raw.Data``; False when
    ``client`` is no botocore client.

    Registered once per client (``unique_id``), however many senders share it.
    """
    events = getattr(getattr(client, "meta", None), "events", None)
    if events is None:
        return False
    events.register(f"before-parameter-build.{_SERVICE_EVENT}", _swap_in_placeholder, unique_id="sesame-raw-parts-in")
    events.register(f"before-call.{_SERVICE_EVENT}", _encode_raw_body, unique_id="sesame-raw-parts-body")
    return True


def _swap_in_placeholder(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
    raw = params.get("Content", {}).get("Raw")
    if not isinstance(raw, dict) or not isinstance(raw.get("Data"), RawParts):
        return
    # 15 random bytes: 20 base64 characters, no padding, nothing JSON would escape, and
    # no chance of meeting them elsewhere in the request.
    placeholder = os.urandom(15)
    context[_CONTEXT_KEY] = (binascii.b2a_base64(placeholder, newline=False), raw["Data"].parts)
    raw["Data"] = placeholder


def _encode_raw_body(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
    pending = context.pop(_CONTEXT_KEY, None)
    if pending is None:
        return
    placeholder, parts = pending
    body = params["body"]
    quoted = b'"' + placeholder + b'"'
    start = body.find(quoted)
    if start == -1 or body.find(quoted, start + 1) != -1:
        # Nothing was sent: a request that cannot be made (ValueError, as the delivery
        # protocol reads it), never a send that may have gone out.
        raise ValueError("SendEmail request body: the raw-data placeholder is not there exactly once")
    encoded = base64_into_buffer(body[: start + 1], parts, body[start + 1 + len(placeholder) :])
    params["body"] = BufferBody(encoded)


class BufferBody:
    """The request body as a seekable, read-only file over the built buffer.

    A file, not the buffer itself: botocore hashes a file body in 1 MiB reads and urllib3 /
    http.client send it in blocks, and here each sized read is a view of the buffer, so
    nothing copies it. (Given ``bytes``, botocore's connection would append the body to the
    request head, one more copy; and moto, which stands in for SES in tests, accepts only
    bytes or a file.) ``read()`` with no size returns a copy, for readers that want it whole.
    """

    __slots__ = ("_view", "_pos")

    def __init__(self, buffer: mmap.mmap | bytearray) -> None:
        self._view = memoryview(buffer).toreadonly()
        self._pos = 0

    def __len__(self) -> int:
        return len(self._view)

    def __repr__(self) -> str:  # botocore's debug log prints the request: not 40 MB of it
        return f"BufferBody({len(self._view)} bytes)"

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes | memoryview:
        start = self._pos
        if size is None or size < 0:
            self._pos = len(self._view)
            return self._view[start:].tobytes()
        self._pos = min(start + size, len(self._view))
        return self._view[start : self._pos]

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = 0) -> int:
        base = (0, self._pos, len(self._view))[whence]
        if base + offset < 0:
            raise ValueError(f"negative seek position {base + offset}")
        self._pos = base + offset
        return self._pos


def base64_length(size: int) -> int:
    return (size + 2) // 3 * 4


def base64_into_buffer(
    prefix: bytes, parts: Sequence[bytes | memoryview], suffix: bytes, *, chunk: int = ENCODE_CHUNK
) -> mmap.mmap | bytearray:
    """``prefix + base64(b"".join(parts)) + suffix`` in one preallocated buffer, without
    joining the parts: each part is encoded from a view of it, and the 1-2 bytes a part
    leaves over a 3-byte quantum are carried into the next part's first quantum. ``chunk``
    (a multiple of 3) is how much input one encoding call takes."""
    if chunk <= 0 or chunk % 3:
        raise ValueError(f"chunk must be a positive multiple of 3, not {chunk}")
    size = sum(len(part) for part in parts)
    out = anonymous_buffer(len(prefix) + base64_length(size) + len(suffix))
    out[: len(prefix)] = prefix
    pos = len(prefix)
    carry = b""
    for part in parts:
        view = memoryview(part).cast("B")
        start = 0
        if carry:
            start = min(3 - len(carry), len(view))
            carry += view[:start].tobytes()
            if len(carry) < 3:
                continue
            pos = _put_base64(out, pos, carry)
            carry = b""
        whole = start + (len(view) - start) // 3 * 3
        for offset in range(start, whole, chunk):
            pos = _put_base64(out, pos, view[offset : min(offset + chunk, whole)])
        carry = view[whole:].tobytes()
    if carry:
        pos = _put_base64(out, pos, carry)
    if pos + len(suffix) != len(out):  # cannot happen; before anything is sent
        raise ValueError(f"base64 body: wrote {pos + len(suffix)} bytes into {len(out)}")
    out[pos:] = suffix
    return out


def _put_base64(out: mmap.mmap | bytearray, pos: int, data: bytes | memoryview) -> int:
    encoded = binascii.b2a_base64(data, newline=False)
    end = pos + len(encoded)
    out[pos:end] = encoded
    return end
