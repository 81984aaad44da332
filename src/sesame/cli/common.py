"""What every subcommand shares: the AWS options and the error type."""

from __future__ import annotations

import argparse
from typing import Any


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
    import boto3
    from botocore.exceptions import BotoCoreError

    try:
        session = boto3.Session(profile_name=args.profile, region_name=args.region)
        return session.client(service, endpoint_url=args.endpoint_url)
    except BotoCoreError as exc:  # unknown profile, no region, bad endpoint URL
        raise CommandError(str(exc)) from None
