"""Rewrite the header block so SES will send the message, and change nothing else.

The body bytes are passed through untouched. Header fields are kept byte-for-byte unless
SES or the big receivers would refuse them (duplicates, 8-bit text, over-long lines, sizes
over Gmail's limits), the forwarding itself requires it (From, Reply-To, broken signatures),
or they would leak (Bcc) or steer SES (X-SES-* headers are instructions to SES's sending side,
never accepted from outside).

The work is split in two, so that a message addressed to five aliases is not rewritten five
times: :func:`prepare` does everything that depends only on the message (once), and
:func:`render` adds what depends on the alias (the loop marker and the From), which is a join
of a few byte strings.

One rule per kind of field, for 8-bit text and for lines over 998 octets:

- address fields (From, To, Cc, Reply-To, ...): parsed with Sesame's bounded parser and
  written again one address a line; names RFC 2047 encoded; an address that cannot be written
  in ASCII becomes an empty group whose encoded name carries its text, so nothing is lost;
- MIME parameter fields (Content-Type, Content-Disposition): 8-bit parameter values are
  RFC 2231 encoded; 8-bit anywhere else (the type, a name, the boundary) drops the field;
- message identifier fields (Message-ID, In-Reply-To, References, ...): the ASCII ``<id>``\\s are
  kept, one a line; a field left with none is dropped;
- every other field is unstructured text: 8-bit text is decoded (UTF-8, else Windows-1252),
  its encoded words decoded, control characters made spaces, and the whole written again as
  RFC 2047 encoded words; an over-long ASCII line is folded at spaces, or encoded if it has
  none.

Every field Sesame writes is checked before it leaves: one field, ASCII, every line at most
998 octets, continuation lines starting with whitespace. A field that fails is dropped and the
defect recorded (it cannot happen by design; the check makes sure of it).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace

from sesame.core.addresses import (
    AddressList,
    Group,
    Mailbox,
    comment_depth,
    envelope_address,
    format_mailbox,
    format_phrase,
    parse_address_list,
    safe_display_text,
    strip_comments,
)
from sesame.core.encoding import decode_bytes, decode_words, encode_parameter, encode_words
from sesame.core.limits import (
    ESSENTIAL,
    FOLD_AT,
    MAX_ADDRESS,
    MAX_ADDRESS_TOKENS_PER_MESSAGE,
    MAX_COMMENT_DEPTH,
    MAX_DISPLAY_NAME,
    MAX_FIELDS,
    MAX_HEADER_BLOCK,
    MAX_LINE,
    MAX_MESSAGE_ID,
    MAX_SUBJECT,
)
from sesame.core.message import Defect, HeaderField, ParsedMessage, parse_message

MARKER_HEADER = "X-Sesame-Forwarded-For"
MAX_NAME_CHARS = MAX_DISPLAY_NAME

# Signatures are broken by the rewrite and SES signs again; the rest name the original
# sender to SES, which checks them against verified identities, or must never be sent on.
REMOVED = frozenset(
    {"dkim-signature", "domainkey-signature", "return-path", "sender", "bcc", "resent-bcc"}
)
REMOVED_PREFIXES = ("x-ses-",)

# Fields SES refuses to see more than once (SES developer guide, "Amazon SES header fields").
SES_SINGLE_INSTANCE = frozenset(
    name.lower()
    for name in (
        "Accept-Language acceptLanguage Archived-At Auto-Submitted Bounces-to Comments "
        "Content-Alternative Content-Base Content-Class Content-Description "
        "Content-Disposition Content-Duration Content-ID Content-Language Content-Length "
        "Content-Location Content-MD5 Content-Transfer-Encoding Content-Type Date "
        "Delivered-To Disposition-Notification-Options Disposition-Notification-To "
        "DKIM-Signature DomainKey-Signature Errors-To From Importance In-Reply-To Keywords "
        "List-Archive List-Help List-Id List-Owner List-Post List-Subscribe "
        "List-Unsubscribe List-Unsubscribe-Post Message-Context Message-ID MIME-Version "
        "Organization Original-From Original-Message-ID Original-Recipient Original-Subject "
        "Precedence Priority References Reply-To Return-Path Return-Receipt-To Sender "
        "Solicitation Sensitivity Subject Thread-Index Thread-Topic User-Agent VBR-Info"
    ).split()
)
# Gmail refuses more than one To, Cc, Subject, Date, From, Sender, Reply-To, Bcc, Message-ID,
# In-Reply-To or References ("Troubleshoot RFC 5322 (duplicate header) bounce messages",
# Google Workspace Admin Help). To and Cc are merged into one field each (nothing lost).
MERGED = frozenset({"to", "cc"})
SINGLE_INSTANCE = SES_SINGLE_INSTANCE | MERGED | frozenset({"bcc"})

ADDRESS_FIELDS = frozenset(
    {
        "from", "sender", "reply-to", "to", "cc", "bcc", "resent-from", "resent-sender",
        "resent-to", "resent-cc", "disposition-notification-to", "return-receipt-to",
        "errors-to", "mail-followup-to", "mail-reply-to", "original-from", "bounces-to",
    }
)
PARAMETER_FIELDS = frozenset({"content-type", "content-disposition"})
# Fields CPython's email reader parses structurally (email.headerregistry): a deep comment in
# any of them makes it recurse, so Sesame writes them without their comments.
READER_PARSED = frozenset(
    {"date", "resent-date", "mime-version", "content-transfer-encoding", "message-id", "in-reply-to", "references"}
) | PARAMETER_FIELDS | ADDRESS_FIELDS
ID_FIELDS = frozenset(
    {"message-id", "in-reply-to", "references", "original-message-id", "content-id", "resent-message-id"}
)

_MESSAGE_ID = re.compile(rb"<[^<>\s]{1,996}>")
_FOLD_SPACE = re.compile(rb"[ \t]+")
_CONTROLS = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")


@dataclass(frozen=True)
class RewriteOptions:
    """What one forwarded copy needs: the alias it went to and the From address to use."""

    alias: str
    from_address: str
    envelope_sender: str = ""
    marker_header: str = MARKER_HEADER


@dataclass(frozen=True)
class RewriteResult:
    """The rewritten header block and the original body, which is never copied here."""

    head: bytes  # the new header block, the blank line that ends it included
    body: memoryview  # the original body bytes, a view into the received message
    defects: tuple[Defect, ...]
    original_from: tuple[tuple[str, str], ...]

    @property
    def size(self) -> int:
        return len(self.head) + len(self.body)

    def to_bytes(self) -> bytes:
        """The whole message in one buffer (one copy of the body)."""
        return b"".join((self.head, self.body))


@dataclass(frozen=True)
class PreparedMessage:
    """Everything of the outgoing header block that does not depend on the alias."""

    eol: bytes
    before_from: bytes  # the fields before the From, rendered and checked
    after_from: bytes  # the fields after it (a Reply-To Sesame adds is last), and the blank line
    senders: tuple[tuple[str, str], ...]  # (display name, address) replies should go to
    display: str  # who sent it, for the From's display name ("Jane Doe at jane@sender.example")
    body: memoryview
    defects: tuple[Defect, ...]

    @property
    def header_bytes(self) -> bytes:
        """The sanitized header block without From (what a bounce may quote)."""
        return self.before_from + self.after_from


def rewrite_bytes(raw: bytes, options: RewriteOptions) -> RewriteResult:
    """Parse and rewrite in one call; see :func:`rewrite`."""
    return rewrite(parse_message(raw), options)


def rewrite(parsed: ParsedMessage, options: RewriteOptions) -> RewriteResult:
    """Return the message as it must be sent for ``options.alias``; the body is unchanged."""
    return render(prepare(parsed, options.envelope_sender), options.alias, options.from_address, options.marker_header)


def render(prepared: PreparedMessage, alias: str, from_address: str, marker_header: str = MARKER_HEADER) -> RewriteResult:
    """The copy for one alias: the loop marker, then the fields with our From in place."""
    eol = prepared.eol
    defects = list(prepared.defects)
    marker = safe_display_text(alias, limit=MAX_ADDRESS).encode("ascii", "replace")
    marker_field = f"{marker_header}: ".encode("ascii") + marker + eol
    from_field = _format_from(prepared.display, from_address, eol)
    for name, data in ((marker_header, marker_field), ("From", from_field)):
        if not _is_one_field(data, name, eol):  # cannot happen: alias and address are checked
            raise ValueError(f"{name}: Sesame built a field it cannot send")
    head = b"".join((marker_field, prepared.before_from, from_field, prepared.after_from))
    return RewriteResult(head, prepared.body, tuple(defects), prepared.senders)


def prepare(parsed: ParsedMessage, envelope_sender: str = "") -> PreparedMessage:
    """Do the alias-independent part of the rewrite once per message."""
    return _Preparer(parsed, envelope_sender).run()


def quote_headers(parsed: ParsedMessage, limit: int) -> bytes:
    """The original header fields, each one legal to send, at most ``limit`` bytes in all."""
    return _Preparer(parsed, "").quoted(limit)


class _Preparer:
    def __init__(self, parsed: ParsedMessage, envelope_sender: str) -> None:
        self.parsed = parsed
        self.envelope_sender = envelope_sender
        self.eol = parsed.eol
        self.linesep = parsed.eol.decode()
        self.defects: list[Defect] = list(parsed.defects)
        # Shared by every address field read for this message, in the order they are read
        # (From first, then the fields in order, all copies of To or Cc where the first is).
        self.address_tokens_left = MAX_ADDRESS_TOKENS_PER_MESSAGE

    def addresses(self, field: HeaderField) -> AddressList:
        """The addresses of ``field`` (see :func:`_addresses`), read within what is left of the
        message's address token budget, which they are taken off."""
        parsed = _addresses(field, self.address_tokens_left)
        self.address_tokens_left = max(0, self.address_tokens_left - parsed.tokens)
        return parsed

    def defect(self, kind: str, header: str | None = None) -> None:
        self.defects.append(Defect(kind, header))

    def run(self) -> PreparedMessage:
        parsed = self.parsed
        fields = [f for f in parsed.fields if not (f.key in REMOVED or f.key.startswith(REMOVED_PREFIXES))]
        from_fields = [f for f in fields if f.key == "from"]
        senders, display = self._senders(from_fields)

        before: list[bytes] = []
        after: list[bytes] = []
        out = before
        seen: set[str] = set()
        merged: dict[str, list[HeaderField]] = {k: [f for f in fields if f.key == k] for k in MERGED}
        has_reply_to = False
        size = 0
        count = 0
        # Room under Gmail's 5,000 fields: ours (marker, From, Reply-To) and one of each
        # essential field come first; the rest fill what is left.
        room = MAX_FIELDS - 3 - len({f.key for f in fields if f.key in ESSENTIAL and f.key not in ("from", "reply-to")})
        for field in fields:
            key = field.key
            if key == "from":
                if out is before:
                    out = after  # our From goes where the first one was
                else:
                    self.defect("duplicate-header", field.name)
                continue
            if key == "reply-to" and not has_reply_to:
                rendered = self._reply_to(field)
                if rendered is None:
                    continue  # judged before de-duplication: a usable later copy still wins
                has_reply_to = True
                seen.add(key)
                out.append(rendered)
                continue
            if key in SINGLE_INSTANCE and key in seen:
                if key not in MERGED:
                    self.defect("duplicate-header", field.name)
                continue
            if key in MERGED:
                seen.add(key)
                if len(merged[key]) > 1:
                    self.defect("duplicate-header-merged", field.name)
                rendered = self._merged(field.name, merged[key])
            else:
                rendered = self._sendable(field)
            if rendered is None:
                continue  # dropped: a later copy of a single-instance field may still be kept
            if key in SINGLE_INSTANCE:
                seen.add(key)
            if key not in ESSENTIAL:
                if size + len(rendered) > MAX_HEADER_BLOCK or count >= room:
                    self.defect("header-block-too-large", field.name)
                    continue
                count += 1
            size += len(rendered)
            out.append(rendered)

        if not from_fields:
            self.defect("missing-from")
            after = before + after  # our From goes first, right after the marker
            before = []
        if not has_reply_to:
            reply_to = self._built_reply_to(senders)
            if reply_to is not None:
                after.append(reply_to)
        after.append(self.eol)  # the blank line before the body (also mends a missing one)
        return PreparedMessage(
            eol=self.eol,
            before_from=b"".join(before),
            after_from=b"".join(after),
            senders=senders,
            display=display,
            body=parsed.body,
            defects=tuple(self.defects),
        )

    # --- who sent it --------------------------------------------------------------------
    def _senders(self, from_fields: list[HeaderField]) -> tuple[tuple[tuple[str, str], ...], str]:
        """Where replies go (the From mailboxes with usable addresses, else the envelope
        sender, else nobody) and who to name in our From (the first From mailbox as written,
        usable or not)."""
        named: Mailbox | None = None
        if from_fields:
            parsed = self.addresses(from_fields[0])
            self._address_defects(parsed, "From")
            # Named in our From: the first usable sender, else the first one written.
            named = next(iter(parsed.valid_mailboxes), None) or next((m for m in parsed.mailboxes if "@" in m.address), None)
            usable = tuple((m.display_name, m.address) for m in parsed.valid_mailboxes)
            if usable:
                return usable, display_name_for(((named.display_name, named.address),) if named else usable)
            if named is None:
                self.defect("unparseable-from", "From")
        envelope = envelope_address(self.envelope_sender)
        senders: tuple[tuple[str, str], ...] = ()
        if envelope is not None:
            senders = (("", envelope),)
        elif self.envelope_sender.strip() not in ("", "<>"):
            self.defect("unusable-address", "envelope-sender")
        shown = ((named.display_name, named.address),) if named is not None else senders
        return senders, display_name_for(shown)

    def _address_defects(self, parsed: AddressList, header: str) -> None:
        for kind in parsed.defects:
            self.defect(kind, header)
        for mailbox in parsed.mailboxes:
            if "@" in mailbox.address and not mailbox.valid:
                self.defect("non-ascii-address" if not mailbox.address.isascii() else "unusable-address", header)
                break

    # --- Reply-To -------------------------------------------------------------------------
    def _reply_to(self, field: HeaderField) -> bytes | None:
        """The first usable Reply-To: byte for byte when it is clean, else written again with
        its usable addresses only. None when it has no usable address."""
        parsed = self.addresses(field)
        usable = parsed.valid_mailboxes
        if not usable:
            self._address_defects(parsed, field.name)
            self.defect("unusable-reply-to", field.name)
            return None
        clean = (
            field.is_ascii
            and field.original is None
            and not field.truncated
            and not parsed.defects
            and all(m.valid for m in parsed.mailboxes)
            and _lines_fit(field)
        )
        if clean:
            return self._checked(field.name, field.render(self.eol))
        self._address_defects(parsed, field.name)
        self.defect("reply-to-rewritten", field.name)
        return self._checked(field.name, self._address_field(field.name, tuple(usable)))

    def _built_reply_to(self, senders: tuple[tuple[str, str], ...]) -> bytes | None:
        if not senders:
            self.defect("no-usable-sender", "Reply-To")
            return None
        mailboxes = tuple(Mailbox(name, address) for name, address in senders)
        return self._checked("Reply-To", self._address_field("Reply-To", mailboxes))

    # --- one field ------------------------------------------------------------------------
    def _sendable(self, field: HeaderField) -> bytes | None:
        """The field as SES and the receivers will take it, by the rules in the module doc."""
        key = field.key
        if key == "subject":
            return self._subject(field)
        if key == "message-id" and field.size > MAX_MESSAGE_ID:
            self.defect("header-too-large", field.name)
            return None
        deep = key in READER_PARSED and comment_depth(field.text()) > MAX_COMMENT_DEPTH
        if field.is_ascii and _lines_fit(field) and not deep:
            return self._checked(field.name, field.render(self.eol))
        if deep:
            # CPython's reader (and others) recurse per level and fail on such a field.
            self.defect("comment-too-deep", field.name)
            if key not in ADDRESS_FIELDS | PARAMETER_FIELDS | ID_FIELDS:
                return self._checked(field.name, self._text_field(field.name, strip_comments(field.text()).encode("utf-8")))
        else:
            self.defect("8bit-header" if not field.is_ascii else "line-too-long", field.name)
        if key in ADDRESS_FIELDS:
            parsed = self.addresses(field)
            self._address_defects(parsed, field.name)
            data = self._address_field(field.name, parsed.items) if parsed.items else None
        elif key in PARAMETER_FIELDS:
            data = self._parameter_field(field)
        elif key in ID_FIELDS:
            data = self._id_field(field)
        else:
            data = self._text_field(field.name, field.unfolded)
        return self._checked(field.name, data)

    def _merged(self, name: str, fields: list[HeaderField]) -> bytes | None:
        """All copies of To (or Cc) as one field: byte for byte, joined with commas, when every
        copy is clean ASCII; else their addresses written again."""
        present = [f for f in fields if f.unfolded.strip()]
        if not present:  # only empty copies: keep the first as it is
            return self._checked(name, fields[0].render(self.eol)) if fields else None
        # Each copy is read once (a copy cut for its size: all but its last item); a copy as
        # received has no mended lines, so its text is what was written.
        parsed = [self.addresses(f) for f in present]
        clean = (
            f.is_ascii and _lines_fit(f) and f.original is None and not f.truncated and not p.defects
            for f, p in zip(present, parsed, strict=True)
        )
        if all(clean):
            lines = list(present[0].lines)
            for other in present[1:]:
                lines.append(b" , " + other.lines[0].lstrip(b" \t"))
                lines.extend(other.lines[1:])
            return self._checked(name, HeaderField(name, tuple(lines)).render(self.eol))
        # Why it is written again: 8-bit text or a long line are recorded here; a mended copy,
        # a cut one and unusable addresses have their own defects already (or just below).
        if not all(f.is_ascii for f in present):
            self.defect("8bit-header", name)
        elif not all(_lines_fit(f) for f in present):
            self.defect("line-too-long", name)
        items: list[Mailbox | Group] = []
        for addresses in parsed:
            self._address_defects(addresses, name)
            items.extend(addresses.items)
        return self._checked(name, self._address_field(name, tuple(items)) if items else None)

    def _subject(self, field: HeaderField) -> bytes | None:
        """A Subject within Gmail's 998 characters; 8-bit text encoded."""
        if field.is_ascii and _lines_fit(field) and len(field.unfolded) <= MAX_SUBJECT:
            return self._checked(field.name, field.render(self.eol))
        self.defect("8bit-header" if not field.is_ascii else "subject-shortened", field.name)
        return self._checked(field.name, self._text_field(field.name, field.unfolded, limit=MAX_SUBJECT))

    # --- writers ------------------------------------------------------------------------
    def _address_field(self, name: str, items: Iterable[Mailbox | Group]) -> bytes:
        """One item a line: the first after ``Name: ``, the others on continuation lines."""
        parts: list[str] = []
        for item in items:
            part = self._address_item(item, FOLD_AT - len(name) - 2 if not parts else FOLD_AT - 2)
            if part:
                parts.append(part)
        value = ("," + self.linesep + " ").join(parts)
        return f"{name}: {value}".encode("ascii") + self.eol

    def _address_item(self, item: Mailbox | Group, room: int) -> str:
        fold = self.linesep + " "
        if isinstance(item, Group):
            members = ("," + fold).join(filter(None, (self._address_item(m, FOLD_AT - 2) for m in item.members)))
            label = format_phrase(safe_display_text(item.display_name, limit=MAX_LINE // 2) or "group", self.linesep, room)
            return f"{label}:{fold + members if members else ''};"
        if item.valid:
            return format_mailbox(item.display_name, item.address, self.linesep, room)
        # An address that cannot be written in ASCII (or at all): its text in an empty group.
        text = safe_display_text(item.text or item.address or item.display_name, limit=MAX_LINE // 2)
        return f"{format_phrase(text, self.linesep, room, quote=True)}:;" if text else ""

    def _parameter_field(self, field: HeaderField) -> bytes | None:
        value = field.unfolded
        if comment_depth(field.text()) > MAX_COMMENT_DEPTH:
            value = strip_comments(field.text()).encode("utf-8", "surrogateescape")
        parts = _split_parameters(value)
        head, params = parts[0].strip(), parts[1:]
        if not head.isascii():
            self.defect("unrepairable-header-dropped", field.name)
            return None
        out = [head.decode("ascii")]
        for param in params:
            name, eq, value = param.strip().partition(b"=")
            name = name.strip()
            if not name:
                continue
            if not name.isascii() or not eq:
                self.defect("unrepairable-parameter-dropped", field.name)
                continue
            text_name = name.decode("ascii")
            if value.isascii() and len(value) < MAX_LINE - 4 - len(name):
                out.append(f"{text_name}={value.decode('ascii').strip()}")
                continue
            if text_name.lower() == "boundary":  # the body's delimiter lines depend on it
                self.defect("unrepairable-header-dropped", field.name)
                return None
            raw = value.strip()
            if raw.startswith(b'"') and raw.endswith(b'"') and len(raw) >= 2:
                raw = raw[1:-1].replace(b'\\"', b'"').replace(b"\\\\", b"\\")
            out.append(encode_parameter(text_name.rstrip("*"), _clean_text(decode_bytes(raw)), self.linesep))
        value = (";" + self.linesep + " ").join(out)
        return f"{field.name}: {value}".encode("ascii") + self.eol

    def _id_field(self, field: HeaderField) -> bytes | None:
        ids = [m.group() for m in _MESSAGE_ID.finditer(field.unfolded) if m.group().isascii()]
        if not ids:
            self.defect("unrepairable-header-dropped", field.name)
            return None
        value = (self.eol + b" ").join(ids)
        return field.name.encode("ascii") + b": " + value + self.eol

    def _text_field(self, name: str, value: bytes, limit: int | None = None) -> bytes:
        """Unstructured text: ASCII folded at spaces when it can be, else encoded words.
        ``limit`` caps the unfolded value (the Subject's 998 characters)."""
        clean_ascii = value.isascii() and not _BAD_IN_LINE.search(value)
        if clean_ascii and (limit is None or len(value) <= limit):
            folded = _fold_at_spaces(name, value, self.eol)
            if folded is not None:
                return folded
        text = _clean_text(decode_words(decode_bytes(value)))
        if limit is not None:
            text = _shorten_for_encoding(text, limit)
        if text.isascii() and "=?" not in text:
            folded = _fold_at_spaces(name, text.encode("ascii"), self.eol)
            if folded is not None:
                return folded
        return f"{name}: {encode_words(text, self.linesep)}".encode("ascii") + self.eol

    def quoted(self, limit: int) -> bytes:
        """The original header block for a bounce's text/rfc822-headers part: each field as
        it came when it is clean, else as (encoded) text; at most ``limit`` bytes."""
        out: list[bytes] = []
        size = 0
        for field in self.parsed.fields:
            if field.is_ascii and _lines_fit(field):
                data = self._checked(field.name, field.render(self.eol))
            else:
                data = self._checked(field.name, self._text_field(field.name, field.unfolded))
            if data is None:
                continue
            if size + len(data) > limit:
                self.defect("bounce-quote-shortened")
                break
            size += len(data)
            out.append(data)
        return b"".join(out)

    def _checked(self, name: str, data: bytes | None) -> bytes | None:
        if data is None:
            return None
        if _is_one_field(data, name, self.eol):
            return data
        self.defect("unrepairable-header-dropped", name)
        return None


def _addresses(field: HeaderField, token_budget: int) -> AddressList:
    """The addresses of a field as written, at most ``token_budget`` tokens of it; of a field
    cut for its size, all but the last (which the cut may have shortened into another valid
    address), unless reading stopped before the cut."""
    parsed = parse_address_list(field.written_text(), token_budget)
    stopped_early = "too-many-addresses" in parsed.defects or "address-tokens-exhausted" in parsed.defects
    if field.truncated and parsed.items and not stopped_early:
        return replace(parsed, items=parsed.items[:-1])
    return parsed


def _lines_fit(field: HeaderField) -> bool:
    first = len(field.name) + 1 + len(field.lines[0])
    return first <= MAX_LINE and all(len(line) <= MAX_LINE for line in field.lines[1:])


def _clean_text(text: str) -> str:
    """Header text with control characters and line or paragraph separators made spaces."""
    return _CONTROLS.sub(" ", text)


def _split_parameters(value: bytes) -> list[bytes]:
    """``type/subtype; a=1; b="x;y"`` split at the semicolons outside quotes."""
    parts: list[bytes] = []
    start = 0
    quoted = False
    escaped = False
    for index, byte in enumerate(value):
        if escaped:
            escaped = False
        elif byte == 0x5C:  # backslash
            escaped = quoted
        elif byte == 0x22:  # quote
            quoted = not quoted
        elif byte == 0x3B and not quoted:  # semicolon
            parts.append(value[start:index])
            start = index + 1
    parts.append(value[start:])
    return parts


def _fold_at_spaces(name: str, value: bytes, eol: bytes) -> bytes | None:
    """``name: value`` folded at spaces into lines of at most 78 octets where possible and
    998 always; None when a word is too long for any line."""
    words = [w for w in _FOLD_SPACE.split(value.strip(b" \t")) if w]
    lines: list[bytes] = []
    current = name.encode("ascii") + b":"
    for word in words:
        if len(current) + 1 + len(word) <= FOLD_AT or (current.endswith(b":") and not lines):
            current += b" " + word
        else:
            lines.append(current)
            current = b" " + word
        if len(current) > MAX_LINE:
            return None
    lines.append(current)
    return eol.join(lines) + eol


def _shorten_for_encoding(text: str, limit: int) -> str:
    """``text`` cut so that, written as it will be (plain ASCII, or encoded words of 45 UTF-8
    bytes each, 72 characters), its unfolded value is at most ``limit`` characters."""
    if text.isascii() and "=?" not in text:
        return text if len(text) <= limit else text[: limit - 3].rstrip() + "..."
    words = max(1, (limit + 1) // 73)  # 72 characters a word, a space between words
    budget = words * 42  # a word holds 45 bytes, 42 when a 4-byte character falls on its edge
    data = text.encode("utf-8")
    if len(data) <= budget:
        return text
    return data[: budget - 3].decode("utf-8", errors="ignore").rstrip() + "\u2026"


def display_name_for(senders: tuple[tuple[str, str], ...]) -> str:
    """``Jane Doe at jane@sender.example``, or just the address when there is no name."""
    if not senders:
        return "unknown sender"
    name, addr = senders[0]
    addr = safe_display_text(addr, limit=MAX_ADDRESS)
    name = safe_display_text(name)
    if not name or name.lower() == addr.lower():
        return addr
    return f"{name} at {addr}"


def _format_from(display: str, from_address: str, eol: bytes) -> bytes:
    """Our From: ``display`` (made safe and cut to size by :func:`display_name_for`)."""
    mailbox = format_mailbox(display, from_address, eol.decode(), room=FOLD_AT - 6, limit=len(display), quote=True)
    return ("From: " + mailbox).encode("ascii") + eol


def _is_one_field(data: bytes, name: str, eol: bytes) -> bool:
    """``data`` is exactly one header field named ``name``: ASCII, no line of it could start
    another, none over 998 octets."""
    if not data.isascii() or not data.endswith(eol):
        return False
    if data[: len(name) + 1].lower() != name.lower().encode() + b":":
        return False
    lines = data[: -len(eol)].split(eol)
    return all(
        len(line) <= MAX_LINE and not _BAD_IN_LINE.search(line) for line in lines
    ) and all(line[:1] in (b" ", b"\t") and line.strip(b" \t") for line in lines[1:])


# Anything a reader might take for a line break (CPython's parser splits header lines at
# \v, \f and \x1c-\x1e too), and NUL.
_BAD_IN_LINE = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")

__all__ = [
    "MARKER_HEADER",
    "PreparedMessage",
    "RewriteOptions",
    "RewriteResult",
    "SINGLE_INSTANCE",
    "display_name_for",
    "prepare",
    "quote_headers",
    "render",
    "rewrite",
    "rewrite_bytes",
    "safe_display_text",
]
