"""``sesame preview``: what the forwarder would do with a message, without touching AWS."""

from __future__ import annotations

import argparse
import contextlib
import json
import mmap
import os
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sesame.cli.common import CommandError
from sesame.core.addresses import InvalidAddress, normalize_address, parse_address_list
from sesame.core.alias_config import AliasConfig, load_aliases_file
from sesame.core.aliases import AliasConfigError, AliasTable
from sesame.core.event import InboundMail, verdicts_from_headers
from sesame.core.forward import Plan, plan_message
from sesame.core.message import parse_message
from sesame.core.outcome import Decision
from sesame.core.policy import decide
from sesame.core.rewrite import RewriteResult


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "preview",
        help="show the decision and the exact bytes that would be sent for a message",
        description="Decide what Sesame would do with MESSAGE sent to --recipient, offline.",
    )
    parser.add_argument("message", type=Path, help="a raw message (.eml), or - for standard input")
    parser.add_argument("--recipient", required=True, help="the envelope recipient (RCPT TO)")
    parser.add_argument("--sender", default=None, help="the envelope sender (MAIL FROM); default: the From address")
    parser.add_argument("--aliases", type=Path, default=Path("aliases.toml"), help="alias file (default: aliases.toml)")
    parser.add_argument("--json", action="store_true", help="print the decision as one JSON object")
    parser.add_argument("--output", type=Path, help="write the message that would be sent to this file")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        recipient = normalize_address(args.recipient)
    except InvalidAddress as exc:
        raise CommandError(f"--recipient: {exc}") from None
    try:
        config = load_aliases_file(args.aliases)
    except AliasConfigError as exc:
        raise CommandError(str(exc)) from None
    with _open_message(args.message) as raw:
        summary = preview(raw, recipient, config, sender=args.sender)
        rewritten: RewriteResult | None = summary.pop("rewritten")
        if args.output is not None:
            if rewritten is None:
                raise CommandError(
                    f"nothing would be sent ({summary['action']}: {summary['reason']}); --output not written"
                )
            _write(args.output, rewritten)
        if rewritten is not None:
            rewritten.body.release()  # the view into the mapped file, so the file can close
    if args.json:
        print(json.dumps(summary, indent=None, sort_keys=False))
    else:
        _print_human(summary)
    return 0


def preview(raw: bytes, recipient: str, config: AliasConfig, *, sender: str | None = None) -> dict[str, Any]:
    """The decision for ``recipient`` and, under ``rewritten``, what a forward would send.

    It runs the forwarder's own plan (:func:`sesame.core.forward.plan_message`): the same
    decision, checks, rewrite and bounce policy, with the verdicts SES wrote into the stored
    copy when the file is one (``X-SES-*-Verdict``, ``Authentication-Results``)."""
    message = parse_message(raw)
    from_field = message.first("From")
    if sender is not None:
        source = sender
    else:
        mailboxes = parse_address_list(from_field.text()).valid_mailboxes if from_field else ()
        source = mailboxes[0].address if mailboxes else ""
    subject = message.first("Subject")
    mail = InboundMail(
        message_id="preview",
        source=source,
        timestamp=datetime.now(UTC),
        recipients=(recipient,),
        subject=subject.text() if subject else None,
        verdicts=verdicts_from_headers([(f.name, f.text()) for f in message.fields]),
    )
    settings = config.apply_to_defaults()
    decisions = decide(mail, config.table, settings)
    if decisions[0].action == "drop":
        plan = Plan(decisions, {}, None, {}, message.defects, len(raw))
    else:
        plan = plan_message(mail, raw, decisions, settings)
    decision: Decision = plan.decisions[0]
    rewritten: RewriteResult | None = plan.copies.get(0)
    failure = plan.failures.get(0)
    held_back = plan.bounce.held_back if plan.bounce is not None and plan.bounce.message is None else None
    action = "drop" if held_back is not None else "fail" if failure is not None else decision.action
    summary: dict[str, Any] = decision.as_dict() | {
        "action": action,
        "from": settings.from_address(recipient) if rewritten is not None else None,
        "size": rewritten.size if rewritten is not None else None,
        "defects": [d.as_dict() for d in plan.defects],
        "warnings": list(decision.warnings),
        "rewritten": rewritten,
    }
    if held_back is not None:
        summary["detail"] = f"bounce held back: {held_back}"
        summary.pop("status_code", None)
    if failure is not None:
        summary["detail"] = failure.detail
    return summary


@contextlib.contextmanager
def _open_message(path: Path) -> Iterator[bytes]:
    """The message's bytes; a file is memory-mapped, so a 40 MB message is not copied to read it."""
    if str(path) == "-":
        yield sys.stdin.buffer.read()
        return
    try:
        with path.open("rb") as file:
            if os.fstat(file.fileno()).st_size == 0:
                yield b""
                return
            with mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
                yield mapped  # type: ignore[misc]  # mmap offers the bytes API the parser uses
    except OSError as exc:
        raise CommandError(f"{path}: {exc.strerror or exc}") from None


def _write(path: Path, rewritten: RewriteResult) -> None:
    try:
        with path.open("wb") as out:
            out.write(rewritten.head)
            out.write(rewritten.body)
    except OSError as exc:
        raise CommandError(f"--output {path}: {exc.strerror or exc}") from None


def _print_human(summary: dict[str, Any]) -> None:
    print(f"{summary['action']}: {summary['recipient']} ({summary['reason']})")
    if summary["rule"]:
        print(f"  rule:         {summary['rule']}")
    if summary["destinations"]:
        print(f"  destinations: {', '.join(summary['destinations'])}")
    if summary.get("from"):
        print(f"  from:         {summary['from']}")
    if summary.get("detail"):
        print(f"  note:         {summary['detail']}")
    for warning in summary["warnings"]:
        print(f"  warning:      {warning}")
    for defect in summary["defects"]:
        where = f" ({defect['header']})" if defect.get("header") else ""
        print(f"  defect:       {defect['kind']}{where}")


__all__ = ["AliasTable", "preview", "register"]
