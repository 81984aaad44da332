"""The dead-letter function under moto: keep, index and report each failure once; poison
records are kept and reported too, and never hold back the rest of the batch."""

from __future__ import annotations

import copy
import email
import email.policy
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from conftest import LEDGER_TABLE, create_ledger_table, load_event
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends
from test_handler import Context
from test_hostile_events import TOO_DEEP

from dead_letter import app
from sesame import config
from sesame.core.dead_letter import PoisonRecord, parse_dead_letter

BUCKET = "sesame-mail-test"
MESSAGE_ID = "o3vrnil0e2ic28trm7dfhrc2v0cnbeccl4nbp0g1"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv(config.BUCKET, BUCKET)
    monkeypatch.setenv(config.OPERATOR_EMAIL, "ops@example.com")
    monkeypatch.setenv(config.NOTIFY_FROM, "sesame@example.com")
    monkeypatch.setenv(config.IDEMPOTENCY_TABLE, LEDGER_TABLE)
    with mock_aws():
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket=BUCKET)
        create_ledger_table()
        boto3.client("sesv2").create_email_identity(EmailIdentity="example.com")
        app.use_runtime(None)
        yield s3
        app.use_runtime(None)


def sent() -> list[Any]:
    return ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sent_messages


def test_given_a_failed_forwarding_then_it_is_kept_indexed_and_reported(aws: Any) -> None:
    aws.put_object(Bucket=BUCKET, Key=f"messages/{MESSAGE_ID}", Body=b"Subject: x\r\n\r\nbody\r\n")

    result = app.lambda_handler(load_event("sqs_dead_letter.json"), Context())

    assert result == {"batchItemFailures": []}
    kept = aws.get_object(Bucket=BUCKET, Key=f"error/{MESSAGE_ID}.eml")["Body"].read()
    assert kept == b"Subject: x\r\n\r\nbody\r\n"
    context = json.loads(aws.get_object(Bucket=BUCKET, Key=f"error/{MESSAGE_ID}.json")["Body"].read())
    assert context["error"].startswith("TooManyRequestsException: ")
    assert (context["attempts"], context["condition"]) == (3, "RetriesExhausted")
    assert context["event"]["Records"][0]["ses"]["mail"]["messageId"] == MESSAGE_ID
    index = json.loads(aws.get_object(Bucket=BUCKET, Key=f"index/2026/11/20/{MESSAGE_ID}.json")["Body"].read())
    assert [(o["recipient"], o["status"]) for o in index["outcomes"]] == [
        ("john@example.com", "failed"),
        ("team@example.com", "failed"),
    ]
    (mail,) = sent()
    assert mail.destinations[0] == "ops@example.com"  # moto appends the To header's addresses
    report = email.message_from_string(mail.raw_data, policy=email.policy.default)
    assert report["From"] == "sesame@example.com"
    body = report.get_content()
    assert MESSAGE_ID in body and "jane@sender.example" in body
    assert "aws lambda invoke" in body and "TooManyRequestsException" in body
    # One redrive command, then the AWS CLI fallback; the guarantee stated as it is.
    assert body.count(f"sesame redrive {MESSAGE_ID}") == 1
    assert body.index(f"sesame redrive {MESSAGE_ID}") < body.index("with the AWS CLI alone") < body.index("aws lambda invoke")
    assert "Delivery is at least once" in body and "PossibleDuplicates" in body


def test_given_the_forwarder_already_indexed_the_message_then_its_record_is_kept(aws: Any) -> None:
    aws.put_object(Bucket=BUCKET, Key=f"index/2026/11/20/{MESSAGE_ID}.json", Body=b'{"from":"forwarder"}\n')
    app.lambda_handler(load_event("sqs_dead_letter.json"), Context())
    assert aws.get_object(Bucket=BUCKET, Key=f"index/2026/11/20/{MESSAGE_ID}.json")["Body"].read() == (
        b'{"from":"forwarder"}\n'
    )
    context = json.loads(aws.get_object(Bucket=BUCKET, Key=f"error/{MESSAGE_ID}.json")["Body"].read())
    assert context["raw_message"] is None  # the raw message was already gone; the report says so


def test_given_a_batch_with_a_poison_record_then_it_is_kept_and_reported_and_the_rest_goes_on(aws: Any) -> None:
    event = load_event("sqs_dead_letter.json")
    good = event["Records"][0]
    poison = copy.deepcopy(good) | {"messageId": "poison-1", "body": "this is not json"}
    other = json.loads(good["body"])
    other["requestContext"]["requestId"] = "another-failed-invocation"
    second = copy.deepcopy(good) | {"messageId": "good-2", "body": json.dumps(other)}
    event["Records"] = [poison, good, second]

    result = app.lambda_handler(event, Context())

    # Nothing is left for SQS to retry five times and park: the poison record is kept and
    # reported, the two dead-letterings of the message (two failed invocations) reported once each.
    assert result == {"batchItemFailures": []}
    (kept,) = aws.list_objects_v2(Bucket=BUCKET, Prefix="error/poison/")["Contents"]
    assert json.loads(aws.get_object(Bucket=BUCKET, Key=kept["Key"])["Body"].read())["body"] == "this is not json"
    subjects = sorted(email.message_from_string(m.raw_data, policy=email.policy.default)["Subject"] for m in sent())
    assert subjects == ["[sesame] forwarding failed for message from jane@sender.example"] * 2 + [
        "[sesame] unreadable dead-letter record"
    ]


