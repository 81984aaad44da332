"""parse_message: the header block split into fields, the body left as an offset."""

from __future__ import annotations

import pytest

from sesame.core.limits import MAX_FIELD_VALUE
from sesame.core.message import Defect, HeaderField, ParsedMessage, parse_message


def kinds(parsed: ParsedMessage) -> list[tuple[str, str | None]]:
    return [(d.kind, d.header) for d in parsed.defects]


# --- Defect / HeaderField / ParsedMessage -------------------------------------------------


def test_GIVEN_defect_with_header_WHEN_as_dict_THEN_both_keys() -> None:
    assert Defect("duplicate-header", "Date").as_dict() == {"kind": "duplicate-header", "header": "Date"}


def test_GIVEN_defect_without_header_WHEN_as_dict_THEN_kind_only() -> None:
    assert Defect("no-body").as_dict() == {"kind": "no-body"}


def test_GIVEN_folded_field_WHEN_unfolded_THEN_lines_joined_and_outer_space_trimmed() -> None:
    field = HeaderField("Subject", (b"  Hello", b" world ", b"\tagain  "))
    assert field.key == "subject"
    assert field.unfolded == b"Hello world \tagain"
    assert field.text() == "Hello world \tagain"


def test_GIVEN_utf8_value_WHEN_text_THEN_decoded_as_utf8() -> None:
    assert HeaderField("Subject", (" Grüße".encode(),)).text() == "Grüße"


def test_GIVEN_latin1_value_WHEN_text_THEN_decoded_as_windows_1252() -> None:
    assert HeaderField("Subject", (b" caf\xe9 \x80 \x81",)).text() == "café € \ufffd"


def test_GIVEN_ascii_and_8bit_fields_WHEN_is_ascii_THEN_each_line_counts() -> None:
    assert HeaderField("A", (b" x", b" y")).is_ascii
    assert not HeaderField("A", (b" x", b" \xff")).is_ascii


def test_GIVEN_folded_field_WHEN_rendered_THEN_lines_joined_with_eol() -> None:
    field = HeaderField("Subject", (b" a", b" b"))
    assert field.render(b"\r\n") == b"Subject: a\r\n b\r\n"
    assert field.render(b"\n") == b"Subject: a\n b\n"


def test_GIVEN_message_WHEN_body_THEN_zero_copy_view_of_raw() -> None:
    raw = b"A: 1\r\n\r\nbody"
    parsed = parse_message(raw)
    body = parsed.body
    assert isinstance(body, memoryview)
    assert body.obj is raw
    assert bytes(body) == b"body"


def test_GIVEN_repeated_fields_WHEN_get_all_and_first_THEN_case_insensitive_in_order() -> None:
    parsed = parse_message(b"Received: a\r\nreceived: b\r\nX: 1\r\n\r\n")
    assert [f.text() for f in parsed.get_all("RECEIVED")] == ["a", "b"]
    first = parsed.first("received")
    assert first is not None and first.text() == "a"
    assert parsed.first("Subject") is None


# --- parse_message: well-formed input -----------------------------------------------------


def test_GIVEN_crlf_message_WHEN_parsed_THEN_fields_body_offset_and_no_defects() -> None:
    raw = b"From: a@b.example\r\nSubject: hi\r\n there\r\n\r\nline 1\r\nline 2\r\n"
    parsed = parse_message(raw)
    assert [(f.name, f.lines) for f in parsed.fields] == [("From", (b" a@b.example",)), ("Subject", (b" hi", b" there"))]
    assert raw[parsed.body_offset :] == b"line 1\r\nline 2\r\n"
    assert parsed.eol == b"\r\n"
    assert parsed.has_separator
    assert parsed.defects == ()
    assert parsed.raw is raw


def test_GIVEN_body_looking_like_headers_WHEN_parsed_THEN_body_not_read() -> None:
    raw = b"A: 1\r\n\r\nB: 2\r\n\r\nC: 3\r\n"
    parsed = parse_message(raw)
    assert [f.name for f in parsed.fields] == ["A"]
    assert raw[parsed.body_offset :] == b"B: 2\r\n\r\nC: 3\r\n"


def test_GIVEN_empty_body_WHEN_parsed_THEN_offset_at_end() -> None:
    raw = b"A: 1\r\n\r\n"
    parsed = parse_message(raw)
    assert parsed.body_offset == len(raw) and parsed.has_separator and parsed.defects == ()


