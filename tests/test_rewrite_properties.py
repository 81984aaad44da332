"""Invariants of the rewriter over generated messages (hypothesis).

Messages are built from generated parts (header names and values with non-ASCII text,
folding, CRLF or LF, sender display names carrying CR, LF, U+2028 and quotes, bodies of
arbitrary bytes), so the set of header fields the input really holds is known independently
of the parser under test.
"""

from __future__ import annotations

import base64
import email
import email.policy
import re
from dataclasses import dataclass
from email.message import EmailMessage

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sesame.core.message import parse_message
from sesame.core.rewrite import MARKER_HEADER, REMOVED, RewriteOptions, rewrite_bytes

settings.register_profile(
    "rewrite-properties",
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
PROFILE = settings.get_profile("rewrite-properties")

ADDED_BY_US = {"from", "reply-to", MARKER_HEADER.lower()}
DOMAIN = "example.com"

# --- strategies ---------------------------------------------------------------------------------

REAL_NAMES = [
    "Subject", "To", "Cc", "Bcc", "Date", "Message-ID", "In-Reply-To", "References", "Reply-To",
    "MIME-Version", "Content-Type", "Content-Transfer-Encoding", "Content-Disposition", "Received",
    "DKIM-Signature", "Return-Path", "Sender", "X-SES-CONFIGURATION-SET", "X-SES-Spam-Verdict",
    "List-Unsubscribe", "Delivered-To", MARKER_HEADER, "X-Mailer", "Thread-Topic", "Keywords",
]
header_names = st.one_of(
    st.sampled_from(REAL_NAMES),
    st.sampled_from(REAL_NAMES).map(str.upper),
    st.from_regex(r"[A-Za-z][A-Za-z0-9_.-]{0,20}", fullmatch=True),
)

# Header text: anything but the characters that structure a message (they are generated apart).
value_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n\x00"),
    max_size=80,
)
# Values that try to break out of their field when re-encoded (CVE-2024-6923 and friends).
SMUGGLERS = [
    "=?utf-8?q?=0D=0ABcc:_x@evil.example?=",
    "=?utf-8?b?DQpCY2M6IHhAZXZpbC5leGFtcGxl?=",
    "\u2028Bcc: y@evil.example",
    "\x1cBcc: z@evil.example",
    "caf\u00e9 ",
]
tricky_values = st.lists(st.one_of(value_text, st.sampled_from(SMUGGLERS)), max_size=4).map("".join)
long_ascii = st.text(alphabet=st.sampled_from("abc xyz<>@.;=-"), min_size=900, max_size=1600)

# What a display name may try to smuggle in.
HOSTILE = ["\r\nBcc: x@evil.example", "\u2028Bcc: x@evil.example", "\u2029", "\u0085", '"', '\\"', "\r", "\t", "\x0b"]
display_names = st.lists(st.one_of(value_text, st.sampled_from(HOSTILE)), max_size=4).map("".join)
_domains = st.from_regex(r"[a-z0-9]{1,10}\.(example|test)", fullmatch=True)
# Some unusable: a local part may end in a dot or hold two in a row.
addresses = st.builds("{}@{}".format, st.from_regex(r"[a-z0-9][a-z0-9._+-]{0,15}", fullmatch=True), _domains)
# A dot-atom local part: no leading, trailing or doubled dot.
usable_addresses = st.builds("{}@{}".format, st.from_regex(r"[a-z0-9+_-]{1,8}(\.[a-z0-9+_-]{1,8}){0,2}", fullmatch=True), _domains)


def _value_bytes(text: str, how: str) -> bytes:
    if how == "latin-1":
        return text.encode("latin-1", errors="replace")
    return text.encode("utf-8")


@st.composite
def header_fields(draw: st.DrawFn) -> tuple[str, bytes]:
    name = draw(header_names)
    text = draw(st.one_of(value_text, tricky_values, long_ascii))
    return name, _value_bytes(text, draw(st.sampled_from(["utf-8", "latin-1"])))


@st.composite
def from_fields(draw: st.DrawFn) -> bytes | None:
    """A From value as senders write them (raw, quoted or RFC 2047 encoded), or no From."""
    style = draw(st.sampled_from(["none", "bare", "raw", "quoted", "q", "b"]))
    name, addr = draw(display_names), draw(addresses)
    raw_name = name.replace("\n", " ")  # a raw LF would really be a new header line
    if style == "none":
        return None
    if style == "bare":
        return addr.encode()
    if style == "raw":
        return f"{raw_name} <{addr}>".encode()
    if style == "quoted":
        return ('"' + raw_name.replace("\\", "\\\\").replace('"', '\\"') + f'" <{addr}>').encode()
    data = name.encode("utf-8")
    if style == "b":
        return b"=?utf-8?b?" + base64.b64encode(data) + b"?= <" + addr.encode() + b">"
    quoted = "".join(c if c.isalnum() and c.isascii() else "".join(f"={b:02X}" for b in c.encode()) for c in name)
    return f"=?utf-8?q?{quoted}?= <{addr}>".encode()


