"""Policy decisions and the forward pipeline, with in-memory ports (no AWS)."""

from __future__ import annotations

import email
import email.policy
from dataclasses import replace
from datetime import UTC, date, datetime

import pytest
from fakes import MemoryStore, RecordingSender, rejected

from sesame.core.alias_config import parse_aliases_toml
from sesame.core.event import InboundMail, Verdicts
from sesame.core.forward import Forwarder, batches, send_key
from sesame.core.message import parse_message
from sesame.core.policy import check_message, decide, may_bounce
from sesame.core.settings import Settings, SettingsError, VerdictPolicy

CONFIG = parse_aliases_toml(
    """
[aliases]
"john@example.com" = ["john.doe@gmail.example", "john@work.example"]
"team@example.com" = ["john@example.com", "ann@example.org"]
"big@example.com" = [%s]
"old@example.com" = { to = ["x@o.example"], enabled = false }
"""
    % ", ".join(f'"user{i}@list.example"' for i in range(120))
)
TABLE = CONFIG.table
RAW = (
    b"From: Jane Doe <jane@sender.example>\r\nTo: john@example.com\r\nSubject: hi\r\n"
    b"Message-ID: <1@sender.example>\r\n\r\nbody line\r\n"
)


# What SES reports for a sender that authenticated (SPF for the envelope domain, DKIM and
# DMARC for the From domain), the usual case for legitimate mail.
AUTHENTICATED = Verdicts(spam="PASS", virus="PASS", spf="PASS", dkim="PASS", dmarc="PASS")


def mail(*recipients: str, **changes: object) -> InboundMail:
    base = InboundMail(
        message_id="m1",
        source="jane@sender.example",
        timestamp=datetime(2026, 11, 20, 9, 15, tzinfo=UTC),
        recipients=recipients or ("john@example.com",),
        subject="hi",
        verdicts=AUTHENTICATED,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def forwarder(raw: bytes = RAW, settings: Settings | None = None, sender: RecordingSender | None = None):  # type: ignore[no-untyped-def]
    store = MemoryStore({"m1": raw})
    sender = sender or RecordingSender()
    fixed = lambda: datetime(2026, 11, 20, 9, 16, tzinfo=UTC)  # noqa: E731
    return Forwarder(store, sender, settings or Settings(), clock=fixed), store, sender


# --- decide -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("verdicts", "action", "reason"),
    [
        (Verdicts(virus="FAIL"), "drop", "virus"),
        (Verdicts(spam="FAIL"), "drop", "spam"),
        (Verdicts(dmarc="FAIL", dmarc_policy="reject"), "drop", "dmarc-reject"),
        (Verdicts(dmarc="FAIL", dmarc_policy="quarantine"), "forward", "alias"),
        (Verdicts(spam="GRAY", virus="PROCESSING_FAILED"), "forward", "alias"),
        (Verdicts(spam="DISABLED", virus="DISABLED"), "forward", "alias"),
    ],
)
def test_default_verdict_policy(verdicts: Verdicts, action: str, reason: str) -> None:
    (decision,) = decide(mail(verdicts=verdicts), TABLE, Settings())
    assert (decision.action, decision.reason) == (action, reason)


def test_verdict_policy_is_configurable() -> None:
    settings = Settings(verdicts=VerdictPolicy(spam_fail="forward", virus_fail="bounce"))
    (spam,) = decide(mail(verdicts=Verdicts(spam="FAIL")), TABLE, settings)
    (virus,) = decide(mail(verdicts=Verdicts(virus="FAIL")), TABLE, settings)
    assert (spam.action, virus.action) == ("forward", "bounce")
    with pytest.raises(SettingsError):
        VerdictPolicy(spam_fail="explode")  # type: ignore[arg-type]


def test_unknown_recipient_bounces_or_drops_by_setting() -> None:
    (bounce,) = decide(mail("nobody@example.com"), TABLE, Settings())
    (drop,) = decide(mail("nobody@example.com"), TABLE, Settings(unknown="drop"))
    assert (bounce.action, bounce.status_code) == ("bounce", "5.1.1")
    assert drop.action == "drop"


