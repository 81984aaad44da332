"""`sesame redrive`, end to end under moto: a forward that fails (SES throttled through
Lambda's retries), the dead-letter record and its report, then the redrive, and in the end
exactly one delivery per destination.

SES's throttling answer is emulated on the wire: HTTP 429 with ``x-amzn-ErrorType:
TooManyRequestsException`` (Amazon SES API v2 reference, SendEmail, Errors:
"TooManyRequestsException: Too many requests have been made to the operation. HTTP Status
Code: 429"), answered by a botocore ``before-send`` hook so the real client parses it.
"""

from __future__ import annotations

import copy
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import boto3
import botocore.session
import pytest
from botocore.awsrequest import AWSResponse
from conftest import load_event
from mail_scenarios import BUCKET, TABLE, Scenario, _raw, prepare_account, scenario_environment
from moto import mock_aws
from test_handler import Context

# The functions' modules are imported here, at collection, as Lambda imports them at init:
# their loggers then write to the session's stdout, never to one test's captured output, which
# is closed when that test ends (local mode swaps the loggers' streams, flushing the old one).
from dead_letter import app as _dead_letter_app  # noqa: F401
from handle_email import app as _forwarder_app  # noqa: F401

from sesame.cli import main
from sesame.core.redrive import SentCopy, describe, summarize

TODAY = date(2026, 11, 23)
STACK = "sesame"
OPERATOR = "ops@example.com"
FORWARDER_ENV = {
    "SESAME_BUCKET": BUCKET, "SESAME_MESSAGE_PREFIX": "messages/", "SESAME_INDEX_PREFIX": "index/",
    "SESAME_ALIAS_PATH": "/sesame", "SESAME_IDEMPOTENCY_TABLE": TABLE,
}


def _scenario(message_id: str, recipients: tuple[str, ...], subject: str) -> Scenario:
    return Scenario(
        message_id, 0, __import__("datetime").time(9, 0), "jane@sender.example", recipients,
        _raw("From: Jane Doe <jane@sender.example>", f"To: {', '.join(recipients)}", f"Subject: {subject}"),
        {"returnPath": "jane@sender.example", "from": ["Jane Doe <jane@sender.example>"],
         "to": list(recipients), "subject": subject},
    )


# john@ -> john.doe@gmail.example, john@work.example; team@ -> those two and ann@example.org.
PARTIAL = _scenario("redrive0partial000000000000000000000001", ("john@example.com", "team@example.com"), "Partial")
QUEUED = _scenario("redrive0queued0000000000000000000000002", ("team@example.com",), "Queued")
# help@unverified.example forwards from a domain SES has not verified: refused until it is.
REFUSED = _scenario("redrive0refused000000000000000000000003", ("help@unverified.example",), "Refused")


