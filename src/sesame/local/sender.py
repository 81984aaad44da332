"""What SES would send, written to an outbox folder (and relayed over SMTP if asked).

:class:`LocalSender` implements :class:`sesame.core.ports.Sender` in place of the SES v2
adapter, and applies the checks SES makes on a raw send, so a rewrite mistake fails locally
the way it would in AWS.

Why not moto's SES: moto's raw send merges the addresses it finds in the To/Cc headers into
the destinations (a forwarder must send only to the envelope destinations it passes, never
to the original To/Cc) and fails on message bytes that are not UTF-8 (real mail often is
Latin-1 or binary 8-bit); it also checks none of the header rules SES enforces. So local
mode sends through this class instead, and moto serves S3, SSM, SQS and DynamoDB only.
"""

from __future__ import annotations

import email.utils
import re
import smtplib
import threading
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from sesame.core.ports import Outgoing, SendRejected, outgoing_bytes
from sesame.core.rewrite import MAX_LINE, SINGLE_INSTANCE
from sesame.core.settings import SES_MAX_MESSAGE_BYTES, SES_MAX_RECIPIENTS

_UNSAFE = re.compile(r"[^A-Za-z0-9@._+-]")


def safe_name(text: str, limit: int = 120) -> str:
    """``text`` reduced to characters safe in a file name on any system."""
    cleaned = _UNSAFE.sub("_", text).lstrip(".") or "_"
    return cleaned[:limit]


def new_ses_message_id() -> str:
    """An id shaped like SES's sending ids (``0100018c...-uuid-000000``)."""
    return f"0100{int(time.time() * 1000):012x}-{uuid.uuid4()}-000000"


class Outbox:
    """One ``.eml`` file per destination: ``<received message id>--<destination>.eml``.

    A second send of the same message to the same destination is written beside the first
    (``...--dest.2.eml``), never over it, so duplicate deliveries stay visible.
    """

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self._lock = threading.Lock()

    def prepare(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)

    def write(self, message_id: str, destination: str, data: bytes) -> Path:
        base = f"{safe_name(message_id, 80)}--{safe_name(destination)}"
        with self._lock:
            self.prepare()
            path = self.folder / f"{base}.eml"
            n = 1
            while path.exists():
                n += 1
                path = self.folder / f"{base}.{n}.eml"
            partial = path.with_name(path.name + ".part")
            partial.write_bytes(data)
            partial.replace(path)
        return path

    def keep_failed(self, message_id: str, data: bytes) -> Path:
        """A copy of a message whose handling failed (the bucket is gone when local mode stops)."""
        folder = self.folder / "failed"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{safe_name(message_id, 80)}.eml"
        path.write_bytes(data)
        return path


@dataclass(frozen=True)
class Sent:
    key: str
    ses_message_id: str
    destinations: tuple[str, ...]
    files: tuple[Path, ...]


class RelayError(RuntimeError):
    """The relay SMTP server could not take the message (a transient failure, like an outage)."""


