"""The real forwarding handler, invoked with real-shaped events against moto S3, SSM and SES."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.exceptions import ClientError
import pytest
from conftest import load_event, seed_forwarder_aws
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends

from handle_email import app
from sesame import config

BUCKET = "sesame-mail-test"
MESSAGE_ID = "o3vrnil0e2ic28trm7dfhrc2v0cnbeccl4nbp0g1"
ALIASES = """
[aliases]
"john@example.com" = ["john.doe@gmail.example", "john@work.example"]
"team@example.com" = ["john@example.com", "ann@example.org"]
"""
RAW = (
    b"Return-Path: <jane@sender.example>\r\n"
    b"Received: from mail.sender.example by inbound-smtp.us-east-1.amazonaws.com with SMTP id x\r\n"
    b"X-SES-Spam-Verdict: PASS\r\n"
    b"X-SES-Virus-Verdict: PASS\r\n"
    b"DKIM-Signature: v=1; a=rsa-sha256; d=sender.example; s=s1; b=dGVzdA==\r\n"
    b"From: Jane Doe <jane@sender.example>\r\n"
    b"To: john@example.com, team@example.com\r\n"
    b"Subject: Lunch on Friday?\r\n"
    b"Date: Fri, 20 Nov 2026 10:14:58 +0100\r\n"
    b"Message-ID: <20261120091458.4711@mail.sender.example>\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: text/plain; charset=UTF-8\r\n"
    b"\r\n"
    b"Shall we meet at noon?\r\n-- \r\nJane\r\n"
)


@dataclass
class Context:
    function_name: str = "sesame-HandleEmailFunction"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:sesame-HandleEmailFunction"
    aws_request_id: str = "req-1"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    monkeypatch.setenv(config.BUCKET, BUCKET)
    monkeypatch.setenv(config.ALIAS_PATH, "/sesame")
    with mock_aws():
        s3, ssm = seed_forwarder_aws(BUCKET, ALIASES)
        app.use_runtime(None)  # rebuilt from the environment inside the mock
        yield {"s3": s3, "ssm": ssm}
        app.use_runtime(None)


def processed(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    """The one structured line per message the handler logs."""
    return [r.sesame for r in caplog.records if r.getMessage() == "message processed"]  # type: ignore[attr-defined]


def sent_messages() -> list[Any]:
    return ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sent_messages


def test_given_a_stored_message_when_the_handler_runs_then_each_alias_gets_one_rewritten_copy(
    aws: dict[str, Any], caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    aws["s3"].put_object(Bucket=BUCKET, Key=f"messages/{MESSAGE_ID}", Body=RAW)

    result = app.lambda_handler(load_event("ses_email_receiving.json"), Context())

    assert result["disposition"] == "CONTINUE"
    # The reports ride along for a synchronous redrive; SES reads only the disposition.
    (report,) = result["reports"]
    assert report["message_id"] == MESSAGE_ID
    assert [(o["recipient"], o["status"]) for o in report["outcomes"]] == [
        ("john@example.com", "forwarded"), ("team@example.com", "forwarded")]
    sent = sent_messages()
    assert len(sent) == 2  # john's copy, and team's copy for ann (john's addresses already had one)
    # moto appends the To/Cc header addresses to the destinations; ours come first
    assert sent[0].destinations[:2] == ["john.doe@gmail.example", "john@work.example"]
    assert sent[1].destinations[:1] == ["ann@example.org"]
    first = email.message_from_string(sent[0].raw_data, policy=email.policy.default)
    (author,) = first["From"].addresses
    assert (author.display_name, author.addr_spec) == ("Jane Doe at jane@sender.example", "john@example.com")
    assert first["Reply-To"].addresses[0].addr_spec == "jane@sender.example"
    assert first["X-Sesame-Forwarded-For"] == "john@example.com"
    for gone in ("DKIM-Signature", "Return-Path", "X-SES-Spam-Verdict"):
        assert gone not in first
    assert first["Message-ID"] == "<20261120091458.4711@mail.sender.example>"
    assert sent[0].raw_data.encode().endswith(RAW.split(b"\r\n\r\n", 1)[1])
    second = email.message_from_string(sent[1].raw_data, policy=email.policy.default)
    assert second["From"].addresses[0].addr_spec == "team@example.com"

    (record,) = processed(caplog)
    assert [o["status"] for o in record["outcomes"]] == ["forwarded", "forwarded"]
    assert record["message_id"] == MESSAGE_ID
    assert '"Forwarded":[2.0]' in capsys.readouterr().out  # the EMF metric line: two outcomes, one message


def test_given_an_unknown_recipient_then_a_dsn_goes_to_the_sender(aws: dict[str, Any]) -> None:
    aws["s3"].put_object(Bucket=BUCKET, Key=f"messages/{MESSAGE_ID}", Body=RAW)
    event = load_event("ses_email_receiving.json")
    event["Records"][0]["ses"]["receipt"]["recipients"] = ["nobody@example.com"]

    app.lambda_handler(event, Context())

    (dsn,) = sent_messages()
    assert dsn.destinations[0] == "jane@sender.example"
    assert "Status: 5.1.1" in dsn.raw_data


def test_given_dmarc_reject_then_nothing_is_sent_not_even_a_bounce_to_the_forged_sender(
    aws: dict[str, Any], caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # DMARC failed with p=reject: the From is forged, and so (SPF failed too) is the envelope
    # sender a bounce would go to. Dropped by default; with DmarcRejectAction=bounce the
    # bounce is still held back, because nobody authenticated.
    aws["s3"].put_object(Bucket=BUCKET, Key="messages/dmarcfail0000000000000000000000000000001", Body=RAW)
    app.lambda_handler(load_event("ses_dmarc_reject.json"), Context())
    assert sent_messages() == []
    (record,) = processed(caplog)
    assert {(o["status"], o["reason"]) for o in record["outcomes"]} == {("dropped", "dmarc-reject")}

    monkeypatch.setenv(config.DMARC_REJECT, "bounce")
    app.use_runtime(None)
    app.lambda_handler(load_event("ses_dmarc_reject.json"), Context())
    assert sent_messages() == []
    record = processed(caplog)[-1]
    assert {o["detail"] for o in record["outcomes"]} == {"bounce held back: dmarc-fail"}


def test_given_a_missing_message_then_the_handler_raises_so_lambda_retries(aws: dict[str, Any]) -> None:
    with pytest.raises(ClientError, match="NoSuchKey"):
        app.lambda_handler(load_event("ses_email_receiving.json"), Context())
    assert sent_messages() == []


def test_given_an_unverified_from_domain_then_the_failure_is_recorded_and_raised(
    aws: dict[str, Any], caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    boto3.client("sesv2").delete_email_identity(EmailIdentity="example.com")
    aws["s3"].put_object(Bucket=BUCKET, Key=f"messages/{MESSAGE_ID}", Body=RAW)

    with pytest.raises(app.DeliveryFailed, match="MessageRejected"):
        app.lambda_handler(load_event("ses_email_receiving.json"), Context())

    (record,) = processed(caplog)
    assert {o["status"] for o in record["outcomes"]} == {"failed"}
    assert record["outcomes"][0]["detail"].startswith("MessageRejected:")
    assert "john@example.com" in record["outcomes"][0]["detail"]
    # Not final here: the attempt is counted as a retry; the message's Failed count comes from
    # the dead-letter function once Lambda gives up on it (one count per message, not per attempt).
    out = capsys.readouterr().out
    assert '"Retries":[1.0]' in out and '"Failed"' not in out and '"MessagesReceived"' not in out


def test_given_a_non_ses_event_then_the_handler_raises(aws: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="not an SES receipt event"):
        app.lambda_handler({"Records": [{"eventSource": "aws:sqs"}]}, Context())


def test_given_no_bucket_configured_then_a_clear_configuration_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(config.BUCKET, raising=False)
    app.use_runtime(None)
    with pytest.raises(config.ConfigError, match="SESAME_BUCKET is not set"):
        app.runtime()


def test_aliases_are_read_once_and_reused_while_cached(aws: dict[str, Any]) -> None:
    from sesame.adapters.ssm import SsmAliasStore

    store = SsmAliasStore(aws["ssm"], "/sesame", max_age=300)
    first = store.load()
    aws["ssm"].put_parameter(Name="/sesame/aliases/example.com/new", Value="n@o.example", Type="String")
    assert store.load() is first  # within max_age: the cached table, no SSM call
    fresh = SsmAliasStore(aws["ssm"], "/sesame", max_age=0).load()
    assert "new@example.com" in fresh.table.aliases


def test_given_a_message_too_large_to_send_then_its_destinations_get_a_notice_naming_where_it_is_kept(
    aws: dict[str, Any], caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # SES receives up to 40 MB but sends at most 40 MB after base64 (30,000,000 raw bytes):
    # a 31 MB message is received, and cannot be sent on.
    monkeypatch.setenv(config.RETENTION_DAYS, "90")
    app.use_runtime(None)
    big = RAW + b"x" * 31_000_000
    aws["s3"].put_object(Bucket=BUCKET, Key=f"messages/{MESSAGE_ID}", Body=big)

    app.lambda_handler(load_event("ses_email_receiving.json"), Context())

    (record,) = processed(caplog)
    assert [(o["status"], o["reason"]) for o in record["outcomes"]] == [("forwarded", "notice-only")] * 2
    notices = sent_messages()
    assert len(notices) == 2 and all(len(n.raw_data) < 10_000 for n in notices)
    text = email.message_from_string(notices[0].raw_data, policy=email.policy.default).get_content()
    assert f"s3://{BUCKET}/messages/{MESSAGE_ID}" in text and "until 2027-02-18" in text


def test_given_spam_set_to_quarantine_then_kept_indexed_and_released_by_the_operator(
    aws: dict[str, Any], caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(config.SPAM_FAIL, "quarantine")
    app.use_runtime(None)
    aws["s3"].put_object(Bucket=BUCKET, Key=f"messages/{MESSAGE_ID}", Body=RAW)
    event = load_event("ses_email_receiving.json")
    event["Records"][0]["ses"]["receipt"]["spamVerdict"] = {"status": "FAIL"}

    app.lambda_handler(event, Context())

    assert sent_messages() == []
    kept = aws["s3"].get_object(Bucket=BUCKET, Key=f"quarantine/{MESSAGE_ID}")["Body"].read()
    assert kept == RAW
    (record,) = processed(caplog)
    assert {o["detail"] for o in record["outcomes"]} == {f"quarantined: s3://{BUCKET}/quarantine/{MESSAGE_ID}"}

    # The operator releases it (what `sesame redrive --from-quarantine` sends).
    event["sesame"] = {"release": [MESSAGE_ID]}
    app.lambda_handler(event, Context())
    assert len(sent_messages()) == 2
    assert [o["status"] for o in processed(caplog)[-1]["outcomes"]] == ["forwarded", "forwarded"]


def test_given_a_subject_with_a_lone_surrogate_in_the_event_then_the_index_record_is_utf8_with_u_fffd(
    aws: dict[str, Any],
) -> None:
    # "\udc80" is valid JSON; UTF-8 cannot encode what it decodes to. Writing the record used
    # to raise after the copies went out: every retry raised again (the ledger kept it from
    # sending twice) and the dead-letter function, writing the same record, failed as well.
    from test_hostile_events import readable_utf8_json_lines

    aws["s3"].put_object(Bucket=BUCKET, Key=f"messages/{MESSAGE_ID}", Body=RAW)
    event = load_event("ses_email_receiving.json")
    event["Records"][0]["ses"]["mail"]["commonHeaders"]["subject"] = "Lunch \udc80 on Friday?"

    app.lambda_handler(event, Context())

    written = aws["s3"].get_object(Bucket=BUCKET, Key=f"index/2026/11/20/{MESSAGE_ID}.json")["Body"].read()
    (record,) = readable_utf8_json_lines(written)
    assert record["subject"] == "Lunch \ufffd on Friday?"
    assert [o["status"] for o in record["outcomes"]] == ["forwarded", "forwarded"]
    assert len(sent_messages()) == 2
