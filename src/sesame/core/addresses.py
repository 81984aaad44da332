"""Email address helpers shared by alias resolution and policy (no I/O)."""

from __future__ import annotations

import re

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

