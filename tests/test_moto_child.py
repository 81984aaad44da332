"""The moto child local mode runs: the send ledger's conditional writes behave there as on
DynamoDB, also now that the child keeps parsed UpdateExpressions by their text."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from sesame.adapters.ledger import DynamoLedger
from sesame.core.delivery import SENT, SendInProgress
from sesame.local.aws.moto_process import MotoProcess


@pytest.fixture(scope="module")
def dynamodb() -> Iterator[Any]:
    moto = MotoProcess()
    endpoint = moto.start()
    try:
        client = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1",
                              aws_access_key_id="testing", aws_secret_access_key="testing")
        client.create_table(TableName="ledger", KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                            BillingMode="PAY_PER_REQUEST")
        yield client
    finally:
        moto.stop()


def test_given_the_same_update_expressions_again_and_again_then_each_write_uses_its_own_values(dynamodb: Any) -> None:
    ledger, now = DynamoLedger(dynamodb, "ledger"), time.time()
    for n in range(5):  # the same expression texts, other keys, tokens and ids each time
        assert ledger.claim(f"m{n}:a", f"token-{n}", now + 60, now, 2_000_000_000).acquired
        ledger.complete(f"m{n}:a", f"token-{n}", f"ses-{n}")
    records = ledger.records([f"m{n}:a" for n in range(5)])
    assert [(r.state, r.token, r.ses_message_id) for r in records.values()] == [
        (SENT, f"token-{n}", f"ses-{n}") for n in range(5)
    ]


def test_given_a_held_send_then_the_conditions_still_decide(dynamodb: Any) -> None:
    ledger, now = DynamoLedger(dynamodb, "ledger"), time.time()
    assert ledger.claim("held:a", "first", now + 60, now, 2_000_000_000).acquired
    with pytest.raises(SendInProgress):  # leased to "first" for a minute
        ledger.claim("held:a", "second", now + 60, now, 2_000_000_000)
    ledger.complete("held:a", "first", "ses-held")
    again = ledger.claim("held:a", "third", now + 60, now, 2_000_000_000)
    assert (again.acquired, again.sent_id) == (False, "ses-held")


def test_given_an_invalid_update_expression_then_every_call_is_refused(dynamodb: Any) -> None:
    for _ in range(2):  # a parse error is never kept as a parse
        with pytest.raises(ClientError) as caught:
            dynamodb.update_item(TableName="ledger", Key={"id": {"S": "x"}}, UpdateExpression="SET = :v",
                                 ExpressionAttributeValues={":v": {"S": "1"}})
        assert caught.value.response["Error"]["Code"] == "ValidationException"
