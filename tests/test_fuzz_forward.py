"""Hostile mail through the whole forward path, checked against what its sender intended.

Messages come from the grammar in ``hostile.py``, which knows each message's header fields,
body bytes, addresses and envelope independently of any parser. Every message is run
through ``rewrite_bytes`` and through ``Forwarder.handle`` (in-memory store and sender,
several aliases addressed at once), and every message Sesame sends is checked:

1.  No exception escapes: hostile mail becomes an outcome, one per envelope recipient; and
    none is the safety net's ``failed``/``unprocessable-message`` (the core raised inside).
2.  The body is byte-identical to the input body, after exactly one blank line.
3.  Header lines are 7-bit ASCII, at most 998 octets, free of NUL and bare CR/LF, none is
    whitespace only, each starts a field (``name:``, no space before the colon) or continues
    one; all end with one line ending: CRLF or the input's first line ending.
4.  The ``email`` package reads the output without raising, finds the same field names
    (as a multiset) as a plain split of the header block, and puts the body where it is.
5.  No field the input did not have, except From, Reply-To and ``X-Sesame-Forwarded-For``;
    none of the removed ones (DKIM-Signature, DomainKey-Signature, Return-Path, Sender, Bcc,
    X-SES-*); at most one of each field that may appear once (SES's list and RFC 5322
    section 3.6's, which adds To, Cc and Bcc: duplicate To and Cc must be merged).
6.  Exactly one From: one usable address, the alias's From address on the alias's domain;
    its display name names the original sender's address; a loop marker names the alias.
7.  Reply-To holds exactly the original senders (see :func:`expected_reply_to`), and every
    address Sesame wrote (From, Reply-To, a DSN's To) is a usable addr-spec.
8.  Nothing lost: every usable To and Cc address of every input To/Cc field is in the
    output's single To/Cc; Subject, Date, Message-ID, In-Reply-To, References survive; the
    first Content-Type keeps its media type and boundary (the body's MIME structure).
9.  A DSN goes only to an authenticated sender of mail that is not bulk, list, auto-submitted,
    spam, virus or DMARC-failing (see :func:`bounce_forbidden`); at most one per message; its
    lines obey rule 3; its To is the envelope sender; it quotes at most the original header
    block (no body byte), at most ``DSN_QUOTE_LIMIT`` octets of it.

Budgets: a forwarder may give up on the absurd parts of a message (comments nested over 32
deep, a field over 32 KB, a Message-ID over 500 characters, addresses past the 1,000th of a
field, a Date or threading field holding a word longer than a line may be), as ``hostile.py``
documents with its sources; there the facts become optional. Within the budgets every fact is
required.

Profiles: the default (CI) runs a modest, derandomized set; ``SESAME_FUZZ=long`` (``make
fuzz``) runs many more examples with larger sizes and a saved example database.
"""

from __future__ import annotations

import dataclasses

import email
import email.parser
import email.policy
import os
import re
from collections import Counter
from datetime import UTC, datetime

import pytest
from addrspec import (
    AddressSyntaxError,
    is_usable,
    read_address_list,
    read_address_list_leniently,
)
from fakes import MemoryStore, RecordingSender
from hostile import (
    BUDGET_ADDRESSES,
    LONG,
    Addresses,
    Envelope,
    Field,
    HostileMessage,
    address_field,
    hostile_messages,
    message_from_fields,
)
from hypothesis import HealthCheck, currently_in_test_context, event, given, settings
from hypothesis import strategies as st

from sesame.core.alias_config import parse_aliases_toml
from sesame.core.event import InboundMail, Verdicts
from sesame.core.forward import Forwarder
from sesame.core.outcome import MessageReport
from sesame.core.rewrite import SINGLE_INSTANCE, RewriteOptions, rewrite_bytes
from sesame.core.settings import Settings

settings.register_profile(
    "fuzz-ci",
    max_examples=120,
    deadline=None,
    derandomize=True,  # the same examples on every CI run: a failure here is never a fluke
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)
settings.register_profile(
    "fuzz-long",
    max_examples=int(os.environ.get("SESAME_FUZZ_EXAMPLES", "150")),  # per test; about a minute for all
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
    print_blob=True,
)
PROFILE = settings.get_profile("fuzz-long" if LONG else "fuzz-ci")

MARKER = "x-sesame-forwarded-for"
ADDED_BY_SESAME = {"from", "reply-to", MARKER}
# README, "What the forwarder changes": removed fields, and every X-SES-* field.
REMOVED = {"dkim-signature", "domainkey-signature", "return-path", "sender", "bcc"}
# Fields that may appear once: SES's list (SES developer guide, "Amazon SES header fields",
# kept in sesame.core.rewrite) and RFC 5322 section 3.6's table, which Gmail enforces.
RFC5322_ONCE = {"date", "from", "sender", "reply-to", "to", "cc", "bcc", "message-id", "in-reply-to", "references", "subject"}
ONCE = frozenset(SINGLE_INSTANCE) | RFC5322_ONCE
SURVIVING = ("subject", "date", "message-id", "in-reply-to", "references")
MAX_LINE = 998  # RFC 5322 section 2.1.1
# How much of the original a DSN may quote: Postfix's bounce_size_limit is 50,000 octets of
# original text; 64 KiB leaves room for a different rounding, and is still far from 40 MB.
DSN_QUOTE_LIMIT = 64 * 1024
FIELD_START = re.compile(rb"[\x21-\x39\x3b-\x7e]+:")
BODY_SENTINEL = b"BODY-SENTINEL-7f3a"

