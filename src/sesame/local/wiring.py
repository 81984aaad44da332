"""The deployed wiring, read from ``template.yaml``: receipt rules, the two functions, their
queues and table, and how they connect.

:func:`read_wiring` turns the template into a :class:`Wiring`; its ``problems`` are the
reasons the deployed stack would not deliver mail to the forwarder (local mode refuses to
start on any, see :mod:`sesame.local.checks`), its ``warnings`` things worth knowing.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sesame import config as env_names
from sesame.local.cfn import LOCAL_ACCOUNT, Composite, Reference, Resolver, TemplateError, as_bool, load_template
from sesame.local.cfn import local_name, samconfig_parameters
from sesame.local.rule_reader import read_rules
from sesame.local.receiving.rules import NO_RULE_REPLY, ReceiptRule, Route, name_of, route

FORWARDER_ID = "HandleEmailFunction"
FORWARDER_HANDLER = "handle_email.app.lambda_handler"
DEAD_LETTER_HANDLER = "dead_letter.app.lambda_handler"
FUNCTION_TYPES = ("AWS::Serverless::Function", "AWS::Lambda::Function")
# Lambda's defaults for a function and its asynchronous invocations (Lambda developer guide:
# "Configuring Lambda function timeout", "Configuring error handling for asynchronous invocation").
DEFAULT_TIMEOUT = 3
DEFAULT_MEMORY = 128
DEFAULT_RETRY_ATTEMPTS = 2
DEFAULT_EVENT_AGE = 21600
# SQS's defaults (CreateQueue API reference): visibility timeout 30 s.
DEFAULT_VISIBILITY_TIMEOUT = 30


@dataclass(frozen=True)
class FunctionSpec:
    """One Lambda function as the template declares it."""

    logical_id: str
    name: str
    handler: str
    env_values: dict[str, Any]  # evaluated, resource references kept symbolic
    memory: int = DEFAULT_MEMORY
    timeout: int = DEFAULT_TIMEOUT
    retry_attempts: int = DEFAULT_RETRY_ATTEMPTS
    max_event_age: int = DEFAULT_EVENT_AGE
    on_failure: str | None = None  # logical id of the queue of the on-failure destination

    def arn(self, region: str) -> str:
        return f"arn:aws:lambda:{region}:{LOCAL_ACCOUNT}:function:{self.name}"


@dataclass(frozen=True)
class QueueSpec:
    logical_id: str
    name: str
    visibility_timeout: int = DEFAULT_VISIBILITY_TIMEOUT
    redrive_target: str | None = None  # logical id of the redrive policy's dead-letter queue
    max_receive_count: int | None = None


@dataclass(frozen=True)
class EventSourceSpec:
    """An ``AWS::Lambda::EventSourceMapping`` from an SQS queue to a function."""

    logical_id: str
    queue: str  # logical id
    function: str  # logical id
    batch_size: int = 10
    report_batch_item_failures: bool = False
    enabled: bool = True


@dataclass(frozen=True)
class EventRuleSpec:
    """An ``AWS::Events::Rule``: the events its pattern matches go to its SQS targets."""

    logical_id: str
    pattern: dict[str, Any]  # the EventPattern, references rendered as local names
    targets: tuple[str, ...]  # logical ids of the SQS queues among its targets
    bus: str = "default"
    enabled: bool = True


@dataclass(frozen=True)
class EventDestinationSpec:
    """An ``AWS::SES::ConfigurationSetEventDestination`` publishing to an EventBridge bus."""

    logical_id: str
    configuration_set: str  # its name
    event_types: frozenset[str]  # MatchingEventTypes, lower-cased: bounce, complaint, ...
    bus: str  # the event bus's name (SES publishes to the default bus only)
    enabled: bool


@dataclass
class Wiring:
    template: Path
    stack_name: str
    region: str
    rule_set: str
    rules: tuple[ReceiptRule, ...]  # enabled or not, in rule-set order
    forwarder: FunctionSpec
    functions: dict[str, FunctionSpec]
    queues: dict[str, QueueSpec]
    event_sources: tuple[EventSourceSpec, ...]
    domains: tuple[str, ...]
    references: dict[str, str]  # logical id -> local name
    resource_types: dict[str, str]
    resources: dict[str, Any]
    configuration_sets: tuple[str, ...] = ()
    mail_from_domains: dict[str, str] = field(default_factory=dict)  # identity -> custom MAIL FROM domain
    event_rules: tuple[EventRuleSpec, ...] = ()
    event_destinations: tuple[EventDestinationSpec, ...] = ()
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    # The forwarder, as most callers want it.
    @property
    def function_id(self) -> str:
        return self.forwarder.logical_id

    @property
    def function_name(self) -> str:
        return self.forwarder.name

    @property
    def function_arn(self) -> str:
        return self.forwarder.arn(self.region)

    @property
    def function_env(self) -> dict[str, str]:
        return {k: render_value(v, self.references) for k, v in self.forwarder.env_values.items()}

    @property
    def retry_attempts(self) -> int:
        return self.forwarder.retry_attempts

    @property
    def message_prefix(self) -> str:
        return self.function_env.get(env_names.MESSAGE_PREFIX, env_names.DEFAULT_MESSAGE_PREFIX)

    @property
    def failure_queue(self) -> str | None:
        return self.forwarder.on_failure

    @property
    def dead_letter_function(self) -> FunctionSpec | None:
        """The function the forwarder's failure queue feeds (through an event source mapping)."""
        for source in self.event_sources:
            if source.queue == self.forwarder.on_failure and source.function in self.functions:
                return self.functions[source.function]
        return None

    def event_source_of(self, queue: str) -> EventSourceSpec | None:
        """The enabled event source mapping that reads ``queue`` into a function of the template."""
        for source in self.event_sources:
            if source.queue == queue and source.function in self.functions and source.enabled:
                return source
        return None

    def route(self, address: str) -> Route:
        return route(self.rules, address)

    def render_env(self, function: FunctionSpec, names: Mapping[str, str]) -> dict[str, str]:
        """A function's environment with each resource reference replaced by ``names``."""
        return {k: render_value(v, names) for k, v in function.env_values.items()}


