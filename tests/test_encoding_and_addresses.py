"""Header encodings (RFC 2047, RFC 2231) and the address checks every written address passes."""

from __future__ import annotations

import email
import email.policy
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sesame.core.addresses import envelope_address, is_valid_address, parse_address_list, same_organization
from sesame.core.encoding import decode_words, encode_parameter, encode_words
from sesame.core.limits import MAX_ADDRESS_TOKENS_PER_MESSAGE, MAX_MAILBOX_TOKENS
from sesame.core.event import verdicts_from_headers


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("=?utf-8?q?caf=C3=A9?=", "café"),
        ("=?UTF-8?B?Y2Fmw6k=?=", "café"),
        ("=?utf-8?b?Y2Fmw6k?=", "café"),  # missing padding, as some senders write it
        ("=?iso-8859-1?q?caf=E9?= au lait", "café au lait"),
        ("=?utf-8?q?a?= =?utf-8?q?b?=", "ab"),  # whitespace between encoded words is dropped
        ("=?utf-8?q?a?=\r\n =?utf-8?q?b?=", "ab"),
        ("x =?utf-8?q?a?= y", "x a y"),
        ("=?utf-8*en?q?hello?=", "hello"),  # RFC 2231 language suffix
        ("=?x-unknown?q?abc?=", "=?x-unknown?q?abc?="),  # unknown charset: left as written
        ("=?zlib_codec?b?eJzLSM3JyQcABiwCFQ==?=", "=?zlib_codec?b?eJzLSM3JyQcABiwCFQ==?="),  # a codec, not a charset
        ("=?rot13?q?uryyb?=", "=?rot13?q?uryyb?="),
        ("=?utf-8?b?!!!?=", "=?utf-8?b?!!!?="),  # broken base64
        ("=?utf-8?q?=FF?=", "\ufffd"),  # undecodable bytes become the replacement character
        # UTF-7 decodes these to lone surrogates, which are no characters: replaced as well.
        ("=?utf-7?q?+2AA-?=", "\ufffd"),
        ("=?UTF-7?B?KzJBQS0=?=", "\ufffd"),
        ("=?utf-7?q?a+3IA-b?=", "a\ufffdb"),
        ("=?unicode_escape?q?=5Cud800?=", "\ufffd"),
        ("=?utf-7?q?+2D3eAA-?=", "\U0001f600"),  # a surrogate pair is one character, kept
        ("no words here", "no words here"),
    ],
)
def test_GIVEN_encoded_words_WHEN_decoded_THEN_text_or_left_as_written(text: str, expected: str) -> None:
    assert decode_words(text) == expected


@given(st.text(max_size=400))
@settings(max_examples=200, deadline=None)
def test_GIVEN_any_text_WHEN_encoded_as_words_THEN_ascii_legal_lines_that_decode_back(text: str) -> None:
    encoded = encode_words(text, "\r\n", first_room=60)
    assert encoded.isascii()
    lines = encoded.split("\r\n")
    assert all(len(line) <= 76 for line in lines)
    assert all(len(word) <= 75 for word in re.findall(r"=\?[^ ]+\?=", encoded))
    assert not re.search(r"[\x00-\x1f\x7f]", encoded.replace("\r\n ", ""))
    # Unfolded and decoded, exactly the text (line breaks included: they live inside base64).
    assert decode_words(encoded.replace("\r\n ", " ")) == text
    # And a standard reader takes it as one field without complaint.
    message = email.message_from_string(f"Subject: {encoded}\r\nX-After: 1\r\n\r\n", policy=email.policy.default)
    assert message["X-After"] == "1" and message["Subject"] is not None


@pytest.mark.parametrize("text", ["😀" * 40, "é" * 100, "a" * 200, "日本語のテキスト" * 20])
def test_GIVEN_multibyte_text_WHEN_encoded_THEN_no_character_split_across_words(text: str) -> None:
    for word in re.findall(r"=\?utf-8\?b\?([^?]+)\?=", encode_words(text, "\r\n")):
        import base64

        base64.b64decode(word).decode("utf-8")  # raises if a word ends inside a character


def test_GIVEN_long_8bit_parameter_WHEN_encoded_THEN_rfc2231_segments_that_parse_back() -> None:
    name = "Übersicht der Quartalszahlen für das Vorstandstreffen im Dezember 2026 – final.pdf"
    param = encode_parameter("filename", name, "\r\n")
    assert param.startswith("filename*0*=utf-8''") and "filename*1*=" in param
    assert all(len(line) <= 78 and line.isascii() for line in param.split("\r\n"))
    assert not re.search(r"%[0-9A-F]?(?:;|$)", param.replace("\r\n ", ""))  # no %XX split across segments
    message = email.message_from_string(f"Content-Disposition: attachment; {param}\r\n\r\n", policy=email.policy.default)
    assert message.get_filename() == name


