"""``sesame suppressions list|add|rm``: who gets no forwarded mail, why, and resuming it.

Entries come from the feedback function (hard and soft bounces per destination, complaint
pauses per destination and alias) and from ``add``. ``rm`` resumes forwarding: with
``--destination`` alone everything that stops that destination, with ``--alias`` too only
that alias's pause, with ``--alias`` alone every pause of that alias. SES keeps its own
account-level suppression list besides (hard bounces): remove an address there with
``aws sesv2 delete-suppressed-destination --email-address ADDRESS``.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from sesame.cli.common import CommandError, add_aws_options, aws_client, print_table, stack_outputs
from sesame.core.addresses import InvalidAddress, normalize_address

DEFAULT_STACK = "sesame"
DEFAULT_STATE_DIR = Path(".sesame-local")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "suppressions",
        help="list, add or remove destinations that get no forwarded mail (bounces, complaints)",
        description=(__doc__ or "").split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="the entries in force (--all: expired ones and soft-bounce counts too)")
    listing.add_argument("--all", action="store_true", help="also entries no longer in force")
    listing.add_argument("--json", action="store_true", help="print the entries as JSON")
    add = actions.add_parser("add", help="stop forwarding to a destination (for one alias, or every alias)")
    add.add_argument("--note", default="", help="why, for the record")
    remove = actions.add_parser("rm", help="resume forwarding (--destination, --alias, or both)")
    for sub in (listing, add, remove):
        sub.add_argument("--destination", help="a destination address")
        sub.add_argument("--alias", help="an alias address (complaint pauses are per alias)")
        sub.add_argument("--stack", default=DEFAULT_STACK, help=f"the deployed stack (default {DEFAULT_STACK})")
        sub.add_argument("--local", action="store_true", help="the running `sesame local`")
        sub.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR, help="with --local: the running stack's state folder (default .sesame-local)")
        add_aws_options(sub)
    parser.set_defaults(func=run)


def _address(value: str | None, what: str) -> str | None:
    if value is None:
        return None
    if value.startswith("@"):  # a catch-all alias
        return "@" + value[1:].strip().lower()
    try:
        return normalize_address(value)
    except InvalidAddress as exc:
        raise CommandError(f"--{what}: {exc}") from None


def _suppression_list(args: argparse.Namespace) -> Any:
    from sesame.adapters.suppression import DynamoSuppressionList

    if args.local:
        from sesame.ops.local_stack import LocalStackError, load_local_stack

        try:
            stack = load_local_stack(args.state_dir)
        except LocalStackError as exc:
            raise CommandError(str(exc)) from None
        table = stack.table("Suppression")
        if table is None:
            raise CommandError(f"the local stack in {args.state_dir} has no suppression table")
        return DynamoSuppressionList(stack.client("dynamodb"), table)
    outputs = stack_outputs(aws_client(args, "cloudformation"), args.stack)
    if "SuppressionTableName" not in outputs:
        raise CommandError(f"stack {args.stack!r} has no SuppressionTableName output: deploy the current template")
    return DynamoSuppressionList(aws_client(args, "dynamodb"), outputs["SuppressionTableName"])


def run(args: argparse.Namespace) -> int:
    destination = _address(args.destination, "destination")
    alias = _address(args.alias, "alias")
    suppressions = _suppression_list(args)
    now = datetime.now(UTC)
    try:
        if args.action == "list":
            return _list(suppressions, destination, alias, now, show_all=args.all, as_json=args.json)
        if args.action == "add":
            if destination is None:
                raise CommandError("add needs --destination (and --alias to stop only that alias)")
            suppressions.add(destination, alias, args.note, now)
            print(f"{destination}: no mail from {alias or 'any alias'} until `sesame suppressions rm`")
            return 0
        if destination is None and alias is None:
            raise CommandError("rm needs --destination, --alias, or both")
        removed = suppressions.remove(destination=destination, alias=alias)
        target = " for ".join(x for x in (destination, alias) if x)
        print(f"{target}: {removed} entr{'y' if removed == 1 else 'ies'} removed; forwarding resumes"
              if removed else f"{target}: nothing to remove")
        return 0
    except (ClientError, BotoCoreError) as exc:
        raise CommandError(f"the suppression table: {exc}", exit_code=1) from None


def _list(suppressions: Any, destination: str | None, alias: str | None, now: datetime, *, show_all: bool,
          as_json: bool) -> int:
    entries = [e for e in suppressions.entries(destination=destination, alias=alias) if show_all or e.active(now)]
    if as_json:
        json.dump([{"destination": e.destination, "alias": e.alias, "reason": e.reason, "since": e.since,
                    "until": e.until.isoformat() if e.until and e.until.year > 1 else None, "detail": e.detail,
                    "active": e.active(now)} for e in entries], sys.stdout, indent=1)
        sys.stdout.write("\n")
        return 0

    def until(entry: Any) -> str:
        if entry.until is None:
            return "until removed"
        if entry.until.year == 1:
            return "(counting)"
        return entry.until.strftime("%Y-%m-%d %H:%M") + ("" if entry.active(now) else " (over)")

    print_table(
        ("destination", "alias", "reason", "since", "until", "detail"),
        [(e.destination, e.alias or "(every alias)", e.reason, (e.since or "")[:16], until(e), e.detail) for e in entries],
    )
    print(f"({len(entries)} entr{'y' if len(entries) == 1 else 'ies'}{'' if show_all else ' in force'})")
    return 0


__all__ = ["register"]
