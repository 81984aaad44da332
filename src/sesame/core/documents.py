r"""JSON and TOML documents read from text nobody vetted; JSON and terminal text written from it.

Reading (queue records, SSM parameters, alias files): ``json.loads`` and ``tomllib.loads``
recurse once per level of nesting, so ``[[[[...`` a few thousand levels deep (4 KB fits in one
SSM parameter, 256 KB in one queue record) raises ``RecursionError``, which no caller expects
from bad input. Here it is the ``ValueError`` that every other malformed document raises, so
one ``except ValueError`` turns all of them into a clear error or a recorded outcome.

Writing (index and feedback records, query output): JSON may carry a lone surrogate
(``"\udc80"`` is valid JSON syntax, and ``json.loads`` gives it back as one), which UTF-8
cannot encode and which no consumer reads alike: RFC 8259, section 8.2, calls the behaviour
"unpredictable", DuckDB refuses the whole file ("no low surrogate in string"). A lone surrogate
is no character, so what is written has U+FFFD in its place and every consumer reads the same
valid UTF-8. Records are written with ``ensure_ascii=False`` so that they stay readable, and
one record is one line: JSON Lines ends a line at "\n" only, so a reader must split there and
not at every Unicode line boundary (``str.splitlines`` also splits at U+0085 and U+2028, which
JSON keeps raw inside strings).

Printing (``sesame query``, local mode's lines): a subject or an address is the sender's text.
Control characters would drive the operator's terminal (ESC starts a command sequence), line
breaks would forge lines of output, bidirectional overrides would show text in another order
than it has; :func:`printable` shows each as U+FFFD.
"""

from __future__ import annotations

import json
import re
import tomllib
from typing import Any

_SURROGATE = re.compile("[\ud800-\udfff]")
# C0, DEL and C1 controls; the Arabic letter mark, LRM and RLM; line and paragraph separators;
# bidirectional embeddings, overrides and isolates; lone surrogates.
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ud800-\udfff]")


class TooDeep(ValueError):
    """Nested deeper than the parser can follow."""


def loads_json(text: str | bytes) -> Any:
    """``json.loads``; every malformed document, however deep, raises ``ValueError``."""
    try:
        return json.loads(text)
    except RecursionError:
        raise TooDeep("JSON nested too deeply to read") from None


def loads_toml(text: str) -> dict[str, Any]:
    """``tomllib.loads``; every malformed document, however deep, raises ``ValueError``."""
    try:
        return tomllib.loads(text)
    except RecursionError:
        raise TooDeep("TOML nested too deeply to read") from None


def dumps_json(value: Any, **options: Any) -> str:
    """``json.dumps(value, ensure_ascii=False, **options)``, each lone surrogate written as
    U+FFFD: text that encodes to UTF-8 and that every JSON reader reads alike."""
    text = json.dumps(value, ensure_ascii=False, **options)
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return without_lone_surrogates(text)
    return text


def without_lone_surrogates(text: str) -> str:
    """``text`` with U+FFFD for each lone surrogate: no character, and UTF-8 cannot encode it."""
    return _SURROGATE.sub("\ufffd", text)


def json_line(value: Any, **options: Any) -> bytes:
    """One JSON Lines record, compact and newline-terminated, in UTF-8; see :func:`dumps_json`.
    Encoded once: the lone surrogates are looked for only when encoding fails."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), **options) + "\n"
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return without_lone_surrogates(text).encode("utf-8")


def printable(text: str) -> str:
    """``text`` safe to print on a terminal, one line: every character that could move the
    cursor, end the line, reorder the text or fail to encode is U+FFFD."""
    return _UNPRINTABLE.sub("\ufffd", text)