def test_GIVEN_short_parameter_WHEN_encoded_THEN_one_segment() -> None:
    assert encode_parameter("name", "é.txt", "\r\n") == "name*=utf-8''%C3%A9.txt"


@pytest.mark.parametrize(
    ("address", "valid"),
    [
        ("jane@sender.example", True),
        ("jane.doe+tag@mail.sender.example", True),
        ('"john doe"@x.example', True),
        ("j@[192.0.2.1]", True),
        ("j@[IPv6:2001:db8::1]", True),
        ("j@[999.1.1.1]", False),
        ("j@localhost", False),  # one label: not an internet domain
        ("j@x.123", False),
        (".@M", False),
        ("a@=", False),
        ("a@.", False),
        ("a@-b.example", False),
        ("a..b@c.example", False),
        ("jöhn@x.example", False),  # SES sends no SMTPUTF8
        ("a@b.example\r\nBcc: x@evil.example", False),
        ('"a\x0bb"@c.example', False),
        ("a" * 65 + "@x.example", False),
        ("a@" + "b" * 250 + ".example", False),
        ("", False),
    ],
)
def test_GIVEN_address_WHEN_checked_THEN_only_what_every_receiver_accepts(address: str, valid: bool) -> None:
    assert is_valid_address(address) is valid


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("jane@sender.example", "jane@sender.example"),
        (" <jane@sender.example> ", "jane@sender.example"),
        ("", None),
        ("<>", None),
        ("jane@sender.example\r\nBcc: x@evil.example", None),
        ("jane@sender.example>\r\n", None),
    ],
)
def test_GIVEN_envelope_sender_WHEN_read_THEN_only_a_clean_address(source: str, expected: str | None) -> None:
    assert envelope_address(source) == expected


@pytest.mark.parametrize(
    ("a", "b", "aligned"),
    [("sender.example", "sender.example", True), ("mail.sender.example", "sender.example", True),
     ("sender.example", "SENDER.example.", True), ("evilsender.example", "sender.example", False),
     ("a.example", "b.example", False), ("", "b.example", False)],
)
def test_GIVEN_two_domains_WHEN_alignment_checked_THEN_relaxed_but_never_looser(a: str, b: str, aligned: bool) -> None:
    assert same_organization(a, b) is aligned


def test_GIVEN_a_stored_message_WHEN_verdicts_read_from_it_THEN_only_ses_own_fields_count() -> None:
    fields = [
        ("X-SES-Spam-Verdict", "FAIL"),
        ("X-SES-Virus-Verdict", "PASS"),
        ("Authentication-Results", "amazonses.com; spf=pass x; dkim=fail header.i=@a.example; dmarc=neutral"),
        ("X-SES-Spam-Verdict", "PASS"),  # a sender's own, below SES's
        ("Authentication-Results", "amazonses.com; spf=fail; dkim=pass; dmarc=pass"),
    ]
    verdicts = verdicts_from_headers(fields)
    assert (verdicts.spam, verdicts.virus, verdicts.spf, verdicts.dkim, verdicts.dmarc) == ("FAIL", "PASS", "PASS", "FAIL", "GRAY")
    assert verdicts_from_headers([("Authentication-Results", "mx.other.example; spf=pass")]).spf == "DISABLED"


def test_GIVEN_unterminated_pieces_WHEN_parsed_THEN_reported_not_raised() -> None:
    assert "unterminated-comment" in parse_address_list("Jane (oops <j@x.example>").defects
    assert "unterminated-quoted-string" in parse_address_list('"Jane <j@x.example>').defects
    assert "unterminated-group" in parse_address_list("team: a@x.example, b@x.example").defects


def test_GIVEN_more_than_1000_addresses_WHEN_parsed_THEN_the_first_1000_are_read_and_nothing_past_them_counts() -> None:
    # What follows the 1,000th address is dropped unread: a deep comment or an unterminated
    # quote there changes nothing, and a 2 MB To costs what its first 1,000 addresses cost.
    addresses = [f"u{i}@x.example" for i in range(1001)]
    tail = ", " + "(" * 40 + "deep" + ")" * 40 + ' "unterminated'
    parsed = parse_address_list(", ".join(addresses) + tail)
    assert [m.address for m in parsed.mailboxes] == addresses[:1000]
    assert parsed.defects == ("too-many-addresses",)


