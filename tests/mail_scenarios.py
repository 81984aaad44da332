"""Real index records: the real handlers, run under moto on real-shaped events, for the
index schema, the named queries and the permission tests.

Each scenario is one received message (an SES receipt event made from
``events/ses_email_receiving.json`` plus the raw bytes SES stored). ``write_index`` runs
them through ``handle_email.app`` (and one dead letter through ``dead_letter.app``) and
returns every index object they wrote, by key. Call it inside ``mock_aws`` with
``scenario_environment`` applied.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, UTC
from typing import Any

import boto3
import pytest
from conftest import create_suppression_table, load_event
from test_handler import Context

from sesame import config
from sesame.adapters.suppression import DynamoSuppressionList
from sesame.core.alias_config import parse_aliases_toml, to_parameters

BUCKET = "sesame-mail-test"
TABLE = "sesame-idempotency-test"
SUPPRESSION_TABLE = "sesame-suppression-test"
ALIAS_PATH = "/sesame"
ALIASES = """
[aliases]
"john@example.com" = ["john.doe@gmail.example", "john@work.example"]
"team@example.com" = ["john@example.com", "ann@example.org"]
"help@unverified.example" = ["helpdesk@dest.example"]
"family@example.com" = ["mum@home.example", "old.mailbox@gone.example"]
"""
# On the suppression list (put there by hand: the mailbox is gone), so never sent to.
SUPPRESSED_DESTINATION = "old.mailbox@gone.example"
FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:sesame-HandleEmailFunction"


@dataclass(frozen=True)
class Scenario:
    message_id: str
    days_ago: int
    at: time
    source: str
    recipients: tuple[str, ...]
    raw: bytes
    common_headers: dict[str, Any]
    verdicts: dict[str, str] = field(default_factory=dict)
    dmarc_policy: str | None = None
    action: dict[str, Any] | None = None  # the receipt's action, when not the Lambda action
    dead_letter: bool = False  # the forwarder never ran: the dead-letter function reports it

    def timestamp(self, today: date) -> str:
        moment = datetime.combine(today - timedelta(days=self.days_ago), self.at, tzinfo=UTC)
        return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")

    def event(self, today: date) -> dict[str, Any]:
        event = load_event("ses_email_receiving.json")
        ses = event["Records"][0]["ses"]
        mail, receipt = ses["mail"], ses["receipt"]
        mail["messageId"] = self.message_id
        mail["timestamp"] = receipt["timestamp"] = self.timestamp(today)
        mail["source"] = self.source
        mail["destination"] = list(self.common_headers.get("to", [])) + list(self.common_headers.get("cc", []))
        mail["headers"] = _headers(self.raw)
        mail["commonHeaders"] = self.common_headers
        receipt["recipients"] = list(self.recipients)
        for verdict, status in self.verdicts.items():
            receipt[f"{verdict}Verdict"] = {"status": status}
        if self.dmarc_policy:
            receipt["dmarcPolicy"] = self.dmarc_policy
        if self.action:
            receipt["action"] = self.action
        return event


def _headers(raw: bytes) -> list[dict[str, str]]:
    """The event's header list, as SES gives it: name and value of each field."""
    block = raw.replace(b"\r\n", b"\n").split(b"\n\n", 1)[0].decode("utf-8", "replace")
    fields = (line.partition(":") for line in block.split("\n"))
    return [{"name": name.strip(), "value": value.strip()} for name, _, value in fields if value]


def _raw(*headers: str, body: str = "Hello.\r\n") -> bytes:
    return ("\r\n".join(headers) + "\r\n\r\n" + body).encode()