def test_decisions_come_from_envelope_recipients_not_headers() -> None:
    decisions = decide(mail("team@example.com", header_to=("john@example.com",)), TABLE, Settings())
    assert [d.recipient for d in decisions] == ["team@example.com"]


def test_expiry_is_judged_on_the_day_the_message_arrived() -> None:
    config = parse_aliases_toml('[aliases]\n"p@example.com" = { to = ["x@o.example"], expires = 2026-11-20 }\n')
    (on_day,) = decide(mail("p@example.com"), config.table, Settings())
    (later,) = decide(mail("p@example.com"), config.table, Settings(), today=date(2026, 11, 21))
    assert (on_day.action, later.reason) == ("forward", "alias-expired")


def test_check_message_drops_loops_and_too_many_hops_and_bounces_oversize() -> None:
    (forward,) = decide(mail(), TABLE, Settings())
    looped = parse_message(b"X-Sesame-Forwarded-For: JOHN@example.com\r\n" + RAW)
    other_alias = parse_message(b"X-Sesame-Forwarded-For: team@example.com\r\n" + RAW)
    hops = parse_message(b"Received: from a by b\r\n" * 31 + RAW)
    assert check_message(forward, looped, Settings()).reason == "loop"
    assert check_message(forward, other_alias, Settings()).action == "forward"
    assert check_message(forward, hops, Settings()).reason == "too-many-hops"
    too_big = check_message(forward, parse_message(RAW), Settings(max_message_bytes=10))
    assert (too_big.action, too_big.notice) == ("forward", "message-too-large")


def test_a_message_too_large_to_send_becomes_a_notice_to_its_destinations() -> None:
    import base64

    fwd, _, sender = forwarder(settings=Settings(max_message_bytes=len(RAW) - 1))
    (outcome,) = fwd.handle(mail(), TABLE).outcomes
    assert (outcome.status, outcome.reason) == ("forwarded", "notice-only")
    ((notice, destinations, _),) = sender.sent
    assert destinations == ("john.doe@gmail.example", "john@work.example")
    message = email.message_from_bytes(notice, policy=email.policy.default)
    assert message["Subject"] == "[not forwarded: too large] hi"
    assert message["From"].addresses[0].addr_spec == "john@example.com"
    assert message["Reply-To"].addresses[0].addr_spec == "jane@sender.example"
    assert message["X-Sesame-Forwarded-For"] == "john@example.com"
    text = base64.b64decode(notice.split(b"\r\n\r\n", 1)[1]).decode()
    assert "memory://m1" in text and "jane@sender.example" in text and f"{len(RAW):,} bytes" in text


def test_a_rewrite_that_grows_past_the_limit_becomes_a_notice_too() -> None:
    # The rewritten header block can be longer than the original: the limit is checked on
    # what would be sent, not only on what arrived.
    raw = b"From: " + b"x" * 300 + b"@sender.example\r\n\r\n" + b"b" * 100
    fwd, _, sender = forwarder(raw=raw, settings=Settings(max_message_bytes=len(raw) + 10))
    (outcome,) = fwd.handle(mail(), TABLE).outcomes
    assert outcome.reason == "notice-only" and b"Content-Transfer-Encoding: base64" in sender.sent[0][0]


SES_AUTH = b"Authentication-Results: amazonses.com;\r\n spf=fail client-ip=192.0.2.1;\r\n dkim=pass header.i=@%s;\r\n dmarc=fail header.from=sender.example;\r\n"
DKIM_ONLY = Verdicts(spam="PASS", virus="PASS", spf="FAIL", dkim="PASS", dmarc="GRAY")


