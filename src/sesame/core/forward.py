"""The forward path as a pipeline over ports:

decide (event + aliases) -> fetch (store) -> plan: parse, check (loops, size), prepare the
header block once, render one copy per forwarded alias, build at most one bounce -> send
(batches of 50) -> report (one outcome per recipient).

:func:`plan_message` is pure: everything a hostile message can make go wrong happens there,
and it is the one place such a failure is caught and turned into outcomes (``failed`` with
reason ``unprocessable-message``, the defect recorded), so a message never crashes the
handler. :class:`Forwarder` carries the plan out. A send that fails for a reason that may pass
(throttling, an outage, too little time left) becomes a ``failed`` outcome naming what did go
out, and the report is marked ``incomplete``: the caller records it, then raises so that Lambda
retries, and the retry sends only what is missing (:mod:`sesame.core.delivery`). Only fetching
the message raises directly.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sesame.core.addresses import envelope_address
from sesame.core.aliases import AliasTable
from sesame.core.bounce import build_dsn
from sesame.core.event import InboundMail
from sesame.core.message import Defect, ParsedMessage, parse_message
from sesame.core.notice import build_notice
from sesame.core.outcome import Decision, MessageReport, Outcome
from sesame.core.delivery import OutOfTime
from sesame.core.policy import check_message, decide, may_bounce
from sesame.core.ports import MessageStore, Sender, SendRejected, SuppressionList
from sesame.core.rewrite import RewriteResult, prepare, render
from sesame.core.settings import Settings


def batches(items: Sequence[str], size: int) -> list[tuple[str, ...]]:
    return [tuple(items[i : i + size]) for i in range(0, len(items), size)]


def send_key(message_id: str, destinations: Iterable[str]) -> str:
    """A stable name for one send: the same message to the same batch gets the same key."""
    digest = hashlib.sha256("\n".join(sorted(d.lower() for d in destinations)).encode()).hexdigest()
    return f"{message_id}:{digest[:32]}"


BOUNCE_KEY_SUFFIX = "bounce"
SUPPRESSED = "suppressed:"  # the reason prefix for a destination on the suppression list


@dataclass(frozen=True)
class Bounce:
    """The one DSN a message may get, for the recipients it covers (by decision index)."""

    indices: tuple[int, ...]
    to: str
    message: bytes | None  # None: held back (see ``held_back``) or could not be built
    held_back: str | None = None


@dataclass(frozen=True)
class Plan:
    """What to do with one message, decided without any I/O but reading it."""

    decisions: tuple[Decision, ...]
    copies: dict[int, RewriteResult]  # decision index -> the copy to send for that alias
    bounce: Bounce | None
    failures: dict[int, Outcome]  # decision index -> failed outcome (the core could not do it)
    defects: tuple[Defect, ...]
    size: int | None


def plan_message(
    mail: InboundMail,
    raw: Any,
    decisions: tuple[Decision, ...],
    settings: Settings,
    *,
    reporting_mta: str | None = None,
    now: datetime | None = None,
    kept_at: str = "",
    kept_until: datetime | None = None,
) -> Plan:
    """Parse ``raw`` once, check each decision against it, prepare the header block once and
    render the copy for each forwarded alias (or, for a message too large to send, a notice
    saying it is ``kept_at``); build the bounce if one may be sent."""
    defects: list[Defect] = []
    failures: dict[int, Outcome] = {}
    try:
        message = parse_message(raw)
        decisions = tuple(check_message(d, message, settings, mail) for d in decisions)
        needs_copy = any(d.action == "forward" and not d.notice for d in decisions)
        prepared = prepare(message, mail.source) if needs_copy else None
    except Exception as exc:  # noqa: BLE001 - hostile input the core failed to handle: an outcome
        defects.append(Defect("processing-error", type(exc).__name__))
        failed = {
            i: Outcome(d.recipient, "failed", "unprocessable-message", d.rule, detail=_describe(exc))
            for i, d in enumerate(decisions)
            if d.action != "drop"
        }
        return Plan(decisions, {}, None, failed, tuple(defects), len(raw))
    defects.extend(prepared.defects if prepared is not None else message.defects)

    copies: dict[int, RewriteResult] = {}
    for index, decision in enumerate(decisions):
        if decision.action != "forward":
            continue
        try:
            from_address = settings.from_address(decision.recipient)
            copy = render(prepared, decision.recipient, from_address) if prepared is not None and not decision.notice else None
            if copy is None or copy.size > settings.max_message_bytes:
                why = decision.notice or "message-too-large"
                decisions = decisions[:index] + (replace(decision, notice=why),) + decisions[index + 1 :]
                notice = build_notice(
                    alias=decision.recipient, from_address=from_address, sender=mail.source, subject=mail.subject,
                    reason=why, size=len(raw), limit=settings.max_message_bytes, received=mail.timestamp,
                    kept_at=kept_at or "the mail bucket", kept_until=kept_until, now=now or datetime.now(UTC),
                )
                copy = RewriteResult(notice, memoryview(b""), (), ())
            copies[index] = copy
        except Exception as exc:  # noqa: BLE001 - e.g. a From template that gives no address
            defects.append(Defect("processing-error", type(exc).__name__))
            failures[index] = Outcome(decision.recipient, "failed", "unprocessable-message", decision.rule, detail=_describe(exc))

    bounce: Bounce | None = None
    bounced = tuple(i for i, d in enumerate(decisions) if d.action == "bounce")
    if bounced:
        bounce = _plan_bounce(mail, message, decisions, bounced, settings, reporting_mta, now, defects)
    return Plan(decisions, copies, bounce, failures, tuple(dict.fromkeys(defects)), len(raw))


def _plan_bounce(
    mail: InboundMail,
    message: ParsedMessage,
    decisions: tuple[Decision, ...],
    bounced: tuple[int, ...],
    settings: Settings,
    reporting_mta: str | None,
    now: datetime | None,
    defects: list[Defect],
) -> Bounce:
    held_back = may_bounce(mail, message)
    to = envelope_address(mail.source)
    if held_back is not None or to is None:
        return Bounce(bounced, mail.source, None, held_back or "invalid-sender")
    domain = decisions[bounced[0]].recipient.rpartition("@")[2]
    try:
        dsn = build_dsn(
            bounce_from=f"{settings.bounce_sender_local}@{domain}",
            to=to,
            decisions=[decisions[i] for i in bounced],
            original=message,
            original_message_id=mail.message_id,
            reporting_mta=reporting_mta or domain,
            arrival=mail.timestamp,
            now=now or datetime.now(UTC),
        )
    except Exception as exc:  # noqa: BLE001 - a bounce that cannot be built safely is not sent
        defects.append(Defect("processing-error", type(exc).__name__))
        return Bounce(bounced, to, None, f"cannot build a safe bounce: {type(exc).__name__}")
    return Bounce(bounced, to, dsn)


def _with_suppressed(outcome: Outcome, left_out: tuple[tuple[str, str], ...]) -> Outcome:
    """The recipient's one outcome, naming the destinations suppression left out."""
    if not left_out:
        return outcome
    told = "; ".join(f"not sent to {d}: {why}" for d, why in left_out)
    detail = f"{outcome.detail}; {told}" if outcome.detail else told
    return replace(outcome, suppressed=left_out, detail=detail)


