"""An SQS event source mapping (``AWS::Lambda::EventSourceMapping``), as Lambda runs it.

Lambda polls the queue, hands the function up to ``BatchSize`` messages, and deletes the
batch when the function succeeds. With ``ReportBatchItemFailures`` the function may return
``{"batchItemFailures": [{"itemIdentifier": <messageId>}, ...]}``: only those stay on the
queue; an identifier that is empty or not in the batch fails the whole batch; a function
error fails the whole batch (AWS Lambda developer guide, "Handling errors for an SQS event
source in Lambda"). A message left on the queue comes back after the queue's visibility
timeout; after ``maxReceiveCount`` receives SQS moves it to the redrive policy's queue
(moto does that part, as SQS does).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sesame.local.lambdas.async_invoke import Container
from sesame.local.lambdas.function import Invocation
from sesame.local.lambdas.records import sqs_event
from sesame.local.wiring import EventSourceSpec


@dataclass(frozen=True)
class Batch:
    records: list[dict[str, Any]]  # the event's records
    failed: frozenset[str]  # message ids left on the queue
    invocation: Invocation


def failed_items(records: list[dict[str, Any]], invocation: Invocation, report_failures: bool) -> frozenset[str]:
    """The message ids of a batch that stay on the queue after this invocation."""
    everything = frozenset(r["messageId"] for r in records)
    if invocation.error is not None:
        return everything
    if not report_failures:
        return frozenset()
    payload = invocation.payload
    if payload in (None, "") or not isinstance(payload, dict):
        return frozenset()
    failures = payload.get("batchItemFailures")
    if failures in (None, []):
        return frozenset()
    if not isinstance(failures, list):
        return everything
    ids = [f.get("itemIdentifier") if isinstance(f, dict) else None for f in failures]
    if any(not i or i not in everything for i in ids):
        return everything
    return frozenset(ids)  # type: ignore[arg-type]


class SqsEventSource:
    def __init__(
        self,
        spec: EventSourceSpec,
        function: Container,
        sqs: Any,
        *,
        queue_url: str,
        queue_arn: str,
        region: str,
        poll_wait: int = 1,
        on_batch: Callable[[Batch], None] | None = None,
    ) -> None:
        self.spec = spec
        self.function = function
        self.sqs = sqs
        self.queue_url = queue_url
        self.queue_arn = queue_arn
        self.region = region
        self.poll_wait = poll_wait
        self.on_batch = on_batch
        self._stop = threading.Event()
        self._worker: threading.Thread | None = None
        self.busy = False

    def start(self) -> None:
        if self.spec.enabled:
            self._worker = threading.Thread(target=self._poll, name=f"esm-{self.function.name}", daemon=True)
            self._worker.start()

    def request_stop(self) -> None:
        """Stop polling after the current receive (several sources stop in parallel this way)."""
        self._stop.set()

    def stop(self) -> None:
        self._stop.set()
        if self._worker is not None:
            self._worker.join()
            self._worker = None

    def _poll(self) -> None:
        while not self._stop.is_set():
            try:
                received = self.sqs.receive_message(
                    QueueUrl=self.queue_url,
                    MaxNumberOfMessages=min(10, max(1, self.spec.batch_size)),
                    WaitTimeSeconds=self.poll_wait,
                    AttributeNames=["All"],
                    MessageAttributeNames=["All"],
                )
            except Exception:  # noqa: BLE001 - the poller keeps polling, as Lambda's does
                self._stop.wait(1)
                continue
            messages = received.get("Messages") or []
            if messages:
                self.busy = True
                try:
                    self.handle(messages)
                finally:
                    self.busy = False

    def handle(self, messages: list[dict[str, Any]]) -> Batch:
        """One batch: invoke, delete what succeeded, report."""
        event = sqs_event(messages, self.queue_arn, self.region)
        invocation = self.function.invoke(event)
        failed = failed_items(event["Records"], invocation, self.spec.report_batch_item_failures)
        done = [m for m in messages if m["MessageId"] not in failed]
        for start in range(0, len(done), 10):
            self.sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done[start : start + 10])],
            )
        batch = Batch(event["Records"], failed, invocation)
        if self.on_batch is not None:
            self.on_batch(batch)
        return batch