@pytest.mark.parametrize(
    ("changes", "extra_header", "expected"),
    [
        ({"source": ""}, b"", "null-sender"),
        ({"source": "<>"}, b"", "null-sender"),
        ({"source": "jane@sender.example\r\nBcc: x@evil.example"}, b"", "invalid-sender"),
        ({"source": "jané@sender.example"}, b"", "invalid-sender"),
        ({"source": "MAILER-DAEMON@x.example"}, b"", "daemon-sender"),
        ({"source": "owner-list@x.example"}, b"", "daemon-sender"),
        ({"source": "list-request@x.example"}, b"", "daemon-sender"),
        ({"source": "noreply@x.example"}, b"", "daemon-sender"),
        ({"verdicts": replace(AUTHENTICATED, spam="FAIL")}, b"", "spam"),
        ({"verdicts": replace(AUTHENTICATED, virus="FAIL")}, b"", "virus"),
        ({}, b"Auto-Submitted: auto-replied\r\n", "auto-submitted"),
        ({}, b"Auto-Submitted: no\r\n", None),
        ({}, b"Auto-Submitted: no\r\nAuto-Submitted: auto-replied\r\n", "auto-submitted"),
        ({}, b"List-Id: <news.sender.example>\r\n", "list-mail"),
        ({}, b"Precedence: bulk\r\n", "bulk-mail"),
        ({}, b"Precedence: junk\r\n", "bulk-mail"),
        ({}, b"Precedence: list\r\n", "bulk-mail"),
        ({}, b"", None),
        # authentication: a forged envelope sender never gets a DSN
        ({"verdicts": Verdicts(spam="PASS", virus="PASS")}, b"", "unauthenticated-sender"),
        ({"verdicts": Verdicts(spf="FAIL", dkim="FAIL", dmarc="FAIL")}, b"", "dmarc-fail"),
        ({"verdicts": Verdicts(spf="PASS", dmarc="FAIL", dmarc_policy="reject")}, b"", "dmarc-fail"),
        ({"verdicts": Verdicts(spf="PASS", dkim="PASS", dmarc="FAIL", dmarc_policy="quarantine")}, b"", "dmarc-fail"),
        ({"verdicts": Verdicts(spf="GRAY", dmarc="PASS")}, b"", None),
        ({"verdicts": Verdicts(spf="GRAY", dmarc="PASS"), "source": "jane@other.example"}, b"", "unauthenticated-sender"),
        ({"verdicts": DKIM_ONLY}, SES_AUTH % b"sender.example", None),
        ({"verdicts": DKIM_ONLY}, SES_AUTH % b"mail.sender.example", None),
        ({"verdicts": DKIM_ONLY}, SES_AUTH % b"other.example", "unauthenticated-sender"),
        # an Authentication-Results the sender wrote below SES's own does not count
        ({"verdicts": DKIM_ONLY}, b"Authentication-Results: mx.other.example; dkim=none\r\n" + SES_AUTH % b"sender.example", "unauthenticated-sender"),
        ({"verdicts": DKIM_ONLY}, b"", "unauthenticated-sender"),
    ],
)
def test_bounces_are_held_back_to_avoid_backscatter(changes: dict, extra_header: bytes, expected: str | None) -> None:
    assert may_bounce(mail(**changes), parse_message(extra_header + RAW)) == expected


def test_auto_submitted_is_read_from_the_event_when_the_message_is_unread() -> None:
    assert may_bounce(mail(headers=(("Auto-Submitted", "auto-generated"),)), None) == "auto-submitted"


# --- forward pipeline ------------------------------------------------------------------------


def test_forward_sends_one_rewritten_copy_to_the_alias_destinations() -> None:
    fwd, _, sender = forwarder()
    report = fwd.handle(mail(), TABLE)
    (outcome,) = report.outcomes
    assert (outcome.status, outcome.destinations, outcome.ses_message_ids) == (
        "forwarded",
        ("john.doe@gmail.example", "john@work.example"),
        ("ses-1",),
    )
    sent = email.message_from_bytes(sender.sent[0][0], policy=email.policy.default)
    assert sent["From"].addresses[0].addr_spec == "john@example.com"
    assert sent["Reply-To"].addresses[0].addr_spec == "jane@sender.example"
    assert sender.sent[0][0].endswith(b"\r\n\r\nbody line\r\n")
    assert report.size == len(RAW)


