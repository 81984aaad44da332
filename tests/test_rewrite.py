"""rewrite: the header block SES will accept, the body untouched."""

from __future__ import annotations

import email
import itertools
import email.header
import email.policy
import re
from email.message import EmailMessage

import pytest

from sesame.core import rewrite as rewrite_module
from sesame.core.message import Defect, parse_message
from sesame.core.rewrite import (
    MARKER_HEADER,
    MAX_NAME_CHARS,
    RewriteOptions,
    RewriteResult,
    display_name_for,
    rewrite,
    rewrite_bytes,
    safe_display_text,
)

ALIAS = "john@example.com"
OPTIONS = RewriteOptions(alias=ALIAS, from_address=ALIAS, envelope_sender="bounce@sender.example")


def run(raw: bytes, options: RewriteOptions = OPTIONS) -> RewriteResult:
    return rewrite_bytes(raw, options)


def header_lines(out: bytes) -> list[bytes]:
    """The physical lines of the header block (either line ending)."""
    eol = b"\r\n" if b"\r\n" in out.split(b"\n", 1)[0] + b"\n" else b"\n"
    head = out.split(eol + eol, 1)[0]
    return head.split(eol)


def names(out: bytes) -> list[str]:
    return [line.split(b":", 1)[0].decode() for line in header_lines(out) if line[:1] not in (b" ", b"\t")]


