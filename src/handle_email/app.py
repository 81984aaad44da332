"""HandleEmailFunction: SES receipt event in, one outcome per recipient out.

parse the event -> for each message: decide, fetch, rewrite, send (sesame.core.forward, each
send once through sesame.core.delivery), index the outcome -> log one structured line a message.

Metrics count messages, not attempts: the outcome metrics are emitted once, when the message's
outcome is final here (everything done). An attempt that must be retried (a send that may
succeed later, an outage, a permanent SES refusal on its way to the dead-letter queue) records
what it did, emits ``Retries``, and raises; the dead-letter function emits the final metrics of
a message Lambda gave up on.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from sesame.core.event import InvalidEvent, parse_ses_event
from sesame.core.outcome import MessageReport
from sesame.runtime import ForwarderRuntime, build_runtime

logger = Logger(service="sesame-forwarder")
metrics = Metrics(namespace="Sesame", service="sesame-forwarder")
_runtime: ForwarderRuntime | None = None


class _Reported(RuntimeError):
    def __init__(self, message: str, reports: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.reports = reports or []  # what an in-process `sesame redrive` shows


class DeliveryFailed(_Reported):
    """SES refused a message for good; raised after recording it so the DLQ keeps the event."""


class RetryLater(_Reported):
    """A send failed for a reason that may pass; raised after recording what went out."""


def runtime() -> ForwarderRuntime:
    global _runtime
    if _runtime is None:
        _runtime = build_runtime(log=lambda message, data: logger.warning(message, extra=data))
    return _runtime


def use_runtime(new: ForwarderRuntime | None) -> None:
    """Replace the runtime (local mode and tests inject clients; ``None`` rebuilds from env)."""
    global _runtime
    _runtime = new


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    try:
        mails = parse_ses_event(event)
    except InvalidEvent:
        metrics.add_metric(name="InvalidEvents", unit=MetricUnit.Count, value=1)
        raise
    forwarder = runtime()
    forwarder.begin(context)
    # `sesame redrive --from-quarantine` adds {"sesame": {"release": [message ids]}}: SES never
    # sends that key, and it only lifts the verdicts for the messages it names.
    released = set(_released(event))
    try:
        reports = [forwarder.forward(mail, release=mail.message_id in released) for mail in mails]
    except Exception:
        metrics.add_metric(name="Retries", unit=MetricUnit.Count, value=1)
        raise
    finally:
        _delivery_metrics(forwarder)
    for report in reports:
        logger.info("message processed", extra={"sesame": report.as_dict()})
    failed = [f"{r.message_id} {o.recipient}: {o.detail}" for r in reports for o in r.failed]
    if any(r.incomplete for r in reports):
        metrics.add_metric(name="Retries", unit=MetricUnit.Count, value=1)
        raise RetryLater("; ".join(failed), [r.as_dict() for r in reports])
    if failed:
        metrics.add_metric(name="Retries", unit=MetricUnit.Count, value=1)
        raise DeliveryFailed("; ".join(failed), [r.as_dict() for r in reports])
    _outcome_metrics(reports)
    # SES reads only "disposition" from a RequestResponse Lambda action; the reports are for
    # callers that invoke the function themselves (sesame redrive).
    return {"disposition": "CONTINUE", "reports": [r.as_dict() for r in reports]}


def _released(event: dict[str, Any]) -> list[str]:
    options = event.get("sesame")
    ids = options.get("release") if isinstance(options, dict) else None
    return [i for i in ids if isinstance(i, str)] if isinstance(ids, list) else []


def _outcome_metrics(reports: list[MessageReport]) -> None:
    metrics.add_metric(name="MessagesReceived", unit=MetricUnit.Count, value=len(reports))
    counts: dict[str, int] = {}
    for report in reports:
        for outcome in report.outcomes:
            counts[outcome.status] = counts.get(outcome.status, 0) + 1
    for status, count in counts.items():
        metrics.add_metric(name=status.capitalize(), unit=MetricUnit.Count, value=count)
    # Destinations the suppression list kept the message from, whatever the recipient's outcome.
    suppressed = sum(len(o.suppressed) for report in reports for o in report.outcomes)
    if suppressed:
        metrics.add_metric(name="SuppressedDestinations", unit=MetricUnit.Count, value=suppressed)


def _delivery_metrics(forwarder: ForwarderRuntime) -> None:
    """Sends that may have made an extra copy (an SES answer lost), counted where they happen;
    suppression checks skipped because the table is missing, likewise."""
    unchecked = getattr(forwarder.suppressions, "unchecked", 0)
    if unchecked > forwarder.reported_unchecked:
        metrics.add_metric(name="SuppressionUnchecked", unit=MetricUnit.Count,
                           value=unchecked - forwarder.reported_unchecked)
        forwarder.reported_unchecked = unchecked
    stats = forwarder.delivery.stats if forwarder.delivery is not None else None
    if stats is not None and stats.possible_duplicates:
        metrics.add_metric(name="PossibleDuplicates", unit=MetricUnit.Count, value=len(stats.possible_duplicates))
        logger.warning("sent again after a send that may have gone out", extra={"causes": stats.possible_duplicates})