ALIASES = parse_aliases_toml(
    """
[domains]
"example.net" = "example.com"

[aliases]
"john@example.com" = ["john.doe@gmail.example", "john@work.example"]
"team@example.com" = ["john@example.com", "ann@example.org"]
"ann@example.com" = ["ann@example.org"]
"old@example.com" = { to = ["x@old.example"], enabled = false }
"@catchall.example" = ["catch@gmail.example"]
"""
).table
# Envelope recipients: aliases, a group, a domain alias with a tag, a disabled alias, an
# unknown address, a catch-all, and addresses SES would hand over as they came.
RECIPIENTS = [
    "john@example.com", "team@example.com", "john+news@example.net", "ann@example.com", "old@example.com",
    "nobody@example.com", "anyone@catchall.example", "J\u00f6rg@catchall.example", '"quoted local"@catchall.example',
]
recipient_lists = st.lists(st.sampled_from(RECIPIENTS), min_size=1, max_size=5, unique=True)
# At least one recipient that bounces (unknown), so a DSN is always considered.
bouncing_recipient_lists = recipient_lists.map(lambda rs: ["nobody@example.com", *[r for r in rs if r != "nobody@example.com"]])
RECEIVED_AT = datetime(2026, 11, 20, 9, 15, tzinfo=UTC)


# --- reading Sesame's output ------------------------------------------------------------------------


class Output:
    """One message Sesame sent, split by the plain rules: the header block ends at the first
    empty line; a line starting with SP or HT continues the field before it."""

    def __init__(self, data: bytes, body: bytes) -> None:
        assert data.endswith(body), "body: the output does not end with the input body"
        self.data = data
        self.body = body
        self.head = data[: len(data) - len(body)]
        if self.head.endswith(b"\r\n\r\n"):
            self.eol = b"\r\n"
        elif self.head.endswith(b"\n\n") and not self.head.endswith(b"\r\n\n"):
            self.eol = b"\n"
        else:
            raise AssertionError(f"body: no blank line right before the body: {self.head[-12:]!r}")
        self.lines = self.head[: -2 * len(self.eol)].split(self.eol) if len(self.head) > 2 * len(self.eol) else []
        self.fields: list[tuple[str, bytes]] = []  # (lower-cased name, unfolded value)
        for line in self.lines:
            if line[:1] in (b" ", b"\t") and self.fields:
                name, value = self.fields[-1]
                self.fields[-1] = (name, value + line)
            elif (match := FIELD_START.match(line)) is not None:
                self.fields.append((line[: match.end() - 1].decode().lower(), line[match.end() :]))

    def names(self) -> list[str]:
        return [name for name, _ in self.fields]

    def values(self, name: str) -> list[str]:
        return [value.decode("ascii").strip() for n, value in self.fields if n == name]

    def single(self, name: str) -> str | None:
        values = self.values(name)
        assert len(values) <= 1, f"once-only: {len(values)} {name} fields"
        return values[0] if values else None


def check_lines(out: Output, first_eol: bytes | None) -> None:
    """Rule 3: the header block's lines."""
    assert out.lines, "lines: empty header block"
    allowed = {b"\r\n", first_eol} if first_eol else {b"\r\n"}
    assert out.eol in allowed, f"lines: line ending {out.eol!r}, the input's was {first_eol!r}"
    if out.eol == b"\n":
        assert b"\r" not in out.head, "lines: CR in an LF header block"
    for number, line in enumerate(out.lines):
        shown = line[:80]
        assert len(line) <= MAX_LINE, f"lines: line {number} has {len(line)} octets: {shown!r}"
        assert line.isascii(), f"lines: 8-bit line {number}: {shown!r}"
        assert not set(line) & {0, 0x0A, 0x0D}, f"lines: NUL, CR or LF in line {number}: {shown!r}"
        assert line.strip(b" \t"), f"lines: whitespace-only line {number} (some readers end the header block there)"
        if line[:1] in (b" ", b"\t"):
            assert number > 0, "lines: the first line is a continuation"
        else:
            assert FIELD_START.match(line), f"lines: line {number} starts no field: {shown!r}"


def check_standard_reader(out: Output) -> email.message.EmailMessage:
    """Rule 4: the email package sees the same fields and the same body."""
    try:
        message = email.message_from_bytes(out.data, policy=email.policy.default)
    except RecursionError:  # the parser reads Content-Type while it parses
        raise AssertionError("reader: the email package raises RecursionError on the output") from None
    keys = [k.lower() for k in message.keys()]
    assert Counter(keys) == Counter(out.names()), f"reader: email package sees {sorted(keys)}, plain split {sorted(out.names())}"
    probe = b"SESAME-PROBE-BODY" + out.eol
    head_only = email.parser.BytesParser(policy=email.policy.default).parsebytes(out.head + probe, headersonly=True)
    assert head_only.get_payload() == probe.decode(), "reader: the email package puts the body elsewhere"
    assert not [d for d in head_only.defects if "Separator" in type(d).__name__ or "Continuation" in type(d).__name__]
    return message


