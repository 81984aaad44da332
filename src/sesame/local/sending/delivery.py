"""Delivery of what SES accepted: the outbox, the optional relay, and a result per destination.

SES answers ``SendEmail`` when it has accepted the message and delivers afterwards; what the
receiving server says comes back as an event (``Delivery``, ``Bounce``), never as an API
error. So here: each destination's copy is written to the outbox as SES accepts it; with a
relay, a worker hands it on afterwards and reports each destination's result to ``events``;
a final refusal moves the copy to ``outbox/bounced/``. A temporary failure is tried again
(SES keeps trying for hours; here ``retry_delays`` apart), then reported as a bounce.

Destinations SES answers for itself (the mailbox simulator) and those ``--feedback`` marks get
their fate from :mod:`sesame.local.sending.fates` as SES accepts the message, and are never
relayed: a bounced copy goes to ``outbox/bounced/`` at once. Every bounce and complaint, theirs
and the relay's, also goes to ``feedback`` (SES's event publishing).
"""

from __future__ import annotations

import ipaddress
import json
import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sesame.local.sending.api import SentMessage
from sesame.local.sending.fates import Fate, Fates, relay_fate
from sesame.local.sending.outbox import Outbox
from sesame.local.sending.relay import RelayResult, bounce_address, relay


@dataclass(frozen=True)
class DeliveryEvent:
    """One destination's delivery result, as SES's event publishing reports it."""

    event_type: str  # "Delivery" or "Bounce"
    ses_message_id: str
    message: str  # the received message's id (the sesame-message tag) or the SES id
    destination: str
    smtp_response: str
    bounce_type: str | None = None  # "Permanent" or "Transient" for a bounce
    timestamp: str = field(default_factory=lambda: datetime.now(UTC).isoformat())

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


@dataclass
class _Pending:
    message: SentMessage
    files: dict[str, Path]
    destinations: tuple[str, ...]
    attempt: int = 1


def _ip(host: str) -> str | None:
    """``host`` if it is an IP address (remoteMtaIp is one), else None."""
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return None


class DeliveryAgent:
    def __init__(
        self,
        outbox: Outbox,
        *,
        region: str,
        relay_to: tuple[str, int] | None = None,
        mail_from_domains: dict[str, str] | None = None,
        events: Callable[[DeliveryEvent], None] | None = None,
        log: Path | None = None,
        retry_delays: Sequence[float] = (1.0, 5.0),
        fates: Fates | None = None,
        feedback: Callable[[SentMessage, str, Fate], None] | None = None,
    ) -> None:
        self.outbox = outbox
        self.region = region
        self.relay_to = relay_to
        self.mail_from_domains = mail_from_domains or {}
        self.events = events
        self.log = log
        self.retry_delays = tuple(retry_delays)
        self.fates = fates or Fates()
        self.feedback = feedback
        self._files: dict[str, list[Path]] = {}
        self._by_destination: dict[str, list[Path]] = {}
        self._lock = threading.Lock()
        self._queue: queue.Queue[_Pending | None] = queue.Queue()
        self._worker: threading.Thread | None = None
        self._in_flight = 0
        self._idle = threading.Condition(self._lock)

    # SesV2Api's ``accept``
    def accept(self, message: SentMessage) -> None:
        files = {d: self.outbox.write(message.name, d, message.raw) for d in message.destinations}
        answered = {d: fate for d in message.destinations if (fate := self.fates.of(d)) is not None}
        for destination, fate in answered.items():
            if fate.bounced:
                files[destination] = self.outbox.move_to_bounced(files[destination])
        with self._lock:
            self._files.setdefault(message.name, []).extend(files.values())
            if message.name != message.ses_message_id:
                self._files.setdefault(message.ses_message_id, []).extend(files.values())
            for destination, path in files.items():
                self._by_destination.setdefault(destination.lower(), []).append(path)
        for destination, fate in answered.items():
            kind = "Bounce" if fate.bounced else "Delivery"
            self._emit(DeliveryEvent(kind, message.ses_message_id, message.name, destination,
                                     fate.smtp_response, fate.bounce_type))
            if fate.kind != "delivered":
                self._publish(message, destination, fate)
        others = tuple(d for d in message.destinations if d not in answered)
        if self.relay_to is None or not others:
            for destination in others:
                self._emit(DeliveryEvent("Delivery", message.ses_message_id, message.name, destination, "outbox"))
            return
        with self._lock:
            self._in_flight += 1
        self._queue.put(_Pending(message, files, others))

    def files_for(self, name: str) -> list[Path]:
        """The outbox files of one message (its ``sesame-message`` tag, or its SES id)."""
        with self._lock:
            return list(self._files.get(name, ()))

    def files_to(self, destination: str) -> list[Path]:
        with self._lock:
            return list(self._by_destination.get(destination.lower(), ()))

    def start(self) -> None:
        if self.relay_to is not None and self._worker is None:
            self._worker = threading.Thread(target=self._work, name="sesame-ses-delivery", daemon=True)
            self._worker.start()

    def stop(self) -> None:
        if self._worker is not None:
            self._queue.put(None)
            self._worker.join(30)
            self._worker = None

    def wait_idle(self, timeout: float) -> bool:
        with self._idle:
            return self._idle.wait_for(lambda: self._in_flight == 0, timeout=timeout)

    def _work(self) -> None:
        assert self.relay_to is not None
        host, port = self.relay_to
        while (pending := self._queue.get()) is not None:
            message = pending.message
            domain = self.mail_from_domains.get(message.from_address.rpartition("@")[2].lower())
            envelope = bounce_address(message.ses_message_id, self.region, domain)
            results = relay(host, port, envelope, pending.destinations, message.raw)
            retry = [r.destination for r in results if not r.delivered and not r.permanent]
            last_try = pending.attempt > len(self.retry_delays)
            for result in results:
                if result.delivered:
                    self._emit(self._event("Delivery", message, result))
                elif result.permanent or last_try:
                    self.outbox.move_to_bounced(pending.files[result.destination])
                    self._emit(self._event("Bounce", message, result, "Permanent" if result.permanent else "Transient"))
                    self._publish(message, result.destination,
                                  relay_fate(result.code, result.reply, permanent=result.permanent, relay_ip=_ip(host)))
            if retry and not last_try:
                delay = self.retry_delays[pending.attempt - 1]
                later = _Pending(message, pending.files, tuple(retry), pending.attempt + 1)
                timer = threading.Timer(delay, self._queue.put, args=(later,))
                timer.daemon = True  # a retry still waiting when local mode stops is dropped
                timer.start()
                continue
            with self._idle:
                self._in_flight -= 1
                self._idle.notify_all()

    @staticmethod
    def _event(kind: str, message: SentMessage, result: RelayResult, bounce_type: str | None = None) -> DeliveryEvent:
        response = f"{result.code} {result.reply}".strip()
        return DeliveryEvent(kind, message.ses_message_id, message.name, result.destination, response, bounce_type)

    def _publish(self, message: SentMessage, destination: str, fate: Fate) -> None:
        if self.feedback is not None and message.configuration_set is not None:
            self.feedback(message, destination, fate)

    def _emit(self, event: DeliveryEvent) -> None:
        if self.log is not None:
            with self._lock, self.log.open("a", encoding="utf-8") as log:
                log.write(json.dumps(event.as_dict()) + "\n")
        if self.events is not None:
            self.events(event)


