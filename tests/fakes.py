"""In-memory stand-ins for the ports, for unit tests of the pure core."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sesame.core.event import InboundMail
from sesame.core.ports import Outgoing, SendRejected, outgoing_bytes


@dataclass
class MemoryStore:
    messages: dict[str, bytes] = field(default_factory=dict)
    fetched: list[str] = field(default_factory=list)

    quarantined: dict[str, bytes] = field(default_factory=dict)

    def location(self, mail: InboundMail) -> str:
        return f"memory://{mail.message_id}"

    def quarantine(self, mail: InboundMail) -> str:
        self.quarantined[mail.message_id] = self.messages[mail.message_id]
        return f"memory://quarantine/{mail.message_id}"

    def fetch(self, mail: InboundMail) -> bytes:
        self.fetched.append(mail.message_id)
        return self.messages[mail.message_id]


@dataclass
class RecordingSender:
    sent: list[tuple[bytes, tuple[str, ...], str]] = field(default_factory=list)
    reject_when: object = None  # callable(destinations) -> SendRejected | Exception | None

    def send_raw(self, message: Outgoing, destinations: Sequence[str], *, key: str) -> str:
        if callable(self.reject_when):
            error = self.reject_when(tuple(destinations))
            if error is not None:
                raise error
        self.sent.append((outgoing_bytes(message), tuple(destinations), key))
        return f"ses-{len(self.sent)}"

    @property
    def destinations(self) -> list[str]:
        return [d for _, batch, _ in self.sent for d in batch]


def rejected(code: str = "MessageRejected", message: str = "nope") -> SendRejected:
    return SendRejected(code, message)


class FirstEventSuppressions:
    """Stands in for the suppression table (sesame.core.feedback.SuppressionStore): every
    event is the first of its kind."""

    def suppress_bounced(self, destination: str, until: Any, event: Any) -> bool:
        return True

    def count_soft_bounce(self, destination: str, event: Any, policy: Any) -> Any:
        from sesame.core.feedback import SoftCount

        return SoftCount(1, None)

    def pause(self, alias: str, destination: str, event: Any) -> bool:
        return True

    def count_alias_complaint(self, alias: str, event: Any, window: Any) -> int:
        return 1
