"""SES's feedback on what Sesame sent: bounces, complaints, delivery delays and rejects, read
into plain data, and what each one makes Sesame do.

The events come from the configuration set's event destination, through EventBridge (the
``detail`` of an ``aws.ses`` event is SES's event record) into an SQS queue. A record is
understood in each shape it can arrive in: the EventBridge event, an SNS notification
wrapping the record, or the bare record. The record's shape is SES's ("Contents of event
data that Amazon SES publishes to Amazon SNS", SES Developer Guide; the EventBridge
``detail`` is the same object, "Monitoring SES events using Amazon EventBridge").

What Sesame does with an event, by kind (:func:`plan`):

- a hard bounce (``bounceType`` Permanent, any subtype, including ``OnAccountSuppressionList``
  and ``Suppressed``, SES's own suppression lists showing up as an accepted send that then
  bounced): the destination is suppressed for every alias, ``hard_bounce_days`` from the
  bounce;
- a soft bounce (Transient with subtype General or MailboxFull, or Undetermined): counted per
  destination; ``soft_bounce_limit`` of them within ``soft_bounce_window`` suppress the
  destination for ``soft_bounce_suppression``. Transient subtypes about the message itself
  (MessageTooLarge, ContentRejected, AttachmentRejected) say nothing about the mailbox and are
  only recorded;
- a complaint (any ``complaintFeedbackType`` but ``not-spam``): the alias that forwarded the
  message is paused for that destination until the operator resumes it. A forwarder's
  destinations are its users' own mailboxes, so one "this is spam" must not stop all their
  mail, only the alias it came through;
- a delivery delay or a reject (SES found a virus): recorded, nothing else.

Only sends Sesame made act on the suppression list: they carry the ``sesame-send`` tag
(``sesame-message`` names the received message). Everything is recorded.

Every effect is a function of the event alone (its key, its time), so a redelivered event
changes nothing twice (:mod:`sesame.adapters.suppression` makes each write idempotent).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Protocol

from sesame.core.event import parse_timestamp
from sesame.core.documents import json_line, loads_json
from sesame.core.rewrite import MARKER_HEADER

Kind = Literal["bounce", "complaint", "delivery-delay", "reject"]
# SES's eventType (SNS and EventBridge detail) -> ours; EventBridge's detail-type names them too.
EVENT_TYPES: dict[str, Kind] = {
    "Bounce": "bounce",
    "Complaint": "complaint",
    "DeliveryDelay": "delivery-delay",
    "Reject": "reject",
}
DETAIL_TYPES: dict[str, Kind] = {
    "Email Bounced": "bounce",
    "Email Complaint Received": "complaint",
    "Email Delivery Delayed": "delivery-delay",
    "Email Rejected": "reject",
}
# The tags every Sesame send carries (SES copies a send's tags into each event, mail.tags).
TAG_MESSAGE = "sesame-message"
TAG_SEND = "sesame-send"
TAG_CONFIGURATION_SET = "ses:configuration-set"
# Transient bounce subtypes that are about the mailbox, not the message (SES Developer Guide,
# "Bounce types": General and MailboxFull are the mailbox's; MessageTooLarge, ContentRejected
# and AttachmentRejected are this message's).
SOFT_SUBTYPES = frozenset({"General", "MailboxFull"})
# "not-spam" is a recipient saying the opposite of a complaint (ARF feedback types, RFC 5965).
NOT_A_COMPLAINT = frozenset({"not-spam"})
MAX_RECIPIENTS = 100  # SES sends to 50 at most; anything beyond is not a record of ours
MAX_TEXT = 1000  # diagnostic codes and the like, cut: they come from remote servers


class InvalidFeedback(ValueError):
    """A queue record that is not an SES event of a kind Sesame handles."""


@dataclass(frozen=True)
class FeedbackPolicy:
    hard_bounce_days: int = 30
    soft_bounce_limit: int = 3
    soft_bounce_window: timedelta = timedelta(days=1)
    soft_bounce_suppression: timedelta = timedelta(days=1)
    # The window of the per-alias complaint count the alarm watches.
    alias_complaint_window: timedelta = timedelta(days=7)


@dataclass(frozen=True)
class FeedbackRecipient:
    address: str  # lower-cased
    status: str | None = None
    action: str | None = None
    diagnostic: str | None = None


@dataclass(frozen=True)
class FeedbackEvent:
    kind: Kind
    key: str  # stable for the same event however often it is delivered
    occurred_at: datetime
    ses_message_id: str  # the sent message's SES id
    recipients: tuple[FeedbackRecipient, ...]
    received_message_id: str | None = None  # tag sesame-message: the message Sesame received
    send: str | None = None  # tag sesame-send: the batch digest, or "bounce" for a DSN
    configuration_set: str | None = None
    alias: str | None = None  # the forwarded copy's X-Sesame-Forwarded-For
    source: str | None = None
    subtype: str | None = None  # bounceType/bounceSubType, complaintFeedbackType, delayType, reason
    bounce_type: str | None = None
    feedback_id: str | None = None
    reporting_mta: str | None = None

    @property
    def from_sesame(self) -> bool:
        return self.send is not None


def _text(value: Any, limit: int = MAX_TEXT) -> str | None:
    if value is None:
        return None
    text = "".join(ch if ch >= " " and ch != "\x7f" else " " for ch in str(value))
    return text[:limit]


def _tag(tags: Any, name: str) -> str | None:
    values = tags.get(name) if isinstance(tags, Mapping) else None
    if isinstance(values, list) and values and isinstance(values[0], str):
        return values[0]
    return None


def _list(value: Any) -> list[Any]:
    """A list the event should hold there; anything else holds nothing."""
    return value if isinstance(value, list) else []


def _header(mail: Mapping[str, Any], name: str) -> str | None:
    for header in _list(mail.get("headers")):
        if isinstance(header, Mapping) and str(header.get("name", "")).lower() == name.lower():
            value = header.get("value")
            return str(value).strip().lower() if isinstance(value, str) and value.strip() else None
    return None


def unwrap(body: str) -> tuple[Mapping[str, Any], Kind]:
    """The SES event record in a queue record's body, and its kind."""
    try:
        data = loads_json(body)
    except ValueError as exc:
        raise InvalidFeedback(f"record body is not JSON: {exc}") from None
    if isinstance(data, dict) and data.get("Type") == "Notification" and isinstance(data.get("Message"), str):
        try:
            data = loads_json(data["Message"])  # an SNS notification delivered without raw delivery
        except ValueError as exc:
            raise InvalidFeedback(f"SNS message is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidFeedback("record body is not a JSON object")
    if "detail" in data and isinstance(data["detail"], dict):  # EventBridge
        detail, hinted = data["detail"], DETAIL_TYPES.get(str(data.get("detail-type")))
    else:
        detail, hinted = data, None
    kind = EVENT_TYPES.get(str(detail.get("eventType") or detail.get("notificationType"))) or hinted
    if kind is None:
        raise InvalidFeedback(f"not a bounce, complaint, delivery delay or reject: {detail.get('eventType')!r}")
    return detail, kind


def event_key(kind: Kind, detail: Mapping[str, Any]) -> str:
    digest = hashlib.sha256(json.dumps(detail, sort_keys=True, separators=(",", ":"), default=str).encode())
    return f"{kind}-{digest.hexdigest()[:40]}"


def parse_feedback(body: str) -> FeedbackEvent:
    """One queue record's event; :class:`InvalidFeedback` if it is none Sesame handles."""
    detail, kind = unwrap(body)
    mail = detail.get("mail")
    if not isinstance(mail, dict) or not isinstance(mail.get("messageId"), str):
        raise InvalidFeedback("the event has no mail.messageId")
    section_name = {"bounce": "bounce", "complaint": "complaint", "delivery-delay": "deliveryDelay", "reject": "reject"}[kind]
    section = detail.get(section_name)
    if not isinstance(section, dict):
        raise InvalidFeedback(f"a {kind} event without its {section_name} object")
    listed = {
        "bounce": section.get("bouncedRecipients"),
        "complaint": section.get("complainedRecipients"),
        "delivery-delay": section.get("delayedRecipients"),
        "reject": [{"emailAddress": d} for d in _list(mail.get("destination")) if isinstance(d, str)],
    }[kind]
    recipients = []
    for entry in _list(listed)[:MAX_RECIPIENTS]:
        address = entry.get("emailAddress") if isinstance(entry, dict) else None
        if not isinstance(address, str) or "@" not in address:
            continue
        recipients.append(
            FeedbackRecipient(
                address=address.strip().strip("<>").lower()[:320],
                status=_text(entry.get("status"), 32),
                action=_text(entry.get("action"), 32),
                diagnostic=_text(entry.get("diagnosticCode")),
            )
        )
    if not recipients:
        raise InvalidFeedback(f"a {kind} event that names no recipient")
    occurred = parse_timestamp(section.get("timestamp")) or parse_timestamp(mail.get("timestamp"))
    if occurred is None:
        raise InvalidFeedback("the event has no usable timestamp")
    subtype = {
        "bounce": section.get("bounceSubType"),
        "complaint": section.get("complaintFeedbackType") or section.get("complaintSubType"),
        "delivery-delay": section.get("delayType"),
        "reject": section.get("reason"),
    }[kind]
    tags = mail.get("tags")
    source = mail.get("source")
    return FeedbackEvent(
        kind=kind,
        key=event_key(kind, detail),
        occurred_at=occurred.astimezone(UTC),
        ses_message_id=_text(mail["messageId"], 200) or "",
        recipients=tuple(recipients),
        received_message_id=_text(_tag(tags, TAG_MESSAGE), 200),
        send=_text(_tag(tags, TAG_SEND), 100),
        configuration_set=_text(_tag(tags, TAG_CONFIGURATION_SET), 64),
        alias=_text(_header(mail, MARKER_HEADER), 320),
        source=_text(source, 320) if isinstance(source, str) else None,
        subtype=_text(subtype, 64),
        bounce_type=_text(section.get("bounceType"), 32) if kind == "bounce" else None,
        feedback_id=_text(section.get("feedbackId"), 200),
        reporting_mta=_text(section.get("reportingMTA"), 200),
    )


# --- what to do --------------------------------------------------------------------------


@dataclass(frozen=True)
class HardBounce:
    destination: str
    until: datetime


@dataclass(frozen=True)
class SoftBounce:
    destination: str


@dataclass(frozen=True)
class Pause:
    alias: str
    destination: str


Effect = HardBounce | SoftBounce | Pause


def plan(event: FeedbackEvent, policy: FeedbackPolicy) -> list[Effect | None]:
    """For each recipient of ``event`` (in order), what to do; None: only record it."""
    if not event.from_sesame:
        return [None] * len(event.recipients)
    effects: list[Effect | None] = []
    for recipient in event.recipients:
        effect: Effect | None = None
        if event.kind == "bounce" and event.bounce_type == "Permanent":
            effect = HardBounce(recipient.address, event.occurred_at + timedelta(days=policy.hard_bounce_days))
        elif event.kind == "bounce" and (
            event.bounce_type == "Undetermined" or (event.bounce_type == "Transient" and event.subtype in SOFT_SUBTYPES)
        ):
            effect = SoftBounce(recipient.address)
        elif event.kind == "complaint" and event.subtype not in NOT_A_COMPLAINT and event.alias:
            effect = Pause(event.alias, recipient.address)
        effects.append(effect)
    return effects


# --- the store the feedback function writes ------------------------------------------------


@dataclass(frozen=True)
class SoftCount:
    count: int  # soft bounces of the destination within the window ending at this one
    suppressed_until: datetime | None  # set when this count reached the limit


class SuppressionStore(Protocol):
    """The writes the feedback function makes; each one idempotent per event key."""

    def suppress_bounced(self, destination: str, until: datetime, event: FeedbackEvent) -> bool:
        """Suppress ``destination`` for every alias until ``until`` (never shortening a longer
        suppression). True if this event's suppression is the one in force."""

    def count_soft_bounce(self, destination: str, event: FeedbackEvent, policy: FeedbackPolicy) -> SoftCount: ...

    def pause(self, alias: str, destination: str, event: FeedbackEvent) -> bool:
        """Pause ``alias`` -> ``destination`` until resumed. True if this event paused it (now
        or on an earlier delivery of the same event), False if an earlier complaint had."""

    def count_alias_complaint(self, alias: str, event: FeedbackEvent, window: timedelta) -> int:
        """Complaints drawn by ``alias`` within ``window`` up to this one, this one included."""


@dataclass(frozen=True)
class Applied:
    """What handling one event did, for its record, its log line and the metrics."""

    event: FeedbackEvent
    effects: tuple[str, ...]  # per recipient: suppressed-until-..., soft-bounce-2-of-3, paused, recorded
    suppressions: int = 0  # destinations newly suppressed or paused by this event
    alias_complaints: int | None = None  # the alias's complaints in the window (complaints only)


def apply(event: FeedbackEvent, store: SuppressionStore, policy: FeedbackPolicy) -> Applied:
    """Carry out :func:`plan` against ``store``."""
    effects: list[str] = []
    suppressions = 0
    for recipient, effect in zip(event.recipients, plan(event, policy), strict=True):
        if isinstance(effect, HardBounce):
            fresh = store.suppress_bounced(effect.destination, effect.until, event)
            suppressions += fresh
            effects.append(f"suppressed-until-{effect.until:%Y-%m-%dT%H:%MZ}" if fresh else "already-suppressed")
        elif isinstance(effect, SoftBounce):
            counted = store.count_soft_bounce(effect.destination, event, policy)
            if counted.suppressed_until is not None:
                suppressions += 1
                effects.append(f"suppressed-until-{counted.suppressed_until:%Y-%m-%dT%H:%MZ}")
            else:
                effects.append(f"soft-bounce-{counted.count}-of-{policy.soft_bounce_limit}")
        elif isinstance(effect, Pause):
            fresh = store.pause(effect.alias, effect.destination, event)
            suppressions += fresh
            effects.append("paused" if fresh else "already-paused")
        else:
            effects.append("recorded")
    alias_complaints = None
    if event.kind == "complaint" and event.alias and event.from_sesame and event.subtype not in NOT_A_COMPLAINT:
        alias_complaints = store.count_alias_complaint(event.alias, event, policy.alias_complaint_window)
    return Applied(event, tuple(effects), suppressions, alias_complaints)


# --- the record ------------------------------------------------------------------------------


def feedback_key(prefix: str, event: FeedbackEvent) -> str:
    """``<prefix>YYYY/MM/DD/<event key>.json``, by the day of the event: a redelivered event
    overwrites its own record."""
    return f"{prefix}{event.occurred_at:%Y/%m/%d}/{event.key}.json"


def feedback_rows(applied: Applied) -> list[dict[str, Any]]:
    """One flat row per recipient (the ``sesame_feedback`` table's columns), joined to the
    index by ``message_id``."""
    event = applied.event
    return [
        {
            "event_key": event.key,
            "event_type": event.kind,
            "timestamp": event.occurred_at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "message_id": event.received_message_id,
            "ses_message_id": event.ses_message_id,
            "send": event.send,
            "alias": event.alias,
            "destination": recipient.address,
            "bounce_type": event.bounce_type,
            "subtype": event.subtype,
            "status": recipient.status,
            "action": recipient.action,
            "diagnostic": recipient.diagnostic,
            "reporting_mta": event.reporting_mta,
            "feedback_id": event.feedback_id,
            "configuration_set": event.configuration_set,
            "effect": effect,
        }
        for recipient, effect in zip(event.recipients, applied.effects, strict=True)
    ]


def to_json_lines(rows: Sequence[Mapping[str, Any]]) -> bytes:
    return b"".join(json_line(row) for row in rows)


# --- reading the suppression list ------------------------------------------------------------


@dataclass(frozen=True)
class Suppression:
    """One entry of the suppression list, as ``sesame suppressions list`` shows it."""

    destination: str
    alias: str | None  # None: every alias
    reason: str  # bounce, soft-bounce, complaint, manual
    since: str | None = None
    until: datetime | None = None  # None: until removed
    detail: str | None = None
    counts: dict[str, int] = field(default_factory=dict)

    def active(self, now: datetime) -> bool:
        return self.until is None or self.until > now


__all__ = [
    "Applied",
    "FeedbackEvent",
    "FeedbackPolicy",
    "FeedbackRecipient",
    "HardBounce",
    "InvalidFeedback",
    "Pause",
    "SoftBounce",
    "SoftCount",
    "Suppression",
    "SuppressionStore",
    "apply",
    "feedback_key",
    "feedback_rows",
    "parse_feedback",
    "plan",
    "to_json_lines",
]
