"""SES's feedback in local mode: the mailbox simulator's addresses and `--feedback` marks make
the SES stand-in publish bounces and complaints as SES does (EventBridge events of SES event
records, routed by the template's rule to the feedback queue); the real FeedbackFunction
suppresses or pauses; the next message through real SMTP leaves that destination out and says
so; `sesame suppressions rm --local` resumes it."""

from __future__ import annotations

import io
import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import load_event
from test_local_sending import Sink
from test_local_stack import ROOT, message, options, send_one

from sesame.cli import main
from sesame.core.feedback import parse_feedback
from sesame.local.aws.eventbridge import EventBus, matches, unsupported_filters
from sesame.local.sending.api import SentMessage
from sesame.local.sending.delivery import DeliveryAgent
from sesame.local.sending.fates import Fate, Fates, parse_feedback_marks, simulator_fate
from sesame.local.sending.outbox import Outbox
from sesame.local.sending.publishing import event_record, eventbridge_event
from sesame.local.stack import LocalStack
from sesame.local.wiring import read_wiring

ALIASES = """
[aliases]
"sim-bounce@example.com"    = ["bounce@simulator.amazonses.com", "sim-bounce@work.example"]
"ann@example.com"           = ["ann@gmail.example", "ann@work.example"]
"sim-complaint@example.com" = ["complaint+sim@simulator.amazonses.com", "sim-complaint@work.example"]
"lee@example.com"           = ["lee@gmail.example", "lee@work.example"]
"quiet@example.com"         = ["success@simulator.amazonses.com", "ooto+label@simulator.amazonses.com",
                               "suppressionlist@simulator.amazonses.com"]
"crash-1@example.com"       = ["bounce+crash-1@simulator.amazonses.com"]
"crash-2@example.com"       = ["bounce+crash-2@simulator.amazonses.com"]
"""
FEEDBACK = ("bounce=ann@gmail.example", "complaint=lee@gmail.example,soft-bounce=kim@gmail.example")


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    folder = tmp_path_factory.mktemp("feedback")
    (folder / "aliases.toml").write_text(ALIASES)
    stack = LocalStack(options(folder, aliases=folder / "aliases.toml", feedback=FEEDBACK), out=io.StringIO(),
                       err=io.StringIO())
    stack.start()
    try:
        yield stack
    finally:
        stack.stop()


def forward(stack: LocalStack, alias: str, subject: str) -> dict[str, Any]:
    """One message through SMTP; its summary once the whole loop (feedback included) is idle."""
    code, reply = send_one(stack.smtp_port, [alias], message(to=alias, subject=subject))
    assert code == 250
    assert stack.wait_idle(60)
    (summary,) = [r for r in stack.results if r["message_id"] == reply.split()[-1]]
    return summary


def index_outcomes(summary: dict[str, Any]) -> list[tuple[str, str, list[str], list[tuple[str, str]]]]:
    """Each recipient's one outcome: status, reason, destinations sent to, and the
    destinations suppression left out with why."""
    record = json.loads(Path(summary["index"]).read_bytes())
    return [(o["status"], o["reason"], o["destinations"],
             [(s["destination"], s["reason"]) for s in o.get("suppressed", [])]) for o in record["outcomes"]]


def copies(summary: dict[str, Any]) -> dict[str, str]:
    """Destination -> the outbox folder its copy is in (``outbox`` or ``bounced``)."""
    out = {}
    for path in map(Path, summary["outbox"]):
        assert path.is_file()
        out[path.name.split("--", 1)[1].removesuffix(".eml")] = path.parent.name
    return out


def published_for(stack: LocalStack, summary: dict[str, Any]) -> list[dict[str, Any]]:
    assert stack.feedback is not None
    return [e for e in stack.feedback.published if e["detail"]["mail"]["tags"]["sesame-message"] == [summary["message_id"]]]


def suppressions(stack: LocalStack, *args: str) -> int:
    return main(["suppressions", *args, "--local", "--state-dir", str(stack.state.root)])


