"""What in the template would stop the deployed stack from delivering mail to the forwarder.

Each problem is a sentence naming the rule or resource and what SES or Lambda would do;
local mode refuses to start on any (``sesame local`` prints them), so a wiring mistake
shows up before a deploy rather than as mail that silently never arrives.
"""

from __future__ import annotations

import fnmatch
from typing import TYPE_CHECKING, Any

from sesame import config as env_names
from sesame.local.cfn import LOCAL_ACCOUNT, Composite, Reference
from sesame.local.receiving.rules import LambdaAction, ReceiptRule, S3Action, StopAction, name_of

if TYPE_CHECKING:
    from sesame.local.wiring import TemplateView, Wiring

# SES receipt rule quotas (SES developer guide, "Service quotas for email receiving").
MAX_RULE_RECIPIENTS = 100
MAX_RULE_ACTIONS = 10


def check_wiring(wiring: Wiring, view: TemplateView, alias_domains: list[str]) -> None:
    """Fill ``wiring.problems`` and ``wiring.warnings``."""
    problems, warnings = view.problems, view.warnings
    if wiring.forwarder.logical_id in wiring.functions:
        _check_rules(wiring, view, alias_domains)
        dead_letter = wiring.dead_letter_function
        if wiring.forwarder.on_failure is None:
            warnings.append(f"{wiring.function_id} has no on-failure destination: a failed message is reported nowhere")
        elif dead_letter is None:
            warnings.append(
                f"no event source mapping reads {wiring.forwarder.on_failure}: failures stop at the queue, nobody is told"
            )
    wiring.problems, wiring.warnings = problems, warnings


def _check_rules(wiring: Wiring, view: TemplateView, alias_domains: list[str]) -> None:
    fid = wiring.function_id
    env = wiring.forwarder.env_values
    prefix = wiring.message_prefix
    bucket = env.get(env_names.BUCKET)
    problems = view.problems
    if bucket is None:
        problems.append(f"{fid}: no {env_names.BUCKET} environment variable (the bucket SES stores mail in)")
    forwarding = []
    for rule in wiring.rules:
        if len(rule.recipients) > MAX_RULE_RECIPIENTS:
            problems.append(f"rule {rule.name}: {len(rule.recipients)} recipients; SES allows {MAX_RULE_RECIPIENTS}")
        if len(rule.actions) > MAX_RULE_ACTIONS:
            problems.append(f"rule {rule.name}: {len(rule.actions)} actions; SES allows {MAX_RULE_ACTIONS}")
        if not rule.enabled:
            continue
        stored: S3Action | None = None
        stopped = False
        for position, action in enumerate(rule.actions, 1):
            if isinstance(action, StopAction):
                stopped = True
            elif isinstance(action, S3Action):
                stored = stored or action
            elif isinstance(action, LambdaAction):
                if _check_lambda_action(view, rule, position, action, fid, stopped, stored, prefix, bucket):
                    forwarding.append(rule)
    if wiring.rules and not forwarding:
        problems.append(f"no enabled receipt rule invokes {fid}: SES would never hand it any mail")
    covered = [d for d in alias_domains if any(r.enabled and r.matches(f"x@{d}") for r in forwarding)]
    uncovered = sorted(set(alias_domains) - set(covered))
    if forwarding and uncovered:
        view.warnings.append(f"aliases for {', '.join(uncovered)}, but no forwarding rule receives that domain")