def reparse(out: bytes) -> EmailMessage:
    message = email.message_from_bytes(out, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def kinds(result: RewriteResult) -> list[tuple[str, str | None]]:
    return [(d.kind, d.header) for d in result.defects]


def assert_no_bcc(out: bytes) -> None:
    assert reparse(out).get_all("Bcc") is None
    assert not [line for line in re.split(rb"\r\n|\n|\r", out) if line.lower().lstrip(b"\x00").startswith(b"bcc:")]
    assert not [n for n in names(out) if n.strip().lower() == "bcc"]


# --- the required one: no smuggled Bcc ---------------------------------------------------

INJECTIONS = {
    "encoded-word": b"From: =?utf-8?q?Jane=0D=0ABcc:_x@evil.example?= <jane@sender.example>\r\n",
    "encoded-word-in-quotes": b'From: "=?utf-8?q?Jane=0D=0ABcc:_x@evil.example?=" <jane@sender.example>\r\n',
    "base64-encoded-word": b"From: =?utf-8?b?SmFuZQ0KQmNjOiB4QGV2aWwuZXhhbXBsZQ==?= <jane@sender.example>\r\n",
    "quote-and-fold": b'From: "Jane\\" <jane@sender.example>\r\n Bcc: x@evil.example\r\n\t\\"" <jane@sender.example>\r\n',
    "unquoted-fold": b"From: Jane\r\n Bcc: x@evil.example\r\n <jane@sender.example>\r\n",
    "bare-cr": b'From: "Jane\rBcc: x@evil.example" <jane@sender.example>\r\n',
    "line-separator": 'From: "Jane\u2028Bcc: x@evil.example" <jane@sender.example>\r\n'.encode(),
    "next-line": 'From: "Jane\u0085Bcc: x@evil.example" <jane@sender.example>\r\n'.encode(),
    "nul": b'From: "Jane\x00\r\nBcc: x@evil.example" <jane@sender.example>\r\n',
}


@pytest.mark.parametrize("from_line", INJECTIONS.values(), ids=INJECTIONS.keys())
def test_GIVEN_from_display_name_hiding_crlf_bcc_WHEN_rewritten_THEN_output_has_no_bcc_header(from_line: bytes) -> None:
    raw = from_line + b"To: john@example.com\r\nSubject: hi\r\n\r\nbody\r\n"
    out = run(raw).to_bytes()
    assert_no_bcc(out)
    message = reparse(out)
    assert [a.addr_spec for a in message["From"].addresses] == [ALIAS]
    assert "\n" not in str(message["From"]) and "\r" not in str(message["From"])
    assert out.endswith(b"\r\n\r\nbody\r\n")


def test_GIVEN_encoded_crlf_from_WHEN_rewritten_THEN_real_sender_is_named_not_the_smuggled_one() -> None:
    result = run(INJECTIONS["encoded-word"] + b"\r\nbody")
    assert result.original_from == (("Jane\r\nBcc: x@evil.example", "jane@sender.example"),)
    message = reparse(result.to_bytes())
    assert message["From"].addresses[0].display_name == "Jane Bcc: x@evil.example at jane@sender.example"
    assert [a.addr_spec for a in message["Reply-To"].addresses] == ["jane@sender.example"]


def test_GIVEN_8bit_subject_smuggling_encoded_crlf_WHEN_refolded_THEN_no_line_is_injected() -> None:
    # The encoded word is decoded with the rest of the text, its line break made a space, and
    # the whole written again as base64 words: a line break can only end up inside base64.
    raw = b"From: a@b.example\r\nSubject: caf\xc3\xa9 =?utf-8?q?=0D=0ABcc:_x@evil.example?=\r\n\r\nbody"
    result = run(raw)
    assert_no_bcc(result.to_bytes())
    assert str(reparse(result.to_bytes())["Subject"]) == "café   Bcc: x@evil.example"
    assert ("8bit-header", "Subject") in kinds(result)


@pytest.mark.parametrize("separator", ["\u2028", "\u2029", "\x1c", "\x0b", "\x85"])
def test_GIVEN_8bit_header_with_unicode_line_break_WHEN_refolded_THEN_no_line_is_injected(separator: str) -> None:
    raw = f"From: a@b.example\r\nSubject: café{separator}Bcc: x@evil.example\r\n\r\nbody".encode()
    out = run(raw).to_bytes()
    assert_no_bcc(out)
    assert all(line.isascii() for line in header_lines(out))


# --- From ---------------------------------------------------------------------------------


def test_GIVEN_named_sender_WHEN_rewritten_THEN_from_is_name_at_address_on_our_address() -> None:
    out = run(b'From: "Jane Doe" <jane@sender.example>\r\n\r\nx').to_bytes()
    assert b'\r\nFrom: "Jane Doe at jane@sender.example" <john@example.com>\r\n' in out


def test_GIVEN_sender_without_name_WHEN_rewritten_THEN_display_is_the_address() -> None:
    out = run(b"From: jane@sender.example\r\n\r\nx").to_bytes()
    assert b'\r\nFrom: "jane@sender.example" <john@example.com>\r\n' in out


def test_GIVEN_name_equal_to_address_WHEN_rewritten_THEN_address_once() -> None:
    out = run(b'From: "JANE@sender.example" <jane@sender.example>\r\n\r\nx').to_bytes()
    assert b'From: "jane@sender.example" <john@example.com>' in out


def test_GIVEN_non_ascii_name_WHEN_rewritten_THEN_rfc2047_encoded() -> None:
    out = run("From: Zoë <zoe@sender.example>\r\n\r\nx".encode()).to_bytes()
    assert b"From: =?utf-8?" in out
    assert reparse(out)["From"].addresses[0].display_name == "Zoë at zoe@sender.example"


def test_GIVEN_name_that_looks_like_an_encoded_word_WHEN_rewritten_THEN_encoded_not_left_for_decoding() -> None:
    # The original name decodes to the literal text "=?utf-8?q?Bcc=3A?=", which must not be
    # left inside quotes where lenient readers would decode it a second time.
    out = run(b"From: =?utf-8?q?=3D=3Futf-8=3Fq=3FBcc=3D3A=3F=3D?= <jane@sender.example>\r\n\r\nx").to_bytes()
    from_line = next(line for line in header_lines(out) if line.startswith(b"From:"))
    assert b"Bcc" not in from_line
    assert reparse(out)["From"].addresses[0].display_name == "=?utf-8?q?Bcc=3A?= at jane@sender.example"


def decoded_from_display(out: bytes) -> str:
    """The From display name as RFC 2047 decodes it (whitespace between encoded words ignored).

    The stdlib's address parser keeps that whitespace (a known quirk), so it is not used here.
    """
    lines = header_lines(out)
    start = next(i for i, line in enumerate(lines) if line.startswith(b"From:"))
    value = b"".join([lines[start][5:], *itertools.takewhile(lambda line: line[:1] == b" ", lines[start + 1 :])]).decode()
    phrase = value.rsplit("<", 1)[0].strip()
    return str(email.header.make_header(email.header.decode_header(phrase)))


def test_GIVEN_absurdly_long_name_WHEN_rewritten_THEN_shortened_with_ellipsis() -> None:
    out = run(b'From: "' + b"A" * 500 + b'" <jane@sender.example>\r\n\r\nx').to_bytes()
    assert decoded_from_display(out) == "A" * (MAX_NAME_CHARS - 1) + "\u2026 at jane@sender.example"
    assert all(len(line) <= 78 for line in header_lines(out))


def test_GIVEN_several_from_addresses_WHEN_rewritten_THEN_first_named_and_all_in_reply_to() -> None:
    result = run(b"From: Ann <ann@a.example>, bob@b.example\r\n\r\nx")
    message = reparse(result.to_bytes())
    assert message["From"].addresses[0].display_name == "Ann at ann@a.example"
    assert [a.addr_spec for a in message["Reply-To"].addresses] == ["ann@a.example", "bob@b.example"]
    assert b"Reply-To: Ann <ann@a.example>,\r\n bob@b.example\r\n" in result.to_bytes()


def test_GIVEN_from_with_thousands_of_addresses_WHEN_rewritten_THEN_reply_to_keeps_the_first_thousand() -> None:
    from sesame.core.limits import MAX_ADDRESSES_PER_FIELD

    addresses = ", ".join(f"u{i}@a.example" for i in range(20_000)).encode()
    result = run(b"From: " + addresses + b"\r\n\r\nx")
    message = reparse(result.to_bytes())
    assert len(message["Reply-To"].addresses) == MAX_ADDRESSES_PER_FIELD
    assert ("too-many-addresses", "From") in kinds(result)
    assert all(len(line) <= 998 for line in header_lines(result.to_bytes()))


def test_GIVEN_duplicate_from_WHEN_rewritten_THEN_one_from_built_from_the_first() -> None:
    result = run(b"From: first@a.example\r\nFrom: second@b.example\r\n\r\nx")
    assert names(result.to_bytes()).count("From") == 1
    assert result.original_from == (("", "first@a.example"),)
    assert ("duplicate-header", "From") in kinds(result)


def test_GIVEN_no_from_WHEN_rewritten_THEN_envelope_sender_used_and_logged() -> None:
    result = run(b"Subject: hi\r\n\r\nx")
    assert names(result.to_bytes())[:3] == [MARKER_HEADER, "From", "Subject"]
    assert result.original_from == (("", "bounce@sender.example"),)
    assert kinds(result) == [("missing-from", None)]
    assert b"Reply-To: bounce@sender.example\r\n" in result.to_bytes()


def test_GIVEN_unparseable_from_WHEN_rewritten_THEN_envelope_sender_used_and_logged() -> None:
    result = run(b"From: nobody\r\n\r\nx")
    assert result.original_from == (("", "bounce@sender.example"),)
    assert kinds(result) == [("malformed-mailbox", "From"), ("unparseable-from", "From")]
    assert b'From: "bounce@sender.example" <john@example.com>\r\n' in result.to_bytes()


@pytest.mark.parametrize("depth", [33, 300, 5000])
def test_GIVEN_from_with_deeply_nested_comments_WHEN_rewritten_THEN_no_recursion_and_the_address_found(depth: int) -> None:
    # CPython's address parser recurses once per nesting level (RecursionError at a few
    # hundred); Sesame's is iterative, and past 32 levels it drops the comments (which carry
    # no address) and reads the rest.
    comment = "".join(f"({chr(97 + i % 26)}" for i in range(depth)) + ")" * depth
    for raw in (f"From: {comment} <x@y.example>\r\n\r\nx", f"From: {comment}\r\n <x@y.example>\r\n\r\nx"):
        result = run(raw.encode())
        assert result.original_from == (("", "x@y.example"),)
        assert ("comment-too-deep", "From") in kinds(result)
        reparse(result.to_bytes())  # and what goes out is something a recursive reader survives


@pytest.mark.parametrize("name", ["Content-Type", "Date", "To", "Message-ID", "Resent-From"])
def test_GIVEN_a_structured_field_with_deep_comments_WHEN_rewritten_THEN_written_without_them(name: str) -> None:
    comment = "(" * 200 + ")" * 200
    value = {"Content-Type": f"text/plain {comment}; charset=us-ascii", "Date": f"Tue, 3 Jun 2025 09:14:00 +0000 {comment}",
             "To": f"{comment} <t@y.example>", "Message-ID": f"<id@y.example> {comment}", "Resent-From": f"r@y.example {comment}"}[name]
    result = run(f"From: a@b.example\r\n{name}: {value}\r\n\r\nx".encode())
    out = result.to_bytes()
    assert b"((((" not in out and name in names(out)
    assert ("comment-too-deep", name) in kinds(result)
    message = reparse(out)
    assert message[name] is not None  # parsed without RecursionError


def test_GIVEN_from_with_nested_comments_within_the_limit_WHEN_rewritten_THEN_address_found() -> None:
    comment = "".join(f"({chr(97 + i)}" for i in range(20)) + ")" * 20
    result = run(f"From: {comment} <x@y.example>\r\n\r\nx".encode())
    assert result.original_from == (("", "x@y.example"),)


def test_GIVEN_envelope_sender_in_angle_brackets_WHEN_no_from_THEN_brackets_dropped() -> None:
    result = run(b"\r\nx", RewriteOptions(ALIAS, ALIAS, envelope_sender="<bounce@sender.example>"))
    assert result.original_from == (("", "bounce@sender.example"),)


@pytest.mark.parametrize("envelope", ["", "<>", "nobody"])
def test_GIVEN_no_from_and_null_envelope_WHEN_rewritten_THEN_unknown_sender_and_no_reply_to(envelope: str) -> None:
    result = run(b"Subject: hi\r\n\r\nx", RewriteOptions(ALIAS, ALIAS, envelope_sender=envelope))
    assert b'From: "unknown sender" <john@example.com>\r\n' in result.to_bytes()
    assert "Reply-To" not in names(result.to_bytes())
    assert result.original_from == ()


def test_GIVEN_other_from_address_configured_WHEN_rewritten_THEN_it_is_used() -> None:
    options = RewriteOptions(alias=ALIAS, from_address="forwarder@example.com")
    out = run(b"From: a@b.example\r\n\r\nx", options).to_bytes()
    assert reparse(out)["From"].addresses[0].addr_spec == "forwarder@example.com"
    assert f"{MARKER_HEADER}: {ALIAS}".encode() in out


# --- Reply-To -------------------------------------------------------------------------------


def test_GIVEN_usable_reply_to_WHEN_rewritten_THEN_kept_verbatim_in_place() -> None:
    result = run(b"From: a@b.example\r\nReply-To: Team <team@b.example>\r\nTo: x@y.example\r\n\r\nx")
    assert names(result.to_bytes()) == [MARKER_HEADER, "From", "Reply-To", "To"]
    assert b"Reply-To: Team <team@b.example>\r\n" in result.to_bytes()
    assert result.defects == ()


def test_GIVEN_unusable_reply_to_WHEN_rewritten_THEN_replaced_by_from_and_logged() -> None:
    result = run(b"From: a@b.example\r\nReply-To: nobody\r\n\r\nx")
    assert b"Reply-To: a@b.example\r\n" in result.to_bytes()
    assert names(result.to_bytes()).count("Reply-To") == 1
    assert kinds(result) == [("malformed-mailbox", "Reply-To"), ("unusable-reply-to", "Reply-To")]


def test_GIVEN_unusable_then_usable_reply_to_WHEN_rewritten_THEN_usable_one_kept() -> None:
    result = run(b"From: a@b.example\r\nReply-To: \r\nReply-To: r@b.example\r\n\r\nx")
    assert b"Reply-To: r@b.example\r\n" in result.to_bytes()
    assert names(result.to_bytes()).count("Reply-To") == 1
    assert kinds(result) == [("unusable-reply-to", "Reply-To")]


def test_GIVEN_two_usable_reply_to_WHEN_rewritten_THEN_first_kept() -> None:
    result = run(b"From: a@b.example\r\nReply-To: r1@b.example\r\nReply-To: r2@b.example\r\n\r\nx")
    assert b"Reply-To: r1@b.example\r\n" in result.to_bytes() and b"r2@" not in result.to_bytes()
    assert kinds(result) == [("duplicate-header", "Reply-To")]


def test_GIVEN_reply_to_that_cannot_be_repaired_WHEN_rewritten_THEN_one_built_from_from() -> None:
    long_name = "X" * 1100
    raw = f"From: a@b.example\r\nReply-To: é{long_name}é <r@b.example>\r\n\r\nx".encode()
    result = run(raw)
    message = reparse(result.to_bytes())
    assert [a.addr_spec for a in message["Reply-To"].addresses] in (["a@b.example"], ["r@b.example"])
    assert names(result.to_bytes()).count("Reply-To") == 1


def test_GIVEN_non_ascii_sender_address_WHEN_rewritten_THEN_named_in_from_and_replies_to_envelope() -> None:
    # SES sends no SMTPUTF8: the address cannot be written in Reply-To, so replies go to the
    # envelope sender; the From still names who wrote it.
    result = run("From: Jöhn <jöhn@b.example>\r\n\r\nx".encode())
    message = reparse(result.to_bytes())
    assert [a.addr_spec for a in message["Reply-To"].addresses] == ["bounce@sender.example"]
    assert ("non-ascii-address", "From") in kinds(result)
    assert message["From"].addresses[0].display_name == "Jöhn at jöhn@b.example"


@pytest.mark.parametrize("addr", [b'"a\x0bb"@c.example', b"<" + b"a" * 300 + b"@c.example>"])
def test_GIVEN_sender_address_unfit_for_a_header_WHEN_rewritten_THEN_left_out_of_reply_to(addr: bytes) -> None:
    result = run(b"From: " + addr + b", ok@c.example\r\n\r\nx")
    assert b"Reply-To: ok@c.example\r\n" in result.to_bytes()
    assert ("unusable-address", "From") in kinds(result)


def test_GIVEN_names_needing_quotes_or_encoding_WHEN_reply_to_built_THEN_each_formatted() -> None:
    raw = 'From: "Doe, Jane" <j@a.example>, Zoë <z@a.example>, "=?x?=" <e@a.example>\r\n\r\nx'.encode()
    message = reparse(run(raw).to_bytes())
    assert [(a.display_name, a.addr_spec) for a in message["Reply-To"].addresses] == [
        ("Doe, Jane", "j@a.example"),
        ("Zoë", "z@a.example"),
        ("=?x?=", "e@a.example"),
    ]


# --- removed and de-duplicated ---------------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        b"DKIM-Signature: v=1; a=rsa-sha256; d=b.example;\r\n b=abc\r\n\tdef",
        b"dkim-signature: v=1",
        b"DomainKey-Signature: a=rsa-sha1",
        b"Return-Path: <a@b.example>",
        b"Sender: other@b.example",
        b"Bcc: hidden@b.example",
        b"BCC : hidden@b.example",
        b"X-SES-CONFIGURATION-SET: attacker",
        b"x-ses-message-tags: a=b",
        b"X-SES-Spam-Verdict: PASS",
        b"X-SES-RECEIPT: AEFBQUFB",
    ],
)
def test_GIVEN_header_ses_must_not_see_WHEN_rewritten_THEN_removed_with_its_continuations(line: bytes) -> None:
    raw = b"From: a@b.example\r\n" + line + b"\r\nTo: c@d.example\r\n\r\nbody"
    result = run(raw)
    assert names(result.to_bytes()) == [MARKER_HEADER, "From", "To", "Reply-To"]
    assert b"def" not in result.to_bytes() and b"b=abc" not in result.to_bytes()


