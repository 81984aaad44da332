"""Forwarding settings: one frozen object, variants made with :meth:`Settings.replace`."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

from sesame.core.addresses import InvalidAddress, normalize_address, split_address

Action = Literal["forward", "bounce", "drop", "quarantine"]
# "quarantine" (for a verdict): keep the message under quarantine/, forward nothing, until an
# operator releases it (`sesame redrive --from-quarantine`).
ACTIONS: tuple[str, ...] = ("forward", "bounce", "drop", "quarantine")

SES_MAX_RECIPIENTS = 50
# SES receiving stores messages of up to 40 MB. Whether "MB" is 10^6 or 2^20 bytes is not
# said, so the smaller reading is used throughout.
SES_MAX_MESSAGE_BYTES = 40_000_000
# SES v2 sends "40 MB per message (after base64 encoding)" (SES quotas page): base64 turns n
# bytes into 4 * ceil(n / 3), so 30,000,000 raw bytes is the most a raw send can carry. A
# message larger than that is not sent: its destinations get a notice (sesame.core.notice).
SES_MAX_SEND_BYTES = 30_000_000


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
    max_message_bytes: int = SES_MAX_SEND_BYTES
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