SCENARIOS = (
    # Two recipients, one of them a group: every destination once.
    Scenario(
        "forwarded0multi000000000000000000000001", 0, time(9, 15, 2), "jane@sender.example",
        ("john@example.com", "team@example.com"),
        _raw("From: Jane Doe <jane@sender.example>", "To: john@example.com, team@example.com",
             "Cc: boss@sender.example", "Reply-To: jane.private@sender.example", "Subject: Lunch on Friday?",
             "Message-ID: <lunch@sender.example>", "Date: Mon, 23 Nov 2026 10:14:58 +0100"),
        {"returnPath": "jane@sender.example", "from": ["Jane Doe <jane@sender.example>"],
         "to": ["john@example.com", "team@example.com"], "cc": ["boss@sender.example"],
         "bcc": ["hidden@example.com"], "sender": ["assistant@sender.example"],
         "replyTo": ["jane.private@sender.example"], "date": "Mon, 23 Nov 2026 10:14:58 +0100",
         "messageId": "<lunch@sender.example>", "subject": "Lunch on Friday?"},
    ),
    # Non-ASCII subject and sender name (SES decodes the encoded words in commonHeaders),
    # and a second Message-ID, which SES would refuse: a defect naming its header.
    Scenario(
        "forwarded0utf8000000000000000000000002", 1, time(7, 30), "joerg@buecher.example",
        ("john@example.com",),
        _raw("From: =?UTF-8?Q?J=C3=B6rg_M=C3=BCller?= <Joerg@Buecher.example>", "To: john@example.com",
             "Subject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe_aus_K=C3=B6ln?=", "Message-ID: <gruesse@buecher.example>",
             "Message-ID: <gruesse-copy@buecher.example>"),
        {"returnPath": "joerg@buecher.example", "from": ["Jörg Müller <Joerg@Buecher.example>"],
         "to": ["john@example.com"], "messageId": "<gruesse@buecher.example>", "subject": "Grüße aus Köln"},
    ),
    # An address nobody has: a DSN goes back, the recipient is bounced.
    Scenario(
        "bounced0unknown00000000000000000000003", 2, time(18, 0), "jane@sender.example",
        ("nobody@example.com",),
        _raw("From: jane@sender.example", "To: nobody@example.com", "Subject: Anyone there?"),
        {"returnPath": "jane@sender.example", "from": ["jane@sender.example"], "to": ["nobody@example.com"],
         "subject": "Anyone there?"},
    ),
    # Spam: dropped, no bounce (no backscatter).
    Scenario(
        "dropped0spam0000000000000000000000004", 3, time(3, 3), "promo@spam.example",
        ("john@example.com",),
        _raw("From: Deals <promo@spam.example>", "To: john@example.com", "Subject: WIN NOW"),
        {"returnPath": "promo@spam.example", "from": ["Deals <promo@spam.example>"], "to": ["john@example.com"],
         "subject": "WIN NOW"},
        verdicts={"spam": "FAIL"},
    ),
    # DMARC fails with p=reject: the From is forged, so it is dropped (the deployment's default),
    # never bounced to whoever the forger named.
    Scenario(
        "dropped0dmarc0000000000000000000000005", 4, time(11, 2, 40), "billing@spoofed-bank.example",
        ("john@example.com",),
        _raw("From: Bank <billing@spoofed-bank.example>", "To: john@example.com", "Subject: Verify your account"),
        {"returnPath": "billing@spoofed-bank.example", "from": ["Bank <billing@spoofed-bank.example>"],
         "to": ["john@example.com"], "subject": "Verify your account"},
        verdicts={"spf": "FAIL", "dkim": "FAIL", "dmarc": "FAIL"}, dmarc_policy="reject",
    ),
    # The From would be on a domain SES has not verified: SES refuses, the outcome is failed.
    Scenario(
        "failed0unverified00000000000000000006", 5, time(12, 0), "customer@shop.example",
        ("help@unverified.example",),
        _raw("From: customer@shop.example", "To: help@unverified.example", "Subject: Order 1234"),
        {"returnPath": "customer@shop.example", "from": ["customer@shop.example"],
         "to": ["help@unverified.example"], "subject": "Order 1234"},
    ),
    # No From, no Subject, no To, bare LF line ends: forwarded, the defects recorded.
    Scenario(
        "forwarded0bare000000000000000000000007", 6, time(23, 59, 59), "",
        ("john@example.com",),
        b"X-Mailer: a script\nMessage-ID: <bare@nowhere.example>\n\nno headers to speak of\n",
        {"messageId": "<bare@nowhere.example>"},
        # SES invoked through an S3 notification shape: the receipt names the stored object.
        action={"type": "S3", "topicArn": "arn:aws:sns:us-east-1:123456789012:sesame-received",
                "bucketName": BUCKET, "objectKeyPrefix": "messages/",
                "objectKey": "messages/forwarded0bare000000000000000000000007"},
    ),
    # The forwarder gave up (throttled three times): the dead-letter function indexes it.
    Scenario(
        "failed0deadletter00000000000000000008", 7, time(15, 22, 41), "jane@sender.example",
        ("john@example.com", "team@example.com"),
        _raw("From: Jane Doe <jane@sender.example>", "To: john@example.com", "Subject: Throttled"),
        {"returnPath": "jane@sender.example", "from": ["Jane Doe <jane@sender.example>"],
         "to": ["john@example.com"], "subject": "Throttled"},
        dead_letter=True,
    ),
    # One of the alias's two destinations is on the suppression list: the other gets it.
    Scenario(
        "forwarded0suppressed00000000000000010", 2, time(8, 0), "grandpa@family.example",
        ("family@example.com",),
        _raw("From: Grandpa <grandpa@family.example>", "To: family@example.com", "Subject: Sunday"),
        {"returnPath": "grandpa@family.example", "from": ["Grandpa <grandpa@family.example>"],
         "to": ["family@example.com"], "subject": "Sunday"},
    ),
    # Older than a month: outside the default --days 30.
    Scenario(
        "forwarded0old00000000000000000000000009", 40, time(8, 0), "jane@sender.example",
        ("john@example.com",),
        _raw("From: Jane Doe <jane@sender.example>", "To: john@example.com", "Subject: Long ago"),
        {"returnPath": "jane@sender.example", "from": ["Jane Doe <jane@sender.example>"],
         "to": ["john@example.com"], "subject": "Long ago"},
    ),
)


