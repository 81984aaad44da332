"""Runs the same DynamoDB requests against moto in this process, with local mode's speed-ups
(``--speedups``) or without, and prints every answer and error as JSON lines, for
``tests/test_moto_speedups.py`` to compare. Each expression is sent several times with other
values, so the cached paths are taken as well as the first ones."""

from __future__ import annotations

import json
import os
import sys
from typing import Any

os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1")

import boto3  # noqa: E402
from botocore.exceptions import ClientError  # noqa: E402
from moto import mock_aws  # noqa: E402

# (UpdateExpression, ConditionExpression or None, names, values): valid and invalid ones alike,
# among them the forwarder's own ledger claim.
CASES: list[tuple[str, str | None, dict[str, str], dict[str, Any]]] = [
    ("SET #s = :sending, #t = :token, #l = :lease, #e = :expires, #p = if_not_exists(#s, :none)",
     "attribute_not_exists(#i) OR #s IN (:unsent, :uncertain) OR (#s = :sending AND (#l < :now OR #t = :token))",
     {"#i": "id", "#s": "state", "#t": "token", "#l": "lease_until", "#e": "expiration", "#p": "prior"},
     {":sending": {"S": "SENDING"}, ":none": {"S": "NONE"}, ":unsent": {"S": "UNSENT"},
      ":uncertain": {"S": "UNCERTAIN"}, ":token": {"S": "T{n}"}, ":lease": {"N": "{n}5"},
      ":now": {"N": "{n}"}, ":expires": {"N": "99{n}"}}),
    ("SET #s = :state, #m = :id", "#t = :token", {"#s": "state", "#t": "token", "#m": "ses_message_id"},
     {":state": {"S": "SENT"}, ":token": {"S": "T{n}"}, ":id": {"S": "id-{n}"}}),
    ("SET a = :v, b.c = :v REMOVE d ADD n :one", None, {}, {":v": {"S": "v{n}"}, ":one": {"N": "1"}}),
    ("SET l = list_append(if_not_exists(l, :empty), :more), n = n + :one", "attribute_exists(n) AND n < :big",
     {}, {":empty": {"L": []}, ":more": {"L": [{"S": "{n}"}]}, ":one": {"N": "1"}, ":big": {"N": "100"}}),
    ("ADD tags :t DELETE gone :t", "NOT contains(tags, :x) OR size(tags) BETWEEN :lo AND :hi",
     {}, {":t": {"SS": ["a{n}", "b"]}, ":x": {"S": "zz"}, ":lo": {"N": "0"}, ":hi": {"N": "9"}}),
    ("SET x = :v", "begins_with(#k, :p) AND (attribute_type(x, :s) OR attribute_not_exists(x))",
     {"#k": "id"}, {":v": {"S": "{n}"}, ":p": {"S": "k"}, ":s": {"S": "S"}}),
    ("SET a = :v SET b = :v", None, {}, {":v": {"S": "{n}"}}),  # two SET clauses
    ("REMOVE a REMOVE b", None, {}, {}),  # two REMOVE clauses
    ("ADD n :one ADD m :one", None, {}, {":one": {"N": "1"}}),  # two ADD clauses
    ("SET a = :v, a.b = :v", None, {}, {":v": {"S": "{n}"}}),  # overlapping paths
    ("SET id = :v", None, {}, {":v": {"S": "{n}"}}),  # the key itself
    ("SET a = :missing", None, {}, {":v": {"S": "{n}"}}),  # an undefined value
    ("SET #nope = :v", None, {}, {":v": {"S": "{n}"}}),  # an undefined name (moto raises KeyError)
    ("SET a = :v", "a = = :v", {}, {":v": {"S": "{n}"}}),  # a malformed condition
    ("SET a = :v", "size(a) > :v AND", {}, {":v": {"S": "{n}"}}),  # a truncated condition
    ("SET = :v", None, {}, {":v": {"S": "{n}"}}),  # a malformed update
    ("SET a = :v, b = :w", "a <> :v", {}, {":v": {"S": "{n}"}, ":w": {"N": "{n}"}}),
    ("SET a = :v", "#s IN (:a, :b)", {"#s": "a"}, {":v": {"S": "{n}"}, ":a": {"S": "1"}, ":b": {"S": "2"}}),
]


