"""Receipt rules as SES applies them to one recipient.

The rule and action shapes follow ``AWS::SES::ReceiptRule`` (CloudFormation) and SES's
receipt rule documentation: a rule matches a recipient by exact address, by domain (not its
subdomains) or, with a leading dot, by any subdomain; no recipients means every recipient.
Rules run in rule-set order; a Stop action ends the rule set; a bounce action answers the
recipient at RCPT time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sesame.local.cfn import Composite, Reference

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


def name_of(value: Any) -> str:
    """The logical id a value points at (``!Ref X``, ``!GetAtt X.Arn``, ``${X}...``), or its text."""
    if isinstance(value, Reference):
        return value.resource
    if isinstance(value, Composite) and value.references:
        return value.references[0].resource
    return str(value)


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

    def actions_until_stop(self) -> tuple[Action, ...]:
        """The actions SES runs: those before a Stop action."""
        out = []
        for action in self.actions:
            if isinstance(action, StopAction):
                break
            out.append(action)
        return tuple(out)

    def lambda_action(self) -> LambdaAction | None:
        return next((a for a in self.actions_until_stop() if isinstance(a, LambdaAction)), None)

    def describe(self) -> str:
        names = []
        for action in self.actions:
            if isinstance(action, S3Action):
                names.append(f"S3 {action.prefix or '(no prefix)'}")
            elif isinstance(action, LambdaAction):
                names.append(f"Lambda {name_of(action.function)}")
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


def route(rules: tuple[ReceiptRule, ...], address: str) -> Route:
    """Apply the rule set to one recipient, in order, as SES does at RCPT time."""
    matched: list[ReceiptRule] = []
    for rule in rules:
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