@contextmanager
def scenario_environment() -> Iterator[None]:
    """Fake credentials and the functions' environment, as the template sets it."""
    with pytest.MonkeyPatch.context() as env:
        for name, value in {
            "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
            "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1", "POWERTOOLS_DEV": "false",
            config.BUCKET: BUCKET, config.ALIAS_PATH: ALIAS_PATH, config.IDEMPOTENCY_TABLE: TABLE,
            config.SUPPRESSION_TABLE: SUPPRESSION_TABLE,
            config.OPERATOR_EMAIL: "ops@example.com", config.NOTIFY_FROM: "sesame@example.com",
            # As the template sets it: every send names the configuration set.
            config.CONFIGURATION_SET: "sesame-sending",
        }.items():
            env.setenv(name, value)
        env.delenv("AWS_PROFILE", raising=False)
        env.delenv("AWS_ENDPOINT_URL", raising=False)
        yield


def prepare_account() -> None:
    """What the stack and the operator set up: bucket, aliases, idempotency and suppression
    tables, identity."""
    boto3.client("s3").create_bucket(Bucket=BUCKET)
    ssm = boto3.client("ssm")
    for name, value in to_parameters(parse_aliases_toml(ALIASES), ALIAS_PATH).items():
        ssm.put_parameter(Name=name, Value=value, Type="String")
    boto3.client("dynamodb").create_table(
        TableName=TABLE,
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    boto3.client("sesv2").create_email_identity(EmailIdentity="example.com")
    dynamodb = boto3.client("dynamodb")
    create_suppression_table(SUPPRESSION_TABLE)
    DynamoSuppressionList(dynamodb, SUPPRESSION_TABLE).add(SUPPRESSED_DESTINATION, None, "mailbox closed", datetime.now(UTC))


def dead_letter_event(scenario: Scenario, today: date) -> dict[str, Any]:
    event = load_event("sqs_dead_letter.json")
    body = json.loads(event["Records"][0]["body"])
    body["requestPayload"] = scenario.event(today)
    event["Records"][0]["body"] = json.dumps(body)
    return event


def run_forwarder(scenario: Scenario, today: date) -> None:
    from handle_email import app

    try:
        app.lambda_handler(scenario.event(today), Context())
    except app.DeliveryFailed:
        pass  # recorded as failed; Lambda would retry, then dead-letter it


def run_dead_letter(scenario: Scenario, today: date) -> None:
    from dead_letter import app

    result = app.lambda_handler(dead_letter_event(scenario, today), Context())
    assert result == {"batchItemFailures": []}


def write_index(today: date, around_function: Callable[[str], Any] | None = None) -> dict[str, bytes]:
    """Run every scenario; ``around_function(name)`` (a context manager factory) wraps each
    function invocation. Returns the index objects written, by key."""
    from dead_letter import app as dead_letter_app
    from handle_email import app as forwarder_app

    prepare_account()
    s3 = boto3.client("s3")
    for scenario in SCENARIOS:
        s3.put_object(Bucket=BUCKET, Key=f"messages/{scenario.message_id}", Body=scenario.raw)
    forwarder_app.use_runtime(None)
    dead_letter_app.use_runtime(None)
    try:
        for scenario in SCENARIOS:
            name = "DeadLetterFunction" if scenario.dead_letter else "HandleEmailFunction"
            run = run_dead_letter if scenario.dead_letter else run_forwarder
            if around_function is None:
                run(scenario, today)
            else:
                with around_function(name):
                    run(scenario, today)
    finally:
        forwarder_app.use_runtime(None)
        dead_letter_app.use_runtime(None)
    objects = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix="index/"):
        for item in page.get("Contents", []):
            objects[item["Key"]] = s3.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read()
    return objects


def scenario(message_id_prefix: str) -> Scenario:
    (found,) = (s for s in SCENARIOS if s.message_id.startswith(message_id_prefix))
    return found


__all__ = ["SCENARIOS", "SUPPRESSION_TABLE", "Scenario", "scenario", "scenario_environment", "write_index"]
