"""Local mode's speed-ups to moto's DynamoDB (:mod:`sesame.local.aws.moto_speedups`) change no
answer: the same requests, sent to moto with them and without them in two fresh processes,
get the same answers, the same errors and leave the same items."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

PROBE = Path(__file__).resolve().parent / "moto_speedups_probe.py"


def _run(*flags: str) -> list[dict]:
    done = subprocess.run([sys.executable, str(PROBE), *flags], capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return [json.loads(line) for line in done.stdout.splitlines()]


def test_given_the_same_requests_then_moto_answers_alike_with_and_without_the_speedups() -> None:
    plain, fast = _run(), _run("--speedups")
    applied = fast.pop(0)["applied"]
    # All of them, on the moto this project pins: one that no longer fits moto's shape is
    # skipped in local mode (moto runs as it is), and this says so.
    assert applied == ["keep_parsed_update_expressions", "keep_lexed_condition_expressions",
                       "processed_node_types_per_class", "node_tests_per_class",
                       "one_pass_clause_counts", "handler_methods_per_class"]
    assert fast == plain
    answers = [line["answer"] for line in plain if "answer" in line]
    # The comparison means something: the requests succeeded, failed their conditions, were
    # refused as invalid, and hit moto's own bugs, each on repeated expressions.
    assert any(isinstance(a, dict) and "state" in a for a in answers)
    kinds = {a["error"]["Code"] for a in answers if isinstance(a, dict) and "error" in a}
    assert {"ConditionalCheckFailedException", "ValidationException"} <= kinds
    assert any(isinstance(a, dict) and "raised" in a for a in answers)
    assert plain[-1]["items"]

