"""Wiring for the dead-letter function: keep the failure, index it, tell the operator.

Each queue record is handled so that doing it twice changes nothing twice (SQS delivers a
record again when a batch partly fails or times out):

1. ``error/<id>.eml`` and ``error/<id>.json`` first (plain overwrites): whatever happens next,
   the message and its context are kept out of reach of the ``messages/`` lifecycle.
2. the index record: the forwarder's own (written before it raised, naming what went out) is
   kept; one is written only if it is missing.
3. the operator's report, sent through the delivery protocol (:mod:`sesame.core.delivery`) with
   a key per dead-lettering (the message id and the failed invocation's request id): sent once,
   however often the record is processed.
4. the final metrics of the message, emitted only by the processing that sent the report.

A record that is not a dead-lettered SES event (poison) is kept under ``error/poison/`` and
reported the same way, once, instead of being retried until the queue parks it.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from sesame import config as env_names
from sesame.adapters.index import S3OutcomeIndex
from sesame.adapters.notify import build_report
from sesame.adapters.ses import SesRawSender
from sesame.aws import ClientFactory, LazyClients, default_factory
from sesame.config import ConfigError
from sesame.core.dead_letter import DeadLetter, PoisonRecord, error_context, operator_report, parse_dead_letter
from sesame.core.delivery import Deadline, Delivery, NoDeadline
from sesame.core.event import InboundMail
from sesame.core.index import failed_report, index_key
from sesame.core.ports import Sender



@dataclass
class Handled:
    """What handling one record did, for the handler's log and metrics."""

    letter: DeadLetter | None
    reported: list[str] = field(default_factory=list)  # message ids reported by this processing
    outcomes: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # message id -> outcomes
    poison_key: str | None = None


@dataclass
class DeadLetterRuntime:
    s3: Any
    bucket: str
    message_prefix: str
    error_prefix: str
    index: S3OutcomeIndex
    sender: Sender  # the report's: once per key when a ledger is configured
    notify_from: str
    operator: str
    delivery: Delivery | None = None

    def begin(self, deadline: Deadline) -> None:
        if self.delivery is not None:
            self.delivery.begin(deadline)

    def handle(self, body: str, attributes: dict[str, Any] | None = None, record_id: str = "") -> Handled:
        """Keep, index and report one queue record; raises (so the record is retried) if any step fails."""
        try:
            letter = parse_dead_letter(body, attributes)
        except PoisonRecord as exc:
            return self._poison(body, record_id, exc)
        handled = Handled(letter)
        for mail in letter.mails:
            location = self._keep_raw(mail)
            context_key = f"{self.error_prefix}{mail.message_id}.json"
            context = error_context(letter, mail, message_location=location)
            self._put(context_key, json.dumps(context, indent=2, default=str).encode())
            # The forwarder's own record (with per-recipient detail and what went out) wins.
            self.index.record(mail, failed_report(mail, letter.error), only_if_absent=True)
            outcomes = self._recorded_outcomes(mail)
            handled.outcomes[mail.message_id] = outcomes
            subject, text = operator_report(
                letter, mail, bucket=self.bucket, context_key=context_key, message_location=location, outcomes=outcomes
            )
            if self._report(subject, text, f"{mail.message_id}:report-{_digest(letter.request_id or record_id or body)}"):
                handled.reported.append(mail.message_id)
        return handled

    def _report(self, subject: str, text: str, key: str) -> bool:
        """Send the report once for ``key``; True when this call sent it."""
        before = self.delivery.stats.replays if self.delivery is not None else 0
        self.sender.send_raw(build_report(self.notify_from, self.operator, subject, text), [self.operator], key=key)
        return self.delivery is None or self.delivery.stats.replays == before

    def _poison(self, body: str, record_id: str, error: PoisonRecord) -> Handled:
        digest = _digest(body)
        key = f"{self.error_prefix}poison/{digest}.json"
        self._put(key, json.dumps({"sqs_message_id": record_id, "error": str(error), "body": body}, indent=2).encode())
        text = (
            "Sesame's dead-letter queue held a record that is not a failed SES event, so it could\n"
            "not be reported the usual way. It has been kept for you to read:\n\n"
            f"  s3://{self.bucket}/{key}\n\n"
            f"Why it was not understood: {error}\n"
        )
        sent = self._report("[sesame] unreadable dead-letter record", text, f"poison-{digest}:report")
        return Handled(None, reported=["poison"] if sent else [], poison_key=key)

    def _put(self, key: str, body: bytes) -> None:
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType="application/json")

    def _recorded_outcomes(self, mail: InboundMail) -> list[dict[str, Any]]:
        """The outcomes in the message's index record (the forwarder's, when it wrote one)."""
        try:
            response = self.s3.get_object(Bucket=self.bucket, Key=index_key(self.index.prefix, mail))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in {"NoSuchKey", "404"}:
                return []
            raise
        with response["Body"] as body:
            try:
                record = json.loads(body.read())
            except ValueError:
                return []
        outcomes = record.get("outcomes") if isinstance(record, dict) else None
        return [o for o in outcomes if isinstance(o, dict)] if isinstance(outcomes, list) else []

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


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:24]


def build_dead_letter_runtime(
    env: Mapping[str, str] | None = None, *, clients: ClientFactory | None = None, sender: Sender | None = None
) -> DeadLetterRuntime:
    env = os.environ if env is None else env
    missing = [
        name
        for name in (env_names.BUCKET, env_names.OPERATOR_EMAIL, env_names.NOTIFY_FROM)
        if not env.get(name, "").strip()
    ]
    if missing:
        raise ConfigError(f"{', '.join(missing)} not set for the dead-letter function")
    lazy = LazyClients(clients or default_factory)
    s3 = lazy.get("s3")
    bucket = env[env_names.BUCKET]
    transport = sender or SesRawSender(lazy.get("sesv2"), env.get(env_names.CONFIGURATION_SET) or None)
    delivery: Delivery | None = None
    table = env.get(env_names.IDEMPOTENCY_TABLE)
    if table:
        from sesame.adapters.ledger import DynamoLedger, S3Journal
        from sesame.adapters.send_errors import classify_send_error

        delivery = Delivery(
            transport,
            DynamoLedger(lazy.get("dynamodb"), table),
            classify=classify_send_error,
            journal=S3Journal(s3, bucket, env.get(env_names.JOURNAL_PREFIX) or env_names.DEFAULT_JOURNAL_PREFIX),
            clock=time.time,
            sleep=time.sleep,
        )
        delivery.begin(NoDeadline())
    return DeadLetterRuntime(
        s3=s3,
        bucket=bucket,
        message_prefix=env.get(env_names.MESSAGE_PREFIX, env_names.DEFAULT_MESSAGE_PREFIX),
        error_prefix=env.get(env_names.ERROR_PREFIX, env_names.DEFAULT_ERROR_PREFIX),
        index=S3OutcomeIndex(s3, bucket, env.get(env_names.INDEX_PREFIX, env_names.DEFAULT_INDEX_PREFIX)),
        sender=delivery or transport,
        notify_from=env[env_names.NOTIFY_FROM],
        operator=env[env_names.OPERATOR_EMAIL],
        delivery=delivery,
    )
