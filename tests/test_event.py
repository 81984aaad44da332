"""The SES receipt event reader: strict on what the forwarder uses, tolerant of the rest."""

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
    # A verdict SES did not report is neither a failure nor an authentication.
    assert mail.verdicts.spam == "DISABLED" and mail.verdicts.dmarc == "DISABLED"


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


@pytest.mark.parametrize(
    ("path", "value", "complaint"),
    [
        (("mail", "messageId"), None, "messageId"),
        (("mail", "messageId"), "../../etc/passwd", "messageId"),
        (("mail", "messageId"), 42, "messageId"),
        (("mail", "source"), ["jane@sender.example"], "source"),
        (("mail", "timestamp"), "yesterday", "timestamp"),
        (("receipt", "recipients"), [], "recipients"),
        (("receipt", "recipients"), ["john@example.com", 7], "recipients"),
        (("receipt", "action"), None, "action"),
        (("receipt", "action"), {"functionArn": "arn:x"}, "action"),
    ],
)
def test_given_a_field_the_forwarder_uses_is_missing_or_wrong_then_invalid_event_names_it(
    path: tuple[str, str], value: object, complaint: str
) -> None:
    event = copy.deepcopy(load_event("ses_email_receiving.json"))
    part = event["Records"][0]["ses"][path[0]]
    if value is None:
        del part[path[1]]
    else:
        part[path[1]] = value
    if complaint == "timestamp":  # the receipt's own timestamp would stand in for the mail's
        del event["Records"][0]["ses"]["receipt"]["timestamp"]
    with pytest.raises(InvalidEvent, match=complaint):
        parse_ses_event(event)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("sender", ["List Owner <owner@lists.example>"]),  # SES's shape: a list of strings
        ("sender", "owner@lists.example"),  # a string, as an older local mode wrote
        ("from", "Jane <jane@sender.example>"),
        ("to", None),
        ("to", 42),
        ("cc", {"unexpected": "object"}),
        ("subject", ["not", "a", "string"]),
        ("date", 12345),
        ("messageId", None),
    ],
)
def test_given_a_summary_field_of_an_unexpected_shape_then_the_message_is_still_read(key: str, value: object) -> None:
    # commonHeaders is SES's summary of the header block; the forwarder reads the message
    # itself, so an odd summary must never turn a deliverable message into an InvalidEvent.
    event = copy.deepcopy(load_event("ses_email_receiving.json"))
    event["Records"][0]["ses"]["mail"]["commonHeaders"][key] = value
    (mail,) = parse_ses_event(event)
    assert mail.recipients == ("john@example.com", "team@example.com")


@pytest.mark.parametrize("shape", [None, "not-a-dict", [1, 2], {"status": 3}])
def test_given_a_verdict_of_an_unexpected_shape_then_it_reads_as_disabled(shape: object) -> None:
    event = copy.deepcopy(load_event("ses_email_receiving.json"))
    event["Records"][0]["ses"]["receipt"]["spfVerdict"] = shape
    event["Records"][0]["ses"]["mail"]["headers"] = [{"name": "X"}, "junk", {"name": "Subject", "value": "s"}]
    event["Records"][0]["ses"]["mail"]["commonHeaders"] = "junk"
    (mail,) = parse_ses_event(event)
    assert mail.verdicts.spf == "DISABLED"
    assert mail.headers == (("Subject", "s"),)
    assert mail.header_from == () and mail.subject is None


def test_given_the_event_module_then_pydantic_is_not_imported() -> None:
    # The event is read on every cold start: pydantic and Powertools' parser cost 150-270 ms.
    import subprocess
    import sys

    code = "import sys, sesame.core.event; print('pydantic' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"
