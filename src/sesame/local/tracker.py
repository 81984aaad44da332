"""Where each accepted message is on its way to a final state.

A message is final when every Lambda action it triggered has finished: the forwarder
succeeded, or it failed for good and then the dead-letter function reported it (or gave up
and the record was parked in the unreported-failures queue), or there is no dead-letter
function to tell.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from sesame.local.receiving.service import Accepted


@dataclass
class Tracked:
    accepted: Accepted
    invocations: int  # Lambda actions not finished yet
    attempts: int = 0
    error: str | None = None  # the forwarder's last error, when it gave up
    awaiting_report: bool = False
    reported: bool = False
    unreported: bool = False
    final: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def message_id(self) -> str:
        return self.accepted.received.message_id


class MessageTracker:
    """``finish`` gets each message once, when it is final; the message counts as open until
    :meth:`closed` is called for it (after its line is printed)."""

    def __init__(self, finish: Callable[[Tracked], None]) -> None:
        self.finish = finish
        self._messages: dict[str, Tracked] = {}
        self._open = 0
        self._state = threading.Condition()

    def add(self, accepted: Accepted) -> None:
        tracked = Tracked(accepted, invocations=len(accepted.events))
        with self._state:
            self._messages[tracked.message_id] = tracked
            self._open += 1
        if tracked.invocations == 0:
            self._final(tracked)

    def get(self, message_id: str) -> Tracked | None:
        with self._state:
            return self._messages.get(message_id)

    def attempted(self, message_id: str) -> None:
        with self._state:
            if (tracked := self._messages.get(message_id)) is not None:
                tracked.attempts += 1

    def invocation_done(self, message_id: str, *, error: str | None, report_expected: bool) -> None:
        with self._state:
            tracked = self._messages.get(message_id)
            if tracked is None or tracked.final:
                return
            tracked.invocations -= 1
            if error is not None:
                tracked.error = error
                tracked.awaiting_report = tracked.awaiting_report or report_expected
            done = tracked.invocations <= 0 and not tracked.awaiting_report
        if done:
            self._final(tracked)

    def report_done(self, message_id: str, *, reported: bool) -> None:
        with self._state:
            tracked = self._messages.get(message_id)
            if tracked is None or tracked.final:
                return
            tracked.reported = tracked.reported or reported
            tracked.unreported = not reported
            tracked.awaiting_report = False
            done = tracked.invocations <= 0
        if done:
            self._final(tracked)

    def _final(self, tracked: Tracked) -> None:
        with self._state:
            if tracked.final:
                return
            tracked.final = True
        self.finish(tracked)

    def closed(self, tracked: Tracked) -> None:
        with self._state:
            self._open -= 1
            self._state.notify_all()

    def open_count(self) -> int:
        with self._state:
            return self._open

    def wait_idle(self, timeout: float) -> bool:
        """Wait until every accepted message is final."""
        with self._state:
            return self._state.wait_for(lambda: self._open == 0, timeout=timeout)
