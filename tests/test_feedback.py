"""The SES feedback loop: events parsed into plain data, what each kind makes Sesame do, the
DynamoDB suppression list under moto, and the feedback function end to end (SQS batch in,
suppressions and feedback records out, partial batch responses, redelivery changes nothing)."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from conftest import create_suppression_table, load_event
from moto import mock_aws
from test_handler import Context
from test_hostile_events import TOO_DEEP, readable_utf8_json_lines

from sesame.adapters.suppression import DynamoSuppressionList
from sesame.core.feedback import (
    FeedbackPolicy,
    HardBounce,
    InvalidFeedback,
    Pause,
    SoftBounce,
    parse_feedback,
    plan,
)

BUCKET = "sesame-mail-test"
TABLE = "sesame-suppression-test"
RECEIVED = "o3vrnil0e2ic28trm7dfhrc2v0cnbeccl4nbp0g1"
POLICY = FeedbackPolicy()


def body(name: str, **changes: Any) -> str:
    """An event file as the queue delivers it (the EventBridge event is the record's body)."""
    event = load_event(f"ses_feedback_{name}.json")
    for path, value in changes.items():
        target = event["detail"]
        *parents, leaf = path.split("__")
        for part in parents:
            target = target[part]
        target[leaf] = value
    return json.dumps(event)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# --- parsing and planning (pure) ---------------------------------------------------------------


def test_given_a_hard_bounce_from_eventbridge_when_parsed_then_the_forwarded_message_and_alias_are_named() -> None:
    event = parse_feedback(body("bounce"))
    assert (event.kind, event.bounce_type, event.subtype) == ("bounce", "Permanent", "General")
    assert event.received_message_id == RECEIVED and event.send and event.configuration_set == "sesame"
    assert event.alias == "john@example.com"
    assert [r.address for r in event.recipients] == ["john.doe@gmail.example"]
    assert event.occurred_at == at("2026-11-20T09:15:05.118")
    assert plan(event, POLICY) == [HardBounce("john.doe@gmail.example", at("2026-12-20T09:15:05.118"))]


def test_given_the_same_event_twice_when_parsed_then_its_key_is_the_same_and_another_event_differs() -> None:
    assert parse_feedback(body("bounce")).key == parse_feedback(body("bounce")).key
    assert parse_feedback(body("bounce")).key != parse_feedback(body("bounce", bounce__feedbackId="other")).key


@pytest.mark.parametrize(
    ("name", "changes", "expected"),
    [
        ("bounce_suppressed", {}, HardBounce),  # SES's own suppression list: a hard bounce
        ("bounce_soft", {}, SoftBounce),  # MailboxFull
        ("bounce_soft", {"bounce__bounceSubType": "General"}, SoftBounce),
        ("bounce_soft", {"bounce__bounceType": "Undetermined", "bounce__bounceSubType": "Undetermined"}, SoftBounce),
        ("bounce_soft", {"bounce__bounceSubType": "MessageTooLarge"}, type(None)),  # about the message
        ("bounce_soft", {"bounce__bounceSubType": "ContentRejected"}, type(None)),
        ("complaint", {}, Pause),
        ("complaint", {"complaint__complaintFeedbackType": "not-spam"}, type(None)),
        ("delivery_delay", {}, type(None)),
        ("reject", {}, type(None)),
    ],
)
def test_given_each_kind_of_event_when_planned_then_it_suppresses_pauses_or_only_records(
    name: str, changes: dict[str, Any], expected: type
) -> None:
    effects = plan(parse_feedback(body(name, **changes)), POLICY)
    assert effects and all(isinstance(e, expected) for e in effects)


def test_given_a_complaint_when_planned_then_only_the_alias_it_came_through_is_paused() -> None:
    assert plan(parse_feedback(body("complaint")), POLICY) == [Pause("john@example.com", "john.doe@gmail.example")]


def test_given_a_send_without_sesame_tags_when_planned_then_it_is_only_recorded() -> None:
    # e.g. the dead-letter function's report to the operator bouncing: not a forwarded copy.
    event = load_event("ses_feedback_bounce.json")
    tags = event["detail"]["mail"]["tags"]
    del tags["sesame-send"], tags["sesame-message"]
    parsed = parse_feedback(json.dumps(event))
    assert not parsed.from_sesame and plan(parsed, POLICY) == [None]


def test_given_the_bare_record_or_an_sns_notification_when_parsed_then_it_reads_the_same() -> None:
    detail = load_event("ses_feedback_bounce.json")["detail"]
    sns = {"Type": "Notification", "MessageId": "x", "TopicArn": "arn:aws:sns:us-east-1:123456789012:t",
           "Message": json.dumps(detail)}
    assert parse_feedback(json.dumps(detail)) == parse_feedback(json.dumps(sns)) == parse_feedback(body("bounce"))


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("not json", "not JSON"),
        (json.dumps({"detail-type": "Email Delivered", "detail": {"eventType": "Delivery", "mail": {}}}), "not a bounce"),
        (json.dumps({"eventType": "Bounce", "mail": {"messageId": "m"}, "bounce": {"bouncedRecipients": []}}),
         "names no recipient"),
        (json.dumps({"eventType": "Bounce", "bounce": {}}), "no mail.messageId"),
        (json.dumps([1, 2]), "not a JSON object"),
        (json.dumps({"Type": "Notification", "Message": "{oops"}), "SNS message is not JSON"),
        (json.dumps({"eventType": "Complaint", "mail": {"messageId": "m"}}), "without its complaint object"),
        (json.dumps({"eventType": "Bounce", "mail": {"messageId": "m", "timestamp": "yesterday"},
                     "bounce": {"bouncedRecipients": [{"emailAddress": "a@x.example"}], "timestamp": 5}}),
         "no usable timestamp"),
    ],
)
def test_given_a_record_that_is_no_event_of_ours_when_parsed_then_it_is_refused_with_why(text: str, why: str) -> None:
    with pytest.raises(InvalidFeedback, match=why):
        parse_feedback(text)


