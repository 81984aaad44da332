"""Hostile raw messages for the forward path, each with the facts its sender intended.

A header grammar of its own (not Sesame's, not the ``email`` package's) generates whole raw
messages, header block and body, and records for each one what a conforming reader must see
in it: its header fields (names in order, values), where the body starts and its exact bytes,
the addresses each address field holds, the first Content-Type's media type and boundary,
and the envelope sender. The fuzz tests compare what Sesame sends against these facts.

Where a message is malformed in a way RFC 5322 leaves to the reader (an unclosed comment, a
control character outside quotes), the facts say so: such a field's addresses are *optional*
(a reader may or may not recover them), never *required*.

What the grammar covers:

- addresses: dot-atom and quoted local parts, obsolete local parts with CFWS around dots,
  routes (``<@a,@b:x@y>``), groups (``undisclosed:;``, ``team: a@b, c@d;``), empty list
  elements, CFWS everywhere, comments nested to any depth (also folded into short lines),
  unusable addresses (``.@M``, ``a@=``, ``a@.``, 8-bit, over-long), broken syntax;
- display names: atoms, quoted strings with escapes and VT/FF, raw UTF-8 (U+2028, NEL, RTL
  marks), invalid UTF-8 and Latin-1, encoded words in many charsets including unknown ones,
  bad base64, bad quoted-printable, and encoded CR/LF/NUL/``Bcc:``/``<a@evil>``;
- other fields: Subject (8-bit, encoded, huge), To/Cc (duplicated, many addresses),
  Content-Type with RFC 2231 and 8-bit parameters, DKIM-Signature, Return-Path, Sender,
  X-SES-*, Received chains, Auto-Submitted, List-Id, Precedence, duplicates of the
  single-instance fields, the loop marker, random names, whitespace before the colon;
- lines: CRLF, LF or mixed endings, folding anywhere whitespace is, whitespace-only
  continuation lines, lines far over 998 octets, NUL and bare CR inside values, U+2028, NEL,
  VT and FF, an mbox ``From `` line, empty-name lines, a leading continuation line;
- the body: after a blank line, or with the blank line missing so that the first body line
  is a line no reader may take for a header (``\\x00Content-Type: text/html``, ``T\\x00o: x``,
  ``Bad Name: x``, 8-bit names, text), or no body at all.

Sizes come from a profile: ``SESAME_FUZZ=long`` makes fields, lists and nesting far larger.
"""

from __future__ import annotations

import base64
import dataclasses
import functools
import os
import random
from collections.abc import Callable
from dataclasses import dataclass

from hypothesis import strategies as st

from addrspec import canonical_local

# --- sizes ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sizes:
    extra_fields: int  # free fields besides the ones every message may have
    text: int  # characters of a free text value
    list_elements: int  # address-list elements generated one by one
    bulk_addresses: int  # addresses of a list generated in bulk
    depth: int  # comment nesting
    received: int  # Received fields (the loop limit is 30)
    repeat: int  # copies of a repeated word or field
    body: int


CI_SIZES = Sizes(extra_fields=10, text=120, list_elements=4, bulk_addresses=120, depth=1500, received=34, repeat=300, body=200)
LONG_SIZES = Sizes(extra_fields=40, text=1000, list_elements=10, bulk_addresses=3000, depth=5000, received=40, repeat=10000, body=3000)
LONG = os.environ.get("SESAME_FUZZ", "").lower() == "long"
SIZES = LONG_SIZES if LONG else CI_SIZES

EOLS = (b"\r\n", b"\n")

# --- budgets ------------------------------------------------------------------------------------
# A forwarder may give up on the absurd parts of a hostile message, as mature MTAs do, but only
# beyond these bounds: within them every fact is required. The numbers are Gmail's limits on
# incoming mail (Google Workspace Admin Help, "Gmail message header limits": any single header
# 32 KB except To, Cc and References; Message-ID 500 characters), where forwarded mail mostly
# lands, and for nesting and address counts, bounds far beyond what real mail uses (Postfix's
# header_address_token_limit, 10,240 tokens, is the same idea).
BUDGET_COMMENT_DEPTH = 32  # deeper comment nesting may make an address field unreadable
BUDGET_FIELD_VALUE = 32_000  # octets after the colon, folding included
BUDGET_UNBOUNDED = frozenset({"to", "cc", "references"})
BUDGET_MESSAGE_ID = 500
BUDGET_ADDRESSES = 1_000  # addresses read from one field (To and Cc: after merging)
# Address tokens read in one whole message (Postfix's header_address_token_limit, per message
# rather than per field). A token is at least one octet, so a message whose fields hold fewer
# octets than this cannot reach it; past it, the addresses of every field but the first From
# (read first, and smaller than this) are only optional. A field with deep comments may be read
# twice (once more without its comments), so its octets count twice.
BUDGET_ADDRESS_TOKENS = 100_000
# Fields with no encoded words (RFC 2047 section 5) that can only be folded at whitespace: a
# word too long for a 998-octet line (RFC 5322 section 2.1.1) cannot be sent at all.
UNENCODABLE = frozenset({"message-id", "in-reply-to", "references", "date"})
MAX_LINE = 998


def longest_word(value: bytes) -> int:
    return max((len(word) for word in value.replace(b"\t", b" ").split(b" ")), default=0)