def strict_addresses(value: str, where: str) -> list[str]:
    """The addresses of a field Sesame wrote: it must read strictly and every address be usable."""
    try:
        mailboxes = read_address_list(value)
    except AddressSyntaxError as exc:
        raise AssertionError(f"addresses: {where} is no valid address list ({exc}): {value[:200]!r}") from None
    unusable = [m.addr for m in mailboxes if not is_usable(m)]
    assert not unusable, f"addresses: {where} holds unusable addresses {unusable[:5]}"
    return [m.addr for m in mailboxes]


def expected_reply_to(message: HostileMessage) -> list[tuple[frozenset[str], frozenset[str]]]:
    """The Reply-To a correct forwarder writes, as alternatives ``(required, allowed)``: the
    output's Reply-To addresses ``S`` must satisfy ``required <= S <= allowed`` for one of
    them, with ``S`` empty (no Reply-To at all) only for an alternative whose ``allowed`` is
    empty.

    In order: the first Reply-To field holding a usable address gives its usable addresses
    (the first copy wins, as for every once-only field); without one, the first From field's
    usable addresses; without those, the envelope sender when it is a usable address;
    otherwise no Reply-To. A field whose addresses are only *optional* (malformed near them)
    may count or not: both alternatives are listed.
    """
    alternatives: list[tuple[frozenset[str], frozenset[str]]] = []
    candidates = [f for f in message.all("Reply-To")] + message.all("From")[:1]
    for f in candidates:
        facts = message.facts(f) or Addresses()
        if facts.required:
            alternatives.append((frozenset(facts.required), frozenset(facts.required + facts.optional)))
            return alternatives
        if facts.optional:
            alternatives.append((frozenset(), frozenset(facts.optional)))
    if message.envelope.usable:
        sender = frozenset({envelope_addr(message.envelope)})
        alternatives.append((sender, sender))
        return alternatives
    alternatives.append((frozenset(), frozenset()))
    return alternatives


def envelope_addr(envelope: Envelope) -> str:
    """The envelope sender as an addr-spec in canonical form (domain lower-cased)."""
    local, _, domain = envelope.sender.rpartition("@")
    return f"{local}@{domain.lower()}"


def check_reply_to(out: Output, message: HostileMessage) -> None:
    """Rule 7 for Reply-To (the envelope sender is compared case-insensitively)."""
    value = out.single("reply-to")
    found = frozenset(strict_addresses(value, "Reply-To")) if value is not None else frozenset()
    if value is not None:
        assert found, f"reply-to: a Reply-To with no address: {value[:200]!r}"
    alternatives = expected_reply_to(message)
    for required, allowed in alternatives:
        if not allowed and not found:
            return
        if allowed and found and required <= found <= allowed:
            return
    raise AssertionError(
        f"reply-to: holds {sorted(found)[:10]} ({len(found)}), expected one of "
        + "; ".join(f"required {sorted(r)[:5]} allowed {sorted(a)[:5]} ({len(a)})" for r, a in alternatives)
    )


def check_from(out: Output, message: HostileMessage, alias: str, reread: email.message.EmailMessage) -> None:
    """Rule 6."""
    assert out.names().count("from") == 1, f"from: {out.names().count('from')} From fields"
    value = out.single("from")
    assert value is not None
    addresses = strict_addresses(value, "From")
    assert len(addresses) == 1, f"from: {len(addresses)} addresses in From"
    address = addresses[0].lower()
    assert address == alias.lower(), f"from: address {address!r}, expected the alias {alias!r}"
    assert address.rpartition("@")[2] == alias.rpartition("@")[2].lower()
    assert alias.lower() in [v.lower() for v in out.values(MARKER)], f"marker: no {MARKER} naming {alias}"
    first = message.first("From")
    facts = message.facts(first) if first is not None else None
    if facts is not None and facts.required and not facts.optional:
        sender = facts.required[0]
        # Quotes may be shown as apostrophes (a display name cannot hold them), so neither counts.
        plain = lambda text: "".join(ch for ch in text.lower() if ch not in " '\"\\")  # noqa: E731
        display = reread["From"].addresses[0].display_name
        if "\\" not in sender:  # a backslash may be shown as another character
            assert plain(sender) in plain(display), f"from: display name {display!r} does not name {sender}"


def check_fields(out: Output, message: HostileMessage) -> None:
    """Rules 5 and 8."""
    names = out.names()
    extra = set(names) - message.names - ADDED_BY_SESAME
    assert not extra, f"new-field: {sorted(extra)} not in the input"
    removed = [n for n in names if n in REMOVED or n.startswith("x-ses-")]
    assert not removed, f"removed: {removed} still there"
    counts = Counter(names)
    duplicated = sorted(n for n in ONCE if counts[n] > 1)
    assert not duplicated, f"once-only: duplicated {duplicated}"
    for name in SURVIVING:
        if any(not f.over_budget or name == "subject" for f in message.all(name)):
            assert name in counts, f"lost: {name} was in the input"
    for name in ("to", "cc"):
        in_order = [a for f in message.all(name) for a in (message.facts(f) or Addresses()).required]
        required = set(in_order[:BUDGET_ADDRESSES])
        if not required:
            continue
        value = out.single(name)
        assert value is not None, f"lost: no {name} in the output ({len(required)} addresses in the input)"
        kept = {m.addr for m in read_address_list_leniently(value)}
        lost = required - kept
        assert not lost, f"lost: {len(lost)} of {len(required)} {name} addresses, e.g. {sorted(lost)[:3]}"


