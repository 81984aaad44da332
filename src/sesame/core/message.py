"""The header block of a raw message, split from its body without parsing the body.

Only the header block is read; the body is a byte offset into the original buffer, so a
40 MB message costs one pass over its headers. Defects are collected as data, never raised:
real mail is messy and must still be forwarded when it safely can be.

Where the header block ends is decided the way standard parsers decide it (CPython's
``email.feedparser``, and SES's own scanner): at the first empty line, or at the first line
that is neither a continuation (leading space or tab) nor ``name:`` with a name of printable
ASCII. So ``\\x00Content-Type: text/html`` or ``T\\x00o: x@y`` starts the body, as it does for
every reader downstream; it never becomes a header by losing its NUL. NUL bytes and bare CRs
inside a field that is one are removed (replaced by a space), and recorded.

The work is bounded: the end of the header block is found with C-speed searches, fields are
materialized up to :data:`~sesame.core.limits.MAX_FIELDS` and
:data:`~sesame.core.limits.MAX_HEADER_BLOCK` bytes, and past that only the essential fields
are looked for. A 6 MB header block of two million empty fields costs milliseconds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from sesame.core.addresses import parse_address_list
from sesame.core.encoding import decode_bytes
from sesame.core.limits import (
    ESSENTIAL,
    MAX_ESSENTIAL_REPEATS,
    MAX_FIELD_VALUE,
    MAX_FIELDS,
    MAX_HEADER_BLOCK,
    MAX_HEADER_SCAN,
    UNBOUNDED_FIELDS,
)

# RFC 5322 field name: printable US-ASCII except colon. Whitespace before the colon is
# obsolete syntax that real mail still uses, so it is accepted and reported.
_FIELD_START = re.compile(rb"([\x21-\x39\x3b-\x7e]+)([ \t]*):")
# A run of header lines: fields, continuations, and (invalid, skipped) empty-name fields.
# Possessive, so the engine runs it as one linear loop in C; where it stops is the first line
# that is not a header line.
_HEADER_LINES = re.compile(rb"(?:[\x21-\x39\x3b-\x7e]++[ \t]*+:[^\n]*+\n|[ \t:][^\n]*+\n)*+")
_BLANK_LINE = re.compile(rb"\n\r?\n")
_ESSENTIAL_START = re.compile(
    rb"\n(" + b"|".join(re.escape(n.encode()) for n in sorted(ESSENTIAL)) + rb")[ \t]*:", re.IGNORECASE
)
_WSP = (0x20, 0x09)
_CONTROL = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
_OTHER_CONTROL = re.compile(rb"[\x01-\x08\x0a-\x0c\x0e-\x1f\x7f]")
# Fields over their limit that are cut rather than dropped: Sesame writes its own version of
# each (shortened, or rebuilt from the addresses), and without them it would lose who sent the
# message, who it went to, or what it is about.
_CUT_NOT_DROPPED = frozenset({"subject", "from", "reply-to"}) | UNBOUNDED_FIELDS


def _value_limit(name: str) -> int:
    """The most bytes of a field's value that are read: To, Cc and References count only
    toward the header block (Gmail), so one copy of them is read up to its whole budget."""
    return MAX_HEADER_BLOCK if name.lower() in UNBOUNDED_FIELDS else MAX_FIELD_VALUE


@dataclass(frozen=True)
class Defect:
    """Something wrong with a message that was mended or tolerated."""

    kind: str
    header: str | None = None

    def as_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "header": self.header} if self.header else {"kind": self.kind}


@dataclass(frozen=True)
class HeaderField:
    """One header field as it appeared: its name and its physical lines, line endings removed
    and NUL/CR mended.

    ``lines[0]`` is what followed the colon on the first line; later lines are the folded
    continuation lines, each starting with whitespace.
    """

    name: str
    lines: tuple[bytes, ...]
    # The lines as received when mending changed them: an address is judged on what was
    # written, so "a\x0bb"@x is unusable rather than quietly becoming "a b"@x.
    original: tuple[bytes, ...] | None = None
    truncated: bool = False  # cut at its size limit (see _value_limit): its last item may be incomplete

    @property
    def key(self) -> str:
        return self.name.lower()

    @property
    def unfolded(self) -> bytes:
        """The value with folding removed (RFC 5322 section 2.2.3) and outer whitespace trimmed."""
        return b"".join(self.lines).strip(b" \t")

    @property
    def size(self) -> int:
        """Bytes of the value (after the colon), as RFC 5322 counts a field's length."""
        return sum(len(line) for line in self.lines)

    def text(self) -> str:
        """The unfolded value as text: UTF-8 when it is, Windows-1252 otherwise."""
        return decode_bytes(self.unfolded)

    def written_text(self) -> str:
        """Like :meth:`text`, but of the lines as received (before NULs and controls were
        made spaces): what addresses are read from."""
        if self.original is None:
            return self.text()
        return decode_bytes(b"".join(self.original).strip(b" \t"))

    @property
    def is_ascii(self) -> bool:
        return all(line.isascii() for line in self.lines)

    def render(self, eol: bytes) -> bytes:
        head = self.name.encode("ascii") + b":" + self.lines[0]
        return eol.join((head, *self.lines[1:])) + eol


