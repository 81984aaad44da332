"""``sesame local``: the deployed stack's parts, started on one machine and wired together.

::

    SMTP client -> receiving.smtp (SES receiving's SMTP front; rules from template.yaml)
                     | receiving.service stores messages/<id> in the bucket, answers 250,
                     v invokes the forwarder asynchronously (nothing waits for it)
                   lambdas.async_invoke: HandleEmailFunction's event queue, up to
                     --concurrency execution environments (lambdas.process: a process each),
                     retries with Lambda's delays, the on-failure record to DeadLetterQueue
                     |                                   |
                     v                                   v
                   sending.server (SES v2 API)     lambdas.sqs_source: DeadLetterEventSource
                     -> outbox/*.eml, --relay        -> DeadLetterFunction (its report goes out
                     |                                  through SES too: the outbox)
                     v bounces, complaints (mailbox simulator, --feedback, relay refusals)
                   feedback: SES event publishing -> aws.eventbridge: the template's rules
                     -> FeedbackQueue -> lambdas.sqs_source: FeedbackEventSource -> FeedbackFunction
                        (SuppressionTable, which the forwarder reads before each send)
    Every function runs in execution environments of its own (lambdas.process: a process
    each, with the function's timeout, crashes and init errors as Lambda reports them).
    aws.moto_process: moto in child processes (S3; DynamoDB; SSM, SQS and the rest); every
    client the functions get comes from sesame.aws.make_client, pointed there, with aws.faults'
    hooks.
"""

from __future__ import annotations

import functools
import json
import os
import queue
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from sesame import config as env_names
from sesame.core.alias_config import AliasConfig, load_aliases_file
from sesame.core.aliases import AliasConfigError
from sesame.local.aliases import CACHE_SECONDS, AliasFile
from sesame.local.aws.clients import FAKE_CREDENTIALS, LocalAws
from sesame.local.aws.faults import FaultPlan
from sesame.local.aws.moto_process import MotoError, MotoFleet
from sesame.local.aws.resources import CreatedResources, create_resources, write_aliases
from sesame.local.aws.eventbridge import EventBus, unsupported_filters
from sesame.local.cfn import TemplateError
from sesame.local.feedback import FeedbackLoop
from sesame.local.lambdas.async_invoke import AsyncEvent, AsyncInvoker
from sesame.local.lambdas.process import ProcessContainer
from sesame.local.lambdas.records import FunctionError, describe_error
from sesame.local.lambdas.sqs_source import Batch, SqsEventSource
from sesame.local.final import FinalStates
from sesame.local.mirror import mirrored_folders
from sesame.local.receiving.event import parse_verdicts
from sesame.local.receiving.service import SesReceiving, bucket_resolver
from sesame.local.receiving.smtp import SmtpFront
from sesame.local.report import banner, describe, format_summary, send_command
from sesame.local.sending.api import SesV2Api
from sesame.local.sending.checks import Identities
from sesame.local.sending.delivery import DeliveryAgent, DeliveryEvent
from sesame.local.sending.fates import Fates, parse_feedback_marks
from sesame.local.sending.outbox import Outbox
from sesame.local.sending.server import SesServer
from sesame.local.state import StateDir
from sesame.local.tracker import MessageTracker, Tracked
from sesame.local.wiring import FunctionSpec, Wiring, read_wiring

DEFAULT_OPERATOR = "operator@sesame.localhost"
# Lambda runs as many environments as the queue needs, up to the account's unreserved
# concurrency (10 on a new account); four keep a burst of mail moving on a laptop.
DEFAULT_CONCURRENCY = 4
MAX_CONCURRENCY = 10
FEEDBACK_HANDLER = "feedback.app.lambda_handler"


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
    state_dir: Path = Path(".sesame-local")
    host: str = "127.0.0.1"
    smtp_port: int = 2525
    relay: tuple[str, int] | None = None
    max_size: int = 40 * 1024 * 1024
    verdicts: tuple[str, ...] = ()
    json: bool = False
    verbose: bool = False
    region: str = "us-east-1"
    retries: int | None = None  # None: the template's EventInvokeConfig.MaximumRetryAttempts
    faults: float = 0.0
    fault_seed: int | None = None
    sdk_retries: bool = True
    time_scale: float = 0.01  # Lambda's 1- and 2-minute retry delays become 0.6 s and 1.2 s
    operator_email: str = DEFAULT_OPERATOR
    feedback: tuple[str, ...] = ()  # --feedback KIND=ADDRESS[,...]: destinations that bounce or complain
    concurrency: int = DEFAULT_CONCURRENCY  # the forwarder's execution environments at most


