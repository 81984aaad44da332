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
from sesame.core.addresses import InvalidAddress, normalize_address
from sesame.core.alias_config import AliasConfig, load_aliases_file
from sesame.core.aliases import AliasConfigError, AliasTable
from sesame.core.event import InboundMail
from sesame.core.forward import rewrite_for
from sesame.core.message import parse_message
from sesame.core.outcome import Decision
from sesame.core.policy import check_message, decide, may_bounce
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
    """The decision for ``recipient`` and, under ``rewritten``, what a forward would send."""
    message = parse_message(raw)
    from_field = message.first("From")
    source = sender if sender is not None else _first_address(from_field.text() if from_field else "")
    subject = message.first("Subject")
    mail = InboundMail(
        message_id="preview",
        source=source,
        timestamp=datetime.now(UTC),
        recipients=(recipient,),
        subject=subject.text() if subject else None,
    )
    settings = config.apply_to_defaults()
    decision: Decision = check_message(decide(mail, config.table, settings)[0], message, settings)
    rewritten: RewriteResult | None = None
    defects = list(message.defects)
    note = None
    if decision.action == "forward":
        rewritten = rewrite_for(message, mail, decision, settings)
        defects = list(dict.fromkeys(rewritten.defects))
    elif decision.action == "bounce":
        note = may_bounce(mail, message)
    held_back = note is not None
    summary: dict[str, Any] = decision.as_dict() | {
        "action": "drop" if held_back else decision.action,
        "from": settings.from_address(recipient) if decision.action == "forward" else None,
        "size": rewritten.size if rewritten is not None else None,
        "defects": [d.as_dict() for d in defects],
        "warnings": list(decision.warnings),
        "rewritten": rewritten,
    }
    if held_back:
        summary["detail"] = f"bounce held back: {note}"
        summary.pop("status_code", None)
    return summary


def _first_address(text: str) -> str:
    import email.utils

    addresses = [a for _, a in email.utils.getaddresses([text]) if "@" in a]
    return addresses[0] if addresses else ""


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
