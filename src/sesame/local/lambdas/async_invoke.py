"""Asynchronous invocation (``InvocationType: Event``), as Lambda runs it.

Lambda puts the event in the function's queue and answers at once; the function takes
events one by one. A function error is retried ``MaximumRetryAttempts`` times (the
template's ``EventInvokeConfig``), "waiting one minute before the first retry and two
minutes before the second" (AWS Lambda developer guide, "Error handling and automatic
retries in Lambda": asynchronous invocation); local mode scales those waits by
``time_scale``, and takes other events meanwhile, as Lambda does. When retries are
exhausted the on-failure destination gets the invocation record
(:func:`sesame.local.lambdas.records.on_failure_record`).

Lambda scales an asynchronous function out: events wait for a free execution environment and
new ones start while all are busy, up to the function's concurrency. Here ``containers`` are
those environments, one worker each; an event goes to the first free one in order, so a
light load keeps to the warm first environment and the others start (cold) only when a burst
keeps every earlier one busy.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from sesame.local.lambdas.function import Invocation
from sesame.local.lambdas.records import on_failure_record

RETRY_DELAYS = (60.0, 120.0)


@dataclass
class AsyncEvent:
    request_id: str
    event: dict[str, Any]
    received: float = field(default_factory=time.monotonic)
    attempts: int = 0
    last: Invocation | None = None


class Container(Protocol):
    name: str
    arn: str

    def invoke(self, event: dict[str, Any], request_id: str | None = None) -> Invocation: ...


class AsyncInvoker:
    def __init__(
        self,
        containers: Sequence[Container],
        *,
        retry_attempts: int,
        time_scale: float = 1.0,
        on_failure: Callable[[dict[str, Any]], None] | None = None,
        on_attempt: Callable[[AsyncEvent], None] | None = None,
        on_done: Callable[[AsyncEvent, bool], None] | None = None,
    ) -> None:
        if not containers:
            raise ValueError("a function needs at least one execution environment")
        self.containers = list(containers)
        self.function = self.containers[0]
        self.retry_attempts = max(0, min(2, retry_attempts))  # Lambda allows 0 to 2
        self.time_scale = time_scale
        self.on_failure = on_failure
        self.on_attempt = on_attempt
        self.on_done = on_done
        self._due: list[tuple[float, int, AsyncEvent]] = []
        self._order = itertools.count()
        self._wake = threading.Condition()
        self._stopping = False
        self._busy = [False] * len(self.containers)
        self._workers: list[threading.Thread] = []

    def invoke(self, event: dict[str, Any]) -> str:
        """Queue ``event``; returns the request id (Invoke answers 202 with it)."""
        item = AsyncEvent(str(uuid.uuid4()), event)
        self._schedule(item, 0.0)
        return item.request_id

    def pending(self) -> int:
        with self._wake:
            return len(self._due)

    def start(self) -> None:
        self._workers = [
            threading.Thread(target=self._work, args=(slot,), name=f"lambda-{self.function.name}-{slot}", daemon=True)
            for slot in range(len(self.containers))
        ]
        for worker in self._workers:
            worker.start()

    def stop(self) -> None:
        """Stop taking events (those still queued are dropped, as when a stack is deleted)."""
        with self._wake:
            self._stopping = True
            self._wake.notify_all()
        for worker in self._workers:
            worker.join()
        self._workers = []

    def _schedule(self, item: AsyncEvent, delay: float) -> None:
        with self._wake:
            heapq.heappush(self._due, (time.monotonic() + delay, next(self._order), item))
            self._wake.notify_all()

    def _next(self, slot: int) -> AsyncEvent | None:
        """The next due event for environment ``slot``, once every earlier one is busy."""
        with self._wake:
            self._busy[slot] = False
            self._wake.notify_all()
            while not self._stopping:
                if self._due and all(self._busy[:slot]):
                    due, _, item = self._due[0]
                    wait = due - time.monotonic()
                    if wait <= 0:
                        heapq.heappop(self._due)
                        self._busy[slot] = True
                        self._wake.notify_all()
                        return item
                    self._wake.wait(wait)
                else:
                    self._wake.wait()
            return None

    def _work(self, slot: int) -> None:
        container = self.containers[slot]
        while (item := self._next(slot)) is not None:
            item.attempts += 1
            item.last = container.invoke(item.event, item.request_id)
            if self.on_attempt is not None:
                self.on_attempt(item)
            if item.last.error is None:
                self._finish(item, True)
            elif item.attempts <= self.retry_attempts:
                self._schedule(item, RETRY_DELAYS[item.attempts - 1] * self.time_scale)
            else:
                if self.on_failure is not None:
                    self.on_failure(
                        on_failure_record(
                            request_id=item.request_id,
                            function_arn=self.function.arn,
                            condition="RetriesExhausted",
                            attempts=item.attempts,
                            event=item.event,
                            error=item.last.error,
                        )
                    )
                self._finish(item, False)

    def _finish(self, item: AsyncEvent, succeeded: bool) -> None:
        if self.on_done is not None:
            self.on_done(item, succeeded)