def test_given_odd_entries_and_no_marker_when_parsed_then_bad_entries_are_skipped_and_nothing_is_paused() -> None:
    event = load_event("ses_feedback_complaint.json")
    detail = event["detail"]
    detail["complaint"]["complainedRecipients"] = ["not an object", {"emailAddress": "no-at-sign"},
                                                   {"emailAddress": " <Ann@Example.org> "}]
    detail["complaint"]["timestamp"] = "2026-11-21T08:02:11"  # no zone: read as UTC
    detail["mail"]["headers"] = [h for h in detail["mail"]["headers"] if h["name"] != "X-Sesame-Forwarded-For"]
    parsed = parse_feedback(json.dumps(event))
    assert [r.address for r in parsed.recipients] == ["ann@example.org"]
    assert parsed.occurred_at == at("2026-11-21T08:02:11") and parsed.alias is None
    # Without the alias the complaint cannot pause anything: it is recorded.
    assert plan(parsed, POLICY) == [None]


def test_given_hostile_text_in_a_diagnostic_when_parsed_then_it_is_cut_and_has_no_line_breaks() -> None:
    hostile = "smtp; 550 " + "x\r\nInjected: yes " * 500
    event = load_event("ses_feedback_bounce.json")
    event["detail"]["bounce"]["bouncedRecipients"][0]["diagnosticCode"] = hostile
    (recipient,) = parse_feedback(json.dumps(event)).recipients
    assert recipient.diagnostic is not None
    assert len(recipient.diagnostic) <= 1000 and "\r" not in recipient.diagnostic and "\n" not in recipient.diagnostic


# --- the table and the function under moto ---------------------------------------------------


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    from feedback import app

    monkeypatch.setenv("SESAME_BUCKET", BUCKET)
    monkeypatch.setenv("SESAME_SUPPRESSION_TABLE", TABLE)
    with mock_aws():
        s3, dynamodb = boto3.client("s3"), boto3.client("dynamodb")
        s3.create_bucket(Bucket=BUCKET)
        create_suppression_table(TABLE)
        app.use_runtime(None)
        yield {"s3": s3, "dynamodb": dynamodb, "list": DynamoSuppressionList(dynamodb, TABLE)}
        app.use_runtime(None)


