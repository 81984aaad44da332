"""Real mail nobody on this project wrote, through the whole forward path.

``fixtures/realworld/`` holds messages other projects ship in their test suites (CPython's
``email`` tests, flufl.bounce's bounces from the wild, talon's client replies, SpamAssassin's
samples; see the README there). Each is received as local mode receives mail: SES's trace
headers are put on top (``store_copy``), the Lambda event is built from that stored copy
(``build_event``) and read back by the forwarder's own event reader, and ``Forwarder``
handles it for an alias with two destinations, a group and an unknown address (so a DSN is
considered), with the in-memory store and sender. Everything sent must keep the rules the
hostile-mail oracle checks (``test_fuzz_forward``: lines, one line ending, the ``email``
package's reading, From, Reply-To, removed fields, body bytes, DSN shape and who may get
one), and the header block must stay within the documented limits.

The oracle needs each message's facts (its fields, body, addresses) from a reader that is not
Sesame's: :func:`facts_of` splits the header block by the plain rules the README states and
reads addresses with ``addrspec`` (strictly: the usable addresses of a field that parses are
required in the output; of a field that does not, only optional).

Each file runs twice: byte for byte as shipped (mostly LF line endings; local mode stores what
it is given), and as an MTA transmits it over SMTP (CRLF lines, no mbox ``From `` line, which
is the mailbox's envelope line, not part of the message).
"""

from __future__ import annotations

import email.parser
import email.policy
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from addrspec import AddressSyntaxError, is_usable, is_usable_addr, read_address_list, read_address_list_leniently
from conftest import seed_forwarder_aws
from fakes import MemoryStore, RecordingSender
from hostile import Addresses, Envelope, Field, HostileMessage
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends
from test_handler import Context  # the Lambda context stand-in
from test_fuzz_forward import Output, check_forwarded, check_report

from handle_email import app
from sesame import config
from sesame.core.alias_config import parse_aliases_toml
from sesame.core.event import parse_ses_event
from sesame.core.forward import Forwarder
from sesame.core.limits import MAX_FIELDS, MAX_HEADER_BLOCK
from sesame.core.settings import Settings
from sesame.local.receiving.event import build_event, parse_verdicts
from sesame.local.receiving.stored import Received, store_copy

CORPUS = Path(__file__).resolve().parent / "fixtures" / "realworld"
MESSAGES = sorted(p for p in CORPUS.glob("*/*") if p.suffix in (".txt", ".eml"))
# An alias with two destinations, a group (whose first member is that alias's address) and
# an address no alias covers: the forwarder sends two copies and considers one DSN.
ALIAS_CONFIG = parse_aliases_toml(
    """
[aliases]
"john@example.com" = ["john.doe@gmail.example", "john@work.example"]
"team@example.com" = ["john@example.com", "ann@example.org"]
"""
)
ALIASES = ALIAS_CONFIG.table
RECIPIENTS = ["john@example.com", "team@example.com", "nobody@example.com"]
RECEIVED_AT = datetime(2026, 11, 20, 9, 15, tzinfo=UTC)
MESSAGE_ID = "realworld0000000000000000000000000000001"  # SES's 40 [a-z0-9]
# What local mode reports unless told otherwise, and what SES reports for authenticated mail
# with scanning on: every verdict PASS (so a DSN may go to a usable envelope sender).
VERDICTS = parse_verdicts(())
FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:sesame-HandleEmailFunction"
ADDRESS_FIELDS = frozenset({"from", "reply-to", "to", "cc", "sender"})
NAME = re.compile(rb"([\x21-\x39\x3b-\x7e]+)([ \t]*):")
TOKEN = rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
MEDIA_TYPE = re.compile(rb"\s*(" + TOKEN + rb"/" + TOKEN + rb")\s*(;|$)")
BOUNDARY = re.compile(rb';\s*boundary\s*=\s*(?:"([^"\\\r\n]*)"|(' + TOKEN + rb"))\s*(?:;|$)", re.IGNORECASE)


def ident(path: Path) -> str:
    return f"{path.parent.name}/{path.name}"


# --- what a message says, read without Sesame --------------------------------------------------------


def as_transmitted(raw: bytes) -> bytes:
    """The message as an MTA sends it over SMTP: CRLF lines, and no mbox ``From `` line."""
    if raw.startswith(b"From "):
        raw = raw.partition(b"\n")[2]
    return re.sub(rb"\r?\n", b"\r\n", raw)


def _address_facts(value: bytes) -> Addresses:
    text = value.decode("utf-8", "surrogateescape")
    try:
        mailboxes = read_address_list(text)
    except AddressSyntaxError:
        return Addresses(optional=tuple(m.addr for m in read_address_list_leniently(text) if is_usable(m)))
    return Addresses(required=tuple(m.addr for m in mailboxes if is_usable(m)))