def check_content_type(message: HostileMessage, reread: email.message.EmailMessage) -> None:
    first = message.first("Content-Type")
    if first is None or first.content_type is None:
        return
    media, boundary = first.content_type
    assert reread.get_content_type() == media, f"content-type: {reread.get_content_type()!r}, input {media!r}: {reread['Content-Type']!r}"
    assert reread.get_param("boundary") == boundary, f"content-type: boundary {reread.get_param('boundary')!r}, input {boundary!r}"


def check_forwarded(data: bytes, message: HostileMessage, alias: str) -> None:
    """Every rule for one forwarded copy."""
    out = Output(data, message.body)
    check_lines(out, message.first_eol)
    reread = check_standard_reader(out)
    check_fields(out, message)
    check_from(out, message, alias, reread)
    check_reply_to(out, message)
    check_content_type(message, reread)


# --- bounces -------------------------------------------------------------------------------------


def _normalized(value: bytes) -> str:
    text = value.decode("latin-1")
    while (stripped := re.sub(r"\([^()]*\)", "", text)) != text:
        text = stripped
    return text.strip().lower()


def _organization(domain: str) -> str:
    return ".".join(domain.lower().split(".")[-2:])


def bounce_forbidden(message: HostileMessage) -> str | None:
    """Why no DSN may be sent for ``message``, or None (necessary conditions only).

    A DSN goes to the envelope sender, so it must be one that authenticated: SPF PASS (SPF
    checks the envelope domain), or DMARC PASS with the From domain in the same organization
    as the envelope domain. DKIM PASS alone is not enough: SES does not say which domain
    signed, and anyone can sign with their own domain while forging the envelope. Never to an
    unusable or daemon sender; never for spam, virus or DMARC-failing mail; never for mail
    that is auto-submitted (any Auto-Submitted but ``no``), from a list (List-Id) or bulk
    (Precedence bulk, junk or list).
    """
    envelope = message.envelope
    if not envelope.usable:
        return "unusable envelope sender"
    local, _, domain = envelope.sender.rpartition("@")
    if local.lower() in ("mailer-daemon", "postmaster"):
        return "daemon sender"
    if envelope.spam == "FAIL" or envelope.virus == "FAIL":
        return "spam or virus"
    if envelope.dmarc == "FAIL":
        return "DMARC failed"
    first = message.first("From")
    from_domains = {a.rpartition("@")[2] for a in ((message.facts(first) or Addresses()).required if first else ())}
    aligned = any(_organization(d) == _organization(domain) for d in from_domains)
    if envelope.spf != "PASS" and not (envelope.dmarc == "PASS" and aligned):
        return "sender not authenticated"
    if any(_normalized(f.value) != "no" for f in message.all("Auto-Submitted")):
        return "auto-submitted"
    if message.all("List-Id"):
        return "list mail"
    if any(_normalized(f.value) in ("bulk", "junk", "list") for f in message.all("Precedence")):
        return "bulk mail"
    return None


def check_dsn(data: bytes, destinations: tuple[str, ...], message: HostileMessage, bounced: list[str]) -> None:
    """Rule 9 for one DSN."""
    forbidden = bounce_forbidden(message)
    assert forbidden is None, f"backscatter: a DSN was sent although {forbidden} ({message.envelope})"
    assert destinations in ((message.envelope.sender,), (envelope_addr(message.envelope),)), f"dsn: sent to {destinations}"
    for number, line in enumerate(data.split(b"\r\n")):
        assert len(line) <= MAX_LINE, f"dsn-lines: line {number} has {len(line)} octets: {line[:80]!r}"
        assert line.isascii() and b"\n" not in line and b"\r" not in line and b"\x00" not in line, f"dsn-lines: line {number}: {line[:80]!r}"
    head, separator, _ = data.partition(b"\r\n\r\n")
    assert separator, "dsn: no blank line after the header block"
    out = Output(data, data[len(head) + 4 :])
    check_lines(out, b"\r\n")
    reread = check_standard_reader(out)
    counts = Counter(out.names())
    assert not sorted(n for n in ONCE if counts[n] > 1), f"dsn: duplicated fields {counts}"
    to = strict_addresses(out.single("to") or "", "the DSN's To")
    assert to == [envelope_addr(message.envelope)], f"dsn: To is {to}, not the envelope sender"
    (sender,) = strict_addresses(out.single("from") or "", "the DSN's From")
    assert sender.rpartition("@")[2] in {r.rpartition("@")[2].lower() for r in bounced}, f"dsn: From {sender} not on a bounced recipient's domain"
    if BODY_SENTINEL in message.body:
        assert BODY_SENTINEL not in data, "dsn: quotes the body"
    for part in reread.walk():
        if part.get_content_type() == "text/rfc822-headers":
            quoted = part.get_payload(decode=True) or b""
            assert len(quoted) <= DSN_QUOTE_LIMIT, f"dsn: quotes {len(quoted)} octets of the original"
            names = {m.group(0)[:-1].decode().lower() for line in quoted.splitlines() if (m := FIELD_START.match(line))}
            assert names <= message.names | {"x-sesame-forwarded-for"}, f"dsn: quotes fields the header block did not have: {names - message.names}"


