"""Fault injection at the botocore level: each kind as the client sees it, in each service's
protocol, and lost responses that really reached the server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError, ConnectTimeoutError, ReadTimeoutError

from sesame.local.aws.clients import LocalAws
from sesame.local.aws.faults import FaultInjector, FaultPlan
from sesame.local.aws.moto_process import MotoProcess
from sesame.local.sending.api import SentMessage, SesV2Api
from sesame.local.sending.checks import Identities
from sesame.local.sending.server import SesServer

RAW = b"From: a@example.com\r\nTo: b@dest.example\r\nSubject: s\r\n\r\nbody\r\n"


@pytest.fixture(scope="module")
def endpoints() -> Iterator[tuple[str, str, list[SentMessage]]]:
    moto = MotoProcess()
    sent: list[SentMessage] = []
    ses = SesServer(SesV2Api(Identities.of(["example.com"]), sent.append))
    ses.start()
    try:
        yield moto.start(), ses.endpoint, sent
    finally:
        ses.stop()
        moto.stop()


def clients(endpoints: Any, tmp_path: Path, kind: str, *, rate: float = 1.0, sdk_retries: bool = False) -> tuple[LocalAws, FaultInjector]:
    moto, ses, _ = endpoints
    faults = FaultInjector(FaultPlan(rate, seed=7, kinds=(kind,)), tmp_path / "faults.jsonl")
    return LocalAws("us-east-1", {"default": moto, "sesv2": ses}, faults=faults, sdk_retries=sdk_retries), faults


def prepared(aws: LocalAws) -> None:
    s3 = aws.admin("s3")
    try:
        s3.create_bucket(Bucket="fault-bucket")
    except s3.exceptions.BucketAlreadyOwnedByYou:
        pass
    dynamodb = aws.admin("dynamodb")
    if "fault-table" not in dynamodb.list_tables()["TableNames"]:
        dynamodb.create_table(
            TableName="fault-table",
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )


CALLS = {
    "s3": lambda c: c.put_object(Bucket="fault-bucket", Key="k", Body=b"v"),
    "dynamodb": lambda c: c.put_item(TableName="fault-table", Item={"id": {"S": "x"}}),
    "ssm": lambda c: c.get_parameters_by_path(Path="/sesame", Recursive=True),
    "sesv2": lambda c: c.send_email(Destination={"ToAddresses": ["b@dest.example"]}, Content={"Raw": {"Data": RAW}}),
    "sqs": lambda c: c.list_queues(),
}
THROTTLES = {
    "s3": ("SlowDown", 503),
    "dynamodb": ("ProvisionedThroughputExceededException", 400),
    "ssm": ("ThrottlingException", 400),
    "sesv2": ("TooManyRequestsException", 429),
    "sqs": ("RequestThrottled", 400),
}
SERVER_ERRORS = {
    "s3": ("InternalError", 500),
    "dynamodb": ("InternalServerError", 500),
    "ssm": ("InternalServerError", 500),
    "sesv2": ("InternalFailure", 500),
}


@pytest.mark.parametrize("service", sorted(THROTTLES))
def test_throttling_is_the_services_own_error_in_its_protocol(endpoints: Any, tmp_path: Path, service: str) -> None:
    aws, faults = clients(endpoints, tmp_path, "throttle")
    prepared(aws)
    with pytest.raises(ClientError) as caught:
        CALLS[service](aws.factory("f")(service))
    code, status = THROTTLES[service]
    assert caught.value.response["Error"]["Code"] == code
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == status
    assert faults.counts["throttle"] == 1


@pytest.mark.parametrize("service", sorted(SERVER_ERRORS))
def test_server_errors_are_5xx_that_botocore_retries(endpoints: Any, tmp_path: Path, service: str) -> None:
    aws, faults = clients(endpoints, tmp_path, "server_error", sdk_retries=True)
    prepared(aws)
    client = aws.factory("f")(service)
    with pytest.raises(ClientError) as caught:
        CALLS[service](client)
    code, status = SERVER_ERRORS[service]
    assert (caught.value.response["Error"]["Code"], caught.value.response["ResponseMetadata"]["HTTPStatusCode"]) == (
        code,
        status,
    )
    # Sesame's client configuration: botocore retried as many times as CLIENT_LIMITS says.
    from sesame.aws import CLIENT_LIMITS

    assert faults.counts["server_error"] == CLIENT_LIMITS[service][2]
    assert [r["attempt"] for r in faults.records] == list(range(1, CLIENT_LIMITS[service][2] + 1))


def test_timeouts_before_the_server_acted_leave_nothing_behind(endpoints: Any, tmp_path: Path) -> None:
    aws, _ = clients(endpoints, tmp_path, "connect_timeout")
    prepared(aws)
    aws.admin("s3").delete_object(Bucket="fault-bucket", Key="k")
    with pytest.raises(ConnectTimeoutError):
        CALLS["s3"](aws.factory("f")("s3"))
    aws, _ = clients(endpoints, tmp_path, "read_timeout")
    with pytest.raises(ReadTimeoutError):
        CALLS["s3"](aws.factory("f")("s3"))
    assert aws.admin("s3").list_objects_v2(Bucket="fault-bucket").get("KeyCount") == 0


def test_a_lost_response_reached_the_server(endpoints: Any, tmp_path: Path) -> None:
    aws, faults = clients(endpoints, tmp_path, "lost_response")
    prepared(aws)
    aws.admin("s3").delete_object(Bucket="fault-bucket", Key="k")
    with pytest.raises(ReadTimeoutError):
        CALLS["s3"](aws.factory("f")("s3"))
    assert aws.admin("s3").get_object(Bucket="fault-bucket", Key="k")["Body"].read() == b"v"  # it was written


def test_a_lost_ses_send_went_out_and_the_fault_log_names_message_and_destinations(endpoints: Any, tmp_path: Path) -> None:
    _, _, sent = endpoints
    before = len(sent)
    aws, faults = clients(endpoints, tmp_path, "lost_response")
    tags = [{"Name": "sesame-message", "Value": "m" * 40}, {"Name": "sesame-send", "Value": "d1"}]
    with pytest.raises(ReadTimeoutError):
        aws.factory("HandleEmailFunction")("sesv2").send_email(
            Destination={"ToAddresses": ["b@dest.example", "c@dest.example"]},
            Content={"Raw": {"Data": RAW}},
            EmailTags=tags,
        )
    assert len(sent) == before + 1 and sent[-1].destinations == ("b@dest.example", "c@dest.example")
    (record,) = [json.loads(line) for line in (tmp_path / "faults.jsonl").read_text().splitlines()]
    assert record["function"] == "HandleEmailFunction"
    assert (record["service"], record["operation"], record["kind"]) == ("sesv2", "SendEmail", "lost_response")
    assert (record["message"], record["send"], record["destinations"]) == ("m" * 40, "d1", ["b@dest.example", "c@dest.example"])


def test_faults_are_seeded_and_admin_clients_never_fault(endpoints: Any, tmp_path: Path) -> None:
    def kinds(seed: int) -> list[str]:
        moto, ses, _ = endpoints
        injector = FaultInjector(FaultPlan(0.5, seed=seed))
        aws = LocalAws("us-east-1", {"default": moto, "sesv2": ses}, faults=injector, sdk_retries=False)
        client = aws.factory("f")("sqs")
        for _ in range(20):
            try:
                client.list_queues()
            except Exception:  # noqa: BLE001, S110 - faults are the point here
                pass
        for _ in range(5):
            aws.admin("sqs").list_queues()  # local mode's own calls: no faults
        return [f"{r['attempt']}:{r['kind']}" for r in injector.records]

    first = kinds(3)
    assert first == kinds(3) and 3 <= len(first) <= 17
    assert first != kinds(4)


def test_a_bad_plan_is_refused() -> None:
    with pytest.raises(ValueError, match="between 0 and 1"):
        FaultPlan(1.5)
    with pytest.raises(ValueError, match="fault kinds"):
        FaultPlan(0.1, kinds=("meteor",))
