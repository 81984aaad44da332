"""Wiring for the dead-letter function: keep the failure, index it, tell the operator."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from sesame import config as env_names
from sesame.adapters.index import S3OutcomeIndex
from sesame.adapters.notify import SesNotifier
from sesame.aws import ClientFactory, default_factory
from sesame.config import ConfigError
from sesame.core.dead_letter import DeadLetter, error_context, operator_report, parse_dead_letter
from sesame.core.event import InboundMail
from sesame.core.index import failed_report


@dataclass
class DeadLetterRuntime:
    s3: Any
    bucket: str
    message_prefix: str
    error_prefix: str
    index: S3OutcomeIndex
    notifier: SesNotifier

    def handle(self, body: str, attributes: dict[str, Any] | None = None) -> DeadLetter:
        """Report one queue record; raises (so the record is retried) if any step fails."""
        letter = parse_dead_letter(body, attributes)
        for mail in letter.mails:
            location = self._keep_raw(mail)
            context_key = f"{self.error_prefix}{mail.message_id}.json"
            context = error_context(letter, mail, message_location=location)
            self.s3.put_object(
                Bucket=self.bucket,
                Key=context_key,
                Body=json.dumps(context, indent=2, default=str).encode(),
                ContentType="application/json",
            )
            # The forwarder's own record (with per-recipient detail) wins if it wrote one.
            self.index.record(mail, failed_report(mail, letter.error), only_if_absent=True)
            subject, text = operator_report(
                letter, mail, bucket=self.bucket, context_key=context_key, message_location=location
            )
            self.notifier.notify(subject, text)
        return letter

    def _keep_raw(self, mail: InboundMail) -> str | None:
        """Copy the raw message next to its context, out of reach of the messages/ lifecycle."""
        source_bucket = mail.s3_bucket or self.bucket
        source_key = mail.s3_key or f"{self.message_prefix}{mail.message_id}"
        target = f"{self.error_prefix}{mail.message_id}.eml"
        try:
            self.s3.copy_object(
                Bucket=self.bucket, Key=target, CopySource={"Bucket": source_bucket, "Key": source_key}
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in {"NoSuchKey", "404"}:
                return None
            raise
        return f"s3://{self.bucket}/{target}"


def build_dead_letter_runtime(
    env: Mapping[str, str] | None = None, *, clients: ClientFactory | None = None
) -> DeadLetterRuntime:
    env = os.environ if env is None else env
    missing = [
        name
        for name in (env_names.BUCKET, env_names.OPERATOR_EMAIL, env_names.NOTIFY_FROM)
        if not env.get(name, "").strip()
    ]
    if missing:
        raise ConfigError(f"{', '.join(missing)} not set for the dead-letter function")
    clients = clients or default_factory
    s3, sesv2 = clients("s3"), clients("sesv2")
    bucket = env[env_names.BUCKET]
    return DeadLetterRuntime(
        s3=s3,
        bucket=bucket,
        message_prefix=env.get(env_names.MESSAGE_PREFIX, env_names.DEFAULT_MESSAGE_PREFIX),
        error_prefix=env.get(env_names.ERROR_PREFIX, env_names.DEFAULT_ERROR_PREFIX),
        index=S3OutcomeIndex(s3, bucket, env.get(env_names.INDEX_PREFIX, env_names.DEFAULT_INDEX_PREFIX)),
        notifier=SesNotifier(sesv2, env[env_names.NOTIFY_FROM], env[env_names.OPERATOR_EMAIL]),
    )
