"""The SES feedback loop closed, under moto: the forwarder sends, SES's feedback (real-shaped
event-publishing records from events/) reaches the feedback function, the next message to the
alias leaves the suppressed destination out and says so, and `sesame suppressions rm` (through
the command's entry point) resumes it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from test_handler import Context  # the Lambda context stand-in
from conftest import create_suppression_table, load_event, seed_forwarder_aws
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends

from sesame import config
from sesame.cli import main
from sesame.core.alias_config import parse_aliases_toml
from sesame.core.event import parse_ses_event
from sesame.core.forward import Forwarder
from sesame.core.settings import Settings

from fakes import MemoryStore, RecordingSender

BUCKET = "sesame-mail-test"
TABLE = "sesame-SuppressionTable"
MESSAGE_ID = "o3vrnil0e2ic28trm7dfhrc2v0cnbeccl4nbp0g1"
ALIASES = """
[aliases]
"john@example.com" = ["john.doe@gmail.example", "john@work.example"]
"ann@example.com" = ["ann@example.org"]
"team@example.com" = ["john@example.com", "ann@example.com"]
"sales@example.com" = ["ann@example.org", "sales@crm.example"]
"press@example.com" = ["press@agency.example"]
"""
RAW = (
    b"From: Jane Doe <jane@sender.example>\r\n"
    b"To: john@example.com\r\n"
    b"Subject: Lunch on Friday?\r\n"
    b"Date: Fri, 20 Nov 2026 10:14:58 +0100\r\n"
    b"Message-ID: <20261120091458.4711@mail.sender.example>\r\n"
    b"\r\n"
    b"Shall we meet at noon?\r\n"
)


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    from feedback import app as feedback_app
    from handle_email import app as forward_app

    monkeypatch.setenv(config.BUCKET, BUCKET)
    monkeypatch.setenv(config.ALIAS_PATH, "/sesame")
    monkeypatch.setenv(config.SUPPRESSION_TABLE, TABLE)
    monkeypatch.setenv(config.CONFIGURATION_SET, "sesame")
    with mock_aws():
        s3, _ = seed_forwarder_aws(BUCKET, ALIASES)
        boto3.client("sesv2").create_configuration_set(ConfigurationSetName="sesame")
        dynamodb = boto3.client("dynamodb")
        create_suppression_table(TABLE)
        # `sesame suppressions` finds the table through the stack's output, as deployed.
        boto3.client("cloudformation").create_stack(StackName="sesame", TemplateBody=json.dumps({
            "Resources": {"Placeholder": {"Type": "AWS::SQS::Queue"}},
            "Outputs": {"SuppressionTableName": {"Value": TABLE}},
        }))
        s3.put_object(Bucket=BUCKET, Key=f"messages/{MESSAGE_ID}", Body=RAW)
        forward_app.use_runtime(None)
        feedback_app.use_runtime(None)
        yield {"forward": forward_app, "feedback": feedback_app, "dynamodb": dynamodb}
        forward_app.use_runtime(None)
        feedback_app.use_runtime(None)


def receive(aws: dict[str, Any], recipients: tuple[str, ...] = ("john@example.com",)) -> list[dict[str, Any]]:
    """The forwarder on the receipt event; the outcomes it reports, and the sends SES took."""
    event = load_event("ses_email_receiving.json")
    event["Records"][0]["ses"]["receipt"]["recipients"] = list(recipients)
    ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sent_messages.clear()
    result = aws["forward"].lambda_handler(event, Context())
    (report,) = result["reports"]
    return report["outcomes"]


def sent_to() -> list[str]:
    """Each send's own destinations (moto appends the To header's addresses after ours)."""
    return [d for m in ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sent_messages
            for d in m.destinations if d != "john@example.com"]


def feedback(aws: dict[str, Any], name: str) -> None:
    """SES's record for a send of ours, as EventBridge puts it on the queue, an hour ago."""
    event = load_event(f"ses_feedback_{name}.json")
    hour_ago = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    detail = event["detail"]
    detail["mail"]["timestamp"] = hour_ago
    detail[detail["eventType"].lower()]["timestamp"] = hour_ago
    batch = load_event("sqs_feedback.json")
    batch["Records"][0]["body"] = json.dumps(event)
    assert aws["feedback"].lambda_handler(batch, Context()) == {"batchItemFailures": []}