def test_GIVEN_empty_value_WHEN_parsed_THEN_field_kept_with_empty_line() -> None:
    parsed = parse_message(b"Subject:\r\n\r\n")
    assert parsed.fields == (HeaderField("Subject", (b"",)),)


def test_GIVEN_colon_in_value_WHEN_parsed_THEN_split_at_first_colon() -> None:
    (field,) = parse_message(b"X-Time: 12:30:00\r\n\r\n").fields
    assert field.name == "X-Time" and field.lines == (b" 12:30:00",)


# --- parse_message: defects ------------------------------------------------------------


def test_GIVEN_bare_lf_message_WHEN_parsed_THEN_lf_kept_and_defect_logged() -> None:
    raw = b"From: a@b.example\nSubject: x\n\nbody\n"
    parsed = parse_message(raw)
    assert parsed.eol == b"\n"
    assert raw[parsed.body_offset :] == b"body\n"
    assert kinds(parsed) == [("bare-lf-line-endings", None)]


def test_GIVEN_crlf_message_with_one_lf_line_WHEN_parsed_THEN_eol_from_first_line() -> None:
    parsed = parse_message(b"A: 1\r\nB: 2\nC: 3\r\n\r\nbody")
    assert parsed.eol == b"\r\n"
    assert [f.name for f in parsed.fields] == ["A", "B", "C"]
    assert parsed.defects == ()


def test_GIVEN_no_newline_at_all_WHEN_parsed_THEN_crlf_assumed_and_no_body() -> None:
    parsed = parse_message(b"Subject: only")
    assert parsed.eol == b"\r\n"
    assert parsed.fields == (HeaderField("Subject", (b" only",)),)
    assert parsed.body_offset == len(b"Subject: only") and not parsed.has_separator
    assert kinds(parsed) == [("no-body", None)]


def test_GIVEN_headers_only_WHEN_parsed_THEN_no_body_defect() -> None:
    raw = b"A: 1\r\nB: 2\r\n"
    parsed = parse_message(raw)
    assert parsed.body_offset == len(raw)
    assert kinds(parsed) == [("no-body", None)]


def test_GIVEN_empty_input_WHEN_parsed_THEN_nothing_and_no_defect() -> None:
    parsed = parse_message(b"")
    assert parsed.fields == () and parsed.body_offset == 0 and parsed.defects == ()
    assert not parsed.has_separator


def test_GIVEN_nul_in_value_WHEN_parsed_THEN_removed_and_logged_against_field() -> None:
    parsed = parse_message(b"Subject: a\x00b\r\n\r\n")
    assert parsed.fields[0].lines == (b" ab",)
    assert kinds(parsed) == [("nul-in-header", "Subject")]


def test_GIVEN_nul_in_name_WHEN_parsed_THEN_the_line_starts_the_body_as_for_every_parser() -> None:
    # Removing the NUL would create a header that CPython's parser (and SES's scanner) read
    # as body: "Sub\x00ject:" is not a field name, so the header block ends there.
    raw = b"From: a@b.example\r\nSub\x00ject: a\r\n\r\nbody"
    parsed = parse_message(raw)
    assert [f.name for f in parsed.fields] == ["From"]
    assert parsed.body.tobytes() == b"Sub\x00ject: a\r\n\r\nbody"
    assert kinds(parsed) == [("missing-header-body-separator", None)]


@pytest.mark.parametrize("line", [b"\x00Content-Type: text/html", b"T\x00o: x@evil.example", b"\x00\x00: x"])
def test_GIVEN_nul_hiding_a_field_name_WHEN_parsed_THEN_no_field_is_created(line: bytes) -> None:
    parsed = parse_message(b"From: a@b.example\r\n" + line + b"\r\nSubject: s\r\n\r\nbody")
    assert [f.name for f in parsed.fields] == ["From"]
    assert parsed.body.tobytes().startswith(line)


def test_GIVEN_nul_and_bare_cr_in_continuation_WHEN_parsed_THEN_logged_against_continued_field() -> None:
    parsed = parse_message(b"Subject: a\r\n b\x00\rc\r\n\r\n")
    assert parsed.fields[0].lines == (b" a", b" b c")
    assert kinds(parsed) == [("nul-in-header", "Subject"), ("bare-cr-in-header", "Subject")]