def _describe(exc: BaseException) -> str:
    """An error for the record: its type and a short, printable message (hostile text cut)."""
    text = "".join(ch if " " <= ch < "\x7f" else "?" for ch in str(exc))[:200]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


@dataclass
class Forwarder:
    store: MessageStore
    sender: Sender
    settings: Settings
    reporting_mta: str | None = None  # the DSN's Reporting-MTA; default: the recipient's domain
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    retention_days: int | None = None  # how long the store keeps a received message
    suppressions: SuppressionList | None = None  # destinations not to send to (SES feedback)

    def handle(self, mail: InboundMail, table: AliasTable, *, release: bool = False) -> MessageReport:
        decisions = decide(mail, table, self.settings, release=release)
        if any(d.action == "quarantine" for d in decisions):
            kept = self.store.quarantine(mail)  # an infrastructure failure raises: Lambda retries
            outcomes = tuple(
                Outcome(d.recipient, "dropped", d.reason, d.rule, detail=f"quarantined: {kept}")
                if d.action == "quarantine"
                else Outcome(d.recipient, "dropped", d.reason, d.rule)
                for d in decisions
            )
            return MessageReport.for_mail(mail, outcomes)
        # Checked before anything is fetched or sent: a list that cannot be read raises with
        # nothing sent yet, and Lambda retries the whole message.
        decisions, suppressed = self._suppress(decisions)
        if not any(d.action != "drop" for d in decisions):
            outcomes = tuple(
                _with_suppressed(Outcome(d.recipient, "dropped", d.reason, d.rule), suppressed.get(i, ()))
                for i, d in enumerate(decisions)
            )
            return MessageReport.for_mail(mail, outcomes)
        raw = self.store.fetch(mail)  # an infrastructure failure raises: Lambda retries
        plan = plan_message(
            mail, raw, decisions, self.settings, reporting_mta=self.reporting_mta, now=self.clock(),
            kept_at=self.store.location(mail),
            kept_until=mail.timestamp + timedelta(days=self.retention_days) if self.retention_days else None,
        )
        outcomes: dict[int, Outcome] = dict(plan.failures)
        run = _Run(mail)
        for index, decision in enumerate(plan.decisions):
            if index in outcomes:
                continue
            if decision.action == "forward":
                outcomes[index] = self._forward(run, decision, plan.copies[index])
            elif decision.action == "drop":
                outcomes[index] = Outcome(decision.recipient, "dropped", decision.reason, decision.rule)
        if plan.bounce is not None:
            outcomes.update(self._bounce(run, plan.decisions, plan.bounce))
        return MessageReport.for_mail(
            mail,
            tuple(
                # A forward the message itself turned into a drop (a loop, a blocked sender)
                # would have reached no destination anyway: suppression is not told there.
                _with_suppressed(outcomes[i], suppressed.get(i, ()))
                if d.action == "forward" or d.reason.startswith(SUPPRESSED)
                else outcomes[i]
                for i, d in enumerate(plan.decisions)
            ),
            size=plan.size,
            defects=plan.defects,
            incomplete=run.incomplete,
        )

    def _suppress(
        self, decisions: tuple[Decision, ...]
    ) -> tuple[tuple[Decision, ...], dict[int, tuple[tuple[str, str], ...]]]:
        """Take suppressed destinations out of each forward decision, keeping (destination,
        ``suppressed:<why>``) for its outcome; a decision left with no destination becomes a
        drop for the first one's reason. The list is read once for the whole message."""
        if self.suppressions is None:
            return decisions, {}
        wanted: dict[str, list[str]] = {}
        for decision in decisions:
            if decision.action == "forward" and decision.destinations:
                wanted.setdefault(decision.recipient, []).extend(decision.destinations)
        found = self.suppressions.suppressed_by_alias(wanted, self.clock()) if wanted else {}
        kept: list[Decision] = []
        left_out: dict[int, tuple[tuple[str, str], ...]] = {}
        for index, decision in enumerate(decisions):
            lowered = (
                {d.lower(): why for d, why in found.get(decision.recipient, {}).items()}
                if decision.action == "forward" and decision.destinations else {}
            )
            if not lowered:
                kept.append(decision)
                continue
            left_out[index] = tuple(
                (d, f"{SUPPRESSED}{lowered[d.lower()]}") for d in decision.destinations if d.lower() in lowered
            )
            remaining = tuple(d for d in decision.destinations if d.lower() not in lowered)
            if remaining:
                kept.append(replace(decision, destinations=remaining))
            else:
                kept.append(replace(decision, action="drop", reason=left_out[index][0][1], destinations=()))
        return tuple(kept), left_out

    def _forward(self, run: _Run, decision: Decision, copy: RewriteResult) -> Outcome:
        # One destination gets one copy per message, even when two of its aliases were addressed.
        destinations = [d for d in decision.destinations if d.lower() not in run.already_sent]
        if not destinations:
            return Outcome(decision.recipient, "dropped", "already-forwarded", decision.rule)
        outgoing = (copy.head, copy.body)  # the body is never copied here
        sent: list[str] = []
        ids: list[str] = []
        for batch in batches(destinations, self.settings.batch_size):
            failure = run.send(self.sender, outgoing, batch, send_key(run.mail.message_id, batch))
            if failure is not None:
                reason, detail = failure
                return Outcome(decision.recipient, "failed", reason, decision.rule, tuple(sent), tuple(ids), detail)
            ids.append(run.last_id)
            sent.extend(batch)
            run.already_sent.update(d.lower() for d in batch)
        if decision.notice:
            detail = f"{decision.notice}: a notice was sent instead of the message, which is kept"
            return Outcome(decision.recipient, "forwarded", "notice-only", decision.rule, tuple(sent), tuple(ids), detail)
        return Outcome(decision.recipient, "forwarded", decision.reason, decision.rule, tuple(sent), tuple(ids))

    def _bounce(self, run: _Run, decisions: tuple[Decision, ...], bounce: Bounce) -> dict[int, Outcome]:
        if bounce.message is None:
            return {
                i: Outcome(decisions[i].recipient, "dropped", decisions[i].reason, decisions[i].rule,
                           detail=f"bounce held back: {bounce.held_back}")
                for i in bounce.indices
            }
        failure = run.send(self.sender, bounce.message, [bounce.to], f"{run.mail.message_id}:{BOUNCE_KEY_SUFFIX}")
        if failure is not None:
            return {
                i: Outcome(decisions[i].recipient, "failed", decisions[i].reason, decisions[i].rule,
                           detail=f"bounce not sent: {failure[1]}")
                for i in bounce.indices
            }
        return {
            i: Outcome(decisions[i].recipient, "bounced", decisions[i].reason, decisions[i].rule, (bounce.to,), (run.last_id,))
            for i in bounce.indices
        }


class _Run:
    """One message's sends: what went out, and whether the message must be tried again."""

    def __init__(self, mail: InboundMail) -> None:
        self.mail = mail
        self.already_sent: set[str] = set()
        self.incomplete = False  # a send failed for a reason that may pass: retry the message
        self.out_of_time = False
        self.last_id = ""

    def send(self, sender: Sender, message: Any, destinations: Sequence[str], key: str) -> tuple[str, str] | None:
        """Send, keeping the SES message id in ``last_id``; a failure is (reason, detail)."""
        if self.out_of_time:
            self.incomplete = True
            return "out-of-time", "not tried: the invocation ran out of time before this send"
        try:
            self.last_id = sender.send_raw(message, destinations, key=key)
        except SendRejected as exc:
            return "ses-rejected", str(exc)
        except OutOfTime as exc:
            self.out_of_time = self.incomplete = True
            return "out-of-time", str(exc)
        except Exception as exc:  # noqa: BLE001 - recorded with what went out, then raised by the caller
            self.incomplete = True
            return "send-failed", _describe(exc)
        return None