@pytest.mark.parametrize("name", ["Message-ID", "Date", "Subject", "Content-Type", "MIME-Version", "Delivered-To",
                                  "List-Unsubscribe", "References", "In-Reply-To", "Content-Transfer-Encoding"])
def test_GIVEN_single_instance_header_twice_WHEN_rewritten_THEN_first_copy_kept_and_logged(name: str) -> None:
    raw = f"From: a@b.example\r\n{name}: first\r\n{name.upper()}: second\r\n\r\nx".encode()
    result = run(raw)
    assert f"{name}: first\r\n".encode() in result.to_bytes()
    assert b"second" not in result.to_bytes()
    assert kinds(result) == [("duplicate-header", name.upper())]


def test_GIVEN_repeatable_headers_WHEN_rewritten_THEN_all_copies_kept_in_order() -> None:
    raw = b"Received: one\r\nFrom: a@b.example\r\nReceived: two\r\nTo: x@y.example\r\nCc: c@y.example\r\n\r\nx"
    result = run(raw)
    assert names(result.to_bytes()) == [MARKER_HEADER, "Received", "From", "Received", "To", "Cc", "Reply-To"]
    assert result.defects == ()


@pytest.mark.parametrize("name", ["To", "Cc"])
def test_GIVEN_duplicate_to_or_cc_WHEN_rewritten_THEN_merged_into_one_field_nothing_lost(name: str) -> None:
    # Gmail refuses a message with two To or two Cc fields ("not RFC 5322 compliant").
    raw = (
        f"From: a@b.example\r\n{name}: x@y.example, Ann <ann@y.example>\r\nSubject: s\r\n"
        f"{name.upper()}: z@y.example\r\n{name}: grp: g1@y.example, g2@y.example;\r\n\r\nbody"
    ).encode()
    result = run(raw)
    assert names(result.to_bytes()).count(name) == 1
    merged = reparse(result.to_bytes())[name]
    assert [a.addr_spec for a in merged.addresses] == ["x@y.example", "ann@y.example", "z@y.example", "g1@y.example", "g2@y.example"]
    assert ("duplicate-header-merged", name) in kinds(result)


