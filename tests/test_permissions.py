"""Every AWS call the functions make is allowed by the IAM role the template gives them.

The real handlers run the mail scenarios under moto while a botocore hook records each
operation and its parameters, per function. Each operation is mapped to the IAM action(s)
and resource(s) that authorize it, from AWS's Service Authorization Reference
(https://docs.aws.amazon.com/service-authorization/latest/reference/), and checked against
the SAM-translated role's statements with IAM's matching rules (wildcards in actions and
resources, condition operators on the request's context keys). An operation with no entry
in ``authorizations`` fails the test: a new call needs its mapping, and then its grant.
"""

from __future__ import annotations

import copy
import email
import email.policy
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from fnmatch import fnmatchcase
from functools import cache
from typing import Any

import botocore.session
import pytest
from moto import mock_aws
from mail_scenarios import BUCKET, SUPPRESSION_TABLE, TABLE, scenario_environment, write_index

from test_handler import Context
from test_template import _NoIam, _source, listify, statements

REGION, ACCOUNT, PARTITION = "us-east-1", "123456789012", "aws"
# The deployment the scenarios stand for: their aliases are on these domains.
DOMAINS = "example.com,example.net,unverified.example"
TODAY = date(2026, 11, 23)
# What CloudFormation would give the resources the roles name (GetAtt and Ref).
RESOURCE_VALUES = {
    "MailBucket": BUCKET,
    "MailBucket.Arn": f"arn:aws:s3:::{BUCKET}",
    "IdempotencyTable": TABLE,
    "IdempotencyTable.Arn": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{TABLE}",
    "DeadLetterQueue.Arn": f"arn:aws:sqs:{REGION}:{ACCOUNT}:sesame-DeadLetterQueue",
    "DeadLetterQueue.QueueName": "sesame-DeadLetterQueue",
    "ConfigurationSet": "sesame-sending",
    "SuppressionTable": SUPPRESSION_TABLE,
    "SuppressionTable.Arn": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/sesame-suppression-test",
    "FeedbackQueue.Arn": f"arn:aws:sqs:{REGION}:{ACCOUNT}:sesame-FeedbackQueue",
    "FeedbackQueue.QueueName": "sesame-FeedbackQueue",
}
FEEDBACK_EVENTS = ("bounce", "bounce_suppressed", "bounce_soft", "complaint", "delivery_delay", "reject")


@dataclass(frozen=True)
class Call:
    service: str
    operation: str
    params: dict[str, Any]


@dataclass(frozen=True)
class Authorization:
    action: str
    resource: str
    context: tuple[tuple[str, str], ...] = ()


# --- what authorizes each operation (Service Authorization Reference) -------------------------


def _object_arn(bucket: str, key: str) -> str:
    return f"arn:aws:s3:::{bucket}/{key}"


def _from_address(raw: bytes) -> str:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    return message["From"].addresses[0].addr_spec