def test_GIVEN_bare_cr_hiding_a_header_WHEN_parsed_THEN_cr_becomes_space_not_a_line() -> None:
    parsed = parse_message(b"Subject: hi\rBcc: x@evil.example\r\n\r\n")
    assert [f.name for f in parsed.fields] == ["Subject"]
    assert parsed.fields[0].lines == (b" hi Bcc: x@evil.example",)
    assert kinds(parsed) == [("bare-cr-in-header", "Subject")]


def test_GIVEN_unnamed_junk_with_nul_WHEN_parsed_THEN_it_starts_the_body() -> None:
    parsed = parse_message(b"A: 1\r\n\x00junk\r\n\r\nbody")
    assert kinds(parsed) == [("missing-header-body-separator", None)]
    assert parsed.body.tobytes() == b"\x00junk\r\n\r\nbody"


@pytest.mark.parametrize("control", [b"\x0b", b"\x0c", b"\x1c", b"\x1d", b"\x1e", b"\x7f", b"\x01"])
def test_GIVEN_control_character_in_value_WHEN_parsed_THEN_made_a_space_and_logged(control: bytes) -> None:
    # CPython's parser splits header lines at \v, \f and \x1c-\x1e: left in place, the rest
    # of the value could become a header of its own downstream.
    parsed = parse_message(b"Subject: hi" + control + b"Bcc: x@evil.example\r\n\r\n")
    assert parsed.fields[0].lines == (b" hi Bcc: x@evil.example",)
    assert kinds(parsed) == [("control-character-in-header", "Subject")]


def test_GIVEN_cr_at_end_of_unterminated_last_line_WHEN_parsed_THEN_it_ends_the_line() -> None:
    parsed = parse_message(b"A: 1\r\nB: 2\r")
    assert parsed.fields[1].lines == (b" 2",)
    assert kinds(parsed) == [("no-body", None)]


def test_GIVEN_first_line_is_continuation_WHEN_parsed_THEN_dropped_each_logged() -> None:
    parsed = parse_message(b" orphan\r\n\tagain\r\nA: 1\r\n\r\n")
    assert [f.name for f in parsed.fields] == ["A"]
    assert kinds(parsed) == [("continuation-without-header", None)] * 2


def test_GIVEN_whitespace_only_continuation_WHEN_parsed_THEN_the_line_goes_its_spaces_stay_and_it_is_logged() -> None:
    parsed = parse_message(b"Subject: a\r\n   \r\n b\r\n\r\n")
    assert parsed.fields[0].lines == (b" a   ", b" b")
    assert parsed.fields[0].unfolded == b"a    b"  # RFC 5322 unfolding: only the line breaks go
    assert kinds(parsed) == [("whitespace-only-continuation", "Subject")]


def test_GIVEN_a_quoted_local_part_folded_over_a_whitespace_only_line_THEN_the_address_keeps_its_spaces() -> None:
    """Found by make fuzz: dropping the line's spaces changed the address written in Reply-To."""
    parsed = parse_message(b'Reply-To: <"\r\n \r\n result:\r\n "@if.example>\r\n\r\n')
    assert parsed.fields[0].text() == '<"  result: "@if.example>'


def test_GIVEN_a_mended_line_before_a_whitespace_only_line_THEN_the_field_stays_mended_and_keeps_what_was_written() -> None:
    """Joined to the line as received, the NUL came back and the field was dropped on output."""
    parsed = parse_message(b"Subject: a\x00b\r\n \r\n c\r\n\r\n")
    field = parsed.fields[0]
    assert field.lines == (b" ab ", b" c")
    assert field.original == (b" a\x00b ", b" c")


@pytest.mark.parametrize("line", [b" \x0b", b"\t\x0c\x1c", b" \x7f", b" \x01\x00"])
def test_GIVEN_a_continuation_line_mending_leaves_white_space_only_THEN_it_is_joined_as_a_whitespace_only_line(
    line: bytes,
) -> None:
    """Found by make fuzz: " \\v" mended to spaces stayed a line of its own, a line of white
    space only, and the Subject failed the final check and went."""
    mended = line.replace(b"\x00", b"").replace(b"\x0b", b" ").replace(b"\x0c", b" ").replace(b"\x1c", b" ")
    mended = mended.replace(b"\x7f", b" ").replace(b"\x01", b" ")
    pad = b"".join(b"X-Pad-%03d: %s\r\n" % (i, b"p" * 990) for i in range(510))  # past the 500 KB: read as essential
    for raw in (b"Subject: a\r\n" + line + b"\r\n b\r\n\r\n", b"Subject: a\r\n" + line + b"\r\n\r\n",
                pad + b"Subject: a\r\n" + line + b"\r\n b\r\n\r\n"):
        field = parse_message(raw).first("Subject")
        assert field is not None
        assert field.lines[0] == b" a" + mended  # its white space joined to the line before
        assert all(l.strip(b" \t") for l in field.lines)
        assert ("whitespace-only-continuation", "Subject") in kinds(parse_message(raw))