def test_GIVEN_duplicate_to_with_8bit_copy_WHEN_rewritten_THEN_merged_and_encoded() -> None:
    raw = "From: a@b.example\r\nTo: Zoë <z@y.example>\r\nTo: jöhn@y.example, b@y.example\r\n\r\nbody".encode()
    result = run(raw)
    out = result.to_bytes()
    assert names(out).count("To") == 1 and out.isascii()
    to = reparse(out)["To"]
    assert [a.addr_spec for a in to.addresses if a.addr_spec] == ["z@y.example", "b@y.example"]
    assert "jöhn@y.example" in str(to)  # kept as the text of an empty group: nothing lost



def test_GIVEN_duplicate_to_with_a_defective_address_WHEN_merged_THEN_only_what_is_wrong_is_recorded() -> None:
    # Short ASCII copies rewritten because one has an unusable address: no line is too long.
    raw = b"From: a@b.example\r\nTo: x@y.example\r\nTo: broken@@y.example, b@y.example\r\n\r\nbody"
    result = run(raw)
    assert names(result.to_bytes()).count("To") == 1
    assert [a.addr_spec for a in reparse(result.to_bytes())["To"].addresses if a.addr_spec] == ["x@y.example", "b@y.example"]
    assert ("line-too-long", "To") not in kinds(result) and ("8bit-header", "To") not in kinds(result)
    assert any(name == "To" and kind != "duplicate-header-merged" for kind, name in kinds(result))


