"""What local mode prints: the start-up banner, one line per message, the closing tally."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def format_summary(summary: dict[str, Any]) -> str:
    """``<id> from <sender>: <recipient> <status> (<reason>) [-> destinations]; ... [kept: path]``."""
    parts = []
    for o in summary["outcomes"]:
        text = f"{o['recipient']} {o['status']} ({o['reason']}"
        if o.get("detail"):
            text += f": {o['detail']}"
        text += ")"
        if o["status"] in ("forwarded", "bounced") and o.get("destinations"):
            text += " -> " + ", ".join(o["destinations"])
        parts.append(text)
    line = f"{summary['message_id']} from <{summary['source']}>: " + "; ".join(parts)
    if summary.get("kept"):
        line += f" [kept: {summary['kept']}]"
    if summary.get("report"):
        line += f" [operator report: {summary['report']}]"
    if summary.get("unreported"):
        line += " [NOT REPORTED: the dead-letter function gave up; the record is in the unreported-failures queue]"
    return line


def tally(summaries: Iterable[dict[str, Any]]) -> str:
    counts: dict[str, int] = {}
    n = 0
    for summary in summaries:
        n += 1
        for outcome in summary["outcomes"]:
            counts[outcome["status"]] = counts.get(outcome["status"], 0) + 1
    text = ", ".join(f"{c} {status}" for status, c in sorted(counts.items())) or "nothing"
    return f"stopped after {n} message(s): {text}"