def test_a_destination_reached_through_two_aliases_gets_one_copy() -> None:
    fwd, _, sender = forwarder()
    report = fwd.handle(mail("john@example.com", "team@example.com"), TABLE)
    assert sorted(sender.destinations) == sorted(["john.doe@gmail.example", "john@work.example", "ann@example.org"])
    assert [o.destinations for o in report.outcomes] == [
        ("john.doe@gmail.example", "john@work.example"),
        ("ann@example.org",),
    ]


def test_two_aliases_with_identical_destinations_second_is_dropped_as_already_forwarded() -> None:
    config = parse_aliases_toml('[aliases]\n"a@example.com" = ["x@o.example"]\n"b@example.com" = ["x@o.example"]\n')
    fwd, _, sender = forwarder()
    report = fwd.handle(mail("a@example.com", "b@example.com"), config.table)
    assert [o.status for o in report.outcomes] == ["forwarded", "dropped"]
    assert report.outcomes[1].reason == "already-forwarded"
    assert len(sender.sent) == 1


def test_more_than_fifty_destinations_go_in_batches_with_stable_keys() -> None:
    fwd, _, sender = forwarder()
    (outcome,) = fwd.handle(mail("big@example.com"), TABLE).outcomes
    assert [len(batch) for _, batch, _ in sender.sent] == [50, 50, 20]
    assert len(outcome.destinations) == 120 and len(outcome.ses_message_ids) == 3
    assert len({key for _, _, key in sender.sent}) == 3
    assert send_key("m1", ["B@x", "a@x"]) == send_key("m1", ["a@x", "b@x"])
    assert batches(["a", "b", "c"], 2) == [("a", "b"), ("c",)]


def test_a_permanent_rejection_is_a_failed_outcome_naming_what_was_sent() -> None:
    sender = RecordingSender(reject_when=lambda batch: rejected() if "user50@list.example" in batch else None)
    fwd, _, _ = forwarder(sender=sender)
    (outcome,) = fwd.handle(mail("big@example.com"), TABLE).outcomes
    assert outcome.status == "failed" and outcome.reason == "ses-rejected"
    assert len(outcome.destinations) == 50 and outcome.detail == "MessageRejected: nope"


def test_a_transient_error_is_recorded_with_what_went_out_and_marks_the_report_for_a_retry() -> None:
    calls = {"n": 0}

    def second_batch_fails(batch: tuple[str, ...]) -> Exception | None:
        calls["n"] += 1
        return ConnectionError("throttled") if calls["n"] == 2 else None

    fwd, _, sender = forwarder(sender=RecordingSender(reject_when=second_batch_fails))
    report = fwd.handle(mail("big@example.com", "john@example.com"), TABLE)
    big, john = report.outcomes
    assert report.incomplete  # the caller records it, then raises so that Lambda retries
    assert (big.status, big.reason, len(big.destinations)) == ("failed", "send-failed", 50)
    assert "ConnectionError: throttled" in (big.detail or "")
    assert john.status == "forwarded"  # one recipient's trouble does not stop the others


def test_out_of_time_stops_every_later_send_and_marks_the_report_for_a_retry() -> None:
    from sesame.core.delivery import OutOfTime

    fwd, _, sender = forwarder(sender=RecordingSender(reject_when=lambda batch: OutOfTime("10 s left")))
    report = fwd.handle(mail("john@example.com", "nobody@example.com"), TABLE)
    assert report.incomplete and [o.reason for o in report.outcomes] == ["out-of-time", "unknown-recipient"]
    assert report.outcomes[1].status == "failed" and "not tried" in (report.outcomes[1].detail or "")