def test_GIVEN_duplicate_to_with_a_long_line_WHEN_merged_THEN_line_too_long_recorded() -> None:
    long = ", ".join(f"person{n}@y.example" for n in range(80))  # one line of about 1,500 characters
    raw = f"From: a@b.example\r\nTo: x@y.example\r\nTo: {long}\r\n\r\nbody".encode()
    result = run(raw)
    assert ("line-too-long", "To") in kinds(result)
    assert len(reparse(result.to_bytes())["To"].addresses) == 81


# --- marker ---------------------------------------------------------------------------------


def test_GIVEN_any_message_WHEN_rewritten_THEN_marker_is_first_and_names_the_alias() -> None:
    out = run(b"From: a@b.example\r\n\r\nx").to_bytes()
    assert out.startswith(f"{MARKER_HEADER}: {ALIAS}\r\n".encode())


def test_GIVEN_existing_marker_WHEN_rewritten_THEN_kept_and_ours_added() -> None:
    out = run(f"{MARKER_HEADER}: team@example.com\r\nFrom: a@b.example\r\n\r\nx".encode()).to_bytes()
    assert reparse(out).get_all(MARKER_HEADER) == [ALIAS, "team@example.com"]


def test_GIVEN_custom_marker_header_WHEN_rewritten_THEN_used() -> None:
    out = run(b"\r\nx", RewriteOptions(ALIAS, ALIAS, marker_header="X-Loop")).to_bytes()
    assert out.startswith(b"X-Loop: john@example.com\r\n")


