"""What local mode prints: the start-up banner, one line per message, the closing tally."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sesame import config as env_names
from sesame.core.documents import printable
from sesame.local.aws.clients import FAKE_CREDENTIALS
from sesame.local.cfn import LOCAL_ACCOUNT

if TYPE_CHECKING:
    from sesame.local.stack import LocalStack


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
    return printable(line)  # the sender's addresses and text, shown without their controls


def tally(
    summaries: Iterable[dict[str, Any]],
    rewritten: Callable[[str], list[dict[str, Any]] | None] = lambda _message_id: None,
) -> str:
    """The closing line: messages, and their recipients by status. A message ``rewritten``
    gives newer outcomes for (``sesame redrive --local`` ran it again after its line was
    printed) counts by those, and the line says how many were redriven."""
    counts: dict[str, int] = {}
    n = redriven = 0
    for summary in summaries:
        n += 1
        outcomes = summary["outcomes"]
        latest = rewritten(summary["message_id"])
        if latest is not None:
            redriven += 1
            outcomes = _with_latest(outcomes, latest)
        for outcome in outcomes:
            status = str(outcome.get("status") or "unknown")
            counts[status] = counts.get(status, 0) + 1
    text = ", ".join(f"{c} {status}" for status, c in sorted(counts.items())) or "none"
    line = f"stopped after {n} message(s); their recipients: {text}"
    if redriven:
        line += f"; {redriven} message(s) redriven after their line was printed, counted by the latest outcome"
    return line


def _with_latest(printed: list[dict[str, Any]], latest: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each recipient's latest outcome; a recipient the newer record does not name (one no
    rule ran the forwarder for) keeps the one its line showed."""
    newer = {str(o.get("recipient") or "").lower(): o for o in latest}
    return [o for o in printed if str(o.get("recipient") or "").lower() not in newer] + list(newer.values())


def describe(self: LocalStack) -> dict[str, Any]:
    """``endpoints.json``: the running stack, for ``sesame status --local`` and friends."""
    assert self.wiring is not None and self.resources is not None and self.parts.moto is not None
    w, r = self.wiring, self.resources
    return {
        "version": 1,
        "pid": os.getpid(),
        "started": datetime.now(UTC).isoformat(),
        "region": w.region,
        "account": LOCAL_ACCOUNT,
        "stack_name": w.stack_name,
        "credentials": dict(FAKE_CREDENTIALS),
        "moto": {
            "endpoint": self.endpoints["default"],
            "services": {s: url for s, url in self.endpoints.items() if s not in ("default", "sesv2")},
            "pids": self.parts.moto.pids,
        },
        "ses": {"endpoint": self.parts.ses.endpoint if self.parts.ses else None},
        "smtp": {"host": self.options.host, "port": self.smtp_port},
        "bucket": self.forwarder_env.get(env_names.BUCKET),
        "queues": {lid: {"url": url, "arn": r.queue_arns[lid]} for lid, url in r.queue_urls.items()},
        "tables": r.tables,
        "functions": {
            lid: {"name": spec.name, "arn": spec.arn(w.region), "handler": spec.handler, "environment": self.env[lid]}
            for lid, spec in w.functions.items()
        },
        "alias_path": self.alias_path,
        "aliases_file": str(Path(self.options.aliases).resolve()),
        "outbox": str(self.outbox.folder.resolve()),
        "state_dir": str(self.state.root.resolve()),
        "index_dir": str(self.state.index.resolve()),
        "operator_email": self.options.operator_email,
        "faults": {"rate": self.options.faults, "seed": self.options.fault_seed, "sdk_retries": self.options.sdk_retries},
        "time_scale": self.options.time_scale,
    }

def banner(self: LocalStack) -> list[str]:
    """The start-up lines: where to send, where mail goes, how to try it."""
    assert self.wiring is not None and self.aliases is not None and self.parts.moto is not None
    w, opts = self.wiring, self.options
    lines = [
        f"sesame local: SES receiving stand-in on smtp://{opts.host}:{self.smtp_port} (max {opts.max_size} bytes)",
        f"  domains:  {', '.join(w.domains) or '(none)'}",
        f"  rules:    {w.template} (rule set {w.rule_set})",
        *(f"            {rule.describe()}" for rule in w.rules),
        f"  aliases:  {opts.aliases} -> SSM {self.alias_path} ({len(self.aliases.table.aliases)} aliases)",
        f"  outbox:   {self.outbox.folder.resolve()}",
        f"  state:    {self.state.root.resolve()} (index records, failed messages, endpoints.json)",
    ]
    if opts.relay:
        lines.append(f"  relay:    smtp://{opts.relay[0]}:{opts.relay[1]}")
    if self.parts.feedback_sources:
        route = ", ".join(f"{s.spec.queue} -> {s.function.spec.logical_id}" for s in self.parts.feedback_sources)
        marked = ", ".join(f"{kind}={address}" for address, kind in self.feedback_marks.items())
        lines.append(f"  feedback: SES bounces and complaints -> EventBridge -> {route}")
        lines.append(f"            from bounce@, complaint@, suppressionlist@simulator.amazonses.com"
                     f"{', --feedback ' + marked if marked else ''}{', relay refusals' if opts.relay else ''}")
    served = ", ".join(f"{name.replace('default', 'the rest')} {self.endpoints[name.partition('+')[0]]}"
                       for name in self.parts.moto.pids)
    lines.append(f"  AWS:      moto for {served}; SES v2 at "
                 f"{self.parts.ses.endpoint if self.parts.ses else '-'}; fake credentials, no AWS account")
    lines.append(f"  function: {w.forwarder.logical_id}, up to {len(self.parts.containers)} execution environment(s), "
                 "a process each, started as mail needs them")
    others = ", ".join(dict.fromkeys(f.spec.logical_id for f in self.parts.functions))
    if others:
        lines.append(f"            {others}: one execution environment each, started by its first batch")
    if opts.faults > 0:
        retries = "" if opts.sdk_retries else ", botocore retries off"
        lines.append(f"  faults:   {opts.faults:g} of AWS calls (seed {opts.fault_seed}{retries}) -> {self.state.faults_log}")
    lines.append(f"  try:      {send_command(self)}")
    lines += [f"  warning:  {warning}" for warning in w.warnings]
    lines.append("Ready: one line per message below. Ctrl-C stops.")
    return lines

def send_command(self: LocalStack) -> str:
    python = Path(sys.executable)
    with contextlib.suppress(ValueError):
        python = python.relative_to(Path.cwd())
    command = f"{python} -m sesame.local.send --to {sample_recipient(self)}"
    if self.smtp_port != 2525:
        command += f" --port {self.smtp_port}"
    return command

def sample_recipient(self: LocalStack) -> str:
    assert self.aliases is not None and self.wiring is not None
    for key, alias in self.aliases.table.aliases.items():
        if not key.startswith("@") and alias.enabled and alias.expires is None and self.wiring.route(key).rules:
            return key
    domain = self.wiring.domains[0] if self.wiring.domains else "example.com"
    return f"someone@{domain}"