def comment_depth(value: bytes) -> int:
    """The deepest comment nesting in an address field's value (quoted strings skipped)."""
    depth = deepest = 0
    quoted = escaped = False
    for byte in value:
        if escaped:
            escaped = False
        elif byte == 0x5C:  # backslash
            escaped = quoted or depth > 0
        elif byte == 0x22 and depth == 0:  # a quote outside comments
            quoted = not quoted
        elif not quoted and byte == 0x28:
            depth += 1
            deepest = max(deepest, depth)
        elif not quoted and byte == 0x29 and depth:
            depth -= 1
    return deepest


# --- facts --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Addresses:
    """What an address field holds, as its sender wrote it."""

    required: tuple[str, ...] = ()  # usable addresses every conforming reader finds, in order
    optional: tuple[str, ...] = ()  # usable addresses in malformed surroundings: may be found

    def __add__(self, other: Addresses) -> Addresses:
        return Addresses(self.required + other.required, self.optional + other.optional)

    def demoted(self) -> Addresses:
        """The same addresses once something unreadable is near them: all optional."""
        return Addresses((), self.required + self.optional)


@dataclass(frozen=True)
class Piece:
    """Generated text and the addresses it holds."""

    text: bytes
    addresses: Addresses = Addresses()

    def __add__(self, other: Piece) -> Piece:
        return Piece(self.text + other.text, self.addresses + other.addresses)


def join(pieces: list[Piece], sep: bytes = b"") -> Piece:
    text = sep.join(p.text for p in pieces)
    addresses = Addresses()
    for p in pieces:
        addresses = addresses + p.addresses
    return Piece(text, addresses)


@dataclass(frozen=True)
class Field:
    """One header field as intended: its name, its unfolded value (the bytes after the colon),
    and, for address fields, the addresses it holds."""

    name: str
    value: bytes
    addresses: Addresses | None = None
    before_colon: bytes = b""  # obsolete whitespace between the name and the colon
    fold: str = "none"  # none, spaces (at every whitespace), some, width
    content_type: tuple[str, str | None] | None = None  # (media type, boundary) when well-formed
    raw_size: int = 0  # octets after the colon as written, folding included (set by render)

    @property
    def key(self) -> str:
        return self.name.lower()

    @property
    def over_budget(self) -> bool:
        """A forwarder may drop (or, for Subject, shorten) this field: see the budgets."""
        if self.key == "message-id" and self.raw_size > BUDGET_MESSAGE_ID:
            return True
        if self.key in UNENCODABLE and (
            len(self.name) + 2 + longest_word(self.value) > MAX_LINE or not self.value.isascii()
        ):
            return True  # nothing to send it as: no encoded words there, no fold inside a word
        if self.addresses is not None and comment_depth(self.value) > BUDGET_COMMENT_DEPTH:
            return True
        return self.key not in BUDGET_UNBOUNDED and self.raw_size > BUDGET_FIELD_VALUE

    def facts(self) -> Addresses | None:
        """The addresses a forwarder must find in this field, the budgets applied."""
        if self.addresses is None:
            return None
        if self.over_budget:
            return self.addresses.demoted()
        required = self.addresses.required
        return Addresses(required[:BUDGET_ADDRESSES], required[BUDGET_ADDRESSES:] + self.addresses.optional)


@dataclass(frozen=True)
class Envelope:
    sender: str  # mail.source as SES would report it (every byte of it hostile)
    usable: bool  # an address a DSN or a reply could go to
    spam: str = "PASS"
    virus: str = "PASS"
    spf: str = "PASS"
    dkim: str = "PASS"
    dmarc: str = "PASS"
    dmarc_policy: str | None = None


@dataclass(frozen=True)
class HostileMessage:
    """A raw message and what its sender intended it to say."""

    raw: bytes
    fields: tuple[Field, ...]  # the header fields a conforming reader sees, in order
    body: bytes  # exactly the bytes after the header block (and its blank line, if any)
    first_eol: bytes  # the line ending of the first line
    envelope: Envelope
    junk_lines: int = 0  # lines in the header block that are no field (mbox From, ":x", " x")

    def __repr__(self) -> str:  # what a failing example prints: enough to replay it
        return f"HostileMessage(raw={self.raw!r}, envelope={self.envelope!r})"

    def _repr_pretty_(self, printer, cycle) -> None:  # type: ignore[no-untyped-def]  # hypothesis's printer
        printer.text(repr(self))

    @property
    def names(self) -> set[str]:
        return {f.key for f in self.fields}

    def all(self, name: str) -> list[Field]:
        key = name.lower()
        return [f for f in self.fields if f.key == key]

    def first(self, name: str) -> Field | None:
        found = self.all(name)
        return found[0] if found else None

    @functools.cached_property
    def field_octets(self) -> int:
        """An upper bound of the address tokens a reader may spend on this message."""
        return sum(
            max(f.raw_size, len(f.value)) * (2 if f.value.count(b"(") > BUDGET_COMMENT_DEPTH else 1)
            for f in self.fields
        )

    def facts(self, field: Field) -> Addresses | None:
        """``field.facts()``, with the message-wide budget of address tokens applied."""
        facts = field.facts()
        if facts is None or self.field_octets <= BUDGET_ADDRESS_TOKENS or field is self.first("From"):
            return facts
        return facts.demoted()


# --- drawing shortcuts ----------------------------------------------------------------------------
# Strategies are built once, at import: building them inside a draw costs hypothesis a
# validation pass each time, which made generation ten times slower.


@functools.cache
def choice(options: tuple) -> st.SearchStrategy:  # type: ignore[type-arg]
    return st.sampled_from(options)


