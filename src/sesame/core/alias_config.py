"""Alias configuration: the ``aliases.toml`` format and its SSM Parameter Store layout.

Both produce the same :class:`AliasConfig`, so ``sesame preview`` and local mode decide
exactly as the deployed forwarder does.

SSM layout under a path prefix ``P`` (SSM names allow only ``a-zA-Z0-9_.-/``)::

    P/aliases/<domain>/<local>   an alias; <local> encoded as below, "_" alone = catch-all
    P/domains/<domain>           a domain alias; the value is the target domain
    P/settings/<name>            a setting from [settings] ("from", "unknown")
    P/senders/block              the global sender block list, a JSON list of patterns
    P/state/...                  operator state (the rule set to roll back to), not aliases

An alias value is a comma-separated list of destinations, or a JSON object
``{"to": [...], "enabled": false, "expires": "2027-01-31", "block": [...], "allow": [...]}``. In ``<local>`` every byte
outside ``a-z0-9.-`` is written ``_xx`` (two lower-case hex digits of its UTF-8 byte),
so ``john+news`` becomes ``john_2bnews`` and ``first_last`` becomes ``first_5flast``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sesame.core.aliases import Alias, AliasConfigError, AliasTable, alias_key
from sesame.core.addresses import split_address
from sesame.core.documents import loads_json, loads_toml
from sesame.core.settings import Settings, SettingsError

SETTING_KEYS = {"from": "from_template", "unknown": "unknown"}
# Under the alias path but not alias data: `sesame activate` keeps its state here.
STATE_SEGMENT = "state"
CATCH_ALL_SEGMENT = "_"
_PLAIN = re.compile(r"[a-z0-9.\-]")
_ESCAPE = re.compile(r"_([0-9a-f]{2})")


@dataclass(frozen=True)
class AliasConfig:
    table: AliasTable
    settings: Mapping[str, str] = field(default_factory=dict)

    def apply_to_defaults(self) -> Settings:
        return self.apply(Settings())

    def apply(self, base: Settings) -> Settings:
        """``base`` with this configuration's [settings] laid over it."""
        changes = {SETTING_KEYS[k]: v for k, v in self.settings.items()}
        try:
            return base.replace(**changes) if changes else base
        except SettingsError as exc:
            raise AliasConfigError(f"[settings]: {exc}") from None


# --- aliases.toml ---------------------------------------------------------------------