def test_dropped_mail_is_not_even_fetched() -> None:
    fwd, store, sender = forwarder()
    report = fwd.handle(mail(verdicts=Verdicts(virus="FAIL")), TABLE)
    assert [o.status for o in report.outcomes] == ["dropped"]
    assert store.fetched == [] and sender.sent == [] and report.size is None


def test_unknown_recipient_gets_one_dsn_for_all_bounced_recipients() -> None:
    fwd, _, sender = forwarder()
    report = fwd.handle(mail("nobody@example.com", "old@example.com", "john@example.com"), TABLE)
    assert [o.status for o in report.outcomes] == ["bounced", "bounced", "forwarded"]
    dsns = [s for s in sender.sent if s[1] == ("jane@sender.example",)]
    assert len(dsns) == 1
    dsn = email.message_from_bytes(dsns[0][0], policy=email.policy.default)
    assert dsn.get_content_type() == "multipart/report"
    assert dsn["From"].addresses[0].addr_spec == "mailer-daemon@example.com"
    assert dsn["Auto-Submitted"] == "auto-replied"
    status = dsns[0][0].decode()
    assert "Final-Recipient: rfc822; nobody@example.com" in status and "Status: 5.1.1" in status
    assert "Final-Recipient: rfc822; old@example.com" in status
    assert "Subject: hi" in status  # the original headers are returned


def test_bounce_to_a_null_sender_is_held_back_and_recorded_as_dropped() -> None:
    fwd, _, sender = forwarder()
    (outcome,) = fwd.handle(mail("nobody@example.com", source=""), TABLE).outcomes
    assert (outcome.status, outcome.reason, outcome.detail) == (
        "dropped",
        "unknown-recipient",
        "bounce held back: null-sender",
    )
    assert sender.sent == []


def test_a_refused_bounce_is_a_failure() -> None:
    fwd, _, _ = forwarder(sender=RecordingSender(reject_when=lambda batch: rejected()))
    (outcome,) = fwd.handle(mail("nobody@example.com"), TABLE).outcomes
    assert outcome.status == "failed" and "bounce not sent: MessageRejected" in (outcome.detail or "")


def test_dmarc_reject_is_dropped_by_default_and_nothing_is_sent() -> None:
    # The From is forged: a DSN would go to whoever the forger named (backscatter).
    fwd, _, sender = forwarder()
    verdicts = Verdicts(spf="FAIL", dmarc="FAIL", dmarc_policy="reject")
    report = fwd.handle(mail("john@example.com", "team@example.com", verdicts=verdicts), TABLE)
    assert [(o.status, o.reason) for o in report.outcomes] == [("dropped", "dmarc-reject")] * 2
    assert sender.sent == []


def test_dmarc_reject_set_to_bounce_still_sends_no_dsn_for_a_dmarc_failure() -> None:
    # "bounce" stays selectable, but a DMARC failure never gets a DSN, even when the
    # envelope sender passed SPF: the recipient is recorded as a held-back bounce.
    settings = Settings(verdicts=VerdictPolicy(dmarc_reject="bounce"))
    for verdicts in (
        Verdicts(spf="PASS", dmarc="FAIL", dmarc_policy="reject"),
        Verdicts(spf="FAIL", dkim="PASS", dmarc="FAIL", dmarc_policy="reject"),
    ):
        fwd, _, sender = forwarder(settings=settings)
        report = fwd.handle(mail("john@example.com", "team@example.com", verdicts=verdicts), TABLE)
        assert [(o.status, o.detail) for o in report.outcomes] == [("dropped", "bounce held back: dmarc-fail")] * 2
        assert sender.sent == []


def test_report_serializes_with_defects_and_outcomes() -> None:
    fwd, _, _ = forwarder(raw=b"Subject: a\nSubject: b\n\nbody\n")
    data = fwd.handle(mail(), TABLE).as_dict()
    assert data["outcomes"][0]["status"] == "forwarded"
    kinds = {d["kind"] for d in data["defects"]}
    assert {"bare-lf-line-endings", "duplicate-header", "missing-from"} <= kinds
    assert data["timestamp"] == "2026-11-20T09:15:00+00:00"