@functools.cache
def between(low: int, high: int) -> st.SearchStrategy[int]:
    return st.integers(low, high)


def chance(draw: st.DrawFn, one_in: int) -> bool:
    return draw(between(1, one_in)) == 1


def high_bytes(size: int) -> st.SearchStrategy[bytes]:
    return st.binary(min_size=1, max_size=size).map(lambda b: bytes(c | 0x80 for c in b))


# --- words and text ------------------------------------------------------------------------------

LOWER = "abcdefghijklmnopqrstuvwxyz"
DIGITS = "0123456789"
ATEXT_CHARS = LOWER + LOWER.upper() + DIGITS + "!#$%&'*+/=?^_`{|}~-"
# Non-ASCII text a sender's client may put anywhere: letters, line and paragraph separators,
# NEL, bidi overrides, zero-width characters, emoji.
TRICKY_CHARS = "\u2028\u2029\u0085\u202e\u200b\u200d\ufeff\u00a0\u3000"
unicode_text = st.text(
    alphabet=st.one_of(
        st.characters(min_codepoint=0x80, max_codepoint=0x2FFFF, blacklist_categories=("Cs",)),
        st.sampled_from(TRICKY_CHARS),
    ),
    min_size=1,
    max_size=12,
)
unicode_bytes = unicode_text.map(lambda t: t.encode("utf-8"))
ascii_word = st.text(alphabet=ATEXT_CHARS, min_size=1, max_size=10)
plain_word = st.text(alphabet=LOWER, min_size=1, max_size=9)

# What an encoded word may decode to: anything that would be dangerous if written out raw.
DECODED_DANGERS = (
    "\r\nBcc: hidden@evil.example",
    "\nTo: hidden@evil.example",
    "\x00",
    "\r",
    "a@evil.example, b@evil.example",
    "<evil@evil.example>",
    '"quoted" \\ back',
    "\u2028Bcc: hidden@evil.example",
    "=?utf-8?q?nested?=",
    "caf\u00e9 na\u00efve",
)
CHARSETS = (
    "utf-8", "UTF-8", "us-ascii", "iso-8859-1", "windows-1252", "iso-8859-15", "koi8-r",
    "shift_jis", "iso-2022-jp", "euc-kr", "gb2312", "big5", "utf-16", "utf-7",
)
BAD_CHARSETS = ("x-unknown", "utf-8*en", "", "unicode-1-1-utf-7", "../../etc", "utf8mb4")
decoded_texts = st.one_of(unicode_text, st.sampled_from(DECODED_DANGERS), plain_word)


@st.composite
def _encoded_words(draw: st.DrawFn) -> bytes:
    """An RFC 2047 encoded word, valid or not. Its encoded text uses only characters allowed
    in a phrase (RFC 2047 section 5 (3)), so it stays one atom for a reader that does not
    decode it; what it decodes to is where the danger is."""
    kind = draw(choice(("good", "good", "bad-charset", "bad-base64", "bad-q", "bad-encoding", "lone-surrogate")))
    if kind == "lone-surrogate":  # UTF-7 decodes these to a lone surrogate, which UTF-8 cannot encode
        return draw(choice((b"=?utf-7?q?+2AA-?=", b"=?UTF-7?B?KzJBQS0=?=", b"=?utf-7?q?a+3IA-b?=", b"=?utf-7?q?+2D3YPQ-?=")))
    text = draw(decoded_texts)
    charset = draw(choice(BAD_CHARSETS if kind == "bad-charset" else CHARSETS))
    try:
        data = text.encode(charset or "utf-8")
    except (LookupError, UnicodeEncodeError):
        data = text.encode("utf-8")
    encoding = draw(choice(("B", "b", "Q", "q")))
    if kind == "bad-base64":
        payload, encoding = draw(choice((b"abc", b"!!!!", b"YWJj=", b"=", b"YQ", b"Y"))), "B"
    elif kind == "bad-q":
        payload, encoding = draw(choice((b"=ZZ", b"=0", b"a=", b"=0D=0A=00"))), "Q"
    elif encoding in "Bb":
        payload = base64.b64encode(data)
    else:
        payload = b"".join(
            bytes([c]) if (chr(c).isalnum() and c < 128) or c in b"!*+-/" else b"_" if c == 32 else b"=%02X" % c
            for c in data
        )
    if kind == "bad-encoding":
        encoding = draw(choice(("X", "", "BQ")))
    return b"=?" + charset.encode() + b"?" + encoding.encode() + b"?" + payload + b"?="


encoded_words = _encoded_words()


def _quote(value: bytes) -> bytes:
    return b'"' + value.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'


# A quoted string: specials, escapes, VT/FF/DEL (obs-qtext), 8-bit text, folding whitespace.
quoted_strings = st.lists(
    st.one_of(
        ascii_word.map(str.encode),
        st.sampled_from((b" ", b"\t", b",", b";", b":", b"<evil@evil.example>", b"@", b"(", b")", b"\x0b", b"\x0c", b"\x7f")),
        st.sampled_from((b'"', b"\\")),
        unicode_bytes,
        high_bytes(4),
    ),
    max_size=6,
).map(lambda parts: _quote(b"".join(parts)))

COMMENT_CONTENT = (b"c", b"a@evil.example, <b@evil.example>", b"\\(", b"\\)", b"\\\\", b'"', b"=?utf-8?q?x?=", b"\xc3\xa9", b"\x0b", b"")
_shallow = st.integers(1, 3)
comment_depths = st.one_of(_shallow, _shallow, _shallow, st.integers(4, SIZES.depth), st.sampled_from((200, 500, 1000)))


