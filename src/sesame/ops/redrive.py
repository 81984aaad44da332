"""Redrive: find dead-lettered SES events, replay them through the forwarder, settle the queues.

Where failed events wait:

- the dead-letter queue, while the dead-letter function has not taken them (or keeps
  failing on them), and the unreported-failures queue, where it parks what it gave up on.
  A record is the on-failure destination's record (``requestPayload`` is the SES event) or a
  plain DLQ message (the event itself);
- ``error/<messageId>.json``, the context the dead-letter function keeps, with the original
  event under ``event``. It is pending while the message's index record still has a failed
  recipient (or is missing): a redrive that succeeds rewrites that record, so nothing else
  marks a redrive done.

Each message is replayed by a runner (:class:`InProcessForwarder` runs the handler here with
the function's environment; :class:`DeployedForwarder` invokes the deployed function
synchronously). Sends are idempotent per (message, destination batch), so a replay sends
only what never went out. Queue records of a message are deleted when, and only when, its
replay succeeded; the others become visible again at once.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import redirect_stdout
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from sesame.aws import ClientFactory
from sesame.core.dead_letter import PoisonRecord, parse_dead_letter
from sesame.core.event import InboundMail, InvalidEvent, parse_ses_event
from sesame.core.index import index_key
from sesame.core.redrive import MessageRedrive, SentCopy, reports_by_message, summarize

# SQS short polling samples a subset of its servers, so one empty answer does not prove the
# queue empty (SQS Developer Guide, "Amazon SQS short and long polling"): stop after a few.
EMPTY_RECEIVES_TO_STOP = 3
# Enough to hold a record while its message is replayed: the forwarder's timeout is 120 s.
HOLD_SECONDS = 300
MAX_QUEUE_RECORDS = 1000  # one redrive reads at most this many records per queue


class RedriveError(RuntimeError):
    """The redrive cannot go on (a queue or the bucket cannot be read); the message says why."""


@dataclass(frozen=True)
class QueueRecord:
    queue_url: str
    receipt_handle: str
    sqs_message_id: str

    @property
    def queue_name(self) -> str:
        return self.queue_url.rstrip("/").rsplit("/", 1)[-1]


@dataclass
class Pending:
    """One dead-lettered message and everywhere it waits."""

    message_id: str
    mail: InboundMail
    event: dict[str, Any]  # an SES event with this message's record only
    error: str
    records: list[QueueRecord] = field(default_factory=list)
    error_key: str | None = None

    @property
    def where(self) -> str:
        places = [r.queue_name for r in self.records]
        if self.error_key:
            places.append(self.error_key)
        return ", ".join(places)


@dataclass(frozen=True)
class Unreadable:
    """A queue record or error context that holds no SES event: left where it is."""

    where: str
    why: str


@dataclass(frozen=True)
class StackPlaces:
    bucket: str
    queue_urls: tuple[str, ...]
    error_prefix: str = "error/"
    index_prefix: str = "index/"


def _single_record_event(event: Mapping[str, Any], message_id: str) -> dict[str, Any]:
    records = [
        r for r in event.get("Records") or []
        if isinstance(r, dict) and ((r.get("ses") or {}).get("mail") or {}).get("messageId") == message_id
    ]
    return {"Records": records}


class DeadLetters:
    """The queues and the error store of one stack, read and settled through its clients."""

    def __init__(self, sqs: Any, s3: Any, places: StackPlaces) -> None:
        self._sqs, self._s3, self.places = sqs, s3, places

    # --- finding -----------------------------------------------------------------------
    def collect(self, wanted: set[str] | None) -> tuple[list[Pending], list[Unreadable], list[str]]:
        """Pending messages (all, or those in ``wanted``), what could not be read, and the
        message ids of ``error/`` contexts already redriven (skipped unless named)."""
        pending: dict[str, Pending] = {}
        unreadable: list[Unreadable] = []
        for url in self.places.queue_urls:
            self._collect_queue(url, wanted, pending, unreadable)
        resolved = self._collect_errors(wanted, pending, unreadable)
        return list(pending.values()), unreadable, resolved

    def _collect_queue(
        self, url: str, wanted: set[str] | None, pending: dict[str, Pending], unreadable: list[Unreadable]
    ) -> None:
        empty, seen = 0, 0
        name = url.rstrip("/").rsplit("/", 1)[-1]
        while empty < EMPTY_RECEIVES_TO_STOP and seen < MAX_QUEUE_RECORDS:
            try:
                messages = self._sqs.receive_message(
                    QueueUrl=url,
                    MaxNumberOfMessages=10,
                    VisibilityTimeout=HOLD_SECONDS,
                    WaitTimeSeconds=0,
                    MessageAttributeNames=["All"],
                ).get("Messages", [])
            except (ClientError, BotoCoreError) as exc:
                raise RedriveError(f"cannot read queue {name}: {exc}") from None
            if not messages:
                empty += 1
                continue
            seen += len(messages)
            for message in messages:
                record = QueueRecord(url, message["ReceiptHandle"], message.get("MessageId", "?"))
                try:
                    letter = parse_dead_letter(message.get("Body", ""), message.get("MessageAttributes") or {})
                except PoisonRecord as exc:
                    unreadable.append(Unreadable(f"{name} record {record.sqs_message_id}", str(exc)))
                    self.release([record])
                    continue
                ours = [m for m in letter.mails if wanted is None or m.message_id in wanted]
                if not ours:
                    self.release([record])
                    continue
                for mail in ours:
                    entry = pending.get(mail.message_id)
                    if entry is None:
                        entry = pending[mail.message_id] = Pending(
                            mail.message_id, mail, _single_record_event(letter.event, mail.message_id), letter.error
                        )
                    entry.records.append(record)

    def _collect_errors(
        self, wanted: set[str] | None, pending: dict[str, Pending], unreadable: list[Unreadable]
    ) -> list[str]:
        prefix = self.places.error_prefix
        if wanted is not None:
            keys = [f"{prefix}{message_id}.json" for message_id in sorted(wanted)]
        else:
            keys = [k for k in self._list(prefix) if k.endswith(".json")]
        resolved = []
        for key in keys:
            message_id = key[len(prefix) : -len(".json")]
            context = self._read_json(key)
            if context is None:
                continue  # no such context: the message may wait in a queue only
            try:
                if not isinstance(context, dict) or not isinstance(context.get("event"), dict):
                    raise InvalidEvent("a context without the original event")
                mails = [m for m in parse_ses_event(context["event"]) if m.message_id == message_id]
                if not mails:
                    raise InvalidEvent(f"a context whose event is not for message {message_id}")
            except InvalidEvent as exc:
                unreadable.append(Unreadable(key, str(exc)))
                continue
            mail = mails[0]
            if message_id in pending:
                pending[message_id].error_key = key
                continue
            if wanted is None and self._resolved(mail):
                resolved.append(message_id)
                continue
            pending[message_id] = Pending(
                message_id, mail, _single_record_event(context["event"], message_id),
                str(context.get("error") or "unknown error"), error_key=key,
            )
        return resolved

    def _resolved(self, mail: InboundMail) -> bool:
        """The index record says every recipient got a final outcome other than failed."""
        record = self._read_json(index_key(self.places.index_prefix, mail))
        if not isinstance(record, dict):
            return False
        outcomes = record.get("outcomes") or []
        return bool(outcomes) and all(isinstance(o, dict) and o.get("status") != "failed" for o in outcomes)

    def _list(self, prefix: str) -> list[str]:
        try:
            keys = []
            for page in self._s3.get_paginator("list_objects_v2").paginate(Bucket=self.places.bucket, Prefix=prefix):
                keys += [item["Key"] for item in page.get("Contents", [])]
            return keys
        except (ClientError, BotoCoreError) as exc:
            raise RedriveError(f"cannot list s3://{self.places.bucket}/{prefix}: {exc}") from None

    def _read_json(self, key: str) -> Any:
        try:
            response = self._s3.get_object(Bucket=self.places.bucket, Key=key)
            with response["Body"] as body:
                return json.loads(body.read())
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in {"NoSuchKey", "404"}:
                return None
            raise RedriveError(f"cannot read s3://{self.places.bucket}/{key}: {exc}") from None
        except BotoCoreError as exc:
            raise RedriveError(f"cannot read s3://{self.places.bucket}/{key}: {exc}") from None
        except ValueError:
            return {"unreadable": True}

    def quarantined(self, message_id: str, *, days: int, today: date) -> Pending | None:
        """A quarantined message, to release: its index record (searched day by day, newest
        first, over ``days``) holds SES's mail and receipt objects, the original event. The
        event names the message under ``sesame.release``, which lifts the verdicts for it."""
        for back in range(days):
            day = today - timedelta(days=back)
            record = self._read_json(f"{self.places.index_prefix}{day:%Y/%m/%d}/{message_id}.json")
            if not isinstance(record, dict) or "mail" not in record:
                continue
            if not any(isinstance(o, dict) and "quarantined" in str(o.get("detail") or "") for o in record.get("outcomes") or []):
                raise RedriveError(f"{message_id} was not quarantined (its index record of {day} says otherwise)")
            event = {"Records": [{"eventSource": "aws:ses", "eventVersion": "1.0",
                                  "ses": {"mail": record["mail"], "receipt": record.get("receipt") or {}}}],
                     "sesame": {"release": [message_id]}}
            try:
                (mail,) = parse_ses_event(event)
            except (InvalidEvent, ValueError) as exc:
                raise RedriveError(f"the index record of {message_id} holds no usable SES event: {exc}") from None
            return Pending(message_id, mail, event, "quarantined")
        return None

    # --- settling ----------------------------------------------------------------------
    def hold(self, records: Iterable[QueueRecord]) -> None:
        """Keep the records hidden while their message is replayed."""
        for record in records:
            self._change_visibility(record, HOLD_SECONDS)

    def release(self, records: Iterable[QueueRecord]) -> None:
        """Make the records visible again at once (their message was not redriven)."""
        for record in records:
            self._change_visibility(record, 0)

    def delete(self, records: Iterable[QueueRecord]) -> None:
        for record in records:
            try:
                self._sqs.delete_message(QueueUrl=record.queue_url, ReceiptHandle=record.receipt_handle)
            except (ClientError, BotoCoreError) as exc:
                raise RedriveError(f"redriven, but the record in {record.queue_name} could not be deleted: {exc}") from None

    def _change_visibility(self, record: QueueRecord, seconds: int) -> None:
        try:
            self._sqs.change_message_visibility(
                QueueUrl=record.queue_url, ReceiptHandle=record.receipt_handle, VisibilityTimeout=seconds
            )
        except (ClientError, BotoCoreError):
            pass  # the record's own visibility timeout brings it back anyway


# --- runners ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    """What one replay of an event answered."""

    reports: list[dict[str, Any]]
    sent: list[SentCopy] | None  # None: the runner cannot see the sends
    error: str | None = None


class Runner(Protocol):
    def run(self, event: dict[str, Any]) -> Run: ...


class SendObserver:
    """Watches an SES v2 client for sends SES accepted, through botocore's events, whatever
    sender adapter the forwarder builds on top of the client."""

    def __init__(self) -> None:
        self.sent: list[SentCopy] = []

    def attach(self, client: Any) -> Any:
        client.meta.events.register("provide-client-params.sesv2.SendEmail", self._before)
        client.meta.events.register("after-call.sesv2.SendEmail", self._after)
        return client

    @staticmethod
    def _before(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        destination = params.get("Destination") or {}
        context["sesame_destinations"] = tuple(
            destination.get("ToAddresses", []) + destination.get("CcAddresses", []) + destination.get("BccAddresses", [])
        )

    def _after(self, http_response: Any, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        if getattr(http_response, "status_code", 500) < 300 and parsed.get("MessageId"):
            self.sent.append(SentCopy(tuple(context.get("sesame_destinations", ())), str(parsed["MessageId"])))


@dataclass
class RedriveContext:
    """The Lambda context the handler gets when it runs here: the function's real timeout."""

    function_name: str = "sesame-redrive"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:local:000000000000:function:sesame-redrive"
    aws_request_id: str = "redrive"
    timeout_seconds: float = 120.0
    started: float = field(default_factory=lambda: datetime.now(UTC).timestamp())

    def get_remaining_time_in_millis(self) -> int:
        left = self.timeout_seconds - (datetime.now(UTC).timestamp() - self.started)
        return max(0, int(left * 1000))


