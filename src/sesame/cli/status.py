"""``sesame status``: is this region receiving, with what, and is anything failing?

The active rule set and the Sesame stacks' rule sets; SES identities with their
verification and DKIM state; each stack's dead-letter queue (depth, and the age of its
oldest record from CloudWatch, since SQS itself does not say it); the last hour's outcome
counts from the forwarder's metrics. The metrics carry no stack name, so the counts are
for every Sesame forwarder in the region.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from sesame.adapters.receiving import ReceivingError
from sesame.cli.activate import account_for
from sesame.cli.common import CommandError, add_aws_options, aws_client, print_table

OUTCOME_METRICS = ("MessagesReceived", "Forwarded", "Bounced", "Dropped", "Failed", "InvalidEvents")
FORWARDER_SERVICE = "sesame-forwarder"
METRICS_NAMESPACE = "Sesame"


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("status", help="active rule set, identities, dead letters, last hour's outcomes")
    parser.add_argument("--stack", action="append", help="only this stack (repeatable; default: every Sesame stack)")
    add_aws_options(parser)
    parser.set_defaults(func=run)


def _sesame_stacks(cloudformation: Any, only: list[str] | None) -> list[tuple[str, dict[str, str]]]:
    """(name, outputs) of the stacks that have a ReceiptRuleSetName output."""
    found = []
    try:
        for page in cloudformation.get_paginator("describe_stacks").paginate():
            for stack in page["Stacks"]:
                outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
                if "ReceiptRuleSetName" in outputs and (not only or stack["StackName"] in only):
                    found.append((stack["StackName"], outputs))
    except (ClientError, BotoCoreError) as exc:
        raise CommandError(f"cannot list stacks: {exc}", exit_code=1) from None
    missing = sorted(set(only or []) - {name for name, _ in found})
    if missing:
        raise CommandError(f"no Sesame stack named {', '.join(missing)} in this region", exit_code=1)
    return sorted(found)


def _queue_depth(sqs: Any, url: str) -> tuple[str, str]:
    try:
        attributes = sqs.get_queue_attributes(
            QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        )["Attributes"]
    except (ClientError, BotoCoreError) as exc:
        return "?", f"cannot read: {exc}"
    return attributes.get("ApproximateNumberOfMessages", "?"), attributes.get("ApproximateNumberOfMessagesNotVisible", "?")


def _oldest_age(cloudwatch: Any, queue_name: str, now: datetime) -> str:
    # SQS publishes its metrics every minute; the last 15 minutes' maximum is the present age.
    try:
        points = cloudwatch.get_metric_statistics(
            Namespace="AWS/SQS",
            MetricName="ApproximateAgeOfOldestMessage",
            Dimensions=[{"Name": "QueueName", "Value": queue_name}],
            StartTime=now - timedelta(minutes=15),
            # A minute past now: a point stamped this very second (clock skew, or a point just
            # published) still counts; CloudWatch and moto exclude EndTime itself.
            EndTime=now + timedelta(minutes=1),
            Period=300,
            Statistics=["Maximum"],
        )["Datapoints"]
    except (ClientError, BotoCoreError) as exc:
        return f"? ({exc})"
    if not points:
        return "no data"
    latest = max(points, key=lambda p: p["Timestamp"])
    return _duration(float(latest["Maximum"]))


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def _last_hour(cloudwatch: Any, now: datetime) -> list[tuple[str, str]]:
    queries = [
        {
            "Id": f"m{i}",
            "MetricStat": {
                "Metric": {
                    "Namespace": METRICS_NAMESPACE,
                    "MetricName": name,
                    "Dimensions": [{"Name": "service", "Value": FORWARDER_SERVICE}],
                },
                "Period": 3600,
                "Stat": "Sum",
            },
            "Label": name,
        }
        for i, name in enumerate(OUTCOME_METRICS)
    ]
    try:
        results = cloudwatch.get_metric_data(
            MetricDataQueries=queries, StartTime=now - timedelta(hours=1), EndTime=now + timedelta(minutes=1)
        )["MetricDataResults"]
    except (ClientError, BotoCoreError) as exc:
        return [("outcomes", f"cannot read CloudWatch: {exc}")]
    by_id = {r["Id"]: sum(r.get("Values", [])) for r in results}
    return [(name, f"{by_id.get(f'm{i}', 0):.0f}") for i, name in enumerate(OUTCOME_METRICS)]


def run(args: argparse.Namespace) -> int:
    account = account_for(args)
    now = datetime.now(UTC)
    try:
        active = account.active_rule_set()
        rule_sets = account.rule_sets()
        identities = account.identities()
    except ReceivingError as exc:
        raise CommandError(str(exc), exit_code=1) from None
    stacks = _sesame_stacks(aws_client(args, "cloudformation"), args.stack)
    owner = {outputs["ReceiptRuleSetName"]: name for name, outputs in stacks}

    print(f"Region {account.region}: active receipt rule set {active or '(none: receiving is off)'}")
    print()
    print_table(
        ("rule set", "active", "stack"),
        [(name, "ACTIVE" if name == active else "", owner.get(name, "")) for name in rule_sets],
    )
    print()
    print_table(
        ("identity", "type", "verified", "dkim"),
        [
            (
                name,
                attrs.get("IdentityType", "?"),
                attrs.get("VerificationStatus", "?"),
                attrs.get("DkimAttributes", {}).get("Status", "?"),
            )
            for name, attrs in identities
        ],
    )
    if stacks:
        sqs, cloudwatch = aws_client(args, "sqs"), aws_client(args, "cloudwatch")
        rows = []
        for name, outputs in stacks:
            for label, key in (("dead letters", "DeadLetterQueueUrl"), ("unreported", "UnreportedFailuresQueueUrl")):
                url = outputs.get(key)
                if not url:
                    continue
                waiting, in_flight = _queue_depth(sqs, url)
                age = _oldest_age(cloudwatch, url.rstrip("/").rsplit("/", 1)[-1], now)
                rows.append((name, label, waiting, in_flight, age))
        print()
        print_table(("stack", "queue", "waiting", "in flight", "oldest"), rows)
        print()
        print_table(("last hour (all stacks)", "count"), _last_hour(cloudwatch, now))
    else:
        print()
        print("no Sesame stack in this region (none has a ReceiptRuleSetName output)")
    return 0


__all__ = ["register"]