@st.composite
def folded(draw: st.DrawFn, value: bytes, eol: bytes) -> list[bytes]:
    """The physical lines of ``value``: folded at some of its spaces, as a sender might."""
    pieces = value.split(b" ")
    lines = [pieces[0]]
    for piece in pieces[1:]:
        if draw(st.integers(0, 5)) == 0:
            lines.append(draw(st.sampled_from([b" ", b"\t"])) + piece)
        else:
            lines[-1] += b" " + piece
    return lines


@dataclass
class Generated:
    raw: bytes
    eol: bytes
    names: set[str]  # lower-cased names of the fields the input really holds
    body: bytes


@st.composite
def messages(draw: st.DrawFn) -> Generated:
    eol = draw(st.sampled_from([b"\r\n", b"\n"]))
    fields = draw(st.lists(header_fields(), max_size=12))
    sender = draw(from_fields())
    if sender is not None:
        fields.insert(draw(st.integers(0, len(fields))), ("From", sender))
    lines: list[bytes] = []
    for name, value in fields:
        first, *rest = draw(folded(b" " + value, eol))
        lines.append(name.encode() + b":" + first)
        lines.extend(rest)
    body = draw(st.binary(max_size=2000))
    raw = b"".join(line + eol for line in lines) + eol + body
    return Generated(raw, eol, {name.lower() for name, _ in fields}, body)


from_addresses = st.one_of(
    st.just(f"john@{DOMAIN}"), st.from_regex(r"[a-z][a-z0-9.+-]{0,12}", fullmatch=True).map(lambda s: f"{s}@{DOMAIN}")
)

# --- the invariants ---------------------------------------------------------------------------------


def _header_lines(out: bytes, body_length: int, eol: bytes) -> list[bytes]:
    head = out[: len(out) - body_length]
    assert head.endswith(eol + eol)
    return head[: -2 * len(eol)].split(eol)


@PROFILE
@given(messages(), from_addresses, st.sampled_from(["", "bounce@sender.example", "<>"]))
def test_rewriter_invariants(message: Generated, from_address: str, envelope: str) -> None:
    options = RewriteOptions(alias=f"alias@{DOMAIN}", from_address=from_address, envelope_sender=envelope)
    parsed = parse_message(message.raw)
    assert message.raw[parsed.body_offset :] == message.body  # the generator's framing, as parsed
    out = rewrite_bytes(message.raw, options).to_bytes()

    # 1. The body is unchanged, byte for byte, after exactly one blank line.
    assert out.endswith(message.body)
    # (The first line decides the line ending: a CR a display name ends with can make it CRLF.)
    lines = _header_lines(out, len(message.body), parsed.eol)

    # 2. Every header line is ASCII, at most 998 bytes, with no stray CR, LF or NUL.
    for line in lines:
        assert line.isascii() and len(line) <= 998
        assert b"\r" not in line and b"\n" not in line and b"\x00" not in line and line
    assert lines[0][:1] not in (b" ", b"\t")

    # 3. No field that was neither in the input nor added by us: nothing was injected.
    starts = [line for line in lines if line[:1] not in (b" ", b"\t")]
    names = [line.split(b":", 1)[0].decode().lower() for line in starts]
    assert set(names) <= message.names | ADDED_BY_US
    assert not [n for n in names if n in REMOVED or n.startswith("x-ses-")]
    assert not [line for line in lines if re.match(rb"(?i)bcc[ \t]*:", line)]

    # 4. Exactly one From, and its address is the configured one on our domain.
    from_lines = [line for line in starts if line.lower().startswith(b"from:")]
    assert len(from_lines) == 1
    assert names.count(MARKER_HEADER.lower()) >= 1

    # 5. The stdlib reads the output back with the same From address.
    reread = email.message_from_bytes(out, policy=email.policy.default)
    assert isinstance(reread, EmailMessage)
    assert len(reread.get_all("From") or []) == 1
    (sender,) = reread["From"].addresses
    assert sender.addr_spec == from_address and sender.domain == DOMAIN
    assert reread.get_all("Bcc") is None


@PROFILE
@given(display_names, usable_addresses, st.sampled_from([b"\r\n", b"\n"]))
def test_display_name_never_escapes_the_from_line(name: str, addr: str, eol: bytes) -> None:
    encoded = b"=?utf-8?b?" + base64.b64encode(name.encode()) + b"?="
    raw = b"From: " + encoded + b" <" + addr.encode() + b">" + eol + eol + b"body"
    out = rewrite_bytes(raw, RewriteOptions(alias=f"john@{DOMAIN}", from_address=f"john@{DOMAIN}")).to_bytes()
    lines = _header_lines(out, 4, eol)
    assert [line.split(b":", 1)[0] for line in lines if line[:1] not in (b" ", b"\t")] == [
        MARKER_HEADER.encode(), b"From", b"Reply-To"
    ]
    reread = email.message_from_bytes(out, policy=email.policy.default)
    display = reread["From"].addresses[0].display_name
    assert addr in display.replace(" ", "")
    assert not set(display) & {"\r", "\n", "\u2028", "\u2029", "\u0085", '"', "\\"}