def deliver(*bodies: str) -> dict[str, Any]:
    """The feedback function on one SQS batch of these bodies."""
    from feedback import app

    event = load_event("sqs_feedback.json")
    template = event["Records"][0]
    event["Records"] = []
    for i, text in enumerate(bodies):
        record = copy.deepcopy(template)
        record["messageId"] = f"msg-{i}"
        record["body"] = text
        event["Records"].append(record)
    return app.lambda_handler(event, Context())


def table_items(dynamodb: Any) -> list[dict[str, Any]]:
    return sorted(dynamodb.scan(TableName=TABLE)["Items"], key=lambda i: (i["pk"]["S"], i["sk"]["S"]))


def feedback_records(s3: Any) -> dict[str, bytes]:
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix="feedback/").get("Contents", [])
    return {o["Key"]: s3.get_object(Bucket=BUCKET, Key=o["Key"])["Body"].read() for o in listed}


def test_given_a_hard_bounce_when_handled_then_the_destination_is_suppressed_for_every_alias_for_30_days(
    aws: dict[str, Any],
) -> None:
    assert deliver(body("bounce")) == {"batchItemFailures": []}

    suppressions = aws["list"]
    soon, later = at("2026-11-21T00:00:00"), at("2026-12-21T00:00:00")
    for alias in ("john@example.com", "team@example.com", "@example.com"):
        assert suppressions.suppressed(alias, ["John.Doe@gmail.example", "john@work.example"], soon) == {
            "John.Doe@gmail.example": "bounce"}
    assert suppressions.suppressed("john@example.com", ["john.doe@gmail.example"], later) == {}
    # The record, joined to the index by the received message id, says what was done.
    ((key, data),) = feedback_records(aws["s3"]).items()
    assert key.startswith("feedback/2026/11/20/bounce-") and key.endswith(".json")
    (row,) = [json.loads(line) for line in data.splitlines()]
    assert row["message_id"] == RECEIVED and row["destination"] == "john.doe@gmail.example"
    assert (row["event_type"], row["bounce_type"], row["subtype"]) == ("bounce", "Permanent", "General")
    assert row["effect"] == "suppressed-until-2026-12-20T09:15Z" and row["alias"] == "john@example.com"
    # DynamoDB deletes the item after the suppression ends (TTL attribute "expires").
    (item,) = table_items(aws["dynamodb"])
    assert int(item["expires"]["N"]) == int(at("2026-12-20T09:15:05.118").timestamp())


def test_given_an_event_delivered_twice_when_handled_then_nothing_changes_the_second_time(aws: dict[str, Any]) -> None:
    for name in ("bounce", "bounce_soft", "complaint"):
        deliver(body(name))
    items, records = table_items(aws["dynamodb"]), feedback_records(aws["s3"])

    for name in ("bounce", "bounce_soft", "complaint"):
        assert deliver(body(name)) == {"batchItemFailures": []}

    assert table_items(aws["dynamodb"]) == items
    assert feedback_records(aws["s3"]) == records


def test_given_soft_bounces_when_the_limit_is_reached_within_a_day_then_the_destination_rests_a_day(
    aws: dict[str, Any],
) -> None:
    def soft(n: int, when: str) -> str:
        return body("bounce_soft", bounce__feedbackId=f"soft-{n}", bounce__timestamp=when)

    deliver(soft(1, "2026-11-19T08:00:00.000Z"))  # outside the day before the third: not counted
    deliver(soft(2, "2026-11-20T10:00:00.000Z"), soft(3, "2026-11-20T11:00:00.000Z"))
    suppressions = aws["list"]
    assert suppressions.suppressed("team@example.com", ["ann@example.org"], at("2026-11-20T12:00:00")) == {}

    deliver(soft(4, "2026-11-20T21:00:00.000Z"))

    assert suppressions.suppressed("team@example.com", ["ann@example.org"], at("2026-11-21T20:00:00")) == {
        "ann@example.org": "soft-bounce"}
    assert suppressions.suppressed("team@example.com", ["ann@example.org"], at("2026-11-21T21:00:01")) == {}
    effects = [json.loads(line)["effect"] for data in feedback_records(aws["s3"]).values() for line in data.splitlines()]
    assert sorted(effects) == ["soft-bounce-1-of-3", "soft-bounce-1-of-3", "soft-bounce-2-of-3",
                               "suppressed-until-2026-11-21T21:00Z"]


