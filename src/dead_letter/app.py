"""DeadLetterFunction: each failed forwarding in the queue is kept, indexed and reported.

SQS batch in -> for each record: keep the raw message and its context under error/,
index it as failed, email the operator -> partial batch response, so one poison record
never holds back the rest.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from sesame.core.dead_letter import PoisonRecord
from sesame.dead_letter_runtime import DeadLetterRuntime, build_dead_letter_runtime

logger = Logger(service="sesame-dead-letter")
metrics = Metrics(namespace="Sesame", service="sesame-dead-letter")
processor = BatchProcessor(event_type=EventType.SQS)
_runtime: DeadLetterRuntime | None = None


def runtime() -> DeadLetterRuntime:
    global _runtime
    if _runtime is None:
        _runtime = build_dead_letter_runtime()
    return _runtime


def use_runtime(new: DeadLetterRuntime | None) -> None:
    global _runtime
    _runtime = new


def report_failure(record: SQSRecord) -> None:
    try:
        letter = runtime().handle(record.body, record.raw_event.get("messageAttributes") or {})
    except PoisonRecord:
        metrics.add_metric(name="PoisonRecords", unit=MetricUnit.Count, value=1)
        logger.exception("dead-letter record is not a failed SES event", extra={"sqs_message_id": record.message_id})
        raise
    for mail in letter.mails:
        logger.error(
            "forwarding failed",
            extra={"message_id": mail.message_id, "source": mail.source, "error": letter.error,
                   "attempts": letter.attempts, "recipients": list(mail.recipients)},
        )
    metrics.add_metric(name="DeadLetters", unit=MetricUnit.Count, value=len(letter.mails))


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    metrics.add_metric(name="DeadLetterRecords", unit=MetricUnit.Count, value=len(event.get("Records", [])))
    return process_partial_response(event=event, record_handler=report_failure, processor=processor, context=context)
