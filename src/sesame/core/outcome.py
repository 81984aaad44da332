"""Decisions (what policy says to do) and outcomes (what was done), as data."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from sesame.core.event import InboundMail
from sesame.core.message import Defect
from sesame.core.settings import Action

Status = Literal["forwarded", "bounced", "dropped", "failed"]
STATUSES: tuple[str, ...] = ("forwarded", "bounced", "dropped", "failed")


@dataclass(frozen=True)
class Decision:
    """What to do with one envelope recipient, and why."""

    recipient: str
    action: Action
    reason: str
    rule: str | None = None
    destinations: tuple[str, ...] = ()
    status_code: str | None = None  # enhanced status code for a bounce, e.g. 5.1.1
    warnings: tuple[str, ...] = ()
    notice: str | None = None  # forward only a notice, for this reason (the message cannot be sent)
    block: tuple[str, ...] = ()  # senders whose mail to this recipient is dropped
    allow: tuple[str, ...] = ()  # when set, only these senders (authenticated) reach it

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "recipient": self.recipient,
            "action": self.action,
            "reason": self.reason,
            "rule": self.rule,
            "destinations": list(self.destinations),
        }
        if self.status_code:
            data["status_code"] = self.status_code
        if self.warnings:
            data["warnings"] = list(self.warnings)
        if self.notice:
            data["notice"] = self.notice
        return data


@dataclass(frozen=True)
class Outcome:
    """What happened to one envelope recipient."""

    recipient: str
    status: Status
    reason: str
    rule: str | None = None
    destinations: tuple[str, ...] = ()
    ses_message_ids: tuple[str, ...] = ()
    detail: str | None = None  # the error for a failure, or why a bounce was held back
    # Destinations of this recipient's alias left out because they are on the suppression
    # list: (destination, reason ``suppressed:<why>``). Not sent to, and told here, whatever
    # became of the others.
    suppressed: tuple[tuple[str, str], ...] = ()

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "recipient": self.recipient,
            "status": self.status,
            "reason": self.reason,
            "rule": self.rule,
            "destinations": list(self.destinations),
            "ses_message_ids": list(self.ses_message_ids),
        }
        if self.detail:
            data["detail"] = self.detail
        if self.suppressed:
            data["suppressed"] = [{"destination": d, "reason": why} for d, why in self.suppressed]
        return data


@dataclass(frozen=True)
class MessageReport:
    """Everything worth recording about one received message."""

    message_id: str
    source: str
    timestamp: datetime
    header_from: tuple[str, ...]
    subject: str | None
    size: int | None
    outcomes: tuple[Outcome, ...]
    defects: tuple[Defect, ...] = field(default=())
    # A send failed for a reason that may pass: the message must be tried again (Lambda's
    # retry, or a redrive), which sends only what is missing. Not part of the record.
    incomplete: bool = False

    @classmethod
    def for_mail(
        cls,
        mail: InboundMail,
        outcomes: tuple[Outcome, ...],
        *,
        size: int | None = None,
        defects: tuple[Defect, ...] = (),
        incomplete: bool = False,
    ) -> MessageReport:
        return cls(
            mail.message_id, mail.source, mail.timestamp, mail.header_from, mail.subject, size, outcomes, defects, incomplete
        )

    @property
    def failed(self) -> tuple[Outcome, ...]:
        return tuple(o for o in self.outcomes if o.status == "failed")

    def as_dict(self) -> dict[str, Any]:
        return {
            "message_id": self.message_id,
            "source": self.source,
            "timestamp": self.timestamp.isoformat(),
            "from": list(self.header_from),
            "subject": self.subject,
            "size": self.size,
            "outcomes": [o.as_dict() for o in self.outcomes],
            "defects": [d.as_dict() for d in self.defects],
        }