def comment(depth: int, content: bytes = b"c", spaced: bool = False) -> bytes:
    """A comment nested ``depth`` deep. ``spaced`` puts a space between levels, so a folder
    can break the nesting over many short lines."""
    return (b"( " if spaced else b"(") * depth + content + (b" )" if spaced else b")") * depth


# Mostly shallow, so deep nesting does not hide every other finding; sometimes deep.
comments = st.builds(comment, comment_depths, st.sampled_from(COMMENT_CONTENT), st.booleans())
# Optional comments and folding whitespace, as RFC 5322 allows between tokens.
cfws = st.one_of(
    st.just(b""), st.just(b""), st.just(b""),
    st.sampled_from((b" ", b"\t", b"  ")),
    comments.map(lambda c: b" " + c + b" "),
)

# A display name: words that are atoms, quoted strings, encoded words or 8-bit text.
phrases = st.lists(
    st.one_of(
        plain_word.map(str.encode),
        ascii_word.map(str.encode),
        quoted_strings,
        encoded_words,
        unicode_bytes,
        high_bytes(6),  # Latin-1, invalid UTF-8
        st.just(b"Q."),  # obsolete phrase with a dot
    ),
    min_size=1,
    max_size=4,
).map(b" ".join)


# --- addresses ------------------------------------------------------------------------------------

_label = st.text(alphabet=LOWER + DIGITS, min_size=1, max_size=8)
domains = st.builds(
    lambda labels, tld, upper: (".".join(labels) + "." + tld).upper() if upper else ".".join(labels) + "." + tld,
    st.lists(st.one_of(_label, _label.map(lambda s: s + "-x" + s)), min_size=1, max_size=2),
    st.sampled_from(("example", "test", "example.org")),
    st.integers(0, 9).map(lambda n: n == 0),
)
dot_atom_locals = st.one_of(
    st.lists(st.text(alphabet=LOWER + DIGITS + "_+-", min_size=1, max_size=8), min_size=1, max_size=3).map(".".join),
    st.text(alphabet=ATEXT_CHARS, min_size=1, max_size=12),
)
quoted_locals = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=16).filter(str.strip)


@st.composite
def _usable_addresses(draw: st.DrawFn) -> tuple[bytes, str]:
    """A usable addr-spec as written (maybe with CFWS inside, the obsolete way) and its
    canonical form."""
    domain = draw(domains)
    style = draw(choice(("dot-atom", "dot-atom", "dot-atom", "quoted", "obs-cfws")))
    if style == "quoted":
        local = draw(quoted_locals)
        written = _quote(local.encode())
    else:
        local = draw(dot_atom_locals)
        written = local.encode()
        if style == "obs-cfws" and "." in local:
            written = b".".join(p.encode() + draw(cfws) for p in local.split("."))
    at = draw(choice((b"@", b"@", b"@", b" @ ", b"(c)@(c)")))
    return written + at + domain.encode(), f"{canonical_local(local)}@{domain.lower()}"


usable_addresses = _usable_addresses()

# Addresses no one can reply to, each still delimited (no quote, comment or bracket left open).
UNUSABLE = (
    b".@M", b"a@=", b"a@.", b"a@", b"@b.example", b"a.@b.example", b".a@b.example", b"a..b@c.example",
    b"a@b..example", b"ab.example", b"a@b.example.", b"a@b_c.example", b"j\xc3\xb6hn@example.com",
    b"john@ex\xc3\xa4mple.com", b"a@[300.1.1.1]x", b"a@@b.example", b"a@b@c.example",
)
unusable_addresses = st.one_of(
    st.integers(65, 300).map(lambda n: b"x" * n + b"@long.example"),
    st.integers(64, 90).map(lambda n: b"a@" + b"l" * n + b".example"),
    st.sampled_from(UNUSABLE), st.sampled_from(UNUSABLE), st.sampled_from(UNUSABLE),
)


@st.composite
def _mailboxes(draw: st.DrawFn, usable: bool) -> Piece:
    """A mailbox in one of its forms, CFWS around every token."""
    if usable:
        written, canonical = draw(usable_addresses)
        facts = Addresses(required=(canonical,))
    else:
        written, facts = draw(unusable_addresses), Addresses()
    form = draw(choice(("bare", "angle", "name", "name", "route")))
    c = lambda: draw(cfws)  # noqa: E731
    if form == "bare":
        text = c() + written + c()
    elif form == "angle":
        text = c() + b"<" + c() + written + c() + b">" + c()
    elif form == "name":
        text = c() + draw(phrases) + c() + b"<" + written + b">" + c()
    else:
        route = b"@r1.example," + c() + b"@r2.example:"
        text = draw(phrases) + b" <" + route + written + b">"
    return Piece(text, facts)


mailboxes = _mailboxes(True)
unusable_mailboxes = _mailboxes(False)
GROUP_NAMES = (b"undisclosed-recipients", b"team", b'"Team, the"', b"=?utf-8?q?Gr=C3=BCppe?=")


@st.composite
def _groups(draw: st.DrawFn) -> Piece:
    members = draw(st.lists(mailboxes, max_size=3))
    inner = join(members, b"," + draw(cfws))
    return Piece(draw(choice(GROUP_NAMES)) + draw(cfws) + b":") + inner + Piece(draw(cfws) + b";")


groups = _groups()

