"""The copy SES receiving stores: a message id, and the header fields SES puts in front of
the message before it writes it to S3 (the same fields, in the same order, as real stored
messages: Return-Path, Received, X-SES-Spam-Verdict, X-SES-Virus-Verdict, Received-SPF,
Authentication-Results, X-SES-RECEIPT, X-SES-DKIM-SIGNATURE; see the example in AWS's
"Examples of notifications for Amazon SES email receiving")."""

from __future__ import annotations

import base64
import email.utils
import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sesame.core.addresses import comment_depth, parse_address_list
from sesame.core.event import Verdicts
from sesame.core.limits import MAX_COMMENT_DEPTH
from sesame.core.message import parse_message


def read_addresses(values: Sequence[str]) -> list[tuple[str, str]]:
    """(display name, address) of each mailbox in these field values. The standard parser's,
    except where it cannot cope: it recurses once per nested comment, so a From of a few
    hundred ``(`` raises RecursionError, and SES stores and delivers such a message all the
    same. There Sesame's own linear reader (comments past its depth limit dropped) stands in."""
    if not any(comment_depth(v) > MAX_COMMENT_DEPTH for v in values):
        try:
            return email.utils.getaddresses(list(values))
        except RecursionError:
            pass
    return [(m.display_name, m.address) for v in values for m in parse_address_list(v).mailboxes]


def new_message_id() -> str:
    """An SES receiving message id: 40 characters of ``[a-z0-9]`` (also the S3 key's tail)."""
    return base64.b32encode(secrets.token_bytes(25)).decode("ascii").lower()


@dataclass
class Received:
    """One message as SES receiving accepted it."""

    message_id: str
    source: str  # the envelope MAIL FROM, "" for the null reverse-path <>
    recipients: tuple[str, ...]
    helo: str
    peer_ip: str
    received_at: datetime
    original: bytes
    stored: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)


def _word(status: str) -> str:
    return {"PASS": "pass", "FAIL": "fail", "GRAY": "neutral", "PROCESSING_FAILED": "temperror"}.get(status, "none")


def ses_headers(
    received: Received, verdicts: Verdicts, region: str, eol: bytes, extra: Sequence[tuple[str, str]] = ()
) -> bytes:
    """The header fields SES puts in front of a message it stores, in SES's order."""
    source = received.source
    helo = received.helo or "unknown"
    ip = received.peer_ip or "127.0.0.1"
    first = received.recipients[0] if received.recipients else ""
    parsed = parse_message(received.original)
    from_field = parsed.first("From")
    from_domain = ""
    if from_field is not None:
        addresses = [a for _, a in read_addresses([from_field.text()]) if "@" in a]
        from_domain = addresses[0].rpartition("@")[2].lower() if addresses else ""
    env_domain = source.rpartition("@")[2].lower() or helo
    date = email.utils.format_datetime(received.received_at.astimezone(UTC)).replace("-0000", "+0000")
    spf = _word(verdicts.spf)
    spf_text = {
        "pass": f"domain of {env_domain} designates {ip} as permitted sender",
        "fail": f"domain of {env_domain} does not designate {ip} as permitted sender",
    }.get(spf, f"no conclusive SPF result for {env_domain}")
    body = received.original[parsed.body_offset :] if parsed.has_separator else b""
    body_hash = base64.b64encode(hashlib.sha256(body).digest()).decode()
    receipt_blob = base64.b64encode(secrets.token_bytes(96)).decode()
    signature = base64.b64encode(secrets.token_bytes(128)).decode()
    lines = [
        f"Return-Path: <{source}>",  # <> for the null reverse-path, as an MTA writes it (RFC 5321 4.4)
        f"Received: from {helo} ({helo} [{ip}])",
        f" by inbound-smtp.{region}.amazonaws.com with SMTP id {received.message_id}",
        f" for {first};",
        f" {date} (UTC)",
        *(f"{name}: {value}" for name, value in extra),
        f"X-SES-Spam-Verdict: {verdicts.spam}",
        f"X-SES-Virus-Verdict: {verdicts.virus}",
        f"Received-SPF: {spf} (spfCheck: {spf_text}) client-ip={ip}; envelope-from={source}; helo={helo};",
        "Authentication-Results: amazonses.com;",
        f" spf={spf} (spfCheck: {spf_text}) client-ip={ip}; envelope-from={source}; helo={helo};",
        f" dkim={_word(verdicts.dkim)} header.i=@{from_domain or env_domain};",
        f" dmarc={_word(verdicts.dmarc)} header.from={from_domain or env_domain};",
        f"X-SES-RECEIPT: {receipt_blob[:76]}",
        f" {receipt_blob[76:]}",
        "X-SES-DKIM-SIGNATURE: a=rsa-sha256; q=dns/txt; c=relaxed/simple;",
        f" s=224i4yxa5dv7c2xz3womw6peuasteono; d=amazonses.com; t={int(received.received_at.timestamp())};",
        " v=1; h=From:To:Cc:Bcc:Subject:Date:Message-ID:MIME-Version:Content-Type:X-SES-RECEIPT;",
        f" bh={body_hash};",
        f" b={signature[:70]}",
        f" {signature[70:]}",
    ]
    return eol.join(line.encode("ascii", "replace") for line in lines) + eol


def store_copy(received: Received, verdicts: Verdicts, region: str, extra: Sequence[tuple[str, str]] = ()) -> bytes:
    """The message as SES writes it to S3: its added headers, then the message untouched."""
    parsed = parse_message(received.original)
    eol = parsed.eol or b"\r\n"
    received.stored = ses_headers(received, verdicts, region, eol, extra) + received.original
    stored = parse_message(received.stored)
    received.headers = [(f.name, f.text()) for f in stored.fields]
    return received.stored
