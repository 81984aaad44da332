"""The receipt wiring of ``template.yaml``: which rules SES applies, in what order, and whether
they deliver to the forwarder the way the forwarder expects.

:func:`read_wiring` turns the template into a :class:`Wiring`; its ``problems`` are the
reasons the deployed stack would not deliver mail to the forwarder (local mode refuses to
start on any), its ``warnings`` things worth knowing. :meth:`Wiring.route` applies the rules
to one recipient the way SES does.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sesame import config as env_names
from sesame.local.cfn import Composite, Opaque, Reference, Resolver, TemplateError, load_template, samconfig_parameters

FORWARDER_ID = "HandleEmailFunction"
FORWARDER_HANDLER = "handle_email.app.lambda_handler"
MAX_RULE_RECIPIENTS = 100
MAX_RULE_ACTIONS = 10
# What SES answers for a recipient no rule of the active rule set covers.
NO_RULE_REPLY = "550 5.1.1 Requested action not taken: mailbox unavailable"


@dataclass(frozen=True)
class S3Action:
    bucket: Any
    prefix: str
    kms_key: Any = None


@dataclass(frozen=True)
class LambdaAction:
    function: Any
    invocation_type: str = "Event"


@dataclass(frozen=True)
class BounceAction:
    smtp_reply_code: str
    status_code: str
    message: str
    sender: Any

    @property
    def reply(self) -> str:
        return f"{self.smtp_reply_code} {self.status_code} {self.message}".replace("  ", " ").strip()


@dataclass(frozen=True)
class StopAction:
    scope: str = "RuleSet"


@dataclass(frozen=True)
class AddHeaderAction:
    name: str
    value: str


@dataclass(frozen=True)
class OtherAction:
    kind: str


Action = S3Action | LambdaAction | BounceAction | StopAction | AddHeaderAction | OtherAction


@dataclass(frozen=True)
class ReceiptRule:
    logical_id: str
    name: str
    rule_set: str
    after: str | None
    enabled: bool
    recipients: tuple[str, ...]
    tls_policy: str
    scan_enabled: bool
    actions: tuple[Action, ...]

    def matches(self, address: str) -> bool:
        """SES's matching: ``example.com`` = any address at that domain (not subdomains),
        ``.example.com`` = any subdomain, ``user@example.com`` = that address; none = all."""
        if not self.recipients:
            return True
        address = address.strip().strip("<>").lower()
        domain = address.rpartition("@")[2]
        for recipient in self.recipients:
            r = recipient.strip().lower()
            if "@" in r:
                if address == r:
                    return True
            elif r.startswith("."):
                if domain.endswith(r) and len(domain) > len(r):
                    return True
            elif domain == r:
                return True
        return False

    def describe(self) -> str:
        names = []
        for action in self.actions:
            if isinstance(action, S3Action):
                names.append(f"S3 {action.prefix or '(no prefix)'}")
            elif isinstance(action, LambdaAction):
                names.append(f"Lambda {_name_of(action.function)}")
            elif isinstance(action, BounceAction):
                names.append(f"bounce {action.smtp_reply_code} {action.status_code}")
            elif isinstance(action, StopAction):
                names.append("stop")
            elif isinstance(action, AddHeaderAction):
                names.append(f"add {action.name}")
            else:
                names.append(action.kind)
        recipients = ", ".join(self.recipients) if self.recipients else "all recipients"
        state = "" if self.enabled else " [disabled]"
        return f"{self.name}{state} ({recipients}): {' -> '.join(names)}"


@dataclass(frozen=True)
class Route:
    """What the rule set does with one recipient: refuse it, or the rules that apply."""

    rules: tuple[ReceiptRule, ...] = ()
    refusal: str | None = None


@dataclass
class Wiring:
    template: Path
    stack_name: str
    region: str
    rule_set: str
    rules: tuple[ReceiptRule, ...]  # enabled or not, in rule-set order
    function_id: str
    function_name: str
    function_env: dict[str, str]
    function_memory: int
    function_timeout: int
    retry_attempts: int
    domains: tuple[str, ...]
    references: dict[str, str]  # logical id -> local name, for what the environment names
    resource_types: dict[str, str]
    resources: dict[str, Any]
    failure_queue: str | None  # logical id of the on-failure / dead-letter queue
    env_values: dict[str, Any] = field(default_factory=dict)  # evaluated, references kept
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def message_prefix(self) -> str:
        return self.function_env.get(env_names.MESSAGE_PREFIX, env_names.DEFAULT_MESSAGE_PREFIX)

    @property
    def function_arn(self) -> str:
        return f"arn:aws:lambda:{self.region}:123456789012:function:{self.function_name}"

    def route(self, address: str) -> Route:
        matched: list[ReceiptRule] = []
        for rule in self.rules:
            if not rule.enabled or not rule.matches(address):
                continue
            stop = False
            for action in rule.actions:
                if isinstance(action, BounceAction) and not matched:
                    return Route(refusal=action.reply)
                if isinstance(action, StopAction):
                    stop = True
                    break
            matched.append(rule)
            if stop:
                break
        if not matched:
            return Route(refusal=NO_RULE_REPLY)
        return Route(rules=tuple(matched))

    def render_env(self, names: Mapping[str, str]) -> dict[str, str]:
        """The forwarder's environment with each resource reference replaced by ``names``."""
        return {k: render_value(v, names) for k, v in self.env_values.items()}


