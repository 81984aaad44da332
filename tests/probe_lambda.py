"""A Lambda handler for testing execution environments: the event says what to do."""

from __future__ import annotations

import os
import sys
import time
from typing import Any

if os.environ.get("PROBE_FAIL_INIT"):
    raise ImportError("No module named 'missing_dependency'")

STARTED = time.time()
calls = 0


def handler(event: dict[str, Any], context: Any) -> Any:
    global calls
    calls += 1
    action = event.get("do")
    if action == "print":
        print("a line on stdout is the function's log, not its answer")
        print("and stderr too", file=sys.stderr)
    if action == "raise":
        raise ValueError(f"bad event {event.get('n')}")
    if action == "exit":
        os._exit(3)
    if action == "sleep":
        time.sleep(float(event["seconds"]))
    if action == "unserializable":
        return {"when": object()}
    return {
        "pid": os.getpid(),
        "calls": calls,
        "request_id": context.aws_request_id,
        "remaining_ms": context.get_remaining_time_in_millis(),
        "env": os.environ.get("PROBE_VALUE"),
        "n": event.get("n"),
    }
