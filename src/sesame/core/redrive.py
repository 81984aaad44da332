"""What a redrive did to one message, told per recipient: which destinations got the message
now, which already had it (their send was on record and so skipped), and what still fails.

A redrive replays the original SES event through the forwarder. The forwarder's report
(:meth:`sesame.core.outcome.MessageReport.as_dict`) lists, per recipient, the destinations
the message reached and the SES message ids; the sends the runner saw leave for SES during
the replay (:class:`SentCopy`) tell which of those went out now. A destination in the report
that no send of this replay covered was delivered before and skipped by the send ledger.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class SentCopy:
    """One send that reached SES during the replay (SES answered with a message id)."""

    destinations: tuple[str, ...]
    ses_message_id: str


@dataclass(frozen=True)
class RecipientRedrive:
    recipient: str
    status: str
    reason: str
    resent: tuple[str, ...]
    already_delivered: tuple[str, ...]
    detail: str | None = None


@dataclass(frozen=True)
class MessageRedrive:
    message_id: str
    source: str
    recipients: tuple[RecipientRedrive, ...]
    error: str | None = None  # the forwarder raised: nothing below is final
    sends_known: bool = True  # False: the runner cannot tell resent from already delivered

    @property
    def succeeded(self) -> bool:
        """Done for good: the forwarder finished and no recipient failed."""
        return self.error is None and all(r.status != "failed" for r in self.recipients)


def summarize(
    report: Mapping[str, Any] | None,
    sent: Sequence[SentCopy] | None,
    *,
    message_id: str,
    source: str = "",
    error: str | None = None,
) -> MessageRedrive:
    """One message's redrive from the forwarder's report and the sends seen (None: unknown)."""
    if report is None:
        resent = tuple(d for copy in sent or () for d in copy.destinations)
        partial = (RecipientRedrive("(before the error)", "failed", "redrive-error", resent, ()),) if resent else ()
        return MessageRedrive(message_id, source, partial, error or "the forwarder returned no report", sent is not None)
    sent_now = {d.lower() for copy in sent or () for d in copy.destinations}
    recipients = []
    for outcome in report.get("outcomes") or []:
        destinations = tuple(str(d) for d in outcome.get("destinations") or ())
        if sent is None:
            resent, earlier = (), destinations
        else:
            resent = tuple(d for d in destinations if d.lower() in sent_now)
            earlier = tuple(d for d in destinations if d.lower() not in sent_now)
        recipients.append(
            RecipientRedrive(
                recipient=str(outcome.get("recipient", "")),
                status=str(outcome.get("status", "")),
                reason=str(outcome.get("reason", "")),
                resent=resent,
                already_delivered=earlier,
                detail=outcome.get("detail"),
            )
        )
    return MessageRedrive(
        message_id=str(report.get("message_id") or message_id),
        source=str(report.get("source") if report.get("source") is not None else source),
        recipients=tuple(recipients),
        error=error,
        sends_known=sent is not None,
    )


def describe(result: MessageRedrive) -> list[str]:
    """Lines a person reads: the message, then one line per recipient."""
    if result.succeeded:
        verdict = "redriven"
    elif result.error is not None:
        verdict = f"still failing: {result.error}"
    else:
        verdict = "still failing"
    lines = [f"{result.message_id} from <{result.source}>: {verdict}"]
    for r in result.recipients:
        parts = []
        if r.resent:
            parts.append(f"sent now to {', '.join(r.resent)}")
        if r.already_delivered:
            label = "already delivered (skipped) to" if result.sends_known else "delivered to"
            parts.append(f"{label} {', '.join(r.already_delivered)}")
        if r.status != "forwarded" or not parts:
            parts.append(r.reason + (f": {r.detail}" if r.detail else ""))
        lines.append(f"  {r.recipient} {r.status}: {'; '.join(parts)}")
    return lines


def reports_by_message(reports: Iterable[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    return {str(r.get("message_id")): r for r in reports if isinstance(r, Mapping)}


__all__ = ["MessageRedrive", "RecipientRedrive", "SentCopy", "describe", "reports_by_message", "summarize"]