@pytest.mark.parametrize(
    ("alias", "bouncing", "other"),
    [
        ("sim-bounce@example.com", "bounce@simulator.amazonses.com", "sim-bounce@work.example"),
        ("ann@example.com", "ann@gmail.example", "ann@work.example"),  # --feedback bounce=
    ],
)
def test_a_hard_bounce_suppresses_the_destination_until_removed_and_the_other_still_gets_the_mail(
    local: LocalStack, alias: str, bouncing: str, other: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN an alias with two destinations, one of which bounces
    # WHEN a first message goes through
    first = forward(local, alias, f"First to {alias}")
    # THEN both got their copy, the bouncing one's refused (outbox/bounced/, as a relay refusal)
    assert index_outcomes(first) == [("forwarded", "alias", [bouncing, other], [])]
    assert copies(first) == {bouncing: "bounced", other: "outbox"}
    # AND SES published a hard bounce for it, with the send's id, tags and headers
    (event,) = published_for(local, first)
    assert (event["source"], event["detail-type"]) == ("aws.ses", "Email Bounced")
    bounce = event["detail"]["bounce"]
    assert (bounce["bounceType"], bounce["bounceSubType"]) == ("Permanent", "General")
    assert [r["emailAddress"] for r in bounce["bouncedRecipients"]] == [bouncing]
    assert [event["detail"]["mail"]["messageId"]] == first["outcomes"][0]["ses_message_ids"]
    assert event["detail"]["mail"]["tags"]["ses:configuration-set"] == list(local.wiring.configuration_sets)  # type: ignore[union-attr]

    # WHEN the next message goes through, the feedback having been handled
    second = forward(local, alias, f"Second to {alias}")
    # THEN the bounced destination is a suppressed drop, named, and the other gets its copy
    assert index_outcomes(second) == [("forwarded", "alias", [other], [(bouncing, "suppressed:bounce")])]
    record = json.loads(Path(second["index"]).read_bytes())
    assert bouncing in record["outcomes"][0]["detail"]
    assert copies(second) == {other: "outbox"}
    assert suppressions(local, "list", "--json", "--destination", bouncing) == 0
    assert [e["reason"] for e in json.loads(capsys.readouterr().out)] == ["bounce"]
    # AND `sesame query --local` finds the bounce in the state folder, joined to the message
    state = local.state
    assert main(["query", "bounces-and-complaints", "--local", "--json", "--index-dir", str(state.index),
                 "--feedback-dir", str(state.feedback)]) == 0
    rows = [r for r in json.loads(capsys.readouterr().out) if r["destination"] == bouncing]
    assert [(r["event_type"], r["message_id"], r["subject"]) for r in rows] == [
        ("bounce", first["message_id"], f"First to {alias}")]

    # WHEN the operator removes the suppression through the CLI
    assert suppressions(local, "rm", "--destination", bouncing) == 0
    # THEN the next message reaches both again
    third = forward(local, alias, f"Third to {alias}")
    assert index_outcomes(third) == [("forwarded", "alias", [bouncing, other], [])]


@pytest.mark.parametrize(
    ("alias", "complaining", "other"),
    [
        ("sim-complaint@example.com", "complaint+sim@simulator.amazonses.com", "sim-complaint@work.example"),
        ("lee@example.com", "lee@gmail.example", "lee@work.example"),  # --feedback complaint=
    ],
)
def test_a_complaint_pauses_the_alias_for_that_destination_until_resumed(
    local: LocalStack, alias: str, complaining: str, other: str
) -> None:
    # GIVEN a destination that marks what it gets as spam
    first = forward(local, alias, f"First to {alias}")
    # THEN it was delivered (its copy stays in the outbox) and SES published a complaint
    assert copies(first) == {complaining: "outbox", other: "outbox"}
    (event,) = published_for(local, first)
    assert event["detail-type"] == "Email Complaint Received"
    assert event["detail"]["complaint"]["complaintFeedbackType"] == "abuse"
    # WHEN the next message goes through
    second = forward(local, alias, f"Second to {alias}")
    # THEN this alias no longer forwards to it; the other destination still gets the mail
    assert index_outcomes(second) == [("forwarded", "alias", [other], [(complaining, "suppressed:complaint")])]
    assert copies(second) == {other: "outbox"}
    # WHEN the operator resumes the alias
    assert suppressions(local, "rm", "--alias", alias) == 0
    # THEN the next message reaches both
    assert index_outcomes(forward(local, alias, f"Third to {alias}")) == [
        ("forwarded", "alias", [complaining, other], [])]


def test_the_feedback_function_has_an_environment_of_its_own_and_a_crash_there_loses_no_bounce(
    local: LocalStack, capsys: pytest.CaptureFixture[str]
) -> None:
    assert local.wiring is not None
    # GIVEN a bounce the feedback function handled, in a process of its own
    forward(local, "crash-1@example.com", "feedback before the crash")
    (environment,) = [f for f in local.parts.functions if f.spec.handler == "feedback.app.lambda_handler"]
    pid, starts = environment.pid, environment.starts
    assert pid is not None and pid != os.getpid() and starts >= 1
    # WHEN that process dies and the next bounce reaches it
    os.kill(pid, signal.SIGKILL)
    summary = forward(local, "crash-2@example.com", "feedback after the crash")
    # THEN its batch fails as Lambda fails it, SQS hands the event over again, a new
    # environment suppresses the destination, and local mode said what happened
    assert copies(summary) == {"bounce+crash-2@simulator.amazonses.com": "bounced"}
    assert environment.starts == starts + 1 and environment.pid not in (None, pid)
    assert suppressions(local, "list", "--json", "--destination", "bounce+crash-2@simulator.amazonses.com") == 0
    assert [e["reason"] for e in json.loads(capsys.readouterr().out)] == ["bounce"]
    said = local.err.getvalue()  # type: ignore[attr-defined]
    assert f"{environment.name} failed on a batch of 1 record(s): Runtime.ExitError" in said


def test_success_and_ooto_publish_nothing_and_suppressionlist_is_an_account_suppression_bounce(
    local: LocalStack,
) -> None:
    summary = forward(local, "quiet@example.com", "Quiet")
    assert copies(summary) == {
        "success@simulator.amazonses.com": "outbox",
        "ooto+label@simulator.amazonses.com": "outbox",
        "suppressionlist@simulator.amazonses.com": "bounced",
    }
    (event,) = published_for(local, summary)
    bounce = event["detail"]["bounce"]
    assert (bounce["bounceType"], bounce["bounceSubType"]) == ("Permanent", "OnAccountSuppressionList")
    assert bounce["reportingMTA"] == "dns; amazonses.com"  # SES never handed it on


# --- the pieces --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("bounce=nope", "not an email address"),
        ("explode=a@b.example", "KIND=ADDRESS"),
        ("a@b.example", "KIND=ADDRESS"),
        ("bounce=a@b.example,complaint=A@b.example", "marked both bounce and complaint"),
    ],
)
def test_a_bad_feedback_value_is_one_line_and_exit_2(
    value: str, expected: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["local", "--feedback", value, "--smtp-port", "0", "--state-dir", str(tmp_path / "state"),
                 "--outbox", str(tmp_path / "outbox"), "--template", str(ROOT / "template.yaml")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("sesame local: error: --feedback") and expected in err
    assert not (tmp_path / "state").exists()  # refused before anything started


def test_feedback_marks_accept_repeats_and_commas_and_ignore_case() -> None:
    marks = parse_feedback_marks(["bounce=Ann@Gmail.example, soft-bounce=kim@x.example", "complaint=lee@x.example"])
    assert marks == {"ann@gmail.example": "bounce", "kim@x.example": "soft-bounce", "lee@x.example": "complaint"}
    fates = Fates(marks)
    assert fates.of("ANN@gmail.example").bounce_type == "Permanent"  # type: ignore[union-attr]
    soft = fates.of("kim@x.example")
    assert soft is not None and (soft.bounce_type, soft.bounce_subtype) == ("Transient", "MailboxFull")
    assert fates.of("someone@else.example") is None


def test_simulator_labels_act_as_the_base_address_and_unknown_simulator_names_are_ordinary() -> None:
    assert simulator_fate("bounce+label1@simulator.amazonses.com") == simulator_fate("bounce@simulator.amazonses.com")
    assert simulator_fate("Complaint+x@Simulator.AmazonSES.com").kind == "complaint"  # type: ignore[union-attr]
    assert simulator_fate("ooto@simulator.amazonses.com").kind == "delivered"  # type: ignore[union-attr]
    assert simulator_fate("nobody@simulator.amazonses.com") is None
    assert simulator_fate("bounce@example.com") is None


SENT = SentMessage(
    "010001a2-0000-4000-8000-000000000001-000000",
    b'From: "Jane Doe at jane@sender.example" <john@example.com>\r\nTo: john@example.com,\r\n team@example.com\r\n'
    b"Reply-To: jane@sender.example\r\nSubject: Lunch\r\nMessage-ID: <1@sender.example>\r\n"
    b"X-Sesame-Forwarded-For: john@example.com\r\n\r\nbody\r\n",
    "john@example.com",
    ("john.doe@gmail.example", "john@work.example"),
    {"sesame-message": "o3vrnil0e2ic28trm7dfhrc2v0cnbeccl4nbp0g1", "sesame-send": "5f1d6c1a"},
    "sesame",
)


@pytest.mark.parametrize(("sample", "fate"), [
    ("bounce", Fates({"john.doe@gmail.example": "bounce"}).of("john.doe@gmail.example")),
    ("complaint", Fates({"john.doe@gmail.example": "complaint"}).of("john.doe@gmail.example")),
])
def test_a_published_event_has_the_fields_of_the_real_sample_and_reads_as_ours(sample: str, fate: Fate) -> None:
    real = load_event(f"ses_feedback_{sample}.json")
    ours = eventbridge_event(event_record(SENT, "john.doe@gmail.example", fate, region="us-east-1",
                                          sent_at=SENT.accepted_at), region="us-east-1")
    assert ours.keys() == real.keys()
    assert ours["detail"].keys() == real["detail"].keys()
    assert ours["detail"][sample].keys() == real["detail"][sample].keys()
    assert ours["detail"]["mail"].keys() == real["detail"]["mail"].keys()
    assert ours["detail"]["mail"]["commonHeaders"]["to"] == ["john@example.com", "team@example.com"]
    parsed = parse_feedback(json.dumps(ours))
    assert (parsed.alias, parsed.send, parsed.received_message_id, parsed.configuration_set) == (
        "john@example.com", "5f1d6c1a", "o3vrnil0e2ic28trm7dfhrc2v0cnbeccl4nbp0g1", "sesame")
    assert [r.address for r in parsed.recipients] == ["john.doe@gmail.example"]


def test_the_rule_and_its_target_queue_come_from_the_template(tmp_path: Path) -> None:
    # GIVEN the template with its feedback queue renamed
    template = tmp_path / "template.yaml"
    template.write_text((ROOT / "template.yaml").read_text().replace("FeedbackQueue", "BounceInbox"))
    wiring = read_wiring(template, alias_domains=["example.com"])
    (rule,) = wiring.event_rules
    assert rule.targets == ("BounceInbox",)
    assert wiring.event_source_of("BounceInbox").function == "FeedbackFunction"  # type: ignore[union-attr]
    # THEN the template's pattern takes SES's events of this configuration set, and only those
    sent: list[str] = []
    bus = EventBus(wiring.event_rules, lambda queue, body: sent.append(queue))
    event = eventbridge_event(event_record(
        SentMessage(**{**SENT.__dict__, "configuration_set": wiring.configuration_sets[0]}),
        "john.doe@gmail.example", Fates({"john.doe@gmail.example": "bounce"}).of("john.doe@gmail.example"),  # type: ignore[arg-type]
        region="us-east-1", sent_at=SENT.accepted_at), region="us-east-1")
    assert bus.put(event) == ["BounceInbox"]
    event["detail"]["mail"]["tags"]["ses:configuration-set"] = ["someone-else"]
    assert bus.put(event) == [] and sent == ["BounceInbox"]


def test_event_patterns_match_as_eventbridge_documents() -> None:
    pattern = {"source": ["aws.ses"], "detail": {"mail": {"tags": {"k": ["a", "b"]}}}}
    assert matches(pattern, {"source": "aws.ses", "detail": {"mail": {"tags": {"k": ["x", "b"]}}}})  # any element
    assert not matches(pattern, {"source": "aws.ses", "detail": {"mail": {"tags": {}}}})  # a named field must exist
    assert not matches(pattern, {"source": "aws.sns", "detail": {"mail": {"tags": {"k": ["a"]}}}})
    assert unsupported_filters({"source": [{"prefix": "aws."}]}) == ["source"]
    assert not matches({"source": [{"prefix": "aws."}]}, {"source": "aws.ses"})  # not emulated: matches nothing


def test_a_permanent_relay_refusal_is_published_as_a_hard_bounce(tmp_path: Path) -> None:
    sink = Sink({"refused@b.example": "550 5.1.1 No such user here"})
    sink.front.start()
    published: list[tuple[str, Fate]] = []
    agent = DeliveryAgent(Outbox(tmp_path / "outbox"), region="us-east-1", relay_to=("127.0.0.1", sink.front.port),
                          retry_delays=(0.01,), feedback=lambda m, d, fate: published.append((d, fate)))
    agent.start()
    try:
        agent.accept(SentMessage(**{**SENT.__dict__, "destinations": ("a@b.example", "refused@b.example")}))
        assert agent.wait_idle(30)
    finally:
        agent.stop()
        sink.front.stop()
    assert [(d, f.bounce_type, f.bounce_subtype, f.status, f.diagnostic) for d, f in published] == [
        ("refused@b.example", "Permanent", "General", "5.1.1", "smtp; 550 5.1.1 No such user here")]
    assert [d.recipients for d in sink.got] == [("a@b.example",)]  # the refused one was not tried again
    assert published[0][1].remote_mta_ip == "127.0.0.1"
