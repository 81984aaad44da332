"""Events and queue records as nobody promised them.

Every SES receipt event, feedback record and dead-letter record, however mangled, is read or
refused with its reader's own error (never a ``TypeError`` or a ``RecursionError``), and what
Sesame writes from it (index and feedback records, the error context, the operator's report) is
valid UTF-8 that reads back.

The property tests start from the real-shaped samples in ``events/`` (their sources are in
``events/README.md``) and replace or delete up to four values anywhere in them with arbitrary
JSON: wrong types, huge, empty and control-character strings, lone surrogates (``"\\udc80"`` is
valid JSON, and ``json.loads`` gives it back as a lone surrogate, which UTF-8 cannot encode).

Profiles: ``make test`` runs a fixed (derandomized) set; ``SESAME_FUZZ=long`` (``make fuzz``)
runs ``SESAME_FUZZ_EXAMPLES`` random examples per test.
"""

from __future__ import annotations

import copy
import email
import email.policy
import json
import os
import re
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import load_event
from fakes import FirstEventSuppressions
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sesame.adapters.notify import build_report
from sesame.core.dead_letter import PoisonRecord, error_context, operator_report, parse_dead_letter
from sesame.core.event import InvalidEvent, parse_ses_event
from sesame.core.feedback import (
    FeedbackPolicy,
    InvalidFeedback,
    apply,
    feedback_rows,
    parse_feedback,
    to_json_lines,
)
from sesame.core.index import failed_report, index_record, to_json_line

LONG = os.environ.get("SESAME_FUZZ") == "long"
settings.register_profile(
    "hostile-events",
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "hostile-events-long",
    max_examples=int(os.environ.get("SESAME_FUZZ_EXAMPLES", "150")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,
)
PROFILE = settings.get_profile("hostile-events-long" if LONG else "hostile-events")

RECEIPTS = [load_event("ses_email_receiving.json"), load_event("ses_dmarc_reject.json")]
FEEDBACK = [
    load_event(f"ses_feedback_{name}.json")
    for name in ("bounce", "bounce_soft", "bounce_suppressed", "complaint", "delivery_delay", "reject")
]
DEAD_LETTER = json.loads(load_event("sqs_dead_letter.json")["Records"][0]["body"])

# 200 KB of nesting: inside SQS's 256 KB record limit, and far past the recursion limit.
TOO_DEEP = "[" * 100_000 + "]" * 100_000

leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.text(alphabet=st.characters(categories=["Cs", "Cc", "Zl", "Zp"]), max_size=6),  # Cs: lone surrogates
    st.sampled_from(["", "x" * 5000, "a\udc80@b.example", "\ud800", "\r\n\x00<>@\u2028", "2026-11-20T09:14:58.000Z"]),
)
values = st.recursive(
    leaves,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=10,
)


@st.composite
def mangled(draw: st.DrawFn, base: Any) -> Any:
    """``base`` with up to four values replaced by arbitrary JSON, or keys deleted."""
    document = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, 4))):
        places = list(_places(document))
        if not places:
            break
        *parents, last = draw(st.sampled_from(places))
        holder = document
        for step in parents:
            holder = holder[step]
        if isinstance(holder, dict) and draw(st.booleans()):
            del holder[last]
        else:
            holder[last] = draw(values)
    return document


