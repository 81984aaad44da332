"""Wiring: build the forwarder's adapters from the environment, once per container.

Clients are made when first used (:class:`sesame.aws.LazyClients`), so a cold start pays for
boto3's clients only as the first message needs them.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sesame.adapters.index import S3OutcomeIndex
from sesame.adapters.s3 import S3MessageStore
from sesame.adapters.ses import SesRawSender
from sesame.adapters.ssm import SsmAliasStore
from sesame.aws import ClientFactory, LazyClients, default_factory
from sesame.config import ForwarderConfig
from sesame.core.delivery import Deadline, Delivery, NoDeadline
from sesame.core.event import InboundMail
from sesame.core.forward import Forwarder
from sesame.core.outcome import MessageReport
from sesame.core.ports import Sender, SuppressionList



@dataclass
class ContextDeadline:
    """The invocation's deadline, from the Lambda context."""

    context: Any

    def remaining_seconds(self) -> float:
        return float(self.context.get_remaining_time_in_millis()) / 1000.0


@dataclass
class ForwarderRuntime:
    config: ForwarderConfig
    store: S3MessageStore
    sender: Sender
    aliases: Any  # has load() -> AliasConfig
    index: S3OutcomeIndex
    delivery: Delivery | None = None
    suppressions: SuppressionList | None = None
    reported_unchecked: int = 0  # suppression checks skipped, as far as metrics have told
    deadline: Deadline = field(default_factory=NoDeadline)

    def begin(self, context: Any) -> None:
        """Per invocation: the deadline the sends keep to, a new owner token for the ledger."""
        self.deadline = ContextDeadline(context) if hasattr(context, "get_remaining_time_in_millis") else NoDeadline()
        if self.delivery is not None:
            self.delivery.begin(self.deadline)

    def forward(self, mail: InboundMail, *, release: bool = False) -> MessageReport:
        """Forward one message and record its index entry (also for failed and incomplete
        outcomes, so what went out is on record before the invocation raises). ``release``:
        the operator released it from quarantine, so the verdicts are not applied again."""
        alias_config = self.aliases.load()
        settings = alias_config.apply(self.config.settings)
        forwarder = Forwarder(
            self.store, self.sender, settings, retention_days=self.config.retention_days, suppressions=self.suppressions
        )
        report = forwarder.handle(mail, alias_config.table, release=release)
        self.index.record(mail, report)
        return report


def build_runtime(
    env: Mapping[str, str] | None = None,
    *,
    clients: ClientFactory | None = None,
    sender: Sender | None = None,
    aliases: Any = None,
    log: Any = None,
) -> ForwarderRuntime:
    """The forwarder's runtime. ``clients`` makes a boto3 client for a service name (default:
    :func:`sesame.aws.default_factory`, Sesame's timeouts and retries); local mode and tests
    pass their own, pointed at their endpoint. ``sender`` replaces the SES transport only: the
    delivery protocol runs over it whenever a ledger table is configured."""
    config = ForwarderConfig.from_env(os.environ if env is None else env)
    lazy = LazyClients(clients or default_factory)
    transport = sender or SesRawSender(lazy.get("sesv2"), config.configuration_set)
    delivery: Delivery | None = None
    if config.idempotency_table:
        from sesame.adapters.ledger import DynamoLedger, S3Journal
        from sesame.adapters.send_errors import classify_send_error

        delivery = Delivery(
            transport,
            DynamoLedger(lazy.get("dynamodb"), config.idempotency_table),
            classify=classify_send_error,
            journal=S3Journal(lazy.get("s3"), config.bucket, config.journal_prefix),
            clock=time.time,
            sleep=time.sleep,
            log=log,
        )
    suppressions: SuppressionList | None = None
    if config.suppression_table:
        from sesame.adapters.suppression import DynamoSuppressionList

        suppressions = DynamoSuppressionList(lazy.get("dynamodb"), config.suppression_table, log=log)
    s3 = lazy.get("s3")
    return ForwarderRuntime(
        config=config,
        store=S3MessageStore(s3, config.bucket, config.message_prefix, config.quarantine_prefix),
        sender=delivery or transport,
        aliases=aliases or SsmAliasStore(lazy.get("ssm"), config.alias_path, config.alias_cache_seconds),
        index=S3OutcomeIndex(s3, config.bucket, config.index_prefix),
        delivery=delivery,
        suppressions=suppressions,
    )
