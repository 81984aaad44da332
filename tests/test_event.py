"""The SES receipt event model: Powertools' models, made tolerant of real mail."""

from __future__ import annotations

import copy

import pytest
from conftest import load_event

from sesame.core.event import InvalidEvent, parse_ses_event


def test_given_the_sample_event_then_envelope_and_verdicts_are_read() -> None:
    (mail,) = parse_ses_event(load_event("ses_email_receiving.json"))
    assert mail.message_id == "o3vrnil0e2ic28trm7dfhrc2v0cnbeccl4nbp0g1"
    assert mail.source == "jane@sender.example"
    assert mail.recipients == ("john@example.com", "team@example.com")
    assert mail.subject == "Lunch on Friday?"
    assert mail.verdicts.spam == "PASS" and mail.verdicts.dmarc_policy is None
    assert mail.header("subject") == "Lunch on Friday?"
    assert mail.s3_key is None and mail.raw_event is not None


def test_given_dmarc_failure_then_policy_is_kept() -> None:
    (mail,) = parse_ses_event(load_event("ses_dmarc_reject.json"))
    assert (mail.verdicts.dmarc, mail.verdicts.dmarc_policy) == ("FAIL", "reject")


def test_given_a_message_without_subject_date_or_to_then_the_event_still_parses() -> None:
    event = load_event("ses_email_receiving.json")
    common = event["Records"][0]["ses"]["mail"]["commonHeaders"]
    for key in ("subject", "date", "to", "messageId"):
        del common[key]
    receipt = event["Records"][0]["ses"]["receipt"]
    del receipt["dmarcVerdict"]
    receipt["spamVerdict"] = {"status": "DISABLED"}
    (mail,) = parse_ses_event(event)
    assert mail.subject is None and mail.header_to == ()
    assert mail.verdicts.spam == "DISABLED" and mail.verdicts.dmarc == "PASS"


def test_given_an_s3_action_then_its_bucket_and_key_are_used() -> None:
    event = load_event("ses_email_receiving.json")
    event["Records"][0]["ses"]["receipt"]["action"] = {
        "type": "S3",
        "bucketName": "mail-bucket",
        "objectKeyPrefix": "messages/",
        "objectKey": "messages/o3vrnil0e2ic28trm7dfhrc2v0cnbeccl4nbp0g1",
    }
    (mail,) = parse_ses_event(event)
    assert (mail.s3_bucket, mail.s3_key) == ("mail-bucket", "messages/o3vrnil0e2ic28trm7dfhrc2v0cnbeccl4nbp0g1")


@pytest.mark.parametrize("mutate", ["not-ses", "no-records", "no-recipients"])
def test_given_something_else_then_invalid_event(mutate: str) -> None:
    event = copy.deepcopy(load_event("ses_email_receiving.json"))
    if mutate == "not-ses":
        event["Records"][0]["eventSource"] = "aws:sqs"
    elif mutate == "no-records":
        event = {"hello": "world"}
    else:
        del event["Records"][0]["ses"]["receipt"]["recipients"]
    with pytest.raises(InvalidEvent, match="not an SES receipt event"):
        parse_ses_event(event)