@dataclass(frozen=True)
class ParsedMessage:
    """A raw message seen as a list of header fields plus the offset where its body starts."""

    raw: Any  # bytes, bytearray or a memory map: anything with the bytes API
    fields: tuple[HeaderField, ...]
    body_offset: int
    eol: bytes
    has_separator: bool
    defects: tuple[Defect, ...]
    headers_overflow: bool = False  # the header block did not end within MAX_HEADER_SCAN

    @property
    def body(self) -> memoryview:
        """The body bytes, without copying them."""
        return memoryview(self.raw)[self.body_offset :]

    @property
    def size(self) -> int:
        return len(self.raw)

    def get_all(self, name: str) -> list[HeaderField]:
        key = name.lower()
        return [f for f in self.fields if f.key == key]

    def first(self, name: str) -> HeaderField | None:
        key = name.lower()
        return next((f for f in self.fields if f.key == key), None)

    @cached_property
    def from_addresses(self) -> tuple[str, ...]:
        """The addresses of the valid mailboxes in the first From field, read once for the
        message: the policy asks for them for every alias with a block or allow list, and again
        when it decides whether a bounce may be sent."""
        field = self.first("from")
        return tuple(m.address for m in parse_address_list(field.text()).valid_mailboxes) if field else ()


_OBS_FROM = re.compile(rb"From[ \t]*:")

def parse_message(raw: Any) -> ParsedMessage:
    """Split ``raw`` into header fields and a body offset, recording every defect met."""
    size = len(raw)
    defects: list[Defect] = []
    first_newline = raw.find(b"\n")
    bare_lf = first_newline != -1 and raw[first_newline - 1 : first_newline] != b"\r"
    eol = b"\n" if bare_lf else b"\r\n"  # no line break at all: CRLF, as SMTP sends
    if bare_lf:
        defects.append(Defect("bare-lf-line-endings"))

    start = 0
    # An mbox separator ("From sender date"), not "From : x@y": RFC 5322's obsolete syntax
    # allows white space before a field's colon, and that first line is the From field.
    if raw[:5] == b"From " and not _OBS_FROM.match(raw, 0, min(size, 1000)):
        defects.append(Defect("mbox-from-line"))
        start = size if first_newline == -1 else first_newline + 1
    block_end, body_offset, has_separator = _header_block_end(raw, start, size)
    overflow = body_offset is None and block_end < size
    if overflow:
        defects.append(Defect("headers-too-large"))
        body_offset = size
    elif body_offset is None:
        body_offset = size
        if size:
            defects.append(Defect("no-body"))
    elif not has_separator:
        defects.append(Defect("missing-header-body-separator"))

    truncated: set[int] = set()  # id() of the line lists of fields that were cut
    fields, stopped_at = _read_fields(raw, start, block_end, defects, truncated)
    if stopped_at < block_end:
        fields += _essential_fields(raw, stopped_at, block_end, defects, truncated)
    return ParsedMessage(
        raw=raw,
        fields=tuple(_field(name, lines, id(lines) in truncated) for name, lines in fields),
        body_offset=body_offset,
        eol=eol,
        has_separator=has_separator,
        defects=tuple(defects),
        headers_overflow=overflow,
    )


