"""What becomes of a destination's copy after SES accepted it: delivered, bounced, or
delivered and then complained about.

Three sources decide it here, as they would in AWS:

- **SES's mailbox simulator** (SES Developer Guide, "Using the mailbox simulator"): addresses
  on ``simulator.amazonses.com`` that SES answers for itself, so nothing leaves SES (no relay):

  ===============================  ==================================================================
  ``success@``                     delivered; only a delivery event (not one this stack publishes)
  ``bounce@``                      refused with ``550 5.1.1`` ("Unknown User"): a hard bounce
                                   (Permanent/General). The guide: the address is *not* put on the
                                   account's suppression list, as a real hard bounce would be.
  ``ooto@``                        delivered; the mailbox answers with an out-of-office reply to the
                                   Return-Path, or the MAIL FROM (SES's own address for Sesame's
                                   sends): an automatic reply, none of the bounce, complaint, delay
                                   or reject events the configuration set publishes
  ``complaint@``                   delivered, then marked as spam: a complaint (feedback type
                                   ``abuse``, RFC 5965 ARF)
  ``suppressionlist@``             a hard bounce "as if the address were on the suppression list":
                                   Permanent/OnAccountSuppressionList, never handed to a mailbox
  ===============================  ==================================================================

  The guide's labels work: ``bounce+label1@simulator.amazonses.com`` acts as ``bounce@``. Any
  other simulator address is not one the guide documents and is treated as an ordinary one.
- **``sesame local --feedback KIND=ADDRESS``**: an ordinary destination made to bounce (hard or
  soft) or complain, so the loop can be tried with the addresses an alias really uses. Such a
  destination is answered here too, never relayed.
- **The relay** (``--relay``): its refusal of a recipient (:func:`relay_fate`).

The bounce and complaint objects' fields follow "Contents of event data that Amazon SES
publishes" (SES Developer Guide) and the samples in ``events/`` (``ses_feedback_bounce.json``,
``ses_feedback_bounce_soft.json``, ``ses_feedback_bounce_suppressed.json``,
``ses_feedback_complaint.json``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Literal

from sesame.core.addresses import InvalidAddress, normalize_address

SIMULATOR_DOMAIN = "simulator.amazonses.com"
Kind = Literal["delivered", "bounce", "complaint"]
# The --feedback kinds, and what each makes of a destination.
FEEDBACK_KINDS = ("bounce", "soft-bounce", "complaint")
# The MTA that reports a bounce SES got from the receiving server, and SES itself when it
# never handed the message on (the samples in events/).
SES_REPORTING_MTA = "dns; a8-21.smtp-out.amazonses.com"
SES_ITSELF = "dns; amazonses.com"
SUPPRESSED_DIAGNOSTIC = (
    "Amazon SES did not send the message to this address because it is on the suppression list for your "
    "account. For more information about removing addresses from the suppression list, see the Amazon SES "
    "Developer Guide at https://docs.aws.amazon.com/ses/latest/DeveloperGuide/sending-email-suppression-list.html"
)
# The receiving server a simulated refusal comes from: this machine.
LOCAL_MTA_IP = "127.0.0.1"
_ENHANCED = re.compile(r"\b([245]\.\d{1,3}\.\d{1,3})\b")


@dataclass(frozen=True)
class Fate:
    """One destination's fate after SES accepted the message."""

    kind: Kind
    why: str  # for people: "simulator bounce@", "--feedback complaint", "relay"
    bounce_type: str | None = None  # Permanent, Transient
    bounce_subtype: str | None = None  # General, MailboxFull, OnAccountSuppressionList, ...
    status: str | None = None  # the enhanced status code (RFC 3463)
    diagnostic: str | None = None  # what the receiving server said, "smtp; <reply>"
    reporting_mta: str | None = None
    feedback_type: str | None = None  # a complaint's ARF feedback type
    remote_mta_ip: str | None = None  # the server that refused it; None when SES never handed it on

    @property
    def bounced(self) -> bool:
        return self.kind == "bounce"

    @property
    def smtp_response(self) -> str:
        if self.diagnostic:
            return self.diagnostic.removeprefix("smtp; ")
        return "250 2.0.0 OK" if self.kind != "bounce" else (self.status or "")