def _check_lambda_action(
    view: TemplateView,
    rule: ReceiptRule,
    position: int,
    action: LambdaAction,
    fid: str,
    stopped: bool,
    stored: S3Action | None,
    prefix: str,
    bucket: Any,
) -> bool:
    """Check one Lambda action; True when it invokes the forwarder."""
    problems = view.problems
    target = action.function
    if not _is_forwarder(view, target, fid):
        problems.append(f"rule {rule.name}: the Lambda action (action {position}) invokes {name_of(target)}, not {fid}")
        return False
    if isinstance(target, Reference) and target.attribute is None:
        problems.append(
            f"rule {rule.name}: FunctionArn is !Ref {target.resource} (a name); SES needs "
            f"the ARN: !GetAtt {target.resource}.Arn"
        )
    if stopped:
        problems.append(f"rule {rule.name}: the Lambda action comes after a Stop action and never runs")
    if action.invocation_type not in ("Event", "RequestResponse"):
        problems.append(f"rule {rule.name}: InvocationType {action.invocation_type!r} is not Event or RequestResponse")
    elif action.invocation_type == "RequestResponse":
        view.warnings.append(f"rule {rule.name}: RequestResponse gives the forwarder 30 seconds and no retries; use Event")
    if stored is None:
        later = next((i for i, a in enumerate(rule.actions, 1) if isinstance(a, S3Action)), None)
        if later is not None:
            problems.append(
                f"rule {rule.name}: the Lambda action (action {position}) runs before the S3 action "
                f"(action {later}): the forwarder would look for a message not stored yet"
            )
        else:
            problems.append(
                f"rule {rule.name}: no S3 action stores the message before the Lambda action; "
                f"the forwarder reads it from the bucket"
            )
        return True
    if stored.prefix != prefix:
        problems.append(
            f"rule {rule.name}: the S3 action stores under {stored.prefix!r} but {fid} reads "
            f"{env_names.MESSAGE_PREFIX}={prefix!r}"
        )
    if bucket is not None and not _same(stored.bucket, bucket):
        problems.append(
            f"rule {rule.name}: the S3 action writes to bucket {name_of(stored.bucket)} but {fid} "
            f"reads {env_names.BUCKET}={name_of(bucket)}"
        )
    _check_bucket_policy(view, rule, stored)
    _check_permission(view, rule, fid)
    return True


def _is_forwarder(view: TemplateView, target: Any, fid: str) -> bool:
    names = [target.resource] if isinstance(target, Reference) else []
    if isinstance(target, Composite):
        names = [r.resource for r in target.references]
    if isinstance(target, str):
        return target.rsplit(":", 1)[-1] == view.local_resource_name(fid) or target.endswith(f":function:{fid}")
    return any(n == fid or n.startswith(f"{fid}Alias") for n in names)


def _rule_arn(view: TemplateView, rule: ReceiptRule) -> str:
    return f"arn:aws:ses:{view.region}:{LOCAL_ACCOUNT}:receipt-rule-set/{rule.rule_set}:receipt-rule/{rule.name}"


def _check_bucket_policy(view: TemplateView, rule: ReceiptRule, action: S3Action) -> None:
    if not isinstance(action.bucket, Reference):
        return
    policies = [
        lid for lid in view.of_type("AWS::S3::BucketPolicy") if _same(view.props(lid).get("Bucket"), action.bucket)
    ]
    where = f"{action.bucket.resource}/{action.prefix}"
    if not policies:
        view.problems.append(f"rule {rule.name}: no bucket policy lets SES write to {where}: SES could not store mail")
        return
    rule_arn = _rule_arn(view, rule)
    for lid in policies:
        statements = (view.props(lid).get("PolicyDocument") or {}).get("Statement") or []
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
            if source is not None and not any(fnmatch.fnmatchcase(rule_arn, _arn_text(view, s)) for s in source):
                view.problems.append(
                    f"rule {rule.name}: the bucket policy lets SES write only for {', '.join(map(str, source))}, "
                    f"not for this rule"
                )
            return
    view.problems.append(
        f"rule {rule.name}: no bucket policy statement lets ses.amazonaws.com PutObject under {where}: "
        f"SES could not store mail"
    )


def _arn_text(view: TemplateView, value: Any) -> str:
    """An ARN pattern with each resource reference replaced by the resource's local name."""
    if isinstance(value, Composite):
        return "".join(
            view.local_resource_name(p.resource) if isinstance(p, Reference) and p.resource in view.types else str(p)
            for p in value.parts
        )
    return str(value)


def _check_permission(view: TemplateView, rule: ReceiptRule, fid: str) -> None:
    permissions = [
        view.props(lid)
        for lid in view.of_type("AWS::Lambda::Permission")
        if _is_forwarder(view, view.props(lid).get("FunctionName"), fid)
    ]
    ses = [p for p in permissions if p.get("Principal") == "ses.amazonaws.com"]
    if not ses:
        view.problems.append(f"no AWS::Lambda::Permission lets ses.amazonaws.com invoke {fid} (rule {rule.name})")
        return
    arns = [p.get("SourceArn") for p in ses]
    rule_arn = _rule_arn(view, rule)
    if all(a is not None for a in arns) and not any(fnmatch.fnmatchcase(rule_arn, _arn_text(view, a)) for a in arns):
        view.problems.append(
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


__all__ = ["MAX_RULE_ACTIONS", "MAX_RULE_RECIPIENTS", "check_wiring"]
