"""HandleEmailFunction: SES receipt event in, one outcome per recipient out.

parse the event -> for each message: decide, fetch, rewrite, send (sesame.core.forward),
index the outcome -> log one structured line and emit one metric per outcome. Infrastructure errors raise so
Lambda retries and the dead-letter queue keeps the event; mail problems are outcomes.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from sesame.core.event import InvalidEvent, parse_ses_event
from sesame.runtime import ForwarderRuntime, build_runtime

logger = Logger(service="sesame-forwarder")
metrics = Metrics(namespace="Sesame", service="sesame-forwarder")
_runtime: ForwarderRuntime | None = None


class DeliveryFailed(RuntimeError):
    """SES refused a message for good; raised after recording it so the DLQ keeps the event."""

    def __init__(self, message: str, reports: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.reports = reports or []  # what an in-process redrive shows


def runtime() -> ForwarderRuntime:
    global _runtime
    if _runtime is None:
        _runtime = build_runtime()
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
    metrics.add_metric(name="MessagesReceived", unit=MetricUnit.Count, value=len(mails))
    forwarder = runtime()
    forwarder.begin(context)
    failed = []
    reports = []
    for mail in mails:
        report = forwarder.forward(mail)
        reports.append(report.as_dict())
        logger.info("message processed", extra={"sesame": report.as_dict()})
        for outcome in report.outcomes:
            metrics.add_metric(name=outcome.status.capitalize(), unit=MetricUnit.Count, value=1)
        failed.extend(f"{report.message_id} {o.recipient}: {o.detail}" for o in report.failed)
    if failed:
        raise DeliveryFailed("; ".join(failed), reports)
    # SES reads only "disposition" from a RequestResponse Lambda action (SES Developer Guide,
    # "Invoke Lambda function action": an answer without a valid disposition continues the
    # rule set), so the reports ride along for `sesame redrive --invoke`.
    return {"disposition": "CONTINUE", "reports": reports}