DELIVERED = Fate("delivered", "simulator success@")
HARD_BOUNCE = Fate(
    "bounce", "", "Permanent", "General", "5.1.1", "smtp; 550 5.1.1 user unknown", SES_REPORTING_MTA,
    remote_mta_ip=LOCAL_MTA_IP,
)
SOFT_BOUNCE = Fate(
    "bounce",
    "",
    "Transient",
    "MailboxFull",
    "4.2.2",
    "smtp; 452 4.2.2 The email account that you tried to reach is over quota.",
    SES_REPORTING_MTA,
    remote_mta_ip=LOCAL_MTA_IP,
)
COMPLAINT = Fate("complaint", "", feedback_type="abuse")
SIMULATOR: dict[str, Fate] = {
    "success": DELIVERED,
    "ooto": Fate("delivered", "simulator ooto@ (an automatic reply, no event)"),
    "bounce": replace(HARD_BOUNCE, why="simulator bounce@"),
    "complaint": replace(COMPLAINT, why="simulator complaint@"),
    "suppressionlist": Fate(
        "bounce",
        "simulator suppressionlist@",
        "Permanent",
        "OnAccountSuppressionList",
        "5.1.1",
        SUPPRESSED_DIAGNOSTIC,
        SES_ITSELF,
    ),
}
MARKED: dict[str, Fate] = {
    "bounce": replace(HARD_BOUNCE, why="--feedback bounce"),
    "soft-bounce": replace(SOFT_BOUNCE, why="--feedback soft-bounce"),
    "complaint": replace(COMPLAINT, why="--feedback complaint"),
}


def parse_feedback_marks(values: Iterable[str]) -> dict[str, str]:
    """``--feedback`` values (``KIND=ADDRESS``, comma-separated or repeated) -> {address: kind}.

    Raises ValueError with a one-line reason for a bad kind, a bad address, or one address
    given two kinds.
    """
    marks: dict[str, str] = {}
    for value in values:
        for item in (part.strip() for part in value.split(",")):
            if not item:
                continue
            kind, sep, address = (x.strip() for x in item.partition("="))
            if not sep or kind not in FEEDBACK_KINDS:
                raise ValueError(
                    f"--feedback {item!r}: expected KIND=ADDRESS with KIND one of {', '.join(FEEDBACK_KINDS)}"
                )
            try:
                normalized = normalize_address(address)
            except InvalidAddress as exc:
                raise ValueError(f"--feedback {item!r}: {exc}") from None
            if marks.get(normalized, kind) != kind:
                raise ValueError(f"--feedback: {normalized} is marked both {marks[normalized]} and {kind}")
            marks[normalized] = kind
    return marks


def simulator_fate(destination: str) -> Fate | None:
    """The mailbox simulator's answer for ``destination``, labels ignored; None if not one of its addresses."""
    local, _, domain = destination.strip().lower().rpartition("@")
    if domain != SIMULATOR_DOMAIN:
        return None
    return SIMULATOR.get(local.partition("+")[0])


class Fates:
    """Which destinations SES answers for here: the simulator's, and those marked with ``--feedback``."""

    def __init__(self, marks: Mapping[str, str] | None = None) -> None:
        self.marks = {normalize_address(a): k for a, k in (marks or {}).items()}

    def of(self, destination: str) -> Fate | None:
        simulated = simulator_fate(destination)
        if simulated is not None:
            return simulated
        try:
            kind = self.marks.get(normalize_address(destination))
        except InvalidAddress:
            return None
        return MARKED[kind] if kind else None


def relay_fate(code: int, reply: str, *, permanent: bool, relay_ip: str | None = None) -> Fate:
    """A relay's refusal as SES reports it: a 5xx is a hard bounce; a temporary failure SES
    gave up on (after its retries) a soft one. Both General: the reply says no more."""
    found = _ENHANCED.search(reply)
    status = found.group(1) if found else ("5.0.0" if permanent else "4.0.0")
    return Fate(
        "bounce",
        "relay",
        "Permanent" if permanent else "Transient",
        "General",
        status,
        f"smtp; {code} {reply}".strip() if code else f"smtp; {reply}",
        SES_REPORTING_MTA,
        remote_mta_ip=relay_ip if code else None,  # no answer at all: no server refused it
    )


__all__ = ["FEEDBACK_KINDS", "Fate", "Fates", "parse_feedback_marks", "relay_fate", "simulator_fate"]
