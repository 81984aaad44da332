"""Execution environments in processes of their own (local mode's forwarder): warm reuse,
errors as the runtime reports them, crashes and timeouts that end an environment, and the
asynchronous queue spreading a burst over several environments."""

from __future__ import annotations

import io
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from sesame.local.lambdas.async_invoke import AsyncEvent, AsyncInvoker
from sesame.local.lambdas.function import Invocation
from sesame.local.lambdas.process import ProcessContainer
from sesame.local.lambdas.records import FunctionError, describe_error, on_failure_record
from sesame.local.wiring import FunctionSpec

TESTS = Path(__file__).resolve().parent


def spec(timeout: int = 30) -> FunctionSpec:
    return FunctionSpec("ProbeFunction", "sesame-probe", "probe_lambda.handler", {}, memory=256, timeout=timeout)


@pytest.fixture
def probe_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # The environment's process imports the handler as Lambda does, from its own path.
    monkeypatch.setenv("PYTHONPATH", f"{TESTS}{':' + sys.path[0] if sys.path else ''}")


def container(timeout: int = 30, env: dict[str, str] | None = None, logs: Any = None) -> ProcessContainer:
    settings = {
        "runtime": None,
        "function": {"logical_id": "ProbeFunction", "name": "sesame-probe", "handler": "probe_lambda.handler",
                     "memory": 256, "timeout": timeout, "arn": "arn:aws:lambda:us-east-1:123456789012:function:sesame-probe"},
        "region": "us-east-1",
        "env": {"PROBE_VALUE": "from the template", **(env or {})},
        "endpoints": {"default": "http://127.0.0.1:9"},
        "state_dir": ".",
    }
    return ProcessContainer(spec(timeout), "us-east-1", lambda: settings, logs=logs)


def test_given_an_environment_when_invoked_twice_then_the_second_runs_warm_in_the_same_process(probe_env: None) -> None:
    box = container()
    try:
        first = box.invoke({"n": 1}, "req-1")
        second = box.invoke({"n": 2}, "req-2")
    finally:
        box.stop()
    assert first.error is None and second.error is None
    assert first.payload["pid"] == second.payload["pid"] and box.starts == 1
    assert (first.payload["calls"], second.payload["calls"]) == (1, 2)  # module state lives on, as in Lambda
    assert second.payload["request_id"] == "req-2" and second.payload["n"] == 2
    assert second.payload["env"] == "from the template"  # the function's variables are its environment
    assert 0 < second.payload["remaining_ms"] <= 30_000


def test_given_a_handler_that_prints_then_the_print_goes_to_the_log_and_the_answer_is_intact(probe_env: None) -> None:
    logs = io.StringIO()
    box = container(logs=logs)
    try:
        printed = box.invoke({"do": "print", "n": 7})
        box.invoke({"n": 8})  # the log reader has certainly read the earlier lines by now
    finally:
        box.stop()
    assert printed.error is None and printed.payload["n"] == 7
    assert "a line on stdout is the function's log" in logs.getvalue() and "and stderr too" in logs.getvalue()


def test_given_a_handler_error_then_it_is_the_runtimes_error_payload_and_the_environment_stays(probe_env: None) -> None:
    box = container()
    try:
        failed = box.invoke({"do": "raise", "n": 3}, "req-x")
        after = box.invoke({"n": 4})
    finally:
        box.stop()
    assert isinstance(failed.error, FunctionError)
    assert describe_error(failed.error) == "ValueError: bad event 3"
    assert any("probe_lambda.py" in line for line in failed.error.payload["stackTrace"])
    record = on_failure_record(request_id="req-x", function_arn="arn", condition="RetriesExhausted", attempts=3,
                               event={"do": "raise"}, error=failed.error)
    assert record["responsePayload"]["errorType"] == "ValueError"
    assert after.error is None and box.starts == 1