def test_given_a_complaint_when_handled_then_that_alias_is_paused_for_that_destination_until_resumed(
    aws: dict[str, Any],
) -> None:
    deliver(body("complaint"))

    suppressions = aws["list"]
    years_later = at("2030-01-01T00:00:00")
    assert suppressions.suppressed("john@example.com", ["john.doe@gmail.example", "john@work.example"], years_later) == {
        "john.doe@gmail.example": "complaint"}
    assert suppressions.suppressed("team@example.com", ["john.doe@gmail.example"], years_later) == {}
    (entry,) = [e for e in suppressions.entries(alias="john@example.com") if e.reason == "complaint"]
    assert (entry.destination, entry.alias, entry.detail, entry.until) == (
        "john.doe@gmail.example", "john@example.com", "abuse", None)

    assert suppressions.remove(destination="john.doe@gmail.example", alias="john@example.com") == 1
    assert suppressions.suppressed("john@example.com", ["john.doe@gmail.example"], years_later) == {}


def test_given_complaints_through_one_alias_when_handled_then_the_alarm_gauge_counts_them(
    aws: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    deliver(body("complaint"), body("complaint", complaint__feedbackId="second",
                                    complaint__complainedRecipients=[{"emailAddress": "john@work.example"}]))
    metrics = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    (emitted,) = [m for m in metrics if "AliasComplaints" in m]  # the function's own blob
    assert emitted["Complaints"] == [1.0, 1.0] and emitted["AliasComplaints"] == [1.0, 2.0]
    assert emitted["Suppressions"] == [1.0, 1.0]
    # ... and one count per destination and per alias, for the dashboard and `sesame status`.
    singles = sorted((m["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0][-1], m.get("destination") or m.get("alias"))
                     for m in metrics if "Complaints" in m and "AliasComplaints" not in m)
    assert singles == [("alias", "john@example.com"), ("alias", "john@example.com"),
                       ("destination", "john.doe@gmail.example"), ("destination", "john@work.example")]


def test_given_a_delay_and_a_reject_when_handled_then_they_are_recorded_and_suppress_nothing(aws: dict[str, Any]) -> None:
    assert deliver(body("delivery_delay"), body("reject")) == {"batchItemFailures": []}

    assert table_items(aws["dynamodb"]) == []
    rows = sorted((json.loads(line) for data in feedback_records(aws["s3"]).values() for line in data.splitlines()),
                  key=lambda r: (r["event_type"], r["destination"]))
    assert [(r["event_type"], r["destination"], r["subtype"], r["effect"]) for r in rows] == [
        ("delivery-delay", "john@work.example", "TransientCommunicationFailure", "recorded"),
        ("reject", "john.doe@gmail.example", "Bad content", "recorded"),
        ("reject", "john@work.example", "Bad content", "recorded"),
    ]


def test_given_a_batch_with_a_foreign_record_and_a_failing_one_when_handled_then_only_the_failing_one_returns(
    aws: dict[str, Any],
) -> None:
    from feedback import app

    good = body("bounce")
    foreign = json.dumps({"detail-type": "Email Delivered", "detail": {"eventType": "Delivery"}})
    result = deliver(good, foreign)
    assert result == {"batchItemFailures": []}  # a foreign record is dropped: retrying cannot help

    app.use_runtime(None)
    aws["dynamodb"].delete_table(TableName=TABLE)  # an infrastructure failure: retried by SQS
    assert deliver(foreign, good) == {"batchItemFailures": [{"itemIdentifier": "msg-1"}]}


def test_given_a_record_nested_too_deeply_and_a_lone_surrogate_when_handled_then_one_is_dropped_and_one_written_as_utf8(
    aws: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    result = deliver(TOO_DEEP, body("bounce", bounce__bouncedRecipients=[
        {"emailAddress": "john.doe@gmail.example", "diagnosticCode": "smtp; 550 no \udc80 such user"}
    ]))

    assert result == {"batchItemFailures": []}  # retrying the deep one cannot help: dropped, counted
    assert '"InvalidFeedback":[1.0]' in capsys.readouterr().out
    (written,) = feedback_records(aws["s3"]).values()
    (row,) = readable_utf8_json_lines(written)
    assert row["diagnostic"] == "smtp; 550 no \ufffd such user"


def test_given_manual_entries_when_listed_and_removed_then_they_never_expire_and_go_on_request(aws: dict[str, Any]) -> None:
    suppressions = aws["list"]
    now = at("2026-11-23T10:00:00")
    suppressions.add("Ann@Example.org", None, "on holiday", now)
    suppressions.add("john@work.example", "team@example.com", "", now)
    deliver(body("bounce_suppressed"))  # also suppresses john@work.example for every alias

    assert suppressions.suppressed("team@example.com", ["ann@example.org", "john@work.example"], now) == {
        "ann@example.org": "manual", "john@work.example": "manual"}
    listed = [(e.destination, e.alias, e.reason) for e in suppressions.entries()]
    assert listed == [("ann@example.org", None, "manual"), ("john@work.example", None, "bounce"),
                      ("john@work.example", "team@example.com", "manual")]
    assert "expires" not in next(i for i in table_items(aws["dynamodb"]) if i["pk"]["S"] == "dest#ann@example.org")

    assert suppressions.remove(destination="john@work.example") == 2
    assert suppressions.suppressed("team@example.com", ["john@work.example"], now) == {}


def test_given_more_destinations_than_one_read_takes_when_checked_then_each_read_has_at_most_100_keys(
    aws: dict[str, Any],
) -> None:
    suppressions = aws["list"]
    reads: list[int] = []
    aws["dynamodb"].meta.events.register(
        "provide-client-params.dynamodb.BatchGetItem",
        lambda params, **_: reads.append(len(params["RequestItems"][TABLE]["Keys"])),
    )
    destinations = [f"user{i}@dest.example" for i in range(120)]
    suppressions.add("user119@dest.example", None, "", at("2026-11-23T10:00:00"))

    assert suppressions.suppressed("john@example.com", destinations, at("2026-11-23T10:00:00")) == {
        "user119@dest.example": "manual"}
    assert reads == [100, 100, 40]


def test_given_a_message_whose_aliases_share_destinations_when_checked_then_each_key_is_read_once_in_reads_of_100(
    aws: dict[str, Any],
) -> None:
    suppressions = aws["list"]
    reads: list[list[tuple[str, str]]] = []
    aws["dynamodb"].meta.events.register(
        "provide-client-params.dynamodb.BatchGetItem",
        lambda params, **_: reads.append([(k["pk"]["S"], k["sk"]["S"]) for k in params["RequestItems"][TABLE]["Keys"]]),
    )
    now = at("2026-11-23T10:00:00")
    destinations = [f"user{i}@dest.example" for i in range(40)]
    suppressions.add("user39@dest.example", "team@example.com", "", now)  # the last key, for team@ only
    suppressions.add("User0@dest.example", None, "", now)

    found = suppressions.suppressed_by_alias(
        {"john@example.com": destinations, "team@example.com": [d.upper() for d in reversed(destinations)]}, now)

    # 40 every-alias keys (shared, in any case) + 80 (alias, destination) keys: 120, read as 100 + 20
    assert [len(keys) for keys in reads] == [100, 20]
    assert len({key for keys in reads for key in keys}) == 120
    assert found == {"john@example.com": {"user0@dest.example": "manual"},
                     "team@example.com": {"USER39@DEST.EXAMPLE": "manual", "USER0@DEST.EXAMPLE": "manual"}}


# Response shapes from the DynamoDB API reference, BatchGetItem: "Responses" maps the table to
# its items; "UnprocessedKeys" has the form of RequestItems, and is an empty map when no keys
# are left.
def _stubbed() -> tuple[Any, Any]:
    from botocore.stub import Stubber

    client = boto3.client("dynamodb", region_name="us-east-1")
    return client, Stubber(client)


def _request(*keys: tuple[str, str]) -> dict[str, Any]:
    return {TABLE: {
        "Keys": [{"pk": {"S": pk}, "sk": {"S": sk}} for pk, sk in keys],
        "ProjectionExpression": "#pk, #sk, #bu, #su, #m, #c",
        "ExpressionAttributeNames": {"#pk": "pk", "#sk": "sk", "#bu": "bounce_until", "#su": "soft_until",
                                     "#m": "manual", "#c": "complaint_at"},
    }}


def test_given_keys_left_unprocessed_when_checked_then_only_those_are_asked_again_after_a_pause() -> None:
    client, stub = _stubbed()
    now = at("2026-11-23T10:00:00")
    a, b = ("dest#a@x.example", "*"), ("dest#b@x.example", "*")
    a_alias, b_alias = ("dest#a@x.example", "alias#john@example.com"), ("dest#b@x.example", "alias#john@example.com")
    bounced = {"pk": {"S": "dest#a@x.example"}, "sk": {"S": "*"}, "bounce_until": {"N": str(int(now.timestamp()) + 60)}}
    paused = {"pk": {"S": "dest#b@x.example"}, "sk": {"S": "alias#john@example.com"}, "complaint_at": {"S": "2026-11-01"}}
    # GIVEN a first answer with one item and two keys unprocessed (b's), then the rest
    stub.add_response("batch_get_item", {"Responses": {TABLE: [bounced]}, "UnprocessedKeys": _request(b, b_alias)},
                      {"RequestItems": _request(a, a_alias, b, b_alias)})
    stub.add_response("batch_get_item", {"Responses": {TABLE: [paused]}, "UnprocessedKeys": {}},
                      {"RequestItems": _request(b, b_alias)})
    slept: list[float] = []
    with stub:
        # WHEN checked
        found = DynamoSuppressionList(client, TABLE, sleep=slept.append).suppressed_by_alias(
            {"john@example.com": ["a@x.example", "b@x.example"]}, now)
        stub.assert_no_pending_responses()
    # THEN both answers count, and the retry waited
    assert found == {"john@example.com": {"a@x.example": "bounce", "b@x.example": "complaint"}}
    assert slept == [0.05]


def test_given_keys_left_unprocessed_when_checked_then_it_retries_with_backoff_and_then_raises() -> None:
    """Under load every key may stay unprocessed; after the retries the check raises: a key it
    could not read is never taken as not suppressed."""
    client, stub = _stubbed()
    keys = _request(("dest#a@x.example", "*"), ("dest#a@x.example", "alias#john@example.com"))
    for _ in range(6):
        stub.add_response("batch_get_item", {"Responses": {TABLE: []}, "UnprocessedKeys": keys}, {"RequestItems": keys})
    slept: list[float] = []
    with stub, pytest.raises(RuntimeError, match="unprocessed after 5 retries"):
        DynamoSuppressionList(client, TABLE, sleep=slept.append).suppressed("john@example.com", ["a@x.example"], datetime.now(UTC))
    stub.assert_no_pending_responses()
    assert slept == [0.05, 0.1, 0.2, 0.4, 0.8]


def test_given_an_answer_that_says_nothing_when_checked_then_it_raises() -> None:
    """A 200 with neither Responses nor UnprocessedKeys is no answer, so no "not suppressed"."""
    client, stub = _stubbed()
    stub.add_response("batch_get_item", {})
    with stub, pytest.raises(RuntimeError, match="answered without Responses"):
        DynamoSuppressionList(client, TABLE).suppressed("john@example.com", ["a@x.example"], datetime.now(UTC))


def test_given_a_soft_bounce_long_after_the_others_when_counted_then_stale_entries_are_pruned(aws: dict[str, Any]) -> None:
    deliver(body("bounce_soft", bounce__feedbackId="a", bounce__timestamp="2026-11-01T00:00:00.000Z"))
    deliver(body("bounce_soft", bounce__feedbackId="b", bounce__timestamp="2026-11-20T00:00:00.000Z"))
    (item,) = table_items(aws["dynamodb"])
    assert len(item["soft_events"]["M"]) == 1
    assert timedelta(seconds=int(item["expires"]["N"]) - int(at("2026-11-20T00:00:00").timestamp())) == timedelta(days=1)