# Text that leaves a reader unsure of everything after it (and perhaps before it), with the
# usable addresses a tolerant reader may still find in it.
JUNK: tuple[tuple[bytes, tuple[str, ...]], ...] = (
    (b"(unclosed comment", ()), (b'"unclosed quote', ()), (b"<unclosed@angle.example", ("unclosed@angle.example",)),
    (b">", ()), (b"\\", ()), (b"\x01", ()), (b"\x1b", ()), (b"a@b.example>", ("a@b.example",)), (b";", ()),
    (b"::", ()), (b"<<x@y.example>>", ("x@y.example",)), (b"\x00", ()), (b"(\x00)", ()),
    (b"<c@d.example\x00>", ("c@d.example",)), (b"\x0bE\x0cvil <e@f.example>", ("e@f.example",)),
)
OPENING_JUNK = frozenset({b"(unclosed comment", b'"unclosed quote', b"\\"})
_elements = st.lists(
    st.one_of(mailboxes, mailboxes, mailboxes, unusable_mailboxes, groups, st.just(Piece(b""))),  # b"": an empty element
    max_size=SIZES.list_elements,
)
_mailbox_elements = st.lists(st.one_of(mailboxes, mailboxes, unusable_mailboxes), max_size=SIZES.list_elements)


@st.composite
def bulk_lists(draw: st.DrawFn, count: int | None = None) -> Piece:
    """Many addresses at once (finding: 8,000 8-bit To addresses, 20,000 From addresses)."""
    n = count if count is not None else draw(between(1, SIZES.bulk_addresses))
    style = draw(choice(("plain", "8bit-name", "encoded-name", "angle")))
    tag = draw(plain_word)[:4]
    addrs = [f"{tag}{i}@bulk{i % 7}.example" for i in range(n)]
    if style == "plain":
        parts = [a.encode() for a in addrs]
    elif style == "8bit-name":
        parts = [f"J\u00f6rg D\u00fcrr {i} <{a}>".encode() for i, a in enumerate(addrs)]
    elif style == "encoded-name":
        parts = [b"=?utf-8?q?J=C3=B6rg_" + str(i).encode() + b"?= <" + a.encode() + b">" for i, a in enumerate(addrs)]
    else:
        parts = [b"<" + a.encode() + b">" for a in addrs]
    return Piece(b", ".join(parts), Addresses(required=tuple(addrs)))


@st.composite
def _address_lists(draw: st.DrawFn, groups_allowed: bool, bulk: bool) -> Piece:
    """An address-list value: elements, empty elements, groups, junk, or a bulk list."""
    if bulk and chance(draw, 10):
        return draw(bulk_lists())
    elements = draw(_elements if groups_allowed else _mailbox_elements)
    separators = [b"," + draw(choice((b"", b" ", b"\t"))) for _ in elements[1:]]
    if chance(draw, 7):
        # Junk goes between elements (glued to one, or as one), never inside an address, so
        # it cannot make up an address that is not in the facts. Junk that opens a quoted
        # string or a comment (or escapes the next character) goes last: anywhere else it pairs
        # with a quote or a parenthesis in a later element, and what that element quoted is
        # read as written outside quotes ('"unclosed, "<evil@evil.example>" <a@b.example>'
        # is the display name '"unclosed, "' of <evil@evil.example> to RFC 5322 and to
        # Python's email package alike).
        junk, found = draw(choice(JUNK))
        position = len(elements) if junk in OPENING_JUNK else draw(between(0, len(elements)))
        elements.insert(position, Piece(junk, Addresses(optional=found)))
        separators.insert(min(position, len(separators)), draw(choice((b",", b", ", b"", b" "))))
        text = b"".join(e.text + s for e, s in zip(elements, [*separators, b""]))
        return Piece(text, join(elements).addresses.demoted())
    text = b"".join(e.text + s for e, s in zip(elements, [*separators, b""]))
    return Piece(text, join(elements).addresses)


address_lists = _address_lists(True, True)
mailbox_lists = _address_lists(False, False)


# --- fields -------------------------------------------------------------------------------------

LINE_BREAKERS = (b"a\x00b", b"a\rb", b"\x0b", b"\x0c", b"\xe2\x80\xa8", b"\xc2\x85", b"\x85", b"=?", b"?=")
# Free text: ASCII words, 8-bit words, encoded words, and the bytes that break lines.
_text_words = st.lists(
    st.one_of(plain_word.map(str.encode), unicode_bytes, high_bytes(4), encoded_words, st.sampled_from(LINE_BREAKERS)),
    max_size=max(1, SIZES.text // 6),
).map(b" ".join)
free_text = st.one_of(
    st.integers(990, 1000 + SIZES.text * 4).map(lambda n: b"x" * n),  # one huge unfolded line
    # A long run of 8-bit words, to be folded (finding: a 411 KB Subject).
    st.builds(lambda word, n: b" ".join([word] * n), unicode_bytes, st.integers(1, SIZES.repeat)),
    st.just(b""),
    _text_words, _text_words, _text_words, _text_words, _text_words, _text_words,
)

SINGLE_INSTANCE_NAMES = (
    "Subject", "Date", "Message-ID", "In-Reply-To", "References", "MIME-Version", "Content-Disposition",
    "Content-Transfer-Encoding", "Delivered-To", "List-Unsubscribe", "Thread-Topic", "Keywords",
    "Comments", "Importance", "Organization", "User-Agent", "Errors-To",
)
OTHER_NAMES = (
    "Received", "X-Mailer", "Authentication-Results", "Received-SPF", "X-Spam-Status", "Resent-From",
    "Resent-Bcc", "Comments", "X-Sesame-Forwarded-For", "ARC-Seal", "X-SES-Outgoing", "Disposition-Notification-To",
)
# Fields whose facts the tests read; a free field never takes one of these names.
FACT_FIELDS = {"from", "reply-to", "to", "cc", "sender", "content-type", "auto-submitted", "list-id", "precedence"}


def free_name(name: str) -> str:
    return "X-" + name if name.lower() in FACT_FIELDS else name


field_names = st.one_of(
    st.sampled_from(SINGLE_INSTANCE_NAMES + OTHER_NAMES),
    st.sampled_from(SINGLE_INSTANCE_NAMES + OTHER_NAMES).map(str.upper),
    st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E, blacklist_characters=":"), min_size=1, max_size=20),
).map(free_name)
free_fields = st.builds(lambda name, text: Field(name, b" " + text), field_names, free_text)

