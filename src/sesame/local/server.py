"""``sesame local``: SES receiving, the forwarder and SES sending on one machine, no AWS account.

    SMTP client --> SmtpFront (aiosmtpd, answers like SES; rules from template.yaml)
                      | stores <prefix><messageId> in the moto bucket, then answers 250
                      v
                    worker thread: for each rule with the forwarder's Lambda action, the
                      real handle_email.app.lambda_handler with an SES event; retries as the
                      template's EventInvokeConfig says; failed events go to the moto queue
                      v
                    LocalSender: SES's send checks -> outbox/*.eml (and --relay)

moto (an in-process ThreadedMotoServer on 127.0.0.1) serves S3, SSM, SQS and DynamoDB; the
handler reads the aliases from SSM through the real SsmAliasStore. The handler runs one
invocation at a time, like one Lambda container: Powertools' Logger and Metrics are
module-level state.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import logging
import os
import queue
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from sesame import config as env_names
from sesame.core.alias_config import AliasConfig, load_aliases_file, to_parameters
from sesame.core.aliases import AliasConfigError
from sesame.core.outcome import MessageReport, Outcome
from sesame.core.settings import SES_MAX_MESSAGE_BYTES
from sesame.local.cfn import Reference, TemplateError
from sesame.local.sender import LocalSender, Outbox
from sesame.core.event import Verdicts
from sesame.local.ses import Received, build_event, new_message_id, parse_verdicts, store_copy, verdicts_for_rule
from sesame.local.smtp import Delivery, SmtpFront
from sesame.local.wiring import AddHeaderAction, LambdaAction, ReceiptRule, S3Action, StopAction, Wiring, read_wiring
from sesame.runtime import ForwarderRuntime, build_runtime

FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


class LocalModeError(Exception):
    """Local mode cannot start; ``lines`` says why, one problem a line."""

    def __init__(self, lines: list[str] | str) -> None:
        self.lines = [lines] if isinstance(lines, str) else list(lines)
        super().__init__("; ".join(self.lines))


@dataclass
class LocalOptions:
    aliases: Path = Path("aliases.toml")
    template: Path = Path("template.yaml")
    samconfig: Path | None = None
    config_env: str = "default"
    outbox: Path = Path("outbox")
    host: str = "127.0.0.1"
    smtp_port: int = 2525
    relay: tuple[str, int] | None = None
    max_size: int = SES_MAX_MESSAGE_BYTES
    verdicts: tuple[str, ...] = ()
    json: bool = False
    verbose: bool = False
    region: str = "us-east-1"
    retries: int | None = None  # None: the template's EventInvokeConfig.MaximumRetryAttempts


@dataclass
class _ObservedRuntime(ForwarderRuntime):
    """The forwarder's runtime, keeping the report of every ``forward`` for the summary line."""

    reports: list[MessageReport] = field(default_factory=list)

    def forward(self, mail, **options):  # type: ignore[no-untyped-def]
        report = super().forward(mail, **options)
        self.reports.append(report)
        return report


@dataclass
class _LambdaContext:
    function_name: str
    invoked_function_arn: str
    memory_limit_in_mb: int
    timeout_seconds: int
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    started: float = field(default_factory=time.monotonic)

    @property
    def log_group_name(self) -> str:
        return f"/aws/lambda/{self.function_name}"

    @property
    def log_stream_name(self) -> str:
        return f"{datetime.now(UTC):%Y/%m/%d}/[$LATEST]{self.aws_request_id.replace('-', '')}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.timeout_seconds - (time.monotonic() - self.started)) * 1000))


@dataclass
class _Job:
    received: Received
    groups: list[tuple[ReceiptRule, tuple[str, ...]]]
    verdicts: dict[str, Verdicts]
    stored_key: str
    accepted_at: float


class _NullWriter(io.TextIOBase):
    def write(self, s: str) -> int:
        return len(s)


