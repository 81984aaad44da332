"""Header text encodings Sesame reads and writes: RFC 2047 encoded words, RFC 2231 parameters.

Written here rather than borrowed from the stdlib ``email`` package because the stdlib's
header folding is super-linear on hostile input (an 8-bit Subject of 411 KB took 31 CPU
seconds) and has written decoded line breaks back out raw (CVE-2024-6923). Everything here is
linear in its input, and every encoder output is ASCII with no CR, LF or NUL: a decoded line
break can only ever end up inside base64.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import re

from sesame.core.documents import without_lone_surrogates

# RFC 2047 section 2: encoded-word = "=?" charset "?" encoding "?" encoded-text "?=", at most
# 75 characters; charset may carry an RFC 2231 language suffix ("utf-8*en").
_ENCODED_WORD = re.compile(r"=\?([^?\s*]{1,40})(?:\*[^?\s]{0,20})?\?([bBqQ])\?([^?\s]{0,2000})\?=")
_Q_ESCAPE = re.compile(rb"=([0-9A-Fa-f]{2})")
_WSP_ONLY = re.compile(r"[ \t\r\n]*")
# base64 encoded words: "=?utf-8?b?" + payload + "?=" within 75 characters leaves 63 for the
# payload; 45 bytes of UTF-8 make 60 characters of base64.
_WORD_PREFIX = "=?utf-8?b?"
_WORD_BYTES = 45


def decode_bytes(raw: bytes) -> str:
    """Header bytes as text: UTF-8 when they are, Windows-1252 (the usual 8-bit) otherwise."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("cp1252", errors="replace")


def decode_words(text: str) -> str:
    """``text`` with its RFC 2047 encoded words decoded; a word that cannot be decoded (unknown
    or non-text charset, broken base64) stays as written. Whitespace between two adjacent
    encoded words is dropped, as RFC 2047 section 6.2 says."""
    if "=?" not in text:
        return text
    out: list[str] = []
    position = 0
    previous_decoded = False
    for match in _ENCODED_WORD.finditer(text):
        between = text[position : match.start()]
        decoded = _decode_word(match.group(1), match.group(2), match.group(3))
        if decoded is None:
            out.append(between + match.group(0))
            previous_decoded = False
        else:
            if not (previous_decoded and _WSP_ONLY.fullmatch(between)):
                out.append(between)
            out.append(decoded)
            previous_decoded = True
        position = match.end()
    out.append(text[position:])
    return "".join(out)


def _decode_word(charset: str, encoding: str, payload: str) -> str | None:
    try:
        info = codecs.lookup(charset)
    except LookupError:
        return None
    if not getattr(info, "_is_text_encoding", True):
        return None  # rot13, zlib, base64 ... are codecs but not charsets
    try:
        if encoding in "bB":
            data = base64.b64decode(payload + "=" * (-len(payload) % 4), validate=True)
        else:
            data = _Q_ESCAPE.sub(lambda m: bytes([int(m.group(1), 16)]), payload.replace("_", " ").encode("ascii"))
        text = data.decode(info.name, errors="replace")
    except (binascii.Error, ValueError, UnicodeError, LookupError):
        return None
    # UTF-7 ("+2AA-") and the escape codecs decode to lone surrogates, which are no characters
    # and which no UTF-8 encoder takes: each becomes U+FFFD, as a broken byte does.
    return without_lone_surrogates(text)


def encode_words(text: str, eol: str, first_room: int = 75) -> str:
    """``text`` as base64 UTF-8 encoded words, one a line, lines joined by ``eol`` plus a space.
    The first word fits in ``first_room`` characters (what is left of its line); the others
    are at most 72, a line of their own within 78. Characters are never split across words
    (RFC 2047 section 5)."""
    data = text.encode("utf-8")
    words: list[str] = []
    start = 0
    first_bytes = max(3, (first_room - len(_WORD_PREFIX) - 2) // 4 * 3)
    while start < len(data):
        end = min(start + (_WORD_BYTES if words else min(first_bytes, _WORD_BYTES)), len(data))
        while end < len(data) and end > start and data[end] & 0xC0 == 0x80:
            end -= 1  # back off to the start of a UTF-8 sequence
        if end == start:  # cannot happen with valid UTF-8; keep going rather than loop
            end = min(start + _WORD_BYTES, len(data))
        words.append(_WORD_PREFIX + base64.b64encode(data[start:end]).decode("ascii") + "?=")
        start = end
    return (eol + " ").join(words)


def needs_encoding(text: str) -> bool:
    """Text that must be encoded to appear in a header: non-ASCII, or text a reader would take
    for an encoded word (even inside quotes)."""
    return not text.isascii() or "=?" in text


# RFC 2231 attribute-char: any CHAR except space, controls, "*", "'", "%" and tspecials.
_ATTRIBUTE_CHAR = re.compile(r"[A-Za-z0-9!#$&+\-.^_`{|}~]")
_PARAMETER_SEGMENT = 74  # a line: a space, the segment, a semicolon


def encode_parameter(name: str, value: str, eol: str) -> str:
    """An RFC 2231 extended parameter (``name*=utf-8''...``), split into numbered segments
    (``name*0*=``, ``name*1*=``...) of lines within 78 characters when long. Returned without
    the leading ``; ``; segments after the first are joined with ``;`` + ``eol`` + space."""
    encoded = "".join(ch if _ATTRIBUTE_CHAR.fullmatch(ch) else "".join(f"%{b:02X}" for b in ch.encode()) for ch in value)
    prefix = "utf-8''"
    if len(name) + 2 + len(prefix) + len(encoded) <= _PARAMETER_SEGMENT:
        return f"{name}*={prefix}{encoded}"
    segments: list[str] = []
    position = 0
    while position < len(encoded):
        label = f"{name}*{len(segments)}*=" + (prefix if not segments else "")
        end = min(position + max(12, _PARAMETER_SEGMENT - len(label)), len(encoded))
        percent = encoded.rfind("%", max(position, end - 2), end)
        if percent != -1 and percent + 3 > end and end < len(encoded):
            end = percent  # never split a %XX escape
        segments.append(label + encoded[position:end])
        position = end
    return (";" + eol + " ").join(segments)


__all__ = ["decode_bytes", "decode_words", "encode_parameter", "encode_words", "needs_encoding"]