class _Body:
    """The raw HTTP body botocore reads: streamed for parsed answers, read() for payloads."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._data

    def read(self, amt: int | None = None) -> bytes:
        data, self._data = (self._data, b"") if amt is None else (self._data[:amt], self._data[amt:])
        return data

    def close(self) -> None:
        self._data = b""


@dataclass
class Ses:
    """What went out (per destination and subject) and which destinations SES throttles."""

    throttled: set[str] = field(default_factory=set)
    deliveries: list[tuple[str, str]] = field(default_factory=list)  # (destination, subject)
    throttles: int = 0

    def before_send(self, request: Any, **_: Any) -> AWSResponse | None:
        if not request.url.endswith("/v2/email/outbound-emails"):
            return None
        # The destinations, as `record` saw them in the call's parameters (the body is the SES
        # adapter's own buffer, not to be consumed here).
        destinations, _subject = request.context["delivery"]
        if set(destinations) & self.throttled:
            self.throttles += 1
            return AWSResponse(
                request.url, 429,
                {"x-amzn-ErrorType": "TooManyRequestsException", "Content-Type": "application/json"},
                _Body(b'{"message":"Maximum sending rate exceeded."}'),
            )
        return None

    def record(self, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        import base64
        import email

        raw = params["Content"]["Raw"]["Data"]
        # The SES adapter passes the message in parts (encoded into the body by its own hook).
        raw = raw if isinstance(raw, bytes) else base64.b64decode(raw) if isinstance(raw, str) else bytes(raw)
        context["delivery"] = (tuple(params["Destination"]["ToAddresses"]), email.message_from_bytes(raw)["Subject"])

    def accepted(self, http_response: Any, context: dict[str, Any], **_: Any) -> None:
        if http_response.status_code == 200:  # SES took it (throttled and refused sends did not)
            destinations, subject = context["delivery"]
            self.deliveries.extend((d, subject) for d in destinations)

    def to(self, subject: str) -> list[str]:
        return sorted(d for d, s in self.deliveries if s == subject)


@pytest.fixture
def ses() -> Iterator[Ses]:
    """The account of a deployed stack under moto, every client watched by :class:`Ses`."""
    state = Ses()
    original = botocore.session.Session.create_client

    def create_client(self: Any, *args: Any, **kwargs: Any) -> Any:
        client = original(self, *args, **kwargs)
        if client.meta.service_model.service_name == "sesv2":
            client.meta.events.register("before-send.sesv2.SendEmail", state.before_send)
            client.meta.events.register("provide-client-params.sesv2.SendEmail", state.record)
            client.meta.events.register("after-call.sesv2.SendEmail", state.accepted)
        if client.meta.service_model.service_name == "lambda":
            client.meta.events.register("before-send.lambda.GetFunctionConfiguration", _function_configuration)
        return client

    with scenario_environment(), pytest.MonkeyPatch.context() as patch, mock_aws():
        patch.setattr(botocore.session.Session, "create_client", create_client)
        _deploy()
        yield state


# The deployed functions' configuration, as Lambda's GetFunctionConfiguration answers it (Lambda
# API reference, FunctionConfiguration: FunctionName, Environment.Variables). moto's Lambda
# spawns Docker probes when a function is created, so the answer comes from a before-send hook.
FUNCTIONS = {
    "sesame-HandleEmailFunction": FORWARDER_ENV,
    "sesame-DeadLetterFunction": {"SESAME_BUCKET": BUCKET, "SESAME_ERROR_PREFIX": "error/"},
}


def _function_configuration(request: Any, **_: Any) -> AWSResponse | None:
    name = request.url.split("/functions/", 1)[1].split("/", 1)[0]
    if name not in FUNCTIONS:
        body = {"Type": "User", "message": f"Function not found: {name}"}
        return AWSResponse(request.url, 404, {"x-amzn-ErrorType": "ResourceNotFoundException"},
                           _Body(json.dumps(body).encode()))
    body = {"FunctionName": name, "Runtime": "python3.13", "Handler": "handle_email.app.lambda_handler",
            "Timeout": 120, "MemorySize": 512, "Environment": {"Variables": FUNCTIONS[name]}}
    return AWSResponse(request.url, 200, {"Content-Type": "application/json"}, _Body(json.dumps(body).encode()))


def _deploy() -> None:
    prepare_account()
    sqs = boto3.client("sqs")
    unreported = sqs.create_queue(QueueName="sesame-UnreportedFailuresQueue")["QueueUrl"]
    dead_letters = sqs.create_queue(QueueName="sesame-DeadLetterQueue")["QueueUrl"]
    outputs = {
        "ReceiptRuleSetName": "sesame-rules", "BucketName": BUCKET,
        "ForwarderFunctionName": "sesame-HandleEmailFunction", "DeadLetterFunctionName": "sesame-DeadLetterFunction",
        "DeadLetterQueueUrl": dead_letters, "UnreportedFailuresQueueUrl": unreported,
    }
    template = {
        "Resources": {"Placeholder": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "sesame-placeholder"}}},
        "Outputs": {key: {"Value": value} for key, value in outputs.items()},
    }
    boto3.client("cloudformation").create_stack(StackName=STACK, TemplateBody=json.dumps(template))
    s3 = boto3.client("s3")
    for scenario in (PARTIAL, QUEUED, REFUSED):
        s3.put_object(Bucket=BUCKET, Key=f"messages/{scenario.message_id}", Body=scenario.raw)


def _queue(name: str) -> str:
    return boto3.client("sqs").get_queue_url(QueueName=f"sesame-{name}")["QueueUrl"]


def _waiting(name: str) -> int:
    attributes = boto3.client("sqs").get_queue_attributes(
        QueueUrl=_queue(name), AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])


def _fail_through_retries(scenario: Scenario) -> dict[str, Any]:
    """Lambda's async invoke: the first try and MaximumRetryAttempts (2) retries, each raising.
    Returns the on-failure destination's record for the dead-letter queue."""
    from handle_email import app

    app.use_runtime(None)
    event = scenario.event(TODAY)
    error: Exception | None = None
    for _ in range(3):
        with pytest.raises(Exception) as raised:  # noqa: PT011 - throttling or a refusal, both end in the DLQ
            app.lambda_handler(copy.deepcopy(event), Context())
        error = raised.value
    app.use_runtime(None)
    record = json.loads(load_event("sqs_dead_letter.json")["Records"][0]["body"])
    record["requestPayload"] = event
    record["requestContext"]["approximateInvokeCount"] = 3
    record["responsePayload"] = {"errorMessage": str(error), "errorType": type(error).__name__, "stackTrace": []}
    return record