def test_GIVEN_alias_with_control_characters_WHEN_marked_THEN_single_ascii_line() -> None:
    out = run(b"\r\nx", RewriteOptions("jo\r\nBcc: x@evil.example\u2028hn@example.com", ALIAS)).to_bytes()
    assert header_lines(out)[0] == b"X-Sesame-Forwarded-For: jo Bcc: x@evil.example hn@example.com"
    assert_no_bcc(out)


# --- 8-bit and long headers ---------------------------------------------------------------------


def test_GIVEN_utf8_subject_WHEN_rewritten_THEN_rfc2047_encoded_and_logged() -> None:
    result = run("From: a@b.example\r\nSubject: Grüße\r\n\r\nx".encode())
    assert b"Subject: =?utf-8?b?R3LDvMOfZQ==?=\r\n" in result.to_bytes()
    assert str(reparse(result.to_bytes())["Subject"]) == "Grüße"
    assert kinds(result) == [("8bit-header", "Subject")]


@pytest.mark.parametrize("size", [2_000, 40_000, 411_000])
def test_GIVEN_huge_8bit_subject_folded_WHEN_rewritten_THEN_shortened_to_gmail_limit(size: int) -> None:
    text = ("Grüße aus München " * (size // 20 + 1))[:size].encode()
    folded = text.replace(b" ", b"\r\n ")  # folded at the spaces, one word a line
    result = run(b"From: a@b.example\r\nSubject: " + folded + b"\r\n\r\nx")
    out = result.to_bytes()
    subject_lines = [line for line in header_lines(out) if line.startswith(b"Subject:")]
    start = header_lines(out).index(subject_lines[0])
    value = b" ".join(itertools.takewhile(lambda line: line[:1] == b" " or line is subject_lines[0], header_lines(out)[start:]))
    assert len(value) - len(b"Subject:") <= 998
    assert str(reparse(out)["Subject"]).startswith("Grüße aus München")


def test_GIVEN_latin1_subject_WHEN_rewritten_THEN_decoded_as_1252_and_encoded() -> None:
    result = run(b"From: a@b.example\r\nSubject: caf\xe9\r\n\r\nx")
    assert str(reparse(result.to_bytes())["Subject"]) == "café"


def test_GIVEN_8bit_filename_WHEN_rewritten_THEN_rfc2231_encoded() -> None:
    raw = 'From: a@b.example\r\nContent-Disposition: attachment; filename="résumé.pdf"\r\n\r\nx'.encode()
    out = run(raw).to_bytes()
    assert b"filename*=utf-8''r%C3%A9sum%C3%A9.pdf" in out
    assert reparse(out).get_filename() == "résumé.pdf"


def test_GIVEN_8bit_to_WHEN_rewritten_THEN_display_names_encoded_addresses_kept() -> None:
    out = run("From: a@b.example\r\nTo: Zoë <z@y.example>, \"Ann, B\" <ann@y.example>\r\n\r\nx".encode()).to_bytes()
    assert [(a.display_name, a.addr_spec) for a in reparse(out)["To"].addresses] == [
        ("Zoë", "z@y.example"),
        ("Ann, B", "ann@y.example"),
    ]


@pytest.mark.parametrize("eol", [b"\r\n", b"\n"])
def test_GIVEN_header_line_over_998_WHEN_rewritten_THEN_refolded_with_message_eol(eol: bytes) -> None:
    words = b" ".join(b"<id%04d@b.example>" % i for i in range(120))
    raw = b"From: a@b.example" + eol + b"References: " + words + eol + eol + b"body"
    result = run(raw)
    lines = header_lines(result.to_bytes())
    assert max(len(line) for line in lines) <= 78
    assert ("line-too-long", "References") in kinds(result)
    assert str(reparse(result.to_bytes())["References"]) == words.decode()
    assert result.to_bytes().endswith(eol + eol + b"body")
    if eol == b"\n":
        assert b"\r" not in result.to_bytes()


def test_GIVEN_long_continuation_line_WHEN_rewritten_THEN_refolded() -> None:
    raw = b"From: a@b.example\r\nX-Note: short\r\n " + b"word " * 300 + b"\r\n\r\nx"
    result = run(raw)
    assert ("line-too-long", "X-Note") in kinds(result)
    assert max(len(line) for line in header_lines(result.to_bytes())) <= 998


def test_GIVEN_unbreakable_long_token_WHEN_rewritten_THEN_encoded_in_pieces() -> None:
    raw = b"From: a@b.example\r\nX-Token: " + b"a" * 2000 + b"\r\n\r\nx"
    result = run(raw)
    assert max(len(line) for line in header_lines(result.to_bytes())) <= 998
    assert str(reparse(result.to_bytes())["X-Token"]) == "a" * 2000


def test_GIVEN_line_of_exactly_998_WHEN_rewritten_THEN_kept_verbatim() -> None:
    line = b"X-Edge: " + b"e" * (998 - len(b"X-Edge: "))
    result = run(b"From: a@b.example\r\n" + line + b"\r\n\r\nx")
    assert line + b"\r\n" in result.to_bytes() and result.defects == ()


def test_GIVEN_field_no_fold_can_fit_WHEN_rewritten_THEN_dropped_and_logged() -> None:
    name = "X-" + "n" * 1000
    result = run(f"From: a@b.example\r\n{name}: café\r\nTo: t@y.example\r\n\r\nx".encode())
    assert names(result.to_bytes()) == [MARKER_HEADER, "From", "To", "Reply-To"]
    assert kinds(result) == [("8bit-header", name), ("unrepairable-header-dropped", name)]


def test_GIVEN_8bit_content_type_WHEN_rewritten_THEN_type_kept_and_parameters_rfc2231() -> None:
    raw = 'From: a@b.example\r\nContent-Type: multipart/mixed; boundary="b1"; name="Grüße.txt"\r\n\r\n--b1--\r\n'.encode()
    out = run(raw).to_bytes()
    message = reparse(out)
    assert message.get_content_type() == "multipart/mixed"
    assert message.get_boundary() == "b1"
    assert message.get_param("name") == "Grüße.txt"
    assert b"=?utf-8?" not in out.split(b"Content-Type:", 1)[1].split(b"\r\n\r\n")[0]


def test_GIVEN_8bit_boundary_WHEN_rewritten_THEN_content_type_dropped_and_logged() -> None:
    raw = 'From: a@b.example\r\nContent-Type: multipart/mixed; boundary="é"\r\n\r\n--é--\r\n'.encode()
    result = run(raw)
    assert "Content-Type" not in names(result.to_bytes())
    assert ("unrepairable-header-dropped", "Content-Type") in kinds(result)


def test_GIVEN_8bit_reply_to_with_encoded_crlf_WHEN_rewritten_THEN_its_address_is_kept() -> None:
    raw = "From: a@b.example\r\nReply-To: =?utf-8?q?R=C3=A9=0D=0ABcc:_x@evil.example?= ü <r@b.example>\r\n\r\nx".encode()
    result = run(raw)
    out = result.to_bytes()
    assert_no_bcc(out)
    assert [a.addr_spec for a in reparse(out)["Reply-To"].addresses] == ["r@b.example"]


@pytest.mark.parametrize("bad", [".@M", "a@=", "a@.", "a@b", "a@-b.example", "a..b@c.example", "@c.example"])
def test_GIVEN_reply_to_with_invalid_address_WHEN_rewritten_THEN_never_copied(bad: str) -> None:
    result = run(f"From: a@b.example\r\nReply-To: {bad}, ok@d.example\r\n\r\nx".encode())
    assert [a.addr_spec for a in reparse(result.to_bytes())["Reply-To"].addresses] == ["ok@d.example"]
    assert bad.encode() not in result.to_bytes().split(b"\r\nReply-To:")[1]


def test_GIVEN_whitespace_before_colon_WHEN_rewritten_THEN_canonical_name() -> None:
    out = run(b"From: a@b.example\r\nSubject  : hi\r\n\r\nx").to_bytes()
    assert b"\r\nSubject: hi\r\n" in out


# --- body and framing -----------------------------------------------------------------------------


def test_GIVEN_binary_body_WHEN_rewritten_THEN_bytes_identical() -> None:
    body = bytes(range(256)) * 40 + b"\r\n.\r\nFrom: not-a-header\r\n"
    raw = b"From: a@b.example\r\n\r\n" + body
    out = run(raw).to_bytes()
    assert out.endswith(b"\r\n\r\n" + body)


def test_GIVEN_missing_blank_line_WHEN_rewritten_THEN_one_is_added_before_the_body() -> None:
    raw = b"From: a@b.example\r\nSubject: x\r\njust text\r\n"
    result = run(raw)
    assert result.to_bytes().endswith(b"Reply-To: a@b.example\r\n\r\njust text\r\n")
    assert kinds(result) == [("missing-header-body-separator", None)]


def test_GIVEN_headers_only_WHEN_rewritten_THEN_ends_with_blank_line() -> None:
    result = run(b"From: a@b.example\r\nSubject: x")
    assert result.to_bytes().endswith(b"Subject: x\r\nReply-To: a@b.example\r\n\r\n")
    assert kinds(result) == [("no-body", None)]


def test_GIVEN_lf_message_WHEN_rewritten_THEN_every_added_line_uses_lf() -> None:
    raw = "From: Zoë <z@b.example>\nSubject: Grüße aus München, eine sehr lange Betreffzeile die gefaltet wird\n\nbody\n".encode()
    out = run(raw).to_bytes()
    assert b"\r" not in out
    assert out.endswith(b"\n\nbody\n")


def test_GIVEN_parsed_message_WHEN_rewritten_twice_THEN_same_bytes_and_parse_defects_carried() -> None:
    parsed = parse_message(b"From: a@b.example\nSubject: x\n\nbody")
    first, second = rewrite(parsed, OPTIONS), rewrite(parsed, OPTIONS)
    assert first == second
    assert first.defects[0] == Defect("bare-lf-line-endings")


def test_GIVEN_defects_met_WHEN_rewritten_THEN_parse_defects_come_first() -> None:
    result = run(b"From: a@b.example\r\nSubject: caf\xc3\xa9\x00\r\n\r\nx")
    assert kinds(result) == [("nul-in-header", "Subject"), ("8bit-header", "Subject")]


# --- helpers: display names, address parsing, fold checks -------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('Jane "The Boss" Doe', "Jane 'The Boss' Doe"),
        ("back\\slash", "back/slash"),
        ("a\r\nb\tc", "a b c"),
        ("a\u2028b\u2029c\u0085d", "a b c d"),
        ("rtl\u202eoverride\u200b", "rtl override"),
        ("  many    spaces  ", "many spaces"),
        ("ctl\x00\x1b\x7f", "ctl"),
        ("Zoë Ångström", "Zoë Ångström"),
    ],
)
def test_GIVEN_hostile_text_WHEN_made_safe_THEN_nothing_can_end_the_line_or_quote(text: str, expected: str) -> None:
    assert safe_display_text(text) == expected


