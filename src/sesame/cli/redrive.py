"""``sesame redrive [MESSAGE_ID ...] [--all] [--dry-run]``: replay dead-lettered messages.

Finds each failed message in the dead-letter and unreported-failures queues and under
error/ (the dead-letter function's copy of the event), replays its original SES event through the
forwarder, prints per recipient what was sent now and what had been delivered before (and
so was skipped), and deletes from the queues what succeeded, and only that.

How the forwarder runs:

- by default here, in this process: the forwarding handler with the deployed function's
  environment (read from Lambda) and your credentials. The sends are watched, so the output
  says exactly which destinations got the message now;
- --invoke: the deployed function itself, synchronously (its role, its code). Its
  answer lists the destinations reached, not which of them were replays;
- --local: against a running `sesame local`, from its endpoints.json.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from sesame import config as env_names
from sesame.cli.common import CommandError, add_aws_options, aws_client, print_table, stack_outputs
from sesame.core.redrive import describe
from sesame.ops.redrive import (
    DeadLetters,
    DeployedForwarder,
    InProcessForwarder,
    Pending,
    RedriveError,
    StackPlaces,
    redrive,
)

DEFAULT_STACK = "sesame"
QUARANTINE_DAYS = 30  # the template's QuarantineRetentionDays default
DEFAULT_STATE_DIR = Path(".sesame-local")
# Logical ids in template.yaml, which local mode's endpoints.json keys its resources by.
FORWARDER, DEAD_LETTER_FUNCTION = "HandleEmailFunction", "DeadLetterFunction"
QUEUES = ("DeadLetterQueue", "UnreportedFailuresQueue")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "redrive",
        help="replay dead-lettered messages through the forwarder (sends are idempotent)",
        description=(__doc__ or "").split("\n\n", 1)[1] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("message_ids", nargs="*", metavar="MESSAGE_ID", help="the SES message ids to redrive")
    parser.add_argument("--all", action="store_true", help="every dead-lettered message not yet redriven")
    parser.add_argument("--dry-run", action="store_true", help="list what would be redriven; change nothing")
    parser.add_argument("--from-quarantine", metavar="MESSAGE_ID",
                        help="release a quarantined message: forward it past the verdict that quarantined it")
    parser.add_argument("--days", type=int, default=QUARANTINE_DAYS,
                        help=f"with --from-quarantine: how many days back to look (default {QUARANTINE_DAYS})")
    parser.add_argument("--stack", default=DEFAULT_STACK, help=f"the deployed stack (default {DEFAULT_STACK})")
    how = parser.add_mutually_exclusive_group()
    how.add_argument("--invoke", action="store_true", help="invoke the deployed function instead of running it here")
    how.add_argument("--local", action="store_true", help="redrive in the running `sesame local` (no AWS account)")
    parser.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR,
                        help=f"local mode's state folder, with endpoints.json (default {DEFAULT_STATE_DIR})")
    parser.add_argument("--verbose", action="store_true", help="show the forwarder's log lines (on stderr)")
    add_aws_options(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.from_quarantine and (args.message_ids or args.all):
        raise CommandError("--from-quarantine releases one message: name no other MESSAGE_ID and no --all")
    if not args.from_quarantine and bool(args.message_ids) == bool(args.all):
        raise CommandError("name the MESSAGE_IDs to redrive, or --all (with --dry-run to only list them)")
    if args.local:
        dead_letters, runner = _local(args)
    else:
        dead_letters, runner = _deployed(args)
    wanted = None if args.all else set(args.message_ids)
    try:
        if args.from_quarantine:
            found = dead_letters.quarantined(args.from_quarantine, days=args.days, today=datetime.now(UTC).date())
            if found is None:
                raise CommandError(f"no index record of {args.from_quarantine} in the last {args.days} days", exit_code=1)
            pending, unreadable, resolved, wanted = [found], [], [], {found.message_id}
        else:
            pending, unreadable, resolved = dead_letters.collect(wanted)
    except RedriveError as exc:
        raise CommandError(str(exc), exit_code=1) from None
    for item in unreadable:
        print(f"sesame redrive: skipped {item.where}: {item.why}", file=sys.stderr)
    missing = sorted((wanted or set()) - {p.message_id for p in pending})
    for message_id in missing:
        print(f"sesame redrive: {message_id} is in no dead-letter queue and has no {dead_letters.places.error_prefix}"
              f"{message_id}.json", file=sys.stderr)
    if args.dry_run:
        dead_letters.release(r for p in pending for r in p.records)
        _print_pending(pending, resolved)
        return 1 if missing else 0
    if not pending:
        print("nothing to redrive" + (f" ({len(resolved)} already redriven)" if resolved else ""))
        return 1 if missing else 0

    def show(_item: Pending, result: Any) -> None:
        print("\n".join(describe(result)), flush=True)

    try:
        results = redrive(dead_letters, pending, runner, on_result=show)
    except RedriveError as exc:
        raise CommandError(str(exc), exit_code=1) from None
    done = sum(r.succeeded for r in results)
    print(f"{done} redriven, {len(results) - done} still failing"
          + (" (their queue records were released, the error contexts kept)" if done < len(results) else ""))
    return 0 if done == len(results) and not missing else 1


def _print_pending(pending: list[Pending], resolved: list[str]) -> None:
    print_table(
        ("message", "from", "recipients", "error", "waiting in"),
        [(p.message_id, p.mail.source or "<>", ", ".join(p.mail.recipients), p.error, p.where) for p in pending],
    )
    note = f"; {len(resolved)} in error/ already redriven" if resolved else ""
    print(f"({len(pending)} to redrive{note}; nothing was changed)")


# --- where the stack is, and how its forwarder runs -----------------------------------------


def _deployed(args: argparse.Namespace) -> tuple[DeadLetters, Any]:
    outputs = stack_outputs(aws_client(args, "cloudformation"), args.stack)
    needed = ("BucketName", "ForwarderFunctionName", "DeadLetterQueueUrl")
    missing = [key for key in needed if key not in outputs]
    if missing:
        raise CommandError(f"stack {args.stack!r} has no {', '.join(missing)} output: is it a Sesame stack?")
    lambda_ = aws_client(args, "lambda")
    forwarder_env = _function_env(lambda_, outputs["ForwarderFunctionName"])
    dead_letter_env = _function_env(lambda_, outputs["DeadLetterFunctionName"]) if "DeadLetterFunctionName" in outputs else {}
    places = StackPlaces(
        bucket=outputs["BucketName"],
        queue_urls=tuple(outputs[k] for k in ("DeadLetterQueueUrl", "UnreportedFailuresQueueUrl") if k in outputs),
        error_prefix=dead_letter_env.get(env_names.ERROR_PREFIX, env_names.DEFAULT_ERROR_PREFIX),
        index_prefix=forwarder_env.get(env_names.INDEX_PREFIX, env_names.DEFAULT_INDEX_PREFIX),
    )
    dead_letters = DeadLetters(aws_client(args, "sqs"), aws_client(args, "s3"), places)
    if args.invoke:
        return dead_letters, DeployedForwarder(lambda_, outputs["ForwarderFunctionName"])
    log = sys.stderr if args.verbose else None
    return dead_letters, InProcessForwarder(forwarder_env, lambda service: aws_client(args, service), log=log)


def _function_env(lambda_: Any, name: str) -> dict[str, str]:
    try:
        configuration = lambda_.get_function_configuration(FunctionName=name)
    except (ClientError, BotoCoreError) as exc:
        raise CommandError(f"cannot read the configuration of function {name}: {exc}", exit_code=1) from None
    return dict((configuration.get("Environment") or {}).get("Variables") or {})


def _local(args: argparse.Namespace) -> tuple[DeadLetters, Any]:
    from sesame.ops.local_stack import LocalStackError, load_local_stack

    try:
        stack = load_local_stack(args.state_dir)
    except LocalStackError as exc:
        raise CommandError(str(exc)) from None
    forwarder_env = stack.function_env(FORWARDER)
    dead_letter_env = stack.function_env(DEAD_LETTER_FUNCTION, required=False)
    places = StackPlaces(
        bucket=forwarder_env.get(env_names.BUCKET) or stack.bucket,
        queue_urls=tuple(url for url in (stack.queue_url(q) for q in QUEUES) if url),
        error_prefix=dead_letter_env.get(env_names.ERROR_PREFIX, env_names.DEFAULT_ERROR_PREFIX),
        index_prefix=forwarder_env.get(env_names.INDEX_PREFIX, env_names.DEFAULT_INDEX_PREFIX),
    )
    dead_letters = DeadLetters(stack.client("sqs"), stack.client("s3"), places)
    return dead_letters, InProcessForwarder(forwarder_env, stack.client, log=sys.stderr if args.verbose else None)


__all__ = ["register"]
