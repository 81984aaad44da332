"""Sends that happen once, as far as anything Sesame does can make them: a small
conditional-write protocol over a ledger (DynamoDB in AWS), keyed per (received message,
destination batch).

SES v2 ``SendEmail`` has no idempotency token, so one case cannot be ruled out: SES accepted a
send and its answer was lost (a read timeout or a reset connection after the request went out).
Sesame then sends again, because not sending could lose the mail; that is the only extra copy
this protocol allows, and each one is counted (``possible_duplicates``). Every other way to
send twice (a retry after a partial success, a redrive, a completion write that failed, an
invocation that died) is closed by the ledger.

A record per send key moves through these states::

    (none) --claim--> SENDING --SES accepted, complete--> SENT (with the SES message id)
                         |--SES refused, or the request never reached SES--> UNSENT
                         '--the request may have reached SES, no answer----> UNCERTAIN

What is durable at each step, and what happens if the process dies right there:

1. before the claim: nothing. A retry claims afresh.
2. claim written (SENDING, our token, a lease until the invocation's deadline): if we die now,
   a later attempt finds SENDING with an expired lease, looks in the journal (below), finds
   nothing, and sends: an extra copy only if SES had already accepted ours, counted
   (``owner-died``). A lost response to the claim itself is recognized by our token and does
   not block us.
3. SES answered with a message id: kept in this container's memory at once (a warm retry finds
   it there), then written to the ledger as SENT; that write is retried by botocore and, if it
   still fails, the id goes to the journal (S3), which every later attempt reads before sending.
4. SENT: nothing is ever sent again for this key, whoever asks, until the record expires (16
   days: the dead-letter queue keeps a message 14).

A send that fails marks its record UNSENT or UNCERTAIN before the error goes up, so the next
attempt need not wait for the lease to expire.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from sesame.core.ports import Outgoing, Sender, SendRejected

SENDING, SENT, UNSENT, UNCERTAIN = "SENDING", "SENT", "UNSENT", "UNCERTAIN"
# How a transport failure is read (an adapter's ``classify`` says, knowing its library):
# "not-sent": the request never reached SES, or SES answered with an error (retry freely);
# "unknown": the request may have reached SES and the answer was lost (a retry may duplicate);
# "fatal": retrying within this invocation cannot help (no permission, sending paused).
# A permanent refusal of the message itself is raised by the transport as SendRejected.
Failure = Literal["not-sent", "unknown", "fatal"]

# Time one send needs to be worth starting: connect (3 s) and read (30 s) of the SES client,
# plus the completion write (DynamoDB: 3 attempts of 2 + 3 s) and a margin. With less left, the
# invocation stops and raises, while it can still record what it sent.
SEND_BUDGET_SECONDS = 50.0
# Attempts of one send within an invocation (the SES client itself makes exactly one).
SEND_ATTEMPTS = 3
BACKOFF_SECONDS = (0.2, 1.0)
# Records outlive the dead-letter queue's 14 days, so a late redrive still sees what went out.
RECORD_TTL_SECONDS = 16 * 24 * 3600
LEASE_MARGIN_SECONDS = 5.0


class SendInProgress(RuntimeError):
    """Another invocation holds this send and may still be sending it: try again later."""


class OutOfTime(RuntimeError):
    """Too little of the invocation is left to send and record a send: try again later."""


class SendFailed(RuntimeError):
    """The send failed for a reason that may pass (throttling, an outage): try again later."""

    def __init__(self, message: str, *, uncertain: bool) -> None:
        super().__init__(message)
        self.uncertain = uncertain


@dataclass(frozen=True)
class LedgerRecord:
    state: str
    token: str = ""
    lease_until: float = 0.0
    ses_message_id: str | None = None
    prior: str | None = None  # the state this record had when its current owner claimed it


@dataclass(frozen=True)
class Claim:
    """The outcome of a claim: ours to send (with what was there before), or already sent."""

    acquired: bool
    previous: LedgerRecord | None  # what the record was before our claim (None: no record)
    sent_id: str | None = None  # the SES message id, when the send already happened


class Ledger(Protocol):
    def claim(self, key: str, token: str, lease_until: float, now: float, expires: int) -> Claim:
        """Take the record for ``key`` unless it is SENT or held by a live owner (another token,
        lease not expired): then return ``Claim(False, record, sent_id)`` for SENT and raise
        :class:`SendInProgress` for a live owner. A retry of our own claim (same token)
        succeeds, and ``previous`` is what our first claim found."""

    def complete(self, key: str, token: str, ses_message_id: str) -> None:
        """Record the send as SENT. Raises if the record could not be written."""

    def release(self, key: str, token: str, state: str) -> None:
        """Mark our claim UNSENT or UNCERTAIN. Raises if it could not be written."""


class Journal(Protocol):
    """Where a send goes on record when the ledger would not take it (a fallback)."""

    def record(self, key: str, ses_message_id: str) -> None: ...

    def lookup(self, key: str) -> str | None: ...


class Deadline(Protocol):
    def remaining_seconds(self) -> float: ...


@dataclass
class NoDeadline:
    def remaining_seconds(self) -> float:
        return float("inf")


@dataclass
class DeliveryStats:
    """What the protocol saw, for metrics and the log."""

    sends: int = 0
    replays: int = 0  # sends skipped because the ledger (or journal) said they happened
    possible_duplicates: list[str] = field(default_factory=list)  # one cause per extra copy risked
    ledger_fallbacks: int = 0  # completions that went to the journal

    def reset(self) -> None:
        self.sends, self.replays, self.ledger_fallbacks = 0, 0, 0
        self.possible_duplicates = []


class Delivery:
    """A :class:`~sesame.core.ports.Sender` that sends each key at most once (see the module
    doc), over a transport that sends (the SES adapter) and a ledger."""

    def __init__(
        self,
        transport: Sender,
        ledger: Ledger,
        *,
        classify: Callable[[BaseException], Failure],
        journal: Journal | None = None,
        clock: Callable[[], float],
        sleep: Callable[[float], None],
        remembered: dict[str, str] | None = None,
        log: Callable[[str, dict[str, object]], None] | None = None,
    ) -> None:
        self._transport = transport
        self._ledger = ledger
        self._classify = classify
        self._journal = journal
        self._clock = clock
        self._sleep = sleep
        # Sends this container made: the runtime (and so this object) lives as long as the
        # container, so a warm retry after a failed completion write finds them without any
        # I/O. Never the only record.
        self._remembered = remembered if remembered is not None else {}
        self._log = log or (lambda _message, _data: None)
        self.deadline: Deadline = NoDeadline()
        self.token = uuid.uuid4().hex
        self.stats = DeliveryStats()

    def begin(self, deadline: Deadline) -> None:
        """A new invocation: a new owner token, its deadline, fresh statistics."""
        self.deadline = deadline
        self.token = uuid.uuid4().hex
        self.stats.reset()

    # Sender port
    def send_raw(self, message: Outgoing, destinations: Sequence[str], *, key: str) -> str:
        if key in self._remembered:
            self.stats.replays += 1
            return self._remembered[key]
        if self.deadline.remaining_seconds() < SEND_BUDGET_SECONDS:
            raise OutOfTime(f"{self.deadline.remaining_seconds():.0f} s left, a send needs {SEND_BUDGET_SECONDS:.0f} s")
        now = self._clock()
        lease_until = now + min(self.deadline.remaining_seconds(), 900.0) + LEASE_MARGIN_SECONDS
        try:
            claim = self._ledger.claim(key, self.token, lease_until, now, int(now + RECORD_TTL_SECONDS))
        except SendInProgress:
            # Held by an owner still running: it may have sent and journaled the send when its
            # completion write failed. Then the send happened; otherwise wait for it.
            journaled = self._journal.lookup(key) if self._journal is not None else None
            if journaled is None:
                raise
            claim = Claim(False, None, journaled)
        sent_id = claim.sent_id or self._journaled(key, claim.previous)
        if sent_id is not None:
            self._remembered[key] = sent_id
            self.stats.replays += 1
            return sent_id
        ses_id = self._send(message, destinations, key, _risk(claim.previous))
        self._remembered[key] = ses_id
        self.stats.sends += 1
        self._complete(key, ses_id)
        return ses_id

    # --- steps ----------------------------------------------------------------------------
    def _journaled(self, key: str, previous: LedgerRecord | None) -> str | None:
        """The SES message id the journal holds for a claim taken over from an owner that
        sent but could not complete its record; the ledger is completed from it."""
        if previous is None or previous.state != SENDING or self._journal is None:
            return None
        journaled = self._journal.lookup(key)
        if journaled is not None:
            self._complete(key, journaled)
        return journaled

    def _send(self, message: Outgoing, destinations: Sequence[str], key: str, risk: str | None) -> str:
        if risk is not None:
            self._note_duplicate_risk(key, risk)
        last: BaseException | None = None
        uncertain = False
        for attempt in range(SEND_ATTEMPTS):
            if attempt:
                if self.deadline.remaining_seconds() < SEND_BUDGET_SECONDS:
                    break
                low, high = BACKOFF_SECONDS
                self._sleep(random.uniform(low, high) * attempt)  # noqa: S311 - jitter, not crypto
                if uncertain:
                    self._note_duplicate_risk(key, "lost-response")
            try:
                return self._transport.send_raw(message, destinations, key=key)
            except SendRejected:
                self._release(key, UNSENT)
                raise
            except Exception as exc:  # noqa: BLE001 - classified below, then re-raised
                kind = self._classify(exc)
                last = exc
                if kind == "fatal":
                    self._release(key, UNSENT)
                    raise
                uncertain = uncertain or kind == "unknown"
        self._release(key, UNCERTAIN if uncertain else UNSENT)
        detail = f"{type(last).__name__}: {last}" if last is not None else "no time left to retry"
        raise SendFailed(f"send {key} failed: {detail}", uncertain=uncertain) from last

    def _note_duplicate_risk(self, key: str, cause: str) -> None:
        self.stats.possible_duplicates.append(cause)
        self._log("sending again after a send that may have gone out", {"key": key, "cause": cause})

    def _complete(self, key: str, ses_id: str) -> None:
        try:
            self._ledger.complete(key, self.token, ses_id)
        except Exception as exc:  # noqa: BLE001 - the send happened: put it on record elsewhere
            self.stats.ledger_fallbacks += 1
            self._log("ledger completion failed, journaling the send", {"key": key, "error": repr(exc)})
            if self._journal is None:
                raise
            self._journal.record(key, ses_id)  # raises if both fail: the retry then risks a copy

    def _release(self, key: str, state: str) -> None:
        try:
            self._ledger.release(key, self.token, state)
        except Exception as exc:  # noqa: BLE001 - the lease expires with the invocation anyway
            self._log("ledger release failed", {"key": key, "state": state, "error": repr(exc)})


def _risk(previous: LedgerRecord | None) -> str | None:
    """Why sending now might make an extra copy (None: it cannot)."""
    if previous is None or previous.state == UNSENT:
        return None
    if previous.state == UNCERTAIN:
        return "lost-response"
    return "owner-died"  # SENDING, lease expired, nothing journaled: it may have sent
