"""Lambda's semantics in local mode: async retries and delays, the on-failure record, and the
SQS event source's partial batch responses."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from sesame.core.dead_letter import parse_dead_letter
from sesame.local.lambdas.async_invoke import AsyncEvent, AsyncInvoker
from sesame.local.lambdas.function import Invocation
from sesame.local.lambdas.records import on_failure_record, sqs_event
from sesame.local.lambdas.sqs_source import failed_items

ARN = "arn:aws:lambda:us-east-1:123456789012:function:sesame-handleemailfunction"


class FakeFunction:
    """Fails the first ``failures`` invocations of each event; records when each one ran."""

    name = "fake"
    arn = ARN

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls: list[tuple[str, float]] = []
        self.running = 0
        self.overlap = False
        self._lock = threading.Lock()

    def invoke(self, event: dict[str, Any], request_id: str | None = None) -> Invocation:
        with self._lock:
            self.running += 1
            self.overlap = self.overlap or self.running > 1
        time.sleep(0.005)
        n = sum(1 for rid, _ in self.calls if rid == request_id)
        self.calls.append((request_id or "", time.monotonic()))
        with self._lock:
            self.running -= 1
        error = RuntimeError(f"attempt {n + 1} failed") if n < self.failures else None
        return Invocation(request_id or "", None if error else {"ok": True}, error, 0.005)


def run(function: FakeFunction, events: int, retries: int = 2, scale: float = 0.001) -> tuple[list[dict[str, Any]], list[tuple[AsyncEvent, bool]]]:
    records: list[dict[str, Any]] = []
    done: list[tuple[AsyncEvent, bool]] = []
    finished = threading.Event()

    def on_done(item: AsyncEvent, ok: bool) -> None:
        done.append((item, ok))
        if len(done) == events:
            finished.set()

    invoker = AsyncInvoker([function], retry_attempts=retries, time_scale=scale, on_failure=records.append, on_done=on_done)  # type: ignore[arg-type]
    invoker.start()
    try:
        for i in range(events):
            invoker.invoke({"n": i})
        assert finished.wait(30)
    finally:
        invoker.stop()
    return records, done


def test_an_error_is_retried_twice_with_lambdas_delays_scaled_then_recorded() -> None:
    function = FakeFunction(failures=5)
    records, done = run(function, 1, scale=0.001)
    ((item, ok),) = done
    assert not ok and item.attempts == 3
    times = [t for _, t in function.calls]
    # Lambda waits 1 minute, then 2 (scaled by 0.001: 60 ms, 120 ms).
    assert times[1] - times[0] >= 0.06 and times[2] - times[1] >= 0.12
    (record,) = records
    assert record["version"] == "1.0" and record["timestamp"].endswith("Z")
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 3
    assert record["requestContext"]["functionArn"] == f"{ARN}:$LATEST"
    assert record["requestPayload"] == {"n": 0}
    assert record["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"}
    assert record["responsePayload"]["errorType"] == "RuntimeError"
    assert record["responsePayload"]["errorMessage"] == "attempt 3 failed"


def test_a_retry_that_succeeds_sends_no_record_and_other_events_run_meanwhile() -> None:
    function = FakeFunction(failures=1)
    records, done = run(function, 5, scale=0.01)  # a 0.6 s wait before each retry
    assert records == [] and all(ok for _, ok in done)
    first_retry = min(t for i, (rid, t) in enumerate(function.calls) if any(r == rid for r, _ in function.calls[:i]))
    assert sum(1 for _, t in function.calls if t < first_retry) >= 5  # all first attempts ran before any retry
    assert not function.overlap  # one invocation at a time, like one container


def test_retry_attempts_come_from_the_template_and_zero_means_none() -> None:
    function = FakeFunction(failures=5)
    records, done = run(function, 1, retries=0)
    assert done[0][0].attempts == 1 and records[0]["requestContext"]["approximateInvokeCount"] == 1


def test_the_dead_letter_function_reads_the_record_local_mode_writes() -> None:
    from conftest import load_event

    event = load_event("ses_email_receiving.json")
    record = on_failure_record(
        request_id="r1", function_arn=ARN, condition="RetriesExhausted", attempts=3, event=event, error=ValueError("boom")
    )
    import json

    letter = parse_dead_letter(json.dumps(record))
    assert letter.attempts == 3 and letter.condition == "RetriesExhausted" and letter.error == "ValueError: boom"
    assert letter.function_arn == f"{ARN}:$LATEST"


MESSAGES = [
    {"MessageId": f"id-{i}", "ReceiptHandle": f"rh-{i}", "Body": "{}", "MD5OfBody": "x",
     "Attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1", "SenderId": "s", "ApproximateFirstReceiveTimestamp": "1"}}
    for i in range(3)
]


def test_the_sqs_event_has_lambdas_shape() -> None:
    event = sqs_event(MESSAGES, "arn:aws:sqs:us-east-1:123456789012:q", "us-east-1")
    record = event["Records"][0]
    assert set(record) == {
        "messageId", "receiptHandle", "body", "attributes", "messageAttributes", "md5OfBody",
        "eventSource", "eventSourceARN", "awsRegion",
    }
    assert record["eventSource"] == "aws:sqs" and record["attributes"]["ApproximateReceiveCount"] == "1"


@pytest.mark.parametrize(
    ("payload", "error", "failed"),
    [
        ({"batchItemFailures": []}, None, set()),
        (None, None, set()),
        ({"batchItemFailures": [{"itemIdentifier": "id-1"}]}, None, {"id-1"}),
        ({"batchItemFailures": [{"itemIdentifier": "not-in-batch"}]}, None, {"id-0", "id-1", "id-2"}),
        ({"batchItemFailures": [{"itemIdentifier": ""}]}, None, {"id-0", "id-1", "id-2"}),
        ({"ok": True}, RuntimeError("x"), {"id-0", "id-1", "id-2"}),
    ],
)
def test_partial_batch_responses_follow_lambdas_rules(payload: Any, error: Exception | None, failed: set[str]) -> None:
    records = sqs_event(MESSAGES, "arn", "us-east-1")["Records"]
    assert failed_items(records, Invocation("r", payload, error, 0.0), report_failures=True) == failed