def test_a_hard_bounce_suppresses_the_destination_and_the_other_still_gets_the_mail(aws: dict[str, Any]) -> None:
    outcomes = receive(aws)
    assert [(o["status"], o["destinations"]) for o in outcomes] == [
        ("forwarded", ["john.doe@gmail.example", "john@work.example"])]

    feedback(aws, "bounce")  # Permanent/General for john.doe@gmail.example, sent for john@example.com
    (outcome,) = receive(aws)  # still one outcome per recipient

    assert (outcome["recipient"], outcome["status"], outcome["reason"], outcome["destinations"]) == (
        "john@example.com", "forwarded", "alias", ["john@work.example"])
    assert outcome["suppressed"] == [{"destination": "john.doe@gmail.example", "reason": "suppressed:bounce"}]
    assert outcome["detail"] == "not sent to john.doe@gmail.example: suppressed:bounce"
    assert sent_to() == ["john@work.example"]

    assert main(["suppressions", "rm", "--destination", "john.doe@gmail.example"]) == 0
    (outcome,) = receive(aws)
    assert outcome["destinations"] == ["john.doe@gmail.example", "john@work.example"] and "suppressed" not in outcome


def test_a_complaint_pauses_the_alias_for_that_destination_until_resumed(aws: dict[str, Any]) -> None:
    feedback(aws, "complaint")  # john.doe@gmail.example marked a copy from john@example.com as spam

    (outcome,) = receive(aws)
    assert (outcome["status"], outcome["destinations"], outcome["suppressed"]) == (
        "forwarded", ["john@work.example"], [{"destination": "john.doe@gmail.example", "reason": "suppressed:complaint"}])
    assert sent_to() == ["john@work.example"]

    assert main(["suppressions", "rm", "--alias", "john@example.com"]) == 0
    assert [(o["status"], o["destinations"]) for o in receive(aws)] == [
        ("forwarded", ["john.doe@gmail.example", "john@work.example"])]


def test_every_destination_suppressed_is_one_drop_naming_each_and_nothing_is_sent(
    aws: dict[str, Any],
) -> None:
    for destination in ("john.doe@gmail.example", "john@work.example"):
        assert main(["suppressions", "add", "--destination", destination, "--note", "test"]) == 0

    (outcome,) = receive(aws)

    assert (outcome["status"], outcome["reason"], outcome["destinations"]) == ("dropped", "suppressed:manual", [])
    assert outcome["suppressed"] == [{"destination": "john.doe@gmail.example", "reason": "suppressed:manual"},
                                     {"destination": "john@work.example", "reason": "suppressed:manual"}]
    assert sent_to() == []


@pytest.fixture
def batch_gets() -> Iterator[list[list[tuple[str, str]]]]:
    """The keys of every BatchGetItem request any DynamoDB client makes, by a botocore hook on
    each client made from here on (the handler makes its own clients)."""
    import botocore.session

    reads: list[list[tuple[str, str]]] = []
    original = botocore.session.Session.create_client

    def create_client(self: Any, *args: Any, **kwargs: Any) -> Any:
        client = original(self, *args, **kwargs)
        client.meta.events.register(
            "provide-client-params.dynamodb.BatchGetItem",
            lambda params, **_: reads.append([(k["pk"]["S"], k["sk"]["S"]) for t in params["RequestItems"].values()
                                              for k in t["Keys"]]),
        )
        return client

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(botocore.session.Session, "create_client", create_client)
        yield reads


def test_given_a_message_to_five_aliases_when_forwarded_then_the_list_is_read_once_for_all_of_them(
    aws: dict[str, Any], batch_gets: list[list[tuple[str, str]]]
) -> None:
    # GIVEN ann@example.org suppressed for every alias, and john.doe@gmail.example for john@ only
    assert main(["suppressions", "add", "--destination", "ann@example.org", "--note", "mailbox closed"]) == 0
    assert main(["suppressions", "add", "--destination", "john.doe@gmail.example", "--alias", "john@example.com"]) == 0
    aliases = ("john@example.com", "ann@example.com", "team@example.com", "sales@example.com", "press@example.com")

    # WHEN one message reaches all five aliases
    outcomes = {o["recipient"]: o for o in receive(aws, aliases)}

    # THEN one BatchGetItem holds every key, each once: a destination's every-alias key and one
    # key per (alias, destination) (5 destinations; 2 + 1 + 3 + 2 + 1 pairs), where one read an
    # alias made five
    (keys,) = batch_gets
    assert len(keys) == len(set(keys)) == 14
    assert sum(sk == "*" for _, sk in keys) == 5
    # ... and each recipient still gets its one outcome, naming what suppression left out.
    assert {r: (o["status"], o["reason"], o["destinations"], [s["destination"] for s in o.get("suppressed", [])])
            for r, o in outcomes.items()} == {
        "john@example.com": ("forwarded", "alias", ["john@work.example"], ["john.doe@gmail.example"]),
        "ann@example.com": ("dropped", "suppressed:manual", [], ["ann@example.org"]),
        # the group reaches john.doe@gmail.example: only john@'s own entry names it
        "team@example.com": ("forwarded", "alias", ["john.doe@gmail.example"], ["ann@example.org"]),
        "sales@example.com": ("forwarded", "alias", ["sales@crm.example"], ["ann@example.org"]),
        "press@example.com": ("forwarded", "alias", ["press@agency.example"], []),
    }
    assert outcomes["sales@example.com"]["detail"] == "not sent to ann@example.org: suppressed:manual"
    assert sorted(sent_to()) == ["john.doe@gmail.example", "john@work.example", "press@agency.example",
                                 "sales@crm.example"]