def authorizations(call: Call) -> list[Authorization]:
    service, operation, p = call.service, call.operation, call.params
    if service == "s3":
        # Amazon S3: GetObject and HeadObject need s3:GetObject, PutObject s3:PutObject, on the
        # object ARN; CopyObject needs s3:GetObject on the source and s3:PutObject on the target.
        if operation in {"GetObject", "HeadObject"}:
            return [Authorization("s3:GetObject", _object_arn(p["Bucket"], p["Key"]))]
        if operation == "PutObject":
            return [Authorization("s3:PutObject", _object_arn(p["Bucket"], p["Key"]))]
        if operation == "CopyObject":
            source = p["CopySource"]
            if isinstance(source, str):
                bucket, _, key = source.lstrip("/").partition("/")
                source = {"Bucket": bucket, "Key": key}
            return [
                Authorization("s3:GetObject", _object_arn(source["Bucket"], source["Key"])),
                Authorization("s3:PutObject", _object_arn(p["Bucket"], p["Key"])),
            ]
    if service == "ssm" and operation in {"GetParametersByPath", "GetParameter"}:
        # AWS Systems Manager: the parameter resource is arn:...:parameter/<name without its slash>.
        name = p.get("Path") or p["Name"]
        return [Authorization(f"ssm:{operation}", f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/{name.lstrip('/')}")]
    if service == "sesv2" and operation == "SendEmail":
        # Amazon SES v2: SendEmail is authorized as ses:SendRawEmail for Raw content and as
        # ses:SendEmail for Simple or Template content, on the sending identity, with the
        # From address in the ses:FromAddress condition key.
        content = p["Content"]
        if "Raw" in content:
            # Data is the message, or the sender's RawParts (bytes() joins them).
            raw = bytes(content["Raw"]["Data"])
            action, sender = "ses:SendRawEmail", p.get("FromEmailAddress") or _from_address(raw)
        else:
            action, sender = "ses:SendEmail", p["FromEmailAddress"]
        identity = f"arn:aws:ses:{REGION}:{ACCOUNT}:identity/{sender.rpartition('@')[2]}"
        context = (("ses:FromAddress", sender),)
        found = [Authorization(action, identity, context)]
        if p.get("ConfigurationSetName"):
            # A send naming a configuration set is authorized on it as well.
            configuration_set = f"arn:aws:ses:{REGION}:{ACCOUNT}:configuration-set/{p['ConfigurationSetName']}"
            found.append(Authorization(action, configuration_set, context))
        return found
    if service == "dynamodb" and operation in {"GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query"}:
        return [Authorization(f"dynamodb:{operation}", f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{p['TableName']}")]
    if service == "dynamodb" and operation == "BatchGetItem":
        # Authorized per table the request reads.
        return [Authorization("dynamodb:BatchGetItem", f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{table}")
                for table in p["RequestItems"]]
    if service == "sqs" and operation in {"SendMessage", "ReceiveMessage", "DeleteMessage", "GetQueueAttributes"}:
        queue = p["QueueUrl"].rstrip("/").rsplit("/", 1)[-1]
        return [Authorization(f"sqs:{operation}", f"arn:aws:sqs:{REGION}:{ACCOUNT}:{queue}")]
    raise AssertionError(
        f"no IAM mapping for {service}:{operation}; add it from the Service Authorization Reference"
    )


# --- the roles, translated offline with the deployment's parameters ---------------------------


@cache
def roles() -> dict[str, dict[str, Any]]:
    from samtranslator.translator.managed_policy_translator import ManagedPolicyLoader
    from samtranslator.translator.transform import transform

    source = copy.deepcopy(_source())
    source["Globals"]["Function"]["CodeUri"] = "s3://sesame-test-artifacts/code.zip"
    parameters = {"Domains": DOMAINS, "OperatorEmail": "ops@example.com"}
    with pytest.MonkeyPatch.context() as env:
        env.setenv("AWS_DEFAULT_REGION", REGION)
        translated = transform(source, parameters, ManagedPolicyLoader(_NoIam()))  # type: ignore[arg-type]
    resources = translated["Resources"]
    return {name: resources[f"{name}Role"] for name in ("HandleEmailFunction", "DeadLetterFunction", "FeedbackFunction")}


def _values() -> dict[str, Any]:
    defaults = {k: str(p["Default"]) for k, p in _source()["Parameters"].items() if "Default" in p}
    return {**defaults, "Domains": DOMAINS, "AWS::Region": REGION, "AWS::AccountId": ACCOUNT,
            "AWS::Partition": PARTITION, "AWS::StackName": "sesame", **RESOURCE_VALUES}


def concrete(value: Any, values: dict[str, Any]) -> Any:
    """The value CloudFormation would compute for the intrinsics the roles use."""
    if isinstance(value, list):
        return [concrete(v, values) for v in value]
    if not isinstance(value, dict) or len(value) != 1:
        return value
    ((fn, arg),) = value.items()
    if fn == "Ref":
        found = values[arg]
        return found.split(",") if arg == "Domains" else found
    if fn == "Fn::GetAtt":
        return values[".".join(listify(arg))]
    if fn == "Fn::Join":
        return arg[0].join(concrete(arg[1], values))
    if fn == "Fn::Split":
        return concrete(arg[1], values).split(arg[0])
    if fn == "Fn::Select":
        return concrete(arg[1], values)[int(arg[0])]
    if fn == "Fn::Sub":
        text, local = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
        known = {**values, **{k: concrete(v, values) for k, v in local.items()}}
        return re.sub(r"\$\{([^}!]+)\}", lambda m: str(known[m.group(1)]), text)
    raise AssertionError(f"unexpected intrinsic {fn} in a role")


def _condition_holds(condition: dict[str, Any], context: dict[str, str]) -> bool:
    for operator, block in condition.items():
        base = operator.split(":")[-1]
        for key, wanted in block.items():
            have = context.get(key)
            if have is None:
                return False
            patterns = listify(concrete(wanted, _values()))
            if base == "StringLike":
                ok = any(fnmatchcase(have, pattern) for pattern in patterns)
            elif base == "StringEquals":
                ok = have in patterns
            else:
                raise AssertionError(f"condition operator {operator} is not evaluated here")
            if not ok:
                return False
    return True


def allowed(role: dict[str, Any], authorization: Authorization) -> bool:
    values, context = _values(), dict(authorization.context)
    verdict = False
    for _, statement in statements(role):
        actions = listify(statement["Action"])
        resources = listify(concrete(statement["Resource"], values))
        if not any(fnmatchcase(authorization.action, a) for a in actions):
            continue
        if not any(fnmatchcase(authorization.resource, r) for r in resources):
            continue
        if not _condition_holds(statement.get("Condition", {}), context):
            continue
        if statement["Effect"] == "Deny":
            return False
        verdict = True
    return verdict


# --- recording what the functions call ----------------------------------------------------------


class Recorder:
    def __init__(self) -> None:
        self.current: str | None = None
        self.calls: dict[str, list[Call]] = {}

    def hook(self, client: Any) -> None:
        service = client.meta.service_model.service_name

        def record(params: dict[str, Any], model: Any, **_: Any) -> None:
            if self.current is not None:
                self.calls.setdefault(self.current, []).append(Call(service, model.name, copy.deepcopy(params)))

        client.meta.events.register("provide-client-params", record)

    @contextmanager
    def function(self, name: str) -> Iterator[None]:
        self.current = name
        try:
            yield
        finally:
            self.current = None


@pytest.fixture(scope="module")
def recorded() -> dict[str, list[Call]]:
    recorder = Recorder()
    original = botocore.session.Session.create_client

    def create_client(self: Any, *args: Any, **kwargs: Any) -> Any:
        client = original(self, *args, **kwargs)
        recorder.hook(client)
        return client

    with scenario_environment(), pytest.MonkeyPatch.context() as patch, mock_aws():
        patch.setattr(botocore.session.Session, "create_client", create_client)
        write_index(TODAY, around_function=recorder.function)  # the suppression table included
        with recorder.function("FeedbackFunction"):
            _run_feedback()
    return recorder.calls


def _run_feedback() -> None:
    """The feedback function on every kind of event, twice (a redelivery takes other paths)."""
    import json

    from conftest import load_event
    from feedback import app

    event = load_event("sqs_feedback.json")
    template = event["Records"][0]
    event["Records"] = [dict(template, messageId=name, body=json.dumps(load_event(f"ses_feedback_{name}.json")))
                        for name in FEEDBACK_EVENTS]
    app.use_runtime(None)
    try:
        for _ in range(2):
            assert app.lambda_handler(event, Context()) == {"batchItemFailures": []}
    finally:
        app.use_runtime(None)


def test_the_recorder_sees_what_each_function_does(recorded: dict[str, list[Call]]) -> None:
    operations = {name: {(c.service, c.operation) for c in calls} for name, calls in recorded.items()}
    assert {("s3", "GetObject"), ("s3", "PutObject"), ("ssm", "GetParametersByPath"),
            ("sesv2", "SendEmail"), ("dynamodb", "UpdateItem")} <= operations["HandleEmailFunction"]
    assert {("s3", "CopyObject"), ("s3", "PutObject"), ("s3", "GetObject"), ("sesv2", "SendEmail"),
            ("dynamodb", "UpdateItem")} <= operations["DeadLetterFunction"]
    assert operations["FeedbackFunction"] == {("s3", "PutObject"), ("dynamodb", "UpdateItem")}


@pytest.mark.parametrize("function", ["HandleEmailFunction", "DeadLetterFunction", "FeedbackFunction"])
def test_every_call_a_function_makes_is_allowed_by_its_role(recorded: dict[str, list[Call]], function: str) -> None:
    role = roles()[function]
    denied = sorted({
        f"{call.service}:{call.operation} -> {a.action} on {a.resource}"
        for call in recorded[function]
        for a in authorizations(call)
        if not allowed(role, a)
    })
    assert denied == []


@pytest.mark.parametrize("function", ["HandleEmailFunction", "DeadLetterFunction"])
def test_a_send_naming_the_configuration_set_is_allowed_and_another_set_is_not(function: str) -> None:
    raw = b"From: John <john@example.com>\r\nTo: a@dest.example\r\nSubject: s\r\n\r\nbody\r\n"
    send = {"Destination": {"ToAddresses": ["a@dest.example"]}, "Content": {"Raw": {"Data": raw}},
            "ConfigurationSetName": "sesame-sending"}
    assert all(allowed(roles()[function], a) for a in authorizations(Call("sesv2", "SendEmail", send)))
    # A configuration set of someone else's (say, one with open tracking) is not ours to use.
    other = authorizations(Call("sesv2", "SendEmail", dict(send, ConfigurationSetName="marketing")))
    assert not all(allowed(roles()[function], a) for a in other)


def test_the_forwarder_may_read_the_suppression_list_and_not_write_it() -> None:
    table = RESOURCE_VALUES["SuppressionTable"]
    check = Call("dynamodb", "BatchGetItem", {"RequestItems": {table: {"Keys": []}}})
    assert all(allowed(roles()["HandleEmailFunction"], a) for a in authorizations(check))
    write = Call("dynamodb", "UpdateItem", {"TableName": table})
    assert not allowed(roles()["HandleEmailFunction"], authorizations(write)[0])
    assert allowed(roles()["FeedbackFunction"], authorizations(write)[0])
    assert not allowed(roles()["FeedbackFunction"], authorizations(check)[0])


def test_a_simple_content_send_needs_ses_send_email_which_no_role_has() -> None:
    # The failure reports used Simple content: authorized as ses:SendEmail, never granted.
    simple = Call("sesv2", "SendEmail", {
        "FromEmailAddress": "sesame@example.com",
        "Destination": {"ToAddresses": ["ops@example.com"]},
        "Content": {"Simple": {"Subject": {"Data": "s"}, "Body": {"Text": {"Data": "t"}}}},
    })
    (authorization,) = authorizations(simple)
    assert authorization.action == "ses:SendEmail"
    assert not allowed(roles()["DeadLetterFunction"], authorization)


def test_the_check_fails_when_a_grant_is_missing_or_too_narrow(recorded: dict[str, list[Call]]) -> None:
    role = copy.deepcopy(roles()["HandleEmailFunction"])
    for policy in role["Properties"]["Policies"]:
        document = policy["PolicyDocument"]
        document["Statement"] = [s for s in listify(document["Statement"]) if s.get("Sid") != "WriteIndexRecordsAndQuarantine"]
    put_index = next(c for c in recorded["HandleEmailFunction"] if c.operation == "PutObject")
    assert not allowed(role, authorizations(put_index)[0])
    # A From outside the deployment's domains is refused by the ses:FromAddress condition.
    outsider = Authorization("ses:SendRawEmail", f"arn:aws:ses:{REGION}:{ACCOUNT}:identity/elsewhere.example",
                             (("ses:FromAddress", "x@elsewhere.example"),))
    assert not allowed(roles()["HandleEmailFunction"], outsider)


def test_an_operation_without_a_mapping_fails_loudly() -> None:
    with pytest.raises(AssertionError, match="no IAM mapping for sesv2:SendBulkEmail"):
        authorizations(Call("sesv2", "SendBulkEmail", {}))
