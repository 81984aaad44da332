"""The checks ``sesame activate`` makes before switching the active receipt rule set.

Pure functions over what AWS returned (a described rule set, policy documents, identity
attributes, MX answers), so each rule is testable without AWS. SES itself checks the
bucket policy and the function permission only when a rule is created or updated; a policy
edited since then breaks receiving silently, so they are checked again here.

Policy matching follows IAM's evaluation for the statements these checks care about:
``Allow`` statements whose principal is SES, whose action and resource patterns match
(``*`` and ``?`` wildcards), and whose ``aws:SourceArn``/``aws:SourceAccount`` conditions
(any operator of the String/Arn families, keys case-insensitive) admit this rule.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

SES_PRINCIPAL = "ses.amazonaws.com"


@dataclass(frozen=True)
class Check:
    """One pre-flight check. ``required`` checks block the switch when they fail;
    the others (MX records) are reported only. ``ok`` is None when it could not be told."""

    name: str
    ok: bool | None
    detail: str
    required: bool = True

    @property
    def blocks(self) -> bool:
        return self.required and self.ok is not True


@dataclass(frozen=True)
class ForwardRule:
    name: str
    bucket: str
    prefix: str
    function_arn: str
    recipients: tuple[str, ...]


def rule_arn(partition: str, region: str, account: str, rule_set: str, rule: str) -> str:
    """What SES sends as ``aws:SourceArn`` when this rule writes to S3 or invokes Lambda."""
    return f"arn:{partition}:ses:{region}:{account}:receipt-rule-set/{rule_set}:receipt-rule/{rule}"


def find_forward_rule(rules: list[dict[str, Any]]) -> ForwardRule | None:
    """The first enabled rule that stores the message in S3 and then invokes a function."""
    for rule in rules:
        if not rule.get("Enabled", False):
            continue
        actions = rule.get("Actions", [])
        kinds = [next(iter(a), "") for a in actions]
        if "S3Action" in kinds and "LambdaAction" in kinds and kinds.index("S3Action") < kinds.index("LambdaAction"):
            s3 = actions[kinds.index("S3Action")]["S3Action"]
            invoke = actions[kinds.index("LambdaAction")]["LambdaAction"]
            return ForwardRule(
                name=rule["Name"],
                bucket=s3["BucketName"],
                prefix=s3.get("ObjectKeyPrefix", ""),
                function_arn=invoke["FunctionArn"],
                recipients=tuple(rule.get("Recipients", [])),
            )
    return None


def rule_domains(recipients: tuple[str, ...]) -> tuple[str, ...]:
    """The domains a rule's recipient conditions name: a domain, ``.domain`` or an address."""
    domains = []
    for recipient in recipients:
        domain = recipient.rpartition("@")[2].lstrip(".").lower()
        if domain and domain not in domains:
            domains.append(domain)
    return tuple(domains)


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _is_ses(principal: Any) -> bool:
    if principal == "*":
        return True
    if isinstance(principal, dict):
        return SES_PRINCIPAL in _listed(principal.get("Service", []))
    return False


def _conditions_admit(condition: dict[str, Any], source_arn: str, account: str) -> tuple[bool, bool]:
    """(admitted, names this rule): does the condition block let this rule's requests in,
    and does it name the rule (or rule set) rather than leave SES unrestricted?"""
    named = False
    for operator, block in (condition or {}).items():
        for key, values in block.items():
            key = key.lower()
            wanted = {"aws:sourcearn": source_arn, "aws:sourceaccount": account}.get(key)
            if wanted is None:
                continue
            like = "like" in operator.lower()
            if not any(fnmatchcase(wanted, v) if like else wanted == v for v in _listed(values)):
                return False, False
            named = named or key == "aws:sourcearn"
    return True, named


def _allows(statement: dict[str, Any], action: str, resource: str, source_arn: str, account: str) -> tuple[bool, bool]:
    if statement.get("Effect") != "Allow" or not _is_ses(statement.get("Principal")):
        return False, False
    if not any(fnmatchcase(action, a) for a in _listed(statement.get("Action", []))):
        return False, False
    if not any(fnmatchcase(resource, r) for r in _listed(statement.get("Resource", []))):
        return False, False
    return _conditions_admit(statement.get("Condition", {}), source_arn, account)