# --- running the forward path ----------------------------------------------------------------------


def inbound(message: HostileMessage, recipients: list[str]) -> InboundMail:
    """The SES event for ``message`` as the core sees it: commonHeaders and the header list
    hold the decoded field values, as SES reports them."""
    envelope = message.envelope
    text = lambda f: f.value.decode("utf-8", "replace").strip()  # noqa: E731
    return InboundMail(
        message_id="fuzzmessage0001",
        source=envelope.sender,
        timestamp=RECEIVED_AT,
        recipients=tuple(recipients),
        header_from=tuple(text(f) for f in message.all("From")),
        header_to=tuple(text(f) for f in message.all("To")),
        subject=text(message.first("Subject")) if message.first("Subject") else None,
        verdicts=Verdicts(envelope.spam, envelope.virus, envelope.spf, envelope.dkim, envelope.dmarc, envelope.dmarc_policy),
        headers=tuple((f.name, text(f)) for f in message.fields[:200]),
    )


def forward(message: HostileMessage, recipients: list[str]) -> None:
    """Rules 1-9 for everything ``Forwarder.handle`` sends for ``message``."""
    sender = RecordingSender()
    forwarder = Forwarder(MemoryStore({"fuzzmessage0001": message.raw}), sender, Settings(), clock=lambda: RECEIVED_AT)
    report = forwarder.handle(inbound(message, recipients), ALIASES)
    check_report(report, sender, message, recipients)


def check_report(report: MessageReport, sender: RecordingSender, message: HostileMessage, recipients: list[str]) -> None:
    """Rules 1-9 for one message's report and for everything ``sender`` recorded for it."""
    assert len(report.outcomes) == len(recipients), f"outcomes: {len(report.outcomes)} for {len(recipients)} recipients"
    # The forwarder's safety net turns an exception in the core into a failed outcome; for a
    # fuzzer that is still a crash on hostile input, and the message was not forwarded.
    crashed = [o.detail for o in report.outcomes if o.status == "failed" and o.reason == "unprocessable-message"]
    assert not crashed, f"crash: the core raised on this message: {crashed[0]}"
    by_id = {f"ses-{i + 1}": sent for i, sent in enumerate(sender.sent)}
    accounted: set[str] = set()
    bounced = [o for o in report.outcomes if o.status == "bounced"]
    for outcome in report.outcomes:
        if outcome.status in ("forwarded", "failed") and outcome.ses_message_ids:
            for ses_id in outcome.ses_message_ids:
                data, _, _ = by_id[ses_id]
                check_forwarded(data, message, outcome.recipient)
                accounted.add(ses_id)
    dsn_ids = {i for o in bounced for i in o.ses_message_ids}
    assert len(dsn_ids) <= 1, f"dsn: {len(dsn_ids)} DSNs for one message"
    for ses_id in dsn_ids:
        data, destinations, _ = by_id[ses_id]
        check_dsn(data, destinations, message, [o.recipient for o in bounced])
        accounted.add(ses_id)
    assert accounted == set(by_id), f"outcomes: sends {sorted(set(by_id) - accounted)} are in no outcome"
    if currently_in_test_context():  # what was exercised (--hypothesis-show-statistics)
        event("outcomes: " + ", ".join(sorted({f"{o.status}/{o.reason}" for o in report.outcomes})))
        event("a DSN was sent" if dsn_ids else "no DSN")


# --- the properties ------------------------------------------------------------------------------


@PROFILE
@given(hostile_messages)
def test_rewrite_of_hostile_mail_keeps_every_invariant(message: HostileMessage) -> None:
    """GIVEN any hostile message WHEN it is rewritten for one alias THEN rules 2-8 hold."""
    alias = "john@example.com"
    options = RewriteOptions(alias=alias, from_address=alias, envelope_sender=message.envelope.sender)
    check_forwarded(rewrite_bytes(message.raw, options).to_bytes(), message, alias)


@PROFILE
@given(hostile_messages, recipient_lists)
def test_forwarder_turns_hostile_mail_into_outcomes_and_clean_copies(message: HostileMessage, recipients: list[str]) -> None:
    """GIVEN any hostile message to several aliases WHEN the forwarder handles it THEN every
    recipient has an outcome and every copy and DSN sent keeps rules 1-9."""
    forward(message, recipients)


@PROFILE
@given(hostile_messages, bouncing_recipient_lists)
def test_bounce_goes_only_to_an_authenticated_sender(message: HostileMessage, recipients: list[str]) -> None:
    """GIVEN any hostile message to an unknown address (and maybe aliases) WHEN the forwarder
    handles it THEN a DSN goes out only when rule 9 allows it, and it keeps rule 9."""
    forward(message, recipients)