def test_GIVEN_whitespace_only_lines_WHEN_parsed_THEN_they_count_toward_the_32_kb_of_a_field() -> None:
    parsed = parse_message(b"X-A: a\r\n" + b" \r\n" * 40_000 + b"Subject: s\r\n\r\n")
    assert [f.name for f in parsed.fields] == ["Subject"]
    assert ("header-too-large", "X-A") in kinds(parsed)


def test_GIVEN_a_to_of_whitespace_only_lines_WHEN_parsed_THEN_it_is_read_whole_in_one_line() -> None:
    """To is exempt from the 32 KB; its white space is kept, joined once, not line by line."""
    parsed = parse_message(b"To: a@x.example,\r\n" + b" \r\n" * 100_000 + b" b@x.example\r\n\r\n")
    assert parsed.fields[0].lines == (b" a@x.example," + b" " * 100_000, b" b@x.example")


@pytest.mark.parametrize("past_budget", [False, True])
@pytest.mark.parametrize(("extra", "cut"), [(0, False), (1, True)])
def test_GIVEN_a_run_of_whitespace_only_lines_WHEN_parsed_THEN_each_counts_its_octets_but_not_its_line_ending(
    past_budget: bool, extra: int, cut: bool
) -> None:
    # A run is read in one match; its size is still what the lines hold, CR LF (or a CR
    # before it) excluded: " \t" is 2, " \x00\r" is 3 (a NUL and a bare CR count), " " is 1.
    run = b" \t\r\n" * 1000 + b" \x00\r\r\n" * 1000 + b" \n" * 1000  # 6,000 octets
    value = b" a@x.example,"
    fill = b" " + b"f" * (MAX_FIELD_VALUE - len(value) - 6_000 - 1 + extra)  # the field ends at its limit, or one past
    pad = b"".join(b"X-Pad-%03d: %s\r\n" % (i, b"p" * 990) for i in range(510)) if past_budget else b""
    raw = b"From: j@x.example\r\n" + pad + b"Reply-To:" + value + b"\r\n" + run + fill + b"\r\n\r\n"
    field = parse_message(raw).first("Reply-To")
    assert field is not None
    assert field.truncated is cut
    assert field.lines[1:] == (() if cut else (fill,))  # cut where the fill passes the limit
    assert field.lines[0] == value + b" \t" * 1000 + b" " * 1000 + b" " * 1000  # NUL and CR go, spaces stay


def test_GIVEN_whitespace_before_colon_WHEN_parsed_THEN_name_trimmed_and_logged() -> None:
    parsed = parse_message(b"Subject \t: hi\r\n\r\n")
    assert parsed.fields == (HeaderField("Subject", (b" hi",)),)
    assert kinds(parsed) == [("whitespace-before-colon", "Subject")]


def test_GIVEN_empty_header_name_WHEN_parsed_THEN_field_and_its_continuations_dropped() -> None:
    parsed = parse_message(b"A: 1\r\n: orphan\r\n more orphan\r\nB: 2\r\n\r\n")
    assert [(f.name, f.lines) for f in parsed.fields] == [("A", (b" 1",)), ("B", (b" 2",))]
    assert kinds(parsed) == [("empty-header-name", None)]


def test_GIVEN_mbox_from_line_first_WHEN_parsed_THEN_dropped_and_logged() -> None:
    raw = b"From jane@sender.example Tue Jun  3 09:14:07 2025\r\nFrom: jane@sender.example\r\n\r\nbody"
    parsed = parse_message(raw)
    assert [f.name for f in parsed.fields] == ["From"]
    assert kinds(parsed) == [("mbox-from-line", None)]
    assert raw[parsed.body_offset :] == b"body"


