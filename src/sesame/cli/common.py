"""What every subcommand shares: the AWS options and the error type."""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Sequence
from typing import Any

from sesame.core.documents import printable


class CommandError(Exception):
    """An expected failure: printed as one line, exit status ``exit_code``."""

    def __init__(self, message: str, exit_code: int = 2) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def add_aws_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("AWS")
    group.add_argument("--region", help="AWS region (default: from your AWS configuration)")
    group.add_argument("--profile", help="AWS named profile")
    group.add_argument("--endpoint-url", help="send AWS calls to this endpoint (e.g. a local emulator)")


def aws_client(args: argparse.Namespace, service: str) -> Any:
    """A client with Sesame's timeouts and retries for ``service`` (:mod:`sesame.aws`)."""
    import boto3
    from botocore.exceptions import BotoCoreError

    from sesame.aws import make_client

    try:
        # One session per command: each new session reads the service models again.
        session = getattr(args, "_aws_session", None)
        if session is None:
            session = boto3.Session(profile_name=args.profile, region_name=args.region)
            args._aws_session = session
        return make_client(service, session=session, endpoint_url=args.endpoint_url)
    except BotoCoreError as exc:  # unknown profile, no region, bad endpoint URL
        raise CommandError(with_aws_hint(exc)) from None


def with_aws_hint(exc: BaseException) -> str:
    """botocore's message, and what to do when it is the set-up that is missing."""
    from botocore.exceptions import NoCredentialsError, NoRegionError

    if isinstance(exc, NoRegionError):
        return f"{exc} Pass --region, or set AWS_DEFAULT_REGION or a region in your AWS config."
    if isinstance(exc, NoCredentialsError):
        return f"{exc} Sign in (e.g. `aws configure` or `aws sso login`), or pass --profile."
    return str(exc)


def stack_outputs(cloudformation: Any, stack: str) -> dict[str, str]:
    """A CloudFormation stack's outputs by key; a missing stack is a :class:`CommandError`."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        (found,) = cloudformation.describe_stacks(StackName=stack)["Stacks"]
    except ClientError as exc:
        if "does not exist" in str(exc):
            raise CommandError(f"no stack {stack!r} in this region (--stack names another)") from None
        raise CommandError(f"cannot describe stack {stack!r}: {exc}") from None
    except BotoCoreError as exc:
        raise CommandError(f"cannot reach CloudFormation: {exc}") from None
    return {o["OutputKey"]: o["OutputValue"] for o in found.get("Outputs", [])}


def print_table(columns: Sequence[str], rows: Iterable[Sequence[Any]], *, max_width: int = 60) -> None:
    """Rows as aligned text columns; long cells are cut (``--json`` gives them whole)."""

    def cell(value: Any) -> str:
        text = "" if value is None else str(value)
        text = printable(" ".join(text.split()))  # no line break or terminal control from hostile text
        return text if len(text) <= max_width else text[: max_width - 3] + "..."

    body = [[cell(v) for v in row] for row in rows]
    widths = [max([len(c)] + [len(r[i]) for r in body]) for i, c in enumerate(columns)]
    for line in [list(columns), ["-" * w for w in widths], *body]:
        print("  ".join(text.ljust(width) for text, width in zip(line, widths, strict=False)).rstrip())
