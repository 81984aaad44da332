"""The SES receipt event, validated with Powertools' SES parser models and turned into
plain frozen data for the rest of the core.

Powertools' models are extended where real mail would otherwise fail validation and be
lost: SES omits common headers a message lacks (no Subject, no To, no Date), reports
``DISABLED`` verdicts when scanning is off, adds ``dmarcPolicy`` only when DMARC fails, and
an S3 action (when the function is fed by an S3 notification) has a different shape.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from aws_lambda_powertools.utilities.parser import ValidationError, parse
from aws_lambda_powertools.utilities.parser.models import (
    SesMail,
    SesMailCommonHeaders,
    SesMessage,
    SesModel,
    SesReceipt,
    SesReceiptVerdict,
    SesRecordModel,
)
from pydantic import AliasChoices, BaseModel, Field


class InvalidEvent(ValueError):
    """The event is not an SES receipt event; nothing can be done with it."""


class Verdict(SesReceiptVerdict):
    status: str  # type: ignore[assignment]  # PASS, FAIL, GRAY, PROCESSING_FAILED, DISABLED


class CommonHeaders(SesMailCommonHeaders):
    header_from: list[str] = Field(default_factory=list, alias="from")  # type: ignore[assignment]
    to: list[str] = Field(default_factory=list)  # type: ignore[assignment]
    reply_to: list[str] | None = Field(None, validation_alias=AliasChoices("replyTo", "reply-to", "reply_to"))
    returnPath: str | None = None  # type: ignore[assignment]
    messageId: str | None = None  # type: ignore[assignment]
    date: str | None = None  # type: ignore[assignment]
    subject: str | None = None  # type: ignore[assignment]


class Mail(SesMail):
    headers: list[Any] = Field(default_factory=list)  # type: ignore[assignment]
    commonHeaders: CommonHeaders = Field(default_factory=CommonHeaders)  # type: ignore[assignment]


class Action(BaseModel):
    type: str
    invocationType: str | None = None
    functionArn: str | None = None
    bucketName: str | None = None
    objectKeyPrefix: str | None = None
    objectKey: str | None = None


_PASS = Verdict(status="PASS")


class Receipt(SesReceipt):
    processingTimeMillis: int = 0  # type: ignore[assignment]
    spamVerdict: Verdict = _PASS  # type: ignore[assignment]
    virusVerdict: Verdict = _PASS  # type: ignore[assignment]
    spfVerdict: Verdict = _PASS  # type: ignore[assignment]
    dkimVerdict: Verdict = _PASS
    dmarcVerdict: Verdict = _PASS  # type: ignore[assignment]
    dmarcPolicy: str | None = None
    action: Action  # type: ignore[assignment]


class Message(SesMessage):
    mail: Mail  # type: ignore[assignment]
    receipt: Receipt  # type: ignore[assignment]


class Record(SesRecordModel):
    ses: Message  # type: ignore[assignment]


class Event(SesModel):
    Records: list[Record]  # type: ignore[assignment]


@dataclass(frozen=True)
class Verdicts:
    spam: str = "PASS"
    virus: str = "PASS"
    spf: str = "PASS"
    dkim: str = "PASS"
    dmarc: str = "PASS"
    dmarc_policy: str | None = None


@dataclass(frozen=True)
class InboundMail:
    """One received message as the forwarder needs it."""

    message_id: str
    source: str
    timestamp: datetime
    recipients: tuple[str, ...]
    header_from: tuple[str, ...] = ()
    header_to: tuple[str, ...] = ()
    subject: str | None = None
    verdicts: Verdicts = Verdicts()
    headers_truncated: bool = False
    headers: tuple[tuple[str, str], ...] = ()
    s3_bucket: str | None = None
    s3_key: str | None = None
    raw_event: dict[str, Any] | None = None

    def header(self, name: str) -> str | None:
        """A header from the event's header list (may be truncated for huge header blocks)."""
        key = name.lower()
        return next((value for n, value in self.headers if n.lower() == key), None)


def parse_ses_event(event: dict[str, Any]) -> list[InboundMail]:
    """Validate an SES receipt event and return one :class:`InboundMail` per record."""
    try:
        model = parse(event=event, model=Event)
    except ValidationError as exc:
        raise InvalidEvent(f"not an SES receipt event: {exc.error_count()} validation error(s): {exc}") from None
    return [_to_mail(record, raw) for record, raw in zip(model.Records, event["Records"], strict=True)]


def _to_mail(record: Record, raw: dict[str, Any]) -> InboundMail:
    mail, receipt = record.ses.mail, record.ses.receipt
    action = receipt.action
    s3 = action.type == "S3"
    return InboundMail(
        message_id=mail.messageId,
        source=mail.source,
        timestamp=mail.timestamp,
        recipients=tuple(receipt.recipients),
        header_from=tuple(mail.commonHeaders.header_from),
        header_to=tuple(mail.commonHeaders.to),
        subject=mail.commonHeaders.subject,
        verdicts=Verdicts(
            spam=receipt.spamVerdict.status,
            virus=receipt.virusVerdict.status,
            spf=receipt.spfVerdict.status,
            dkim=receipt.dkimVerdict.status,
            dmarc=receipt.dmarcVerdict.status,
            dmarc_policy=receipt.dmarcPolicy,
        ),
        headers_truncated=mail.headersTruncated,
        headers=tuple((h.get("name", ""), h.get("value", "")) for h in mail.headers if isinstance(h, dict)),
        s3_bucket=action.bucketName if s3 else None,
        s3_key=action.objectKey if s3 else None,
        raw_event=raw.get("ses"),
    )


VerdictStatus = Literal["PASS", "FAIL", "GRAY", "PROCESSING_FAILED", "DISABLED"]