class InProcessForwarder:
    """The forwarding handler, run here with the deployed function's environment and clients
    from ``clients`` (the operator's credentials, Sesame's timeouts)."""

    def __init__(self, env: Mapping[str, str], clients: ClientFactory, *, log: Any = None, timeout: float = 120.0) -> None:
        self._env = dict(env)
        self._clients = clients
        self._log = log  # where the handler's log lines go (None: discarded)
        self._timeout = timeout
        self._observer = SendObserver()
        self._runtime: Any = None

    def _factory(self, service: str) -> Any:
        client = self._clients(service)
        return self._observer.attach(client) if service == "sesv2" else client

    def run(self, event: dict[str, Any]) -> Run:
        from handle_email import app

        from sesame.runtime import build_runtime

        if self._runtime is None:
            self._runtime = build_runtime(self._env, clients=self._factory)
        self._observer.sent = []
        handler = app.logger.registered_handler
        previous = handler.setStream(self._log or io.StringIO())
        # Put back whatever runtime the handler had (in local mode's process, its own).
        previous_runtime = getattr(app, "_runtime", None)
        app.use_runtime(self._runtime)
        try:
            with redirect_stdout(self._log or io.StringIO()):  # the metrics' EMF lines
                answer = app.lambda_handler(event, RedriveContext(timeout_seconds=self._timeout))
            return Run(list(answer.get("reports") or []), list(self._observer.sent))
        except app.DeliveryFailed as exc:
            return Run(list(exc.reports), list(self._observer.sent), str(exc))
        except Exception as exc:  # noqa: BLE001 - the forwarder's failure is this message's result
            return Run([], list(self._observer.sent), f"{type(exc).__name__}: {exc}")
        finally:
            app.use_runtime(previous_runtime)
            handler.setStream(previous)


