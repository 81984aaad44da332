"""Sends that happen once: Powertools idempotency over DynamoDB, keyed per (SES message id,
destination batch), so an async retry after a partial success sends nothing twice.

The key is the send key alone, never the message bytes; the stored result is the SES message
id, returned again on a replay. Records outlive Lambda's retry window and a dead-letter redrive.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sesame.core.ports import Outgoing, Sender

# Dead-letter queue retention (14 days) plus margin: a redrive after a fix must still see
# which batches already went out.
DEFAULT_TTL_SECONDS = 16 * 24 * 3600


class IdempotentSender:
    def __init__(self, inner: Sender, table_name: str, client: Any, ttl_seconds: int = DEFAULT_TTL_SECONDS) -> None:
        from aws_lambda_powertools.utilities.idempotency import (
            DynamoDBPersistenceLayer,
            IdempotencyConfig,
            idempotent_function,
        )

        self._inner = inner
        self._config = IdempotencyConfig(
            event_key_jmespath="key", raise_on_no_idempotency_key=True, expires_after_seconds=ttl_seconds
        )
        persistence = DynamoDBPersistenceLayer(table_name=table_name, boto3_client=client)
        self._send_once = idempotent_function(
            data_keyword_argument="request", persistence_store=persistence, config=self._config, key_prefix="sesame.send"
        )(self._send)

    def register_context(self, context: Any) -> None:
        """Let an interrupted send expire with the invocation instead of blocking retries."""
        self._config.register_lambda_context(context)

    def send_raw(self, message: Outgoing, destinations: Sequence[str], *, key: str) -> str:
        return str(self._send_once(message, request={"key": key, "destinations": list(destinations)}))

    def _send(self, message: Outgoing, *, request: dict[str, Any]) -> str:
        return self._inner.send_raw(message, request["destinations"], key=request["key"])