@dataclass
class _Parts:
    moto: MotoFleet | None = None
    ses: SesServer | None = None
    delivery: DeliveryAgent | None = None
    containers: list[ProcessContainer] = field(default_factory=list)  # the forwarder's environments
    functions: list[ProcessContainer] = field(default_factory=list)  # the other functions' environments
    invoker: AsyncInvoker | None = None
    event_source: SqsEventSource | None = None
    feedback_sources: list[SqsEventSource] = field(default_factory=list)
    smtp: SmtpFront | None = None


class LocalStack:
    """The whole local pipeline. ``start()``, then send mail to ``smtp_port``; ``stop()``."""

    def __init__(self, options: LocalOptions, out: TextIO | None = None, err: TextIO | None = None) -> None:
        self.options = options
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self.results: list[dict[str, Any]] = []
        self.deliveries: list[DeliveryEvent] = []
        self.wiring: Wiring | None = None
        self.aliases: AliasConfig | None = None
        self.state = StateDir(options.state_dir)
        self.tracker = MessageTracker(self._finish)
        self.env: dict[str, dict[str, str]] = {}
        self.resources: CreatedResources | None = None
        self.aws: LocalAws | None = None
        self.parts = _Parts()
        self._print = threading.Lock()
        self._saved_env: dict[str, str | None] = {}
        # Final states are written up on a thread of their own: reading the index record back
        # and printing never hold up the function that just finished.
        self._finished: queue.Queue[Tracked | None] = queue.Queue()
        self._reporter: threading.Thread | None = None
        self.feedback: FeedbackLoop | None = None
        self.feedback_marks: dict[str, str] = {}

    # --- life cycle ----------------------------------------------------------------------
    @property
    def smtp_port(self) -> int:
        return self.parts.smtp.port if self.parts.smtp else self.options.smtp_port

    @property
    def forwarder_env(self) -> dict[str, str]:
        assert self.wiring is not None
        return self.env[self.wiring.function_id]

    def prepare(self) -> Wiring:
        """Read and check the aliases and the template; raises :class:`LocalModeError`."""
        opts = self.options
        try:
            self.aliases = load_aliases_file(opts.aliases)
            self.base_verdicts = parse_verdicts(opts.verdicts)
            self.plan = FaultPlan(opts.faults, opts.fault_seed)
            self.feedback_marks = parse_feedback_marks(opts.feedback)
        except (AliasConfigError, ValueError) as exc:
            raise LocalModeError(str(exc)) from None
        self.explicit_verdicts = tuple(v.partition("=")[0].strip().lower() for v in opts.verdicts)
        try:
            wiring = read_wiring(
                opts.template,
                alias_domains=self.aliases.table.domains,
                samconfig=opts.samconfig,
                config_env=opts.config_env,
                region=opts.region,
                defaults={"OperatorEmail": opts.operator_email},
            )
        except TemplateError as exc:
            raise LocalModeError(str(exc)) from None
        if wiring.problems:
            raise LocalModeError([f"{opts.template}: {p}" for p in wiring.problems])
        for rule in wiring.event_rules:
            if fields := unsupported_filters(rule.pattern):
                wiring.warnings.append(
                    f"{rule.logical_id}: content filters in {', '.join(fields)} are not emulated; the rule matches nothing here"
                )
        self.wiring = wiring
        return wiring

    def start(self) -> None:
        wiring = self.wiring or self.prepare()
        try:
            self._start(wiring)
        except BaseException:
            self.stop()
            raise

    def _start(self, wiring: Wiring) -> None:
        opts, parts = self.options, self.parts
        self.state.prepare()
        self._reporter = threading.Thread(target=self._report, name="sesame-local-report", daemon=True)
        self._reporter.start()
        parts.moto = MotoFleet(opts.host, log=self.state.moto_log)
        try:
            moto_endpoints = parts.moto.start()
        except MotoError as exc:
            raise LocalModeError(str(exc)) from None
        self.outbox = Outbox(opts.outbox)
        self.outbox.prepare()
        parts.delivery = DeliveryAgent(
            self.outbox,
            region=wiring.region,
            relay_to=opts.relay,
            mail_from_domains=wiring.mail_from_domains,
            events=self._delivery_event,
            log=self.state.deliveries_log,
            retry_delays=(60 * opts.time_scale, 300 * opts.time_scale),
            fates=Fates(self.feedback_marks),
            feedback=self._publish_feedback,
        )
        parts.delivery.start()
        api = SesV2Api(Identities.of(wiring.domains, wiring.region), parts.delivery.accept, wiring.configuration_sets)
        parts.ses = SesServer(api, opts.host)
        parts.ses.start()
        self.endpoints = {**moto_endpoints, "sesv2": parts.ses.endpoint}
        self.aws = aws = LocalAws(wiring.region, self.endpoints, sdk_retries=opts.sdk_retries)
        self._set_environment(moto_endpoints, wiring.region)
        self.resources = create_resources(wiring, aws, time_scale=opts.time_scale)
        self.env = {lid: wiring.render_env(spec, self.resources.names) for lid, spec in wiring.functions.items()}
        self.mirror_folders = mirrored_folders(self.state, self.env.values())  # {prefix: folder}
        assert self.aliases is not None
        write_aliases(aws.admin("ssm"), self.aliases, self.alias_path)
        self.final = FinalStates(
            wiring, self.env, self.state, parts.delivery, self._get, opts.operator_email
        )
        self._start_forwarder(wiring)
        self._start_dead_letter(wiring)
        self._start_feedback(wiring)
        self.receiving = receiving = SesReceiving(
            wiring,
            region=wiring.region,
            s3=aws.admin("s3"),
            bucket_of=bucket_resolver(self.resources.names),
            function_arn=wiring.function_arn,
            invoke=parts.invoker.invoke,  # type: ignore[union-attr]
            verdicts=self.base_verdicts,
            explicit_verdicts=self.explicit_verdicts,
            on_accepted=self.tracker.add,
            note=self._note,
        )
        parts.smtp = SmtpFront(
            check_recipient=receiving.check_recipient,
            accept=receiving.accept,
            host=opts.host,
            port=opts.smtp_port,
            max_size=opts.max_size,
            hostname=f"inbound-smtp.{wiring.region}.amazonaws.com",
        )
        try:
            parts.smtp.start()
        except OSError as exc:
            parts.smtp = None
            raise LocalModeError(f"cannot listen on {opts.host}:{opts.smtp_port}: {exc.strerror or exc}") from None
        self.state.write_endpoints(self.describe())

    def stop(self) -> None:
        parts = self.parts
        if parts.smtp is not None:
            parts.smtp.stop()
        if parts.invoker is not None:
            parts.invoker.stop()
        sources = [s for s in (parts.event_source, *parts.feedback_sources) if s is not None]
        for source in sources:  # each may be in a receive's long poll: let them all end it at once
            source.request_stop()
        for source in sources:
            source.stop()
        for function in parts.functions:
            function.stop()
        for container in parts.containers:
            container.stop()
        if self._reporter is not None:
            self._finished.put(None)
            self._reporter.join()
            self._reporter = None
        if parts.delivery is not None:
            parts.delivery.stop()
        if parts.ses is not None:
            parts.ses.stop()
        if parts.moto is not None:
            parts.moto.stop()
        self.parts = _Parts()
        self.state.remove_endpoints()
        for name, value in self._saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved_env = {}

    def __enter__(self) -> LocalStack:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def failure(self) -> str | None:
        """Why local mode can no longer work (a part it needs has ended), or None."""
        moto = self.parts.moto
        ended = moto.failure() if moto is not None else None
        if ended is not None:
            child, code = ended
            return f"the moto server (pid {child.pid}) exited with status {code}; see {self.state.moto_log}"
        return None

    def wait_idle(self, timeout: float = 60.0) -> bool:
        """Wait until every accepted message has its final outcome, and every bounce or
        complaint published for its sends has been handled by the feedback function."""
        return self.tracker.wait_idle(timeout) and (self.feedback is None or self.feedback.wait_idle(timeout))

    def _set_environment(self, endpoints: dict[str, str], region: str) -> None:
        """A safety net: a client anything builds on its own talks to moto, with fake keys
        (botocore reads ``AWS_ENDPOINT_URL`` and the service-specific ``AWS_ENDPOINT_URL_<SERVICE>``)."""
        specific = {f"AWS_ENDPOINT_URL_{s.upper()}": url for s, url in endpoints.items() if s != "default"}
        for name, value in {
            "AWS_ACCESS_KEY_ID": FAKE_CREDENTIALS["aws_access_key_id"],
            "AWS_SECRET_ACCESS_KEY": FAKE_CREDENTIALS["aws_secret_access_key"],
            "AWS_ENDPOINT_URL": endpoints["default"],
            **specific,
            "AWS_DEFAULT_REGION": region,
            "AWS_SESSION_TOKEN": None,
            "AWS_PROFILE": None,
        }.items():
            self._saved_env.setdefault(name, os.environ.get(name))
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value

    # --- the functions -------------------------------------------------------------------
    @property
    def alias_path(self) -> str:
        assert self.wiring is not None
        value = self.wiring.function_env.get(env_names.ALIAS_PATH)
        return value or env_names.DEFAULT_ALIAS_PATH

    def _environment(self, spec: FunctionSpec, runtime: str, slot: int) -> ProcessContainer:
        """The one execution environment of a function an SQS event source feeds. It starts on
        the first batch (a cold start, as Lambda's); a batch that runs past the function's
        timeout, or a process that dies, fails as Lambda fails it, and the next batch starts a
        new environment. ``slot`` numbers it among all environments (each draws its own faults)."""
        assert self.wiring is not None
        container = ProcessContainer(
            spec,
            self.wiring.region,
            lambda: self._container_settings(spec, runtime, slot),
            logs=self.err if self.options.verbose else None,
            log_lock=self._print,
        )
        self.parts.functions.append(container)
        return container

    def _start_forwarder(self, wiring: Wiring) -> None:
        """HandleEmailFunction: its execution environments (processes, started as a burst
        needs them; the first one now) behind its asynchronous event queue."""
        assert self.aws is not None and self.aliases is not None and self.wiring is not None
        spec = wiring.forwarder
        self.alias_file = AliasFile(
            self.options.aliases,
            self.aliases,
            ssm_admin=self.aws.admin("ssm"),
            alias_path=self.alias_path,
            note=self._note,
        )
        logs = self.err if self.options.verbose else None
        containers = [
            ProcessContainer(
                spec,
                wiring.region,
                lambda slot=slot: self._container_settings(spec, "forwarder", slot),
                logs=logs,
                log_lock=self._print,
                generation=self.alias_file.generation,
            )
            for slot in range(max(1, min(MAX_CONCURRENCY, self.options.concurrency)))
        ]
        self.parts.containers.extend(containers)
        try:
            containers[0].start()
        except FunctionError as exc:
            raise LocalModeError(f"{spec.logical_id} failed its init phase: {describe_error(exc)}") from None
        retries = self.options.retries if self.options.retries is not None else spec.retry_attempts
        self.parts.invoker = AsyncInvoker(
            containers,
            retry_attempts=retries,
            time_scale=self.options.time_scale,
            on_failure=self._to_failure_destination if spec.on_failure else None,
            on_attempt=lambda item: self.tracker.attempted(_message_id(item.event)),
            on_done=self._forwarder_done,
        )
        self.parts.invoker.start()

    def _container_settings(self, spec: FunctionSpec, runtime: str, slot: int) -> dict[str, Any]:
        """What execution environment ``slot`` of ``spec`` is started with
        (:mod:`sesame.local.lambdas.container`)."""
        assert self.wiring is not None
        opts, env = self.options, self.env[spec.logical_id]
        faults = None
        if opts.faults > 0:
            plan = self.plan
            # Each environment draws its own faults; a seeded run gives environment n the seed + n.
            seed = None if plan.seed is None else plan.seed + slot
            faults = {"rate": plan.rate, "seed": seed, "kinds": list(plan.kinds), "log": str(self.state.faults_log)}
        level = (env.get("POWERTOOLS_LOG_LEVEL") or "INFO") if opts.verbose else "WARNING"
        return {
            "runtime": runtime,
            "function": {"logical_id": spec.logical_id, "name": spec.name, "handler": spec.handler,
                         "memory": spec.memory, "timeout": spec.timeout, "arn": spec.arn(self.wiring.region)},
            "region": self.wiring.region,
            "env": env,
            "endpoints": self.endpoints,
            "sdk_retries": opts.sdk_retries,
            "log_level": level,
            "state_dir": str(self.state.root),
            "mirror": {prefix: str(folder) for prefix, folder in self.mirror_folders.items()},
            "aliases": {"path": self.alias_path, "cache_seconds": CACHE_SECONDS},
            "faults": faults,
        }

    def _start_dead_letter(self, wiring: Wiring) -> None:
        spec = wiring.dead_letter_function
        if spec is None or wiring.failure_queue is None or self.resources is None or self.aws is None:
            return
        function = self._environment(spec, "dead_letter", MAX_CONCURRENCY)
        source = next(s for s in wiring.event_sources if s.queue == wiring.failure_queue)
        self.parts.event_source = SqsEventSource(
            source,
            function,
            self.aws.admin("sqs"),
            queue_url=self.resources.queue_urls[wiring.failure_queue],
            queue_arn=self.resources.queue_arns[wiring.failure_queue],
            region=wiring.region,
            on_batch=self._dead_letter_batch,
        )
        self.parts.event_source.start()

    def _start_feedback(self, wiring: Wiring) -> None:
        """SES's events to the default bus, its rules to their queues, and the functions the
        queues' event source mappings feed (FeedbackFunction in the template)."""
        assert self.resources is not None and self.aws is not None
        resources, sqs = self.resources, self.aws.admin("sqs")

        def send(queue_id: str, body: str) -> None:
            sqs.send_message(QueueUrl=resources.queue_urls[queue_id], MessageBody=body)

        bus = EventBus(wiring.event_rules, send)
        sources = [(q, s) for q in bus.targets if (s := wiring.event_source_of(q)) is not None]
        runnable = [(q, s) for q, s in sources if wiring.functions[s.function].handler == FEEDBACK_HANDLER]
        for queue_id, source in sources:
            if (queue_id, source) not in runnable:
                self.wiring.warnings.append(  # type: ignore[union-attr]
                    f"{source.function} reads {queue_id}, but local mode runs only {FEEDBACK_HANDLER} on SES's events"
                )
        self.feedback = FeedbackLoop(wiring, bus, note=self._note, read_by=frozenset(q for q, _ in runnable))
        for n, (queue_id, source) in enumerate(runnable):
            spec = wiring.functions[source.function]
            function = self._environment(spec, "feedback", MAX_CONCURRENCY + 1 + n)
            spec_queue = wiring.queues.get(queue_id)
            limit = spec_queue.max_receive_count if spec_queue is not None else None
            event_source = SqsEventSource(
                source,
                function,
                sqs,
                queue_url=resources.queue_urls[queue_id],
                queue_arn=resources.queue_arns[queue_id],
                region=wiring.region,
                on_batch=functools.partial(self._feedback_batch, function.name, limit),
            )
            event_source.start()
            self.parts.feedback_sources.append(event_source)

    def _publish_feedback(self, message: Any, destination: str, fate: Any) -> None:
        if self.feedback is not None:
            self.feedback.publish(message, destination, fate)

    def _to_failure_destination(self, record: dict[str, Any]) -> None:
        assert self.wiring is not None and self.resources is not None and self.aws is not None
        queue = self.resources.queue_urls[self.wiring.failure_queue]  # type: ignore[index]
        try:
            self.aws.admin("sqs").send_message(QueueUrl=queue, MessageBody=json.dumps(record))
        except Exception as exc:  # noqa: BLE001 - Lambda counts DestinationDeliveryFailures; say it loudly
            self._note(f"could not put the failed event on {self.wiring.failure_queue}: {exc}")

    def _forwarder_done(self, item: AsyncEvent, succeeded: bool) -> None:
        error = None
        if not succeeded and item.last is not None and item.last.error is not None:
            error = describe_error(item.last.error)
        report_expected = not succeeded and self.parts.event_source is not None
        self.tracker.invocation_done(_message_id(item.event), error=error, report_expected=report_expected)

    def _batch_failed(self, function: str, batch: Batch) -> None:
        """Says so when a function failed a whole batch (its error, a timeout, a crash, an init
        error): SQS hands the records over again after the visibility timeout."""
        error = batch.invocation.error
        if error is not None:
            self._note(f"{function} failed on a batch of {len(batch.records)} record(s): {describe_error(error)}; "
                       "SQS hands them over again after the queue's visibility timeout")

    def _feedback_batch(self, function: str, max_receive_count: int | None, batch: Batch) -> None:
        assert self.feedback is not None
        self._batch_failed(function, batch)
        self.feedback.batch_done(batch, max_receive_count)

    def _dead_letter_batch(self, batch: Batch) -> None:
        assert self.wiring is not None and self.wiring.dead_letter_function is not None
        self._batch_failed(self.wiring.dead_letter_function.name, batch)
        queue = self.wiring.queues.get(self.wiring.failure_queue or "")
        limit = queue.max_receive_count if queue is not None else None
        for record in batch.records:
            ids = _dead_lettered_ids(record["body"])
            failed = record["messageId"] in batch.failed
            receives = int(record["attributes"].get("ApproximateReceiveCount", "1"))
            for message_id in ids:
                if not failed:
                    self.tracker.report_done(message_id, reported=True)
                elif limit is not None and receives >= limit:
                    self.tracker.report_done(message_id, reported=False)

    # --- final states and output ---------------------------------------------------------
    def _finish(self, tracked: Tracked) -> None:
        self._finished.put(tracked)

    def _report(self) -> None:
        while (tracked := self._finished.get()) is not None:
            try:
                summary = self.final.summarize(tracked)
            except Exception as exc:  # noqa: BLE001 - local mode's own failure: say so, keep going
                summary = {"message_id": tracked.message_id, "source": tracked.accepted.received.source,
                           "outcomes": [], "error": f"local mode could not read the outcome: {exc}"}
            self.results.append(summary)
            line = json.dumps(summary) if self.options.json else format_summary(summary)
            with self._print:
                self.out.write(line + "\n")
                self.out.flush()
            self.tracker.closed(tracked)

    def _get(self, bucket: str, key: str) -> bytes | None:
        assert self.aws is not None
        s3 = self.aws.admin("s3")
        try:
            response = s3.get_object(Bucket=bucket, Key=key)
        except s3.exceptions.NoSuchKey:
            return None
        with response["Body"] as body:
            return body.read()

    def _delivery_event(self, event: DeliveryEvent) -> None:
        self.deliveries.append(event)
        if event.event_type == "Bounce":
            self._note(
                f"{event.message}: {event.destination} bounced ({event.bounce_type}): {event.smtp_response}"
            )

    def _note(self, text: str) -> None:
        with self._print:
            self.err.write(f"sesame local: {text}\n")
            self.err.flush()

    # --- what other commands and people need to know --------------------------------------
    def describe(self) -> dict[str, Any]:
        """``endpoints.json``: the running stack, for ``sesame status --local`` and friends."""
        return describe(self)

    def banner(self) -> list[str]:
        return banner(self)

    def send_command(self) -> str:
        return send_command(self)


def _message_id(event: dict[str, Any]) -> str:
    return str(event["Records"][0]["ses"]["mail"]["messageId"])


def _dead_lettered_ids(body: str) -> list[str]:
    """The SES message ids in an on-failure record's ``requestPayload``."""
    try:
        data = json.loads(body)
        records = (data.get("requestPayload") or data).get("Records") or []
        return [str(r["ses"]["mail"]["messageId"]) for r in records]
    except (ValueError, AttributeError, KeyError, TypeError):
        return []


__all__ = ["LocalModeError", "LocalOptions", "LocalStack"]