MEDIA_TYPES = ("multipart/mixed", "multipart/alternative", "text/plain", "text/html", "application/octet-stream")
BOUNDARY_CHARS = LOWER + LOWER.upper() + DIGITS + "'()+_,./:=?-"
CONTENT_TYPE_PARAMS = (
    b'charset="utf-8"',
    b"charset=iso-8859-1",
    b'name="\xc3\xa4rger \xe2\x80\xa8.txt"',  # raw 8-bit (finding: refolded into garbage)
    b'name="caf\xe9.pdf"',
    b"name*=utf-8''%E2%82%AC%20rates.pdf",
    b"name*0*=utf-8''%C3%A4; name*1=\"rest of it\"",
    b'name="=?utf-8?b?w6Q=?="',
    b"format=flowed (comment) ",
    b'x-quoted="a \\" b \\\\ c"',
)


@st.composite
def _content_types(draw: st.DrawFn) -> Field:
    media = draw(choice(MEDIA_TYPES))
    boundary = None
    params: list[bytes] = []
    if media.startswith("multipart/"):
        boundary = draw(st.text(alphabet=BOUNDARY_CHARS, min_size=1, max_size=40))
        params.append(b'boundary="' + boundary.encode() + b'"')
    params.extend(draw(st.lists(st.sampled_from(CONTENT_TYPE_PARAMS), max_size=3)))
    written = media.upper() if chance(draw, 2) else media
    return Field("Content-Type", b" " + written.encode() + b"".join(b"; " + p for p in params), content_type=(media, boundary))


content_types = st.one_of(
    _content_types(), _content_types(), _content_types(), _content_types(),
    # Content-Types no reader can be sure of: no facts recorded.
    st.sampled_from((b" multipart/=?utf-8?b?w6Q=?=", b" text/plain; (unclosed", b" \xc3\xa4/\xc3\xb6")).map(lambda v: Field("Content-Type", v)),
    comments.map(lambda c: Field("Content-Type", b" " + c + b" text/plain")),
)


def address_field(name: str, value: bytes, required: tuple[str, ...] = (), optional: tuple[str, ...] = (), fold: str = "none") -> Field:
    return Field(name, value, Addresses(required, optional), fold=fold)


def _as_field(name: str) -> Callable[[Piece], Field]:
    return lambda piece: Field(name, b" " + piece.text, piece.addresses)


received_chains = st.one_of(st.integers(0, 3), st.integers(0, SIZES.received)).map(
    lambda n: [
        Field("Received", f" from relay{i}.example by mx{i}.example with ESMTP id {i}; Tue, 3 Jun 2025 09:14:0{i % 10} +0000".encode())
        for i in range(n)
    ]
)
AUTO_SUBMITTED = (b" no", b" No (a person)", b" auto-generated", b" auto-replied", b" auto-notified", b" \xc3\xa4uto", b" (c) no")
PRECEDENCE = (b" bulk", b" junk", b" list", b" first-class", b" BULK", b" (c) list")
SES_STEERING = ("X-SES-CONFIGURATION-SET", "X-SES-Spam-Verdict", "x-ses-message-tags")


@st.composite
def _optional_fields(draw: st.DrawFn) -> list[Field]:
    """The fields a message may carry besides From/Reply-To/To/Cc."""
    chosen: list[Field] = []
    if chance(draw, 2):
        chosen.append(Field("Subject", b" " + draw(free_text)))
    if chance(draw, 2):
        chosen.append(Field("Date", b" Tue, 3 Jun 2025 09:14:00 +0000"))
    if chance(draw, 2):
        chosen.append(Field("Message-ID", b" <" + draw(ascii_word).encode() + b"@sender.example>"))
    if chance(draw, 4):
        chosen.append(Field("In-Reply-To", b" <parent@sender.example>"))
        chosen.append(Field("References", b" <root@sender.example> <parent@sender.example>"))
    if chance(draw, 2):
        chosen.append(Field("MIME-Version", b" 1.0"))
    if chance(draw, 2):
        chosen.append(draw(content_types))
    if chance(draw, 4):
        signature = b" v=1; a=rsa-sha256; d=sender.example; s=s1; h=From:To:Subject; bh=" + b"A" * 44 + b"; b="
        chosen.append(Field("DKIM-Signature", signature + b"B" * draw(between(1, 400))))
    if chance(draw, 5):
        chosen.append(Field("Return-Path", b" <" + draw(choice((b"bounce@sender.example", b"", b"a\xc3\xa4@x.example"))) + b">"))
    if chance(draw, 5):
        chosen.append(draw(mailbox_lists.map(_as_field("Sender"))))
    if chance(draw, 5):
        chosen.append(Field(draw(choice(SES_STEERING)), b" steer-me"))
    if chance(draw, 5):
        chosen.append(Field("Bcc", b" hidden@bcc.example"))
    if chance(draw, 5):
        chosen.append(Field("Auto-Submitted", draw(choice(AUTO_SUBMITTED))))
    if chance(draw, 6):
        chosen.append(Field("List-Id", b" Announcements <announce.lists.example>"))
    if chance(draw, 6):
        chosen.append(Field("Precedence", draw(choice(PRECEDENCE))))
    chosen.extend(draw(received_chains))
    chosen.extend(draw(st.lists(free_fields, max_size=SIZES.extra_fields)))
    if chance(draw, 10):  # many fields (finding: 2 million empty fields)
        name = draw(choice(("A", "X-Empty", "Comments", "Received")))
        chosen.extend([Field(name, b"")] * draw(between(1, SIZES.repeat)))
    return chosen