def _fill(value: Any, n: int) -> Any:
    if isinstance(value, str):
        return value.replace("{n}", str(n))
    if isinstance(value, list):
        return [_fill(v, n) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, n) for k, v in value.items()}
    return value


def main() -> int:
    if "--speedups" in sys.argv:
        from sesame.local.aws import moto_speedups

        print(json.dumps({"applied": moto_speedups.apply()}))
    with mock_aws():
        client = boto3.client("dynamodb")
        client.create_table(TableName="t", KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                            BillingMode="PAY_PER_REQUEST")
        for number in range(2, len(CASES)):  # items for the conditions to find (the ledger's start empty)
            for half in (0, 1):
                client.put_item(TableName="t", Item={"id": {"S": f"k{number}-{half}"}, "n": {"N": "1"}, "l": {"L": []},
                                                     "b": {"M": {}}, "a": {"S": "1"}, "tags": {"SS": ["b", "zz"]}})
        for n in range(4):
            for number, (update, condition, names, values) in enumerate(CASES):
                request: dict[str, Any] = {"TableName": "t", "Key": {"id": {"S": f"k{number}-{n % 2}"}},
                                           "UpdateExpression": update, "ReturnValues": "ALL_NEW"}
                if condition:
                    request["ConditionExpression"] = condition
                if names:
                    request["ExpressionAttributeNames"] = names
                if values:
                    request["ExpressionAttributeValues"] = _fill(values, n)
                try:
                    answer: Any = client.update_item(**request).get("Attributes")
                except ClientError as exc:
                    answer = {"error": exc.response["Error"]}
                except Exception as exc:  # noqa: BLE001 - moto's own bugs (in-process they escape) must match too
                    answer = {"raised": type(exc).__name__, "text": str(exc)}
                print(json.dumps({"case": number, "round": n, "answer": answer}, sort_keys=True))
            # The other readers of condition expressions: conditional puts and deletes, scan filters.
            others: list[tuple[str, Any]] = [
                ("put_item", dict(Item={"id": {"S": f"p{n % 2}"}, "v": {"N": str(n)}}, ConditionExpression="attribute_not_exists(id)")),
                ("put_item", dict(Item={"id": {"S": f"p{n % 2}"}, "v": {"N": str(n)}}, ConditionExpression="v < :v",
                                  ExpressionAttributeValues={":v": {"N": str(n)}})),
                ("delete_item", dict(Key={"id": {"S": f"p{n % 2}"}}, ConditionExpression="v = :v OR v > :v",
                                     ExpressionAttributeValues={":v": {"N": str(n + 1)}})),
                ("scan", dict(FilterExpression="n >= :one AND begins_with(id, :p)",
                              ExpressionAttributeValues={":one": {"N": str(n)}, ":p": {"S": "k1"}})),
                ("scan", dict(FilterExpression="n >= :one AND", ExpressionAttributeValues={":one": {"N": "1"}})),
            ]
            for name, arguments in others:
                try:
                    answer = getattr(client, name)(TableName="t", **arguments)
                    answer = sorted(answer.get("Items", []), key=lambda i: i["id"]["S"]) if name == "scan" else "ok"
                except ClientError as exc:
                    answer = {"error": exc.response["Error"]}
                except Exception as exc:  # noqa: BLE001
                    answer = {"raised": type(exc).__name__, "text": str(exc)}
                print(json.dumps({"call": name, "round": n, "answer": answer}, sort_keys=True))
        items = client.scan(TableName="t")["Items"]
        print(json.dumps({"items": sorted(items, key=lambda i: i["id"]["S"])}, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
