"""Idempotent sends under moto DynamoDB, and the index record's shape."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from unittest import mock

import boto3
import pytest
from botocore.exceptions import ClientError, ReadTimeoutError
from conftest import load_event
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends
from test_handler import BUCKET, MESSAGE_ID, RAW, Context

from handle_email import app
from sesame import config
from sesame.core.alias_config import parse_aliases_toml, to_parameters

TABLE = "sesame-idempotency"
# 120 destinations: three SES sends of 50, 50 and 20
ALIASES = '[aliases]\n"john@example.com" = [%s]\n' % ", ".join(f'"u{i}@list.example"' for i in range(120))


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv(config.BUCKET, BUCKET)
    monkeypatch.setenv(config.IDEMPOTENCY_TABLE, TABLE)
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "sesame-HandleEmailFunction")
    with mock_aws():
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket=BUCKET)
        s3.put_object(Bucket=BUCKET, Key=f"messages/{MESSAGE_ID}", Body=RAW.replace(b"To: john@example.com, team@example.com\r\n", b""))
        ssm = boto3.client("ssm")
        for name, value in to_parameters(parse_aliases_toml(ALIASES), "/sesame").items():
            ssm.put_parameter(Name=name, Value=value, Type="String")
        boto3.client("dynamodb").create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        boto3.client("sesv2").create_email_identity(EmailIdentity="example.com")
        app.use_runtime(None)
        yield s3
        app.use_runtime(None)


def sent_destinations() -> list[str]:
    return [d for m in ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sent_messages for d in m.destinations]


def event() -> dict[str, Any]:
    e = load_event("ses_email_receiving.json")
    e["Records"][0]["ses"]["receipt"]["recipients"] = ["john@example.com"]
    return e


def test_given_the_second_batch_fails_when_lambda_retries_then_nothing_is_sent_twice(
    aws: Any, caplog: pytest.LogCaptureFixture
) -> None:
    real_call = boto3.client("sesv2").__class__._make_api_call
    calls = {"n": 0}

    def flaky(self: Any, operation: str, params: dict[str, Any]) -> Any:
        if operation == "SendEmail":
            calls["n"] += 1
            if 2 <= calls["n"] <= 4:  # batch 2 throttled on each of its three attempts
                raise ClientError({"Error": {"Code": "TooManyRequestsException", "Message": "slow down"}}, operation)
        return real_call(self, operation, params)

    with mock.patch("botocore.client.BaseClient._make_api_call", flaky):
        with pytest.raises(app.RetryLater, match="TooManyRequestsException"):
            app.lambda_handler(event(), Context())
        assert len(sent_destinations()) == 50  # the first batch went out before the throttle
        # What went out is on record before the invocation raised (not "delivered to nobody").
        partial = json.loads(aws.get_object(Bucket=BUCKET, Key=f"index/2026/11/20/{MESSAGE_ID}.json")["Body"].read())
        (outcome,) = partial["outcomes"]
        assert (outcome["status"], outcome["reason"], len(outcome["destinations"])) == ("failed", "send-failed", 50)

        app.lambda_handler(event(), Context())  # Lambda's async retry

    destinations = sent_destinations()
    assert len(destinations) == 120 and len(set(destinations)) == 120  # every address exactly once
    assert calls["n"] == 6  # batch 1, batch 2 three times, then only batches 2 and 3 on the retry
    final = json.loads(aws.get_object(Bucket=BUCKET, Key=f"index/2026/11/20/{MESSAGE_ID}.json")["Body"].read())
    assert final["outcomes"][0]["status"] == "forwarded" and len(final["outcomes"][0]["destinations"]) == 120


def test_given_a_lost_ses_answer_then_one_extra_copy_at_most_and_the_metric_counts_it(
    aws: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    real_call = boto3.client("sesv2").__class__._make_api_call
    calls = {"n": 0}

    def lost(self: Any, operation: str, params: dict[str, Any]) -> Any:
        response = real_call(self, operation, params)
        if operation == "SendEmail":
            calls["n"] += 1
            if calls["n"] == 1:  # SES took it; the answer never came back
                raise ReadTimeoutError(endpoint_url="https://email.us-east-1.amazonaws.com")
        return response

    with mock.patch("botocore.client.BaseClient._make_api_call", lost):
        app.lambda_handler(event(), Context())
    destinations = sent_destinations()
    assert len(destinations) == 170 and len(set(destinations)) == 120  # batch 1 twice, nothing else
    assert '"PossibleDuplicates":[1.0]' in capsys.readouterr().out


def test_given_a_successful_run_when_the_same_event_comes_again_then_no_new_sends(aws: Any) -> None:
    app.lambda_handler(event(), Context())
    app.lambda_handler(event(), Context())
    assert len(sent_destinations()) == 120


def test_index_record_has_sesame_summary_and_ses_objects(aws: Any) -> None:
    app.lambda_handler(event(), Context())
    body = aws.get_object(Bucket=BUCKET, Key=f"index/2026/11/20/{MESSAGE_ID}.json")["Body"].read()
    assert body.endswith(b"\n") and body.count(b"\n") == 1  # one JSON line, as Athena reads it
    record = json.loads(body)
    assert set(record) >= {
        "message_id", "timestamp", "source", "from", "subject", "size", "recipients",
        "verdicts", "outcomes", "defects", "mail", "receipt",
    }
    assert record["message_id"] == MESSAGE_ID and record["source"] == "jane@sender.example"
    assert record["recipients"] == ["john@example.com"]
    assert record["verdicts"]["spam"] == "PASS"
    (outcome,) = record["outcomes"]
    assert outcome["status"] == "forwarded" and len(outcome["destinations"]) == 120
    assert len(outcome["ses_message_ids"]) == 3
    assert record["mail"]["messageId"] == MESSAGE_ID and record["receipt"]["action"]["type"] == "Lambda"