optional_fields = _optional_fields()


# --- whole messages --------------------------------------------------------------------------------

# First lines of a body that follows no blank line. None of them is a header field under
# RFC 5322 (a field name is printable ASCII without SP or colon), nor a continuation line.
BODY_STARTS = (
    b"\x00Content-Type: text/html",
    b"T\x00o: hidden@evil.example",
    b"\x00 folded-looking",
    b"\x00",
    b"Bad Name: value",
    b"\xc3\x9cnicode: value",
    b"<html><body>",
    b"--boundary",
    b"Hello, this is the body",
    b"From jane@sender.example Tue Jun  3 09:14:07 2025",
)
# Lines after the first body line that a careless parser would still read as headers.
SMUGGLED_BODY = (b"Bcc: hidden@evil.example", b" continuation", b"Content-Type: text/html", b"X-SES-CONFIGURATION-SET: evil")


ENVELOPE_KINDS = ("good", "good", "good", "empty", "null", "daemon", "crlf", "8bit", "junk")
DAEMONS = ("MAILER-DAEMON@sender.example", "postmaster@sender.example")
JUNK_SENDERS = ("jane", "@sender.example", "jane@", "a b@sender.example", "jane@sender..example")
STATUSES = ("PASS", "PASS", "FAIL", "GRAY", "PROCESSING_FAILED", "DISABLED")


@st.composite
def _envelopes(draw: st.DrawFn) -> Envelope:
    kind = draw(choice(ENVELOPE_KINDS))
    sender, usable = {
        "good": ("jane@sender.example", True),
        "empty": ("", False),
        "null": ("<>", False),
        "daemon": (draw(choice(DAEMONS)), True),
        "crlf": ("jane@sender.example\r\nBcc: x@evil.example", False),
        "8bit": ("j\u00f6rg@sender.example", False),
        "junk": (draw(choice(JUNK_SENDERS)), False),
    }[kind]
    dmarc = draw(choice(STATUSES))
    return Envelope(
        sender=sender,
        usable=usable,
        spam=draw(choice(("PASS", "PASS", "PASS", "PASS", "PASS", "PASS", "FAIL", "GRAY"))),
        virus=draw(choice(("PASS", "PASS", "PASS", "PASS", "PASS", "PASS", "PASS", "FAIL"))),
        spf=draw(choice(STATUSES)),
        dkim=draw(choice(STATUSES)),
        dmarc=dmarc,
        # SES adds dmarcPolicy only when DMARC fails (SES developer guide, "Lambda action").
        dmarc_policy=draw(choice(("reject", "quarantine", "none"))) if dmarc == "FAIL" else None,
    )


envelopes = _envelopes()


def _fold(value: bytes, mode: str, rng: random.Random, eol: Callable[[], bytes]) -> list[bytes]:
    """The physical lines of ``value``: folding inserts a line break before whitespace."""
    if mode == "none":
        return [value]
    lines: list[bytes] = []
    start = 0
    for i, byte in enumerate(value):
        if byte not in (0x20, 0x09) or i == 0:
            continue
        if mode == "spaces" or (mode == "some" and rng.random() < 0.3) or (mode == "width" and i - start > 70):
            lines.append(value[start:i])
            start = i
    lines.append(value[start:])
    return lines


def render(
    fields: list[Field],
    body: bytes,
    *,
    separator: str,
    eol_mode: str,
    seed: int,
    junk: tuple[str, ...] = (),
    last_eol: bool = True,
) -> tuple[bytes, bytes, list[int]]:
    """The raw bytes of a message, the line ending of its first line, and each field's size
    after the colon (folding counted at two octets a line break, the larger reading).

    ``separator``: "blank" (a blank line before the body), "missing" (the body's first line
    follows the last field directly: it must be a line that is no header), "eof" (no body).
    ``junk``: "mbox" (a ``From `` line first), "empty-name" (a ``: x`` line among the fields),
    "leading-continuation" (the first line starts with whitespace).
    """
    rng = random.Random(seed)

    def eol() -> bytes:
        if eol_mode == "crlf":
            return b"\r\n"
        if eol_mode == "lf":
            return b"\n"
        return rng.choice(EOLS)

    lines: list[bytes] = []
    sizes: list[int] = []
    if "mbox" in junk:
        lines.append(b"From jane@sender.example Tue Jun  3 09:14:07 2025")
    if "leading-continuation" in junk:
        lines.append(b" leading continuation")
    for index, f in enumerate(fields):
        if "empty-name" in junk and index == len(fields) // 2:
            lines.append(b": empty name")
        head, *rest = _fold(f.value, f.fold, rng, eol)
        lines.append(f.name.encode() + f.before_colon + b":" + head)
        lines.extend(rest)
        sizes.append(len(f.value) + 2 * len(rest))
    out = bytearray()
    first_eol = None
    for i, line in enumerate(lines):
        ending = eol()
        if i == len(lines) - 1 and separator == "eof" and not last_eol:
            ending = b""
        first_eol = first_eol or ending or b"\r\n"
        out += line + ending
    if separator == "blank":
        ending = eol()
        first_eol = first_eol or ending
        out += ending
    out += body
    return bytes(out), first_eol or b"\r\n", sizes