def _places(document: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    items = document.items() if isinstance(document, dict) else enumerate(document) if isinstance(document, list) else ()
    for key, value in items:
        yield (*path, key)
        yield from _places(value, (*path, key))


def readable_utf8_json_lines(data: bytes) -> list[Any]:
    """Each line of ``data`` (JSON Lines: ended by "\\n" only): strict UTF-8, so no surrogate
    survives, and JSON."""
    text = data.decode("utf-8")
    assert text.endswith("\n")
    return [json.loads(line) for line in text[:-1].split("\n")]


def as_written(text: str | None) -> str | None:
    """``text`` as a record holds it: each lone surrogate is U+FFFD."""
    return None if text is None else re.sub("[\ud800-\udfff]", "\ufffd", text)


# --- properties ------------------------------------------------------------------------------


@settings(PROFILE)
@given(st.sampled_from(RECEIPTS).flatmap(mangled))
def test_a_mangled_receipt_event_is_read_or_refused_and_its_index_record_is_utf8_json(event: Any) -> None:
    try:
        mails = parse_ses_event(event)
    except InvalidEvent:
        return
    for mail in mails:
        (record,) = readable_utf8_json_lines(to_json_line(index_record(mail, failed_report(mail, "error \udc80"))))
        assert record["message_id"] == mail.message_id


@settings(PROFILE)
@given(st.sampled_from(FEEDBACK).flatmap(mangled), st.booleans())
def test_a_mangled_feedback_record_is_read_or_refused_and_its_rows_are_utf8_json(event: Any, through_sns: bool) -> None:
    body = json.dumps({"Type": "Notification", "Message": json.dumps(event)}) if through_sns else json.dumps(event)
    try:
        parsed = parse_feedback(body)
    except InvalidFeedback:
        return
    rows = readable_utf8_json_lines(to_json_lines(feedback_rows(apply(parsed, FirstEventSuppressions(), FeedbackPolicy()))))
    assert [row["destination"] for row in rows] == [as_written(r.address) for r in parsed.recipients]
    assert [row["diagnostic"] for row in rows] == [as_written(r.diagnostic) for r in parsed.recipients]


@settings(PROFILE)
@given(mangled(DEAD_LETTER), st.booleans())
def test_a_mangled_dead_letter_is_read_or_poison_and_its_report_and_context_are_written(
    body: Any, plain_queue: bool
) -> None:
    attributes = None
    if plain_queue:  # the Lambda DLQ shape: the event itself, the error in message attributes
        body = body.get("requestPayload") if isinstance(body, dict) else body
        attributes = {"ErrorMessage": {"stringValue": "Task timed out \udc80", "dataType": "String"}, "RequestID": body}
    try:
        letter = parse_dead_letter(json.dumps(body), attributes)
    except PoisonRecord:
        return
    assert isinstance(letter.error, str) and isinstance(letter.condition, str)
    for field in (letter.request_id, letter.function_arn, letter.failed_at):
        assert field is None or isinstance(field, str)
    for mail in letter.mails:
        context = error_context(letter, mail, message_location=None)
        json.loads(json.dumps(context, indent=2, default=str).encode())
        subject, text = operator_report(letter, mail, bucket="b", context_key="k", message_location=None)
        report = build_report("sesame@example.com", "ops@example.com", subject, text)
        assert email.message_from_bytes(report, policy=email.policy.default)["To"] == "ops@example.com"


# --- examples --------------------------------------------------------------------------------


@pytest.mark.parametrize("body", [TOO_DEEP, json.dumps({"Type": "Notification", "Message": TOO_DEEP})])
def test_a_feedback_record_nested_too_deeply_is_refused_as_feedback_sesame_does_not_handle(body: str) -> None:
    with pytest.raises(InvalidFeedback, match="nested too deeply"):
        parse_feedback(body)


@pytest.mark.parametrize("body", [TOO_DEEP, '{"requestPayload": ' + TOO_DEEP + "}"])
def test_a_dead_letter_record_nested_too_deeply_is_poison(body: str) -> None:
    with pytest.raises(PoisonRecord, match="nested too deeply"):
        parse_dead_letter(body)


@pytest.mark.parametrize(
    ("changes", "condition", "error"),
    [
        ({"requestContext": "junk", "responsePayload": None}, "unknown",
         "unknown error (the record has no response payload)"),
        ({"requestContext": {"condition": 7, "requestId": ["x"], "approximateInvokeCount": "many"},
          "responsePayload": {"errorMessage": {"nested": True}, "errorType": 5}}, "unknown", '{"nested": true}'),
    ],
)
def test_a_dead_letter_with_an_odd_context_is_still_read_as_the_failed_message(
    changes: dict[str, Any], condition: str, error: str
) -> None:
    letter = parse_dead_letter(json.dumps(DEAD_LETTER | changes))
    assert [m.message_id for m in letter.mails] == ["o3vrnil0e2ic28trm7dfhrc2v0cnbeccl4nbp0g1"]
    assert (letter.condition, letter.error, letter.attempts, letter.request_id) == (condition, error, None, None)


def test_a_feedback_record_with_lists_of_the_wrong_type_reads_as_naming_no_recipient() -> None:
    event = load_event("ses_feedback_reject.json")
    event["detail"]["mail"]["destination"] = True
    event["detail"]["mail"]["headers"] = 1.5
    with pytest.raises(InvalidFeedback, match="names no recipient"):
        parse_feedback(json.dumps(event))


def test_local_modes_line_shows_a_senders_controls_as_replacement_characters() -> None:
    from sesame.local.report import format_summary

    line = format_summary({
        "message_id": "m1",
        "source": "evil\x1b]0;owned\x07@x.example\nforged line",
        "outcomes": [{"recipient": "a\u202eb@example.com", "status": "dropped", "reason": "no-alias", "detail": "\udc80"}],
    })
    assert line == (
        "m1 from <evil\ufffd]0;owned\ufffd@x.example\ufffdforged line>: a\ufffdb@example.com dropped (no-alias: \ufffd)"
    )
    line.encode("utf-8")
