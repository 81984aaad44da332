"""The alias table and how a recipient resolves to destinations.

Resolution order for ``local+tag@domain``: domain aliases map the domain first, then the
exact address, then the address with ``+tag`` removed, then the catch-all ``@domain``.
The first rule that matches decides: a disabled or expired rule makes the recipient
unknown rather than falling through to a catch-all, so disabling an alias really stops it.
Destinations that are addresses of ours are expanded recursively (groups), with cycle
detection and de-duplication.

Sender patterns (global ``block``, and per alias ``block`` and ``allow``) are
``user@domain`` (that address), ``@domain`` (any address at that domain) or ``*.domain``
(any address at a subdomain of it), compared without regard to case.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from types import MappingProxyType

from sesame.core.addresses import InvalidAddress, normalize_address, normalize_domain, split_address


class AliasConfigError(ValueError):
    """The alias configuration cannot be used as written."""


@dataclass(frozen=True)
class Alias:
    """One rule: an address (or ``@domain`` catch-all) and where its mail goes."""

    address: str
    destinations: tuple[str, ...]
    enabled: bool = True
    expires: date | None = None
    block: tuple[str, ...] = ()  # senders whose mail to this alias is dropped
    allow: tuple[str, ...] = ()  # when set, only these (authenticated) senders reach it

    def expired_on(self, today: date) -> bool:
        """An alias is usable through its expiry date and unusable the day after."""
        return self.expires is not None and today > self.expires


def sender_pattern(pattern: str) -> str:
    """A normalized sender pattern: ``user@domain``, ``@domain`` or ``*.domain``."""
    text = pattern.strip().lower()
    if text.startswith("*."):
        return "*." + normalize_domain(text[2:])
    if text.startswith("@"):
        return "@" + normalize_domain(text)
    return normalize_address(text)


def sender_matches(address: str, patterns: Iterable[str]) -> str | None:
    """The first pattern ``address`` matches, or None."""
    candidate = address.strip().lower()
    domain = candidate.rpartition("@")[2]
    for pattern in patterns:
        if pattern.startswith("*."):
            if domain.endswith(pattern[1:]) and len(domain) > len(pattern) - 1:
                return pattern
        elif pattern.startswith("@"):
            if domain == pattern[1:]:
                return pattern
        elif candidate == pattern:
            return pattern
    return None


def alias_key(address: str) -> str:
    """The normalized table key for an address or a ``@domain`` catch-all."""
    if address.strip().startswith("@"):
        return "@" + normalize_domain(address)
    return normalize_address(address)


@dataclass(frozen=True)
class AliasTable:
    aliases: Mapping[str, Alias] = field(default_factory=dict)
    domain_aliases: Mapping[str, str] = field(default_factory=dict)
    blocked: tuple[str, ...] = ()  # senders blocked for every alias

    @classmethod
    def build(
        cls, aliases: Iterable[Alias], domain_aliases: Mapping[str, str] | None = None, blocked: Iterable[str] = ()
    ) -> AliasTable:
        """Validate and index the rules; raises :class:`AliasConfigError` on bad input."""
        table: dict[str, Alias] = {}
        for alias in aliases:
            try:
                key = alias_key(alias.address)
                destinations = tuple(_normalize_destination(d) for d in alias.destinations)
                block = tuple(dict.fromkeys(sender_pattern(p) for p in alias.block))
                allow = tuple(dict.fromkeys(sender_pattern(p) for p in alias.allow))
            except InvalidAddress as exc:
                raise AliasConfigError(f"alias {alias.address!r}: {exc}") from None
            if key in table:
                raise AliasConfigError(f"alias {key!r} is defined twice")
            if not destinations:
                raise AliasConfigError(f"alias {key!r} has no destinations")
            table[key] = Alias(key, destinations, alias.enabled, alias.expires, block, allow)
        try:
            global_block = tuple(dict.fromkeys(sender_pattern(p) for p in blocked))
        except InvalidAddress as exc:
            raise AliasConfigError(f"[senders] block: {exc}") from None
        domains: dict[str, str] = {}
        for source, target in (domain_aliases or {}).items():
            try:
                domains[normalize_domain(source)] = normalize_domain(target)
            except InvalidAddress as exc:
                raise AliasConfigError(f"domain alias {source!r}: {exc}") from None
        built = cls(MappingProxyType(table), MappingProxyType(domains), global_block)
        for source in domains:
            built.canonical_domain(source)  # raises on a cycle
        return built

    @property
    def domains(self) -> frozenset[str]:
        """Every domain this table receives mail for."""
        names = {split_address(key)[1] for key in self.aliases}
        names.update(self.domain_aliases)
        names.update(self.domain_aliases.values())
        return frozenset(names)

    def canonical_domain(self, domain: str) -> str:
        seen = [domain]
        while domain in self.domain_aliases:
            domain = self.domain_aliases[domain]
            if domain in seen:
                raise AliasConfigError("domain aliases form a cycle: " + " -> ".join([*seen, domain]))
            seen.append(domain)
        return domain

    def resolve(self, recipient: str, today: date) -> Resolution:
        """Where mail for ``recipient`` goes; never raises for an unknown or bad address."""
        try:
            address = normalize_address(recipient)
        except InvalidAddress:
            return Resolution(recipient, "invalid-recipient", None, ())
        rule = self._match(address)
        if rule is None:
            return Resolution(address, "unknown-recipient", None, ())
        if not rule.enabled:
            return Resolution(address, "alias-disabled", rule.address, ())
        if rule.expired_on(today):
            return Resolution(address, "alias-expired", rule.address, ())
        warnings: list[str] = []
        destinations = self._expand(rule, today, [rule.address], warnings)
        unique = tuple(_dedupe(destinations))
        reason = "alias" if unique else "no-destinations"
        return Resolution(address, reason, rule.address, unique, tuple(warnings), self.blocked + rule.block, rule.allow)

    def _match(self, address: str) -> Alias | None:
        local, domain = split_address(address)
        domain = self.canonical_domain(domain)
        candidates = [f"{local}@{domain}"]
        if "+" in local:
            candidates.append(f"{local.split('+', 1)[0]}@{domain}")
        candidates.append(f"@{domain}")
        return next((self.aliases[c] for c in candidates if c in self.aliases), None)

    def _expand(self, rule: Alias, today: date, stack: list[str], warnings: list[str]) -> list[str]:
        result: list[str] = []
        for destination in rule.destinations:
            domain = self.canonical_domain(split_address(destination)[1])
            if domain not in self.domains:
                result.append(destination)
                continue
            member = self._match(destination.lower())
            if member is None:
                warnings.append(f"{destination}: an address of ours with no alias, skipped")
            elif member.address in stack:
                warnings.append(f"{destination}: alias cycle {' -> '.join([*stack, member.address])}, skipped")
            elif not member.enabled or member.expired_on(today):
                warnings.append(f"{destination}: alias {member.address} is disabled or expired, skipped")
            else:
                result.extend(self._expand(member, today, [*stack, member.address], warnings))
        return result


@dataclass(frozen=True)
class Resolution:
    """The outcome of resolving one recipient."""

    recipient: str
    reason: str
    rule: str | None
    destinations: tuple[str, ...]
    warnings: tuple[str, ...] = ()
    block: tuple[str, ...] = ()  # the table's and the rule's blocked senders
    allow: tuple[str, ...] = ()  # the rule's allowed senders (empty: everyone)

    @property
    def found(self) -> bool:
        return bool(self.destinations)


def _normalize_destination(destination: str) -> str:
    """Destinations keep their local part's case (some hosts care) with a lower-cased domain."""
    normalize_address(destination)  # validates
    local, domain = split_address(destination.strip().strip("<>").strip())
    return f"{local}@{domain.lower()}"


def _dedupe(addresses: Iterable[str]) -> list[str]:
    seen: set[str] = set()
    unique = []
    for address in addresses:
        if address.lower() not in seen:
            seen.add(address.lower())
            unique.append(address)
    return unique