SENTINEL = b"BODY-SENTINEL-7f3a"  # the last body line: a DSN that quotes the body shows it
BODY_STARTS_ANYWHERE = tuple(b for b in BODY_STARTS if not b.startswith(b"From "))
# What a body may start with after the blank line (b"": nothing special, or one more empty line).
AFTER_BLANK = (b"", b"", b"Bcc: hidden@evil.example", b" continuation", b"\x00")


@st.composite
def bodies(draw: st.DrawFn, separator: str, at_start: bool = False) -> bytes:
    """A body ending in a sentinel line. ``at_start``: nothing precedes it, where an mbox
    ``From `` line would be read as one (and dropped), so it is not drawn."""
    if separator == "eof":
        return b""
    eol = draw(choice(EOLS))
    rest = draw(_body_bytes) + eol + SENTINEL + eol
    if separator == "missing":
        first = draw(choice(BODY_STARTS_ANYWHERE if at_start else tuple(BODY_STARTS)))
        smuggled = draw(_smuggled)
        return eol.join([first, *smuggled, b""]) + rest
    start = draw(choice(AFTER_BLANK))
    return (start + eol if start or chance(draw, 4) else b"") + rest


_body_bytes = st.binary(max_size=SIZES.body)
_smuggled = st.lists(st.sampled_from(tuple(SMUGGLED_BODY)), max_size=2)
_deep_froms = st.builds(
    lambda depth, address, spaced: Field(
        "From", b" " + comment(depth, b"c", spaced) + b" <" + address[0] + b">", Addresses(required=(address[1],))
    ),
    st.sampled_from((50, 300, 600, 1000, SIZES.depth)),
    usable_addresses,
    st.booleans(),
)
_froms = st.one_of(*[address_lists.map(_as_field("From"))] * 5, _deep_froms)
_reply_tos = address_lists.map(_as_field("Reply-To"))
_tos = address_lists.map(_as_field("To"))
_ccs = address_lists.map(_as_field("Cc"))
_duplicates = st.lists(st.sampled_from(SINGLE_INSTANCE_NAMES).map(lambda n: Field(n, b" duplicate " + n.encode())), max_size=2)
FOLDS = ("none", "none", "spaces", "some", "width")
BEFORE_COLON = (b"", b"", b"", b"", b" ", b"\t")


@st.composite
def _hostile_messages(draw: st.DrawFn) -> HostileMessage:
    """A whole hostile message with its facts."""
    fields: list[Field] = draw(optional_fields)
    # From: none, one, or duplicated; sometimes absurdly nested comments around the sender.
    fields += draw(st.lists(_froms, max_size=2))
    fields += draw(st.lists(_reply_tos, max_size=2))
    fields += draw(st.lists(_tos, max_size=3))
    fields += draw(st.lists(_ccs, max_size=3))
    fields += draw(_duplicates)  # of fields that may appear once
    fields = draw(st.permutations(fields))
    # Folding, upper-case names and the obsolete whitespace before the colon, field by field.
    styled = [
        Field(f.name if draw(between(0, 4)) else f.name.upper(), f.value, f.addresses, draw(choice(BEFORE_COLON)), draw(choice(FOLDS)), f.content_type)
        for f in fields
    ]
    separator = draw(choice(("blank", "blank", "blank", "missing", "eof")))
    junk = draw(choice(((), (), (), ("mbox",), ("empty-name",), ("leading-continuation",))))
    if junk == ("empty-name",) and not styled:
        junk = ()
    body = draw(bodies(separator, at_start=not styled and not junk))
    eol_mode = draw(choice(("crlf", "crlf", "lf", "mixed")))
    raw, first_eol, sizes = render(
        styled, body, separator=separator, eol_mode=eol_mode, seed=draw(st.integers(0, 2**32)), junk=junk,
        last_eol=draw(st.booleans()),
    )
    sized = tuple(dataclasses.replace(f, raw_size=n) for f, n in zip(styled, sizes, strict=True))
    return HostileMessage(raw, sized, body, first_eol, draw(envelopes), len(junk))


hostile_messages = _hostile_messages()


def message_from_fields(
    fields: list[Field], body: bytes = b"Hello.\r\nBODY-SENTINEL-7f3a\r\n", *, envelope: Envelope | None = None,
    separator: str = "blank", eol: bytes = b"\r\n",
) -> HostileMessage:
    """A hand-made message with the same facts, for the regression cases."""
    raw, first_eol, sizes = render(fields, body, separator=separator, eol_mode="crlf" if eol == b"\r\n" else "lf", seed=0)
    sized = tuple(dataclasses.replace(f, raw_size=n) for f, n in zip(fields, sizes, strict=True))
    return HostileMessage(raw, sized, body if separator != "eof" else b"", first_eol, envelope or Envelope("jane@sender.example", True))

