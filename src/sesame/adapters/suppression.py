"""The suppression list on DynamoDB: what the forwarder checks before it sends, what the
feedback function writes, and what ``sesame suppressions`` reads and removes.

A table of its own (``SuppressionTable``; hash key ``pk``, range key ``sk``, TTL attribute
``expires``), not the delivery ledger's: its entries are operator state that lives until the
operator acts (a complaint pause), where the ledger's are disposable send records; the
forwarder gets read-only access to it (``dynamodb:BatchGetItem``) while it writes the ledger;
and it has point-in-time recovery, which the ledger does not need.

Items, all keyed by the destination, so the forwarder's check of a message is one
``BatchGetItem`` of a destination's every-alias key plus one key per (alias, destination)
pair, each key once (more than 100 keys take more requests):

======================  ==================  ==============================================
pk                      sk                  holds
======================  ==================  ==============================================
``dest#<destination>``  ``*``               every alias: ``bounce_until`` (hard bounce),
                                            ``soft_events`` (event key -> epoch) and
                                            ``soft_until``, ``manual``; TTL ``expires``
``dest#<destination>``  ``alias#<alias>``   this alias only: ``complaint_at`` (a pause
                                            until resumed), ``manual``; never expires
``alias#<alias>``       ``complaints``      the alias's recent complaints (event key ->
                                            epoch), for the per-alias alarm; TTL
======================  ==================  ==============================================

Addresses are lower-cased. Every write is conditional or keyed by the event, so a
redelivered event, or a write botocore retries after a lost response, changes nothing twice:
a hard bounce only ever extends ``bounce_until`` (or rewrites its own), a soft bounce sets its
own map entry, a pause is taken once and its own event may take it again. The TTL only
collects garbage: every read compares the ``*_until`` times itself, and an item holding a
manual entry is never given an expiry.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from sesame.core.feedback import FeedbackEvent, FeedbackPolicy, SoftCount, Suppression

EVERY_ALIAS = "*"
# BatchGetItem takes at most 100 keys a request (DynamoDB API reference, BatchGetItem: a
# ValidationException "Too many items requested for the BatchGetItem call" otherwise) and refuses
# a key given twice ("Provided list of item keys contains duplicates", as moto answers too).
KEYS_PER_READ = 100
# A BatchGetItem may return UnprocessedKeys under load; the API reference asks callers to retry
# them with exponential backoff. After these tries the check raises (the forwarder retries).
UNPROCESSED_RETRIES = 5
_CONDITION_FAILED = "ConditionalCheckFailedException"
_READ_NAMES = {"#pk": "pk", "#sk": "sk", "#bu": "bounce_until", "#su": "soft_until", "#m": "manual", "#c": "complaint_at"}


def destination_key(destination: str) -> str:
    return f"dest#{destination.strip().lower()}"


def alias_key(alias: str) -> str:
    return f"alias#{alias.strip().lower()}"


def _epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def _n(value: int | float) -> dict[str, str]:
    return {"N": str(int(value))}


def _s(value: str) -> dict[str, str]:
    return {"S": value}


def _number(item: dict[str, Any], name: str) -> int | None:
    value = item.get(name, {}).get("N")
    return int(value) if value is not None else None


def _string(item: dict[str, Any], name: str) -> str | None:
    return item.get(name, {}).get("S")


def _condition_failed(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == _CONDITION_FAILED


class DynamoSuppressionList:
    def __init__(
        self,
        client: Any,
        table: str,
        *,
        sleep: Callable[[float], None] = time.sleep,
        log: Callable[[str, dict[str, Any]], None] | None = None,
    ) -> None:
        self._client = client
        self._table = table
        self._sleep = sleep
        self._log = log
        # Checks skipped because the table does not exist (see ``suppressed_by_alias``); the handler
        # turns increases into the SuppressionUnchecked metric.
        self.unchecked = 0

    # --- the forwarder's check (sesame.core.ports.SuppressionList) -------------------------
    def suppressed_by_alias(self, wanted: Mapping[str, Sequence[str]], now: datetime) -> dict[str, dict[str, str]]:
        """What the forwarder must leave out of one message: for each alias of ``wanted``
        (alias -> its destinations), the destinations suppressed for it, with why. One read
        for the whole message: the keys of every alias and destination, each once, in
        ``BatchGetItem`` requests of at most 100 keys (one request up to 50 distinct
        destinations of one alias).

        A failure that may pass (throttling, a timeout, a 5xx, keys left unprocessed after
        the retries) raises, so the message is retried with nothing sent. A table that does not
        exist is a configuration fault no retry mends: holding every message back for it would
        turn one missing table into all mail dead-lettered, so the check is skipped, loudly (a
        warning line per message and the SuppressionUnchecked metric), and mail flows."""
        try:
            return self._suppressed(wanted, now)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
                raise
            self.unchecked += 1
            if self._log is not None:
                self._log("suppression list not checked: its table does not exist",
                          {"table": self._table, "aliases": sorted(wanted), "error": str(exc)[:300]})
            return {}

    def suppressed(self, alias: str, destinations: Sequence[str], now: datetime) -> dict[str, str]:
        """The destinations of one alias that are suppressed, with why (see ``suppressed_by_alias``)."""
        return self.suppressed_by_alias({alias: destinations}, now).get(alias, {})

    def _suppressed(self, wanted: Mapping[str, Sequence[str]], now: datetime) -> dict[str, dict[str, str]]:
        # A destination's two keys side by side, so 100 keys are 50 destinations of one alias;
        # a destination of several aliases has its every-alias key once.
        keys = list(dict.fromkeys(
            key
            for alias, destinations in wanted.items()
            for destination in destinations
            for key in ((destination_key(destination), EVERY_ALIAS), (destination_key(destination), alias_key(alias)))
        ))
        items: dict[tuple[str, str], dict[str, Any]] = {}
        for start in range(0, len(keys), KEYS_PER_READ):
            for item in self._batch_get(keys[start : start + KEYS_PER_READ]):
                items[(_string(item, "pk") or "", _string(item, "sk") or "")] = item
        epoch = _epoch(now)
        found: dict[str, dict[str, str]] = {}
        for alias, destinations in wanted.items():
            for destination in dict.fromkeys(destinations):
                pk = destination_key(destination)
                why = _reason(items.get((pk, EVERY_ALIAS)), items.get((pk, alias_key(alias))), epoch)
                if why is not None:
                    found.setdefault(alias, {})[destination] = why
        return found

    def _batch_get(self, keys: list[tuple[str, str]]) -> list[dict[str, Any]]:
        request: dict[str, Any] = {
            self._table: {
                "Keys": [{"pk": _s(pk), "sk": _s(sk)} for pk, sk in keys],
                "ProjectionExpression": ", ".join(_READ_NAMES),
                "ExpressionAttributeNames": _READ_NAMES,
            }
        }
        items: list[dict[str, Any]] = []
        for attempt in range(UNPROCESSED_RETRIES + 1):
            response = self._client.batch_get_item(RequestItems=request)
            # UnprocessedKeys has the form of RequestItems, so it is the next request as it is;
            # with nothing left it is an empty map (API reference, BatchGetItem).
            request = {table: left for table, left in (response.get("UnprocessedKeys") or {}).items() if left.get("Keys")}
            if "Responses" not in response and not request:
                # Neither items nor keys left over: an answer that says nothing is no "not suppressed".
                raise RuntimeError(f"suppression check: BatchGetItem on {self._table} answered without Responses")
            items += (response.get("Responses") or {}).get(self._table, [])
            if not request:
                return items
            if attempt < UNPROCESSED_RETRIES:
                self._sleep(0.05 * 2**attempt)
        raise RuntimeError(f"suppression check: {self._table} left keys unprocessed after {UNPROCESSED_RETRIES} retries")

    # --- the feedback function's writes (sesame.core.feedback.SuppressionStore) ------------
    def suppress_bounced(self, destination: str, until: datetime, event: FeedbackEvent) -> bool:
        key = {"pk": _s(destination_key(destination)), "sk": _s(EVERY_ALIAS)}
        try:
            self._client.update_item(
                TableName=self._table,
                Key=key,
                UpdateExpression="SET bounce_until = :u, bounce_at = :at, bounce_event = :e, bounce_detail = :d",
                ConditionExpression="attribute_not_exists(bounce_until) OR bounce_until < :u OR bounce_event = :e",
                ExpressionAttributeValues={
                    ":u": _n(_epoch(until)),
                    ":at": _s(event.occurred_at.isoformat()),
                    ":e": _s(event.key),
                    ":d": _s(f"{event.bounce_type}/{event.subtype or '-'}"),
                },
            )
        except ClientError as exc:
            if _condition_failed(exc):
                return False  # a longer suppression is already in force
            raise
        self._extend_expiry(key, _epoch(until))
        return True

    def count_soft_bounce(self, destination: str, event: FeedbackEvent, policy: FeedbackPolicy) -> SoftCount:
        key = {"pk": _s(destination_key(destination)), "sk": _s(EVERY_ALIAS)}
        at = _epoch(event.occurred_at)
        item = self._set_map_entry(key, "soft_events", event.key, at)
        window = int(policy.soft_bounce_window.total_seconds())
        entries = {k: int(v["N"]) for k, v in (item.get("soft_events", {}).get("M") or {}).items()}
        count = sum(1 for when in entries.values() if at - window <= when <= at)
        stale = [k for k, when in entries.items() if when < at - window]
        if stale:  # older than any window this event needs: keep the map small
            self._client.update_item(
                TableName=self._table,
                Key=key,
                UpdateExpression="REMOVE " + ", ".join(f"soft_events.#s{i}" for i in range(len(stale))),
                ExpressionAttributeNames={f"#s{i}": k for i, k in enumerate(stale)},
            )
        until = None
        if count >= policy.soft_bounce_limit:
            until = event.occurred_at + policy.soft_bounce_suppression
            try:
                self._client.update_item(
                    TableName=self._table,
                    Key=key,
                    UpdateExpression="SET soft_until = :u, soft_event = :e",
                    ConditionExpression="attribute_not_exists(soft_until) OR soft_until < :u OR soft_event = :e",
                    ExpressionAttributeValues={":u": _n(_epoch(until)), ":e": _s(event.key)},
                )
            except ClientError as exc:
                if not _condition_failed(exc):
                    raise  # else a later soft suppression is in force already
        self._extend_expiry(key, max(at + window, _epoch(until) if until else 0))
        return SoftCount(count, until)

    def pause(self, alias: str, destination: str, event: FeedbackEvent) -> bool:
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"pk": _s(destination_key(destination)), "sk": _s(alias_key(alias))},
                UpdateExpression="SET complaint_at = :at, complaint_event = :e, complaint_type = :t",
                ConditionExpression="attribute_not_exists(complaint_at) OR complaint_event = :e",
                ExpressionAttributeValues={
                    ":at": _s(event.occurred_at.isoformat()),
                    ":e": _s(event.key),
                    ":t": _s(event.subtype or "unknown"),
                },
            )
        except ClientError as exc:
            if _condition_failed(exc):
                return False  # paused by an earlier complaint, still not resumed
            raise
        return True

    def count_alias_complaint(self, alias: str, event: FeedbackEvent, window: timedelta) -> int:
        key = {"pk": _s(alias_key(alias)), "sk": _s("complaints")}
        at = _epoch(event.occurred_at)
        item = self._set_map_entry(key, "events", event.key, at)
        seconds = int(window.total_seconds())
        entries = [int(v["N"]) for v in (item.get("events", {}).get("M") or {}).values()]
        self._extend_expiry(key, at + seconds)
        return sum(1 for when in entries if at - seconds <= when <= at)

    def _set_map_entry(self, key: dict[str, Any], attribute: str, name: str, value: int) -> dict[str, Any]:
        """Set ``attribute[name] = value`` (creating the map) and return the item after it.
        DynamoDB cannot create a map and set one of its entries in one expression."""
        for _ in range(3):
            try:
                return self._client.update_item(
                    TableName=self._table, Key=key,
                    UpdateExpression="SET #a.#k = :v", ConditionExpression="attribute_exists(#a)",
                    ExpressionAttributeNames={"#a": attribute, "#k": name},
                    ExpressionAttributeValues={":v": _n(value)}, ReturnValues="ALL_NEW",
                )["Attributes"]
            except ClientError as exc:
                if not _condition_failed(exc):
                    raise
            try:
                return self._client.update_item(
                    TableName=self._table, Key=key,
                    UpdateExpression="SET #a = :m", ConditionExpression="attribute_not_exists(#a)",
                    ExpressionAttributeNames={"#a": attribute},
                    ExpressionAttributeValues={":m": {"M": {name: _n(value)}}}, ReturnValues="ALL_NEW",
                )["Attributes"]
            except ClientError as exc:
                if not _condition_failed(exc):
                    raise  # else another writer created the map first: set our entry in it
        raise RuntimeError(f"could not record {name} in {attribute} of {key}")

    def _extend_expiry(self, key: dict[str, Any], epoch: int) -> None:
        """Let DynamoDB delete the item after ``epoch``, unless it holds a manual entry or a
        later expiry already."""
        try:
            self._client.update_item(
                TableName=self._table, Key=key,
                UpdateExpression="SET expires = :x",
                ConditionExpression="attribute_not_exists(manual) AND (attribute_not_exists(expires) OR expires < :x)",
                ExpressionAttributeValues={":x": _n(epoch)},
            )
        except ClientError as exc:
            if not _condition_failed(exc):
                raise

    # --- the operator's reads and edits (sesame suppressions) -------------------------------
    def entries(self, *, destination: str | None = None, alias: str | None = None) -> list[Suppression]:
        """Every entry, or those of one destination and/or alias (a destination-wide entry
        applies to every alias, so it is listed for any alias)."""
        if destination is not None:
            items = self._query(destination_key(destination))
        else:
            items = self._scan()
        found = []
        for item in items:
            pk, sk = _string(item, "pk") or "", _string(item, "sk") or ""
            if not pk.startswith("dest#"):
                continue
            scope = None if sk == EVERY_ALIAS else sk.removeprefix("alias#")
            if alias is not None and scope not in (None, alias.strip().lower()):
                continue
            found += _entries(pk.removeprefix("dest#"), scope, item)
        return sorted(found, key=lambda e: (e.destination, e.alias or "", e.reason))

    def add(self, destination: str, alias: str | None, note: str, now: datetime) -> None:
        self._client.update_item(
            TableName=self._table,
            Key={"pk": _s(destination_key(destination)), "sk": _s(alias_key(alias) if alias else EVERY_ALIAS)},
            UpdateExpression="SET manual = :n, manual_at = :at REMOVE expires",
            ExpressionAttributeValues={":n": _s(note or "added by the operator"), ":at": _s(now.isoformat())},
        )

    def remove(self, *, destination: str | None = None, alias: str | None = None) -> int:
        """Resume forwarding: delete what suppresses ``destination`` (for ``alias`` only, when
        given) or every pause of ``alias``. Returns the number of items deleted."""
        if destination is None and alias is None:
            raise ValueError("name a destination, an alias, or both")
        if destination is not None:
            keys = [(destination_key(destination), alias_key(alias) if alias else EVERY_ALIAS)]
            if alias is None:
                keys += [(destination_key(destination), _string(i, "sk") or "") for i in self._query(destination_key(destination))]
        else:
            assert alias is not None
            wanted = alias_key(alias)
            keys = [(_string(i, "pk") or "", wanted) for i in self._scan() if _string(i, "sk") == wanted]
            keys.append((wanted, "complaints"))
        deleted = 0
        for pk, sk in dict.fromkeys(keys):
            response = self._client.delete_item(
                TableName=self._table, Key={"pk": _s(pk), "sk": _s(sk)}, ReturnValues="ALL_OLD"
            )
            deleted += bool(response.get("Attributes"))
        return deleted

    def _query(self, pk: str) -> Iterable[dict[str, Any]]:
        paginator = self._client.get_paginator("query")
        for page in paginator.paginate(
            TableName=self._table, KeyConditionExpression="pk = :pk", ExpressionAttributeValues={":pk": _s(pk)}
        ):
            yield from page.get("Items", [])

    def _scan(self) -> Iterable[dict[str, Any]]:
        for page in self._client.get_paginator("scan").paginate(TableName=self._table):
            yield from page.get("Items", [])


def _reason(every_alias: dict[str, Any] | None, this_alias: dict[str, Any] | None, epoch: int) -> str | None:
    """Why a destination is suppressed for an alias, from its every-alias item and its item
    for that alias (either may be absent), or None; the strongest reason when there are several."""
    found = []
    if this_alias is not None and "complaint_at" in this_alias:
        found.append("complaint")
    if any(item is not None and "manual" in item for item in (every_alias, this_alias)):
        found.append("manual")
    if every_alias is not None and (_number(every_alias, "bounce_until") or 0) > epoch:
        found.append("bounce")
    if every_alias is not None and (_number(every_alias, "soft_until") or 0) > epoch:
        found.append("soft-bounce")
    return found[0] if found else None


def _entries(destination: str, alias: str | None, item: dict[str, Any]) -> list[Suppression]:
    found = []
    if "manual" in item:
        found.append(Suppression(destination, alias, "manual", _string(item, "manual_at"), None, _string(item, "manual")))
    if "complaint_at" in item:
        found.append(Suppression(destination, alias, "complaint", _string(item, "complaint_at"), None,
                                 _string(item, "complaint_type")))
    bounce_until = _number(item, "bounce_until")
    if bounce_until is not None:
        found.append(Suppression(destination, alias, "bounce", _string(item, "bounce_at"),
                                 datetime.fromtimestamp(bounce_until, UTC), _string(item, "bounce_detail")))
    soft_until = _number(item, "soft_until")
    soft = (item.get("soft_events", {}).get("M") or {})
    if soft_until is not None or soft:
        found.append(Suppression(destination, alias, "soft-bounce", None,
                                 datetime.fromtimestamp(soft_until, UTC) if soft_until is not None else datetime.min.replace(tzinfo=UTC),
                                 f"{len(soft)} soft bounce(s) on record", {"soft_bounces": len(soft)}))
    return found


__all__ = ["KEYS_PER_READ", "DynamoSuppressionList", "alias_key", "destination_key"]