def _content_type(value: bytes) -> tuple[str, str | None] | None:
    """(media type, boundary) of a plainly written Content-Type; None when anything is odd."""
    match = MEDIA_TYPE.match(value)
    if match is None or b"(" in value or b"*" in value:
        return None
    boundaries = BOUNDARY.findall(value[match.start(2) :])
    if len(boundaries) > 1:
        return None
    boundary = (boundaries[0][0] or boundaries[0][1]).decode() if boundaries else None
    media = match.group(1).decode().lower()
    if media.startswith("multipart/") and boundary is None:
        return None
    return media, boundary


def facts_of(stored: bytes, envelope: Envelope) -> HostileMessage:
    """A received message's header fields, body and addresses, read by the README's rules: the
    header block ends at the first empty line, or at the first line that is neither a
    continuation (SP or HT first) nor ``name:`` with a printable-ASCII name; an mbox ``From ``
    line first and a ``:`` line with its continuations are no field."""
    lines = stored.splitlines(keepends=True)
    first_eol = b"\r\n" if lines and lines[0].endswith(b"\r\n") else b"\n"
    fields: list[tuple[bytes, bytes, list[bytes]]] = []  # name, before colon, value lines
    junk = 0
    position = 0
    body = b""
    in_junk = False
    for number, line in enumerate(lines):
        content = line.rstrip(b"\r\n") if line.endswith(b"\n") else line
        if number == 0 and line.startswith(b"From "):
            junk += 1
        elif line.endswith(b"\n") and content == b"":
            body = stored[position + len(line) :]
            break
        elif line[:1] in (b" ", b"\t"):
            if fields and not in_junk:
                fields[-1][2].append(line)
        elif line[:1] == b":":
            junk += 1
            in_junk = True
        elif (match := NAME.match(content)) is not None:
            fields.append((match.group(1), match.group(2), [content[match.end() :] + line[len(content) :]]))
            in_junk = False
        else:
            body = stored[position:]
            break
        position += len(line)
    made = []
    for name, before_colon, value_lines in fields:
        written = b"".join(value_lines)
        written = written[: -2 if written.endswith(b"\r\n") else -1 if written.endswith(b"\n") else len(written)]
        value = re.sub(rb"\r?\n", b"", written)
        key = name.decode().lower()
        made.append(
            Field(
                name.decode(),
                value,
                _address_facts(value) if key in ADDRESS_FIELDS else None,
                before_colon,
                content_type=_content_type(value) if key == "content-type" else None,
                raw_size=len(written),
            )
        )
    return HostileMessage(stored, tuple(made), body, first_eol, envelope, junk)


def envelope_sender(raw: bytes) -> str:
    """The MAIL FROM the message was sent with: its Return-Path (``<>``: the null
    reverse-path, as bounces have), else its first From address, else the null reverse-path."""
    facts = facts_of(raw, Envelope("", False))
    return_path = facts.first("Return-Path")
    if return_path is not None:
        text = return_path.value.decode("latin-1").strip()
        return text[1:-1].strip() if text.startswith("<") and text.endswith(">") else text
    sender = facts.first("From")
    found = (sender.facts() or Addresses()) if sender is not None else Addresses()
    return next(iter(found.required + found.optional), "")


# --- receiving, as local mode does -----------------------------------------------------------------


def receive(original: bytes) -> tuple[bytes, dict[str, Any], HostileMessage]:
    """The copy SES stores, the event its Lambda action hands over, and the stored copy's facts."""
    source = envelope_sender(original)
    received = Received(MESSAGE_ID, source, tuple(RECIPIENTS), "mail.sender.example", "192.0.2.7", RECEIVED_AT, original)
    stored = store_copy(received, VERDICTS, "us-east-1")
    event = build_event(received, RECIPIENTS, VERDICTS, FUNCTION_ARN)
    return stored, event, facts_of(stored, Envelope(source, is_usable_addr(source)))


def check_header_limits(data: bytes, body: bytes) -> None:
    """The README's limits on what is sent: a header block of at most 500,000 bytes and 5,000 fields."""
    out = Output(data, body)
    assert len(out.head) <= MAX_HEADER_BLOCK, f"limits: a {len(out.head)}-byte header block"
    assert len(out.fields) <= MAX_FIELDS, f"limits: {len(out.fields)} fields"


def header_defects(data: bytes) -> set[tuple[str, str]]:
    """The kinds of defect the ``email`` package finds in a header block (field name "") and
    in each field, by field name."""
    parsed = email.parser.BytesParser(policy=email.policy.default).parsebytes(data, headersonly=True)
    found = {("", type(d).__name__) for d in parsed.defects}
    for name, value in parsed.items():
        found |= {(name.lower(), type(d).__name__) for d in getattr(value, "defects", ())}
    return found