def test_GIVEN_a_deep_comment_among_the_first_1000_addresses_WHEN_parsed_THEN_the_comments_are_dropped_and_all_read() -> None:
    parsed = parse_address_list("a@x.example, " + "(" * 40 + "deep" + ")" * 40 + " b@x.example")
    assert [m.address for m in parsed.mailboxes] == ["a@x.example", "b@x.example"]
    assert parsed.defects == ("comment-too-deep",)


# --- a mailbox too long to be anyone's (MAX_MAILBOX_TOKENS) ---------------------------------


def words(count: int) -> str:
    """``count`` tokens (odd): one-letter words and the single spaces between them."""
    assert count % 2 == 1
    return " ".join(["w"] * (count // 2 + 1))


def test_GIVEN_a_mailbox_of_exactly_the_token_limit_WHEN_parsed_THEN_it_is_read_as_usual() -> None:
    # The name's tokens, then 7 for "<", "a", "@", "x", ".", "example", ">".
    name = words(MAX_MAILBOX_TOKENS - 7)
    parsed = parse_address_list(f"{name}<a@x.example>, b@x.example")
    assert [m.address for m in parsed.mailboxes] == ["a@x.example", "b@x.example"]
    assert parsed.defects == ()


def test_GIVEN_a_mailbox_one_token_over_the_limit_WHEN_parsed_THEN_it_is_unusable_and_the_next_one_is_read() -> None:
    name = words(MAX_MAILBOX_TOKENS - 7)  # and a space before "<": one token more
    parsed = parse_address_list(f"first@x.example, {name} <a@x.example>, b@x.example")
    assert [m.address for m in parsed.mailboxes] == ["first@x.example", "", "b@x.example"]
    assert [m.address for m in parsed.valid_mailboxes] == ["first@x.example", "b@x.example"]
    assert parsed.defects == ("mailbox-too-long",)


def test_GIVEN_a_huge_folded_mailbox_WHEN_parsed_THEN_it_counts_as_one_unusable_address_and_keeps_only_its_start() -> None:
    huge = "\r\n ".join([" ".join(["a"] * 34)] * 10_000)  # 340,000 words, 700 KB
    parsed = parse_address_list(f"first@x.example, {huge}, last@x.example")
    assert [m.address for m in parsed.valid_mailboxes] == ["first@x.example", "last@x.example"]
    assert len(parsed.mailboxes) == 3
    assert len(parsed.mailboxes[1].text) < 2 * MAX_MAILBOX_TOKENS  # its first tokens, not 700 KB
    assert parsed.defects == ("mailbox-too-long",)


@pytest.mark.parametrize(
    ("hidden", "defects"),
    [
        ('"in, quotes <evil@evil.example>"', ()),
        ("(in, a comment <evil@evil.example>)", ()),
        ("(nested (twice (and, thrice evil@evil.example)))", ()),
        ("[in, a literal evil@evil.example]", ()),
        ("=?utf-8?q?encoded,evil@evil.example?=", ()),
        ('"unterminated, evil@evil.example, ', ()),
        ("(unterminated, evil@evil.example, ", ("unterminated-comment",)),
        ("(" * 40 + "deep, evil@evil.example" + ")" * 40, ("comment-too-deep",)),
    ],
)
def test_GIVEN_a_comma_hidden_in_the_skipped_rest_of_a_long_mailbox_WHEN_parsed_THEN_it_ends_nothing(
    hidden: str, defects: tuple[str, ...]
) -> None:
    # The rest of a mailbox over the limit is walked over as the tokenizer cuts it: a comma in
    # a quoted string, a comment (at any depth), a domain literal or an encoded word is no
    # separator there either, so no address hidden in one becomes live.
    parsed = parse_address_list(f"first@x.example, {words(MAX_MAILBOX_TOKENS + 11)} {hidden} tail, last@x.example")
    found = [m.address for m in parsed.valid_mailboxes]
    assert "evil@evil.example" not in found
    assert found[0] == "first@x.example"
    if not hidden.startswith(('"unterminated', "(unterminated")):
        assert found == ["first@x.example", "last@x.example"]
    assert set(parsed.defects) == {"mailbox-too-long", *defects}


def test_GIVEN_a_quote_left_open_before_a_quoted_display_name_WHEN_parsed_THEN_they_pair_as_rfc_5322_and_python_read_them() -> None:
    # A long-fuzz case: junk that opens a quote, then a mailbox whose quoted display name looks
    # like an address. The two quotes pair, so what the display name held is an angle-addr.
    text = '"unclosed quote,0@0.EXAMPLE,x@long.example,"<evil@evil.example>"<0@0.EXAMPLE>'
    parsed = parse_address_list(text)
    python = email.message_from_bytes(b"Reply-To: " + text.encode() + b"\r\n\r\n", policy=email.policy.default)
    expected = [a.addr_spec for a in python["reply-to"].addresses]
    assert [m.address for m in parsed.valid_mailboxes] == expected == ["evil@evil.example"]
    assert "unterminated-quoted-string" in parsed.defects  # the last quote is never closed


# --- the message-wide budget of address tokens (MAX_ADDRESS_TOKENS_PER_MESSAGE) -------------


def test_GIVEN_a_budget_ending_inside_an_address_WHEN_parsed_THEN_the_addresses_before_it_are_kept_and_it_is_dropped() -> None:
    # "a@x.example, " is 7 tokens (a @ x . example , space); a budget of 16 ends inside
    # "longer.local@x.example", which read on would be "longer@..."-like: never kept shortened.
    parsed = parse_address_list("a@x.example, b@x.example, longer.local@x.example, c@x.example", token_budget=16)
    assert [m.address for m in parsed.mailboxes] == ["a@x.example", "b@x.example"]
    assert parsed.defects == ("address-tokens-exhausted",)
    assert parsed.tokens == 16


def test_GIVEN_a_budget_that_covers_the_field_exactly_WHEN_parsed_THEN_nothing_is_recorded() -> None:
    text = "a@x.example, b@x.example  "
    parsed = parse_address_list(text, token_budget=13)  # 13 tokens, then only trailing white space
    assert [m.address for m in parsed.mailboxes] == ["a@x.example", "b@x.example"]
    assert parsed.defects == ()


def test_GIVEN_no_budget_left_WHEN_a_field_is_parsed_THEN_nothing_is_read_and_it_is_recorded() -> None:
    parsed = parse_address_list("a@x.example", token_budget=0)
    assert parsed.items == ()
    assert parsed.defects == ("address-tokens-exhausted",)
    assert parsed.tokens == 0
    assert parse_address_list("  ", token_budget=0).defects == ()  # nothing there to miss


def test_GIVEN_a_budget_ending_inside_a_group_WHEN_parsed_THEN_its_members_read_so_far_are_kept() -> None:
    parsed = parse_address_list("team: a@x.example, b@x.example, c@x.example; d@x.example", token_budget=12)
    assert [m.address for m in parsed.mailboxes] == ["a@x.example"]
    assert parsed.items[0].display_name == "team"  # type: ignore[union-attr]
    assert parsed.defects == ("address-tokens-exhausted",)


@pytest.mark.parametrize(
    "hidden",
    ['"quoted, evil@evil.example"', "(comment, evil@evil.example)", "<evil@evil.example"],
)
def test_GIVEN_a_budget_ending_where_an_address_is_hidden_WHEN_parsed_THEN_it_is_not_made_live(hidden: str) -> None:
    # However the budget falls, the tokenizer's boundaries hold: a quoted string or a comment
    # is one token, and the item the budget ends in is dropped whole.
    text = f"a@x.example, name {hidden} tail, last@x.example"
    for budget in range(0, 40):
        found = [m.address for m in parse_address_list(text, token_budget=budget).valid_mailboxes]
        assert "evil@evil.example" not in found
        assert found in ([], ["a@x.example"], ["a@x.example", "last@x.example"])


def test_GIVEN_deep_comments_and_a_small_budget_WHEN_parsed_THEN_the_reread_is_within_the_same_budget() -> None:
    deep = "(" * 40 + "deep" + ")" * 40
    text = f"{deep} a@x.example, " + ", ".join(f"u{i}@x.example" for i in range(1_000))
    parsed = parse_address_list(text, token_budget=200)
    found = [m.address for m in parsed.mailboxes]
    assert found[0] == "a@x.example"
    assert found == ["a@x.example"] + [f"u{i}@x.example" for i in range(len(found) - 1)]
    assert 20 < len(found) < 40
    assert set(parsed.defects) == {"comment-too-deep", "address-tokens-exhausted"}
    assert parsed.tokens <= 200


def test_GIVEN_the_default_budget_WHEN_a_legitimate_field_of_1000_addresses_is_parsed_THEN_it_is_far_from_it() -> None:
    # 1,000 addresses written as large lists write them: about 15 tokens each.
    text = ", ".join(f'"Lastname{i}, First" <first.last{i}@mail.example.org>' for i in range(1_000))
    parsed = parse_address_list(text)
    assert len(parsed.valid_mailboxes) == 1_000
    assert parsed.defects == ()
    assert parsed.tokens * 4 < MAX_ADDRESS_TOKENS_PER_MESSAGE