def test_given_a_message_to_several_aliases_and_no_table_when_forwarded_then_it_is_told_once_and_mail_flows(
    aws: dict[str, Any], capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    aws["dynamodb"].delete_table(TableName=TABLE)

    outcomes = receive(aws, ("john@example.com", "ann@example.com", "press@example.com"))

    assert [(o["status"], o["destinations"]) for o in outcomes] == [
        ("forwarded", ["john.doe@gmail.example", "john@work.example"]), ("forwarded", ["ann@example.org"]),
        ("forwarded", ["press@agency.example"])]
    assert caplog.messages.count("suppression list not checked: its table does not exist") == 1
    assert '"SuppressionUnchecked":[1.0]' in capsys.readouterr().out


class _Unreadable:
    def suppressed_by_alias(self, wanted: Any, now: datetime) -> dict[str, dict[str, str]]:
        raise ConnectionError("DynamoDB did not answer")


def test_a_list_that_cannot_be_read_raises_before_anything_is_fetched_or_sent() -> None:
    mail = parse_ses_event(load_event("ses_email_receiving.json"))[0]
    store, sender = MemoryStore(), RecordingSender()
    forwarder = Forwarder(store, sender, Settings(), suppressions=_Unreadable())
    with pytest.raises(ConnectionError):
        forwarder.handle(mail, parse_aliases_toml(ALIASES).table)
    assert sender.sent == [] and store.fetched == []


def test_a_forward_the_message_turns_into_a_drop_is_told_once() -> None:
    """A blocked sender's mail reaches no destination anyway: the outcome says that alone."""
    mail = parse_ses_event(load_event("ses_email_receiving.json"))[0]
    table = parse_aliases_toml(ALIASES + '\n[senders]\nblock = ["@sender.example"]\n').table

    class _One:
        def suppressed_by_alias(self, wanted: Any, now: datetime) -> dict[str, dict[str, str]]:
            return {"john@example.com": {"john.doe@gmail.example": "bounce"}}

    store = MemoryStore({mail.message_id: RAW})
    forwarder = Forwarder(store, RecordingSender(), Settings(), suppressions=_One())
    report = forwarder.handle(mail, table)
    assert [(o.status, o.reason, o.suppressed) for o in report.outcomes if o.recipient == "john@example.com"] == [
        ("dropped", "blocked-sender", ())]


def test_a_missing_table_is_told_and_mail_still_flows(
    aws: dict[str, Any], capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    """A configuration fault no retry mends: holding mail back for it would dead-letter all of
    it. The check is skipped with a warning line and the SuppressionUnchecked metric."""
    aws["dynamodb"].delete_table(TableName=TABLE)

    (outcome,) = receive(aws)

    assert outcome["destinations"] == ["john.doe@gmail.example", "john@work.example"]
    assert "suppression list not checked: its table does not exist" in caplog.messages
    assert '"SuppressionUnchecked":[1.0]' in capsys.readouterr().out


class _Throttled:
    def __init__(self) -> None:
        from botocore.exceptions import ClientError

        self.error = ClientError({"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}},
                                 "BatchGetItem")

    def batch_get_item(self, **_: Any) -> Any:
        raise self.error


def test_a_failure_that_may_pass_still_raises() -> None:
    from botocore.exceptions import ClientError

    from sesame.adapters.suppression import DynamoSuppressionList

    with pytest.raises(ClientError):
        DynamoSuppressionList(_Throttled(), TABLE).suppressed("john@example.com", ["a@b.example"], datetime.now(UTC))