def _header_block_end(raw: Any, start: int, size: int) -> tuple[int, int | None, bool]:
    """Where the header lines end, where the body starts, and whether an empty line separated
    them. The body start is None when there is no body, or when the header block has not
    ended within MAX_HEADER_SCAN bytes (then the first value is where the scan stopped)."""
    scan_end = min(size, start + MAX_HEADER_SCAN)
    blank = _BLANK_LINE.search(raw, max(start - 1, 0), scan_end) if start < size else None
    if raw[start : start + 1] == b"\n" or raw[start : start + 2] == b"\r\n":
        return start, start + (1 if raw[start : start + 1] == b"\n" else 2), True
    limit = blank.start() + 1 if blank is not None else scan_end
    run = _HEADER_LINES.match(raw, start, limit)
    stopped = run.end() if run is not None else start
    if stopped < limit and blank is None and scan_end < size and raw.find(b"\n", stopped, limit) == -1:
        return scan_end, None, False  # a line longer than what is left of the scan: undecided
    if stopped < limit:  # a line that is not a header line: the body starts there
        if blank is None and scan_end == size and raw.find(b"\n", stopped, size) == -1:
            if _FIELD_START.match(raw, stopped) or raw[stopped : stopped + 1] in (b" ", b"\t", b":"):
                return size, None, False  # the last line is a header line without a newline
        return stopped, stopped, False
    if blank is not None:
        return limit, blank.end(), True
    if scan_end < size:
        return scan_end, None, False  # still headers MAX_HEADER_SCAN bytes in
    return size, None, False


def _read_fields(
    raw: Any, position: int, end: int, defects: list[Defect], truncated: set[int]
) -> tuple[list[tuple[str, list[bytes]]], int]:
    """Fields from ``position`` to ``end``, until the budgets run out. Returns the fields and
    where reading stopped; ``truncated`` gets the id() of the line list of each field cut."""
    fields: list[tuple[str, list[bytes]]] = []
    current: list[bytes] | None = None
    current_size = 0
    oversized = False
    dropping = False  # inside a field that was discarded: its continuation lines go too
    limit = MAX_FIELD_VALUE  # of the current field's value (see _value_limit)
    blank_seen = False  # the current field had a whitespace-only line (recorded once)
    budget_end = min(end, position + MAX_HEADER_BLOCK)
    while position < end:
        # The budgets are checked where a field starts: a field begun within them is read to
        # its end (within its own size budget), never cut at a line break. A cut there could
        # shorten its last address into another, valid one, and nothing would say so.
        if (position >= budget_end or len(fields) >= MAX_FIELDS) and raw[position] not in _WSP:
            defects.append(Defect("header-block-too-large" if position >= budget_end else "too-many-header-fields"))
            return _drop_oversized(fields), position
        line_start = position
        newline = raw.find(b"\n", position, end)
        line_end = end if newline == -1 else newline
        next_position = end if newline == -1 else newline + 1
        line = bytes(raw[position:line_end])
        if line.endswith(b"\r"):
            line = line[:-1]
        position = next_position

        if line[:1] and line[0] in _WSP:
            if current is None:
                if not dropping:
                    defects.append(Defect("continuation-without-header"))
                continue
            if oversized:  # the rest of the field goes unread, in one C-speed match
                position = _continuations_end(raw, position, end)
                continue
            blank = not line.strip(b" \t\r\x00")
            if blank:  # with every whitespace-only line after it, in one C-speed match
                position, size, glue = _blank_run(raw, line_start, end)
                if not blank_seen:  # once a field: a megabyte of them is one defect
                    blank_seen = True
                    defects.append(Defect("whitespace-only-continuation", fields[-1][0]))
            else:
                size = len(line)
            current_size += size  # white space counts toward the field's size too
            if current_size > limit:
                oversized = True
                if fields[-1][0].lower() in _CUT_NOT_DROPPED:
                    truncated.add(id(current))
                else:
                    current.clear()
                defects.append(Defect("header-too-large", fields[-1][0]))
                continue
            piece = glue if blank else _continuation(line, fields[-1][0], defects)
            if isinstance(piece, _Glue) and not blank_seen:  # a line mending left white space only
                blank_seen = True
                defects.append(Defect("whitespace-only-continuation", fields[-1][0]))
            current.append(piece)
            continue
        match = _FIELD_START.match(line)
        if match is None:  # ":" alone: an empty name; CPython skips such a line, and so do we
            defects.append(Defect("empty-header-name"))
            current, dropping = None, True
            continue
        name = match.group(1).decode("ascii")
        if match.group(2):
            defects.append(Defect("whitespace-before-colon", name))
        value = line[match.end() :]
        current_size, oversized, dropping, limit = len(value), False, False, _value_limit(name)
        blank_seen = False
        if current_size > limit:
            oversized = True
            defects.append(Defect("header-too-large", name))
            keep = name.lower() in _CUT_NOT_DROPPED
            current = [_mend(value[:limit], name, defects)] if keep else []
            if keep:
                truncated.add(id(current))
        else:
            current = [_mend(value, name, defects)]
        fields.append((name, current))
    return _drop_oversized(fields), position


