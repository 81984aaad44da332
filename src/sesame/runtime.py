"""Wiring: build the forwarder's adapters from the environment, once per container."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sesame.adapters.index import S3OutcomeIndex
from sesame.adapters.s3 import S3MessageStore
from sesame.adapters.ses import SesRawSender
from sesame.adapters.ssm import SsmAliasStore
from sesame.aws import ClientFactory, default_factory
from sesame.config import ForwarderConfig
from sesame.core.event import InboundMail
from sesame.core.forward import Forwarder
from sesame.core.outcome import MessageReport
from sesame.core.ports import Sender


@dataclass
class ForwarderRuntime:
    config: ForwarderConfig
    store: S3MessageStore
    sender: Sender
    aliases: Any  # has load() -> AliasConfig
    index: S3OutcomeIndex

    def begin(self, context: Any) -> None:
        """Per-invocation set-up: idempotent sends track the invocation's remaining time."""
        register = getattr(self.sender, "register_context", None)
        if register is not None:
            register(context)

    def forward(self, mail: InboundMail) -> MessageReport:
        """Forward one message and record its index entry (also for failed outcomes)."""
        alias_config = self.aliases.load()
        settings = alias_config.apply(self.config.settings)
        report = Forwarder(self.store, self.sender, settings).handle(mail, alias_config.table)
        self.index.record(mail, report)
        return report


def build_runtime(
    env: Mapping[str, str] | None = None,
    *,
    clients: ClientFactory | None = None,
    sender: Sender | None = None,
    aliases: Any = None,
) -> ForwarderRuntime:
    """The forwarder's runtime. ``clients`` makes a boto3 client for a service name (default:
    :func:`sesame.aws.default_factory`, Sesame's timeouts and retries); local mode and tests
    pass their own, pointed at their endpoint."""
    config = ForwarderConfig.from_env(os.environ if env is None else env)
    clients = clients or default_factory
    s3 = clients("s3")
    sender = sender or SesRawSender(clients("sesv2"))
    if config.idempotency_table:
        from sesame.adapters.idempotency import IdempotentSender

        sender = IdempotentSender(sender, config.idempotency_table, clients("dynamodb"))
    return ForwarderRuntime(
        config=config,
        store=S3MessageStore(s3, config.bucket, config.message_prefix),
        sender=sender,
        aliases=aliases or SsmAliasStore(clients("ssm"), config.alias_path, config.alias_cache_seconds),
        index=S3OutcomeIndex(s3, config.bucket, config.index_prefix),
    )