@settings(PROFILE, max_examples=min(PROFILE.max_examples, 50))
@given(hostile_messages)
def test_the_oracle_reads_its_own_address_fields(message: HostileMessage) -> None:
    """GIVEN a generated message THEN the tolerant reader finds, in every address field the
    grammar wrote cleanly, exactly its required addresses (so the oracle above is sound)."""
    for f in message.fields:
        if f.addresses is None or f.addresses.optional:
            continue
        text = f.value.decode("utf-8", "surrogateescape")
        found = [m.addr for m in read_address_list_leniently(text) if is_usable(m)]
        assert found == list(f.addresses.required)


# --- the findings, one reproducer each ------------------------------------------------------------

GOOD = Envelope("jane@sender.example", True)
FORGED = Envelope("victim@innocent.example", True, spf="FAIL", dkim="FAIL", dmarc="FAIL", dmarc_policy="none")


def _nested(depth: int, spaced: bool = False) -> bytes:
    return (b"( " if spaced else b"(") * depth + b"a" + (b" )" if spaced else b")") * depth


# 510 fields of 1 KB: what comes after them lies past Gmail's 500 KB header-block limit.
PAST_500_KB = [Field(f"X-Pad-{i}", b" " + b"p" * 990) for i in range(510)]


def _thousand_addresses(tag: str) -> tuple[bytes, tuple[str, ...]]:
    """1,000 addresses on one 36 KB line: over the 32 KB a single field may have, which To
    and Cc are exempt from."""
    addresses = tuple(f"{tag}{i:04d}-recipient@bulk{i % 7}.mail.example" for i in range(1000))
    return b" " + ", ".join(addresses).encode(), addresses


def _across_the_block_limit(name: str, count: int) -> list[Field]:
    """Padding, then an address field of ``count`` addresses folded one a line that starts
    before the 500 KB read budget and ends after it (the failing example's shape)."""
    addresses = tuple(f"a{i}@bulk{i % 7}.example" for i in range(count))
    field = address_field(name, b" " + b", ".join(a.encode() for a in addresses), addresses, fold="spaces")
    pad = [Field(f"X-Pad-{i}", b" " + b"p" * 990) for i in range(495)]  # 1,003 octets a field with CRLF
    return [*pad, field]


