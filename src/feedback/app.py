"""FeedbackFunction: SES's bounces, complaints, delivery delays and rejects, from the
configuration set's event destination (EventBridge -> SQS).

SQS batch in -> for each record: parse the SES event, suppress or pause what it calls for,
record it under feedback/ -> partial batch response, so one bad record never holds back the
rest. A record that is no SES event of ours is counted and dropped (retrying cannot help).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, single_metric
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from sesame.core.feedback import InvalidFeedback
from sesame.feedback_runtime import FeedbackRuntime, build_feedback_runtime

logger = Logger(service="sesame-feedback")
metrics = Metrics(namespace="Sesame", service="sesame-feedback")
processor = BatchProcessor(event_type=EventType.SQS)
_runtime: FeedbackRuntime | None = None
METRIC_BY_KIND = {"bounce": "Bounces", "complaint": "Complaints", "delivery-delay": "DeliveryDelays", "reject": "Rejects"}


def runtime() -> FeedbackRuntime:
    global _runtime
    if _runtime is None:
        _runtime = build_feedback_runtime()
    return _runtime


def use_runtime(new: FeedbackRuntime | None) -> None:
    global _runtime
    _runtime = new


def handle_feedback(record: SQSRecord) -> None:
    try:
        applied = runtime().handle(record.body)
    except InvalidFeedback as exc:
        metrics.add_metric(name="InvalidFeedback", unit=MetricUnit.Count, value=1)
        logger.warning("not an SES event Sesame handles", extra={"sqs_message_id": record.message_id, "why": str(exc)})
        return
    except Exception:
        metrics.add_metric(name="FeedbackRecordFailures", unit=MetricUnit.Count, value=1)
        raise
    event = applied.event
    metrics.add_metric(name=METRIC_BY_KIND[event.kind], unit=MetricUnit.Count, value=len(event.recipients))
    if applied.suppressions:
        metrics.add_metric(name="Suppressions", unit=MetricUnit.Count, value=applied.suppressions)
    if applied.alias_complaints is not None:
        # A gauge, read with Maximum: the most complaints one alias drew in the last 7 days.
        metrics.add_metric(name="AliasComplaints", unit=MetricUnit.Count, value=applied.alias_complaints)
    if event.kind in ("bounce", "complaint"):
        # Per destination and per alias, for the dashboard and `sesame status` (7 days). A
        # series exists only for a destination or alias that bounced or complained.
        for recipient in event.recipients:
            _count(METRIC_BY_KIND[event.kind], "destination", recipient.address)
            if event.alias:
                _count(METRIC_BY_KIND[event.kind], "alias", event.alias)
    for recipient, effect in zip(event.recipients, applied.effects, strict=True):
        logger.info(
            "ses feedback",
            extra={"feedback": {
                "event_type": event.kind, "subtype": event.subtype, "bounce_type": event.bounce_type,
                "destination": recipient.address, "alias": event.alias, "effect": effect,
                "message_id": event.received_message_id, "send": event.send,
                "alias_complaints": applied.alias_complaints,
            }},
        )


def _count(name: str, dimension: str, value: str) -> None:
    with single_metric(name=name, unit=MetricUnit.Count, value=1, namespace="Sesame",
                       default_dimensions={"service": "sesame-feedback", dimension: value[:1024]}):
        pass


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    metrics.add_metric(name="FeedbackRecords", unit=MetricUnit.Count, value=len(event.get("Records", [])))
    return process_partial_response(event=event, record_handler=handle_feedback, processor=processor, context=context)
