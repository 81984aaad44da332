"""Environment variable names, in one place. ``template.yaml`` is the only source of their
values in AWS; local mode and tests set them the same way."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sesame.core.settings import Settings, SettingsError, VerdictPolicy

BUCKET = "SESAME_BUCKET"
MESSAGE_PREFIX = "SESAME_MESSAGE_PREFIX"
INDEX_PREFIX = "SESAME_INDEX_PREFIX"
ERROR_PREFIX = "SESAME_ERROR_PREFIX"
ALIAS_PATH = "SESAME_ALIAS_PATH"
ALIAS_CACHE_SECONDS = "SESAME_ALIAS_CACHE_SECONDS"
FROM_TEMPLATE = "SESAME_FROM"
UNKNOWN_RECIPIENTS = "SESAME_UNKNOWN_RECIPIENTS"
VIRUS_FAIL = "SESAME_VIRUS_FAIL"
SPAM_FAIL = "SESAME_SPAM_FAIL"
DMARC_REJECT = "SESAME_DMARC_REJECT"
MAX_RECEIVED = "SESAME_MAX_RECEIVED"
IDEMPOTENCY_TABLE = "SESAME_IDEMPOTENCY_TABLE"
JOURNAL_PREFIX = "SESAME_JOURNAL_PREFIX"
QUARANTINE_PREFIX = "SESAME_QUARANTINE_PREFIX"
RETENTION_DAYS = "SESAME_RETENTION_DAYS"
CONFIGURATION_SET = "SESAME_CONFIGURATION_SET"
OPERATOR_EMAIL = "SESAME_OPERATOR_EMAIL"
DLQ_MAX_RECEIVES = "SESAME_DLQ_MAX_RECEIVES"
NOTIFY_FROM = "SESAME_NOTIFY_FROM"
# The SES feedback loop: the configuration set every send names (its event destination feeds
# the feedback function), the suppression table the forwarder checks and the feedback
# function writes, where feedback records go, and the suppression policy (CONFIGURATION_SET,
# above, names the configuration set every send uses).
SUPPRESSION_TABLE = "SESAME_SUPPRESSION_TABLE"
FEEDBACK_PREFIX = "SESAME_FEEDBACK_PREFIX"
HARD_BOUNCE_DAYS = "SESAME_HARD_BOUNCE_DAYS"
SOFT_BOUNCE_LIMIT = "SESAME_SOFT_BOUNCE_LIMIT"

DEFAULT_MESSAGE_PREFIX = "messages/"
DEFAULT_INDEX_PREFIX = "index/"
DEFAULT_ERROR_PREFIX = "error/"
DEFAULT_JOURNAL_PREFIX = "journal/"
DEFAULT_QUARANTINE_PREFIX = "quarantine/"
DEFAULT_ALIAS_PATH = "/sesame"
DEFAULT_FEEDBACK_PREFIX = "feedback/"


class ConfigError(ValueError):
    """The function's environment is incomplete or wrong."""


@dataclass(frozen=True)
class ForwarderConfig:
    bucket: str
    message_prefix: str = DEFAULT_MESSAGE_PREFIX
    index_prefix: str = DEFAULT_INDEX_PREFIX
    alias_path: str = DEFAULT_ALIAS_PATH
    alias_cache_seconds: int = 300
    idempotency_table: str | None = None
    journal_prefix: str = DEFAULT_JOURNAL_PREFIX
    quarantine_prefix: str = DEFAULT_QUARANTINE_PREFIX
    configuration_set: str | None = None
    suppression_table: str | None = None  # checked before every send (the feedback loop's list)
    retention_days: int | None = None  # messages/ lifecycle: named in the notice for a message too large
    settings: Settings = Settings()

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ForwarderConfig:
        bucket = env.get(BUCKET, "").strip()
        if not bucket:
            raise ConfigError(f"{BUCKET} is not set: the bucket SES stores messages in")
        try:
            settings = Settings(
                from_template=env.get(FROM_TEMPLATE) or "{alias}",
                unknown=env.get(UNKNOWN_RECIPIENTS) or "bounce",  # type: ignore[arg-type]
                verdicts=VerdictPolicy(
                    virus_fail=env.get(VIRUS_FAIL) or "drop",  # type: ignore[arg-type]
                    spam_fail=env.get(SPAM_FAIL) or "drop",  # type: ignore[arg-type]
                    dmarc_reject=env.get(DMARC_REJECT) or "drop",  # type: ignore[arg-type]
                ),
                max_received=_int(env, MAX_RECEIVED, 30),
            )
        except SettingsError as exc:
            raise ConfigError(str(exc)) from None
        return cls(
            bucket=bucket,
            message_prefix=env.get(MESSAGE_PREFIX, DEFAULT_MESSAGE_PREFIX),
            index_prefix=env.get(INDEX_PREFIX, DEFAULT_INDEX_PREFIX),
            alias_path=env.get(ALIAS_PATH) or DEFAULT_ALIAS_PATH,
            alias_cache_seconds=_int(env, ALIAS_CACHE_SECONDS, 300),
            idempotency_table=env.get(IDEMPOTENCY_TABLE) or None,
            journal_prefix=env.get(JOURNAL_PREFIX) or DEFAULT_JOURNAL_PREFIX,
            quarantine_prefix=env.get(QUARANTINE_PREFIX) or DEFAULT_QUARANTINE_PREFIX,
            configuration_set=env.get(CONFIGURATION_SET) or None,
            suppression_table=env.get(SUPPRESSION_TABLE) or None,
            retention_days=_int(env, RETENTION_DAYS, 0) or None,
            settings=settings,
        )


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    value = env.get(name)
    if not value:
        return default
    try:
        return int(value)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, not {value!r}") from None


def env_int(env: Mapping[str, str], name: str, default: int) -> int:
    """A whole-number setting from ``env``; a :class:`ConfigError` naming it when it is not one."""
    return _int(env, name, default)