_CONTINUATION_LINES = re.compile(rb"(?:[ \t][^\n]*+\n)*+")


def _continuations_end(raw: Any, position: int, end: int) -> int:
    """Where the run of continuation lines starting at ``position`` ends."""
    after = _CONTINUATION_LINES.match(raw, position, end).end()  # type: ignore[union-attr]  # matches empty
    if after < end and raw[after] in _WSP:  # the last line, without a line ending
        return end
    return after


def _field(name: str, lines: list[bytes], truncated: bool) -> HeaderField:
    """The field from its lines as read: each whitespace-only line joins the line before it
    (in one join per line, however many there are), and a mended line keeps what was written."""
    mended: list[list[bytes]] = []
    original: list[list[bytes]] = []
    was_mended = False
    for line in lines:
        if isinstance(line, _Glue) and mended:
            mended[-1].append(line)
            original[-1].append(line)
            continue
        if isinstance(line, _Mended):
            was_mended = True
            mended.append([line.mended])
        else:
            mended.append([line])
        original.append([bytes(line)])
    joined = tuple(b"".join(parts) for parts in mended)
    if was_mended:
        return HeaderField(name, joined, tuple(b"".join(parts) for parts in original), truncated)
    return HeaderField(name, joined, None, truncated)


class _Mended(bytes):
    """A line as received that mending changed; ``mended`` is what is used."""

    mended: bytes


class _Glue(bytes):
    """The white space of a whitespace-only continuation line. The line goes (some readers
    take it for the blank line ending the header block), its white space stays, joined to the
    line before: unfolding keeps every space, and inside a quoted string a space is part of an
    address."""


# Whitespace-only continuation lines (NUL and CR count as white space there), the last one
# maybe without a line ending.
_BLANK_LINES = re.compile(rb"(?:[ \t][ \t\r\x00]*+(?:\n|\Z))++")


def _blank_run(raw: Any, position: int, end: int) -> tuple[int, int, _Glue]:
    """The run of whitespace-only continuation lines starting at ``position`` (one at least):
    where it ends, its size as a field's lines count it (line endings excluded), and its white
    space. Read as one match, so a megabyte of such lines costs no Python work per line."""
    run_end = _BLANK_LINES.match(raw, position, end).end()  # type: ignore[union-attr]  # the caller saw one
    run = bytes(raw[position:run_end])
    size = len(run) - run.count(b"\n") - run.count(b"\r\n") - (run[-1:] == b"\r")  # each line's CR LF or LF
    return run_end, size, _Glue(run.replace(b"\n", b"").replace(b"\r", b"").replace(b"\x00", b""))


def _drop_oversized(fields: list[tuple[str, list[bytes]]]) -> list[tuple[str, list[bytes]]]:
    """Fields emptied for being too large go."""
    return [(name, lines) for name, lines in fields if lines]


