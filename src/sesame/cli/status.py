"""``sesame status``: is this region receiving, with what, and is anything failing?

The active rule set and the Sesame stacks' rule sets; SES identities with their
verification and DKIM state; each stack's dead-letter queue (depth, and the age of its
oldest record from CloudWatch, since SQS itself does not say it); the last hour's outcome
counts from the forwarder's metrics. The metrics carry no stack name, so the counts are
for every Sesame forwarder in the region. Then the SES feedback loop: SES's verdict on the
account (sending enabled, enforcement status), each stack's suppression list in force, and
the last 7 days' bounces and complaints per destination and per alias (the feedback
function's metrics).
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
FEEDBACK_SERVICE = "sesame-feedback"
FEEDBACK_METRICS = ("Bounces", "Complaints")
FEEDBACK_DAYS = 7
MAX_FEEDBACK_ROWS = 25
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


def _feedback_series(cloudwatch: Any, now: datetime) -> list[tuple[str, str, int, int]]:
    """(dimension, value, bounces, complaints) over the last 7 days, most first. A series exists
    only for a destination or alias that bounced or complained, so list_metrics finds them."""
    found: list[tuple[str, str, str]] = []  # (metric, dimension, value)
    try:
        for name in FEEDBACK_METRICS:
            for dimension in ("destination", "alias"):
                pages = cloudwatch.get_paginator("list_metrics").paginate(
                    Namespace=METRICS_NAMESPACE, MetricName=name,
                    Dimensions=[{"Name": "service", "Value": FEEDBACK_SERVICE}, {"Name": dimension}],
                )
                for page in pages:
                    for metric in page["Metrics"]:
                        dims = {d["Name"]: d["Value"] for d in metric["Dimensions"]}
                        if set(dims) == {"service", dimension}:
                            found.append((name, dimension, dims[dimension]))
        totals: dict[tuple[str, str], dict[str, float]] = {}
        for start in range(0, len(found), 500):  # GetMetricData takes 500 queries a call
            chunk = found[start : start + 500]
            results = cloudwatch.get_metric_data(
                MetricDataQueries=[
                    {"Id": f"f{i}", "ReturnData": True, "MetricStat": {
                        "Metric": {"Namespace": METRICS_NAMESPACE, "MetricName": name, "Dimensions": [
                            {"Name": "service", "Value": FEEDBACK_SERVICE}, {"Name": dimension, "Value": value}]},
                        "Period": FEEDBACK_DAYS * 86400, "Stat": "Sum"}}
                    for i, (name, dimension, value) in enumerate(chunk)
                ],
                # A minute past now, as above: CloudWatch and moto exclude EndTime itself.
                StartTime=now - timedelta(days=FEEDBACK_DAYS), EndTime=now + timedelta(minutes=1),
            )["MetricDataResults"]
            for result in results:
                name, dimension, value = chunk[int(result["Id"][1:])]
                totals.setdefault((dimension, value), {})[name] = sum(result.get("Values", []))
    except (ClientError, BotoCoreError) as exc:
        raise CommandError(f"cannot read the feedback metrics: {exc}", exit_code=1) from None
    rows = [(dim, value, int(t.get("Bounces", 0)), int(t.get("Complaints", 0))) for (dim, value), t in totals.items()]
    return sorted((r for r in rows if r[2] or r[3]), key=lambda r: (-(r[2] + r[3]), r[0] != "destination", r[1]))


def _ses_account(sesv2: Any) -> str:
    try:
        account = sesv2.get_account()
    except (ClientError, BotoCoreError, NotImplementedError) as exc:
        return f"? ({exc})"
    sending = "enabled" if account.get("SendingEnabled", True) else "PAUSED"
    details = [f"sending {sending}", f"enforcement {account.get('EnforcementStatus', '?')}"]
    if not account.get("ProductionAccessEnabled", True):
        details.append("in the sandbox")
    return ", ".join(details)


def _suppressions_in_force(dynamodb: Any, table: str, now: datetime) -> str:
    from sesame.adapters.suppression import DynamoSuppressionList

    try:
        entries = [e for e in DynamoSuppressionList(dynamodb, table).entries() if e.active(now)]
    except (ClientError, BotoCoreError) as exc:
        return f"cannot read: {exc}"
    by_reason: dict[str, int] = {}
    for entry in entries:
        by_reason[entry.reason] = by_reason.get(entry.reason, 0) + 1
    return ", ".join(f"{n} {reason}" for reason, n in sorted(by_reason.items())) or "none"


def _print_feedback(args: argparse.Namespace, stacks: list[tuple[str, dict[str, str]]], cloudwatch: Any, now: datetime) -> None:
    print()
    print(f"SES account: {_ses_account(aws_client(args, 'sesv2'))}")
    with_table = [(name, outputs["SuppressionTableName"]) for name, outputs in stacks if "SuppressionTableName" in outputs]
    if with_table:
        dynamodb = aws_client(args, "dynamodb")
        print()
        print_table(("stack", "suppressions in force"), [(name, _suppressions_in_force(dynamodb, table, now))
                                                         for name, table in with_table])
    rows = _feedback_series(cloudwatch, now)
    print()
    if not rows:
        print(f"no bounces or complaints in the last {FEEDBACK_DAYS} days")
        return
    print_table((f"last {FEEDBACK_DAYS} days (all stacks)", "", "bounces", "complaints"), rows[:MAX_FEEDBACK_ROWS])
    if len(rows) > MAX_FEEDBACK_ROWS:
        print(f"({len(rows) - MAX_FEEDBACK_ROWS} more: sesame query feedback-by-destination --days {FEEDBACK_DAYS})")


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
        _print_feedback(args, stacks, cloudwatch, now)
    else:
        print()
        print("no Sesame stack in this region (none has a ReceiptRuleSetName output)")
    return 0


__all__ = ["register"]
