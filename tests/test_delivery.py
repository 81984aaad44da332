"""The send protocol (sesame.core.delivery) over the real DynamoDB ledger (moto), killed and
faulted at each step: what a retry, a redrive or another invocation sends afterwards.

Each test names the mechanism it covers: (1) SES accepted but the answer was lost, (2) the
invocation died between the send and the record, (3) the completion write failed after a
successful send, (4) the claim's own answer was lost, and the deadline that keeps invocations
from dying mid-send.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError, ConnectTimeoutError, ReadTimeoutError
from conftest import LEDGER_TABLE, create_ledger_table
from moto import mock_aws

from sesame.adapters.ledger import DynamoLedger, S3Journal
from sesame.adapters.send_errors import classify_send_error
from sesame.core.delivery import (
    SEND_BUDGET_SECONDS,
    SENT,
    UNCERTAIN,
    UNSENT,
    Delivery,
    OutOfTime,
    SendFailed,
    SendInProgress,
)
from sesame.core.ports import Outgoing, SendRejected

BUCKET = "sesame-mail-test"
KEY = "m1:batchdigest"


class Killed(BaseException):
    """The invocation dies here (a timeout or a crash): nothing after it runs, no cleanup."""


@dataclass
class SesFake:
    """A transport whose SES counts what it really delivered; ``script`` says, per call, what
    goes wrong: "throttle" (SES answers an error), "connect" (never reached SES), "lost" (SES
    delivered, the answer was lost), "reject" (refused for good), "kill" (SES delivered, then
    the invocation died before hearing back)."""

    script: list[str] = field(default_factory=list)
    delivered: list[tuple[str, ...]] = field(default_factory=list)
    calls: int = 0

    def send_raw(self, message: Outgoing, destinations: Sequence[str], *, key: str) -> str:
        self.calls += 1
        step = self.script.pop(0) if self.script else "ok"
        if step == "throttle":
            raise ClientError({"Error": {"Code": "TooManyRequestsException", "Message": "slow down"}}, "SendEmail")
        if step == "connect":
            raise ConnectTimeoutError(endpoint_url="https://email.us-east-1.amazonaws.com")
        if step == "reject":
            raise SendRejected("MessageRejected", "Email address is not verified.")
        self.delivered.append(tuple(destinations))
        if step == "lost":
            raise ReadTimeoutError(endpoint_url="https://email.us-east-1.amazonaws.com")
        if step == "kill":
            raise Killed
        return f"ses-{len(self.delivered)}"


@dataclass
class Clock:
    now: float = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Deadline:
    seconds: float = 120.0

    def remaining_seconds(self) -> float:
        return self.seconds


class FlakyClient:
    """A boto3 client that fails chosen operations, in chosen ways, a number of times."""

    def __init__(self, client: Any, failures: dict[str, list[str]]) -> None:
        self._client = client
        self._failures = failures

    def __getattr__(self, name: str) -> Any:
        real = getattr(self._client, name)
        plan = self._failures.get(name)
        if not plan:
            return real

        def call(**kwargs: Any) -> Any:
            kind = plan.pop(0) if plan else "ok"
            if kind == "throttle":
                raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow"}}, name)
            if kind == "lost":  # the write happened; botocore retries it with the same request
                real(**kwargs)
                return real(**kwargs)
            if kind == "kill":
                raise Killed
            return real(**kwargs)

        return call


@pytest.fixture
def aws() -> Iterator[dict[str, Any]]:
    with mock_aws():
        boto3.client("s3").create_bucket(Bucket=BUCKET)
        create_ledger_table()
        yield {"dynamodb": boto3.client("dynamodb"), "s3": boto3.client("s3")}


def delivery(aws: dict[str, Any], ses: SesFake, clock: Clock, *, dynamodb: Any = None, s3: Any = None,
             remembered: dict[str, str] | None = None, seconds: float = 120.0) -> Delivery:
    d = Delivery(
        ses,
        DynamoLedger(dynamodb or aws["dynamodb"], LEDGER_TABLE),
        classify=classify_send_error,
        journal=S3Journal(s3 or aws["s3"], BUCKET),
        clock=clock,
        sleep=lambda _s: None,
        remembered=remembered,
    )
    d.begin(Deadline(seconds))
    return d


def state(aws: dict[str, Any]) -> str:
    item = aws["dynamodb"].get_item(TableName=LEDGER_TABLE, Key={"id": {"S": f"send#{KEY}"}}, ConsistentRead=True)
    return item["Item"]["state"]["S"]


def send(d: Delivery) -> str:
    return d.send_raw(b"message", ["a@x.example"], key=KEY)


# --- the plain cases --------------------------------------------------------------------------


def test_GIVEN_a_send_WHEN_repeated_by_another_invocation_THEN_sent_once(aws: dict[str, Any]) -> None:
    ses, clock = SesFake(), Clock()
    first = send(delivery(aws, ses, clock))
    again = send(delivery(aws, ses, clock))  # a Lambda retry or a redrive: another container
    assert first == again and len(ses.delivered) == 1 and state(aws) == SENT


def test_GIVEN_throttling_or_no_connection_WHEN_retried_in_the_invocation_THEN_sent_once_no_duplicate_counted(
    aws: dict[str, Any],
) -> None:
    ses = SesFake(["throttle", "connect"])
    d = delivery(aws, ses, Clock())
    assert send(d) == "ses-1"
    assert ses.calls == 3 and len(ses.delivered) == 1 and d.stats.possible_duplicates == []


def test_GIVEN_throttling_on_every_attempt_WHEN_sent_THEN_released_unsent_and_the_next_try_sends(aws: dict[str, Any]) -> None:
    ses = SesFake(["throttle"] * 3)
    with pytest.raises(SendFailed) as failure:
        send(delivery(aws, ses, Clock()))
    assert not failure.value.uncertain and state(aws) == UNSENT
    d = delivery(aws, ses, Clock())
    send(d)
    assert len(ses.delivered) == 1 and d.stats.possible_duplicates == []


def test_GIVEN_a_permanent_refusal_WHEN_sent_THEN_raised_and_released(aws: dict[str, Any]) -> None:
    with pytest.raises(SendRejected):
        send(delivery(aws, SesFake(["reject"]), Clock()))
    assert state(aws) == UNSENT


# --- (1) SES accepted, the answer was lost ---------------------------------------------------


def test_GIVEN_a_lost_ses_answer_WHEN_retried_THEN_exactly_one_extra_copy_and_it_is_counted(aws: dict[str, Any]) -> None:
    ses = SesFake(["lost"])
    d = delivery(aws, ses, Clock())
    send(d)
    assert len(ses.delivered) == 2  # SES has no idempotency token: the one copy we cannot rule out
    assert d.stats.possible_duplicates == ["lost-response"]
    send(delivery(aws, ses, Clock()))
    assert len(ses.delivered) == 2  # and never a third


def test_GIVEN_lost_answers_on_every_attempt_WHEN_the_next_invocation_sends_THEN_each_risk_counted(aws: dict[str, Any]) -> None:
    ses = SesFake(["lost"] * 3)
    d = delivery(aws, ses, Clock())
    with pytest.raises(SendFailed) as failure:
        send(d)
    assert failure.value.uncertain and state(aws) == UNCERTAIN
    d2 = delivery(aws, ses, Clock())
    send(d2)
    extra = len(ses.delivered) - 1
    assert extra == len(d.stats.possible_duplicates) + len(d2.stats.possible_duplicates) == 3


# --- (2) the invocation died between the send and the record ---------------------------------


def test_GIVEN_death_after_the_send_WHEN_a_warm_retry_comes_THEN_nothing_is_sent_again(aws: dict[str, Any]) -> None:
    ses, clock, memory = SesFake(), Clock(), {}
    d = delivery(aws, ses, clock, dynamodb=FlakyClient(aws["dynamodb"], {"update_item": ["ok", "kill"]}), remembered=memory)
    with pytest.raises(Killed):
        send(d)
    # The same container (Lambda reuses it): the send is remembered, no I/O needed.
    d.begin(Deadline())
    assert send(d) == "ses-1" and len(ses.delivered) == 1


def test_GIVEN_death_after_the_send_WHEN_a_cold_retry_comes_THEN_one_extra_copy_at_most_and_counted(
    aws: dict[str, Any],
) -> None:
    ses, clock = SesFake(["kill"]), Clock()
    with pytest.raises(Killed):
        send(delivery(aws, ses, clock))
    with pytest.raises(SendInProgress):  # before the dead owner's lease ends, nobody takes over
        send(delivery(aws, ses, clock))
    clock.now += 200  # Lambda's next retry comes a minute or two later; the lease has ended
    d = delivery(aws, ses, clock)
    send(d)
    assert len(ses.delivered) == 2 and d.stats.possible_duplicates == ["owner-died"]
    assert state(aws) == SENT


def test_GIVEN_less_time_left_than_a_send_needs_WHEN_sending_THEN_stopped_before_claiming(aws: dict[str, Any]) -> None:
    ses = SesFake()
    with pytest.raises(OutOfTime):
        send(delivery(aws, ses, Clock(), seconds=SEND_BUDGET_SECONDS - 1))
    assert ses.calls == 0
    assert "Item" not in aws["dynamodb"].get_item(TableName=LEDGER_TABLE, Key={"id": {"S": f"send#{KEY}"}})


# --- (3) the completion write failed after a successful send ---------------------------------


def test_GIVEN_completion_throttled_WHEN_botocore_retries_it_THEN_recorded(aws: dict[str, Any]) -> None:
    # Throttling is retried by botocore itself (standard mode): simulated by the client
    # answering after a throttled first try.
    ses = SesFake()
    d = delivery(aws, ses, Clock(), dynamodb=FlakyClient(aws["dynamodb"], {"update_item": ["ok", "lost"]}))
    send(d)
    assert state(aws) == SENT and d.stats.ledger_fallbacks == 0


def test_GIVEN_completion_failing_for_good_WHEN_another_container_retries_THEN_the_journal_prevents_a_resend(
    aws: dict[str, Any],
) -> None:
    ses, clock = SesFake(), Clock()
    d = delivery(aws, ses, clock, dynamodb=FlakyClient(aws["dynamodb"], {"update_item": ["ok", "throttle"]}))
    assert send(d) == "ses-1"
    assert d.stats.ledger_fallbacks == 1
    # While the first owner's lease runs, and after it: the journal says it went out.
    assert send(delivery(aws, ses, clock)) == "ses-1"
    clock.now += 200
    assert send(delivery(aws, ses, clock)) == "ses-1"
    assert len(ses.delivered) == 1 and state(aws) == SENT


# --- (4) the claim's own answer was lost -------------------------------------------------------


def test_GIVEN_the_claims_answer_lost_WHEN_botocore_retries_it_THEN_the_claim_is_still_ours(aws: dict[str, Any]) -> None:
    ses = SesFake()
    d = delivery(aws, ses, Clock(), dynamodb=FlakyClient(aws["dynamodb"], {"update_item": ["lost"]}))
    assert send(d) == "ses-1" and state(aws) == SENT and len(ses.delivered) == 1


def test_GIVEN_a_lost_claim_answer_over_an_uncertain_record_THEN_the_risk_is_still_counted(aws: dict[str, Any]) -> None:
    ses = SesFake(["lost"] * 3)
    with pytest.raises(SendFailed):
        send(delivery(aws, ses, Clock()))
    d = delivery(aws, ses, Clock(), dynamodb=FlakyClient(aws["dynamodb"], {"update_item": ["lost"]}))
    send(d)
    assert d.stats.possible_duplicates == ["lost-response"]


# --- the classification --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (ClientError({"Error": {"Code": "TooManyRequestsException"}}, "SendEmail"), "not-sent"),
        (ClientError({"Error": {"Code": "InternalFailure"}, "ResponseMetadata": {"HTTPStatusCode": 500}}, "SendEmail"), "not-sent"),
        (ClientError({"Error": {"Code": "SendingPausedException"}}, "SendEmail"), "fatal"),
        (ClientError({"Error": {"Code": "AccessDeniedException"}}, "SendEmail"), "fatal"),
        (ConnectTimeoutError(endpoint_url="x"), "not-sent"),
        (ReadTimeoutError(endpoint_url="x"), "unknown"),
        (ConnectionResetError(), "unknown"),
    ],
)
def test_GIVEN_a_send_failure_WHEN_classified_THEN_whether_ses_may_have_it(error: BaseException, kind: str) -> None:
    assert classify_send_error(error) == kind


def test_GIVEN_a_fatal_failure_WHEN_sending_THEN_raised_at_once_and_released(aws: dict[str, Any]) -> None:
    class Paused(SesFake):
        def send_raw(self, message: Outgoing, destinations: Sequence[str], *, key: str) -> str:
            self.calls += 1
            raise ClientError({"Error": {"Code": "SendingPausedException", "Message": "paused"}}, "SendEmail")

    ses = Paused()
    with pytest.raises(ClientError, match="SendingPaused"):
        send(delivery(aws, ses, Clock()))
    assert ses.calls == 1 and state(aws) == UNSENT