def load_aliases_file(path: str | Path) -> AliasConfig:
    """Read an ``aliases.toml``; raises :class:`AliasConfigError` with the file named."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise AliasConfigError(f"{path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise AliasConfigError(f"{path}: not UTF-8 text") from None
    try:
        return parse_aliases_toml(text)
    except AliasConfigError as exc:
        raise AliasConfigError(f"{path}: {exc}") from None


def parse_aliases_toml(text: str) -> AliasConfig:
    try:
        data = loads_toml(text)
    except ValueError as exc:  # tomllib.TOMLDecodeError, or nested too deeply
        raise AliasConfigError(f"invalid TOML: {exc}") from None
    unknown_sections = set(data) - {"settings", "domains", "aliases", "senders"}
    if unknown_sections:
        raise AliasConfigError(f"unknown section(s): {', '.join(sorted(unknown_sections))}")
    settings = _table(data, "settings")
    bad = set(settings) - set(SETTING_KEYS)
    if bad:
        raise AliasConfigError(f"[settings]: unknown key(s): {', '.join(sorted(bad))}; known: from, unknown")
    for key, value in settings.items():
        if not isinstance(value, str):
            raise AliasConfigError(f"[settings] {key} must be a string")
    domains = _table(data, "domains")
    for source, target in domains.items():
        if not isinstance(target, str):
            raise AliasConfigError(f"[domains] {source!r} must map to a domain name string")
    senders = _table(data, "senders")
    extra = set(senders) - {"block"}
    if extra:
        raise AliasConfigError(f"[senders]: unknown key(s): {', '.join(sorted(extra))}; known: block")
    blocked = _patterns("[senders]", "block", senders.get("block", []))
    aliases = [_alias_from_value(address, value) for address, value in _table(data, "aliases").items()]
    config = AliasConfig(AliasTable.build(aliases, domains, blocked), dict(settings))
    config.apply(Settings())  # validates [settings]
    return config


def _table(data: dict[str, Any], name: str) -> dict[str, Any]:
    value = data.get(name, {})
    if not isinstance(value, dict):
        raise AliasConfigError(f"[{name}] must be a table")
    return value


def _alias_from_value(address: str, value: Any) -> Alias:
    if isinstance(value, str):
        value = [value]
    if isinstance(value, list):
        return Alias(address, _destinations(address, value))
    if not isinstance(value, dict):
        raise AliasConfigError(f"alias {address!r}: expected a list of addresses or a table with 'to'")
    extra = set(value) - {"to", "enabled", "expires", "block", "allow"}
    if extra:
        raise AliasConfigError(f"alias {address!r}: unknown key(s) {', '.join(sorted(extra))}")
    to = value.get("to")
    to = [to] if isinstance(to, str) else to
    if not isinstance(to, list):
        raise AliasConfigError(f"alias {address!r}: 'to' must be a list of addresses")
    enabled = value.get("enabled", True)
    if not isinstance(enabled, bool):
        raise AliasConfigError(f"alias {address!r}: 'enabled' must be true or false")
    where = f"alias {address!r}"
    return Alias(
        address,
        _destinations(address, to),
        enabled,
        _expiry(address, value.get("expires")),
        _patterns(where, "block", value.get("block", [])),
        _patterns(where, "allow", value.get("allow", [])),
    )


def _patterns(where: str, key: str, value: Any) -> tuple[str, ...]:
    """A list of sender patterns (``user@domain``, ``@domain``, ``*.domain``), as strings."""
    value = [value] if isinstance(value, str) else value
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise AliasConfigError(f"{where}: {key!r} must be a list of senders like \"a@x.example\", \"@x.example\" or \"*.x.example\"")
    return tuple(value)


def _destinations(address: str, values: list[Any]) -> tuple[str, ...]:
    if not all(isinstance(v, str) for v in values):
        raise AliasConfigError(f"alias {address!r}: destinations must be strings")
    return tuple(values)


def _expiry(address: str, value: Any) -> date | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise AliasConfigError(f"alias {address!r}: 'expires' must be a date like 2027-01-31")


def dump_aliases_toml(config: AliasConfig) -> str:
    """``config`` written back as an ``aliases.toml`` (what ``sesame aliases export`` prints)."""
    lines: list[str] = []
    if config.settings:
        lines.append("[settings]")
        lines += [f"{key} = {json.dumps(value)}" for key, value in sorted(config.settings.items())]
        lines.append("")
    if config.table.domain_aliases:
        lines.append("[domains]")
        lines += [f"{json.dumps(s)} = {json.dumps(t)}" for s, t in sorted(config.table.domain_aliases.items())]
        lines.append("")
    if config.table.blocked:
        lines += ["[senders]", f"block = {json.dumps(list(config.table.blocked))}", ""]
    lines.append("[aliases]")
    for key, alias in sorted(config.table.aliases.items()):
        to = json.dumps(list(alias.destinations))
        if _plain(alias):
            lines.append(f"{json.dumps(key)} = {to}")
        else:
            extra = "" if alias.enabled else ", enabled = false"
            extra += f', expires = "{alias.expires.isoformat()}"' if alias.expires else ""
            extra += f", block = {json.dumps(list(alias.block))}" if alias.block else ""
            extra += f", allow = {json.dumps(list(alias.allow))}" if alias.allow else ""
            lines.append(f"{json.dumps(key)} = {{ to = {to}{extra} }}")
    return "\n".join(lines) + "\n"


# --- SSM Parameter Store layout --------------------------------------------------------


def encode_local(local: str) -> str:
    if local == "":
        return CATCH_ALL_SEGMENT
    return "".join(ch if _PLAIN.fullmatch(ch) else "".join(f"_{b:02x}" for b in ch.encode()) for ch in local)


def decode_local(segment: str) -> str:
    if segment == CATCH_ALL_SEGMENT:
        return ""
    out, i = bytearray(), 0
    while i < len(segment):
        if segment[i] == "_":
            escape = _ESCAPE.match(segment, i)
            if escape is None:
                raise AliasConfigError(f"bad alias name segment {segment!r}")
            out.append(int(escape.group(1), 16))
            i = escape.end()
        else:
            out += segment[i].encode()
            i += 1
    try:
        return out.decode("utf-8")
    except UnicodeDecodeError:
        raise AliasConfigError(f"bad alias name segment {segment!r}") from None


def parameter_name(prefix: str, key: str) -> str:
    """The SSM name for an alias key (``john@example.com`` or ``@example.com``)."""
    local, domain = split_address(key)
    return f"{prefix.rstrip('/')}/aliases/{domain}/{encode_local(local)}"


def to_parameters(config: AliasConfig, prefix: str) -> dict[str, str]:
    """The parameters that represent ``config`` under ``prefix``."""
    base = prefix.rstrip("/")
    params: dict[str, str] = {}
    for key, alias in config.table.aliases.items():
        if _plain(alias):
            value = ",".join(alias.destinations)
        else:
            body: dict[str, Any] = {"to": list(alias.destinations), "enabled": alias.enabled}
            if alias.expires is not None:
                body["expires"] = alias.expires.isoformat()
            if alias.block:
                body["block"] = list(alias.block)
            if alias.allow:
                body["allow"] = list(alias.allow)
            value = json.dumps(body, separators=(",", ":"))
        params[parameter_name(base, key)] = value
    if config.table.blocked:
        params[f"{base}/senders/block"] = json.dumps(list(config.table.blocked), separators=(",", ":"))
    for source, target in config.table.domain_aliases.items():
        params[f"{base}/domains/{source}"] = target
    for name, value in config.settings.items():
        params[f"{base}/settings/{name}"] = value
    return params


def from_parameters(params: Mapping[str, str]) -> AliasConfig:
    """Rebuild the configuration from parameters named relative to the prefix."""
    aliases: list[Alias] = []
    domains: dict[str, str] = {}
    settings: dict[str, str] = {}
    blocked: tuple[str, ...] = ()
    for name, value in sorted(params.items()):
        parts = name.strip("/").split("/")
        if parts[0] == STATE_SEGMENT:
            continue
        if len(parts) == 3 and parts[0] == "aliases":
            address = f"{decode_local(parts[2])}@{parts[1]}"
            aliases.append(_alias_from_parameter(address, value))
        elif len(parts) == 2 and parts[0] == "domains":
            domains[parts[1]] = value.strip()
        elif len(parts) == 2 and parts[0] == "settings" and parts[1] in SETTING_KEYS:
            settings[parts[1]] = value.strip()
        elif parts == ["senders", "block"]:
            try:
                blocked = _patterns("senders/block", "block", loads_json(value))
            except ValueError as exc:
                raise AliasConfigError(f"senders/block: invalid JSON value: {exc}") from None
        else:
            raise AliasConfigError(f"unexpected parameter {name!r} under the alias path")
    config = AliasConfig(AliasTable.build(aliases, domains, blocked), settings)
    config.apply(Settings())
    return config


def _plain(alias: Alias) -> bool:
    """Written as a bare list of destinations (nothing else set)."""
    return alias.enabled and alias.expires is None and not alias.block and not alias.allow


def _alias_from_parameter(address: str, value: str) -> Alias:
    text = value.strip()
    if text.startswith("{"):
        try:
            data = loads_json(text)
        except ValueError as exc:
            raise AliasConfigError(f"alias {address!r}: invalid JSON value: {exc}") from None
        return _alias_from_value(address, data)
    return Alias(address, tuple(d.strip() for d in text.split(",") if d.strip()))


__all__ = [
    "STATE_SEGMENT",
    "AliasConfig",
    "alias_key",
    "decode_local",
    "encode_local",
    "from_parameters",
    "load_aliases_file",
    "parameter_name",
    "parse_aliases_toml",
    "to_parameters",
]