def render_value(value: Any, names: Mapping[str, str]) -> str:
    if isinstance(value, Reference):
        return names.get(value.resource, str(value))
    if isinstance(value, Composite):
        return "".join(names.get(p.resource, str(p)) if isinstance(p, Reference) else p for p in value.parts)
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


def read_wiring(
    template_path: str | Path,
    *,
    alias_domains: Iterable[str] = (),
    samconfig: str | Path | None = None,
    config_env: str = "default",
    region: str = "us-east-1",
    defaults: Mapping[str, str] | None = None,
) -> Wiring:
    """Read the template (and ``samconfig.toml`` next to it, when present) into a :class:`Wiring`.

    ``defaults`` gives parameters that have neither a default nor a samconfig value (local
    mode's operator address, for one). Raises :class:`TemplateError` when the template cannot be read or evaluated at all;
    wiring mistakes are collected in ``problems``.
    """
    from sesame.local.checks import check_wiring

    template_path = Path(template_path)
    template = load_template(template_path)
    if samconfig is None and (template_path.parent / "samconfig.toml").is_file():
        samconfig = template_path.parent / "samconfig.toml"
    overrides: dict[str, Any] = {}
    stack_name = "sesame-local"
    if samconfig is not None:
        overrides, configured_stack = samconfig_parameters(samconfig, config_env)
        stack_name = configured_stack or stack_name
    declared = template.get("Parameters") or {}
    alias_domains = sorted(set(alias_domains))
    if "Domains" in declared and not _has_value(overrides.get("Domains", (declared["Domains"] or {}).get("Default"))):
        overrides["Domains"] = ",".join(alias_domains)
    for name, value in (defaults or {}).items():
        if name in declared and not _has_value(overrides.get(name, (declared[name] or {}).get("Default"))):
            overrides[name] = value
    resolver = Resolver(template, overrides, region=region, stack_name=stack_name)
    view = TemplateView(resolver, stack_name, region)
    wiring = _read(template_path, view, alias_domains)
    check_wiring(wiring, view, alias_domains)
    return wiring


class TemplateView:
    """The enabled resources of an evaluated template, and the names local mode gives them."""

    def __init__(self, resolver: Resolver, stack_name: str, region: str) -> None:
        self.resolver = resolver
        self.stack_name = stack_name
        self.region = region
        self.resources = {
            lid: res for lid, res in resolver.resources.items() if isinstance(res, dict) and resolver.resource_enabled(lid)
        }
        self.types = {lid: str(res.get("Type", "")) for lid, res in self.resources.items()}
        self.problems: list[str] = []
        self.warnings: list[str] = []

    def props(self, logical_id: str) -> dict[str, Any]:
        value = self.resolver.value(self.resources[logical_id].get("Properties") or {})
        return value if isinstance(value, dict) else {}

    def of_type(self, *kinds: str) -> list[str]:
        return [lid for lid, t in self.types.items() if t in kinds]

    def local_resource_name(self, logical_id: str) -> str:
        props = self.resources[logical_id].get("Properties") or {}
        kind = self.types[logical_id]
        explicit = {
            "AWS::S3::Bucket": "BucketName",
            "AWS::SQS::Queue": "QueueName",
            "AWS::DynamoDB::Table": "TableName",
            "AWS::Serverless::Function": "FunctionName",
            "AWS::Lambda::Function": "FunctionName",
            "AWS::SES::ReceiptRuleSet": "RuleSetName",
        }.get(kind)
        if explicit and explicit in props:
            value = self.resolver.value(props[explicit])
            if isinstance(value, str):
                return value
        return local_name(logical_id, self.stack_name)

    def queue_of(self, value: Any) -> str | None:
        """The logical id of the queue a value points at, if it points at one."""
        name = name_of(value) if value is not None else None
        return name if name in self.types and self.types[name] == "AWS::SQS::Queue" else None

    def function_of(self, value: Any) -> str | None:
        name = name_of(value) if value is not None else None
        return name if name in self.types and self.types[name] in FUNCTION_TYPES else None