def test_given_the_same_record_delivered_twice_then_one_report_and_one_count(
    aws: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # SQS delivers a record again after a partial batch failure or a timeout: doing it twice
    # must not email the operator twice nor count the message twice.
    aws.put_object(Bucket=BUCKET, Key=f"messages/{MESSAGE_ID}", Body=b"Subject: x\r\n\r\nbody\r\n")
    app.lambda_handler(load_event("sqs_dead_letter.json"), Context())
    first = capsys.readouterr().out
    app.lambda_handler(load_event("sqs_dead_letter.json"), Context())
    second = capsys.readouterr().out
    assert len(sent()) == 1
    assert '"MessagesReceived":[1.0]' in first and '"Failed":[1.0,1.0]' in first
    assert "MessagesReceived" not in second and '"DeadLetterRecords":[1.0]' in second


def test_given_a_record_failing_on_its_last_receive_then_a_last_resort_line_and_metric(
    aws: Any, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    event = load_event("sqs_dead_letter.json")
    event["Records"][0]["attributes"]["ApproximateReceiveCount"] = "5"
    runtime = app.runtime()

    def broken(*_: Any, **__: Any) -> None:
        raise ConnectionError("S3 is down")

    monkeypatch.setattr(runtime, "handle", broken)
    result = app.lambda_handler(event, Context())
    assert result == {"batchItemFailures": [{"itemIdentifier": event["Records"][0]["messageId"]}]}
    out = capsys.readouterr().out
    assert '"UnreportedFailures":[1.0]' in out and '"DeadLetterRecordFailures":[1.0]' in out
    assert any("giving up on a dead-letter record" in r.getMessage() for r in caplog.records)


def test_given_too_little_time_left_then_the_record_goes_back_untouched(aws: Any) -> None:
    class Late(Context):
        def get_remaining_time_in_millis(self) -> int:
            return 10_000

    result = app.lambda_handler(load_event("sqs_dead_letter.json"), Late())
    assert result["batchItemFailures"] and sent() == []
    assert "Contents" not in aws.list_objects_v2(Bucket=BUCKET, Prefix="error/")


def test_given_a_record_with_an_odd_context_then_it_is_reported_and_one_nested_too_deeply_is_kept_as_poison(
    aws: Any,
) -> None:
    failed = json.loads(load_event("sqs_dead_letter.json")["Records"][0]["body"])
    odd = json.dumps(failed | {"requestContext": "junk", "responsePayload": None, "timestamp": 5})
    event = load_event("sqs_dead_letter.json")
    good = event["Records"][0]
    event["Records"] = [good | {"messageId": "odd", "body": odd}, good | {"messageId": "deep", "body": TOO_DEEP}]

    result = app.lambda_handler(event, Context())

    assert result == {"batchItemFailures": []}  # nothing left for SQS to park unreported
    reports = [email.message_from_string(m.raw_data, policy=email.policy.default) for m in sent()]
    assert sorted(r["Subject"] for r in reports) == [
        "[sesame] forwarding failed for message from jane@sender.example",
        "[sesame] unreadable dead-letter record",
    ]
    (text,) = (r.get_content() for r in reports if "forwarding failed" in r["Subject"])
    assert "Gave up:     unknown" in text and "unknown error (the record has no response payload)" in text
    (kept,) = aws.list_objects_v2(Bucket=BUCKET, Prefix="error/poison/")["Contents"]
    assert "nested too deeply" in json.loads(aws.get_object(Bucket=BUCKET, Key=kept["Key"])["Body"].read())["error"]


def test_given_the_plain_dlq_shape_then_the_error_comes_from_attributes() -> None:
    ses_event = load_event("ses_email_receiving.json")
    letter = parse_dead_letter(
        json.dumps(ses_event), {"ErrorMessage": {"stringValue": "Task timed out", "dataType": "String"}}
    )
    assert letter.error == "Task timed out" and letter.condition == "DeadLetterQueue"
    assert [m.message_id for m in letter.mails] == [MESSAGE_ID]


@pytest.mark.parametrize("body", ["[]", '{"requestPayload": 5}', '{"requestPayload": {"Records": [{}]}}'])
def test_bodies_that_are_not_failed_ses_events_are_poison(body: str) -> None:
    with pytest.raises(PoisonRecord):
        parse_dead_letter(body)


def test_missing_configuration_is_named() -> None:
    from sesame.config import ConfigError
    from sesame.dead_letter_runtime import build_dead_letter_runtime

    with pytest.raises(ConfigError, match="SESAME_BUCKET, SESAME_OPERATOR_EMAIL, SESAME_NOTIFY_FROM"):
        build_dead_letter_runtime({})
