"""Email addresses: normalizing our own (aliases), and reading and writing a stranger's.

:func:`parse_address_list` reads an RFC 5322 address list (mailboxes, groups, comments, quoted
strings, domain literals, obsolete routes, RFC 2047 display names) the way mail in the wild
writes it, in one pass with no recursion: the stdlib's parser recurses once per nested comment
and dies on a 1 KB From (RecursionError). Its work is linear in the field and bounded by
:data:`~sesame.core.limits.MAX_ADDRESSES_PER_FIELD`,
:data:`~sesame.core.limits.MAX_MAILBOX_TOKENS` and :data:`~sesame.core.limits.MAX_COMMENT_DEPTH`,
and by a token budget its caller shares out across a message (each call says how many tokens
it read, see :attr:`AddressList.tokens`); what it cannot read it reports as a defect kind.

:func:`is_valid_address` is the one check every address Sesame writes (From, Reply-To, a
bounce's recipient) passes first.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import NamedTuple

from sesame.core.encoding import decode_words, encode_words, needs_encoding
from sesame.core.limits import (
    MAX_ADDRESS,
    MAX_ADDRESS_TOKENS_PER_MESSAGE,
    MAX_ADDRESSES_PER_FIELD,
    MAX_COMMENT_DEPTH,
    MAX_DISPLAY_NAME,
    MAX_DOMAIN,
    MAX_LOCAL_PART,
    MAX_MAILBOX_TOKENS,
)

# Deliberately permissive on the local part (mail in the wild is), strict on shape.
_ADDRESS = re.compile(r"^[^@\s<>\"(),;:\\\[\]]+@[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$")
_DOMAIN = re.compile(r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)+$")


class InvalidAddress(ValueError):
    """An address or domain that cannot be used."""


def normalize_address(address: str) -> str:
    """Lower-cased ``local@domain`` with surrounding space and angle brackets removed."""
    candidate = address.strip().strip("<>").strip().lower()
    if not _ADDRESS.match(candidate) or ".." in candidate.split("@", 1)[1]:
        raise InvalidAddress(f"not an email address: {address!r}")
    return candidate


def normalize_domain(domain: str) -> str:
    candidate = domain.strip().lstrip("@").rstrip(".").lower()
    if not _DOMAIN.match(candidate):
        raise InvalidAddress(f"not a domain name: {domain!r}")
    return candidate


def split_address(address: str) -> tuple[str, str]:
    local, _, domain = address.rpartition("@")
    return local, domain


# --- what Sesame writes: RFC 5321/5322 addr-spec, ASCII only (SES does not send SMTPUTF8) ---

_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]"
_DOT_ATOM = re.compile(rf"{_ATEXT}+(?:\.{_ATEXT}+)*")
_QUOTED_LOCAL = re.compile(r'"(?:[\x20\x21\x23-\x5b\x5d-\x7e]|\\[\x20-\x7e])*"')
_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")


def is_valid_address(address: str) -> bool:
    """``local@domain`` that every receiver accepts: ASCII, a dot-atom or quoted local part of at
    most 64 octets, and a domain of hostname labels with at least two of them (not all-numeric
    at the top) or an IP address literal; 254 octets at most."""
    if not address.isascii() or len(address) > MAX_ADDRESS:
        return False
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain or len(local) > MAX_LOCAL_PART:
        return False
    if not (_DOT_ATOM.fullmatch(local) or _QUOTED_LOCAL.fullmatch(local)):
        return False
    return _valid_domain(domain)


def _valid_domain(domain: str) -> bool:
    if domain.startswith("[") and domain.endswith("]"):
        literal = domain[1:-1]
        if literal[:5].lower() == "ipv6:":
            literal = literal[5:]
            kind: type = ipaddress.IPv6Address
        else:
            kind = ipaddress.IPv4Address
        try:
            kind(literal)
        except ValueError:
            return False
        return True
    if len(domain) > MAX_DOMAIN:
        return False
    labels = domain.split(".")
    if len(labels) < 2 or not all(_LABEL.fullmatch(label) for label in labels):
        return False
    return not labels[-1].isdigit()


def envelope_address(source: str) -> str | None:
    """The envelope sender (MAIL FROM) as an address Sesame may write, or None: surrounding
    spaces and one pair of angle brackets are tolerated, anything else (a CR or LF, a null
    sender, bad syntax) makes it unusable."""
    candidate = source.strip(" \t")
    if candidate.startswith("<") and candidate.endswith(">"):
        candidate = candidate[1:-1]
    return candidate if is_valid_address(candidate) else None


def same_organization(a: str, b: str) -> bool:
    """Relaxed alignment (RFC 7489 section 3.1) without a public-suffix list: the domains are
    equal, or one is a subdomain of the other. Stricter than DMARC's organizational domains
    (``a.example.com`` and ``b.example.com`` do not align here), never looser."""
    a, b = a.lower().rstrip("."), b.lower().rstrip(".")
    if not a or not b:
        return False
    return a == b or a.endswith("." + b) or b.endswith("." + a)


# --- reading a stranger's address list ---------------------------------------------------


@dataclass(frozen=True)
class Mailbox:
    """One mailbox as written: its decoded display name and its address (``""`` if none)."""

    display_name: str
    address: str
    text: str = ""  # the item as written, for rendering what cannot be parsed

    @property
    def valid(self) -> bool:
        return is_valid_address(self.address)


@dataclass(frozen=True)
class Group:
    """``name: member, member;``: a display name and the mailboxes in it."""

    display_name: str
    members: tuple[Mailbox, ...]


@dataclass(frozen=True)
class AddressList:
    items: tuple[Mailbox | Group, ...]
    defects: tuple[str, ...] = ()
    tokens: int = 0  # tokens read, to be taken off what is left of the message's budget

    @property
    def mailboxes(self) -> tuple[Mailbox, ...]:
        out: list[Mailbox] = []
        for item in self.items:
            out.extend(item.members if isinstance(item, Group) else (item,))
        return tuple(out)

    @property
    def valid_mailboxes(self) -> tuple[Mailbox, ...]:
        return tuple(m for m in self.mailboxes if m.valid)


# Tokens. Possessive quantifiers (Python 3.11+) so no token can backtrack: one pass, linear.
_TOKEN = re.compile(
    r"""(?P<ws>[ \t\r\n]++)
      |(?P<quoted>"(?:[^"\\]++|\\.)*+(?:"|\Z))
      |(?P<literal>\[(?:[^\[\]\\]++|\\.)*+(?:\]|\Z))
      |(?P<open>\()
      |(?P<encoded>=\?[^?\s]{1,40}\?[bBqQ]\?[^?\s]*+\?=)
      |(?P<special>[<>:;@,.])
      |(?P<atom>[^ \t\r\n"\[\]()<>:;@,.\\]++)
      |(?P<other>.)""",
    re.X | re.S,
)
_COMMENT_PART = re.compile(r"[^()\\]++|\\.|[()]|\\\Z", re.S)


class _Token(NamedTuple):  # a tuple: made once per token, at a third of a frozen dataclass's cost
    kind: str  # ws, quoted, literal, comment, special, atom, other
    text: str  # as written (a comment: its text without the outer parentheses)


class _TooDeep(Exception):
    pass


_ONLY_WHITE_SPACE = re.compile(r"[ \t\r\n]*+\Z")


class _Tokens:
    """The tokens of ``text``, one at a time, at most ``budget`` of them, and a fast-forward
    past the rest of a mailbox too long to read (see :meth:`skip_item`). When the budget runs
    out with more than white space left, or ``text`` was itself cut (``cut``), ``exhausted``
    is set: the reader must then drop the item it was in the middle of."""

    def __init__(self, text: str, defects: list[str], budget: int, cut: bool = False) -> None:
        self.text = text
        self.defects = defects
        self.position = 0
        self.budget = budget
        self.count = 0  # tokens given out
        self.cut = cut
        self.exhausted = False

    def __iter__(self) -> Iterator[_Token]:
        # A generator, not __next__: resuming one costs a fraction of a method call, and
        # this runs once per token. It reads self.position each time: skip_item moves it.
        text, size, match_token, new = self.text, len(self.text), _TOKEN.match, tuple.__new__
        while True:
            position = self.position
            if position >= size:
                self.exhausted = self.exhausted or self.cut
                return
            if self.count >= self.budget:
                if self.cut or not _ONLY_WHITE_SPACE.match(text, position):
                    self.exhausted = True
                return
            self.count += 1
            match = match_token(text, position)
            assert match is not None  # "other" matches any character
            kind = match.lastgroup or "other"
            if kind == "open":
                self.position, inner = _comment(text, match.end(), self.defects)
                yield new(_Token, ("comment", inner))
                continue
            if kind == "encoded":  # one word even with specials inside, as readers decode it
                kind = "atom"
            elif kind == "quoted" and not _closed(match.group()):
                self.defects.append("unterminated-quoted-string")
            self.position = match.end()
            yield new(_Token, (kind, match.group()))

    def skip_item(self) -> None:
        """Move to the next comma outside quoted strings, domain literals and comments (or
        to the end): the rest of a mailbox over :data:`~sesame.core.limits.MAX_MAILBOX_TOKENS`
        is not read, only walked over, token by token as the tokenizer would cut it but in
        C. Only a comment nested three or more levels deep is scanned in Python (at least
        six octets each), with the same depth limit as everywhere."""
        text, position = self.text, self.position
        while True:
            position = _SKIP_IN_ITEM.match(text, position).end()  # type: ignore[union-attr]  # matches empty
            if position >= len(text) or text[position] == ",":
                break
            position, _ = _comment(text, position + 1, self.defects)  # a "(" _SKIP_IN_ITEM does not read
        self.position = position


# What the tokenizer reads, as one run ending at a comma or at a comment nested deeper than two
# levels: the same alternatives in the same order (so the same token boundaries, an encoded
# word holding a comma or a quote included), with comments of up to two levels read here too.
_SKIP_IN_ITEM = re.compile(
    r"""(?:[ \t\r\n]++
      |"(?:[^"\\]++|\\.)*+(?:"|\Z)
      |\[(?:[^\[\]\\]++|\\.)*+(?:\]|\Z)
      |\((?:[^()\\]++|\\.|\((?:[^()\\]++|\\.)*+\))*+\)
      |=\?[^?\s]{1,40}\?[bBqQ]\?[^?\s]*+\?=
      |[<>:;@.]
      |[^ \t\r\n"\[\]()<>:;@,.\\]++
      |[^(,])*+""",
    re.X | re.S,
)


def _closed(quoted: str) -> bool:
    """Does this quoted-string token end with a closing quote (not an escaped one)?"""
    if len(quoted) < 2 or not quoted.endswith('"'):
        return False
    backslashes = len(quoted) - 1 - len(quoted[:-1].rstrip("\\"))
    return backslashes % 2 == 0


def _comment(text: str, position: int, defects: list[str]) -> tuple[int, str]:
    """Scan a (nested) comment starting after its "(": returns where it ends and its text."""
    depth = 1
    parts: list[str] = []
    for match in _COMMENT_PART.finditer(text, position):
        piece = match.group()
        if piece == "(":
            depth += 1
            if depth > MAX_COMMENT_DEPTH:
                raise _TooDeep
        elif piece == ")":
            depth -= 1
            if depth == 0:
                return match.end(), "".join(parts)
        elif piece.startswith("\\"):
            parts.append(piece[1:])
        else:
            parts.append(piece)
    defects.append("unterminated-comment")
    return len(text), "".join(parts)


_COMMENT_SCAN = re.compile(r'[^()"\\]++|\\.|"(?:[^"\\]++|\\.)*+(?:"|\Z)|[()]|\\\Z', re.S)


def comment_depth(text: str) -> int:
    """The deepest comment nesting in a structured field's value (quotes respected)."""
    if text.count("(") <= 1:
        return text.count("(")
    depth = deepest = 0
    for match in _COMMENT_SCAN.finditer(text):
        piece = match.group()
        if piece == "(":
            depth += 1
            deepest = max(deepest, depth)
        elif piece == ")" and depth:
            depth -= 1
    return deepest


def strip_comments(text: str) -> str:
    """``text`` with its comments (at any depth) replaced by single spaces, in one pass.
    Comments carry no address or parameter; readers downstream may recurse on deep ones."""
    out: list[str] = []
    depth = 0
    for match in _COMMENT_SCAN.finditer(text):
        piece = match.group()
        if piece == "(":
            if depth == 0:
                out.append(" ")
            depth += 1
        elif piece == ")" and depth:
            depth -= 1
        elif depth == 0:
            out.append(piece)
    return "".join(out)


def _without_comments(text: str, budget: int) -> tuple[str, int, bool]:
    """``text`` with each comment (at any depth) replaced by a space, found by the same
    tokenizer that reads the addresses, so both agree on where quoted strings are (a
    backslash outside quotes escapes nothing). Linear; what was in a comment stays out. At
    most ``budget`` tokens are read: returns the text, the tokens read, and whether it was
    cut there (its last item may then be shortened)."""
    out: list[str] = []
    position = 0
    count = 0
    while position < len(text):
        if count >= budget:
            return "".join(out), count, not _ONLY_WHITE_SPACE.match(text, position)
        count += 1
        match = _TOKEN.match(text, position)
        assert match is not None  # "other" matches any character
        if match.lastgroup != "open":
            out.append(match.group())
            position = match.end()
            continue
        depth, position = 1, len(text)
        for part in _COMMENT_PART.finditer(text, match.end()):
            piece = part.group()
            depth += piece == "("
            depth -= piece == ")"
            if depth == 0:
                position = part.end()
                break
        out.append(" ")
    return "".join(out), count, False


def parse_address_list(text: str, token_budget: int = MAX_ADDRESS_TOKENS_PER_MESSAGE) -> AddressList:
    """The mailboxes and groups in an address field's (unfolded) value. Never raises. Past
    :data:`~sesame.core.limits.MAX_COMMENT_DEPTH` levels of comments, the comments are dropped
    (``comment-too-deep``) and the rest is read. Reading stops after
    :data:`~sesame.core.limits.MAX_ADDRESSES_PER_FIELD` addresses (``too-many-addresses``):
    the text past them is not even tokenized, so a 2 MB To costs what its first 1,000
    addresses cost. A mailbox past :data:`~sesame.core.limits.MAX_MAILBOX_TOKENS` tokens is
    unusable (``mailbox-too-long``); the rest of it is walked over, not read, and the
    addresses after it are read as usual.

    At most ``token_budget`` tokens are read (what is left of the message's
    :data:`~sesame.core.limits.MAX_ADDRESS_TOKENS_PER_MESSAGE`; the result's ``tokens`` says
    how many were). When it runs out, the item being read is dropped (its end was not seen,
    so it may be a shortened address, another one), the items read before it are kept, and
    ``address-tokens-exhausted`` is recorded. Dropping deep comments reads the field a
    second time, within what is left of the same budget."""
    defects: list[str] = []
    tokens = _Tokens(text, defects, max(0, token_budget))
    try:
        return _read_items(tokens, defects)
    except _TooDeep:
        spent = tokens.count
        left = max(0, token_budget - spent)
        stripped, strip_count, cut = _without_comments(text, left)
        defects = ["comment-too-deep"]
        result = _read_items(_Tokens(stripped, defects, left, cut), defects)
        return replace(result, tokens=spent + max(strip_count, result.tokens))


def _read_items(tokens: _Tokens, defects: list[str]) -> AddressList:
    items: list[Mailbox | Group] = []
    count = 0
    group_name: str | None = None
    members: list[Mailbox] = []
    current: list[_Token] = []
    angle = False
    overlong = False  # the current item passed MAX_MAILBOX_TOKENS: the rest of it was skipped

    def finish_item() -> None:
        nonlocal count, overlong
        if overlong:
            # No deliverable mailbox is this long: it counts as one address, unusable, and
            # keeps its first tokens as its text (rendered like any unusable address).
            defects.append("mailbox-too-long")
            mailbox = Mailbox("", "", _written(current))
            overlong = False
        elif not any(t.kind not in ("ws", "comment") for t in current):
            current.clear()
            return
        else:
            if not _well_formed(current):
                defects.append("malformed-mailbox")
            mailbox = _mailbox(current)
        current.clear()
        count += 1
        if count > MAX_ADDRESSES_PER_FIELD:
            return
        (members if group_name is not None else items).append(mailbox)

    keep = current.append
    for token in tokens:
        if count > MAX_ADDRESSES_PER_FIELD:
            break
        kind = token.kind
        if kind == "atom" or kind == "ws":  # most tokens: nothing to decide
            keep(token)
            if len(current) > MAX_MAILBOX_TOKENS:
                tokens.skip_item()  # reading it on would cost Python work per token for nothing
                overlong, angle = True, False
            continue
        if kind == "other":  # a backslash or bracket outside quotes: no reader agrees on it
            defects.append("invalid-character")
        elif kind == "special":
            text = token.text
            if text == "<":
                if angle:
                    defects.append("nested-angle-addr")
                angle = True
            elif text == ">":
                if not angle:
                    defects.append("stray-angle-bracket")
                angle = False
            elif not angle and text == ",":
                finish_item()
                continue
            elif not angle and text == ":" and group_name is None and not _has_at(current):
                group_name = _phrase(current)
                current.clear()
                continue
            elif not angle and text == ";" and group_name is not None:
                finish_item()
                items.append(Group(group_name, tuple(members)))
                group_name, members = None, []
                continue
        keep(token)
        if len(current) > MAX_MAILBOX_TOKENS:
            # Reading it on would cost Python work per token for nothing: walk to its end.
            tokens.skip_item()
            overlong, angle = True, False
    if tokens.exhausted:
        # The budget ran out inside the item being read: its end was never seen, so what was
        # read of it may be a shortened address (another one). It goes; the items before stay.
        defects.append("address-tokens-exhausted")
        current.clear()
        overlong = False
        if group_name is not None:
            items.append(Group(group_name, tuple(members)))
            group_name = None
    if angle and not tokens.exhausted:  # "<user@host" and no ">": readers differ on what it addresses
        defects.append("unterminated-angle-addr")
    finish_item()
    if group_name is not None:
        defects.append("unterminated-group")
        items.append(Group(group_name, tuple(members)))
    if count > MAX_ADDRESSES_PER_FIELD:
        defects.append("too-many-addresses")
    return AddressList(tuple(items), tuple(dict.fromkeys(defects)), tokens.count)


_WORDS = ("atom", "quoted")
_QUIET = ("ws", "comment")


def _well_formed(tokens: list[_Token]) -> bool:
    """Is this one mailbox as RFC 5322 writes it (obsolete forms included): ``phrase
    <addr-spec>`` or a bare ``addr-spec``, with nothing else but white space and comments?
    Readers disagree on anything else, so such a field is written again, never copied."""
    kinds = [t for t in tokens if t.kind not in _QUIET]
    opens = [i for i, t in enumerate(kinds) if t.kind == "special" and t.text == "<"]
    if not opens:
        return _addr_spec_tokens(kinds)
    if len(opens) != 1:
        return False
    start = opens[0]
    closes = [i for i, t in enumerate(kinds) if t.kind == "special" and t.text == ">"]
    if closes != [len(kinds) - 1] or closes[0] < start:
        return False
    phrase = kinds[:start]
    if not all(t.kind in _WORDS or (t.kind == "special" and t.text == ".") for t in phrase):
        return False
    inside = kinds[start + 1 : -1]
    colon = max((i for i, t in enumerate(inside) if t.kind == "special" and t.text == ":"), default=-1)
    return _addr_spec_tokens(inside[colon + 1 :])  # past an obsolete route: <@relay:user@host>


def _addr_spec_tokens(tokens: list[_Token]) -> bool:
    """local-part "@" domain: words and dots, one at sign, a domain of atoms and dots or a literal."""
    ats = [i for i, t in enumerate(tokens) if t.kind == "special" and t.text == "@"]
    if len(ats) != 1:
        return False
    local, domain = tokens[: ats[0]], tokens[ats[0] + 1 :]
    return (
        bool(local) and all(t.kind in _WORDS or (t.kind == "special" and t.text == ".") for t in local)
        and bool(domain) and all(t.kind in ("atom", "literal") or (t.kind == "special" and t.text == ".") for t in domain)
    )


def _has_at(tokens: list[_Token]) -> bool:
    return any(t.kind == "special" and t.text == "@" for t in tokens)


def _written(tokens: list[_Token]) -> str:
    return "".join(f"({t.text})" if t.kind == "comment" else t.text for t in tokens).strip()


def _mailbox(tokens: list[_Token]) -> Mailbox:
    written = _written(tokens)
    open_at = next((i for i, t in enumerate(tokens) if t.kind == "special" and t.text == "<"), None)
    if open_at is not None:
        close_at = next(
            (i for i in range(open_at + 1, len(tokens)) if tokens[i].kind == "special" and tokens[i].text == ">"),
            len(tokens),
        )
        inside = tokens[open_at + 1 : close_at]
        colon = max((i for i, t in enumerate(inside) if t.kind == "special" and t.text == ":"), default=-1)
        if colon != -1 and any(t.kind == "special" and t.text == "@" for t in inside[:colon]):
            inside = inside[colon + 1 :]  # an obsolete route: <@relay,@relay2:user@host>
        display = _phrase(tokens[:open_at]) or _phrase(tokens[close_at + 1 :], comments=True)
        return Mailbox(display, _addr_spec(inside), written)
    display = _phrase(tokens, comments=True, words=False)
    return Mailbox(display, _addr_spec(tokens), written)


def _addr_spec(tokens: list[_Token]) -> str:
    """The address written by ``tokens``: atoms, quoted strings, dots and the at sign, with
    whitespace and comments between them removed (RFC 5322 section 3.4.1's CFWS)."""
    parts = [t.text for t in tokens if t.kind in ("atom", "quoted", "literal", "special", "other")]
    return "".join(parts).strip()


def _phrase(tokens: list[_Token], *, comments: bool = False, words: bool = True) -> str:
    """A display name: the words (atoms and quoted strings) decoded, or, with ``comments``, the
    comments' text when there are no words (``jane@x (Jane Doe)``, obsolete but common)."""
    if words:
        pieces: list[str] = []
        for token in tokens:
            if token.kind == "atom" or token.kind == "other" or (token.kind == "special" and token.text == "."):
                pieces.append(token.text)
            elif token.kind == "quoted":
                pieces.append(_unquote(token.text))
            elif token.kind == "ws" and pieces:
                pieces.append(" ")
        phrase = decode_words("".join(pieces).strip())
        if phrase:
            return phrase
    if comments:
        return decode_words(" ".join(t.text.strip() for t in tokens if t.kind == "comment" and t.text.strip()))
    return ""


def _unquote(quoted: str) -> str:
    inner = quoted[1:-1] if len(quoted) >= 2 and quoted.endswith('"') else quoted[1:]
    return re.sub(r"\\(.)", r"\1", inner, flags=re.S)


# --- writing ---------------------------------------------------------------------------

_UNSAFE_IN_NAME = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff]")
_PHRASE_SAFE = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~ .-]*")


def safe_display_text(text: str, limit: int = MAX_DISPLAY_NAME) -> str:
    """Text that can sit inside a quoted display name and never end the line or the quotes:
    controls, line and paragraph separators and invisible format characters become spaces,
    quotes and backslashes are replaced, runs of space collapse, and long text is cut."""
    cleaned = _UNSAFE_IN_NAME.sub(" ", text.replace('"', "'").replace("\\", "/"))
    cleaned = "".join(ch if ch.isprintable() else " " for ch in cleaned) if not cleaned.isascii() else cleaned
    cleaned = " ".join(cleaned.split())
    if len(cleaned) > limit:
        cleaned = cleaned[: limit - 1].rstrip() + "\u2026"
    return cleaned


def format_phrase(name: str, eol: str, room: int = 75, quote: bool = False) -> str:
    """A display name ready for a header: bare when it is plain words (unless ``quote``),
    quoted when it has specials, RFC 2047 encoded (the first word within ``room``) when it is
    not ASCII or looks like an encoded word."""
    if needs_encoding(name):
        return encode_words(name, eol, room)
    if not quote and _PHRASE_SAFE.fullmatch(name) and "." not in name:
        return name
    return f'"{name}"'


def format_mailbox(
    display_name: str, address: str, eol: str, room: int = 77, limit: int = MAX_DISPLAY_NAME, quote: bool = False
) -> str:
    """``Name <address>``, or the bare address; the name made safe first, the address
    unchanged (the caller has checked it with :func:`is_valid_address`). ``room`` is what is
    left of the line it starts on. When it would not fit, the address goes on a line of its
    own."""
    name = safe_display_text(display_name, limit)
    if not name:
        return address
    phrase = format_phrase(name, eol, room, quote)
    if len(phrase) + len(address) + 3 <= room:
        return f"{phrase} <{address}>"
    # A long ASCII name stays one quoted string on its line (at most 64 + 4 + 254 characters
    # in our From, well within 998): encoding it would only make readers disagree on the
    # spaces between encoded words.
    return f"{phrase}{eol} <{address}>"


__all__ = [
    "AddressList",
    "Group",
    "InvalidAddress",
    "Mailbox",
    "format_mailbox",
    "format_phrase",
    "is_valid_address",
    "envelope_address",
    "normalize_address",
    "normalize_domain",
    "parse_address_list",
    "safe_display_text",
    "same_organization",
    "split_address",
]