class LocalSender:
    """Stands in for SES v2 ``SendEmail`` with raw content. See the module docstring.

    Checks, in SES's terms: 1 to 50 destinations; at most ``max_bytes`` (40 MB; the SES
    docs measure it after base64 encoding, which would make ~30 MB of raw bytes the real
    ceiling: local mode takes the forwarder's own 40 MB limit); header lines ASCII and at
    most 998 characters; no second copy of a header that may appear once; a From header
    with addresses whose domain is verified (a verified domain covers its subdomains), and
    the same for Sender and Return-Path when present. Sandbox limits (verified
    destinations, quotas) are not emulated.
    """

    def __init__(
        self,
        outbox: Outbox,
        verified_domains: Iterable[str],
        *,
        relay: tuple[str, int] | None = None,
        region: str = "us-east-1",
        max_bytes: int = SES_MAX_MESSAGE_BYTES,
    ) -> None:
        self.outbox = outbox
        self.verified = tuple(sorted({d.strip().lower().rstrip(".") for d in verified_domains if d.strip()}))
        self.relay = relay
        self.region = region
        self.max_bytes = max_bytes
        self.sent: list[Sent] = []
        self._lock = threading.Lock()

    # Sender port
    def send_raw(self, message: Outgoing, destinations: Sequence[str], *, key: str) -> str:
        if not 1 <= len(destinations) <= SES_MAX_RECIPIENTS:
            # The same check, and the same error, as the SES adapter makes before calling SES.
            raise ValueError(f"SES takes 1 to {SES_MAX_RECIPIENTS} destinations a send, not {len(destinations)}")
        message = outgoing_bytes(message)
        sender = self.check(message)
        ses_id = new_ses_message_id()
        if self.relay is not None:
            self._relay(message, sender, destinations)
        received_id = key.split(":", 1)[0]
        files = tuple(self.outbox.write(received_id, d, message) for d in destinations)
        with self._lock:
            self.sent.append(Sent(key, ses_id, tuple(destinations), files))
        return ses_id

    def files_for(self, received_id: str) -> list[Path]:
        with self._lock:
            return [f for s in self.sent if s.key.split(":", 1)[0] == received_id for f in s.files]

    # SES's checks
    def check(self, message: bytes) -> str:
        """Raise :class:`SendRejected` as SES would; return the From address."""
        if len(message) > self.max_bytes:
            raise SendRejected("MessageRejected", f"Message length is more than {self.max_bytes} bytes long")
        fields = _header_fields(message)
        seen: dict[str, str] = {}
        for name, lines in fields:
            key = name.lower()
            if key in SINGLE_INSTANCE:
                if key in seen:
                    raise SendRejected("InvalidParameterValue", f"Duplicate header '{seen[key]}'")
                seen[key] = name
            for line in lines:
                if not line.isascii():
                    raise SendRejected("InvalidParameterValue", f"Non-ASCII characters in header '{name}'")
                if len(line) > MAX_LINE:
                    raise SendRejected("InvalidParameterValue", f"Header line longer than {MAX_LINE} characters: '{name}'")
        values = {name.lower(): b"".join(lines).split(b":", 1)[1].decode("ascii") for name, lines in reversed(fields)}
        if "from" not in values:
            raise SendRejected("InvalidParameterValue", "Missing required header 'From'.")
        from_addresses = self._addresses("From", values["from"])
        unverified = [a for a in from_addresses if not self.is_verified(a)]
        for header in ("sender", "return-path"):
            if header in values:
                unverified += [a for a in self._addresses(header, values[header]) if not self.is_verified(a)]
        if unverified:
            raise SendRejected(
                "MessageRejected",
                "Email address is not verified. The following identities failed the check in region "
                f"{self.region.upper()}: {', '.join(dict.fromkeys(unverified))}",
            )
        return from_addresses[0]

    def is_verified(self, address: str) -> bool:
        domain = address.rpartition("@")[2].lower().rstrip(".")
        return any(domain == v or domain.endswith("." + v) for v in self.verified)

    @staticmethod
    def _addresses(name: str, value: str) -> list[str]:
        pairs = email.utils.getaddresses([value.strip()])
        addresses = [a for _, a in pairs if a]
        if not addresses:
            raise SendRejected("InvalidParameterValue", f"Missing final '@domain' in header '{name}'")
        for address in addresses:
            local, at, domain = address.rpartition("@")
            if not at or not local or not domain:
                raise SendRejected("InvalidParameterValue", f"Missing final '@domain' in header '{name}'")
        return addresses

    def _relay(self, message: bytes, sender: str, destinations: Sequence[str]) -> None:
        assert self.relay is not None
        host, port = self.relay
        try:
            with smtplib.SMTP(host, port, timeout=60) as smtp:
                smtp.sendmail(sender, list(destinations), message)
        except (OSError, smtplib.SMTPException) as exc:
            raise RelayError(f"relay {host}:{port} refused the message: {exc}") from exc


def _header_fields(message: bytes) -> list[tuple[str, list[bytes]]]:
    """The header block as (name, physical lines); raises SES's errors for what it cannot read."""
    end = len(message)
    for separator in (b"\r\n\r\n", b"\n\n"):
        at = message.find(separator)
        if at != -1:
            end = min(end, at)
    block = message[:end]
    fields: list[tuple[str, list[bytes]]] = []
    for raw_line in block.split(b"\n"):
        line = raw_line[:-1] if raw_line.endswith(b"\r") else raw_line
        if not line:
            continue
        if line[:1] in (b" ", b"\t"):
            if not fields:
                raise SendRejected("InvalidParameterValue", "Illegal header: a continuation line comes first")
            fields[-1][1].append(line)
            continue
        name, colon, _ = line.partition(b":")
        if not colon:
            raise SendRejected("InvalidParameterValue", f"Illegal header '{line[:40].decode('ascii', 'replace')}'")
        if not name.strip():
            raise SendRejected("InvalidParameterValue", "Empty header names are illegal")
        fields.append((name.decode("ascii", "replace").strip(), [line]))
    return fields