def render_value(value: Any, names: Mapping[str, str]) -> str:
    if isinstance(value, Reference):
        return names.get(value.resource, str(value))
    if isinstance(value, Composite):
        return "".join(names.get(p.resource, str(p)) if isinstance(p, Reference) else p for p in value.parts)
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


def local_name(logical_id: str, stack_name: str) -> str:
    """A name for a resource CloudFormation would name: lower case, bucket-safe."""
    return f"{stack_name}-{logical_id}".lower()[:63]


def read_wiring(
    template_path: str | Path,
    *,
    alias_domains: Iterable[str] = (),
    samconfig: str | Path | None = None,
    config_env: str = "default",
    region: str = "us-east-1",
) -> Wiring:
    """Read the template (and ``samconfig.toml`` next to it, when present) into a :class:`Wiring`.

    Raises :class:`TemplateError` when the template cannot be read or evaluated at all;
    wiring mistakes are collected in ``problems``.
    """
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
    resolver = Resolver(template, overrides, region=region, stack_name=stack_name)
    return _Reader(template_path, resolver, stack_name, region, alias_domains).read()


def _has_value(value: Any) -> bool:
    if value is None:
        return False
    if isinstance(value, list):
        return any(str(v).strip() for v in value)
    return bool(str(value).strip())


def _name_of(value: Any) -> str:
    if isinstance(value, Reference):
        return value.resource
    if isinstance(value, Composite) and value.references:
        return value.references[0].resource
    return str(value)


