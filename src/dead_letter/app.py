"""DeadLetterFunction: each failed forwarding in the queue is kept, indexed and reported.

SQS batch in -> for each record, while the invocation has time for one: keep the raw message and
its context under error/, index it as failed, email the operator once, emit the message's
final metrics once -> partial batch response, so one bad record never holds back the rest.

A record that still fails on its last receive (the queue then parks it in the
unreported-failures queue) gets a last-resort log line with its message ids and the
``UnreportedFailures`` metric, which is alarmed: never parked silently.
"""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from sesame import config as env_names
from sesame.core.delivery import NoDeadline
from sesame.dead_letter_runtime import DeadLetterRuntime, Handled, build_dead_letter_runtime
from sesame.runtime import ContextDeadline

logger = Logger(service="sesame-dead-letter")
metrics = Metrics(namespace="Sesame", service="sesame-dead-letter")
# Every failed record is reported back to SQS, even when all of a batch fail (by default
# Powertools raises then, and the batch's count of failures would never be emitted).
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
_runtime: DeadLetterRuntime | None = None
_context: Any = None

# Time one record needs to be worth starting: a few S3 calls and a send, each bounded by the
# clients' timeouts (sesame.aws). With less left, the record goes back to the queue untouched.
RECORD_BUDGET_SECONDS = 45.0
# The queue's maxReceiveCount (template: DeadLetterQueue RedrivePolicy).
MAX_RECEIVES = int(os.environ.get(env_names.DLQ_MAX_RECEIVES, "5"))


class NoTimeLeft(RuntimeError):
    """Too little of the invocation is left for this record: SQS delivers it again."""


def runtime() -> DeadLetterRuntime:
    global _runtime
    if _runtime is None:
        _runtime = build_dead_letter_runtime()
    return _runtime


def use_runtime(new: DeadLetterRuntime | None) -> None:
    global _runtime
    _runtime = new


def report_failure(record: SQSRecord) -> None:
    if _context is not None and _context.get_remaining_time_in_millis() / 1000.0 < RECORD_BUDGET_SECONDS:
        raise NoTimeLeft(f"record {record.message_id}: not enough time left in this invocation")
    try:
        handled = runtime().handle(record.body, record.raw_event.get("messageAttributes") or {}, record.message_id)
    except Exception:
        _last_resort(record)
        raise
    _record_metrics(handled)


def _record_metrics(handled: Handled) -> None:
    if handled.letter is None:
        metrics.add_metric(name="PoisonRecords", unit=MetricUnit.Count, value=1)
        logger.error("dead-letter record is not a failed SES event; kept", extra={"kept": handled.poison_key})
        return
    letter = handled.letter
    for mail in letter.mails:
        outcomes = handled.outcomes.get(mail.message_id) or [{"status": "failed"} for _ in mail.recipients]
        logger.error(
            "forwarding failed",
            extra={"message_id": mail.message_id, "source": mail.source, "error": letter.error,
                   "attempts": letter.attempts, "recipients": list(mail.recipients), "outcomes": outcomes},
        )
        if mail.message_id not in handled.reported:
            continue  # reported by an earlier processing of this record: counted then
        # The message's final metrics: the forwarder emits none for a message it gave up on.
        metrics.add_metric(name="DeadLetters", unit=MetricUnit.Count, value=1)
        metrics.add_metric(name="MessagesReceived", unit=MetricUnit.Count, value=1)
        for outcome in outcomes:
            status = str(outcome.get("status") or "failed")
            metrics.add_metric(name=status.capitalize(), unit=MetricUnit.Count, value=1)


def _last_resort(record: SQSRecord) -> None:
    """On its last receive a record that fails is parked by the queue: say so, loudly."""
    receives = int((record.raw_event.get("attributes") or {}).get("ApproximateReceiveCount", "0") or 0)
    if receives >= MAX_RECEIVES:
        metrics.add_metric(name="UnreportedFailures", unit=MetricUnit.Count, value=1)
        logger.exception(
            "giving up on a dead-letter record: it goes to the unreported-failures queue",
            extra={"sqs_message_id": record.message_id, "receives": receives, "body_start": record.body[:2000]},
        )
    else:
        logger.exception("dead-letter record failed; SQS will deliver it again", extra={"sqs_message_id": record.message_id})


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    global _context
    _context = context if hasattr(context, "get_remaining_time_in_millis") else None
    records = event.get("Records", [])
    metrics.add_metric(name="DeadLetterRecords", unit=MetricUnit.Count, value=len(records))
    dead_letters = runtime()
    dead_letters.begin(ContextDeadline(context) if _context is not None else NoDeadline())
    try:
        response = process_partial_response(event=event, record_handler=report_failure, processor=processor, context=context)
    finally:
        _context = None
    failures = len(response.get("batchItemFailures", []))
    if failures:
        metrics.add_metric(name="DeadLetterRecordFailures", unit=MetricUnit.Count, value=failures)
    return response

