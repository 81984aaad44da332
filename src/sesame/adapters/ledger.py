"""The send ledger on DynamoDB, and its fallback journal on S3 (see :mod:`sesame.core.delivery`).

One item per send key in the idempotency table (hash key ``id``, TTL attribute
``expiration``), under the ``send#`` prefix. Every write is conditional, so two invocations
never both hold a send, and every write is safe to repeat: botocore retries a write whose
response was lost, and the retry must not fail against the item its first try wrote (the claim
carries our token; completion and release are conditional on it).
"""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from sesame.core.delivery import SENDING, SENT, Claim, LedgerRecord, SendInProgress

_PREFIX = "send#"
_CONDITION_FAILED = "ConditionalCheckFailedException"
_NONE = "NONE"  # prior state of a record that did not exist


class DynamoLedger:
    def __init__(self, client: Any, table: str) -> None:
        self._client = client
        self._table = table

    def claim(self, key: str, token: str, lease_until: float, now: float, expires: int) -> Claim:
        try:
            response = self._client.update_item(
                TableName=self._table,
                Key={"id": {"S": _PREFIX + key}},
                # prior keeps the state our claim found; on a retry of our own claim the old
                # item is ours, and its prior is what the first try found.
                UpdateExpression="SET #s = :sending, #t = :token, #l = :lease, #e = :expires, #p = if_not_exists(#s, :none)",
                ConditionExpression=(
                    "attribute_not_exists(#i) OR #s IN (:unsent, :uncertain)"
                    " OR (#s = :sending AND (#l < :now OR #t = :token))"
                ),
                ExpressionAttributeNames={"#i": "id", "#s": "state", "#t": "token", "#l": "lease_until",
                                          "#e": "expiration", "#p": "prior"},
                ExpressionAttributeValues={
                    ":sending": {"S": SENDING},
                    ":none": {"S": _NONE},
                    ":unsent": {"S": "UNSENT"},
                    ":uncertain": {"S": "UNCERTAIN"},
                    ":token": {"S": token},
                    ":lease": {"N": _number(lease_until)},
                    ":now": {"N": _number(now)},
                    ":expires": {"N": str(expires)},
                },
                ReturnValues="ALL_OLD",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != _CONDITION_FAILED:
                raise
            held = _record(exc.response.get("Item") or {})
            if held is not None and held.state == SENT:
                return Claim(False, held, held.ses_message_id)
            raise SendInProgress(f"send {key} is held by another invocation until {held.lease_until if held else '?'}") from None
        old = _record(response.get("Attributes") or {})
        if old is not None and old.token == token:  # our own claim, retried after a lost response
            old = LedgerRecord(old.prior) if old.prior and old.prior != _NONE else None
        return Claim(True, old)

    def complete(self, key: str, token: str, ses_message_id: str) -> None:
        self._finish(key, token, SENT, ses_message_id)

    def release(self, key: str, token: str, state: str) -> None:
        self._finish(key, token, state, None)

    def _finish(self, key: str, token: str, state: str, ses_message_id: str | None) -> None:
        update = "SET #s = :state"
        values: dict[str, Any] = {":state": {"S": state}, ":token": {"S": token}}
        if ses_message_id is not None:
            update += ", #m = :id"
            values[":id"] = {"S": ses_message_id}
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"id": {"S": _PREFIX + key}},
                UpdateExpression=update,
                ConditionExpression="#t = :token",
                ExpressionAttributeNames={"#s": "state", "#t": "token", **({"#m": "ses_message_id"} if ses_message_id else {})},
                ExpressionAttributeValues=values,
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == _CONDITION_FAILED and ses_message_id is not None:
                # The record moved on without us (our lease ran out and another invocation took
                # it): completing anyway keeps the one fact that matters, that this key was sent.
                self._client.update_item(
                    TableName=self._table,
                    Key={"id": {"S": _PREFIX + key}},
                    UpdateExpression="SET #s = :state, #m = :id",
                    ExpressionAttributeNames={"#s": "state", "#m": "ses_message_id"},
                    ExpressionAttributeValues={":state": {"S": SENT}, ":id": {"S": ses_message_id}},
                )
                return
            raise

    def records(self, keys: list[str]) -> dict[str, LedgerRecord]:
        """The records of ``keys`` (for reports and redrives), read consistently."""
        found: dict[str, LedgerRecord] = {}
        for key in keys:
            item = self._client.get_item(
                TableName=self._table, Key={"id": {"S": _PREFIX + key}}, ConsistentRead=True
            ).get("Item")
            record = _record(item or {})
            if record is not None:
                found[key] = record
        return found


def _record(item: dict[str, Any]) -> LedgerRecord | None:
    if not item or "state" not in item:
        return None
    return LedgerRecord(
        state=item["state"]["S"],
        token=item.get("token", {}).get("S", ""),
        lease_until=float(item.get("lease_until", {}).get("N", "0")),
        ses_message_id=item.get("ses_message_id", {}).get("S"),
        prior=item.get("prior", {}).get("S"),
    )


def _number(value: float) -> str:
    return f"{value:.3f}"


class S3Journal:
    """Sends the ledger would not take, one small object each under ``journal/``."""

    def __init__(self, client: Any, bucket: str, prefix: str = "journal/") -> None:
        self._client = client
        self._bucket = bucket
        self._prefix = prefix

    def _key(self, key: str) -> str:
        message_id, _, suffix = key.partition(":")
        return f"{self._prefix}{message_id}/{suffix or 'send'}.json"

    def record(self, key: str, ses_message_id: str) -> None:
        body = json.dumps({"key": key, "ses_message_id": ses_message_id}).encode()
        self._client.put_object(Bucket=self._bucket, Key=self._key(key), Body=body, ContentType="application/json")

    def lookup(self, key: str) -> str | None:
        try:
            response = self._client.get_object(Bucket=self._bucket, Key=self._key(key))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in {"NoSuchKey", "404"}:
                return None
            raise
        with response["Body"] as body:
            data = json.loads(body.read())
        value = data.get("ses_message_id") if isinstance(data, dict) else None
        return value if isinstance(value, str) else None
