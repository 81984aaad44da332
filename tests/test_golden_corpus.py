"""The rewriter against a corpus of real-shaped messages, byte for byte.

Every ``fixtures/eml/NAME.eml`` is a message as SES stores it in S3; ``fixtures/golden/NAME.eml``
is the exact message Sesame must send for it. The goldens were read line by line against the
rewriting contract before being accepted; regenerate them only on purpose:

    SESAME_UPDATE_GOLDEN=1 .venv/bin/pytest tests/test_golden_corpus.py

and read the diff (``git diff tests/fixtures/golden``) before committing it. Besides byte
equality, each fixture is checked for what must hold whatever the bytes are (see ``EXPECTED``
and ``_check_invariants``), so an update cannot quietly accept a broken output.
"""

from __future__ import annotations

import email
import email.policy
import os
import re
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path

import pytest

from sesame.core.message import parse_message
from sesame.core.rewrite import MARKER_HEADER, SINGLE_INSTANCE, RewriteOptions, rewrite

FIXTURES = Path(__file__).parent / "fixtures"
EML = FIXTURES / "eml"
GOLDEN = FIXTURES / "golden"
UPDATE = os.environ.get("SESAME_UPDATE_GOLDEN") == "1"
ALIAS = "john@example.com"

# Fields that must never reach SES, whatever the input.
FORBIDDEN = ("dkim-signature", "domainkey-signature", "return-path", "sender", "bcc")
ORIGINAL_SES_HEADERS = ("Received", "Received-SPF", "Authentication-Results")


@dataclass(frozen=True)
class Expect:
    """What must be true of one fixture's output, independently of the golden bytes."""

    display: str  # the decoded display name of the rewritten From
    reply_to: tuple[str, ...]  # the addresses of the output Reply-To
    defects: tuple[tuple[str, str | None], ...] = ()  # exactly these, in this order
    kept: dict[str, str] = field(default_factory=dict)  # header -> decoded value in the output
    eol: bytes = b"\r\n"


def _d(kind: str, header: str | None = None) -> tuple[str, str | None]:
    return (kind, header)


EXPECTED: dict[str, Expect] = {
    "01-plain-text.eml": Expect(
        "Jane Doe at jane@sender.example",
        ("jane@sender.example",),
        kept={"Message-ID": "<CAF9x1=plain01@mail.sender.example>", "Subject": "Lunch on Thursday?"},
    ),
    "02-multipart-alternative.eml": Expect(
        "Product News at news@sender.example",
        ("news@sender.example",),
        kept={"List-Unsubscribe-Post": "List-Unsubscribe=One-Click", "Precedence": "bulk"},
    ),
    "03-multipart-mixed-attachments.eml": Expect(
        "Billing at billing@sender.example", ("billing@sender.example",), kept={"To": "John <john@example.com>"}
    ),
    "04-encoded-word-from.eml": Expect(
        "José Müller at jose@sender.example", ("jose@sender.example",), kept={"Subject": "Réunion de lundi"}
    ),
    "05-raw-utf8-from.eml": Expect("Zoë Ångström at zoe@sender.example", ("zoe@sender.example",)),
    "06-8bit-latin1-body.eml": Expect("Marc Dubois at marc@sender.example", ("marc@sender.example",)),
    "07-8bit-utf8-subject.eml": Expect(
        "Lena at lena@sender.example",
        ("lena@sender.example",),
        defects=(_d("8bit-header", "Subject"),),
        kept={"Subject": "Grüße aus München — Treffen am Dienstag?"},
    ),
    "08-bare-lf.eml": Expect(
        "cron daemon at cron@legacy.sender.example",
        ("cron@legacy.sender.example",),
        defects=(_d("bare-lf-line-endings"),),
        eol=b"\n",
    ),
    "09-folded-from-subject.eml": Expect(
        "Doe, Jane (Accounts Payable, EMEA) at jane@sender.example",
        ("jane@sender.example",),
        kept={
            "Subject": "Re: Re: Fwd: quarterly numbers for the regional review meeting next Tuesday, "
            "with the updated forecast",
            "In-Reply-To": "<prev-08@example.com>",
            "References": "<first-01@example.com> <prev-08@example.com>",
        },
    ),
    "10-duplicate-headers.eml": Expect(
        "App Notifications at app@sender.example",
        ("app@sender.example",),
        defects=tuple(
            _d("duplicate-header", name)
            for name in ("Delivered-To", "Message-ID", "Date", "Subject", "List-Unsubscribe", "MIME-Version", "Content-Type")
        ),
        kept={
            "Message-ID": "<dup-10@sender.example>",
            "Subject": "Your weekly summary",
            "Delivered-To": "john@example.com",
            "MIME-Version": "1.0",
        },
    ),
    "11-missing-from.eml": Expect(
        "monitor@sender.example", ("monitor@sender.example",), defects=(_d("missing-from"),)
    ),
    "12-existing-reply-to.eml": Expect(
        "Support at noreply@sender.example",
        ("support+ticket-4242@sender.example",),
        kept={"Reply-To": "Support Team <support+ticket-4242@sender.example>"},
    ),
    "13-dkim-signed.eml": Expect(
        "Jane Doe at jane@sender.example", ("jane@sender.example",), kept={"Cc": "Ann <ann@sender.example>"}
    ),
    "14-empty-header-name.eml": Expect(
        "Shop at shop@sender.example", ("shop@sender.example",), defects=(_d("empty-header-name"),)
    ),
    "15-missing-blank-line.eml": Expect(
        "script@sender.example", ("script@sender.example",), defects=(_d("missing-header-body-separator"),)
    ),
    "16-nul-in-header.eml": Expect(
        "Legacy App at legacy@sender.example",
        ("legacy@sender.example",),
        defects=(_d("nul-in-header", "Subject"), _d("nul-in-header", "X-Mailer")),
        kept={"Subject": "Statement for May", "X-Mailer": "LegacyMailer 1.0"},
    ),
    "17-long-header-line.eml": Expect(
        "Long Thread at thread@sender.example",
        ("thread@sender.example",),
        defects=(_d("line-too-long", "References"),),
    ),
    "18-mbox-from-line.eml": Expect(
        "Jane Doe at jane@sender.example", ("jane@sender.example",), defects=(_d("mbox-from-line"),)
    ),
    "19-injection-encoded-from.eml": Expect(
        "Jane Bcc: x@evil.example at jane@sender.example", ("jane@sender.example",)
    ),
    "20-injection-raw-from.eml": Expect(
        "Jane 'The Boss' Doe Bcc: x@evil.example' Bcc: y@evil.example at jane@sender.example",
        ("jane@sender.example",),
        defects=(_d("bare-cr-in-header", "From"), _d("8bit-header", "Subject")),
        # The smuggled encoded word is decoded with the 8-bit text around it, its line break
        # made a space, and the whole re-encoded as base64 words: no line break reaches a reader.
        kept={"Subject": "café   Bcc: z@evil.example"},
    ),
    "21-x-ses-injected.eml": Expect("Promo at promo@sender.example", ("promo@sender.example",)),
    "22-already-forwarded.eml": Expect(
        "Ann at ann@sender.example at team@example.com",
        ("ann@sender.example",),
        kept={"Reply-To": "Ann <ann@sender.example>"},
    ),
}