def _read(path: Path, view: TemplateView, alias_domains: list[str]) -> Wiring:
    names = {lid: view.local_resource_name(lid) for lid in view.resources}
    functions = {lid: _function(view, lid, names[lid]) for lid in view.of_type(*FUNCTION_TYPES)}
    forwarder_id = _forwarder(view, functions)
    forwarder = functions.get(forwarder_id or "") or FunctionSpec(
        FORWARDER_ID, local_name(FORWARDER_ID, view.stack_name), FORWARDER_HANDLER, {}
    )
    rules = read_rules(view)
    return Wiring(
        template=path,
        stack_name=view.stack_name,
        region=view.region,
        rule_set=rules[0].rule_set if rules else "",
        rules=tuple(rules),
        forwarder=forwarder,
        functions=functions,
        queues={lid: _queue(view, lid, names[lid]) for lid in view.of_type("AWS::SQS::Queue")},
        event_sources=tuple(_event_source(view, lid) for lid in view.of_type("AWS::Lambda::EventSourceMapping")),
        domains=_domains(view, alias_domains),
        references=names,
        resource_types=view.types,
        resources=view.resources,
        configuration_sets=tuple(_configuration_sets(view, names)),
        mail_from_domains=_mail_from_domains(view),
        event_rules=tuple(_event_rule(view, lid, names) for lid in view.of_type("AWS::Events::Rule")),
        event_destinations=tuple(
            d for lid in view.of_type("AWS::SES::ConfigurationSetEventDestination")
            if (d := _event_destination(view, lid, names)) is not None
        ),
    )


def _forwarder(view: TemplateView, functions: Mapping[str, FunctionSpec]) -> str | None:
    if FORWARDER_ID in functions:
        return FORWARDER_ID
    by_handler = [lid for lid, f in functions.items() if f.handler == FORWARDER_HANDLER]
    if len(by_handler) == 1:
        return by_handler[0]
    view.problems.append(
        f"no forwarder function: expected a resource {FORWARDER_ID} (or one function with Handler {FORWARDER_HANDLER})"
    )
    return None