class LocalMode:
    """The whole local pipeline. ``start()``, then send mail to ``smtp_port``; ``stop()``."""

    def __init__(self, options: LocalOptions, out: TextIO | None = None, err: TextIO | None = None) -> None:
        self.options = options
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self.results: list[dict[str, Any]] = []
        self.wiring: Wiring | None = None
        self.aliases: AliasConfig | None = None
        self.endpoint = ""
        self.bucket = ""
        self.alias_path = env_names.DEFAULT_ALIAS_PATH
        self._print_lock = threading.Lock()
        self._state = threading.Condition()
        self._accepted = 0
        self._done = 0
        self._jobs: queue.Queue[_Job | None] = queue.Queue()
        self._moto: Any = None
        self._smtp: SmtpFront | None = None
        self._worker: threading.Thread | None = None
        self._saved_env: dict[str, str | None] = {}
        self._saved_logger: tuple[Any, ...] | None = None
        self._failure_queue_url: str | None = None
        self._aliases_mtime = 0.0
        self._explicit_verdicts: tuple[str, ...] = ()

    # --- life cycle ----------------------------------------------------------------------
    @property
    def smtp_port(self) -> int:
        return self._smtp.port if self._smtp else self.options.smtp_port

    def prepare(self) -> Wiring:
        """Read and check the aliases and the template; raises :class:`LocalModeError`."""
        opts = self.options
        try:
            self.aliases = load_aliases_file(opts.aliases)
            self._aliases_mtime = _mtime(opts.aliases)
        except AliasConfigError as exc:
            raise LocalModeError(str(exc)) from None
        try:
            self.base_verdicts = parse_verdicts(opts.verdicts)
        except ValueError as exc:
            raise LocalModeError(str(exc)) from None
        self._explicit_verdicts = tuple(v.partition("=")[0].strip().lower() for v in opts.verdicts)
        try:
            wiring = read_wiring(
                opts.template,
                alias_domains=self.aliases.table.domains,
                samconfig=opts.samconfig,
                config_env=opts.config_env,
                region=opts.region,
            )
        except TemplateError as exc:
            raise LocalModeError(str(exc)) from None
        if wiring.problems:
            raise LocalModeError([f"{opts.template}: {p}" for p in wiring.problems])
        self.wiring = wiring
        return wiring

    def start(self) -> None:
        wiring = self.wiring or self.prepare()
        try:
            self._start_aws(wiring)
            self._start_forwarder(wiring)
            self._smtp = SmtpFront(
                check_recipient=self._check_recipient,
                accept=self._accept,
                host=self.options.host,
                port=self.options.smtp_port,
                max_size=self.options.max_size,
                hostname=f"inbound-smtp.{wiring.region}.amazonaws.com",
            )
            try:
                self._smtp.start()
            except OSError as exc:
                self._smtp = None
                raise LocalModeError(
                    f"cannot listen on {self.options.host}:{self.options.smtp_port}: {exc.strerror or exc}"
                ) from None
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        if self._smtp is not None:
            self._smtp.stop()
            self._smtp = None
        if self._worker is not None:
            self._jobs.put(None)
            self._worker.join()
            self._worker = None
        self._restore_handler()
        if self._moto is not None:
            with contextlib.suppress(OSError):
                request = urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST")
                urllib.request.urlopen(request, timeout=10).close()  # frees the stored messages
            self._moto.stop()
            self._moto = None
            logging.getLogger("werkzeug").setLevel(self._saved_werkzeug_level)
        for name, value in self._saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved_env = {}

    def __enter__(self) -> LocalMode:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Wait until every accepted message has its outcome."""
        with self._state:
            return self._state.wait_for(lambda: self._done >= self._accepted, timeout=timeout)

    # --- AWS stand-ins -------------------------------------------------------------------
    def _start_aws(self, wiring: Wiring) -> None:
        import boto3
        from botocore.config import Config
        from moto.server import ThreadedMotoServer

        werkzeug = logging.getLogger("werkzeug")  # one log line per moto request otherwise
        self._saved_werkzeug_level = werkzeug.level
        werkzeug.setLevel(logging.ERROR)
        self._moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._moto.start()
        host, port = self._moto.get_host_and_port()
        self.endpoint = f"http://{host}:{port}"
        # A safety net: any client the handler builds on its own talks to moto too.
        for name, value in {
            **FAKE_CREDENTIALS,
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_DEFAULT_REGION": wiring.region,
            "AWS_SESSION_TOKEN": None,
            "AWS_PROFILE": None,
        }.items():
            self._saved_env.setdefault(name, os.environ.get(name))
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        session = boto3.session.Session(region_name=wiring.region, **_session_keys())
        config = Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2})
        self.clients = {
            name: session.client(name, endpoint_url=self.endpoint, config=config)
            for name in ("s3", "ssm", "sqs", "dynamodb")
        }
        names = dict(wiring.references)
        for logical_id, kind in wiring.resource_types.items():
            if kind == "AWS::S3::Bucket":
                self.clients["s3"].create_bucket(Bucket=names[logical_id])
            elif kind == "AWS::SQS::Queue":
                url = self.clients["sqs"].create_queue(QueueName=names[logical_id])["QueueUrl"]
                names[logical_id] = url  # Ref to a queue is its URL
            elif kind == "AWS::DynamoDB::Table":
                self._create_table(names[logical_id], wiring.resources[logical_id])
        if wiring.failure_queue is not None:
            self._failure_queue_url = names[wiring.failure_queue]
        else:
            self._failure_queue_url = self.clients["sqs"].create_queue(QueueName=f"{wiring.stack_name}-failed-events")[
                "QueueUrl"
            ]
        self.names = names
        for rule in wiring.rules:
            for action in rule.actions:
                if isinstance(action, S3Action):
                    bucket = self._bucket_name(action)
                    with contextlib.suppress(self.clients["s3"].exceptions.BucketAlreadyOwnedByYou):
                        self.clients["s3"].create_bucket(Bucket=bucket)
        self.env = wiring.render_env(names)
        self.env[env_names.ALIAS_CACHE_SECONDS] = "0"  # edits to the aliases file apply at once
        self.bucket = self.env.get(env_names.BUCKET, "")
        self.alias_path = self.env.get(env_names.ALIAS_PATH) or env_names.DEFAULT_ALIAS_PATH
        assert self.aliases is not None
        self._write_aliases(self.aliases)

    def _create_table(self, name: str, resource: dict[str, Any]) -> None:
        props = resource.get("Properties") or {}
        keys = props.get("KeySchema")
        attributes = props.get("AttributeDefinitions")
        if not (isinstance(keys, list) and isinstance(attributes, list)):
            keys = [{"AttributeName": "id", "KeyType": "HASH"}]
            attributes = [{"AttributeName": "id", "AttributeType": "S"}]
        self.clients["dynamodb"].create_table(
            TableName=name, KeySchema=keys, AttributeDefinitions=attributes, BillingMode="PAY_PER_REQUEST"
        )

    def _bucket_name(self, action: S3Action) -> str:
        if isinstance(action.bucket, Reference):
            return self.names.get(action.bucket.resource, action.bucket.resource.lower())
        return str(action.bucket)

    def _write_aliases(self, config: AliasConfig) -> None:
        ssm = self.clients["ssm"]
        wanted = to_parameters(config, self.alias_path)
        existing: list[str] = []
        for page in ssm.get_paginator("get_parameters_by_path").paginate(Path=self.alias_path, Recursive=True):
            existing.extend(p["Name"] for p in page["Parameters"])
        stale = [n for n in existing if n not in wanted]
        for i in range(0, len(stale), 10):
            ssm.delete_parameters(Names=stale[i : i + 10])
        for name, value in wanted.items():
            ssm.put_parameter(Name=name, Value=value, Type="String", Overwrite=True)

    # --- the forwarder -------------------------------------------------------------------
    def _start_forwarder(self, wiring: Wiring) -> None:
        from handle_email import app

        self.app = app
        self.outbox = Outbox(self.options.outbox)
        self.outbox.prepare()
        self.sender = LocalSender(
            self.outbox, wiring.domains, relay=self.options.relay, region=wiring.region, max_bytes=SES_MAX_MESSAGE_BYTES
        )
        base = build_runtime(self.env, clients=self.clients.__getitem__, sender=self.sender)
        self.runtime = _ObservedRuntime(**{f.name: getattr(base, f.name) for f in dataclasses.fields(base)})
        logger = app.logger
        handler = logger.registered_handler
        self._saved_logger = (logger.log_level, handler, getattr(handler, "stream", None))
        level = (self.env.get("POWERTOOLS_LOG_LEVEL") or "INFO") if self.options.verbose else "WARNING"
        logger.setLevel(level)
        if hasattr(handler, "setStream"):
            handler.setStream(self.err)  # the function's logs are not the outcome lines
        app.use_runtime(self.runtime)
        self._worker = threading.Thread(target=self._work, name="sesame-forwarder", daemon=True)
        self._worker.start()

    def _restore_handler(self) -> None:
        if self._saved_logger is None:
            return
        level, handler, stream = self._saved_logger
        self.app.logger.setLevel(level)
        if stream is not None and hasattr(handler, "setStream"):
            handler.setStream(stream)
        self.app.use_runtime(None)
        self._saved_logger = None

    # --- SES receiving -------------------------------------------------------------------
    def _check_recipient(self, address: str, mail_from: str) -> str | None:
        assert self.wiring is not None
        route = self.wiring.route(address)
        if route.refusal is not None:
            self._note(f"refused RCPT {address} from <{mail_from}>: {route.refusal}")
        return route.refusal

    def _accept(self, delivery: Delivery) -> str:
        assert self.wiring is not None
        started = time.monotonic()
        recipients = tuple(dict.fromkeys(r.strip().strip("<>") for r in delivery.recipients))
        groups: dict[str, tuple[ReceiptRule, list[str]]] = {}
        for recipient in recipients:
            for rule in self.wiring.route(recipient).rules:
                groups.setdefault(rule.name, (rule, []))[1].append(recipient)
        received = Received(
            message_id=new_message_id(),
            source=delivery.mail_from,
            recipients=recipients,
            helo=delivery.helo,
            peer_ip=delivery.peer_ip,
            received_at=datetime.now(UTC),
            original=delivery.content,
        )
        verdicts = {
            name: verdicts_for_rule(self.base_verdicts, rule.scan_enabled, self._explicit_verdicts)
            for name, (rule, _) in groups.items()
        }
        first_rule = next(iter(groups.values()))[0] if groups else None
        extra = [(a.name, a.value) for a in first_rule.actions if isinstance(a, AddHeaderAction)] if first_rule else []
        main_verdicts = verdicts[first_rule.name] if first_rule else self.base_verdicts
        stored = store_copy(received, main_verdicts, self.wiring.region, extra)
        stored_key = ""
        for rule, _ in groups.values():  # the rules' S3 actions, before 250 is answered
            for action in rule.actions:
                if isinstance(action, StopAction):
                    break
                if isinstance(action, S3Action):
                    key = f"{action.prefix}{received.message_id}"
                    self.clients["s3"].put_object(Bucket=self._bucket_name(action), Key=key, Body=stored)
                    stored_key = stored_key or f"s3://{self._bucket_name(action)}/{key}"
        job = _Job(
            received,
            [(rule, tuple(rcpts)) for rule, rcpts in groups.values()],
            verdicts,
            stored_key,
            started,
        )
        with self._state:
            self._accepted += 1
        self._jobs.put(job)
        return f"250 Ok {received.message_id}"

    # --- the Lambda side -----------------------------------------------------------------
    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            try:
                summary = self._process(job)
            except Exception as exc:  # noqa: BLE001 - local mode's own bug: report, keep going
                summary = self._summary(job, [], [], exc, 0)
            self._emit(summary)
            with self._state:
                self._done += 1
                self._state.notify_all()

    def _process(self, job: _Job) -> dict[str, Any]:
        assert self.wiring is not None
        self._maybe_reload_aliases()
        outcomes: list[Outcome] = []
        reports: list[MessageReport] = []
        error: BaseException | None = None
        attempts = 0
        retries = self.options.retries if self.options.retries is not None else self.wiring.retry_attempts
        for rule, recipients in job.groups:
            action = _lambda_action(rule)
            if action is None:
                outcomes += [Outcome(r.lower(), "dropped", "no-lambda-action", detail=f"rule {rule.name}") for r in recipients]
                continue
            processing = int((time.monotonic() - job.accepted_at) * 1000)
            event = build_event(
                job.received, recipients, job.verdicts[rule.name], self.wiring.function_arn, action.invocation_type, processing
            )
            rule_reports: list[MessageReport] = []
            rule_error: BaseException | None = None
            for attempt in range(1 + max(0, retries)):
                attempts = max(attempts, attempt + 1)
                rule_reports, rule_error = self._invoke(event)
                if rule_error is None:
                    break
            reports += rule_reports
            reported = {o.recipient.lower() for r in rule_reports for o in r.outcomes}
            outcomes += [o for r in rule_reports for o in r.outcomes]
            if rule_error is not None:
                error = rule_error
                detail = f"{type(rule_error).__name__}: {rule_error}"
                outcomes += [
                    Outcome(r.lower(), "failed", "handler-error", detail=detail)
                    for r in recipients
                    if r.lower() not in reported
                ]
                self._dead_letter(event, rule_error, attempts)
        return self._summary(job, outcomes, reports, error, attempts)

    def _invoke(self, event: dict[str, Any]) -> tuple[list[MessageReport], BaseException | None]:
        assert self.wiring is not None
        context = _LambdaContext(
            function_name=self.wiring.function_name,
            invoked_function_arn=self.wiring.function_arn,
            memory_limit_in_mb=self.wiring.function_memory,
            timeout_seconds=self.wiring.function_timeout,
        )
        self.runtime.reports.clear()
        sink: TextIO = self.err if self.options.verbose else _NullWriter()
        error: BaseException | None = None
        try:
            # Metrics are printed (EMF) to stdout, which in Lambda is the log: here, stderr or nowhere.
            with contextlib.redirect_stdout(sink):
                self.app.lambda_handler(event, context)
        except Exception as exc:  # noqa: BLE001 - an invocation error, as Lambda would record it
            error = exc
        return list(self.runtime.reports), error

    def _dead_letter(self, event: dict[str, Any], error: BaseException, attempts: int) -> None:
        """What Lambda's on-failure destination gets: the event, the error, the attempts."""
        if not self._failure_queue_url:
            return
        body = {
            "version": "1.0",
            "timestamp": datetime.now(UTC).isoformat(),
            "requestContext": {
                "requestId": str(uuid.uuid4()),
                "functionArn": f"{self.wiring.function_arn}:$LATEST" if self.wiring else "",
                "condition": "RetriesExhausted",
                "approximateInvokeCount": attempts,
            },
            "requestPayload": event,
            "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
            "responsePayload": {"errorMessage": str(error), "errorType": type(error).__name__},
        }
        with contextlib.suppress(Exception):
            self.clients["sqs"].send_message(QueueUrl=self._failure_queue_url, MessageBody=json.dumps(body))

    def _maybe_reload_aliases(self) -> None:
        mtime = _mtime(self.options.aliases)
        if mtime == self._aliases_mtime:
            return
        self._aliases_mtime = mtime
        try:
            config = load_aliases_file(self.options.aliases)
            self._write_aliases(config)
        except AliasConfigError as exc:
            self._note(f"aliases not reloaded, keeping the previous ones: {exc}")
            return
        self.aliases = config
        self._note(f"aliases reloaded from {self.options.aliases} ({len(config.table.aliases)} aliases)")

    # --- output ---------------------------------------------------------------------------
    def _summary(
        self,
        job: _Job,
        outcomes: list[Outcome],
        reports: list[MessageReport],
        error: BaseException | None,
        attempts: int,
    ) -> dict[str, Any]:
        received = job.received
        if not outcomes and error is not None:
            detail = f"{type(error).__name__}: {error}"
            outcomes = [Outcome(r.lower(), "failed", "local-error", detail=detail) for r in received.recipients]
        summary: dict[str, Any] = {
            "message_id": received.message_id,
            "source": received.source,
            "recipients": list(received.recipients),
            "subject": next((r.subject for r in reports if r.subject), None),
            "size": len(received.original),
            "outcomes": [o.as_dict() for o in outcomes],
            "attempts": attempts,
            "outbox": [str(p) for p in self.sender.files_for(received.message_id)],
        }
        if any(o.status == "failed" for o in outcomes):
            summary["kept"] = job.stored_key
            with contextlib.suppress(OSError):
                summary["kept_copy"] = str(self.outbox.keep_failed(received.message_id, received.stored))
        defects = list(dict.fromkeys(d.kind for r in reports for d in r.defects))
        if defects:
            summary["defects"] = defects
        return summary

    def _emit(self, summary: dict[str, Any]) -> None:
        self.results.append(summary)
        line = json.dumps(summary) if self.options.json else format_summary(summary)
        with self._print_lock:
            self.out.write(line + "\n")
            self.out.flush()

    def _note(self, text: str) -> None:
        with self._print_lock:
            self.err.write(f"sesame local: {text}\n")
            self.err.flush()

    def banner(self) -> Iterator[str]:
        """The start-up lines: where to send, where mail goes, how to try it."""
        assert self.wiring is not None and self.aliases is not None
        w = self.wiring
        host, port = self.options.host, self.smtp_port
        yield f"sesame local: SES receiving stand-in on smtp://{host}:{port} (max {self.options.max_size} bytes)"
        yield f"  domains:  {', '.join(w.domains) or '(none)'}"
        yield f"  rules:    {w.template} (rule set {w.rule_set})"
        for rule in w.rules:
            yield f"            {rule.describe()}"
        yield f"  aliases:  {self.options.aliases} -> SSM {self.alias_path} ({len(self.aliases.table.aliases)} aliases)"
        yield f"  outbox:   {self.outbox.folder.resolve()}"
        if self.options.relay:
            yield f"  relay:    smtp://{self.options.relay[0]}:{self.options.relay[1]}"
        yield f"  AWS:      moto at {self.endpoint} (bucket {self.bucket}, fake credentials, no AWS account)"
        yield f"  try:      {self.send_command()}"
        for warning in w.warnings:
            yield f"  warning:  {warning}"
        yield "Ready: one line per message below. Ctrl-C stops."

    def send_command(self) -> str:
        python = Path(sys.executable)
        with contextlib.suppress(ValueError):
            python = python.relative_to(Path.cwd())
        command = f"{python} -m sesame.local.send --to {self.sample_recipient()}"
        if self.smtp_port != 2525:
            command += f" --port {self.smtp_port}"
        return command

    def sample_recipient(self) -> str:
        assert self.aliases is not None and self.wiring is not None
        for key, alias in self.aliases.table.aliases.items():
            if not key.startswith("@") and alias.enabled and alias.expires is None and self.wiring.route(key).rules:
                return key
        domain = self.wiring.domains[0] if self.wiring.domains else "example.com"
        return f"someone@{domain}"


def format_summary(summary: dict[str, Any]) -> str:
    """One human line: ``<id> <sender> -> <recipient> <status> (<reason>) [-> destinations]; ...``."""
    parts = []
    for o in summary["outcomes"]:
        text = f"{o['recipient']} {o['status']} ({o['reason']}"
        if o.get("detail"):
            text += f": {o['detail']}"
        text += ")"
        if o["status"] in ("forwarded", "bounced") and o.get("destinations"):
            text += " -> " + ", ".join(o["destinations"])
        parts.append(text)
    line = f"{summary['message_id']} from <{summary['source']}>: " + "; ".join(parts)
    if summary.get("kept"):
        line += f" [kept: {summary['kept']}]"
    return line


def _lambda_action(rule: ReceiptRule) -> LambdaAction | None:
    for action in rule.actions:
        if isinstance(action, StopAction):
            return None
        if isinstance(action, LambdaAction):
            return action
    return None


def _session_keys() -> dict[str, str]:
    return {"aws_access_key_id": FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"], "aws_secret_access_key": FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"]}


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


__all__ = ["LocalMode", "LocalModeError", "LocalOptions", "format_summary"]
