"""Forwarding settings: one frozen object, variants made with :meth:`Settings.replace`."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

from sesame.core.addresses import InvalidAddress, normalize_address, split_address

Action = Literal["forward", "bounce", "drop"]
ACTIONS: tuple[str, ...] = ("forward", "bounce", "drop")

SES_MAX_RECIPIENTS = 50
# SES v2 takes 40 MB a message, attachments counted base64-encoded as they are in the MIME
# message. Whether "MB" is 10^6 or 2^20 bytes is not said, so the smaller one is used: a
# message above it is refused (bounced) up front instead of failing at SES.
SES_MAX_MESSAGE_BYTES = 40_000_000


class SettingsError(ValueError):
    """A setting has a value that cannot work."""


@dataclass(frozen=True)
class VerdictPolicy:
    """What to do with a recipient when SES's scans fail. Anything else forwards."""

    virus_fail: Action = "drop"
    spam_fail: Action = "drop"
    # A DMARC failure means the From is forged: a bounce would go to a victim (backscatter).
    # "bounce" stays selectable, and even then a bounce goes only to an authenticated sender.
    dmarc_reject: Action = "drop"

    def __post_init__(self) -> None:
        for name in ("virus_fail", "spam_fail", "dmarc_reject"):
            if getattr(self, name) not in ACTIONS:
                raise SettingsError(f"verdict policy {name} must be one of {', '.join(ACTIONS)}")


@dataclass(frozen=True)
class Settings:
    from_template: str = "{alias}"
    unknown: Literal["bounce", "drop"] = "bounce"
    verdicts: VerdictPolicy = VerdictPolicy()
    max_received: int = 30
    max_message_bytes: int = SES_MAX_MESSAGE_BYTES
    batch_size: int = SES_MAX_RECIPIENTS
    bounce_sender_local: str = "mailer-daemon"

    def __post_init__(self) -> None:
        if self.unknown not in ("bounce", "drop"):
            raise SettingsError(f"unknown must be 'bounce' or 'drop', not {self.unknown!r}")
        if not 1 <= self.batch_size <= SES_MAX_RECIPIENTS:
            raise SettingsError(f"batch_size must be between 1 and {SES_MAX_RECIPIENTS}")
        if self.max_received < 1 or self.max_message_bytes < 1:
            raise SettingsError("max_received and max_message_bytes must be positive")
        self.from_address("probe@example.com")  # validates the template

    def replace(self, **changes: object) -> Settings:
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    def from_address(self, alias: str) -> str:
        """The address placed in the rewritten From for mail sent to ``alias``."""
        local, domain = split_address(alias)
        try:
            address = self.from_template.format(alias=alias, local=local, domain=domain)
        except (KeyError, IndexError, ValueError) as exc:
            raise SettingsError(
                f"from = {self.from_template!r}: only {{alias}}, {{local}} and {{domain}} may be used"
            ) from exc
        try:
            normalize_address(address)
        except InvalidAddress as exc:
            raise SettingsError(f"from = {self.from_template!r} gives {address!r}: {exc}") from None
        if not address.isascii():
            raise SettingsError(f"from = {self.from_template!r} must give an ASCII address")
        return address
