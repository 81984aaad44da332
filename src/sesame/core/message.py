"""The header block of a raw message, split from its body without parsing the body.

Only the header block is read; the body is a byte offset into the original buffer, so a
40 MB message costs one pass over a few kilobytes of headers. Defects are collected as
data, never raised: real mail is messy and must still be forwarded when it safely can be.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# RFC 5322 field name: printable US-ASCII except colon. Whitespace before the colon is
# obsolete syntax that real mail still uses, so it is accepted and reported.
_FIELD_START = re.compile(rb"([\x21-\x39\x3b-\x7e]+)([ \t]*):")
_WSP = (0x20, 0x09)


@dataclass(frozen=True)
class Defect:
    """Something wrong with a message that was mended or tolerated."""

    kind: str
    header: str | None = None

    def as_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "header": self.header} if self.header else {"kind": self.kind}


@dataclass(frozen=True)
class HeaderField:
    """One header field as it appeared: its name and its physical lines, line endings removed.

    ``lines[0]`` is what followed the colon on the first line; later lines are the folded
    continuation lines, each starting with whitespace.
    """

    name: str
    lines: tuple[bytes, ...]

    @property
    def key(self) -> str:
        return self.name.lower()

    @property
    def unfolded(self) -> bytes:
        """The value with folding removed (RFC 5322 section 2.2.3) and outer whitespace trimmed."""
        return b"".join(self.lines).strip(b" \t")

    def text(self) -> str:
        """The unfolded value as text: UTF-8 when it is, Windows-1252 otherwise."""
        raw = self.unfolded
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return raw.decode("cp1252", errors="replace")

    @property
    def is_ascii(self) -> bool:
        return all(line.isascii() for line in self.lines)

    def render(self, eol: bytes) -> bytes:
        head = self.name.encode("ascii") + b":" + self.lines[0]
        return eol.join((head, *self.lines[1:])) + eol


@dataclass(frozen=True)
class ParsedMessage:
    """A raw message seen as a list of header fields plus the offset where its body starts."""

    raw: bytes
    fields: tuple[HeaderField, ...]
    body_offset: int
    eol: bytes
    has_separator: bool
    defects: tuple[Defect, ...]

    @property
    def body(self) -> memoryview:
        """The body bytes, without copying them."""
        return memoryview(self.raw)[self.body_offset :]

    def get_all(self, name: str) -> list[HeaderField]:
        key = name.lower()
        return [f for f in self.fields if f.key == key]

    def first(self, name: str) -> HeaderField | None:
        key = name.lower()
        return next((f for f in self.fields if f.key == key), None)


def parse_message(raw: bytes) -> ParsedMessage:
    """Split ``raw`` into header fields and a body offset, recording every defect met."""
    fields: list[tuple[str, list[bytes]]] = []
    defects: list[Defect] = []
    eol: bytes | None = None
    current: list[bytes] | None = None
    dropping = False  # inside a field that was discarded: its continuation lines go too
    pos, size = 0, len(raw)
    body_offset, has_separator = size, False

    while pos < size:
        newline = raw.find(b"\n", pos)
        end, next_pos = (size, size) if newline == -1 else (newline, newline + 1)
        line = raw[pos:end]
        line_eol = b"\r\n" if line.endswith(b"\r") and newline != -1 else b"\n"
        if line_eol == b"\r\n":
            line = line[:-1]
        if eol is None and newline != -1:
            eol = line_eol
            if eol == b"\n":
                defects.append(Defect("bare-lf-line-endings"))

        if not line:
            body_offset, has_separator = next_pos, True
            break
        if b"\x00" in line or b"\r" in line:
            line = _mend_line(line, fields[-1][0] if line[0] in _WSP and current is not None else None, defects)

        if line[:1] and line[0] in _WSP:
            if current is None:
                if not dropping:
                    defects.append(Defect("continuation-without-header"))
            elif not line.strip(b" \t"):
                defects.append(Defect("whitespace-only-continuation", fields[-1][0]))
            else:
                current.append(line)
        elif (match := _FIELD_START.match(line)) is not None:
            name = match.group(1).decode("ascii")
            if match.group(2):
                defects.append(Defect("whitespace-before-colon", name))
            current, dropping = [line[match.end() :]], False
            fields.append((name, current))
        elif line.startswith(b":"):
            defects.append(Defect("empty-header-name"))
            current, dropping = None, True
        elif pos == 0 and line.startswith(b"From "):
            defects.append(Defect("mbox-from-line"))
            current, dropping = None, True
        else:
            # Not a header and not a continuation: the sender forgot the blank line.
            defects.append(Defect("missing-header-body-separator"))
            body_offset = pos
            break
        pos = next_pos
    else:
        if size:
            defects.append(Defect("no-body"))

    return ParsedMessage(
        raw=raw,
        fields=tuple(HeaderField(name, tuple(lines)) for name, lines in fields),
        body_offset=body_offset,
        eol=eol or b"\r\n",
        has_separator=has_separator,
        defects=tuple(defects),
    )


def _mend_line(line: bytes, continued: str | None, defects: list[Defect]) -> bytes:
    """``line`` without NUL bytes and bare CRs, each kind met logged against its field."""
    mended = line.replace(b"\x00", b"").replace(b"\r", b" ")
    header = continued
    if header is None and (match := _FIELD_START.match(mended)) is not None:
        header = match.group(1).decode("ascii")
    if b"\x00" in line:
        defects.append(Defect("nul-in-header", header))
    if b"\r" in line:
        defects.append(Defect("bare-cr-in-header", header))
    return mended
