"""Policy: what to do with each envelope recipient, before and after the message is read.

:func:`decide` needs only the SES event and the alias table, so a virus or spam verdict
drops mail without fetching it. :func:`check_message` looks at the stored message itself
(loops, size) and :func:`may_bounce` keeps bounces from becoming backscatter.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import date

from sesame.core.addresses import (
    envelope_address,
    is_valid_address,
    parse_address_list,
    same_organization,
    strip_comments,
)
from sesame.core.aliases import AliasTable, sender_matches
from sesame.core.event import InboundMail
from sesame.core.message import ParsedMessage
from sesame.core.outcome import Decision
from sesame.core.rewrite import MARKER_HEADER
from sesame.core.settings import Settings

UNKNOWN_STATUS = "5.1.1"
BAD_ADDRESS_STATUS = "5.1.3"
POLICY_STATUS = "5.7.1"
TOO_BIG_STATUS = "5.3.4"
LOOP_STATUS = "5.4.6"

# RFC 3834 section 2 and common practice: addresses that are software, not people; a bounce
# to them is at best ignored and at worst answered.
_DAEMON = re.compile(
    r"^(mailer-daemon|postmaster|listserv|majordomo|owner-.*|.*-request|.*-owner|.*-bounces?"
    r"|bounces?(\+.*)?|no-?reply|do-?not-?reply|noreply-.*)$",
    re.IGNORECASE,
)
_BULK_PRECEDENCE = frozenset({"bulk", "junk", "list"})
_DKIM_DOMAIN = re.compile(r"\bdkim=pass\b[^;]*?\bheader\.[id]=@?([A-Za-z0-9.-]+)", re.IGNORECASE)
SES_AUTHSERV_ID = "amazonses.com"


def decide(
    mail: InboundMail, table: AliasTable, settings: Settings, today: date | None = None, *, release: bool = False
) -> tuple[Decision, ...]:
    """One decision per envelope recipient (``receipt.recipients``, never the To header).
    ``release``: an operator released this message from quarantine, so SES's verdicts are
    not applied again."""
    day = today or mail.timestamp.date()
    verdict = None if release else _verdict_decision(mail, settings)
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
    if not is_valid_address(recipient.strip().strip("<>")):
        # Not an address SES could receive for (non-ASCII, bad syntax): never resolved, so no
        # catch-all turns it into a From Sesame cannot write.
        return Decision(recipient.strip().lower(), settings.unknown, "invalid-recipient", status_code=BAD_ADDRESS_STATUS)
    found = table.resolve(recipient, day)
    if found.found:
        return Decision(
            found.recipient, "forward", "alias", found.rule, found.destinations,
            warnings=found.warnings, block=found.block, allow=found.allow,
        )
    return Decision(
        found.recipient, settings.unknown, found.reason, found.rule, status_code=UNKNOWN_STATUS, warnings=found.warnings
    )


def check_message(
    decision: Decision, message: ParsedMessage, settings: Settings, mail: InboundMail | None = None
) -> Decision:
    """Re-decide a forward after reading the message: loops are dropped, a message too large
    to send becomes a notice."""
    if decision.action != "forward":
        return decision
    if mail is not None:
        refused = _sender_refused(decision, mail, message)
        if refused is not None:
            return Decision(decision.recipient, "drop", refused, decision.rule, status_code=POLICY_STATUS)
    markers = {f.text().strip().lower() for f in message.get_all(MARKER_HEADER)}
    if decision.recipient in markers:
        return Decision(decision.recipient, "drop", "loop", decision.rule, status_code=LOOP_STATUS)
    if len(message.get_all("Received")) > settings.max_received:
        return Decision(decision.recipient, "drop", "too-many-hops", decision.rule, status_code=LOOP_STATUS)
    # Too large to send: the destinations get a notice instead (sesame.core.notice), never a
    # bounce to a sender who may be forged, never silence.
    if message.headers_overflow:
        return replace(decision, notice="headers-too-large")
    if message.size > settings.max_message_bytes:
        return replace(decision, notice="message-too-large")
    return decision


def _sender_refused(decision: Decision, mail: InboundMail, message: ParsedMessage) -> str | None:
    """``blocked-sender`` when the envelope sender or a From address matches a block pattern;
    ``sender-not-allowed`` when the alias has an allow list the sender is not on. An allow list
    trusts only authenticated identities: a From address with DMARC passed, or the envelope
    sender with SPF passed (anyone can write any From)."""
    if not (decision.block or decision.allow):
        return None
    envelope = envelope_address(mail.source)
    from_addresses = message.from_addresses
    candidates = [a for a in (envelope, *from_addresses) if a]
    if any(sender_matches(a, decision.block) for a in candidates):
        return "blocked-sender"
    if decision.allow:
        authenticated = [a for a in from_addresses if mail.verdicts.dmarc == "PASS"]
        if envelope and mail.verdicts.spf == "PASS":
            authenticated.append(envelope)
        if not any(sender_matches(a, decision.allow) for a in authenticated):
            return "sender-not-allowed"
    return None


def may_bounce(mail: InboundMail, message: ParsedMessage | None) -> str | None:
    """Why a bounce must not be sent (no backscatter), or ``None`` when it may.

    A bounce goes only to a sender that authenticated: SES's SPF verdict passed for the
    envelope sender's domain, or DMARC passed for a From domain aligned with it, or a DKIM
    signature that SES verified was made by a domain aligned with it. Never when DMARC failed
    (the From is forged: whatever the policy says, no DSN), never for spam or viruses, never to
    a null sender or a daemon, and never for mailing-list, bulk or automatic mail.
    """
    if mail.source.strip(" \t") in ("", "<>"):
        return "null-sender"
    source = envelope_address(mail.source)
    if source is None:
        return "invalid-sender"
    local, _, domain = source.rpartition("@")
    if _DAEMON.match(local):
        return "daemon-sender"
    v = mail.verdicts
    if v.virus == "FAIL":
        return "virus"
    if v.spam == "FAIL":
        return "spam"
    if v.dmarc == "FAIL":
        return "dmarc-fail"
    held = _automatic(mail, message)
    if held is not None:
        return held
    if message is not None and _header_block_cut(message):
        # The fields past the cut were never read: one of them may say list, bulk or
        # automatic mail, so no bounce (never backscatter on what was not seen).
        return "headers-not-read"
    if not _authenticated(mail, message, domain):
        return "unauthenticated-sender"
    return None


def _values(mail: InboundMail, message: ParsedMessage | None, name: str) -> list[str]:
    if message is not None:
        return [f.text() for f in message.get_all(name)]
    return [value for n, value in mail.headers if n.lower() == name.lower()]


def _automatic(mail: InboundMail, message: ParsedMessage | None) -> str | None:
    """Mailing-list, bulk or automatically submitted mail (RFC 3834, RFC 2919)."""
    if any(_keyword(value) != "no" for value in _values(mail, message, "Auto-Submitted")):
        return "auto-submitted"
    if _values(mail, message, "List-Id"):
        return "list-mail"
    if any(_keyword(value) in _BULK_PRECEDENCE for value in _values(mail, message, "Precedence")):
        return "bulk-mail"
    return None


def _header_block_cut(message: ParsedMessage) -> bool:
    cut = {"headers-too-large", "header-block-too-large", "too-many-header-fields"}
    return message.headers_overflow or any(d.kind in cut for d in message.defects)


def _keyword(value: str) -> str:
    """A one-word field's word: comments and folding whitespace are not part of it (RFC 3834's
    ``Auto-Submitted: no (by hand)`` is ``no``; ``Precedence: (c) list`` is ``list``)."""
    return " ".join(strip_comments(value).split()).lower()


def _authenticated(mail: InboundMail, message: ParsedMessage | None, domain: str) -> bool:
    v = mail.verdicts
    if v.spf == "PASS":  # SES checks SPF for the MAIL FROM domain: the address a bounce goes to
        return True
    if v.dmarc == "PASS" and any(same_organization(d, domain) for d in _from_domains(mail, message)):
        return True
    if v.dkim == "PASS":
        return any(same_organization(d, domain) for d in _ses_dkim_domains(mail, message))
    return False


def _from_domains(mail: InboundMail, message: ParsedMessage | None) -> list[str]:
    if message is not None and message.first("From") is not None:
        addresses = message.from_addresses
    else:  # not read yet, or no From in it: SES's copy of the From in the event
        addresses = tuple(m.address for text in mail.header_from[:1] for m in parse_address_list(text).valid_mailboxes)
    return [address.rpartition("@")[2] for address in addresses]


def _ses_dkim_domains(mail: InboundMail, message: ParsedMessage | None) -> list[str]:
    """Domains of the DKIM signatures SES verified, from the Authentication-Results field SES
    put on top of the message. Only the first such field counts: a sender can write any
    Authentication-Results of their own below it."""
    results = _values(mail, message, "Authentication-Results")
    if not results:
        return []
    first = results[0]
    if first.split(";", 1)[0].strip().lower() != SES_AUTHSERV_ID:
        return []
    return [m.group(1).rstrip(".") for m in _DKIM_DOMAIN.finditer(first)]
