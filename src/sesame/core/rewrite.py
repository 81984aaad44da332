"""Rewrite the header block so SES will send the message, and change nothing else.

The body bytes are passed through untouched. Header fields are kept byte-for-byte unless
SES would refuse them (duplicates, 8-bit text, over-long lines), the forwarding itself
requires it (From, Reply-To, broken signatures), or they would leak (Bcc) or steer SES
(X-SES-* headers are instructions to SES's sending side, never accepted from outside).
"""

from __future__ import annotations

import email.header
import email.policy
import email.utils
import unicodedata
from dataclasses import dataclass
from email.headerregistry import AddressHeader

from sesame.core.message import Defect, HeaderField, ParsedMessage, parse_message

MARKER_HEADER = "X-Sesame-Forwarded-For"

# Signatures are broken by the rewrite and SES signs again; the rest name the original
# sender to SES, which checks them against verified identities.
REMOVED = frozenset(
    {"dkim-signature", "domainkey-signature", "return-path", "sender", "bcc", "resent-bcc"}
)
REMOVED_PREFIXES = ("x-ses-",)

# Fields SES refuses to see more than once (SES developer guide, "Amazon SES header fields").
SINGLE_INSTANCE = frozenset(
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

MAX_LINE = 998  # RFC 5322 section 2.1.1, without the CRLF
MAX_NAME_CHARS = 64
MAX_ADDRESS = 254  # RFC 5321 section 4.5.3.1.3, a path without its angle brackets
_FOLD_POLICY = email.policy.SMTP.clone(max_line_length=78)
# Characters that could end a header line or a quoted string in some reader.
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"})


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
        """The whole message in one buffer (one copy of the body): what an API call needs."""
        return b"".join((self.head, self.body))


def rewrite_bytes(raw: bytes, options: RewriteOptions) -> RewriteResult:
    """Parse and rewrite in one call; see :func:`rewrite`."""
    return rewrite(parse_message(raw), options)


def rewrite(parsed: ParsedMessage, options: RewriteOptions) -> RewriteResult:
    """Return the message as it must be sent for ``options.alias``; the body is unchanged."""
    eol = parsed.eol
    defects: list[Defect] = list(parsed.defects)
    from_fields = parsed.get_all("From")
    original_from = _original_senders(from_fields, options.envelope_sender, defects)
    new_from = _format_from(original_from, options.from_address, eol)

    marker = safe_display_text(options.alias, limit=MAX_ADDRESS).encode("ascii", "replace").decode()
    out: list[bytes] = [_plain_field(options.marker_header, marker, eol)]
    seen: set[str] = set()
    has_reply_to = False
    for field in parsed.fields:
        key = field.key
        if key in REMOVED or key.startswith(REMOVED_PREFIXES):
            continue
        if key == "reply-to" and not has_reply_to and not _has_usable_address(field.text()):
            # Judged before de-duplication, so a usable second copy still wins over none.
            defects.append(Defect("unusable-reply-to", field.name))
            continue
        if key in SINGLE_INSTANCE:
            if key in seen:
                defects.append(Defect("duplicate-header", field.name))
                continue
            seen.add(key)
        if key == "from":
            out.append(new_from)
            continue
        rendered = _sendable(field, eol, defects)
        if rendered is not None:
            out.append(rendered)
            has_reply_to = has_reply_to or key == "reply-to"

    if not from_fields:
        defects.append(Defect("missing-from"))
        out.insert(1, new_from)
    if not has_reply_to:
        reply_to = _format_reply_to(original_from, eol, defects)
        if reply_to is not None:
            out.append(reply_to)

    out.append(eol)  # the blank line before the body (also mends a missing one)
    return RewriteResult(b"".join(out), parsed.body, tuple(defects), original_from)


def _original_senders(
    from_fields: list[HeaderField], envelope_sender: str, defects: list[Defect]
) -> tuple[tuple[str, str], ...]:
    """Who really sent the message: the From addresses, or the envelope sender without one."""
    senders: list[tuple[str, str]] = []
    if from_fields:
        senders = _parse_addresses(from_fields[0].text())
        if not senders:
            defects.append(Defect("unparseable-from", "From"))
    if not senders:
        senders = [("", addr) for _, addr in _parse_addresses(envelope_sender)[:1]]
    return tuple(senders)


def _parse_addresses(text: str) -> list[tuple[str, str]]:
    """The ``local@domain`` addresses in an address-list header, display names decoded (RFC 2047).

    The stdlib's token parser is used directly rather than through ``header_factory``: the
    latter refuses a whole header when one decoded display name holds CR or LF, and the
    ``getaddresses`` fallback then misreads ``=?utf-8?q?Jane=0D=0ABcc:_x@evil?= <a@b>`` as a
    group named ``=?utf-8?q?Jane=0D=0ABcc`` holding the attacker's address.
    """
    try:
        parsed = [
            (mailbox.display_name or "", mailbox.addr_spec or "", mailbox.local_part, mailbox.domain)
            for address in AddressHeader.value_parser(text).addresses
            for mailbox in address.all_mailboxes
        ]
        return [(name, addr) for name, addr, local, domain in parsed if local and domain and "@" in addr]
    except Exception:  # noqa: BLE001 - the stdlib parser raises assorted errors on junk
        return [
            (_decode_words(name), addr)
            for name, addr in email.utils.getaddresses([text])
            if all(addr.rpartition("@")[::2])  # a local part and a domain
        ]


def _decode_words(name: str) -> str:
    try:
        return str(email.header.make_header(email.header.decode_header(name)))
    except Exception:  # noqa: BLE001 - unknown charsets, broken base64
        return name


def _has_usable_address(text: str) -> bool:
    return bool(_parse_addresses(text))


def safe_display_text(text: str, limit: int = MAX_NAME_CHARS) -> str:
    """Text that can sit inside a quoted display name and never end the line or the quotes."""
    cleaned = "".join(
        " " if unicodedata.category(ch) in _UNSAFE_CATEGORIES else ch
        for ch in text.replace('"', "'").replace("\\", "/")
    )
    cleaned = " ".join(cleaned.split())
    if len(cleaned) > limit:
        cleaned = cleaned[: limit - 1].rstrip() + "\u2026"
    return cleaned


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


def _format_from(senders: tuple[tuple[str, str], ...], from_address: str, eol: bytes) -> bytes:
    display = display_name_for(senders)
    if _needs_encoding(display):
        encoded = email.header.Header(display, "utf-8", header_name="From").encode(linesep=eol.decode())
        return _plain_field("From", f"{encoded} <{from_address}>", eol)
    return _plain_field("From", f'"{display}" <{from_address}>', eol)


def _needs_encoding(text: str) -> bool:
    """Non-ASCII text, or text a reader would take for an encoded word (even inside quotes)."""
    return not text.isascii() or "=?" in text


def _format_reply_to(
    senders: tuple[tuple[str, str], ...], eol: bytes, defects: list[Defect]
) -> bytes | None:
    """``Reply-To`` naming the original senders, one per line, names sanitised like From's."""
    linesep = eol.decode()
    parts = []
    for name, addr in senders:
        if not addr.isascii():
            defects.append(Defect("non-ascii-address", "From"))
            continue
        if len(addr) > MAX_ADDRESS or any(ch < " " or ch == "\x7f" for ch in addr):
            defects.append(Defect("unusable-address", "From"))
            continue
        name = safe_display_text(name)
        if _needs_encoding(name):
            phrase = email.header.Header(name, "utf-8", header_name="Reply-To").encode(linesep=linesep)
            parts.append(f"{phrase} <{addr}>")
        else:
            parts.append(email.utils.formataddr((name, addr)))
    if not parts:
        return None
    return _plain_field("Reply-To", f",{linesep} ".join(parts), eol)


def _plain_field(name: str, value: str, eol: bytes) -> bytes:
    return f"{name}: {value}".encode("ascii") + eol


def _sendable(field: HeaderField, eol: bytes, defects: list[Defect]) -> bytes | None:
    """The field as SES will take it: verbatim when it can be, re-encoded when it must be."""
    if not field.is_ascii:
        defects.append(Defect("8bit-header", field.name))
        return _refold(field, eol, defects)
    return _fold_if_long(field, eol, defects) or field.render(eol)


def _fold_if_long(field: HeaderField, eol: bytes, defects: list[Defect]) -> bytes | None:
    first = len(field.name) + 1 + len(field.lines[0])
    if first <= MAX_LINE and all(len(line) <= MAX_LINE for line in field.lines[1:]):
        return None
    defects.append(Defect("line-too-long", field.name))
    return _refold(field, eol, defects)


def _refold(field: HeaderField, eol: bytes, defects: list[Defect]) -> bytes | None:
    """Re-encode a field with the stdlib's header folding (RFC 2047/2231, 78-column lines).

    The structured fold decodes encoded words before re-encoding them, and before Python
    3.11.10 / 3.12.5 it wrote a decoded CR LF out raw (CVE-2024-6923): ``=?utf-8?q?=0D=0ABcc:
    _x?=`` inside an 8-bit Subject became a Bcc line. So every result is checked to be one
    field of ASCII lines; if the structured fold fails the check, the value is encoded as
    opaque text instead, and if that fails too the field is dropped. A decoded line break
    sends the value down the opaque-text path directly (see :func:`_fold_structured`).
    """
    policy = _FOLD_POLICY.clone(linesep=eol.decode())
    text = field.text()
    for fold in (_fold_structured, _fold_as_text):
        try:
            data = fold(field.name, text, policy).encode("ascii")
        except Exception:  # noqa: BLE001 - the stdlib folder raises assorted errors on junk
            continue
        if _is_one_field(data, field.name, eol):
            return data
    defects.append(Defect("unrepairable-header-dropped", field.name))
    return None


def _fold_structured(name: str, text: str, policy: email.policy.EmailPolicy) -> str:
    header = policy.header_factory(name, text)
    # Encoded words that decode to a line break: Python 3.11 folds them back out raw, 3.13
    # re-encodes them; either way the reader would see a line break. Refuse, so the value
    # is encoded as opaque text instead, the same on every Python.
    if any(ch in str(header) for ch in "\r\n\x00"):
        raise ValueError(f"{name}: decoded value holds a line break")
    return header.fold(policy=policy)


def _fold_as_text(name: str, text: str, policy: email.policy.EmailPolicy) -> str:
    encoded = email.header.Header(text, "utf-8", header_name=name).encode(linesep=policy.linesep)
    return f"{name}: {encoded}{policy.linesep}"


def _is_one_field(data: bytes, name: str, eol: bytes) -> bool:
    """``data`` is exactly one header field named ``name``: no line of it could start another."""
    if not data.endswith(eol) or not data[: len(name) + 1].lower() == name.lower().encode() + b":":
        return False
    lines = data[: -len(eol)].split(eol)
    return all(
        len(line) <= MAX_LINE and b"\r" not in line and b"\n" not in line and b"\x00" not in line
        for line in lines
    ) and all(line[:1] in (b" ", b"\t") and line.strip(b" \t") for line in lines[1:])