def _report_dead_letter(record: dict[str, Any]) -> None:
    """The dead-letter function takes the record from the queue and reports it."""
    from dead_letter import app

    event = load_event("sqs_dead_letter.json")
    event["Records"][0]["body"] = json.dumps(record)
    app.use_runtime(None)
    try:
        assert app.lambda_handler(event, Context()) == {"batchItemFailures": []}
    finally:
        app.use_runtime(None)


def _index(scenario: Scenario) -> dict[str, Any]:
    key = f"index/{TODAY:%Y/%m/%d}/{scenario.message_id}.json"
    return json.loads(boto3.client("s3").get_object(Bucket=BUCKET, Key=key)["Body"].read())


def test_given_a_forward_throttled_through_its_retries_when_redriven_then_each_destination_has_exactly_one_copy(
    ses: Ses, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN SES throttles every send to ann: the first batch (john's two mailboxes) goes out,
    # the second fails on each of Lambda's three tries and the event is dead-lettered.
    ses.throttled = {"ann@example.org"}
    partial = _fail_through_retries(PARTIAL)
    assert ses.to("Partial") == ["john.doe@gmail.example", "john@work.example"]  # once, not three times
    # SES saw the send try SEND_ATTEMPTS times in each of Lambda's three tries.
    from sesame.core.delivery import SEND_ATTEMPTS

    assert ses.throttles == 3 * SEND_ATTEMPTS
    _report_dead_letter(partial)
    s3 = boto3.client("s3")
    context = json.loads(s3.get_object(Bucket=BUCKET, Key=f"error/{PARTIAL.message_id}.json")["Body"].read())
    assert context["event"]["Records"][0]["ses"]["mail"]["messageId"] == PARTIAL.message_id
    assert "TooManyRequestsException" in context["error"]
    assert ses.to(f"[sesame] forwarding failed for message from {PARTIAL.source}") == [OPERATOR]
    # The forwarder recorded what went out before the failure: john forwarded, team failed.
    assert [o["status"] for o in _index(PARTIAL)["outcomes"]] == ["forwarded", "failed"]
    # ... a second one whose record still waits in the dead-letter queue (not reported yet),
    queued = _fail_through_retries(QUEUED)
    boto3.client("sqs").send_message(QueueUrl=_queue("DeadLetterQueue"), MessageBody=json.dumps(queued))
    # ... and a third that SES refuses for good (unverified domain), parked as unreported.
    refused = _fail_through_retries(REFUSED)
    boto3.client("sqs").send_message(QueueUrl=_queue("UnreportedFailuresQueue"), MessageBody=json.dumps(refused))
    capsys.readouterr()

    # WHEN the operator looks first, THEN all three are listed and nothing changes.
    assert main(["redrive", "--all", "--dry-run"]) == 0
    listing = capsys.readouterr().out
    assert all(s.message_id in listing for s in (PARTIAL, QUEUED, REFUSED))
    assert f"error/{PARTIAL.message_id}.json" in listing and "sesame-DeadLetterQueue" in listing
    assert _waiting("DeadLetterQueue") == 1 and _waiting("UnreportedFailuresQueue") == 1

    # WHEN SES has recovered and the operator redrives everything
    ses.throttled = set()
    status = main(["redrive", "--all"])
    out = capsys.readouterr().out

    # THEN the partial message went only to ann, its earlier sends skipped, and said so
    assert f"{PARTIAL.message_id} from <jane@sender.example>: redriven" in out
    assert ("john@example.com forwarded: already delivered (skipped) to john.doe@gmail.example, john@work.example"
            in out)
    assert "team@example.com forwarded: sent now to ann@example.org" in out
    assert ses.to("Partial") == ["ann@example.org", "john.doe@gmail.example", "john@work.example"]
    assert {o["status"] for o in _index(PARTIAL)["outcomes"]} == {"forwarded"}
    # ... the queued one went to all three, and its queue record is gone
    assert "team@example.com forwarded: sent now to john.doe@gmail.example, john@work.example, ann@example.org" in out
    assert ses.to("Queued") == ["ann@example.org", "john.doe@gmail.example", "john@work.example"]
    assert _waiting("DeadLetterQueue") == 0
    # ... and the refused one still fails: its record stays, the exit status says so.
    assert f"{REFUSED.message_id} from <jane@sender.example>: still failing" in out
    assert "help@unverified.example failed: ses-rejected" in out
    assert _waiting("UnreportedFailuresQueue") == 1
    assert status == 1
    assert "2 redriven, 1 still failing" in out

    # WHEN the domain is verified and that message is redriven by its id
    boto3.client("sesv2").create_email_identity(EmailIdentity="unverified.example")
    assert main(["redrive", REFUSED.message_id]) == 0
    out = capsys.readouterr().out
    assert "help@unverified.example forwarded: sent now to helpdesk@dest.example" in out
    assert _waiting("UnreportedFailuresQueue") == 0

    # THEN a further redrive finds nothing left, and nothing was ever delivered twice.
    assert main(["redrive", "--all"]) == 0
    assert "nothing to redrive (1 already redriven)" in capsys.readouterr().out
    for subject in ("Partial", "Queued", "Refused"):
        delivered = ses.to(subject)
        assert len(delivered) == len(set(delivered)), subject
    assert ses.to("Refused") == ["helpdesk@dest.example"]


def test_given_a_deployed_function_when_redriven_with_invoke_then_its_answer_is_shown_and_the_record_deleted(
    ses: Ses, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a dead letter waiting in the queue, and Lambda's synchronous Invoke answered the
    # way the Lambda API reference (Invoke) describes: 200, the function's JSON answer as the
    # payload, X-Amz-Function-Error when the function raised. The function runs in-process.
    ses.throttled = {"ann@example.org"}
    queued = _fail_through_retries(QUEUED)
    boto3.client("sqs").send_message(QueueUrl=_queue("DeadLetterQueue"), MessageBody=json.dumps(queued))
    ses.throttled = set()
    invoked: list[str] = []

    def invoke(request: Any, **_: Any) -> AWSResponse | None:
        if "/functions/" not in request.url or not request.url.endswith("/invocations"):
            return None
        from handle_email import app

        invoked.append(request.headers.get("X-Amz-Invocation-Type", b"").decode())
        app.use_runtime(None)
        headers = {"X-Amz-Executed-Version": "$LATEST", "Content-Type": "application/json"}
        try:
            answer = app.lambda_handler(json.loads(request.body), Context())
        except Exception as exc:  # noqa: BLE001 - the function's error becomes Lambda's error payload
            answer = {"errorMessage": str(exc), "errorType": type(exc).__name__, "stackTrace": []}
            headers["X-Amz-Function-Error"] = "Unhandled"
        finally:
            app.use_runtime(None)
        return AWSResponse(request.url, 200, headers, _Body(json.dumps(answer).encode()))

    original = botocore.session.Session.create_client

    def create_client(self: Any, *args: Any, **kwargs: Any) -> Any:
        client = original(self, *args, **kwargs)
        if client.meta.service_model.service_name == "lambda":
            client.meta.events.register("before-send.lambda.Invoke", invoke)
        return client

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(botocore.session.Session, "create_client", create_client)
        capsys.readouterr()
        # WHEN redriven through the deployed function
        assert main(["redrive", QUEUED.message_id, "--invoke"]) == 0

    # THEN the function ran synchronously, the destinations it reached are listed (which were
    # replays its answer cannot say), and the queue record is gone.
    assert invoked == ["RequestResponse"]
    out = capsys.readouterr().out
    assert "team@example.com forwarded: delivered to john.doe@gmail.example, john@work.example, ann@example.org" in out
    assert _waiting("DeadLetterQueue") == 0
    assert ses.to("Queued") == ["ann@example.org", "john.doe@gmail.example", "john@work.example"]


def test_given_no_message_named_when_redrive_runs_then_it_asks_for_ids_or_all(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["redrive"]) == 2
    assert "name the MESSAGE_IDs to redrive, or --all" in capsys.readouterr().err


def test_given_a_local_folder_without_endpoints_when_redriven_locally_then_the_error_names_the_file(
    tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["redrive", "--all", "--local", "--state-dir", str(tmp_path)]) == 2
    assert f"no {tmp_path}/endpoints.json: is `sesame local` running" in capsys.readouterr().err


# --- the pure summary -----------------------------------------------------------------------


REPORT = {
    "message_id": "m1", "source": "jane@sender.example",
    "outcomes": [
        {"recipient": "john@example.com", "status": "forwarded", "reason": "alias",
         "destinations": ["A@x.example", "b@x.example"], "ses_message_ids": ["s1"]},
        {"recipient": "old@example.com", "status": "dropped", "reason": "unknown-recipient", "destinations": []},
    ],
}


def test_given_sends_seen_when_summarized_then_destinations_split_into_sent_now_and_already_delivered() -> None:
    result = summarize(REPORT, [SentCopy(("a@x.example",), "s1")], message_id="m1")
    john, old = result.recipients
    assert (john.resent, john.already_delivered) == (("A@x.example",), ("b@x.example",))
    assert old.status == "dropped" and result.succeeded
    assert describe(result) == [
        "m1 from <jane@sender.example>: redriven",
        "  john@example.com forwarded: sent now to A@x.example; already delivered (skipped) to b@x.example",
        "  old@example.com dropped: unknown-recipient",
    ]


def test_given_a_failed_recipient_and_no_error_when_summarized_then_it_still_fails() -> None:
    report = {"message_id": "m1", "source": "s@x", "outcomes": [
        {"recipient": "help@x.example", "status": "failed", "reason": "ses-rejected", "destinations": [],
         "detail": "MessageRejected: not verified"}]}
    result = summarize(report, [], message_id="m1")
    assert not result.succeeded
    assert describe(result) == ["m1 from <s@x>: still failing",
                                "  help@x.example failed: ses-rejected: MessageRejected: not verified"]


def test_given_an_error_and_no_report_when_summarized_then_it_still_fails_and_names_what_went_out() -> None:
    result = summarize(None, [SentCopy(("a@x.example",), "s1")], message_id="m1", source="s@x", error="Boom: no")
    assert not result.succeeded
    assert describe(result) == [
        "m1 from <s@x>: still failing: Boom: no",
        "  (before the error) failed: sent now to a@x.example; redrive-error",
    ]


# --- --local: a running `sesame local`, from its endpoints.json ----------------------------------


def test_given_a_running_local_stack_when_redriven_with_local_then_its_queue_and_endpoints_are_used(
    tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from moto.server import ThreadedMotoServer

    from sesame.core.alias_config import parse_aliases_toml, to_parameters
    from mail_scenarios import ALIASES

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"

        def client(service: str) -> Any:
            return boto3.client(service, endpoint_url=endpoint, region_name="us-east-1")

        # GIVEN what local mode creates (moto in a child process there; a thread here) and
        # describes in endpoints.json, with a dead letter waiting in its queue
        client("s3").create_bucket(Bucket=BUCKET)
        client("s3").put_object(Bucket=BUCKET, Key=f"messages/{QUEUED.message_id}", Body=QUEUED.raw)
        for name, value in to_parameters(parse_aliases_toml(ALIASES), "/sesame").items():
            client("ssm").put_parameter(Name=name, Value=value, Type="String")
        client("dynamodb").create_table(
            TableName=TABLE, AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}], BillingMode="PAY_PER_REQUEST")
        client("sesv2").create_email_identity(EmailIdentity="example.com")
        queue = client("sqs").create_queue(QueueName="sesame-local-DeadLetterQueue")["QueueUrl"]
        record = json.loads(load_event("sqs_dead_letter.json")["Records"][0]["body"])
        record["requestPayload"] = QUEUED.event(TODAY)
        client("sqs").send_message(QueueUrl=queue, MessageBody=json.dumps(record))
        (tmp_path / "endpoints.json").write_text(json.dumps({
            "version": 1, "region": "us-east-1", "account": "123456789012",
            "credentials": {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"},
            "moto": {"endpoint": endpoint}, "ses": {"endpoint": endpoint}, "bucket": BUCKET,
            "queues": {"DeadLetterQueue": {"url": queue, "arn": "arn:aws:sqs:us-east-1:123456789012:sesame-local-DeadLetterQueue"}},
            "tables": [TABLE],
            "functions": {"HandleEmailFunction": {"name": "sesame-local-HandleEmailFunction", "arn": "arn",
                                                  "handler": "handle_email.app.lambda_handler", "environment": FORWARDER_ENV}},
        }))

        # WHEN redriven locally
        assert main(["redrive", "--all", "--local", "--state-dir", str(tmp_path)]) == 0

        # THEN it went to every destination through the local endpoints, and the record is gone.
        out = capsys.readouterr().out
        assert "team@example.com forwarded: sent now to john.doe@gmail.example, john@work.example, ann@example.org" in out
        attributes = client("sqs").get_queue_attributes(QueueUrl=queue, AttributeNames=["All"])["Attributes"]
        assert attributes["ApproximateNumberOfMessages"] == attributes["ApproximateNumberOfMessagesNotVisible"] == "0"
    finally:
        server.stop()


SPAM = Scenario(
    "redrive0spam00000000000000000000000004", 0, __import__("datetime").time(9, 30), "deals@promo.example",
    ("john@example.com",), _raw("From: Deals <deals@promo.example>", "To: john@example.com", "Subject: Spam?"),
    {"returnPath": "deals@promo.example", "from": ["Deals <deals@promo.example>"], "to": ["john@example.com"],
     "subject": "Spam?"},
    verdicts={"spam": "FAIL"},
)


def test_given_a_quarantined_message_when_released_then_it_is_forwarded_past_the_verdict(
    ses: Ses, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from handle_email import app

    # GIVEN a deployment that quarantines spam, and a message SES judged spam
    monkeypatch.setenv("SESAME_SPAM_FAIL", "quarantine")
    boto3.client("s3").put_object(Bucket=BUCKET, Key=f"messages/{SPAM.message_id}", Body=SPAM.raw)
    app.use_runtime(None)
    try:
        app.lambda_handler(SPAM.event(TODAY), Context())
    finally:
        app.use_runtime(None)
    (outcome,) = _index(SPAM)["outcomes"]
    assert outcome["status"] == "dropped" and "quarantined" in outcome["detail"]
    assert ses.to("Spam?") == []

    # WHEN the operator releases it (a release of a message never quarantined is refused)
    assert main(["redrive", "--from-quarantine", PARTIAL.message_id]) == 1
    assert f"no index record of {PARTIAL.message_id}" in capsys.readouterr().err
    assert main(["redrive", "--from-quarantine", SPAM.message_id]) == 0

    # THEN it goes to the alias's destinations, once.
    assert "john@example.com forwarded: sent now to john.doe@gmail.example, john@work.example" in capsys.readouterr().out
    assert ses.to("Spam?") == ["john.doe@gmail.example", "john@work.example"]
    assert _index(SPAM)["outcomes"][0]["status"] == "forwarded"


def test_given_sesame_local_running_when_a_failed_message_is_redriven_locally_then_it_reaches_the_outbox(
    tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from test_local_stack import delivered, message, misconfigured_forwarder, options

    from sesame.local.stack import LocalStack

    stack = LocalStack(options(tmp_path), out=io.StringIO(), err=io.StringIO())
    stack.start()
    try:
        # GIVEN a message local mode could not forward (its bucket missing through Lambda's
        # retries): reported by the dead-letter function, kept under error/ in the emulated bucket
        with misconfigured_forwarder(stack, SESAME_BUCKET="no-such-bucket"):
            summary = delivered(stack, "john@example.com", message(subject="redrive me"))
        assert (summary["outcomes"][0]["status"], summary["attempts"]) == ("failed", 3)
        capsys.readouterr()

        # WHEN it is redriven against the running stack, from its endpoints.json
        assert main(["redrive", summary["message_id"], "--local", "--state-dir", str(tmp_path / "state")]) == 0

        # THEN both of john's mailboxes get it through local mode's SES stand-in.
        assert "john@example.com forwarded: sent now to john.doe@gmail.example, john@work.example" in capsys.readouterr().out
        delivery = stack.parts.delivery
        assert delivery is not None and delivery.wait_idle(30)
        for mailbox in ("john.doe@gmail.example", "john@work.example"):
            (copy_,) = delivery.files_to(mailbox)  # one copy each, named by SES's id of the send
            assert b"Subject: redrive me" in copy_.read_bytes()
        # AND the state folder's copy of the index record says so, for `sesame query --local`
        (record,) = (tmp_path / "state" / "index").rglob(f"{summary['message_id']}.json")
        assert [o["status"] for o in json.loads(record.read_bytes())["outcomes"]] == ["forwarded"]
    finally:
        stack.stop()
