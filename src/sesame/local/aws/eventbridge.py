"""EventBridge's event buses, as far as the template uses them: rules whose event pattern
matches an event send it to their SQS targets.

Matching follows the EventBridge User Guide ("Event patterns", "Comparison operators"): every
field the pattern names must match; a leaf is an array of values and matches when the event's
value, or any element of an array value, equals one of them; an object matches the nested
object. Content filters (objects inside the array: ``prefix``, ``anything-but``, ``exists``,
``numeric`` ...) are not emulated: a rule using one matches nothing here, and says so when local
mode starts. An SQS target with no ``Input``/``InputPath`` gets the whole event, as JSON, as its
message body ("Amazon SQS" targets; the body the feedback queue sees in
``events/sqs_feedback.json``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from sesame.local.wiring import EventRuleSpec


def unsupported_filters(pattern: Any, path: str = "") -> list[str]:
    """The fields of ``pattern`` that use a content filter this stand-in does not emulate."""
    if isinstance(pattern, Mapping):
        return [f for key, value in pattern.items() for f in unsupported_filters(value, f"{path}{key}.")]
    if isinstance(pattern, list):
        return [path.rstrip(".")] if any(isinstance(v, Mapping) for v in pattern) else []
    return [path.rstrip(".")]  # a leaf must be an array


def matches(pattern: Mapping[str, Any], event: Mapping[str, Any]) -> bool:
    for key, wanted in pattern.items():
        if key not in event:
            return False
        value = event[key]
        if isinstance(wanted, Mapping):
            if not (isinstance(value, Mapping) and matches(wanted, value)):
                return False
        elif isinstance(wanted, list):
            candidates = value if isinstance(value, list) else [value]
            if any(isinstance(w, Mapping) for w in wanted) or not any(c in wanted for c in candidates):
                return False
        else:
            return False
    return True


class EventBus:
    """One bus (``default``, where SES publishes) and the rules on it."""

    def __init__(self, rules: tuple[EventRuleSpec, ...], send: Callable[[str, str], None], name: str = "default") -> None:
        self.rules = tuple(r for r in rules if r.bus == name and r.enabled and not unsupported_filters(r.pattern))
        self.send = send  # (queue logical id, message body)
        self.name = name

    @property
    def targets(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(q for rule in self.rules for q in rule.targets))

    def put(self, event: Mapping[str, Any]) -> list[str]:
        """PutEvents for one event: the queues it went to (none when no rule matches)."""
        body = json.dumps(event)
        delivered = []
        for rule in self.rules:
            if matches(rule.pattern, event):
                for queue in rule.targets:
                    self.send(queue, body)
                    delivered.append(queue)
        return delivered


__all__ = ["EventBus", "matches", "unsupported_filters"]
