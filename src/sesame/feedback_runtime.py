"""Wiring for the feedback function: the suppression table, the feedback records, the policy."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sesame import config as env_names
from sesame.adapters.suppression import DynamoSuppressionList
from sesame.aws import ClientFactory, default_factory
from sesame.config import ConfigError, env_int
from sesame.core.feedback import Applied, FeedbackEvent, FeedbackPolicy, apply, feedback_key, feedback_rows, parse_feedback, to_json_lines


@dataclass
class FeedbackRuntime:
    s3: Any
    bucket: str
    prefix: str
    store: DynamoSuppressionList
    policy: FeedbackPolicy

    def handle(self, body: str) -> Applied:
        """Act on one event and record it; raises (the record is retried) if a step fails.
        The suppression writes come first: the record then says what they did, and a retry
        after a failed record write finds the same effects (each write is idempotent)."""
        event = parse_feedback(body)
        applied = apply(event, self.store, self.policy)
        self._record(event, applied)
        return applied

    def _record(self, event: FeedbackEvent, applied: Applied) -> None:
        self.s3.put_object(
            Bucket=self.bucket,
            Key=feedback_key(self.prefix, event),
            Body=to_json_lines(feedback_rows(applied)),
            ContentType="application/json",
        )


def build_feedback_runtime(env: Mapping[str, str] | None = None, *, clients: ClientFactory | None = None) -> FeedbackRuntime:
    env = os.environ if env is None else env
    missing = [name for name in (env_names.BUCKET, env_names.SUPPRESSION_TABLE) if not env.get(name, "").strip()]
    if missing:
        raise ConfigError(f"{', '.join(missing)} not set for the feedback function")
    policy = FeedbackPolicy(
        hard_bounce_days=env_int(env, env_names.HARD_BOUNCE_DAYS, FeedbackPolicy.hard_bounce_days),
        soft_bounce_limit=env_int(env, env_names.SOFT_BOUNCE_LIMIT, FeedbackPolicy.soft_bounce_limit),
    )
    if policy.hard_bounce_days < 1 or policy.soft_bounce_limit < 1:
        raise ConfigError(f"{env_names.HARD_BOUNCE_DAYS} and {env_names.SOFT_BOUNCE_LIMIT} must be at least 1")
    clients = clients or default_factory
    return FeedbackRuntime(
        s3=clients("s3"),
        bucket=env[env_names.BUCKET],
        prefix=env.get(env_names.FEEDBACK_PREFIX) or env_names.DEFAULT_FEEDBACK_PREFIX,
        store=DynamoSuppressionList(clients("dynamodb"), env[env_names.SUPPRESSION_TABLE]),
        policy=policy,
    )