def check_no_new_defects(data: bytes, stored: bytes) -> None:
    """The ``email`` package finds no kind of header defect in a copy that it did not find in
    the stored message: whatever Sesame wrote reads cleanly."""
    added = header_defects(data) - header_defects(stored)
    assert not added, f"reader: defects Sesame introduced: {sorted(added)}"


def forward_real(original: bytes) -> tuple[list[Any], RecordingSender]:
    """Rules 1-9 and the header limits for everything the forwarder sends for ``original``."""
    stored, event, message = receive(original)
    (mail,) = parse_ses_event(event)
    sender = RecordingSender()
    forwarder = Forwarder(MemoryStore({MESSAGE_ID: stored}), sender, Settings(), clock=lambda: RECEIVED_AT)
    report = forwarder.handle(mail, ALIASES)
    assert [o.recipient for o in report.outcomes] == RECIPIENTS, "outcomes: not one per envelope recipient"
    check_report(report, sender, message, RECIPIENTS)
    bounced = {i for o in report.outcomes if o.status == "bounced" for i in o.ses_message_ids}
    for number, (data, _, _) in enumerate(sender.sent, 1):
        if f"ses-{number}" not in bounced:
            check_header_limits(data, message.body)
            check_no_new_defects(data, stored)
    return list(report.outcomes), sender


# --- the corpus -------------------------------------------------------------------------------------


def test_the_corpus_is_there_and_varied() -> None:
    """GIVEN the vendored corpus THEN it holds over a hundred messages from each source named."""
    by_source = {p.parent.name for p in MESSAGES}
    assert len(MESSAGES) >= 100
    assert by_source == {"cpython", "flufl-bounce", "talon", "spamassassin"}


@pytest.mark.parametrize("path", MESSAGES, ids=ident)
@pytest.mark.parametrize("form", ["as-shipped", "over-smtp"])
def test_given_real_mail_when_forwarded_then_every_copy_and_dsn_keeps_the_contract(path: Path, form: str) -> None:
    """GIVEN a real message received for an alias, a group and an unknown address WHEN the
    forwarder handles it THEN each recipient has one outcome, nothing crashed, and every
    copy and DSN sent keeps the oracle's rules and the header limits."""
    raw = path.read_bytes()
    forward_real(raw if form == "as-shipped" else as_transmitted(raw))


def test_given_a_real_bounce_from_the_null_sender_then_no_dsn_goes_back() -> None:
    """GIVEN a real DSN (null reverse-path) to two aliases and an unknown address WHEN
    forwarded THEN the aliases get their copies and no DSN answers the DSN."""
    raw = (CORPUS / "flufl-bounce" / "dsn_10.txt").read_bytes()
    assert envelope_sender(raw) == ""
    outcomes, sender = forward_real(as_transmitted(raw))
    assert [o.status for o in outcomes] == ["forwarded", "forwarded", "dropped"]
    assert (outcomes[2].reason, outcomes[2].detail) == ("unknown-recipient", "bounce held back: null-sender")
    assert sorted(d for _, batch, _ in sender.sent for d in batch) == ["ann@example.org", "john.doe@gmail.example", "john@work.example"]


def test_given_real_mail_from_an_authenticated_sender_to_an_unknown_address_then_one_dsn() -> None:
    """GIVEN a person's reply (talon's Gmail sample) to an unknown address WHEN forwarded THEN
    one DSN goes back to the envelope sender (checked by rule 9 in forward_real)."""
    raw = as_transmitted((CORPUS / "talon" / "gmail.eml").read_bytes())
    outcomes, sender = forward_real(raw)
    assert outcomes[2].status == "bounced" and len(outcomes[2].ses_message_ids) == 1
    assert sender.sent[-1][1] == (envelope_sender(raw),)


# --- the real Lambda handler under moto, for a sample --------------------------------------------------

HANDLER_SAMPLE = [
    "cpython/msg_02.txt", "cpython/msg_07.txt", "cpython/msg_16.txt", "cpython/msg_41.txt",
    "flufl-bounce/dsn_02.txt", "flufl-bounce/postfix_01.txt", "flufl-bounce/groupwise_01.txt",
    "talon/outlook.eml", "talon/iphone.eml", "spamassassin/sample-nonspam.txt",
]
BUCKET = "sesame-mail-realworld"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv(config.BUCKET, BUCKET)
    monkeypatch.setenv(config.ALIAS_PATH, "/sesame")
    with mock_aws():
        s3, _ = seed_forwarder_aws(BUCKET, ALIAS_CONFIG)
        app.use_runtime(None)  # rebuilt from the environment inside the mock
        yield s3
        app.use_runtime(None)