def test_GIVEN_mbox_from_line_not_first_WHEN_parsed_THEN_it_starts_the_body() -> None:
    raw = b"A: 1\r\nFrom jane@sender.example Tue Jun  3 09:14:07 2025\r\n\r\nbody"
    parsed = parse_message(raw)
    assert [f.name for f in parsed.fields] == ["A"]
    assert kinds(parsed) == [("missing-header-body-separator", None)]
    assert raw[parsed.body_offset :].startswith(b"From jane@")
    assert not parsed.has_separator


def test_GIVEN_missing_blank_line_WHEN_parsed_THEN_body_starts_at_first_non_header() -> None:
    raw = b"From: a@b.example\r\nSubject: x\r\nHello there: this is body\r\nmore\r\n"
    parsed = parse_message(raw)
    assert [f.name for f in parsed.fields] == ["From", "Subject"]
    assert raw[parsed.body_offset :] == b"Hello there: this is body\r\nmore\r\n"
    assert kinds(parsed) == [("missing-header-body-separator", None)]


@pytest.mark.parametrize("line", [b"Subj\xe9ct: x", b"[junk]", b"X Y: z"])
def test_GIVEN_line_that_is_no_header_WHEN_parsed_THEN_header_block_ends_there(line: bytes) -> None:
    raw = b"A: 1\r\n" + line + b"\r\nB: 2\r\n\r\nbody"
    parsed = parse_message(raw)
    assert [f.name for f in parsed.fields] == ["A"]
    assert raw[parsed.body_offset :].startswith(line)


def test_GIVEN_huge_header_WHEN_parsed_THEN_kept_whole() -> None:
    value = b"x" * 5000
    parsed = parse_message(b"X-Big: " + value + b"\r\n\r\n")
    assert parsed.fields[0].unfolded == value


def test_GIVEN_large_body_WHEN_parsed_THEN_only_header_lines_become_fields() -> None:
    body = b"\r\n".join(b"Header-Like: line %d" % i for i in range(50_000))
    raw = b"A: 1\r\n\r\n" + body
    parsed = parse_message(raw)
    assert len(parsed.fields) == 1
    assert parsed.body.nbytes == len(body)


# --- budgets ----------------------------------------------------------------------------------

PAD = b"".join(b"X-Pad-%03d: %s\r\n" % (i, b"p" * 900) for i in range(560))  # 511,280 octets


def test_GIVEN_a_field_that_starts_before_the_500_kb_budget_WHEN_parsed_THEN_it_is_read_to_its_end() -> None:
    head = PAD[: PAD.index(b"X-Pad-545")]
    cc = b"Cc: " + b",\r\n ".join(b"a%d@x.example" % i for i in range(600)) + b"\r\n"
    assert len(head) < 500_000 < len(head) + len(cc)
    parsed = parse_message(head + cc + b"X-After: dropped\r\n\r\nbody")
    (field,) = parsed.get_all("Cc")
    assert len(field.lines) == 600 and field.lines[-1] == b" a599@x.example"
    assert parsed.get_all("X-After") == []
    assert ("header-block-too-large", None) in kinds(parsed)


@pytest.mark.parametrize("name", ["To", "Cc", "References"])
def test_GIVEN_a_field_exempt_from_32_kb_past_the_500_kb_budget_WHEN_parsed_THEN_it_is_recovered_whole(name: str) -> None:
    value = b" " + b" ".join(b"<%06d@x.example>" % i for i in range(3000))  # 54 KB
    parsed = parse_message(PAD + name.encode() + b":" + value + b"\r\n\r\nbody")
    (field,) = parsed.get_all(name)
    assert field.unfolded == value.strip()
    assert ("header-too-large", name) not in kinds(parsed)


def test_GIVEN_a_subject_over_32_kb_past_the_500_kb_budget_WHEN_parsed_THEN_it_is_cut_there() -> None:
    parsed = parse_message(PAD + b"Subject: " + b"s" * 40_000 + b"\r\n\r\nbody")
    (field,) = parsed.get_all("Subject")
    assert field.size == 32_000 and field.truncated
    assert ("header-too-large", "Subject") in kinds(parsed)


def test_GIVEN_more_than_50_copies_of_cc_past_the_500_kb_budget_WHEN_parsed_THEN_50_are_kept_and_the_rest_recorded() -> None:
    parsed = parse_message(PAD + b"".join(b"Cc: c%d@x.example\r\n" % i for i in range(70)) + b"\r\nbody")
    assert [f.unfolded for f in parsed.get_all("Cc")] == [b"c%d@x.example" % i for i in range(50)]
    assert kinds(parsed).count(("too-many-copies", "Cc")) == 1
