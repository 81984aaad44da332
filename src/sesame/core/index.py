"""The index record: one JSON line per received message, for Glue and Athena.

Keys are ``<prefix>YYYY/MM/DD/<messageId>.json`` by the day SES received the message, so
a retry overwrites its own record and never adds a second one.
"""

from __future__ import annotations

from typing import Any

from sesame.core.documents import json_line
from sesame.core.event import InboundMail
from sesame.core.outcome import MessageReport, Outcome


def index_key(prefix: str, mail: InboundMail) -> str:
    day = mail.timestamp
    return f"{prefix}{day:%Y/%m/%d}/{mail.message_id}.json"


def index_record(mail: InboundMail, report: MessageReport) -> dict[str, Any]:
    """The record: Sesame's summary at the top level, SES's own mail and receipt objects below."""
    data = report.as_dict()
    data["recipients"] = list(mail.recipients)
    v = mail.verdicts
    data["verdicts"] = {
        "spam": v.spam,
        "virus": v.virus,
        "spf": v.spf,
        "dkim": v.dkim,
        "dmarc": v.dmarc,
        "dmarc_policy": v.dmarc_policy,
    }
    raw = mail.raw_event or {}
    data["mail"] = raw.get("mail", {})
    data["receipt"] = raw.get("receipt", {})
    return data


def failed_report(mail: InboundMail, error: str) -> MessageReport:
    """A report for a message whose forwarding never completed: every recipient failed."""
    return MessageReport.for_mail(
        mail, tuple(Outcome(r.lower(), "failed", "dead-lettered", detail=error) for r in mail.recipients)
    )


def to_json_line(record: dict[str, Any]) -> bytes:
    return json_line(record, default=str)