def test_given_a_process_that_dies_mid_invocation_then_runtime_exit_error_and_a_new_environment(probe_env: None) -> None:
    box = container()
    try:
        first_pid = box.invoke({"n": 0}).payload["pid"]
        crashed = box.invoke({"do": "exit"}, "req-dead")
        after = box.invoke({"n": 1})
    finally:
        box.stop()
    assert isinstance(crashed.error, FunctionError)
    assert crashed.error.payload["errorType"] == "Runtime.ExitError"
    assert "RequestId: req-dead Error: Runtime exited with error: exit status 3" in str(crashed.error)
    assert after.error is None and after.payload["pid"] != first_pid and after.payload["calls"] == 1
    assert box.starts == 2


def test_given_an_invocation_past_the_timeout_then_sandbox_timedout_and_a_new_environment(probe_env: None) -> None:
    box = container(timeout=1)
    try:
        first_pid = box.invoke({"n": 0}).payload["pid"]
        slow = box.invoke({"do": "sleep", "seconds": 30}, "req-slow")
        after = box.invoke({"n": 1})
    finally:
        box.stop()
    assert isinstance(slow.error, FunctionError)
    assert slow.error.payload["errorType"] == "Sandbox.Timedout"
    assert str(slow.error) == "RequestId: req-slow Error: Task timed out after 1.00 seconds"
    assert after.error is None and after.payload["pid"] != first_pid


def test_given_an_init_error_then_start_raises_it_and_an_invocation_fails_with_it(probe_env: None) -> None:
    box = container(env={"PROBE_FAIL_INIT": "1"})
    with pytest.raises(FunctionError) as caught:
        box.start()
    assert describe_error(caught.value) == "ImportError: No module named 'missing_dependency'"
    failed = box.invoke({"n": 1})
    assert isinstance(failed.error, FunctionError) and failed.error.payload["errorType"] == "ImportError"
    box.stop()


def test_given_an_answer_json_cannot_carry_then_runtime_marshal_error(probe_env: None) -> None:
    box = container()
    try:
        result = box.invoke({"do": "unserializable"})
    finally:
        box.stop()
    assert isinstance(result.error, FunctionError) and result.error.payload["errorType"] == "Runtime.MarshalError"


class SlowFunction:
    """Takes ``seconds`` per invocation; records which environment ran what, and overlaps."""

    arn = "arn:aws:lambda:us-east-1:123456789012:function:slow"

    def __init__(self, slot: int, log: list[tuple[int, int]], running: list[int], lock: threading.Lock, seconds: float) -> None:
        self.name = f"slow-{slot}"
        self.slot, self.log, self.running, self.lock, self.seconds = slot, log, running, lock, seconds

    def invoke(self, event: dict[str, Any], request_id: str | None = None) -> Invocation:
        with self.lock:
            self.running.append(1)
            self.log.append((self.slot, len(self.running)))
        time.sleep(self.seconds)
        with self.lock:
            self.running.pop()
        return Invocation(request_id or "", {"n": event["n"]}, None, self.seconds)


def run_invoker(events: int, *, slots: int, seconds: float, one_at_a_time: bool) -> list[tuple[int, int]]:
    log: list[tuple[int, int]] = []
    lock = threading.Lock()
    running: list[int] = []
    done: list[AsyncEvent] = []
    finished = threading.Condition()

    def on_done(item: AsyncEvent, ok: bool) -> None:
        assert ok
        with finished:
            done.append(item)
            finished.notify_all()

    invoker = AsyncInvoker(
        [SlowFunction(slot, log, running, lock, seconds) for slot in range(slots)], retry_attempts=0, on_done=on_done
    )
    invoker.start()
    try:
        for n in range(events):
            invoker.invoke({"n": n})
            if one_at_a_time:
                with finished:
                    assert finished.wait_for(lambda n=n: len(done) == n + 1, 30)
        with finished:
            assert finished.wait_for(lambda: len(done) == events, 30)
    finally:
        invoker.stop()
    return log


def test_given_one_event_at_a_time_then_only_the_first_environment_is_used() -> None:
    log = run_invoker(6, slots=3, seconds=0.001, one_at_a_time=True)
    assert {slot for slot, _ in log} == {0}


def test_given_a_burst_then_it_spreads_over_the_environments_up_to_the_concurrency() -> None:
    log = run_invoker(9, slots=3, seconds=0.3, one_at_a_time=False)
    assert {slot for slot, _ in log} == {0, 1, 2}
    assert max(concurrent for _, concurrent in log) == 3  # never more than the environments