def test_settings_validate_their_values() -> None:
    for bad in ({"unknown": "ignore"}, {"batch_size": 51}, {"max_received": 0}, {"from_template": "{x}@a.example"}):
        with pytest.raises(SettingsError):
            Settings(**bad)  # type: ignore[arg-type]
    with pytest.raises(SettingsError, match="ASCII"):
        Settings(from_template="pöst@example.com")
    assert Settings(from_template="{local}@relay.{domain}").from_address("a@example.com") == "a@relay.example.com"
    assert Settings().replace(unknown="drop").unknown == "drop"


def test_a_dsn_without_the_original_message_still_explains_the_failure() -> None:
    from sesame.core.bounce import build_dsn
    from sesame.core.outcome import Decision

    now = datetime(2026, 11, 20, tzinfo=UTC)
    dsn = build_dsn(
        bounce_from="mailer-daemon@example.com",
        to="jane@sender.example",
        decisions=[Decision("x@example.com", "bounce", "something-new")],
        original=None,
        original_message_id="m1",
        reporting_mta="sesame.local",
        arrival=now,
        now=now,
    )
    parsed = email.message_from_bytes(dsn, policy=email.policy.default)
    parts = [p.get_content_type() for p in parsed.iter_parts()]
    assert parts == ["text/plain", "message/delivery-status", "text/rfc822-headers"]
    assert b"Status: 5.0.0" in dsn and b"something-new" in dsn


def test_decisions_serialize_for_logs_and_preview() -> None:
    (bounce,) = decide(mail("nobody@example.com"), TABLE, Settings())
    assert bounce.as_dict() == {
        "recipient": "nobody@example.com",
        "action": "bounce",
        "reason": "unknown-recipient",
        "rule": None,
        "destinations": [],
        "status_code": "5.1.1",
    }
    (group,) = decide(mail("team@example.com"), parse_aliases_toml(
        '[aliases]\n"team@example.com" = ["ghost@example.com", "x@o.example"]\n').table, Settings())
    assert group.as_dict()["warnings"] == ["ghost@example.com: an address of ours with no alias, skipped"]


def test_a_verdict_set_to_quarantine_keeps_the_message_and_forwards_nothing() -> None:
    settings = Settings(verdicts=VerdictPolicy(spam_fail="quarantine"))
    fwd, store, sender = forwarder(settings=settings)
    report = fwd.handle(mail("john@example.com", "team@example.com", verdicts=replace(AUTHENTICATED, spam="FAIL")), TABLE)
    assert [(o.status, o.reason, o.detail) for o in report.outcomes] == [
        ("dropped", "spam", "quarantined: memory://quarantine/m1")
    ] * 2
    assert store.quarantined == {"m1": RAW} and sender.sent == []


def test_a_released_message_skips_the_verdicts_and_is_forwarded() -> None:
    settings = Settings(verdicts=VerdictPolicy(spam_fail="quarantine"))
    fwd, _, sender = forwarder(settings=settings)
    report = fwd.handle(mail(verdicts=replace(AUTHENTICATED, spam="FAIL")), TABLE, release=True)
    assert report.outcomes[0].status == "forwarded" and len(sender.sent) == 1


def test_bounces_are_held_back_when_the_header_block_was_cut_before_a_list_id() -> None:
    # A fuzz finding: a List-Id past the 500,000-byte header budget was never read, and a DSN
    # went to the list. What was not read may say list, bulk or automatic mail: no bounce.
    padding = b"".join(b"Subject: " + b"s" * 990 + b"\r\n" for _ in range(510))
    message = parse_message(padding + b"List-Id: <news.sender.example>\r\n" + RAW)
    assert message.first("List-Id") is None  # past the cut
    assert may_bounce(mail(), message) == "headers-not-read"
    assert may_bounce(mail(), parse_message(RAW)) is None
