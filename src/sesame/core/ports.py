"""The small interfaces the core needs from the outside world.

Adapters in :mod:`sesame.adapters` implement them over boto3; tests use in-memory fakes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol, TypeAlias

from sesame.core.event import InboundMail


# A message to send: one buffer, or parts sent back to back (the rewritten header block and a
# view of the original body), so an adapter can encode it without first joining a copy.
Outgoing: TypeAlias = bytes | tuple[bytes | memoryview, ...]


def outgoing_bytes(message: Outgoing) -> bytes:
    """``message`` as one buffer (a copy when it comes in parts)."""
    return message if isinstance(message, bytes) else b"".join(message)


def outgoing_size(message: Outgoing) -> int:
    return len(message) if isinstance(message, bytes) else sum(len(part) for part in message)


class SendRejected(Exception):
    """SES refused this message for good (not throttling, not an outage): retrying won't help."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


class MessageStore(Protocol):
    def fetch(self, mail: InboundMail) -> bytes | bytearray | memoryview | Any:
        """The raw message as SES stored it: bytes or any buffer with the bytes API (the S3
        store returns a private memory map). Raises when it cannot be read."""

    def location(self, mail: InboundMail) -> str:
        """Where the raw message is kept, for a person (e.g. ``s3://bucket/messages/<id>``)."""

    def quarantine(self, mail: InboundMail) -> str:
        """Keep a copy of the raw message in quarantine; returns where. Raises when it cannot."""


class Sender(Protocol):
    def send_raw(self, message: Outgoing, destinations: Sequence[str], *, key: str) -> str:
        """Send ``message`` to ``destinations`` (at most 50) and return the SES message id.

        ``key`` names this exact send (message and destination batch), so an implementation
        can make a retried send a no-op. Raises :class:`SendRejected` for permanent refusals
        and anything else for transient failures.
        """


class SuppressionList(Protocol):
    def suppressed_by_alias(self, wanted: Mapping[str, Sequence[str]], now: datetime) -> dict[str, dict[str, str]]:
        """For each alias of ``wanted`` (alias -> its destinations, all of one message), the
        destinations it must not forward to at ``now``, each mapped to why: ``bounce``,
        ``soft-bounce``, ``complaint`` or ``manual``; an alias with none may be left out.
        Asked once per message. Raises when the list cannot be read (an infrastructure
        failure: the forwarder retries)."""