def _function(view: TemplateView, logical_id: str, name: str) -> FunctionSpec:
    globals_ = view.resolver.value(((view.resolver.template.get("Globals") or {}).get("Function")) or {})
    props = view.props(logical_id)
    env = dict(((globals_.get("Environment") or {}).get("Variables")) or {})
    env.update(((props.get("Environment") or {}).get("Variables")) or {})
    invoke = props.get("EventInvokeConfig") or globals_.get("EventInvokeConfig") or {}
    destination = ((invoke.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination")
    dead_letter = (props.get("DeadLetterQueue") or {}).get("TargetArn")
    return FunctionSpec(
        logical_id=logical_id,
        name=name,
        handler=str(props.get("Handler") or globals_.get("Handler") or ""),
        env_values=env,
        memory=_int(props.get("MemorySize", globals_.get("MemorySize")), DEFAULT_MEMORY),
        timeout=_int(props.get("Timeout", globals_.get("Timeout")), DEFAULT_TIMEOUT),
        retry_attempts=_int(invoke.get("MaximumRetryAttempts"), DEFAULT_RETRY_ATTEMPTS),
        max_event_age=_int(invoke.get("MaximumEventAgeInSeconds"), DEFAULT_EVENT_AGE),
        on_failure=view.queue_of(destination) or view.queue_of(dead_letter),
    )


def _queue(view: TemplateView, logical_id: str, name: str) -> QueueSpec:
    props = view.props(logical_id)
    redrive = props.get("RedrivePolicy") or {}
    return QueueSpec(
        logical_id=logical_id,
        name=name,
        visibility_timeout=_int(props.get("VisibilityTimeout"), DEFAULT_VISIBILITY_TIMEOUT),
        redrive_target=view.queue_of(redrive.get("deadLetterTargetArn")) if isinstance(redrive, dict) else None,
        max_receive_count=_int(redrive.get("maxReceiveCount"), 0) or None if isinstance(redrive, dict) else None,
    )


def _event_source(view: TemplateView, logical_id: str) -> EventSourceSpec:
    props = view.props(logical_id)
    types = props.get("FunctionResponseTypes") or []
    return EventSourceSpec(
        logical_id=logical_id,
        queue=view.queue_of(props.get("EventSourceArn")) or name_of(props.get("EventSourceArn")),
        function=view.function_of(props.get("FunctionName")) or name_of(props.get("FunctionName")),
        # Lambda's default batch size for SQS is 10 (CreateEventSourceMapping API reference).
        batch_size=_int(props.get("BatchSize"), 10),
        report_batch_item_failures="ReportBatchItemFailures" in (types if isinstance(types, list) else [types]),
        enabled=as_bool(props.get("Enabled"), True),
    )


def _event_rule(view: TemplateView, logical_id: str, names: Mapping[str, str]) -> EventRuleSpec:
    props = view.props(logical_id)
    pattern = props.get("EventPattern") or {}
    if isinstance(pattern, str):  # CloudFormation takes the pattern as an object or as JSON text
        try:
            pattern = json.loads(pattern)
        except ValueError:
            view.warnings.append(f"{logical_id}: EventPattern is not JSON; the rule matches nothing here")
            pattern = {}
    targets = [t for t in props.get("Targets") or [] if isinstance(t, dict)]
    bus = props.get("EventBusName") or "default"
    return EventRuleSpec(
        logical_id=logical_id,
        pattern=_rendered(pattern, names) if isinstance(pattern, dict) else {},
        targets=tuple(q for q in (view.queue_of(t.get("Arn")) for t in targets) if q is not None),
        bus=render_value(bus, names).rpartition("/")[2] or "default",  # a name or an event bus ARN
        # State: ENABLED, DISABLED or ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS (AWS::Events::Rule).
        enabled=str(props.get("State") or "ENABLED").upper() != "DISABLED",
    )


def _event_destination(view: TemplateView, logical_id: str, names: Mapping[str, str]) -> EventDestinationSpec | None:
    """The destination if it publishes to EventBridge (the only kind local mode emulates)."""
    props = view.props(logical_id)
    destination = props.get("EventDestination") or {}
    bridge = destination.get("EventBridgeDestination") if isinstance(destination, dict) else None
    if not isinstance(bridge, dict):
        return None
    types = destination.get("MatchingEventTypes") or []
    return EventDestinationSpec(
        logical_id=logical_id,
        configuration_set=render_value(props.get("ConfigurationSetName"), names),
        # CloudFormation spells the types bounce, complaint, deliveryDelay...; the SES v2 API BOUNCE, ...
        event_types=frozenset(str(t).lower() for t in (types if isinstance(types, list) else [types])),
        bus=render_value(bridge.get("EventBusArn") or "default", names).rpartition("/")[2],
        # EventDestination.Enabled: "If true, the event destination is enabled"; absent, it is not.
        enabled=as_bool(destination.get("Enabled"), False),
    )


def _rendered(value: Any, names: Mapping[str, str]) -> Any:
    """A template value with every reference replaced by its local name."""
    if isinstance(value, dict):
        return {str(k): _rendered(v, names) for k, v in value.items()}
    if isinstance(value, list):
        return [_rendered(v, names) for v in value]
    if isinstance(value, Reference | Composite):
        return render_value(value, names)
    return value


def _configuration_sets(view: TemplateView, names: Mapping[str, str]) -> list[str]:
    out = []
    for lid in view.of_type("AWS::SES::ConfigurationSet"):
        value = view.props(lid).get("Name")
        out.append(value if isinstance(value, str) else names[lid])
    return out


def _mail_from_domains(view: TemplateView) -> dict[str, str]:
    out = {}
    for lid in view.of_type("AWS::SES::EmailIdentity"):
        props = view.props(lid)
        domain = (props.get("MailFromAttributes") or {}).get("MailFromDomain")
        if isinstance(props.get("EmailIdentity"), str) and isinstance(domain, str) and domain:
            out[props["EmailIdentity"].lower()] = domain.lower()
    return out


def _domains(view: TemplateView, alias_domains: list[str]) -> tuple[str, ...]:
    value = view.resolver.parameters.get("Domains")
    if isinstance(value, list):
        return tuple(d.strip().lower() for d in value if d.strip())
    return tuple(alias_domains)


def _has_value(value: Any) -> bool:
    if value is None:
        return False
    if isinstance(value, list):
        return any(str(v).strip() for v in value)
    return bool(str(value).strip())


def _int(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


__all__ = [
    "NO_RULE_REPLY",
    "EventDestinationSpec",
    "EventRuleSpec",
    "EventSourceSpec",
    "FunctionSpec",
    "QueueSpec",
    "Route",
    "TemplateError",
    "TemplateView",
    "Wiring",
    "read_wiring",
]
