"""The checks SES applies to a message it is asked to send, as pure functions.

Each refusal is an :class:`SesError` with the SES v2 error code and HTTP status of the
botocore ``sesv2`` model (``MessageRejected`` 400, ``BadRequestException`` 400, ...). The
message texts are those SES gives (v1 ``SendRawEmail`` answers the header problems as
``InvalidParameterValue`` with these texts; the v2 model has no such code, its input errors
are ``BadRequestException``): "Duplicate header 'Message-ID'.", "Empty header names are
illegal.", "Illegal header ...", "Missing final '@domain'", "Email address is not verified.
The following identities failed the check in region US-EAST-1: ...". Sources: forwarders'
issue trackers (arithmetric/aws-lambda-ses-forwarder #11, #52, #58; aws/aws-sdk-js #4121).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sesame.core.rewrite import MAX_LINE, SINGLE_INSTANCE
from sesame.local.receiving.stored import read_addresses

# "40 MB per message (after base64 encoding)": SES quotas page, "Message size" (SES v2 API).
# Whether an MB is 10^6 or 2^20 bytes is not said; the smaller, so a message the stand-in
# passes is one SES passes. About 30,000,000 bytes of raw message.
MAX_BASE64_BYTES = 40_000_000
MAX_DESTINATIONS = 50  # SES v2 SendEmail: "up to 50 recipients" (Destination, API reference)


@dataclass(frozen=True)
class SesError(Exception):
    """An SES v2 error response: code, HTTP status and message."""

    code: str
    message: str
    status: int = 400

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


def message_rejected(text: str) -> SesError:
    return SesError("MessageRejected", text, 400)


def bad_request(text: str) -> SesError:
    return SesError("BadRequestException", text, 400)


@dataclass(frozen=True)
class Identities:
    """The verified identities of the emulated account: whole domains (and their subdomains)."""

    domains: tuple[str, ...]
    region: str = "us-east-1"

    @classmethod
    def of(cls, domains: Iterable[str], region: str = "us-east-1") -> Identities:
        return cls(tuple(sorted({d.strip().lower().rstrip(".") for d in domains if d.strip()})), region)

    def verified(self, address: str) -> bool:
        domain = address.rpartition("@")[2].lower().rstrip(".")
        return any(domain == v or domain.endswith("." + v) for v in self.domains)

    def require(self, addresses: Sequence[str]) -> None:
        unverified = [a for a in dict.fromkeys(addresses) if not self.verified(a)]
        if unverified:
            raise message_rejected(
                "Email address is not verified. The following identities failed the check in region "
                f"{self.region.upper()}: {', '.join(unverified)}"
            )


def check_destinations(count: int) -> None:
    if count < 1:
        raise bad_request("Missing final destination: at least one of ToAddresses, CcAddresses, BccAddresses")
    if count > MAX_DESTINATIONS:
        raise message_rejected(f"Recipient count exceeds {MAX_DESTINATIONS}.")


def check_size(base64_length: int) -> None:
    if base64_length > MAX_BASE64_BYTES:
        raise message_rejected(f"Message length is more than {MAX_BASE64_BYTES} bytes long (after base64 encoding).")


def check_raw_message(message: bytes, identities: Identities) -> str:
    """Raise :class:`SesError` as SES would for ``message``; return its From address."""
    fields = header_fields(message)
    seen: dict[str, str] = {}
    for name, lines in fields:
        key = name.lower()
        if key in SINGLE_INSTANCE:
            if key in seen:
                raise bad_request(f"Duplicate header '{seen[key]}'.")
            seen[key] = name
        for line in lines:
            if not line.isascii():
                raise bad_request(f"Non-ASCII characters in header '{name}'.")
            if len(line) > MAX_LINE:
                raise bad_request(f"Header line longer than {MAX_LINE} characters: '{name}'.")
    values = {name.lower(): b"".join(lines).split(b":", 1)[1].decode("ascii") for name, lines in reversed(fields)}
    if "from" not in values:
        raise bad_request("Missing required header 'From'.")
    from_addresses = addresses("From", values["from"])
    checked = list(from_addresses)
    for header in ("sender", "return-path"):
        if header in values:
            checked += addresses(header, values[header])
    identities.require(checked)
    return from_addresses[0]


def addresses(name: str, value: str) -> list[str]:
    pairs = read_addresses([value.strip()])  # bounded: the stdlib's parser recurses per comment
    found = [a for _, a in pairs if a]
    if not found:
        raise bad_request(f"Missing final '@domain' in header '{name}'.")
    for address in found:
        local, at, domain = address.rpartition("@")
        if not at or not local or not domain:
            raise bad_request(f"Missing final '@domain' in header '{name}'.")
    return found


def header_fields(message: bytes) -> list[tuple[str, list[bytes]]]:
    """The header block as (name, physical lines); raises SES's errors for what it cannot read."""
    end = len(message)
    for separator in (b"\r\n\r\n", b"\n\n"):
        at = message.find(separator)
        if at != -1:
            end = min(end, at)
    fields: list[tuple[str, list[bytes]]] = []
    for raw_line in message[:end].split(b"\n"):
        line = raw_line[:-1] if raw_line.endswith(b"\r") else raw_line
        if not line:
            continue
        if line[:1] in (b" ", b"\t"):
            if not fields:
                raise bad_request("Illegal header: a continuation line comes first.")
            fields[-1][1].append(line)
            continue
        name, colon, _ = line.partition(b":")
        if not colon:
            raise bad_request(f"Illegal header '{line[:40].decode('ascii', 'replace')}'.")
        if not name.strip():
            raise bad_request("Empty header names are illegal.")
        fields.append((name.decode("ascii", "replace").strip(), [line]))
    return fields