def _continuation(line: bytes, header: str, defects: list[Defect]) -> bytes:
    """A continuation line, mended (:func:`_mend`). One that mending leaves white space only
    (`` \\v``, say) is joined to the line before, as a whitespace-only line is: on a line of its
    own it would be a line of white space only, which no field Sesame writes may hold."""
    mended = _mend(line, header, defects)
    if isinstance(mended, _Mended) and not mended.mended.strip(b" \t"):
        return _Glue(mended.mended)
    return mended


def _mend(line: bytes, header: str, defects: list[Defect]) -> bytes:
    """``line`` without NUL bytes, and with bare CR and the other control characters (tab
    excepted) made spaces, each kind recorded. CPython's parser splits header lines at \\r, \\v, \\f and \\x1c-\\x1e,
    so left in place they could become line breaks downstream."""
    if not _CONTROL.search(line):
        return line
    if b"\x00" in line:
        defects.append(Defect("nul-in-header", header))
    if b"\r" in line:
        defects.append(Defect("bare-cr-in-header", header))
    if _OTHER_CONTROL.search(line):
        defects.append(Defect("control-character-in-header", header))
    original = _Mended(line)
    original.mended = _CONTROL.sub(b" ", line.replace(b"\x00", b""))
    return original


def _essential_fields(
    raw: Any, position: int, end: int, defects: list[Defect], truncated: set[int]
) -> list[tuple[str, list[bytes]]]:
    """Past the budgets: only the essential fields, each within its limit (see
    :func:`_value_limit`), up to MAX_ESSENTIAL_REPEATS copies of each; further copies are
    dropped and recorded. Later copies of a field that may appear once are read too: the rewrite
    keeps the first copy it can send, as it does within the budgets, so an unusable copy (a
    References of 8-bit text, say) read before them does not cost the message its field."""
    repeats: dict[str, int] = {}
    found: list[tuple[str, list[bytes]]] = []
    for match in _ESSENTIAL_START.finditer(raw, max(0, position - 1), end):
        key = match.group(1).decode("ascii").lower()
        repeats[key] = repeats.get(key, 0) + 1
        if repeats[key] > MAX_ESSENTIAL_REPEATS:
            if repeats[key] == MAX_ESSENTIAL_REPEATS + 1:
                defects.append(Defect("too-many-copies", match.group(1).decode("ascii")))
            continue
        name = match.group(1).decode("ascii")
        lines = _field_lines(raw, match.end(), end, name, defects, truncated)
        if lines:
            found.append((name, lines))
    if found:
        defects.append(Defect("essential-headers-recovered"))
    return found


def _field_lines(
    raw: Any, position: int, end: int, name: str, defects: list[Defect], truncated: set[int]
) -> list[bytes]:
    """The value lines of one field whose name ends at ``position``, within its limit (see
    :func:`_value_limit`): a Subject, From, Reply-To, To, Cc or References is cut there,
    anything else dropped."""
    lines: list[bytes] = []
    total = 0
    limit = _value_limit(name)
    blank_seen = False
    while position < end:
        newline = raw.find(b"\n", position, end)
        line_end = end if newline == -1 else newline
        line = bytes(raw[position:line_end]).removesuffix(b"\r")
        blank = bool(lines) and not line.strip(b" \t\r\x00")
        if blank:  # with every whitespace-only line after it, as for the fields within the budgets
            next_position, size, glue = _blank_run(raw, position, end)
        else:
            next_position, size = (end if newline == -1 else newline + 1), len(line)
        total += size
        if total > limit:
            defects.append(Defect("header-too-large", name))
            if name.lower() not in _CUT_NOT_DROPPED:
                return []
            if not lines:
                lines.append(_mend(line[:limit], name, defects))
            truncated.add(id(lines))
            return lines
        if blank:
            piece: bytes = glue
        else:
            piece = _continuation(line, name, defects) if lines else _mend(line, name, defects)
        if isinstance(piece, _Glue) and not blank_seen:  # once a field, as for the fields read within the budgets
            blank_seen = True
            defects.append(Defect("whitespace-only-continuation", name))
        lines.append(piece)
        position = next_position
        if raw[position : position + 1] not in (b" ", b"\t"):
            break
    return lines