class _Reader:
    def __init__(self, path: Path, resolver: Resolver, stack_name: str, region: str, alias_domains: list[str]):
        self.path = path
        self.resolver = resolver
        self.stack_name = stack_name
        self.region = region
        self.alias_domains = alias_domains
        self.problems: list[str] = []
        self.warnings: list[str] = []
        self.resources = {
            lid: res for lid, res in resolver.resources.items() if isinstance(res, dict) and resolver.resource_enabled(lid)
        }
        self.types = {lid: str(res.get("Type", "")) for lid, res in self.resources.items()}

    def props(self, logical_id: str) -> dict[str, Any]:
        value = self.resolver.value(self.resources[logical_id].get("Properties") or {})
        return value if isinstance(value, dict) else {}

    # -- the whole thing
    def read(self) -> Wiring:
        function_id = self._forwarder()
        env, memory, timeout, retries, failure_queue = self._function(function_id) if function_id else ({}, 512, 120, 2, None)
        rules = self._rules()
        names = {lid: self._local_resource_name(lid) for lid in self.resources}
        domains = self._domains()
        wiring = Wiring(
            template=self.path,
            stack_name=self.stack_name,
            region=self.region,
            rule_set=rules[0].rule_set if rules else "",
            rules=tuple(rules),
            function_id=function_id or FORWARDER_ID,
            function_name=names.get(function_id or "", local_name(FORWARDER_ID, self.stack_name)),
            function_env={k: render_value(v, names) for k, v in env.items()},
            function_memory=memory,
            function_timeout=timeout,
            retry_attempts=retries,
            domains=domains,
            references=names,
            resource_types=self.types,
            resources=self.resources,
            failure_queue=failure_queue,
            env_values=dict(env),
        )
        if function_id:
            self._check(wiring, env)
        wiring.problems, wiring.warnings = self.problems, self.warnings
        return wiring

    # -- the forwarder function
    def _forwarder(self) -> str | None:
        functions = [lid for lid, t in self.types.items() if t in ("AWS::Serverless::Function", "AWS::Lambda::Function")]
        if FORWARDER_ID in functions:
            return FORWARDER_ID
        by_handler = [lid for lid in functions if self.resources[lid].get("Properties", {}).get("Handler") == FORWARDER_HANDLER]
        if len(by_handler) == 1:
            return by_handler[0]
        self.problems.append(
            f"no forwarder function: expected a resource {FORWARDER_ID} (or one function with Handler {FORWARDER_HANDLER})"
        )
        return None

    def _function(self, logical_id: str) -> tuple[dict[str, Any], int, int, int, str | None]:
        globals_ = self.resolver.value(((self.resolver.template.get("Globals") or {}).get("Function")) or {})
        props = self.props(logical_id)
        env = dict(((globals_.get("Environment") or {}).get("Variables")) or {})
        env.update(((props.get("Environment") or {}).get("Variables")) or {})
        memory = _int(props.get("MemorySize", globals_.get("MemorySize")), 128)
        timeout = _int(props.get("Timeout", globals_.get("Timeout")), 3)
        invoke = props.get("EventInvokeConfig") or globals_.get("EventInvokeConfig") or {}
        retries = _int(invoke.get("MaximumRetryAttempts"), 2)
        queue = None
        destination = ((invoke.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination")
        dead_letter = (props.get("DeadLetterQueue") or {}).get("TargetArn")
        for target in (destination, dead_letter):
            name = _name_of(target) if target is not None else None
            if name in self.types and self.types[name] == "AWS::SQS::Queue":
                queue = name
        return env, memory, timeout, retries, queue

    def _local_resource_name(self, logical_id: str) -> str:
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

    # -- the rules
    def _rules(self) -> list[ReceiptRule]:
        rules: list[ReceiptRule] = []
        for lid, kind in self.types.items():
            if kind != "AWS::SES::ReceiptRule":
                continue
            props = self.props(lid)
            rule = props.get("Rule") or {}
            name = rule.get("Name")
            name = str(name) if isinstance(name, (str, Composite)) else local_name(lid, self.stack_name)
            recipients_value = rule.get("Recipients") or []
            if isinstance(recipients_value, (str, Reference, Composite, Opaque)):
                recipients_value = [recipients_value]
            recipients: list[str] = []
            for r in recipients_value:
                if not isinstance(r, str):
                    self.problems.append(f"rule {name}: recipient {r} cannot be resolved locally")
                elif r.strip():
                    recipients.append(r.strip())
                else:
                    self.problems.append(f"rule {name}: an empty recipient (is the Domains parameter empty?)")
            rules.append(
                ReceiptRule(
                    logical_id=lid,
                    name=name,
                    rule_set=str(self._rule_set_name(props.get("RuleSetName"))),
                    after=self._after_name(props.get("After")),
                    enabled=_bool(rule.get("Enabled"), False),
                    recipients=tuple(recipients),
                    tls_policy=str(rule.get("TlsPolicy") or "Optional"),
                    scan_enabled=_bool(rule.get("ScanEnabled"), False),
                    actions=tuple(self._action(name, a) for a in rule.get("Actions") or []),
                )
            )
        if not rules:
            self.problems.append("no AWS::SES::ReceiptRule: SES would accept no mail for the forwarder")
            return []
        sets = sorted({r.rule_set for r in rules})
        if len(sets) > 1:
            self.problems.append(f"receipt rules belong to several rule sets ({', '.join(sets)}); one is active at a time")
        return self._order(rules)

    def _rule_set_name(self, value: Any) -> str:
        if isinstance(value, Reference) and self.types.get(value.resource) == "AWS::SES::ReceiptRuleSet":
            return self._local_resource_name(value.resource)
        return str(value)

    def _after_name(self, value: Any) -> str | None:
        if value is None or value == "":
            return None
        if isinstance(value, Reference) and self.types.get(value.resource) == "AWS::SES::ReceiptRule":
            rule = self.props(value.resource).get("Rule") or {}
            name = rule.get("Name")
            return str(name) if isinstance(name, (str, Composite)) else local_name(value.resource, self.stack_name)
        return str(value)

    def _action(self, rule: str, raw: Any) -> Action:
        if not isinstance(raw, dict) or len(raw) != 1:
            self.problems.append(f"rule {rule}: an action must have exactly one kind, not {raw!r}")
            return OtherAction("invalid")
        (kind, body), = raw.items()
        body = body or {}
        if kind == "S3Action":
            return S3Action(body.get("BucketName"), str(body.get("ObjectKeyPrefix") or ""), body.get("KmsKeyArn"))
        if kind == "LambdaAction":
            return LambdaAction(body.get("FunctionArn"), str(body.get("InvocationType") or "Event"))
        if kind == "BounceAction":
            missing = [k for k in ("SmtpReplyCode", "Message", "Sender") if not body.get(k)]
            if missing:
                self.problems.append(f"rule {rule}: BounceAction lacks {', '.join(missing)}")
            return BounceAction(
                str(body.get("SmtpReplyCode") or "550"),
                str(body.get("StatusCode") or ""),
                str(body.get("Message") or ""),
                body.get("Sender"),
            )
        if kind == "StopAction":
            return StopAction(str(body.get("Scope") or "RuleSet"))
        if kind == "AddHeaderAction":
            return AddHeaderAction(str(body.get("HeaderName")), str(body.get("HeaderValue")))
        return OtherAction(kind)

    def _order(self, rules: list[ReceiptRule]) -> list[ReceiptRule]:
        by_name = {r.name: r for r in rules}
        for rule in rules:
            if rule.after is not None and rule.after not in by_name:
                self.problems.append(f"rule {rule.name}: After {rule.after!r} names no rule of this template")
        roots = [r for r in rules if r.after is None or r.after not in by_name]
        if len(roots) > 1:
            self.warnings.append(
                "rules " + ", ".join(r.name for r in roots) + " have no After: their order in the rule set is "
                "not defined; local mode takes template order"
            )
        ordered: list[ReceiptRule] = []
        seen: set[str] = set()

        def visit(rule: ReceiptRule) -> None:
            seen.add(rule.name)
            ordered.append(rule)
            followers = [r for r in rules if r.after == rule.name]
            if len(followers) > 1:
                self.warnings.append(
                    f"rules {', '.join(f.name for f in followers)} all come After {rule.name}: their order is not defined"
                )
            for follower in followers:
                if follower.name not in seen:
                    visit(follower)

        for root in roots:
            visit(root)
        for rule in rules:
            if rule.name not in seen:
                self.problems.append(f"rule {rule.name}: its After chain is a cycle")
        return ordered

    def _domains(self) -> tuple[str, ...]:
        value = self.resolver.parameters.get("Domains")
        if isinstance(value, list):
            return tuple(d.strip().lower() for d in value if d.strip())
        return tuple(self.alias_domains)

    # -- the checks
    def _check(self, wiring: Wiring, env: Mapping[str, Any]) -> None:
        fid = wiring.function_id
        prefix = wiring.message_prefix
        bucket = env.get(env_names.BUCKET)
        if bucket is None:
            self.problems.append(f"{fid}: no {env_names.BUCKET} environment variable (the bucket SES stores mail in)")
        forwarding = []
        for rule in wiring.rules:
            if len(rule.recipients) > MAX_RULE_RECIPIENTS:
                self.problems.append(f"rule {rule.name}: {len(rule.recipients)} recipients; SES allows {MAX_RULE_RECIPIENTS}")
            if len(rule.actions) > MAX_RULE_ACTIONS:
                self.problems.append(f"rule {rule.name}: {len(rule.actions)} actions; SES allows {MAX_RULE_ACTIONS}")
            if not rule.enabled:
                continue
            stored: S3Action | None = None
            stopped = False
            for position, action in enumerate(rule.actions, 1):
                if isinstance(action, StopAction):
                    stopped = True
                elif isinstance(action, S3Action):
                    if stored is None:
                        stored = action
                elif isinstance(action, LambdaAction):
                    target = action.function
                    if not self._is_forwarder(target, fid):
                        self.problems.append(
                            f"rule {rule.name}: the Lambda action (action {position}) invokes {_name_of(target)}, not {fid}"
                        )
                        continue
                    if isinstance(target, Reference) and target.attribute is None:
                        self.problems.append(
                            f"rule {rule.name}: FunctionArn is !Ref {target.resource} (a name); SES needs "
                            f"the ARN: !GetAtt {target.resource}.Arn"
                        )
                    forwarding.append(rule)
                    if stopped:
                        self.problems.append(f"rule {rule.name}: the Lambda action comes after a Stop action and never runs")
                    if action.invocation_type not in ("Event", "RequestResponse"):
                        self.problems.append(
                            f"rule {rule.name}: InvocationType {action.invocation_type!r} is not Event or RequestResponse"
                        )
                    elif action.invocation_type == "RequestResponse":
                        self.warnings.append(
                            f"rule {rule.name}: RequestResponse gives the forwarder 30 seconds and no retries; use Event"
                        )
                    if stored is None:
                        later = next((i for i, a in enumerate(rule.actions, 1) if isinstance(a, S3Action)), None)
                        if later is not None:
                            self.problems.append(
                                f"rule {rule.name}: the Lambda action (action {position}) runs before the S3 action "
                                f"(action {later}): the forwarder would look for a message not stored yet"
                            )
                        else:
                            self.problems.append(
                                f"rule {rule.name}: no S3 action stores the message before the Lambda action; "
                                f"the forwarder reads it from the bucket"
                            )
                        continue
                    if stored.prefix != prefix:
                        self.problems.append(
                            f"rule {rule.name}: the S3 action stores under {stored.prefix!r} but {fid} reads "
                            f"{env_names.MESSAGE_PREFIX}={prefix!r}"
                        )
                    if bucket is not None and not _same(stored.bucket, bucket):
                        self.problems.append(
                            f"rule {rule.name}: the S3 action writes to bucket {_name_of(stored.bucket)} but {fid} "
                            f"reads {env_names.BUCKET}={_name_of(bucket)}"
                        )
                    self._check_bucket_policy(rule, stored)
                    self._check_permission(rule, fid)
        if wiring.rules and not forwarding:
            self.problems.append(f"no enabled receipt rule invokes {fid}: SES would never hand it any mail")
        covered = [d for d in self.alias_domains if any(r.enabled and r.matches(f"x@{d}") for r in forwarding)]
        uncovered = sorted(set(self.alias_domains) - set(covered))
        if forwarding and uncovered:
            self.warnings.append(f"aliases for {', '.join(uncovered)}, but no forwarding rule receives that domain")

    def _is_forwarder(self, target: Any, fid: str) -> bool:
        names = [target.resource] if isinstance(target, Reference) else []
        if isinstance(target, Composite):
            names = [r.resource for r in target.references]
        if isinstance(target, str):
            return target.rsplit(":", 1)[-1] == self._local_resource_name(fid) or target.endswith(f":function:{fid}")
        return any(n == fid or n.startswith(f"{fid}Alias") for n in names)

    def _check_bucket_policy(self, rule: ReceiptRule, action: S3Action) -> None:
        if not isinstance(action.bucket, Reference):
            return
        policies = [
            lid
            for lid, t in self.types.items()
            if t == "AWS::S3::BucketPolicy" and _same(self.props(lid).get("Bucket"), action.bucket)
        ]
        where = f"{action.bucket.resource}/{action.prefix}"
        if not policies:
            self.problems.append(f"rule {rule.name}: no bucket policy lets SES write to {where}: SES could not store mail")
            return
        rule_arn = f"arn:aws:ses:{self.region}:123456789012:receipt-rule-set/{rule.rule_set}:receipt-rule/{rule.name}"
        for lid in policies:
            statements = (self.props(lid).get("PolicyDocument") or {}).get("Statement") or []
            for st in statements if isinstance(statements, list) else [statements]:
                if st.get("Effect") != "Allow" or not _names_service(st.get("Principal"), "ses.amazonaws.com"):
                    continue
                if not _covers(st.get("Action"), "s3:PutObject"):
                    continue
                resources = st.get("Resource")
                resources = resources if isinstance(resources, list) else [resources]
                if not any(_arn_pattern_covers(r, action.bucket, f"{action.prefix}probe") for r in resources):
                    continue
                source = _condition_value(st.get("Condition"), "aws:SourceArn")
                if source is not None and not any(
                    fnmatch.fnmatchcase(rule_arn, self._arn_text(s)) for s in source
                ):
                    self.problems.append(
                        f"rule {rule.name}: the bucket policy lets SES write only for {', '.join(map(str, source))}, "
                        f"not for this rule"
                    )
                return
        self.problems.append(
            f"rule {rule.name}: no bucket policy statement lets ses.amazonaws.com PutObject under {where}: "
            f"SES could not store mail"
        )

    def _arn_text(self, value: Any) -> str:
        """An ARN pattern with each resource reference replaced by the resource's local name."""
        if isinstance(value, Composite):
            return "".join(
                self._local_resource_name(p.resource) if isinstance(p, Reference) and p.resource in self.types else str(p)
                for p in value.parts
            )
        return str(value)

    def _check_permission(self, rule: ReceiptRule, fid: str) -> None:
        rule_arn = f"arn:aws:ses:{self.region}:123456789012:receipt-rule-set/{rule.rule_set}:receipt-rule/{rule.name}"
        permissions = [
            self.props(lid)
            for lid, t in self.types.items()
            if t == "AWS::Lambda::Permission" and self._is_forwarder(self.props(lid).get("FunctionName"), fid)
        ]
        ses = [p for p in permissions if p.get("Principal") == "ses.amazonaws.com"]
        if not ses:
            self.problems.append(f"no AWS::Lambda::Permission lets ses.amazonaws.com invoke {fid} (rule {rule.name})")
            return
        arns = [p.get("SourceArn") for p in ses]
        if all(a is not None for a in arns) and not any(
            fnmatch.fnmatchcase(rule_arn, self._arn_text(a)) for a in arns
        ):
            self.problems.append(
                f"rule {rule.name}: the Lambda permission allows SES only from {', '.join(map(str, arns))}, not from this rule"
            )


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, Reference) and isinstance(b, Reference):
        return a.resource == b.resource and (a.attribute or "Ref") == (b.attribute or "Ref")
    return str(a) == str(b)


def _names_service(principal: Any, service: str) -> bool:
    if isinstance(principal, dict):
        services = principal.get("Service")
        services = services if isinstance(services, list) else [services]
        return service in services
    return False


def _covers(actions: Any, wanted: str) -> bool:
    actions = actions if isinstance(actions, list) else [actions]
    return any(isinstance(a, str) and fnmatch.fnmatchcase(wanted.lower(), a.lower()) for a in actions)


def _arn_pattern_covers(resource: Any, bucket: Reference, key: str) -> bool:
    """Does ``resource`` (e.g. ``${MailBucket.Arn}/messages/*``) cover ``bucket``/``key``?"""
    if isinstance(resource, Composite) and resource.parts and isinstance(resource.parts[0], Reference):
        head, rest = resource.parts[0], "".join(str(p) for p in resource.parts[1:])
        if head.resource == bucket.resource and head.attribute == "Arn":
            return fnmatch.fnmatchcase(f"/{key}", rest)
    return resource == "*"


def _condition_value(condition: Any, key: str) -> list[Any] | None:
    if not isinstance(condition, dict):
        return None
    for operator in condition.values():
        if isinstance(operator, dict):
            for k, v in operator.items():
                if k.lower() == key.lower():
                    return v if isinstance(v, list) else [v]
    return None


def _bool(value: Any, default: bool) -> bool:
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() == "true"


def _int(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


__all__ = ["Route", "TemplateError", "Wiring", "read_wiring"]
