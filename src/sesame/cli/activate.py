"""``sesame activate RULE_SET_OR_STACK``: the blue/green switch, with checks and a way back.

A region has one active receipt rule set. This checks that the target can receive (the
rule set and its forward rule exist, SES may write to the bucket and invoke the function,
every domain is a verified identity with DKIM; MX records are reported, never required),
switches, and records the rule set it replaced in SSM under ``<alias path>/state/`` so that
``--rollback`` returns to it.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import Any

from sesame.adapters.receiving import ReceivingAccount, ReceivingError, state_parameter
from sesame.cli.common import CommandError, add_aws_options, aws_client, print_table
from sesame.config import DEFAULT_ALIAS_PATH
from sesame.ops.preflight import Check


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "activate",
        help="make a stack's receipt rule set the active one, after checks (blue/green)",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
    )
    parser.add_argument("target", metavar="RULE_SET_OR_STACK", help="a receipt rule set, or a stack whose rule set to activate")
    parser.add_argument("--rollback", action="store_true", help="go back to the rule set the last activation replaced")
    parser.add_argument("--dry-run", action="store_true", help="run the checks and show the switch, change nothing")
    parser.add_argument("--path", help=f"SSM alias path that keeps the state (default: the stack's, else {DEFAULT_ALIAS_PATH})")
    add_aws_options(parser)
    parser.set_defaults(func=run)


def account_for(args: argparse.Namespace) -> ReceivingAccount:
    from sesame.ops.dns import lookup_mx

    ses = aws_client(args, "ses")
    return ReceivingAccount(
        region=ses.meta.region_name,
        ses=ses,
        sesv2=aws_client(args, "sesv2"),
        s3=aws_client(args, "s3"),
        lambda_=aws_client(args, "lambda"),
        ssm=aws_client(args, "ssm"),
        cloudformation=aws_client(args, "cloudformation"),
        lookup_mx=lookup_mx,
    )


def _mark(check: Check) -> str:
    if check.ok is None:
        return "?"
    if check.ok:
        return "ok"
    return "FAIL" if check.required else "warn"


def print_checks(checks: list[Check]) -> None:
    print_table(("check", "result", "detail"), [(c.name, _mark(c), c.detail) for c in checks], max_width=90)


def run(args: argparse.Namespace) -> int:
    account = account_for(args)
    try:
        return _activate(args, account)
    except ReceivingError as exc:
        raise CommandError(str(exc), exit_code=1) from None


def _activate(args: argparse.Namespace, account: ReceivingAccount) -> int:
    target = account.resolve(args.target)
    alias_path = args.path or target.alias_path or DEFAULT_ALIAS_PATH
    current = account.active_rule_set()

    if args.rollback:
        state = account.read_state(alias_path)
        if state is None:
            raise CommandError(f"nothing to roll back: {state_parameter(alias_path)} does not exist (no activation recorded)")
        if state["activated"] != current:
            raise CommandError(
                f"the active rule set is {current or '(none)'}, not {state['activated']} as the last "
                f"`sesame activate` left it; activate the one you want by name"
            )
        goal: str | None = state.get("previous")
    else:
        goal = target.rule_set

    checks = account.preflight(goal) if goal else []
    if checks:
        print_checks(checks)
        print()
    blocked = [c for c in checks if c.blocks]
    if blocked and not args.rollback:
        raise CommandError(f"not activated: {len(blocked)} check(s) failed", exit_code=1)

    plan = [
        ("region", account.region),
        ("active now", current or "(none: receiving is off)"),
        ("to activate", goal or "(none: turns receiving off)"),
    ]
    if blocked:  # only on --rollback: going back is allowed with a failing check, and said
        plan.append(("warning", f"{len(blocked)} check(s) failed on {goal}; rolling back anyway"))
    if goal == current:
        print_table(("what", "value"), plan + [("result", "already active; nothing changed")])
        return 0
    if args.dry_run:
        print_table(("what", "value"), plan + [("result", "dry run: nothing changed")])
        return 0

    account.switch(goal)
    state = {"activated": goal, "previous": current, "at": datetime.now(UTC).isoformat(timespec="seconds")}
    try:
        where = account.write_state(alias_path, state)
    except ReceivingError as exc:
        raise CommandError(
            f"activated {goal or '(none)'}, but {exc}; to go back by hand: "
            + (f"aws ses set-active-receipt-rule-set --rule-set-name {current}" if current else "aws ses set-active-receipt-rule-set"),
            exit_code=1,
        ) from None
    back = f"sesame activate {args.target} --rollback" + (f" --path {alias_path}" if args.path else "")
    print_table(("what", "value"), plan + [
        ("result", f"activated {goal}" if goal else "receiving turned off"),
        ("recorded", f"{where} (previous: {current or 'none'})"),
        ("to go back", back),
    ])
    return 0


__all__ = ["register"]
