"""The forward path as a pipeline over ports:

decide (event + aliases) -> fetch (store) -> check (loops, size) -> rewrite -> send
(batches of 50) -> bounce (one DSN per message) -> report (one outcome per recipient).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sesame.core.aliases import AliasTable
from sesame.core.bounce import build_dsn
from sesame.core.event import InboundMail
from sesame.core.message import Defect, ParsedMessage, parse_message
from sesame.core.outcome import Decision, MessageReport, Outcome
from sesame.core.policy import check_message, decide, may_bounce
from sesame.core.ports import MessageStore, Sender, SendRejected
from sesame.core.rewrite import RewriteOptions, RewriteResult, rewrite
from sesame.core.settings import Settings


def batches(items: Sequence[str], size: int) -> list[tuple[str, ...]]:
    return [tuple(items[i : i + size]) for i in range(0, len(items), size)]


def send_key(message_id: str, destinations: Iterable[str]) -> str:
    """A stable name for one send: the same message to the same batch gets the same key."""
    digest = hashlib.sha256("\n".join(sorted(d.lower() for d in destinations)).encode()).hexdigest()
    return f"{message_id}:{digest[:32]}"


def rewrite_for(message: ParsedMessage, mail: InboundMail, decision: Decision, settings: Settings) -> RewriteResult:
    """The copy of ``message`` that goes out for one forwarded recipient."""
    options = RewriteOptions(
        alias=decision.recipient,
        from_address=settings.from_address(decision.recipient),
        envelope_sender=mail.source,
    )
    return rewrite(message, options)


@dataclass
class Forwarder:
    store: MessageStore
    sender: Sender
    settings: Settings
    reporting_mta: str | None = None  # the DSN's Reporting-MTA; default: the recipient's domain
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))

    def handle(self, mail: InboundMail, table: AliasTable) -> MessageReport:
        decisions = decide(mail, table, self.settings)
        message: ParsedMessage | None = None
        if any(d.action != "drop" for d in decisions):
            message = parse_message(self.store.fetch(mail))
            decisions = tuple(check_message(d, message, self.settings) for d in decisions)

        defects: dict[Defect, None] = dict.fromkeys(message.defects if message else ())
        outcomes: dict[int, Outcome] = {}
        already_sent: set[str] = set()
        for index, decision in enumerate(decisions):
            if decision.action == "forward":
                assert message is not None
                outcomes[index] = self._forward(mail, message, decision, already_sent, defects)
            elif decision.action == "drop":
                outcomes[index] = Outcome(decision.recipient, "dropped", decision.reason, decision.rule)
        bounced = [(i, d) for i, d in enumerate(decisions) if d.action == "bounce"]
        if bounced:
            outcomes.update(self._bounce(mail, message, bounced))

        return MessageReport.for_mail(
            mail,
            tuple(outcomes[i] for i in range(len(decisions))),
            size=len(message.raw) if message else None,
            defects=tuple(defects),
        )

    def _forward(
        self,
        mail: InboundMail,
        message: ParsedMessage,
        decision: Decision,
        already_sent: set[str],
        defects: dict[Defect, None],
    ) -> Outcome:
        # One destination gets one copy per message, even when two of its aliases were addressed.
        destinations = [d for d in decision.destinations if d.lower() not in already_sent]
        if not destinations:
            return Outcome(decision.recipient, "dropped", "already-forwarded", decision.rule)
        result = rewrite_for(message, mail, decision, self.settings)
        defects.update(dict.fromkeys(result.defects))
        outgoing = (result.head, result.body)  # the body is never copied here
        sent: list[str] = []
        ids: list[str] = []
        for batch in batches(destinations, self.settings.batch_size):
            try:
                ids.append(self.sender.send_raw(outgoing, batch, key=send_key(mail.message_id, batch)))
            except SendRejected as exc:
                return Outcome(
                    decision.recipient, "failed", "ses-rejected", decision.rule, tuple(sent), tuple(ids), str(exc)
                )
            sent.extend(batch)
            already_sent.update(d.lower() for d in batch)
        return Outcome(decision.recipient, "forwarded", decision.reason, decision.rule, tuple(sent), tuple(ids))

    def _bounce(
        self, mail: InboundMail, message: ParsedMessage | None, bounced: list[tuple[int, Decision]]
    ) -> dict[int, Outcome]:
        held_back = may_bounce(mail, message)
        if held_back is not None:
            return {
                i: Outcome(d.recipient, "dropped", d.reason, d.rule, detail=f"bounce held back: {held_back}")
                for i, d in bounced
            }
        decisions = [d for _, d in bounced]
        domain = decisions[0].recipient.rpartition("@")[2]
        dsn = build_dsn(
            bounce_from=f"{self.settings.bounce_sender_local}@{domain}",
            to=mail.source,
            decisions=decisions,
            original=message,
            original_message_id=mail.message_id,
            reporting_mta=self.reporting_mta or domain,
            arrival=mail.timestamp,
            now=self.clock(),
        )
        try:
            ses_id = self.sender.send_raw(dsn, [mail.source], key=f"{mail.message_id}:bounce")
        except SendRejected as exc:
            return {i: Outcome(d.recipient, "failed", d.reason, d.rule, detail=f"bounce refused: {exc}") for i, d in bounced}
        return {i: Outcome(d.recipient, "bounced", d.reason, d.rule, (mail.source,), (ses_id,)) for i, d in bounced}
