"""Sender block and allow lists: the file format, SSM, and what the forward path does with them."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fakes import MemoryStore, RecordingSender

from sesame.core.alias_config import dump_aliases_toml, from_parameters, parse_aliases_toml, to_parameters
from sesame.core.aliases import AliasConfigError, sender_matches
from sesame.core.event import InboundMail, Verdicts
from sesame.core.forward import Forwarder
from sesame.core.settings import Settings

ALIASES = """
[senders]
block = ["spammer@junk.example", "@bad.example", "*.worse.example"]

[aliases]
"john@example.com" = { to = ["john@gmail.example"], block = ["@newsletter.example"] }
"boss@example.com" = { to = ["me@gmail.example"], allow = ["ceo@work.example", "@board.example"] }
"team@example.com" = ["john@example.com", "ann@elsewhere.example"]
"""
CONFIG = parse_aliases_toml(ALIASES)
AUTHENTICATED = Verdicts(spam="PASS", virus="PASS", spf="PASS", dkim="PASS", dmarc="PASS")


def forward(recipient: str, header_from: str, envelope: str | None = None, verdicts: Verdicts = AUTHENTICATED):  # type: ignore[no-untyped-def]
    raw = f"From: {header_from}\r\nSubject: hi\r\n\r\nbody".encode()
    sender = RecordingSender()
    mail = InboundMail(
        message_id="m1",
        source=envelope if envelope is not None else header_from,
        timestamp=datetime(2026, 11, 20, tzinfo=UTC),
        recipients=(recipient,),
        verdicts=verdicts,
    )
    report = Forwarder(MemoryStore({"m1": raw}), sender, Settings()).handle(mail, CONFIG.table)
    return report.outcomes[0], sender


@pytest.mark.parametrize(
    ("address", "pattern"),
    [
        ("spammer@junk.example", "spammer@junk.example"),
        ("SPAMMER@Junk.Example", "spammer@junk.example"),
        ("anyone@bad.example", "@bad.example"),
        ("x@mail.worse.example", "*.worse.example"),
        ("x@worse.example", None),  # *.domain is its subdomains, not the domain itself
        ("x@notbad.example", None),
        ("x@bad.example.evil", None),
    ],
)
def test_GIVEN_sender_patterns_WHEN_matched_THEN_address_domain_and_subdomains(address: str, pattern: str | None) -> None:
    assert sender_matches(address, CONFIG.table.blocked) == pattern


@pytest.mark.parametrize("sender", ["spammer@junk.example", "promo@bad.example", "x@mx.worse.example"])
def test_GIVEN_a_globally_blocked_sender_WHEN_forwarded_THEN_dropped_and_nothing_reaches_ses(sender: str) -> None:
    outcome, ses = forward("john@example.com", sender)
    assert (outcome.status, outcome.reason) == ("dropped", "blocked-sender")
    assert ses.sent == []


def test_GIVEN_a_sender_blocked_by_the_envelope_only_WHEN_forwarded_THEN_dropped() -> None:
    outcome, ses = forward("john@example.com", "friendly@ok.example", envelope="bounce@bad.example")
    assert outcome.reason == "blocked-sender" and ses.sent == []


def test_GIVEN_an_alias_block_list_WHEN_forwarded_THEN_it_applies_to_that_alias_only() -> None:
    blocked, _ = forward("john@example.com", "weekly@newsletter.example")
    allowed, ses = forward("team@example.com", "weekly@newsletter.example")
    assert blocked.reason == "blocked-sender"
    assert allowed.status == "forwarded" and ses.destinations == ["john@gmail.example", "ann@elsewhere.example"]


def test_GIVEN_an_allow_list_WHEN_an_authenticated_listed_sender_writes_THEN_forwarded() -> None:
    for sender in ("ceo@work.example", "chair@board.example"):
        outcome, ses = forward("boss@example.com", sender)
        assert outcome.status == "forwarded" and ses.destinations == ["me@gmail.example"]


def test_GIVEN_an_allow_list_WHEN_anyone_else_writes_THEN_refused_and_never_bounced() -> None:
    outcome, ses = forward("boss@example.com", "stranger@else.example")
    assert (outcome.status, outcome.reason) == ("dropped", "sender-not-allowed") and ses.sent == []


def test_GIVEN_an_allow_list_WHEN_a_listed_from_is_forged_THEN_refused() -> None:
    # Anyone can write "From: ceo@work.example": without DMARC or SPF passing for it, the
    # allow list does not open.
    forged = Verdicts(spam="PASS", virus="PASS", spf="FAIL", dkim="FAIL", dmarc="FAIL")
    outcome, ses = forward("boss@example.com", "ceo@work.example", envelope="x@spoof.example", verdicts=forged)
    assert outcome.reason == "sender-not-allowed" and ses.sent == []
    spf_only = replace(forged, spf="PASS")
    outcome, _ = forward("boss@example.com", "someone@spoof.example", envelope="ceo@work.example", verdicts=spf_only)
    assert outcome.status == "forwarded"  # the envelope sender is on the list and SPF vouches for it


def test_GIVEN_lists_WHEN_stored_in_ssm_and_exported_THEN_round_trip() -> None:
    params = to_parameters(CONFIG, "/sesame")
    assert json.loads(params["/sesame/senders/block"]) == ["spammer@junk.example", "@bad.example", "*.worse.example"]
    assert json.loads(params["/sesame/aliases/example.com/boss"])["allow"] == ["ceo@work.example", "@board.example"]
    back = from_parameters({k.removeprefix("/sesame/"): v for k, v in params.items()})
    assert back.table == CONFIG.table
    assert parse_aliases_toml(dump_aliases_toml(back)).table == CONFIG.table


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ('[senders]\nblock = "not-an-address"\n', "not an email address"),
        ("[senders]\nblock = [1]\n", "must be a list of senders"),
        ("[senders]\nallow = []\n", "unknown key"),
        ('[aliases]\n"a@example.com" = { to = ["x@y.example"], allow = ["*.nodot"] }\n', "not a domain"),
    ],
)
def test_GIVEN_bad_sender_lists_WHEN_loaded_THEN_a_clear_error(text: str, complaint: str) -> None:
    with pytest.raises(AliasConfigError, match=complaint):
        parse_aliases_toml(text)


def test_GIVEN_a_blocked_sender_WHEN_previewed_THEN_the_decision_says_so(tmp_path: Path) -> None:
    aliases = tmp_path / "aliases.toml"
    aliases.write_text(ALIASES)
    message = tmp_path / "m.eml"
    message.write_bytes(b"From: promo@bad.example\r\nSubject: deal\r\n\r\nbuy\r\n")
    sesame = str(Path(sys.executable).parent / "sesame")
    result = subprocess.run(
        [sesame, "preview", str(message), "--recipient", "john@example.com", "--aliases", str(aliases), "--json"],
        capture_output=True, text=True, timeout=60, check=True,
    )
    decision = json.loads(result.stdout)
    assert (decision["action"], decision["reason"]) == ("drop", "blocked-sender")


def test_GIVEN_five_aliases_with_lists_WHEN_forwarded_THEN_the_From_is_read_once_and_each_list_applies(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A long From costs its address parse once per message, not once per alias and again for
    # the bounce check (a 32 KB From with five listed aliases cost 0.1-0.15 s more).
    import sesame.core.message as message_module
    import sesame.core.policy as policy_module

    config = parse_aliases_toml(
        "[aliases]\n"
        + "".join(f'"a{n}@example.com" = {{ to = ["d{n}@dest.example"], block = ["@blocked{n}.example"] }}\n' for n in range(5))
    )
    header_from = ", ".join(f"Person {n} <p{n}@blocked{n if n in (1, 3) else 'x'}.example>" for n in range(200))
    seen: list[str] = []
    from sesame.core.addresses import parse_address_list as real

    def counting(text: str, *args: object) -> object:
        seen.append(text)
        return real(text, *args)  # type: ignore[arg-type]

    for module in (message_module, policy_module):  # wherever it is called from
        monkeypatch.setattr(module, "parse_address_list", counting, raising=False)
    raw = f"From: {header_from}\r\nSubject: hi\r\n\r\nbody".encode()
    mail = InboundMail(message_id="m1", source="p0@blockedx.example", timestamp=datetime(2026, 11, 20, tzinfo=UTC),
                       recipients=tuple(f"a{n}@example.com" for n in range(5)), verdicts=AUTHENTICATED)
    sender = RecordingSender()
    report = Forwarder(MemoryStore({"m1": raw}), sender, Settings()).handle(mail, config.table)
    assert [(o.recipient, o.status, o.reason) for o in report.outcomes] == [
        ("a0@example.com", "forwarded", "alias"),
        ("a1@example.com", "dropped", "blocked-sender"),
        ("a2@example.com", "forwarded", "alias"),
        ("a3@example.com", "dropped", "blocked-sender"),
        ("a4@example.com", "forwarded", "alias"),
    ]
    assert seen == [header_from]