REPRODUCERS: dict[str, tuple[HostileMessage, list[str]]] = {
    "1-nested-comments-in-from": (
        message_from_fields([address_field("From", b" " + _nested(600) + b" <jane@sender.example>", ("jane@sender.example",))]),
        ["john@example.com"],
    ),
    "1-nested-comments-in-from-folded": (
        message_from_fields(
            [address_field("From", b" " + _nested(600, spaced=True) + b" <jane@sender.example>", ("jane@sender.example",), fold="spaces")]
        ),
        ["john@example.com"],
    ),
    "1-nested-comments-in-reply-to": (
        message_from_fields(
            [
                address_field("From", b" Jane <jane@sender.example>", ("jane@sender.example",)),
                address_field("Reply-To", b" " + _nested(600) + b" <replies@sender.example>", ("replies@sender.example",)),
            ]
        ),
        ["john@example.com"],
    ),
    "3-no-dsn-to-a-forged-sender": (
        message_from_fields([address_field("From", b" <victim@innocent.example>", ("victim@innocent.example",))], envelope=FORGED),
        ["nobody@example.com"],
    ),
    "3-no-dsn-for-dmarc-reject": (
        message_from_fields(
            [address_field("From", b" <ceo@bank.example>", ("ceo@bank.example",))],
            envelope=Envelope("jane@sender.example", True, dmarc="FAIL", dmarc_policy="reject"),
        ),
        ["john@example.com"],
    ),
    "3-no-dsn-for-list-mail": (
        message_from_fields(
            [address_field("From", b" <news@sender.example>", ("news@sender.example",)), Field("List-Id", b" <news.sender.example>")]
        ),
        ["nobody@example.com"],
    ),
    "3-no-dsn-for-bulk-mail": (
        message_from_fields([address_field("From", b" <news@sender.example>", ("news@sender.example",)), Field("Precedence", b" bulk")]),
        ["nobody@example.com"],
    ),
    "4-nul-line-is-body-not-a-header": (
        message_from_fields(
            [address_field("From", b" <jane@sender.example>", ("jane@sender.example",)), Field("Subject", b" hi")],
            body=b"\x00Content-Type: text/html\r\n\r\n<b>body</b>\r\n",
            separator="missing",
        ),
        ["john@example.com"],
    ),
    "4-nul-in-name-is-body-not-a-header": (
        message_from_fields(
            [address_field("From", b" <jane@sender.example>", ("jane@sender.example",))],
            body=b"T\x00o: hidden@evil.example\r\nBcc: hidden@evil.example\r\n\r\nbody\r\n",
            separator="missing",
        ),
        ["john@example.com"],
    ),
    "5-dsn-quoting-a-long-header-line": (
        message_from_fields(
            [address_field("From", b" <jane@sender.example>", ("jane@sender.example",)), Field("X-Long", b" " + b"x" * 2000)]
        ),
        ["nobody@example.com"],
    ),
    "6-reply-to-encoded-crlf-and-8bit": (
        message_from_fields(
            [
                address_field("From", b" <jane@sender.example>", ("jane@sender.example",)),
                address_field("Reply-To", b" =?utf-8?q?J=C3=B6rg=0D=0ABcc:_x@evil.example?= \xc3\xa4 <r@sender.example>", ("r@sender.example",)),
            ]
        ),
        ["john@example.com"],
    ),
    "6-reply-to-invalid-addresses": (
        message_from_fields(
            [
                address_field("From", b" <jane@sender.example>", ("jane@sender.example",)),
                address_field("Reply-To", b" .@M, a@=, a@., <ok@sender.example>", ("ok@sender.example",)),
            ]
        ),
        ["john@example.com"],
    ),
    "6-reply-to-only-invalid-addresses": (
        message_from_fields(
            [address_field("From", b" <jane@sender.example>", ("jane@sender.example",)), address_field("Reply-To", b" .@M, a@=, a@.")]
        ),
        ["john@example.com"],
    ),
    "6-8bit-content-type-keeps-its-type": (
        message_from_fields(
            [
                address_field("From", b" <jane@sender.example>", ("jane@sender.example",)),
                Field("Content-Type", b' multipart/mixed; boundary="b1"; name="\xc3\xa4.txt"', content_type=("multipart/mixed", "b1")),
            ],
            body=b"--b1\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b1--\r\n",
        ),
        ["john@example.com"],
    ),
    "7-non-ascii-recipient": (
        message_from_fields([address_field("From", b" <jane@sender.example>", ("jane@sender.example",))]),
        ["J\u00f6rg@catchall.example", "john@example.com"],
    ),
    "7-crlf-in-envelope-sender": (
        message_from_fields(
            [address_field("From", b" <jane@sender.example>", ("jane@sender.example",))],
            envelope=Envelope("jane@sender.example\r\nBcc: x@evil.example", False),
        ),
        ["nobody@example.com", "john@example.com"],
    ),
    "8-duplicate-to-and-cc-are-merged": (
        message_from_fields(
            [
                address_field("From", b" <jane@sender.example>", ("jane@sender.example",)),
                address_field("To", b" a@one.example", ("a@one.example",)),
                address_field("To", b" B <b@two.example>, c@two.example", ("b@two.example", "c@two.example")),
                address_field("Cc", b" d@three.example", ("d@three.example",)),
                address_field("Cc", b" e@three.example", ("e@three.example",)),
            ]
        ),
        ["john@example.com", "team@example.com"],
    ),
    "8-merging-keeps-addresses-after-an-unclosed-comment": (
        message_from_fields(
            [
                address_field("From", b" <jane@sender.example>", ("jane@sender.example",)),
                address_field("Cc", b" (unclosed comment,"),
                address_field("Cc", b" a0@bulk0.example", ("a0@bulk0.example",)),
            ]
        ),
        ["john@example.com"],
    ),
    "8-merging-keeps-addresses-after-an-unclosed-quote": (
        message_from_fields(
            [
                address_field("From", b" <jane@sender.example>", ("jane@sender.example",)),
                address_field("To", b' "unclosed'),
                address_field("To", b" a0@bulk0.example", ("a0@bulk0.example",)),
            ]
        ),
        ["john@example.com"],
    ),
    "8-a-dropped-first-copy-leaves-the-second": (
        message_from_fields(
            [
                address_field("From", b" <jane@sender.example>", ("jane@sender.example",)),
                Field("Message-ID", b" " + b"x" * 990),
                Field("Message-ID", b" <second@sender.example>"),
            ]
        ),
        ["john@example.com"],
    ),
    "1-nested-comments-in-content-type": (
        message_from_fields(
            [
                address_field("From", b" <jane@sender.example>", ("jane@sender.example",)),
                Field("Content-Type", b" " + _nested(400) + b" text/plain"),
            ]
        ),
        ["john@example.com"],
    ),
    "6-oversized-reply-to-is-cut-between-addresses": (
        message_from_fields(
            [
                address_field("From", b" <jane@sender.example>", ("jane@sender.example",)),
                address_field(
                    "Reply-To",
                    b" " + b", ".join(b"=?utf-8?q?J=C3=B6rg_%d?= <q%d@bulk.example>" % (i, i) for i in range(700)),
                    tuple(f"q{i}@bulk.example" for i in range(700)),
                    fold="width",
                ),
            ]
        ),
        ["john@example.com"],
    ),
    "budget-subject-past-the-block-limit-is-shortened-not-dropped": (
        message_from_fields(
            [address_field("From", b" <jane@sender.example>", ("jane@sender.example",)), *PAST_500_KB, Field("Subject", b" word" * 8000)]
        ),
        ["john@example.com"],
    ),
    "budget-usable-reply-to-past-the-block-limit-still-wins": (
        message_from_fields(
            [
                address_field("From", b" <jane@sender.example>", ("jane@sender.example",)),
                address_field("Reply-To", b" " + _nested(40) + b" <deep@sender.example>", (), ("deep@sender.example",)),
                *PAST_500_KB,
                address_field("Reply-To", b" <replies@sender.example>", ("replies@sender.example",)),
            ]
        ),
        ["john@example.com"],
    ),
    "budget-a-dropped-field-before-an-oversized-from-keeps-the-reply-to": (
        message_from_fields(
            [
                Field("X-A", b" " + b"x" * 33_000),
                address_field("From", b" " + b"a@b.example, " * 2600, (), ("a@b.example",)),
                address_field("Reply-To", b" <x@b.example>", ("x@b.example",)),
            ]
        ),
        ["john@example.com"],
    ),
    # Found by the derandomized run when other test modules were collected first.
    "3-precedence-list-behind-a-comment-is-still-bulk": (
        message_from_fields([Field("PRECEDENCE", b" (c) list"), Field("AUTO-SUBMITTED", b" no")]),
        ["nobody@example.com", "john@example.com"],
    ),
    "6-reply-to-with-an-unclosed-angle-is-written-again": (
        message_from_fields([address_field("REPLY-TO", b" 0@0.EXAMPLE,undisclosed-recipients:;,<unclosed@angle.example",
                                           ("0@0.example",), ("unclosed@angle.example",))]),
        ["nobody@example.com", "john@example.com"],
    ),
    "6-reply-to-with-a-backslash-before-the-angle-is-written-again": (
        message_from_fields([address_field("Reply-To", b" \\<0@0.EXAMPLE>", ("0@0.example",))]),
        ["john@example.com"],
    ),
    "6-reply-to-with-a-stray-closing-angle-is-written-again": (
        message_from_fields([address_field("Reply-To", b" ><0@0.EXAMPLE>", ("0@0.example",))]),
        ["john@example.com"],
    ),
    # Found by `SESAME_FUZZ_EXAMPLES=800 make fuzz`.
    "4-a-first-line-from-with-space-before-the-colon-is-the-from-field-not-an-mbox-line": (
        message_from_fields([
            dataclasses.replace(address_field("From", b" a0@bulk0.example", ("a0@bulk0.example",)), before_colon=b" "),
            Field("Subject", b" x"),
            address_field("FROM", b" a0@bulk0.example, a1@bulk1.example", ("a0@bulk0.example", "a1@bulk1.example")),
        ]),
        ["john@example.com"],
    ),
    "1-deep-comments-behind-a-backslash-quote-in-from": (
        message_from_fields([address_field(
            "FROM", b' "unclosed quote,0@0.EXAMPLE,undisclosed-recipients:"\\""@0.EXAMPLE,0@0.EXAMPLE '
            + _nested(33) + b" ;", (), ("0@0.example",))]),
        ["john@example.com"],
    ),
    "6-addresses-inside-deep-comments-behind-a-backslash-quote-never-become-reply-to": (
        message_from_fields([address_field(
            "FROM", b' "unclosed quote,0@0.EXAMPLE,undisclosed-recipients:"\\""@0.EXAMPLE,0@0.EXAMPLE '
            + b"(" * 33 + b"a@evil.example, <b@evil.example>" + b")" * 33 + b" ;", (), ("0@0.example",))]),
        ["john@example.com"],
    ),
    "6-reply-to-with-a-stray-semicolon-is-written-again": (
        message_from_fields([address_field("Reply-To", b" ;<0@0.EXAMPLE>", ("0@0.example",))]),
        ["john@example.com"],
    ),
    # Found by `SESAME_FUZZ_EXAMPLES=1000 make fuzz`: a To or Cc over 32 KB found past the 500 KB
    # read budget was dropped whole, and a field straddling the budget lost its last lines.
    "budget-1000-to-addresses-past-the-block-limit": (
        message_from_fields(
            [address_field("From", b" <jane@sender.example>", ("jane@sender.example",)), *PAST_500_KB,
             address_field("To", *_thousand_addresses("t"))]
        ),
        ["john@example.com"],
    ),
    "budget-1000-cc-addresses-past-the-block-limit": (
        message_from_fields(
            [address_field("From", b" <jane@sender.example>", ("jane@sender.example",)), *PAST_500_KB,
             address_field("Cc", b" "), address_field("Cc", *_thousand_addresses("c"))]
        ),
        ["john@example.com"],
    ),
    "budget-825-cc-addresses-across-the-block-limit": (
        message_from_fields([address_field("From", b" <jane@sender.example>", ("jane@sender.example",)),
                             *_across_the_block_limit("Cc", 825)]),
        ["john@example.com", "team@example.com"],
    ),
    "6-from-display-names-the-first-usable-sender": (
        message_from_fields([address_field("From", b" .@M, c@d.example", ("c@d.example",))]),
        ["john@example.com"],
    ),
}


@pytest.mark.parametrize("case", sorted(REPRODUCERS))
def test_known_hostile_message_is_forwarded_cleanly(case: str) -> None:
    """GIVEN a message shaped like one of the known findings WHEN the forwarder handles it
    THEN every copy and DSN it sends keeps rules 1-9."""
    message, recipients = REPRODUCERS[case]
    forward(message, recipients)
