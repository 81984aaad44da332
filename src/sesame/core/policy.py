"""Policy: what to do with each envelope recipient, before and after the message is read.

:func:`decide` needs only the SES event and the alias table, so a virus or spam verdict
drops mail without fetching it. :func:`check_message` looks at the stored message itself
(loops, size) and :func:`may_bounce` keeps bounces from becoming backscatter.
"""

from __future__ import annotations

from datetime import date

from sesame.core.aliases import AliasTable
from sesame.core.event import InboundMail
from sesame.core.message import ParsedMessage
from sesame.core.outcome import Decision
from sesame.core.rewrite import MARKER_HEADER
from sesame.core.settings import Settings

UNKNOWN_STATUS = "5.1.1"
POLICY_STATUS = "5.7.1"
TOO_BIG_STATUS = "5.3.4"
LOOP_STATUS = "5.4.6"


def decide(mail: InboundMail, table: AliasTable, settings: Settings, today: date | None = None) -> tuple[Decision, ...]:
    """One decision per envelope recipient (``receipt.recipients``, never the To header)."""
    day = today or mail.timestamp.date()
    verdict = _verdict_decision(mail, settings)
    return tuple(verdict(r) if verdict else _alias_decision(r, table, settings, day) for r in mail.recipients)


def _verdict_decision(mail: InboundMail, settings: Settings):  # type: ignore[no-untyped-def]
    v, policy = mail.verdicts, settings.verdicts
    if v.virus == "FAIL" and policy.virus_fail != "forward":
        action, reason = policy.virus_fail, "virus"
    elif v.spam == "FAIL" and policy.spam_fail != "forward":
        action, reason = policy.spam_fail, "spam"
    elif v.dmarc == "FAIL" and (v.dmarc_policy or "").lower() == "reject" and policy.dmarc_reject != "forward":
        action, reason = policy.dmarc_reject, "dmarc-reject"
    else:
        return None
    return lambda recipient: Decision(recipient.lower(), action, reason, status_code=POLICY_STATUS)


def _alias_decision(recipient: str, table: AliasTable, settings: Settings, day: date) -> Decision:
    found = table.resolve(recipient, day)
    if found.found:
        return Decision(found.recipient, "forward", "alias", found.rule, found.destinations, warnings=found.warnings)
    return Decision(
        found.recipient, settings.unknown, found.reason, found.rule, status_code=UNKNOWN_STATUS, warnings=found.warnings
    )


def check_message(decision: Decision, message: ParsedMessage, settings: Settings) -> Decision:
    """Re-decide a forward after reading the message: loops are dropped, oversize bounced."""
    if decision.action != "forward":
        return decision
    markers = {f.text().strip().lower() for f in message.get_all(MARKER_HEADER)}
    if decision.recipient in markers:
        return Decision(decision.recipient, "drop", "loop", decision.rule, status_code=LOOP_STATUS)
    if len(message.get_all("Received")) > settings.max_received:
        return Decision(decision.recipient, "drop", "too-many-hops", decision.rule, status_code=LOOP_STATUS)
    if len(message.raw) > settings.max_message_bytes:
        return Decision(decision.recipient, "bounce", "message-too-large", decision.rule, status_code=TOO_BIG_STATUS)
    return decision


def may_bounce(mail: InboundMail, message: ParsedMessage | None) -> str | None:
    """Why a bounce must not be sent (no backscatter), or ``None`` when it may."""
    source = mail.source.strip()
    if not source or source == "<>" or "@" not in source:
        return "null-sender"
    if source.lower().startswith(("mailer-daemon@", "postmaster@")):
        return "null-sender"
    if mail.verdicts.spam == "FAIL" or mail.verdicts.virus == "FAIL":
        return "spam"
    auto = message.first("Auto-Submitted") if message is not None else None
    value = auto.text() if auto is not None else mail.header("Auto-Submitted")
    if value is not None and value.strip().lower() != "no":
        return "auto-submitted"
    return None
