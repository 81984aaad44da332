"""The SES feedback loop on one machine: what the SES stand-in learns about a send (a bounce, a
complaint) is published as SES publishes it, and reaches the feedback function's queue the way
the template routes it.

::

    sending.delivery (a fate per destination: simulator, --feedback, relay refusals)
      -> sending.publishing: SES's event record, in an EventBridge event
      -> the configuration set's event destination (template: MatchingEventTypes, enabled,
         EventBridge bus) -> aws.eventbridge: the template's rules on that bus -> their SQS targets
      -> lambdas.sqs_source: the event source mapping reading the queue -> FeedbackFunction

:class:`FeedbackLoop` counts each event from its publication until the function has handled
it (or SQS parked it after ``maxReceiveCount`` tries), so local mode knows when the loop is idle.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from typing import Any

from sesame.local.aws.eventbridge import EventBus
from sesame.local.lambdas.sqs_source import Batch
from sesame.local.sending.api import SentMessage
from sesame.local.sending.fates import Fate
from sesame.local.sending.publishing import event_record, eventbridge_event
from sesame.local.wiring import Wiring


class FeedbackLoop:
    def __init__(self, wiring: Wiring, bus: EventBus, *, note: Callable[[str], None], read_by: frozenset[str]) -> None:
        self.wiring = wiring
        self.bus = bus
        self.note = note
        self.read_by = read_by  # queues an event source mapping of local mode reads
        # The latest events published, for tests and a look while it runs; bounded, as local mode may run for days.
        self.published: deque[dict[str, Any]] = deque(maxlen=1000)
        self._pending = 0
        self._state = threading.Condition()

    def destinations_for(self, configuration_set: str, kind: str) -> list[str]:
        """The buses the configuration set publishes a ``kind`` event to (enabled destinations)."""
        return [
            d.bus for d in self.wiring.event_destinations
            if d.enabled and d.configuration_set == configuration_set and kind in d.event_types
        ]

    def publish(self, message: SentMessage, destination: str, fate: Fate) -> None:
        """DeliveryAgent's ``feedback``: SES publishes ``fate`` for ``destination``."""
        if message.configuration_set is None or self.bus.name not in self.destinations_for(
            message.configuration_set, fate.kind
        ):
            return
        region = self.wiring.region
        record = event_record(message, destination, fate, region=region, sent_at=message.accepted_at)
        event = eventbridge_event(record, region=region)
        what = f"{fate.bounce_type}/{fate.bounce_subtype}" if fate.bounced else f"feedback type {fate.feedback_type}"
        # Counted under the lock the event source's report takes: it cannot see the event
        # handled before it is counted.
        with self._state:
            try:
                queues = self.bus.put(event)
            except Exception as exc:  # noqa: BLE001 - EventBridge would retry, then park it; say it loudly
                self.note(f"{message.name}: the {fate.kind} event for {destination} was not delivered: {exc}")
                return
            self.published.append(event)
            self._pending += sum(1 for q in queues if q in self.read_by)
        where = ", ".join(queues) if queues else "no queue (no rule matched)"
        self.note(f"{message.name}: {destination}: SES {fate.kind} ({what}, {fate.why}) -> {where}")

    def batch_done(self, batch: Batch, max_receive_count: int | None) -> None:
        """The event source's ``on_batch``: an event is done when handled, or parked by SQS."""
        done = 0
        for record in batch.records:
            receives = int(record["attributes"].get("ApproximateReceiveCount", "1"))
            if record["messageId"] not in batch.failed:
                done += 1
            elif max_receive_count is not None and receives >= max_receive_count:
                done += 1
                self.note(f"feedback event {record['messageId']} failed {receives} times: SQS parks it")
        with self._state:
            self._pending -= done
            self._state.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        with self._state:
            return self._state.wait_for(lambda: self._pending == 0, timeout=timeout)


__all__ = ["FeedbackLoop"]
