"""The ``AWS::SES::ReceiptRule`` resources of a template, read into :class:`ReceiptRule` in
rule-set order (``After``), with what cannot work collected as problems."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sesame.local.cfn import Composite, Opaque, Reference, as_bool, local_name
from sesame.local.receiving.rules import (
    Action,
    AddHeaderAction,
    BounceAction,
    LambdaAction,
    OtherAction,
    ReceiptRule,
    S3Action,
    StopAction,
)

if TYPE_CHECKING:
    from sesame.local.wiring import TemplateView


def read_rules(view: TemplateView) -> list[ReceiptRule]:
    rules: list[ReceiptRule] = []
    for lid in view.of_type("AWS::SES::ReceiptRule"):
        props = view.props(lid)
        rule = props.get("Rule") or {}
        name = rule.get("Name")
        name = str(name) if isinstance(name, (str, Composite)) else local_name(lid, view.stack_name)
        recipients_value = rule.get("Recipients") or []
        if isinstance(recipients_value, (str, Reference, Composite, Opaque)):
            recipients_value = [recipients_value]
        recipients: list[str] = []
        for r in recipients_value:
            if not isinstance(r, str):
                view.problems.append(f"rule {name}: recipient {r} cannot be resolved locally")
            elif r.strip():
                recipients.append(r.strip())
            else:
                view.problems.append(f"rule {name}: an empty recipient (is the Domains parameter empty?)")
        rules.append(
            ReceiptRule(
                logical_id=lid,
                name=name,
                rule_set=_rule_set_name(view, props.get("RuleSetName")),
                after=_after_name(view, props.get("After")),
                enabled=as_bool(rule.get("Enabled"), False),
                recipients=tuple(recipients),
                tls_policy=str(rule.get("TlsPolicy") or "Optional"),
                scan_enabled=as_bool(rule.get("ScanEnabled"), False),
                actions=tuple(_action(view, name, a) for a in rule.get("Actions") or []),
            )
        )
    if not rules:
        view.problems.append("no AWS::SES::ReceiptRule: SES would accept no mail for the forwarder")
        return []
    sets = sorted({r.rule_set for r in rules})
    if len(sets) > 1:
        view.problems.append(f"receipt rules belong to several rule sets ({', '.join(sets)}); one is active at a time")
    return _order(view, rules)


def _rule_set_name(view: TemplateView, value: Any) -> str:
    if isinstance(value, Reference) and view.types.get(value.resource) == "AWS::SES::ReceiptRuleSet":
        return view.local_resource_name(value.resource)
    return str(value)


def _after_name(view: TemplateView, value: Any) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, Reference) and view.types.get(value.resource) == "AWS::SES::ReceiptRule":
        rule = view.props(value.resource).get("Rule") or {}
        name = rule.get("Name")
        return str(name) if isinstance(name, (str, Composite)) else local_name(value.resource, view.stack_name)
    return str(value)


def _action(view: TemplateView, rule: str, raw: Any) -> Action:
    if not isinstance(raw, dict) or len(raw) != 1:
        view.problems.append(f"rule {rule}: an action must have exactly one kind, not {raw!r}")
        return OtherAction("invalid")
    ((kind, body),) = raw.items()
    body = body or {}
    if kind == "S3Action":
        return S3Action(body.get("BucketName"), str(body.get("ObjectKeyPrefix") or ""), body.get("KmsKeyArn"))
    if kind == "LambdaAction":
        return LambdaAction(body.get("FunctionArn"), str(body.get("InvocationType") or "Event"))
    if kind == "BounceAction":
        missing = [k for k in ("SmtpReplyCode", "Message", "Sender") if not body.get(k)]
        if missing:
            view.problems.append(f"rule {rule}: BounceAction lacks {', '.join(missing)}")
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


def _order(view: TemplateView, rules: list[ReceiptRule]) -> list[ReceiptRule]:
    by_name = {r.name: r for r in rules}
    for rule in rules:
        if rule.after is not None and rule.after not in by_name:
            view.problems.append(f"rule {rule.name}: After {rule.after!r} names no rule of this template")
    roots = [r for r in rules if r.after is None or r.after not in by_name]
    if len(roots) > 1:
        view.warnings.append(
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
            view.warnings.append(
                f"rules {', '.join(f.name for f in followers)} all come After {rule.name}: their order is not defined"
            )
        for follower in followers:
            if follower.name not in seen:
                visit(follower)

    for root in roots:
        visit(root)
    for rule in rules:
        if rule.name not in seen:
            view.problems.append(f"rule {rule.name}: its After chain is a cycle")
    return ordered


