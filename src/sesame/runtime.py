"""Wiring: build the forwarder's adapters from the environment, once per container."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sesame.adapters.s3 import S3MessageStore
from sesame.adapters.ses import SesRawSender
from sesame.adapters.ssm import SsmAliasStore
from sesame.config import ForwarderConfig
from sesame.core.event import InboundMail
from sesame.core.forward import Forwarder
from sesame.core.outcome import MessageReport
from sesame.core.ports import Sender


class AliasSource:
    """Anything with ``load() -> AliasConfig`` (the SSM store, or a file in local mode)."""

    def load(self):  # type: ignore[no-untyped-def]  # pragma: no cover - protocol
        raise NotImplementedError


@dataclass
class ForwarderRuntime:
    config: ForwarderConfig
    store: S3MessageStore
    sender: Sender
    aliases: Any  # has load() -> AliasConfig

    def forward(self, mail: InboundMail) -> MessageReport:
        alias_config = self.aliases.load()
        settings = alias_config.apply(self.config.settings)
        return Forwarder(self.store, self.sender, settings).handle(mail, alias_config.table)


def build_runtime(
    env: Mapping[str, str] | None = None,
    *,
    s3: Any = None,
    ssm: Any = None,
    sesv2: Any = None,
    sender: Sender | None = None,
    aliases: Any = None,
) -> ForwarderRuntime:
    """The forwarder's runtime; clients are built only for what was not injected."""
    config = ForwarderConfig.from_env(os.environ if env is None else env)
    if s3 is None or (ssm is None and aliases is None) or (sesv2 is None and sender is None):
        import boto3

        s3 = s3 or boto3.client("s3")
        ssm = ssm or (boto3.client("ssm") if aliases is None else None)
        sesv2 = sesv2 or (boto3.client("sesv2") if sender is None else None)
    return ForwarderRuntime(
        config=config,
        store=S3MessageStore(s3, config.bucket, config.message_prefix),
        sender=sender or SesRawSender(sesv2),
        aliases=aliases or SsmAliasStore(ssm, config.alias_path, config.alias_cache_seconds),
    )