def test_GIVEN_long_text_WHEN_made_safe_THEN_cut_to_limit_with_ellipsis() -> None:
    assert safe_display_text("abcdefghij", limit=5) == "abcd\u2026"
    assert safe_display_text("abc  defgh", limit=5) == "abc\u2026"
    assert safe_display_text("abcde", limit=5) == "abcde"


def test_GIVEN_senders_WHEN_display_name_THEN_name_at_address() -> None:
    assert display_name_for(()) == "unknown sender"
    assert display_name_for((("", "a@b.example"),)) == "a@b.example"
    assert display_name_for((("A@B.example", "a@b.example"),)) == "a@b.example"
    assert display_name_for((("Ann", "a@b.example"), ("Bob", "b@b.example"))) == "Ann at a@b.example"
    assert display_name_for((("\r\n", "a@b.example\r\nBcc: x"),)) == "a@b.example Bcc: x"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Jane <a@b.example>", [("Jane", "a@b.example")]),
        ("a@b.example (comment)", [("comment", "a@b.example")]),
        ("grp: x@y.example, z@w.example;", [("", "x@y.example"), ("", "z@w.example")]),
        ("undisclosed-recipients:;", []),
        ("a@", []),
        ("Jane <a@>, bob@c.example", [("", "bob@c.example")]),
        ("=?utf-8?q?J=C3=A9?= <j@x.example>, a@", [("Jé", "j@x.example")]),
        ("=?x-unknown?q?abc?= <j@x.example>", [("=?x-unknown?q?abc?=", "j@x.example")]),
        ("=?zlib?b?eJzLSM3JyQcABiwCFQ==?= <j@x.example>", [("=?zlib?b?eJzLSM3JyQcABiwCFQ==?=", "j@x.example")]),
        ('"Doe, Jane" <j@x.example>', [("Doe, Jane", "j@x.example")]),
        ("<@relay.example,@r2.example:j@x.example>", [("", "j@x.example")]),
        ("j @ x . example", [("", "j@x.example")]),
        ('"quoted local"@x.example', [("", '"quoted local"@x.example')]),
        ("j@[192.0.2.1]", [("", "j@[192.0.2.1]")]),
        ("Jane <j@x.example", [("Jane", "j@x.example")]),
        ('"unterminated <j@x.example>', []),
        ("", []),
    ],
)
def test_GIVEN_address_list_WHEN_parsed_THEN_only_complete_addresses(text: str, expected: list[tuple[str, str]]) -> None:
    from sesame.core.addresses import parse_address_list

    found = parse_address_list(text).valid_mailboxes
    assert [(m.display_name if m.display_name != m.address else "", m.address) for m in found] == expected


@pytest.mark.parametrize(
    ("data", "ok"),
    [
        (b"Subject: a\r\n b\r\n", True),
        (b"subject: a\r\n", True),
        (b"Subject: a", False),  # no line ending
        (b"Subj: a\r\n", False),  # another field
        (b"Subject: a\r\nBcc: x\r\n", False),  # a second field
        (b"Subject: a\r\n \r\n", False),  # a blank continuation ends the header block
        (b"Subject: a\nb\r\n", False),  # a bare LF
        (b"Subject: a\x00\r\n", False),
        (b"Subject: " + b"a" * 990 + b"\r\n", False),
    ],
)
def test_GIVEN_folded_bytes_WHEN_checked_THEN_only_exactly_one_field_passes(data: bytes, ok: bool) -> None:
    assert rewrite_module._is_one_field(data, "Subject", b"\r\n") is ok


def test_GIVEN_ascii_field_that_fits_WHEN_rewritten_THEN_verbatim() -> None:
    result = run(b"From: a@b.example\r\nX-A:  odd   spacing \r\n\t kept\r\n\r\nx")
    assert b"\r\nX-A:  odd   spacing \r\n\t kept\r\n" in result.to_bytes()
    assert result.defects == ()