def _document(policy: str | dict[str, Any] | None) -> dict[str, Any]:
    if policy is None:
        return {}
    return json.loads(policy) if isinstance(policy, str) else policy


def check_bucket_policy(policy: str | dict[str, Any] | None, rule: ForwardRule, source_arn: str, account: str, partition: str = "aws") -> Check:
    name = "SES may write to the bucket"
    resource = f"arn:{partition}:s3:::{rule.bucket}/{rule.prefix}example-message-id"
    results = [_allows(s, "s3:PutObject", resource, source_arn, account) for s in _listed(_document(policy).get("Statement", []))]
    if not any(ok for ok, _ in results):
        return Check(name, False, f"the policy of bucket {rule.bucket} lets no SES request for this rule write {rule.prefix}*")
    if not any(ok and named for ok, named in results):
        return Check(name, True, f"s3://{rule.bucket}/{rule.prefix}: allowed, but for any SES rule (no aws:SourceArn condition)")
    return Check(name, True, f"s3://{rule.bucket}/{rule.prefix}: allowed for this rule")


def check_function_policy(policy: str | dict[str, Any] | None, rule: ForwardRule, source_arn: str, account: str) -> Check:
    name = "SES may invoke the function"
    function = rule.function_arn.split(":")[6] if rule.function_arn.count(":") >= 6 else rule.function_arn
    results = [
        _allows(s, "lambda:InvokeFunction", rule.function_arn, source_arn, account)
        for s in _listed(_document(policy).get("Statement", []))
    ]
    if not any(ok for ok, _ in results):
        return Check(name, False, f"function {function} has no permission for SES to invoke it from this rule")
    if not any(ok and named for ok, named in results):
        return Check(name, True, f"{function}: allowed, but for any SES rule (no aws:SourceArn condition)")
    return Check(name, True, f"{function}: allowed for this rule")


def check_identity(domain: str, identity: dict[str, Any] | None, via: str | None = None) -> Check:
    """``identity`` is SES v2 GetEmailIdentity's answer for the domain (or a parent domain,
    named by ``via``), None when there is no identity."""
    name = f"{domain} is a verified identity with DKIM"
    if identity is None:
        return Check(name, False, f"no SES identity for {domain}: create it and add its DKIM records")
    verified = identity.get("VerificationStatus") == "SUCCESS" or identity.get("VerifiedForSendingStatus") is True
    dkim = identity.get("DkimAttributes", {})
    through = f" (through {via})" if via else ""
    if not verified:
        status = identity.get("VerificationStatus", "not verified")
        return Check(name, False, f"identity{through} is {status}: its DNS records are missing or not yet seen")
    if dkim.get("Status") != "SUCCESS" or not dkim.get("SigningEnabled", False):
        return Check(name, False, f"verified{through}, but DKIM is {dkim.get('Status', 'NOT_STARTED')}: add the DKIM CNAME records")
    return Check(name, True, f"verified, DKIM signing{through}")


def check_mx(domain: str, region: str, exchanges: list[str] | None, error: str | None = None) -> Check:
    """MX records are reported, never required: DNS may be unreachable from here, or the
    operator may switch first and move MX after."""
    name = f"MX of {domain}"
    endpoint = f"inbound-smtp.{region}.amazonaws.com"
    if error is not None:
        return Check(name, None, f"not checked: {error}", required=False)
    hosts = [e.rstrip(".").lower() for e in exchanges or []]
    if not hosts:
        return Check(name, False, f"no MX record: add 10 {endpoint}", required=False)
    if endpoint in hosts:
        others = [h for h in hosts if h != endpoint]
        extra = f" (also {', '.join(others)})" if others else ""
        return Check(name, True, f"{endpoint}{extra}", required=False)
    return Check(name, False, f"points at {', '.join(hosts)}, not {endpoint}", required=False)


__all__ = [
    "Check",
    "ForwardRule",
    "check_bucket_policy",
    "check_function_policy",
    "check_identity",
    "check_mx",
    "find_forward_rule",
    "rule_arn",
    "rule_domains",
]