FIXTURE_NAMES = sorted(p.name for p in EML.glob("*.eml"))


def _envelope_sender(raw: bytes) -> str:
    """What SES passed as MAIL FROM: it is the Return-Path SES wrote on top of the message."""
    return_path = parse_message(raw).first("Return-Path")
    return return_path.text().strip("<> ") if return_path else ""


def _rewrite(raw: bytes):
    options = RewriteOptions(alias=ALIAS, from_address=ALIAS, envelope_sender=_envelope_sender(raw))
    parsed = parse_message(raw)
    return parsed, rewrite(parsed, options)


def _header_block(out: bytes, body_len: int) -> bytes:
    return out[: len(out) - body_len]


def _leaf_parts(message: EmailMessage) -> list[tuple[str, bytes | None]]:
    return [(part.get_content_type(), part.get_payload(decode=True)) for part in message.walk() if not part.is_multipart()]


def test_every_fixture_has_expectations_and_a_golden() -> None:
    assert FIXTURE_NAMES == sorted(EXPECTED), "add the new fixture to EXPECTED (or remove a stale entry)"
    if not UPDATE:
        assert sorted(p.name for p in GOLDEN.glob("*.eml")) == FIXTURE_NAMES


def test_fixtures_stay_small() -> None:
    assert all((EML / name).stat().st_size < 100_000 for name in FIXTURE_NAMES)


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_GIVEN_corpus_message_WHEN_rewritten_THEN_output_equals_golden(name: str) -> None:
    raw = (EML / name).read_bytes()
    _, result = _rewrite(raw)
    golden = GOLDEN / name
    if UPDATE:
        GOLDEN.mkdir(exist_ok=True)
        golden.write_bytes(result.to_bytes())
    assert golden.exists(), f"no golden for {name}: run SESAME_UPDATE_GOLDEN=1 pytest {__file__}"
    assert result.to_bytes() == golden.read_bytes()


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_GIVEN_corpus_message_WHEN_rewritten_THEN_contract_holds(name: str) -> None:
    raw = (EML / name).read_bytes()
    expect = EXPECTED[name]
    parsed, result = _rewrite(raw)
    out = result.to_bytes()

    # Only the header block changes: the body is the original bytes, after one blank line.
    body = raw[parsed.body_offset :]
    assert out.endswith(body)
    head = _header_block(out, len(body))
    assert parsed.eol == expect.eol
    assert head.endswith(expect.eol * 2)
    lines = head[: -len(expect.eol) * 2].split(expect.eol)
    _check_lines(lines, expect.eol)

    names = [line.split(b":", 1)[0].decode().lower() for line in lines if line[:1] not in (b" ", b"\t")]
    assert names.count("from") == 1
    assert names.count("reply-to") == 1
    assert not [n for n in names if n in FORBIDDEN or n.startswith("x-ses-")]
    for key in SINGLE_INSTANCE:
        assert names.count(key) <= 1, key
    assert not [line for line in lines if re.match(rb"(?i)bcc[ \t]*:", line)]
    assert names[0] == MARKER_HEADER.lower()
    assert f"{MARKER_HEADER}: {ALIAS}".encode() + expect.eol in head
    for original in ORIGINAL_SES_HEADERS:  # SES's own trace headers are forwarded as they were
        assert names.count(original.lower()) == 1

    assert [(d.kind, d.header) for d in result.defects] == list(expect.defects)

    # The output is a message the stdlib reads back with the same meaning.
    message = email.message_from_bytes(out, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    assert len(message.get_all("From")) == 1
    (sender,) = message["From"].addresses
    assert sender.addr_spec == ALIAS
    assert sender.display_name == expect.display
    assert tuple(a.addr_spec for a in message["Reply-To"].addresses) == expect.reply_to
    assert message.get_all("Bcc") is None
    assert not [key for key in message.keys() if key.lower().startswith("x-ses-")]
    for header, value in expect.kept.items():
        assert str(message[header]) == value, header

    if ("bare-cr-in-header", "From") in expect.defects:
        # The stdlib ends a header line at a bare CR, so it reads this original differently
        # (its body would start mid-From); the body Sesame forwards is the one after the blank line.
        assert message.get_payload(decode=True) == body
    else:
        original = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(original, EmailMessage)
        assert _leaf_parts(message) == _leaf_parts(original)


def _check_lines(lines: list[bytes], eol: bytes) -> None:
    for line in lines:
        assert line, "an empty line inside the header block"
        assert line.isascii()
        assert len(line) <= 998
        assert b"\r" not in line and b"\n" not in line and b"\x00" not in line
    assert lines[0][:1] not in (b" ", b"\t")


def test_GIVEN_mixed_message_WHEN_rewritten_THEN_attachment_bytes_survive() -> None:
    raw = (EML / "03-multipart-mixed-attachments.eml").read_bytes()
    _, result = _rewrite(raw)
    message = email.message_from_bytes(result.to_bytes(), policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    parts = {part.get_content_type(): part for part in message.walk() if not part.is_multipart()}
    assert set(parts) == {"text/html", "image/png", "application/pdf"}
    pdf = parts["application/pdf"].get_payload(decode=True)
    png = parts["image/png"].get_payload(decode=True)
    assert isinstance(pdf, bytes) and pdf.startswith(b"%PDF-1.4") and pdf.rstrip().endswith(b"%%EOF")
    assert isinstance(png, bytes) and png.startswith(b"\x89PNG\r\n\x1a\n")
    assert parts["application/pdf"].get_filename() == "invoice-2025-06.pdf"
    assert parts["image/png"]["Content-ID"] == "<logo@sender.example>"


def test_GIVEN_8bit_bodies_WHEN_rewritten_THEN_body_bytes_are_not_reencoded() -> None:
    for name, marker in (("06-8bit-latin1-body.eml", "café".encode("latin-1")), ("05-raw-utf8-from.eml", "här".encode())):
        raw = (EML / name).read_bytes()
        _, result = _rewrite(raw)
        assert marker in raw and result.to_bytes().count(marker) == raw.count(marker)


def test_GIVEN_duplicate_content_type_WHEN_rewritten_THEN_first_copy_decides_the_body() -> None:
    raw = (EML / "10-duplicate-headers.eml").read_bytes()
    _, result = _rewrite(raw)
    message = email.message_from_bytes(result.to_bytes(), policy=email.policy.default)
    assert message.get_content_type() == "text/plain"
    assert message.get_content().strip() == "3 new comments, 1 new follower."


def test_GIVEN_message_already_forwarded_WHEN_rewritten_THEN_both_markers_remain() -> None:
    raw = (EML / "22-already-forwarded.eml").read_bytes()
    _, result = _rewrite(raw)
    message = email.message_from_bytes(result.to_bytes(), policy=email.policy.default)
    assert message.get_all(MARKER_HEADER) == [ALIAS, "team@example.com"]
