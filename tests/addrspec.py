"""A strict reader of RFC 5322 address lists, written for the tests as an independent oracle.

It shares no code with the ``email`` package or with Sesame: the fuzz tests judge what Sesame
wrote (From, Reply-To, a DSN's To) and what survived of To/Cc with it, so it must not inherit
the bugs it is meant to catch. Comments nest iteratively, so any depth reads in linear time.

Syntax accepted (RFC 5322 section 3.4, with the obsolete forms of section 4.4 that a reader
must accept): address lists with empty elements, groups (``undisclosed:;``), name-addr with
an optional obsolete route (``<@a.example,@b.example:x@y.example>``), phrases of atoms,
quoted strings and obsolete dots, local parts of dot-separated words (quoted or not), CFWS
between any two tokens, comments nested to any depth. UTF-8 text counts as atext, qtext and
ctext (RFC 6532), so an 8-bit display name does not make its address unreadable.

:func:`is_usable` then says whether an address can be replied to through SES: ASCII, a
dot-atom or printable quoted local part of at most 64 octets (RFC 5321 section 4.5.3.1.1), a
host name of letters, digits and hyphens with at least two labels, the last not all digits
(RFC 1123 section 2.1: the top-level label is alphabetic, so ``a@192.0.2.7`` names no host;
RFC 3696 section 2), and at most 254 octets in all (RFC 5321 section 4.5.3.1.3). ``.@M``, ``a@=`` and ``a@.`` are
not usable.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

ATEXT = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-/=?^_`{|}~")
SPECIALS = frozenset('()<>[]:;@\\,."')
WSP = frozenset(" \t")
# obs-NO-WS-CTL (RFC 5322 section 4.1): allowed inside quoted strings and comments.
OBS_CTL = frozenset(chr(c) for c in (*range(1, 9), 11, 12, *range(14, 32), 127))
DOT_ATOM_TEXT = re.compile(r"[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~]+(?:\.[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~]+)*")
HOST_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
MAX_LOCAL = 64
MAX_ADDRESS = 254


class AddressSyntaxError(ValueError):
    """The text is not an RFC 5322 address list."""


@dataclass(frozen=True)
class Mailbox:
    local: str  # the local part's value: quotes and quoted-pairs removed, words joined by dots
    domain: str
    quoted: bool  # some word of the local part was a quoted string

    @property
    def addr(self) -> str:
        """The canonical addr-spec: the local part quoted only when it must be, domain lower-cased."""
        return f"{canonical_local(self.local)}@{self.domain.lower()}"


def canonical_local(local: str) -> str:
    if DOT_ATOM_TEXT.fullmatch(local):
        return local
    return '"' + local.replace("\\", "\\\\").replace('"', '\\"') + '"'


def is_usable(mailbox: Mailbox) -> bool:
    """An address SES can send to and a person can reply to (see the module docstring)."""
    local = canonical_local(mailbox.local)
    if not mailbox.local or not local.isascii() or len(local.encode()) > MAX_LOCAL:
        return False
    if mailbox.quoted and not all(" " <= ch <= "~" for ch in mailbox.local):
        return False
    labels = mailbox.domain.split(".")
    if len(labels) < 2 or not all(HOST_LABEL.fullmatch(label) for label in labels) or labels[-1].isdigit():
        return False
    return len(mailbox.addr) <= MAX_ADDRESS


def is_usable_addr(addr: str) -> bool:
    """``addr`` (an addr-spec, no angle brackets) is one usable address and nothing else."""
    try:
        mailboxes = read_address_list(addr)
    except AddressSyntaxError:
        return False
    return len(mailboxes) == 1 and is_usable(mailboxes[0]) and mailboxes[0].addr == addr


# --- tokens ---------------------------------------------------------------------------------------

ATOM, QUOTED, LITERAL, SPECIAL = "atom", "quoted", "literal", "special"


@dataclass(frozen=True)
class Token:
    kind: str
    text: str  # the atom, the quoted string's value, the literal as written, or the special


def _is_atext(ch: str) -> bool:
    return ch in ATEXT or ord(ch) > 127


def tokenize(text: str, *, lenient: bool = False) -> list[Token]:
    """The tokens of ``text`` with CFWS removed. Strict mode raises on anything outside the
    grammar; lenient mode skips stray characters and closes what was left open at the end."""
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch in WSP:
            i += 1
        elif ch == "(":
            i = _skip_comment(text, i, lenient)
        elif ch == '"':
            value, i = _quoted(text, i, lenient)
            tokens.append(Token(QUOTED, value))
        elif ch == "[":
            end = text.find("]", i)
            if end == -1 or any(c in "[\\" or c < " " for c in text[i + 1 : end]):
                if not lenient:
                    raise AddressSyntaxError(f"bad domain literal at {i}")
                i += 1
                continue
            tokens.append(Token(LITERAL, text[i : end + 1]))
            i = end + 1
        elif ch in SPECIALS and ch not in ")\\]":
            tokens.append(Token(SPECIAL, ch))
            i += 1
        elif _is_atext(ch):
            start = i
            while i < n and _is_atext(text[i]):
                i += 1
            tokens.append(Token(ATOM, text[start:i]))
        else:
            if not lenient:
                raise AddressSyntaxError(f"unexpected {ch!r} at {i}")
            i += 1
    return tokens


def _skip_comment(text: str, i: int, lenient: bool) -> int:
    depth, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "\\":
            if i + 1 >= n or text[i + 1] in "\r\n\x00":
                break
            i += 2
            continue
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0:
                return i + 1
        elif not (ch in WSP or ch in OBS_CTL or ord(ch) > 127 or "!" <= ch <= "~"):
            break
        i += 1
    if lenient:
        return n
    raise AddressSyntaxError("unclosed or broken comment")


def _quoted(text: str, i: int, lenient: bool) -> tuple[str, int]:
    out: list[str] = []
    i, n = i + 1, len(text)
    while i < n:
        ch = text[i]
        if ch == '"':
            return "".join(out), i + 1
        if ch == "\\":
            if i + 1 >= n or text[i + 1] in "\r\n\x00":
                break
            out.append(text[i + 1])
            i += 2
            continue
        if not (ch in WSP or ch in OBS_CTL or ord(ch) > 127 or "!" <= ch <= "~"):
            break
        out.append(ch)
        i += 1
    if lenient:
        return "".join(out), n
    raise AddressSyntaxError("unclosed or broken quoted string")


# --- grammar --------------------------------------------------------------------------------------


class _Reader:
    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.i = 0

    def peek(self) -> Token | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def at(self, special: str) -> bool:
        token = self.peek()
        return token is not None and token.kind == SPECIAL and token.text == special

    def expect(self, special: str) -> None:
        if not self.at(special):
            raise AddressSyntaxError(f"expected {special!r} at token {self.i}: {self.peek()}")
        self.i += 1

    def word(self) -> Token:
        token = self.peek()
        if token is None or token.kind not in (ATOM, QUOTED):
            raise AddressSyntaxError(f"expected a word at token {self.i}: {token}")
        self.i += 1
        return token

    def address(self) -> list[Mailbox]:
        """One element of an address list: a group (any number of mailboxes) or a mailbox."""
        kind = self._lookahead()
        if kind == ":":
            self.phrase()
            self.expect(":")
            members: list[Mailbox] = []
            while not self.at(";"):
                if self.at(","):
                    self.i += 1
                    continue
                members.append(self.mailbox())
                if not self.at(";"):
                    self.expect(",")
            self.expect(";")
            return members
        return [self.mailbox()]

    def _lookahead(self) -> str | None:
        for token in self.tokens[self.i :]:
            if token.kind == SPECIAL and token.text in ":<@,;":
                return token.text
        return None

    def mailbox(self) -> Mailbox:
        if self._lookahead() == "<":
            if not self.at("<"):
                self.phrase()
            self.expect("<")
            if self.at("@") or self.at(","):
                self.route()
            found = self.addr_spec()
            self.expect(">")
            return found
        return self.addr_spec()

    def phrase(self) -> None:
        self.word()
        while True:
            token = self.peek()
            if token is not None and (token.kind in (ATOM, QUOTED) or (token.kind == SPECIAL and token.text == ".")):
                self.i += 1
            else:
                return

    def route(self) -> None:
        """obs-route: ``*("," [CFWS]) "@" domain *("," [CFWS] ["@" domain]) ":"``."""
        while self.at(","):
            self.i += 1
        self.expect("@")
        self.domain()
        while self.at(","):
            self.i += 1
            if self.at("@"):
                self.i += 1
                self.domain()
        self.expect(":")

    def addr_spec(self) -> Mailbox:
        words = [self.word()]
        while self.at("."):
            self.i += 1
            words.append(self.word())
        self.expect("@")
        return Mailbox(".".join(w.text for w in words), self.domain(), any(w.kind == QUOTED for w in words))

    def domain(self) -> str:
        token = self.peek()
        if token is not None and token.kind == LITERAL:
            self.i += 1
            return token.text
        labels = [self._atom()]
        while self.at("."):
            self.i += 1
            labels.append(self._atom())
        return ".".join(labels)

    def _atom(self) -> str:
        token = self.peek()
        if token is None or token.kind != ATOM:
            raise AddressSyntaxError(f"expected an atom at token {self.i}: {token}")
        self.i += 1
        return token.text


def read_address_list(text: str) -> list[Mailbox]:
    """Every mailbox of an RFC 5322 address list, in order. Raises on any syntax error."""
    reader = _Reader(tokenize(text))
    found: list[Mailbox] = []
    while reader.peek() is not None:
        if reader.at(","):
            reader.i += 1
            continue
        found.extend(reader.address())
        if reader.peek() is not None:
            reader.expect(",")
    return found


def read_address_list_leniently(text: str) -> list[Mailbox]:
    """The mailboxes of every element that reads, skipping broken ones at the next comma:
    what a tolerant mail client shows. For checking that addresses survived, not that they
    were written well."""
    reader = _Reader(tokenize(text, lenient=True))
    found: list[Mailbox] = []
    while reader.peek() is not None:
        if reader.at(","):
            reader.i += 1
            continue
        start = reader.i
        try:
            element = reader.address()
            if reader.peek() is not None:
                reader.expect(",")
            found.extend(element)
        except AddressSyntaxError:
            reader.i = start + 1
            depth = 0
            while (token := reader.peek()) is not None:
                if token.kind == SPECIAL and token.text == "<":
                    depth += 1
                elif token.kind == SPECIAL and token.text == ">":
                    depth = max(0, depth - 1)
                elif token.kind == SPECIAL and token.text == "," and depth == 0:
                    break
                reader.i += 1
    return found