@pytest.mark.parametrize("name", HANDLER_SAMPLE)
def test_given_real_mail_in_s3_when_the_lambda_handler_runs_then_copies_keep_the_contract(aws: Any, name: str) -> None:
    """GIVEN a real message stored by SES in S3 WHEN the deployed handler runs on SES's event
    THEN SES is told to continue, each recipient has one outcome, and each copy SES was asked
    to send keeps the oracle's rules."""
    stored, event, message = receive(as_transmitted((CORPUS / name).read_bytes()))
    aws.put_object(Bucket=BUCKET, Key=f"messages/{MESSAGE_ID}", Body=stored)

    result = app.lambda_handler(event, Context())

    assert result["disposition"] == "CONTINUE"
    (report,) = result["reports"]
    assert [o["recipient"] for o in report["outcomes"]] == RECIPIENTS
    assert [o["status"] for o in report["outcomes"]][:2] == ["forwarded", "forwarded"]
    sent = ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sent_messages
    copies = [m for m in sent if m.source.endswith("@example.com") and m.destinations[0] != message.envelope.sender]
    assert len(copies) == 2
    for copy, alias in zip(copies, ["john@example.com", "team@example.com"], strict=True):
        check_forwarded(copy.raw_data.encode("utf-8"), message, alias)


# --- sesame preview, as an operator runs it --------------------------------------------------------------

PREVIEW_SAMPLE = ["cpython/msg_35.txt", "flufl-bounce/exim_01.txt", "talon/android.eml", "spamassassin/sample-spam.txt"]


@pytest.mark.parametrize("name", PREVIEW_SAMPLE)
def test_given_a_real_stored_message_when_previewed_then_the_exact_bytes_keep_the_contract(name: str, tmp_path: Path) -> None:
    """GIVEN a real message as SES stores it WHEN ``sesame preview`` runs for an alias THEN it
    exits 0, decides to forward, and writes a copy that keeps the oracle's rules."""
    stored, _, message = receive(as_transmitted((CORPUS / name).read_bytes()))
    source = tmp_path / "stored.eml"
    source.write_bytes(stored)
    out = tmp_path / "out.eml"
    aliases = tmp_path / "aliases.toml"
    aliases.write_text('[aliases]\n"john@example.com" = ["john.doe@gmail.example", "john@work.example"]\n')
    result = subprocess.run(
        [str(Path(sys.executable).parent / "sesame"), "preview", str(source), "--aliases", str(aliases),
         "--recipient", "john@example.com", "--json", "--output", str(out)],
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stderr
    decision = json.loads(result.stdout)
    assert (decision["action"], decision["destinations"]) == ("forward", ["john.doe@gmail.example", "john@work.example"])
    check_forwarded(out.read_bytes(), message, "john@example.com")


# --- the oracle can fail, and what the corpus found ------------------------------------------------------


def test_given_a_copy_with_one_body_byte_changed_then_the_oracle_fails_it() -> None:
    """GIVEN a real message's correct copy with one body byte changed, or a Bcc added THEN the
    checks this module relies on reject it (they are not vacuous)."""
    stored, event, message = receive(as_transmitted((CORPUS / "talon" / "gmail.eml").read_bytes()))
    (mail,) = parse_ses_event(event)
    sender = RecordingSender()
    Forwarder(MemoryStore({MESSAGE_ID: stored}), sender, Settings(), clock=lambda: RECEIVED_AT).handle(mail, ALIASES)
    good = sender.sent[0][0]
    check_forwarded(good, message, "john@example.com")
    with pytest.raises(AssertionError, match="body"):
        check_forwarded(good[:-3] + b"X" + good[-2:], message, "john@example.com")
    with pytest.raises(AssertionError, match="new-field|removed"):
        check_forwarded(b"Bcc: hidden@evil.example\r\n" + good, message, "john@example.com")
    assert ("", "MissingHeaderBodySeparatorDefect") in header_defects(good.replace(b"\r\n\r\n", b"\r\nBad line\r\n", 1))


def test_given_a_from_on_a_bare_ip_address_then_reply_to_is_the_envelope_sender() -> None:
    """GIVEN flufl.bounce's smtp32_01 bounce, whose From is ``postmaster@208.24.118.205`` (an
    IP address written as a domain: its top label is all digits, so it names no host, RFC
    1123 section 2.1) WHEN forwarded THEN Reply-To is the envelope sender, as for any From
    with no usable address, and both readers agree the From address is unusable."""
    raw = as_transmitted((CORPUS / "flufl-bounce" / "smtp32_01.txt").read_bytes())
    assert not is_usable_addr("postmaster@208.24.118.205")
    _, sender = forward_real(raw)
    reread = email.message_from_bytes(sender.sent[0][0], policy=email.policy.default)
    assert [a.addr_spec for a in reread["Reply-To"].addresses] == ["mailman-users-admin@python.org"]
