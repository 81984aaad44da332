"""SES receiving as the operator commands see it: rule sets, the active one, the policies
that let SES use the bucket and the function, identities, and the state that lets
``sesame activate --rollback`` go back.

Takes its boto3 clients; the checks themselves are pure (:mod:`sesame.ops.preflight`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from sesame.core.alias_config import STATE_SEGMENT
from sesame.core.documents import loads_json
from sesame.ops.dns import MxLookupFailed
from sesame.ops.preflight import (
    Check,
    ForwardRule,
    check_bucket_policy,
    check_function_policy,
    check_identity,
    check_mx,
    find_forward_rule,
    rule_arn,
    rule_domains,
)

STATE_NAME = "activation"


class ReceivingError(RuntimeError):
    """An AWS answer the command cannot go on without; the message names it."""


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def partition_of(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def state_parameter(alias_path: str) -> str:
    return f"/{alias_path.strip('/')}/{STATE_SEGMENT}/{STATE_NAME}"


@dataclass(frozen=True)
class Target:
    rule_set: str
    stack: str | None
    alias_path: str | None  # from the stack's outputs, when a stack was named


class ReceivingAccount:
    def __init__(
        self,
        *,
        region: str,
        ses: Any,
        sesv2: Any,
        s3: Any,
        lambda_: Any,
        ssm: Any,
        cloudformation: Any,
        lookup_mx: Callable[[str], list[str]],
    ) -> None:
        self.region = region
        self._ses, self._sesv2, self._s3, self._lambda = ses, sesv2, s3, lambda_
        self._ssm, self._cloudformation, self._lookup_mx = ssm, cloudformation, lookup_mx

    # --- rule sets -------------------------------------------------------------------

    def active_rule_set(self) -> str | None:
        try:
            return self._ses.describe_active_receipt_rule_set().get("Metadata", {}).get("Name")
        except (ClientError, BotoCoreError) as exc:
            raise ReceivingError(f"cannot read the active receipt rule set: {exc}") from None

    def rule_sets(self) -> list[str]:
        try:
            names, token = [], None
            while True:
                page = self._ses.list_receipt_rule_sets(**({"NextToken": token} if token else {}))
                names += [r["Name"] for r in page.get("RuleSets", [])]
                token = page.get("NextToken")
                if not token:
                    return names
        except (ClientError, BotoCoreError) as exc:
            raise ReceivingError(f"cannot list receipt rule sets: {exc}") from None

    def rules(self, rule_set: str) -> list[dict[str, Any]] | None:
        """The rule set's rules in order; None when there is no such rule set."""
        try:
            return list(self._ses.describe_receipt_rule_set(RuleSetName=rule_set).get("Rules", []))
        except ClientError as exc:
            if _code(exc) == "RuleSetDoesNotExist":
                return None
            raise ReceivingError(f"cannot describe rule set {rule_set}: {exc}") from None
        except BotoCoreError as exc:
            raise ReceivingError(f"cannot reach SES: {exc}") from None

    def resolve(self, name: str) -> Target:
        """A rule set by its name, or the rule set of the stack of that name."""
        if self.rules(name) is not None:
            return Target(name, None, None)
        try:
            stacks = self._cloudformation.describe_stacks(StackName=name)["Stacks"]
        except ClientError as exc:
            if "does not exist" in str(exc):
                raise ReceivingError(f"{name!r} is neither a receipt rule set nor a stack in {self.region}") from None
            raise ReceivingError(f"cannot describe stack {name}: {exc}") from None
        except BotoCoreError as exc:
            raise ReceivingError(f"cannot reach CloudFormation: {exc}") from None
        outputs = {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}
        rule_set = outputs.get("ReceiptRuleSetName") or self._rule_set_resource(name)
        if rule_set is None:
            raise ReceivingError(f"stack {name} has no receipt rule set (no ReceiptRuleSetName output or resource)")
        return Target(rule_set, name, outputs.get("AliasParameterPath"))

    def _rule_set_resource(self, stack: str) -> str | None:
        try:
            resources = self._cloudformation.describe_stack_resources(StackName=stack)["StackResources"]
        except (ClientError, BotoCoreError) as exc:
            raise ReceivingError(f"cannot list the resources of stack {stack}: {exc}") from None
        found = [r["PhysicalResourceId"] for r in resources if r["ResourceType"] == "AWS::SES::ReceiptRuleSet"]
        return found[0] if found else None

    def switch(self, rule_set: str | None) -> None:
        """Make ``rule_set`` the active one; None turns receiving off (no rule set active)."""
        try:
            if rule_set is None:
                self._ses.set_active_receipt_rule_set()
            else:
                self._ses.set_active_receipt_rule_set(RuleSetName=rule_set)
        except (ClientError, BotoCoreError) as exc:
            raise ReceivingError(f"cannot activate {rule_set or 'no rule set'}: {exc}") from None

    # --- pre-flight checks -------------------------------------------------------------

    def preflight(self, rule_set: str) -> list[Check]:
        rules = self.rules(rule_set)
        if rules is None:
            return [Check("rule set exists", False, f"no receipt rule set {rule_set} in {self.region}")]
        rule = find_forward_rule(rules)
        if rule is None:
            return [
                Check("rule set exists", True, f"{rule_set}: {len(rules)} rule(s)"),
                Check("forward rule", False, "no enabled rule stores mail in S3 and then invokes a function"),
            ]
        parts = rule.function_arn.split(":")
        account = parts[4] if len(parts) > 4 else ""
        source_arn = rule_arn(partition_of(self.region), self.region, account, rule_set, rule.name)
        checks = [
            Check("rule set exists", True, f"{rule_set}: {len(rules)} rule(s)"),
            Check("forward rule", True, f"{rule.name}: S3 s3://{rule.bucket}/{rule.prefix}, then Lambda"),
            check_bucket_policy(self._bucket_policy(rule), rule, source_arn, account, partition_of(self.region)),
            check_function_policy(self._function_policy(rule), rule, source_arn, account),
        ]
        domains = rule_domains(rule.recipients)
        if not domains:
            checks.append(Check("domains", False, f"rule {rule.name} names no recipients: it would take mail for every domain"))
        for domain in domains:
            identity, via = self._identity(domain)
            checks.append(check_identity(domain, identity, via))
        for domain in domains:
            try:
                checks.append(check_mx(domain, self.region, self._lookup_mx(domain)))
            except MxLookupFailed as exc:
                checks.append(check_mx(domain, self.region, None, str(exc)))
        return checks

    def _bucket_policy(self, rule: ForwardRule) -> str | None:
        try:
            return self._s3.get_bucket_policy(Bucket=rule.bucket)["Policy"]
        except ClientError as exc:
            if _code(exc) in {"NoSuchBucketPolicy", "NoSuchBucket"}:
                return None
            raise ReceivingError(f"cannot read the policy of bucket {rule.bucket}: {exc}") from None
        except BotoCoreError as exc:
            raise ReceivingError(f"cannot reach S3: {exc}") from None

    def _function_policy(self, rule: ForwardRule) -> str | None:
        try:
            return self._lambda.get_policy(FunctionName=rule.function_arn)["Policy"]
        except ClientError as exc:
            if _code(exc) == "ResourceNotFoundException":
                return None
            raise ReceivingError(f"cannot read the permissions of {rule.function_arn}: {exc}") from None
        except BotoCoreError as exc:
            raise ReceivingError(f"cannot reach Lambda: {exc}") from None

    def _identity(self, domain: str) -> tuple[dict[str, Any] | None, str | None]:
        """The domain's identity, or the nearest parent domain's (SES lets a verified
        domain send from its subdomains)."""
        labels = domain.split(".")
        for start in range(len(labels) - 1):
            candidate = ".".join(labels[start:])
            identity = self.identity(candidate)
            if identity is not None:
                return identity, (candidate if start else None)
        return None, None

    def identity(self, name: str) -> dict[str, Any] | None:
        try:
            return dict(self._sesv2.get_email_identity(EmailIdentity=name))
        except ClientError as exc:
            if _code(exc) == "NotFoundException":
                return None
            raise ReceivingError(f"cannot read SES identity {name}: {exc}") from None
        except BotoCoreError as exc:
            raise ReceivingError(f"cannot reach SES: {exc}") from None

    def identities(self) -> list[tuple[str, dict[str, Any]]]:
        try:
            names, token = [], None
            while True:
                page = self._sesv2.list_email_identities(**({"NextToken": token} if token else {}))
                names += [i["IdentityName"] for i in page.get("EmailIdentities", [])]
                token = page.get("NextToken")
                if not token:
                    break
        except (ClientError, BotoCoreError) as exc:
            raise ReceivingError(f"cannot list SES identities: {exc}") from None
        return [(name, self.identity(name) or {}) for name in sorted(names)]

    # --- activation state ----------------------------------------------------------------

    def read_state(self, alias_path: str) -> dict[str, Any] | None:
        name = state_parameter(alias_path)
        try:
            value = self._ssm.get_parameter(Name=name)["Parameter"]["Value"]
        except ClientError as exc:
            if _code(exc) == "ParameterNotFound":
                return None
            raise ReceivingError(f"cannot read {name}: {exc}") from None
        except BotoCoreError as exc:
            raise ReceivingError(f"cannot reach SSM: {exc}") from None
        try:
            state = loads_json(value)
        except ValueError:
            raise ReceivingError(f"{name} is not the JSON sesame activate writes: {value[:80]!r}") from None
        if not isinstance(state, dict) or "activated" not in state:
            raise ReceivingError(f"{name} is not the JSON sesame activate writes")
        return state

    def write_state(self, alias_path: str, state: dict[str, Any]) -> str:
        name = state_parameter(alias_path)
        try:
            self._ssm.put_parameter(Name=name, Value=json.dumps(state, sort_keys=True), Type="String", Overwrite=True)
        except (ClientError, BotoCoreError) as exc:
            raise ReceivingError(f"cannot write {name}: {exc}") from None
        return name


__all__ = ["ReceivingAccount", "ReceivingError", "Target", "partition_of", "state_parameter"]