class DeployedForwarder:
    """The deployed forwarding function, invoked synchronously (its role, its code). Its
    answer carries the reports; which sends were replays it does not say."""

    def __init__(self, lambda_client: Any, function_name: str) -> None:
        self._lambda = lambda_client
        self._function = function_name

    def run(self, event: dict[str, Any]) -> Run:
        try:
            response = self._lambda.invoke(
                FunctionName=self._function,
                InvocationType="RequestResponse",
                Payload=json.dumps(event).encode(),
            )
        except (ClientError, BotoCoreError) as exc:
            # A read timeout leaves it unknown whether the function ran: a second redrive is
            # safe (sends are idempotent) and tells.
            return Run([], None, f"invoking {self._function} failed: {exc}")
        with response["Payload"] as body:
            raw = body.read()
        try:
            answer = json.loads(raw) if raw else None
        except ValueError:
            answer = None
        if response.get("FunctionError"):
            detail = answer if isinstance(answer, dict) else {}
            error = f"{detail.get('errorType', response['FunctionError'])}: {detail.get('errorMessage', raw[:200])}"
            return Run([], None, error)
        reports = answer.get("reports") if isinstance(answer, dict) else None
        if not isinstance(reports, list):
            return Run([], None, "the function answered without reports (is it an older version?)")
        return Run(reports, None)


# --- the whole redrive ---------------------------------------------------------------------


def redrive(
    dead_letters: DeadLetters,
    pending: Sequence[Pending],
    runner: Runner,
    *,
    on_result: Callable[[Pending, MessageRedrive], None] = lambda _p, _r: None,
) -> list[MessageRedrive]:
    """Replay each pending message; delete its queue records if it succeeded, else release them."""
    results = []
    for item in pending:
        dead_letters.hold(item.records)
        run = runner.run(item.event)
        report = reports_by_message(run.reports).get(item.message_id)
        result = summarize(report, run.sent, message_id=item.message_id, source=item.mail.source, error=run.error)
        if result.succeeded:
            dead_letters.delete(item.records)
        else:
            dead_letters.release(item.records)
        results.append(result)
        on_result(item, result)
    return results


__all__ = [
    "DeadLetters",
    "DeployedForwarder",
    "InProcessForwarder",
    "Pending",
    "QueueRecord",
    "RedriveError",
    "Run",
    "SendObserver",
    "StackPlaces",
    "Unreadable",
    "redrive",
]
