"""template.yaml's wiring, checked offline.

The SAM template is translated to plain CloudFormation with ``samtranslator`` (no AWS call:
the managed-policy loader's IAM client fails the test if it is ever used), then the pieces
that must agree are compared: the receipt rule and the bucket, the environment and the
code's variable names, the IAM statements and the calls the code makes.

Run as a script (``python tests/test_template.py OUT.json``) it writes the translated
template, so ``make checkov`` can scan the IAM roles SAM generates too.
"""

from __future__ import annotations

import copy
import json
import re
import sys
import tomllib
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "template.yaml"
SAMCONFIG = ROOT / "samconfig.toml"
from sesame import config
from sesame.core.settings import Settings, VerdictPolicy

DOMAINS = ["example.com", "example.net"]
PARAMETERS = {
    "Domains": ",".join(DOMAINS),
    "OperatorEmail": "ops@example.com",
    "BounceUncoveredRecipients": "true",
    "CreateDomainIdentity": "true",
}
PSEUDO = {"AWS::Region": "us-east-1", "AWS::Partition": "aws", "AWS::AccountId": "123456789012"}

FORWARDER_ENV = {
    config.BUCKET,
    config.MESSAGE_PREFIX,
    config.INDEX_PREFIX,
    config.ALIAS_PATH,
    config.FROM_TEMPLATE,
    config.UNKNOWN_RECIPIENTS,
    config.IDEMPOTENCY_TABLE,
    config.CONFIGURATION_SET,
    config.SUPPRESSION_TABLE,
}
FEEDBACK_ENV = {
    config.BUCKET,
    config.FEEDBACK_PREFIX,
    config.SUPPRESSION_TABLE,
    config.HARD_BOUNCE_DAYS,
    config.SOFT_BOUNCE_LIMIT,
}
DEAD_LETTER_ENV = {
    config.BUCKET,
    config.ERROR_PREFIX,
    config.INDEX_PREFIX,
    config.MESSAGE_PREFIX,
    config.OPERATOR_EMAIL,
    config.NOTIFY_FROM,
    config.IDEMPOTENCY_TABLE,
    config.DLQ_MAX_RECEIVES,
    config.CONFIGURATION_SET,
}
# What the forwarder's code calls: S3 get_object (messages), put_object (index), SSM
# get_parameters_by_path (Powertools get_multiple), SES v2 send_email with raw content
# (authorized as ses:SendRawEmail), the send ledger's conditional update_item on DynamoDB, and
# the send journal (get/put under journal/, list limited to it so a missing entry is a 404).
FORWARDER_ACTIONS = {
    "s3:GetObject",
    "s3:PutObject",
    "s3:ListBucket",
    "ssm:GetParametersByPath",
    "ses:SendRawEmail",
    "dynamodb:UpdateItem",
    "dynamodb:BatchGetItem",
}
DATA_SERVICES = ("s3", "dynamodb", "sqs", "ssm", "ses", "sns", "kms", "secretsmanager", "glue", "athena")


class _NoIam:
    """An IAM client that fails the test if the translator ever reaches for AWS."""

    def get_paginator(self, name: str) -> Any:
        raise AssertionError(f"the template translation tried to call IAM ({name}); it must stay offline")


@cache
def _source() -> dict[str, Any]:
    from cfnlint.decode import decode

    template, matches = decode(str(TEMPLATE))
    assert not matches, matches
    # cfn-lint's node types -> plain dicts, lists and strings
    return json.loads(json.dumps(template))


@cache
def _translated() -> dict[str, Any]:
    from samtranslator.translator.managed_policy_translator import ManagedPolicyLoader
    from samtranslator.translator.transform import transform

    source = copy.deepcopy(_source())
    # What `sam package` does: code from S3, not the local folder.
    source["Globals"]["Function"]["CodeUri"] = "s3://sesame-test-artifacts/code.zip"
    with pytest.MonkeyPatch.context() as env:
        env.setenv("AWS_DEFAULT_REGION", PSEUDO["AWS::Region"])
        env.delenv("AWS_PROFILE", raising=False)
        loader = ManagedPolicyLoader(_NoIam())  # type: ignore[arg-type]
        # Metadata passes through so checkov's skips reach the generated resources.
        return transform(source, dict(PARAMETERS), loader, passthrough_metadata=True)


@pytest.fixture(scope="module")
def source() -> dict[str, Any]:
    return _source()


@pytest.fixture(scope="module")
def cfn() -> dict[str, Any]:
    return _translated()


@pytest.fixture(scope="module")
def resources(cfn: dict[str, Any]) -> dict[str, Any]:
    return cfn["Resources"]


def props(resources: dict[str, Any], name: str) -> dict[str, Any]:
    return resources[name]["Properties"]


def of_type(resources: dict[str, Any], type_: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in resources.items() if r["Type"] == type_}


def env_of(resources: dict[str, Any], function: str) -> dict[str, Any]:
    return props(resources, function)["Environment"]["Variables"]


def listify(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def resolve(value: Any, params: dict[str, Any] | None = None) -> Any:
    """Evaluate the few intrinsics the template uses on values known without AWS."""
    if params is None:
        defaults = {k: str(p["Default"]) for k, p in _source()["Parameters"].items() if "Default" in p}
        params = {**defaults, **PSEUDO, **PARAMETERS}
    if isinstance(value, list):
        return [resolve(v, params) for v in value]
    if not isinstance(value, dict) or len(value) != 1:
        return value
    (fn, arg), = value.items()
    if fn == "Ref":
        if arg not in params:
            return "{" + arg + "}"  # a resource: left symbolic
        found = params[arg]
        return found.split(",") if arg == "Domains" else found
    if fn == "Fn::Join":
        return arg[0].join(resolve(arg[1], params))
    if fn == "Fn::Split":
        return resolve(arg[1], params).split(arg[0])
    if fn == "Fn::Select":
        return resolve(arg[1], params)[int(arg[0])]
    if fn == "Fn::Sub":
        text, local = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
        known = {**params, **{k: resolve(v, params) for k, v in local.items()}}
        return re.sub(r"\$\{([^}]+)\}", lambda m: str(known.get(m.group(1), "{" + m.group(1) + "}")), text)
    if fn == "Fn::GetAtt":
        return "{" + ".".join(listify(arg)) + "}"
    return value


def statements(role: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for policy in role["Properties"].get("Policies", []):
        for statement in listify(policy["PolicyDocument"]["Statement"]):
            yield policy["PolicyName"], statement


# ---------------------------------------------------------------- receiving


def test_forward_rule_actions_are_s3_then_lambda_then_stop(resources: dict[str, Any]) -> None:
    rule = props(resources, "ForwardRule")
    assert rule["RuleSetName"] == {"Ref": "ReceiptRuleSet"}
    spec = rule["Rule"]
    assert [next(iter(action)) for action in spec["Actions"]] == ["S3Action", "LambdaAction", "StopAction"]
    s3, invoke, stop = (next(iter(a.values())) for a in spec["Actions"])
    assert s3["BucketName"] == {"Ref": "MailBucket"}
    assert invoke == {"FunctionArn": {"Fn::GetAtt": ["HandleEmailFunction", "Arn"]}, "InvocationType": "Event"}
    assert stop == {"Scope": "RuleSet"}
    assert spec["Recipients"] == {"Ref": "Domains"}
    assert spec["Enabled"] is True
    assert spec["TlsPolicy"] == "Require"
    assert spec["ScanEnabled"] is True
    assert resolve(spec["Name"]) == "{AWS::StackName}-forward"
    # SES validates both on creation: they must exist first.
    assert set(resources["ForwardRule"]["DependsOn"]) == {"MailBucketPolicy", "HandleEmailSesPermission"}


def test_every_message_prefix_agrees(resources: dict[str, Any]) -> None:
    s3_action = props(resources, "ForwardRule")["Rule"]["Actions"][0]["S3Action"]
    prefix = s3_action["ObjectKeyPrefix"]
    assert prefix == config.DEFAULT_MESSAGE_PREFIX == "messages/"
    assert env_of(resources, "HandleEmailFunction")[config.MESSAGE_PREFIX] == prefix
    assert env_of(resources, "DeadLetterFunction")[config.MESSAGE_PREFIX] == prefix
    ses_statement = _ses_bucket_statement(resources)
    assert ses_statement["Resource"] == {"Fn::Sub": "${MailBucket.Arn}/" + prefix + "*"}


def test_bounce_rule_comes_last_and_bounces_with_550(resources: dict[str, Any], cfn: dict[str, Any]) -> None:
    rule = resources["BounceUncoveredRule"]
    assert rule["Condition"] == "AddBounceRule"
    assert cfn["Conditions"]["AddBounceRule"] == {"Fn::Equals": [{"Ref": "BounceUncoveredRecipients"}, "true"]}
    spec = rule["Properties"]["Rule"]
    assert rule["Properties"]["After"] == {"Ref": "ForwardRule"}
    assert "Recipients" not in spec  # all recipients the forward rule did not stop
    (bounce,) = (a["BounceAction"] for a in spec["Actions"])
    assert bounce["SmtpReplyCode"] == "550"
    assert bounce["StatusCode"] == "5.1.1"
    assert bounce["Message"] == "Mailbox does not exist"
    assert resolve(bounce["Sender"]) == "mailer-daemon@example.com"


def test_the_rule_set_is_never_activated(resources: dict[str, Any], source: dict[str, Any]) -> None:
    assert props(resources, "ReceiptRuleSet") == {"RuleSetName": {"Fn::Sub": "${AWS::StackName}-rules"}}
    # Only a custom resource (or a function run at deploy) could activate it.
    custom = [n for n, r in resources.items() if r["Type"].startswith("Custom::") or "CustomResource" in r["Type"]]
    assert custom == []
    assert set(of_type(resources, "AWS::Lambda::Function")) == {"HandleEmailFunction", "DeadLetterFunction", "FeedbackFunction"}
    text = json.dumps(source["Resources"]).lower()
    assert "setactivereceiptruleset" not in text and "set-active-receipt-rule-set" not in text
    assert "set-active-receipt-rule-set" in json.dumps(source["Outputs"]["ActivateCommand"])


# ---------------------------------------------------------------- bucket


def _ses_bucket_statement(resources: dict[str, Any]) -> dict[str, Any]:
    document = props(resources, "MailBucketPolicy")["PolicyDocument"]
    (statement,) = (s for s in document["Statement"] if s.get("Principal") == {"Service": "ses.amazonaws.com"})
    return statement


def test_bucket_policy_lets_only_this_rule_write(resources: dict[str, Any]) -> None:
    statement = _ses_bucket_statement(resources)
    assert statement["Effect"] == "Allow"
    assert statement["Action"] == "s3:PutObject"
    condition = statement["Condition"]
    assert condition["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    source_arn = resolve(condition["ArnLike"]["aws:SourceArn"])
    rule_name = resolve(props(resources, "ForwardRule")["Rule"]["Name"])
    assert source_arn == (
        "arn:aws:ses:us-east-1:123456789012:receipt-rule-set/{ReceiptRuleSet}:receipt-rule/" + rule_name
    )
    # The Lambda permission names the same rule.
    permission = props(resources, "HandleEmailSesPermission")
    assert permission["Principal"] == "ses.amazonaws.com"
    assert permission["SourceAccount"] == {"Ref": "AWS::AccountId"}
    assert resolve(permission["SourceArn"]) == source_arn


def test_bucket_is_private_encrypted_tls_only_and_expires_messages(resources: dict[str, Any]) -> None:
    bucket = props(resources, "MailBucket")
    assert set(bucket["PublicAccessBlockConfiguration"].values()) == {True}
    assert len(bucket["PublicAccessBlockConfiguration"]) == 4
    (encryption,) = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert encryption["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in {"AES256", "aws:kms"}
    assert "ObjectLockConfiguration" not in bucket and "ObjectLockEnabled" not in bucket  # SES cannot write
    rules = {r.get("Prefix"): r for r in bucket["LifecycleConfiguration"]["Rules"]}
    assert rules[config.DEFAULT_MESSAGE_PREFIX]["ExpirationInDays"] == {"Ref": "RetentionDays"}
    assert rules[config.DEFAULT_ERROR_PREFIX]["ExpirationInDays"] == {"Ref": "ErrorRetentionDays"}
    assert all(r["Status"] == "Enabled" for r in rules.values())
    document = props(resources, "MailBucketPolicy")["PolicyDocument"]
    (tls,) = (s for s in document["Statement"] if s["Effect"] == "Deny")
    assert tls["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert tls["Principal"] == "*" and tls["Action"] == "s3:*"


# ---------------------------------------------------------------- functions


@pytest.mark.parametrize(
    ("function", "needed"),
    [("HandleEmailFunction", FORWARDER_ENV), ("DeadLetterFunction", DEAD_LETTER_ENV), ("FeedbackFunction", FEEDBACK_ENV)],
)
def test_functions_get_every_variable_the_code_reads(
    resources: dict[str, Any], function: str, needed: set[str]
) -> None:
    env = env_of(resources, function)
    assert needed <= set(env), sorted(needed - set(env))
    # No misspelt SESAME_* name: each is one sesame.config knows.
    known = {v for k, v in vars(config).items() if k.isupper() and isinstance(v, str) and v.startswith("SESAME_")}
    assert {name for name in env if name.startswith("SESAME_")} <= known


def test_environment_values_point_at_the_right_things(resources: dict[str, Any]) -> None:
    forwarder = env_of(resources, "HandleEmailFunction")
    assert forwarder[config.BUCKET] == {"Ref": "MailBucket"}
    assert forwarder[config.INDEX_PREFIX] == config.DEFAULT_INDEX_PREFIX
    assert forwarder[config.ALIAS_PATH] == {"Ref": "AliasParameterPath"}
    assert forwarder[config.FROM_TEMPLATE] == {"Ref": "FromAddress"}
    assert forwarder[config.UNKNOWN_RECIPIENTS] == {"Ref": "UnknownRecipients"}
    assert forwarder[config.IDEMPOTENCY_TABLE] == {"Ref": "IdempotencyTable"}
    assert forwarder["POWERTOOLS_METRICS_NAMESPACE"] == "Sesame"
    assert forwarder["POWERTOOLS_SERVICE_NAME"] == "sesame-forwarder"
    dead = env_of(resources, "DeadLetterFunction")
    assert dead[config.BUCKET] == {"Ref": "MailBucket"}
    assert dead[config.ERROR_PREFIX] == config.DEFAULT_ERROR_PREFIX
    assert dead[config.OPERATOR_EMAIL] == {"Ref": "OperatorEmail"}
    assert dead[config.INDEX_PREFIX] == env_of(resources, "HandleEmailFunction")[config.INDEX_PREFIX]
    assert resolve(dead[config.NOTIFY_FROM]) == "sesame@example.com"
    # Every send names the one configuration set, whose events reach the feedback function.
    assert forwarder[config.CONFIGURATION_SET] == dead[config.CONFIGURATION_SET] == {"Ref": "ConfigurationSet"}
    feedback = env_of(resources, "FeedbackFunction")
    assert forwarder[config.SUPPRESSION_TABLE] == feedback[config.SUPPRESSION_TABLE] == {"Ref": "SuppressionTable"}
    assert feedback[config.FEEDBACK_PREFIX] == config.DEFAULT_FEEDBACK_PREFIX
    assert feedback[config.HARD_BOUNCE_DAYS] == {"Ref": "HardBounceSuppressionDays"}
    assert feedback[config.SOFT_BOUNCE_LIMIT] == {"Ref": "SoftBounceLimit"}
    assert feedback["POWERTOOLS_SERVICE_NAME"] == "sesame-feedback"


def test_parameter_defaults_are_the_code_defaults(source: dict[str, Any]) -> None:
    parameters = source["Parameters"]
    # `sam deploy --guided` must only need these two.
    assert {name for name, p in parameters.items() if "Default" not in p} == {"Domains", "OperatorEmail"}
    assert parameters["Domains"]["Type"] == "CommaDelimitedList"
    assert parameters["AliasParameterPath"]["Default"] == config.DEFAULT_ALIAS_PATH
    settings, verdicts = Settings(), VerdictPolicy()
    assert parameters["FromAddress"]["Default"] == settings.from_template
    assert parameters["UnknownRecipients"]["Default"] == settings.unknown
    assert parameters["VirusVerdictAction"]["Default"] == verdicts.virus_fail
    assert parameters["SpamVerdictAction"]["Default"] == verdicts.spam_fail
    assert parameters["DmarcRejectAction"]["Default"] == verdicts.dmarc_reject
    assert parameters["BounceUncoveredRecipients"]["Default"] == "false"
    from sesame.core.feedback import FeedbackPolicy

    assert parameters["HardBounceSuppressionDays"]["Default"] == FeedbackPolicy().hard_bounce_days
    assert parameters["SoftBounceLimit"]["Default"] == FeedbackPolicy().soft_bounce_limit
    # The path parameter builds IAM ARNs: it must start with a slash and not end with one.
    pattern = re.compile(parameters["AliasParameterPath"]["AllowedPattern"])
    assert pattern.fullmatch("/sesame") and pattern.fullmatch("/mail/aliases")
    assert not pattern.fullmatch("sesame") and not pattern.fullmatch("/sesame/")


def test_functions_run_python_313_on_arm(resources: dict[str, Any]) -> None:
    for name in ("HandleEmailFunction", "DeadLetterFunction"):
        function = props(resources, name)
        assert function["Runtime"] == "python3.13"
        assert function["Architectures"] == ["arm64"]
    assert props(resources, "HandleEmailFunction")["Handler"] == "handle_email.app.lambda_handler"
    assert props(resources, "DeadLetterFunction")["Handler"] == "dead_letter.app.lambda_handler"
    assert props(resources, "HandleEmailFunction")["Timeout"] >= 60


def test_forwarder_handler_is_importable() -> None:
    from handle_email import app

    assert callable(app.lambda_handler)


def test_async_retries_end_in_the_dead_letter_queue(resources: dict[str, Any]) -> None:
    (invoke_config,) = of_type(resources, "AWS::Lambda::EventInvokeConfig").values()
    settings = invoke_config["Properties"]
    assert settings["FunctionName"] == {"Ref": "HandleEmailFunction"}
    assert settings["MaximumRetryAttempts"] == 2
    assert settings["MaximumEventAgeInSeconds"] == 21600
    assert settings["DestinationConfig"]["OnFailure"]["Destination"] == {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]}
    queue = props(resources, "DeadLetterQueue")
    assert queue["MessageRetentionPeriod"] == 14 * 24 * 3600
    assert queue["SqsManagedSseEnabled"] is True or "KmsMasterKeyId" in queue


def test_dead_letter_function_consumes_the_queue_with_partial_batches(resources: dict[str, Any]) -> None:
    settings = props(resources, "DeadLetterEventSource")
    assert settings["EventSourceArn"] == {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]}
    assert settings["FunctionName"] == {"Ref": "DeadLetterFunction"}
    # Batch size, timeout and the per-record time budget fit each other: five records, each
    # started only with 45 s left, in a 120 s invocation.
    assert settings["BatchSize"] * 45 <= 2 * props(resources, "DeadLetterFunction")["Timeout"]
    assert settings["ScalingConfig"]["MaximumConcurrency"] >= 2
    assert settings["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    # The queue's visibility timeout covers six runs of the function, as Lambda advises.
    assert props(resources, "DeadLetterQueue")["VisibilityTimeout"] >= 6 * props(resources, "DeadLetterFunction")["Timeout"]


# ---------------------------------------------------------------- IAM


def test_forwarder_may_do_exactly_what_its_code_does(resources: dict[str, Any]) -> None:
    role = resources["HandleEmailFunctionRole"]
    granted: dict[str, list[Any]] = {}
    for policy, statement in statements(role):
        if policy.endswith("OnFailureSQSPolicy"):  # SAM's grant for the on-failure destination
            assert statement["Action"] == "sqs:SendMessage"
            assert statement["Resource"] == {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]}
            continue
        assert statement["Effect"] == "Allow"
        for action in listify(statement["Action"]):
            granted.setdefault(action, []).extend(resolve(listify(statement["Resource"])))
    assert set(granted) == FORWARDER_ACTIONS
    bucket = "{MailBucket.Arn}"
    journal = f"{bucket}/{config.DEFAULT_JOURNAL_PREFIX}*"
    assert granted["s3:GetObject"] == [f"{bucket}/{config.DEFAULT_MESSAGE_PREFIX}*", journal]
    assert granted["s3:PutObject"] == [
        f"{bucket}/{config.DEFAULT_INDEX_PREFIX}*", f"{bucket}/{config.DEFAULT_QUARANTINE_PREFIX}*", journal
    ]
    assert granted["s3:ListBucket"] == [bucket]
    assert granted["ssm:GetParametersByPath"] == [
        "arn:aws:ssm:us-east-1:123456789012:parameter/sesame",
        "arn:aws:ssm:us-east-1:123456789012:parameter/sesame/*",
    ]
    assert granted["dynamodb:UpdateItem"] == ["{IdempotencyTable.Arn}"]
    (listing,) = (st for _, st in statements(role) if "s3:ListBucket" in listify(st["Action"]))
    assert listing["Condition"] == {"StringLike": {"s3:prefix": f"{config.DEFAULT_JOURNAL_PREFIX}*"}}
    # The suppression list is read, one BatchGetItem a check, and never written.
    assert granted["dynamodb:BatchGetItem"] == ["{SuppressionTable.Arn}"]


@pytest.mark.parametrize("function", ["HandleEmailFunction", "DeadLetterFunction"])
def test_functions_send_only_from_the_configured_domains(resources: dict[str, Any], function: str) -> None:
    (send,) = (s for _, s in statements(resources[f"{function}Role"]) if "ses:SendRawEmail" in listify(s["Action"]))
    assert listify(send["Action"]) == ["ses:SendRawEmail"]
    # The identity, and the configuration set every send names (SES authorizes both).
    assert resolve(send["Resource"]) == [
        "arn:aws:ses:us-east-1:123456789012:identity/*",
        "arn:aws:ses:us-east-1:123456789012:configuration-set/{ConfigurationSet}",
    ]
    ((operator, values),) = send["Condition"].items()
    assert operator in {"StringLike", "ForAllValues:StringLike"}
    assert resolve(values["ses:FromAddress"]) == [f"*@{domain}" for domain in DOMAINS]


def test_dead_letter_function_reads_messages_and_writes_errors_and_index_only(resources: dict[str, Any]) -> None:
    granted: dict[str, list[Any]] = {}
    for _, statement in statements(resources["DeadLetterFunctionRole"]):
        for action in listify(statement["Action"]):
            granted.setdefault(action, []).extend(resolve(listify(statement["Resource"])))
    bucket = "{MailBucket.Arn}"
    journal = f"{bucket}/{config.DEFAULT_JOURNAL_PREFIX}*"
    assert granted["s3:GetObject"] == [
        f"{bucket}/{config.DEFAULT_MESSAGE_PREFIX}*", f"{bucket}/{config.DEFAULT_INDEX_PREFIX}*", journal
    ]
    assert granted["s3:PutObject"] == [
        f"{bucket}/{config.DEFAULT_ERROR_PREFIX}*", f"{bucket}/{config.DEFAULT_INDEX_PREFIX}*", journal
    ]
    assert granted["sqs:ReceiveMessage"] == ["arn:aws:sqs:us-east-1:123456789012:{DeadLetterQueue.QueueName}"]
    # The report goes through the send ledger, so it is sent once however often a record is read.
    assert granted["dynamodb:UpdateItem"] == ["{IdempotencyTable.Arn}"]
    assert not any(a.startswith("ssm:") for a in granted)


def test_no_wildcard_actions_and_no_data_actions_on_every_resource(resources: dict[str, Any]) -> None:
    roles = of_type(resources, "AWS::IAM::Role")
    # No crawler, so no Glue role (and no AWSGlueServiceRole, which grants glue:* and
    # s3:ListBucket on every bucket).
    assert set(roles) == {"HandleEmailFunctionRole", "DeadLetterFunctionRole", "FeedbackFunctionRole"}
    checked = 0
    for name, role in roles.items():
        for _, statement in statements(role):
            actions = listify(statement["Action"])
            assert "*" not in actions, name
            assert not any(a.endswith(":*") for a in actions), (name, actions)
            if statement["Effect"] == "Allow" and any(a.split(":")[0] in DATA_SERVICES for a in actions):
                assert "*" not in listify(statement["Resource"]), (name, statement)
            checked += 1
        # Managed policies: only logging. Not AWSLambdaSQSQueueExecutionRole, which reads
        # every queue in the account.
        managed = {json.dumps(arn, sort_keys=True) for arn in role["Properties"].get("ManagedPolicyArns", [])}
        assert managed <= {json.dumps("arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole")}, (name, managed)
    assert checked >= 8
    assert not of_type(resources, "AWS::IAM::Policy") and not of_type(resources, "AWS::IAM::ManagedPolicy")


# ---------------------------------------------------------------- index, Athena, alarms


def test_index_table_is_declared_with_day_partitions_projected_over_the_index_prefix(resources: dict[str, Any]) -> None:
    assert not of_type(resources, "AWS::Glue::Crawler")
    table = props(resources, "IndexTable")
    assert table["DatabaseName"] == {"Ref": "IndexDatabase"}
    spec = table["TableInput"]
    assert spec["Name"] == "sesame_index" and spec["TableType"] == "EXTERNAL_TABLE"
    assert [key["Name"] for key in spec["PartitionKeys"]] == ["received_day"]
    storage = spec["StorageDescriptor"]
    assert resolve(storage["Location"]) == "s3://{MailBucket}/" + config.DEFAULT_INDEX_PREFIX
    serde = storage["SerdeInfo"]
    assert serde["SerializationLibrary"] == "org.openx.data.jsonserde.JsonSerDe"
    assert serde["Parameters"] == {"case.insensitive": "true", "ignore.malformed.json": "true"}
    parameters = spec["Parameters"]
    assert parameters["projection.enabled"] == "true"
    assert parameters["projection.received_day.type"] == "date"
    # The day folders sesame.core.index.index_key writes: index/YYYY/MM/DD/
    assert parameters["projection.received_day.format"] == "yyyy/MM/dd"
    assert parameters["projection.received_day.range"].endswith(",NOW")
    assert parameters["projection.received_day.interval.unit"] == "DAYS"
    # ${!x} is Fn::Sub's escape for a literal ${x}, which Athena fills in per day.
    assert parameters["storage.location.template"] == {"Fn::Sub": "s3://${MailBucket}/index/${!received_day}/"}
    assert all(name.islower() for name, _ in ((c["Name"], c["Type"]) for c in storage["Columns"]))


def test_named_queries_use_the_workgroup_database_table_and_a_day_filter(resources: dict[str, Any]) -> None:
    queries = {q["Properties"]["Name"]: q["Properties"] for q in of_type(resources, "AWS::Athena::NamedQuery").values()}
    assert set(queries) == {
        "recent-messages",
        "top-senders",
        "top-sender-domains",
        "top-destinations",
        "failures-and-drops",
        "bounces-and-complaints",
        "feedback-by-destination",
    }
    for name, query in queries.items():
        assert query["Database"] == {"Ref": "IndexDatabase"}, name
        assert query["WorkGroup"] == {"Ref": "AthenaWorkGroup"}, name
        sql = query["QueryString"]
        # Each reads only the days asked for, of each table it reads.
        for table, partition in (("sesame_index", "received_day"), ("sesame_feedback", "feedback_day")):
            if re.search(rf"\b(FROM|JOIN) {table}\b", sql):
                assert f"{partition} >= ?" in sql, (name, table)
    assert "LEFT JOIN sesame_index" in queries["bounces-and-complaints"]["QueryString"]
    for status in ("failed", "dropped"):
        assert f"'{status}'" in queries["failures-and-drops"]["QueryString"]
    assert "detail" in queries["failures-and-drops"]["QueryString"]
    workgroup = props(resources, "AthenaWorkGroup")["WorkGroupConfiguration"]
    assert workgroup["EnforceWorkGroupConfiguration"] is True
    assert workgroup["EngineVersion"] == {"SelectedEngineVersion": "Athena engine version 3"}
    result = workgroup["ResultConfiguration"]
    assert resolve(result["OutputLocation"]) == "s3://{MailBucket}/athena-results/"
    assert result["EncryptionConfiguration"] == {"EncryptionOption": "SSE_S3"}


def _alarms(resources: dict[str, Any]) -> dict[tuple[str, str, str], dict[str, Any]]:
    seen = {}
    for alarm in (a["Properties"] for a in of_type(resources, "AWS::CloudWatch::Alarm").values()):
        assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}]
        dimension = alarm.get("Dimensions", [{}])[0].get("Value")
        seen[(alarm["Namespace"], alarm["MetricName"], json.dumps(dimension))] = alarm
    return seen


def test_alarms_watch_failures_where_they_show(resources: dict[str, Any]) -> None:
    dead_letters = json.dumps({"Fn::GetAtt": ["DeadLetterQueue", "QueueName"]})
    expected = {
        ("AWS/Lambda", "Errors", json.dumps({"Ref": "HandleEmailFunction"})): ("Sum", 0),
        ("AWS/Lambda", "Throttles", json.dumps({"Ref": "HandleEmailFunction"})): ("Sum", 0),
        # Lambda could not put a failed event on the queue: recorded nowhere else.
        ("AWS/Lambda", "DestinationDeliveryFailures", json.dumps({"Ref": "HandleEmailFunction"})): ("Sum", 0),
        ("AWS/Lambda", "Errors", json.dumps({"Ref": "DeadLetterFunction"})): ("Sum", 0),
        # A record older than one visibility timeout (720 s) failed at least once.
        ("AWS/SQS", "ApproximateAgeOfOldestMessage", dead_letters): ("Maximum", 900),
        ("AWS/SQS", "NumberOfMessagesSent", dead_letters): ("Sum", 0),
        (
            "AWS/SQS",
            "ApproximateNumberOfMessagesVisible",
            json.dumps({"Fn::GetAtt": ["UnreportedFailuresQueue", "QueueName"]}),
        ): ("Maximum", 0),
        # Metrics the functions emit (Powertools: namespace Sesame, dimension service).
        ("Sesame", "InvalidEvents", json.dumps("sesame-forwarder")): ("Sum", 0),
        ("Sesame", "DeadLetterRecordFailures", json.dumps("sesame-dead-letter")): ("Sum", 0),
        # One alias drawing a second complaint; feedback events nobody could handle.
        ("Sesame", "AliasComplaints", json.dumps("sesame-feedback")): ("Maximum", 2),
        (
            "AWS/SQS",
            "ApproximateNumberOfMessagesVisible",
            json.dumps({"Fn::GetAtt": ["FeedbackDeadLetterQueue", "QueueName"]}),
        ): ("Maximum", 0),
        ("AWS/SES", "Reputation.BounceRate", "null"): ("Maximum", 0.05),
        ("AWS/SES", "Reputation.ComplaintRate", "null"): ("Maximum", 0.001),
    }
    seen = _alarms(resources)
    assert {k: (a["Statistic"], a["Threshold"]) for k, a in seen.items()} == expected
    # Depth of the dead-letter queue stays ~0 while its function fails: not an alarm.
    assert ("AWS/SQS", "ApproximateNumberOfMessagesVisible", dead_letters) not in seen
    for key in [k for k in expected if k[0] == "Sesame"]:
        assert seen[key]["Dimensions"][0]["Name"] == "service"
    subscription = props(resources, "AlarmSubscription")
    assert subscription == {"TopicArn": {"Ref": "AlarmTopic"}, "Protocol": "email", "Endpoint": {"Ref": "OperatorEmail"}}


def test_the_forwarder_names_its_metric_service_as_the_alarms_do(resources: dict[str, Any]) -> None:
    from dead_letter import app as dead_letter_app
    from handle_email import app as forwarder_app

    assert env_of(resources, "HandleEmailFunction")["POWERTOOLS_SERVICE_NAME"] == "sesame-forwarder"
    assert env_of(resources, "DeadLetterFunction")["POWERTOOLS_SERVICE_NAME"] == "sesame-dead-letter"
    assert forwarder_app.metrics.namespace == dead_letter_app.metrics.namespace == "Sesame"


def test_dashboard_shows_the_outcomes_and_the_failure_signals(resources: dict[str, Any]) -> None:
    body = json.loads(resolve(props(resources, "Dashboard")["DashboardBody"]))
    metrics = [m for w in body["widgets"] for m in w["properties"]["metrics"] if isinstance(m[0], str)]
    ours = {m[1] for m in metrics if m[0] == "Sesame" and m[2:4] == ["service", "sesame-forwarder"]}
    assert ours == {"MessagesReceived", "Forwarded", "Bounced", "Dropped", "Failed", "InvalidEvents"}
    names = {m[1] for m in metrics}
    assert {"DestinationDeliveryFailures", "DeadLetterRecordFailures", "ApproximateAgeOfOldestMessage", "NumberOfMessagesSent"} <= names


def test_dashboard_counts_bounces_and_complaints_per_destination_and_alias_over_7_days(resources: dict[str, Any]) -> None:
    from feedback import app

    body = json.loads(resolve(props(resources, "Dashboard")["DashboardBody"]))
    searches = {}
    for widget in body["widgets"]:
        for metric in widget["properties"]["metrics"]:
            if isinstance(metric[0], dict):
                searches[metric[0]["expression"]] = widget["properties"]
    assert len(searches) == 4
    for expression, widget in searches.items():
        assert widget["start"] == "-P7D" and widget["setPeriodToTimeRange"] is True
        match = re.fullmatch(r"SEARCH\('\{Sesame,(destination|alias),service\} service=\"sesame-feedback\" "
                             r"MetricName=\"(Bounces|Complaints)\"', 'Sum', 604800\)", expression)
        assert match, expression
        assert match.group(2) in app.METRIC_BY_KIND.values()


def test_configuration_set_keeps_bodies_intact_and_its_events_reach_the_feedback_queue(resources: dict[str, Any]) -> None:
    configuration_set = props(resources, "ConfigurationSet")
    assert configuration_set["ReputationOptions"] == {"ReputationMetricsEnabled": True}
    assert configuration_set["VdmOptions"]["DashboardOptions"] == {"EngagementMetrics": "DISABLED"}
    assert configuration_set["SuppressionOptions"] == {"SuppressedReasons": ["BOUNCE"]}
    assert "TrackingOptions" not in configuration_set
    destination = props(resources, "FeedbackEventDestination")
    assert destination["ConfigurationSetName"] == {"Ref": "ConfigurationSet"}
    events = destination["EventDestination"]
    # No open or click events: with them SES would add a pixel and rewrite links.
    assert sorted(events["MatchingEventTypes"]) == ["bounce", "complaint", "deliveryDelay", "reject"]
    assert resolve(events["EventBridgeDestination"]["EventBusArn"]) == "arn:aws:events:us-east-1:123456789012:event-bus/default"
    rule = props(resources, "FeedbackRule")
    from sesame.core.feedback import DETAIL_TYPES

    assert sorted(rule["EventPattern"]["detail-type"]) == sorted(DETAIL_TYPES)
    assert rule["EventPattern"]["detail"]["mail"]["tags"]["ses:configuration-set"] == [{"Ref": "ConfigurationSet"}]
    (target,) = rule["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": ["FeedbackQueue", "Arn"]}
    assert target["DeadLetterConfig"]["Arn"] == {"Fn::GetAtt": ["FeedbackDeadLetterQueue", "Arn"]}
    (statement,) = props(resources, "FeedbackQueuePolicy")["PolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
    assert statement["Condition"] == {"ArnEquals": {"aws:SourceArn": {"Fn::GetAtt": ["FeedbackRule", "Arn"]}}}
    mapping = props(resources, "FeedbackEventSource")
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert props(resources, "FeedbackQueue")["VisibilityTimeout"] >= 6 * props(resources, "FeedbackFunction")["Timeout"]
    assert props(resources, "FeedbackFunction")["Handler"] == "feedback.app.lambda_handler"


def test_feedback_function_records_and_writes_suppressions_only(resources: dict[str, Any]) -> None:
    granted: dict[str, list[Any]] = {}
    for _, statement in statements(resources["FeedbackFunctionRole"]):
        for action in listify(statement["Action"]):
            granted.setdefault(action, []).extend(resolve(listify(statement["Resource"])))
    assert granted["s3:PutObject"] == [f"{{MailBucket.Arn}}/{config.DEFAULT_FEEDBACK_PREFIX}*"]
    assert granted["dynamodb:UpdateItem"] == ["{SuppressionTable.Arn}"]
    assert {a for a in granted if a.startswith(("s3:", "dynamodb:", "ses:", "ssm:"))} == {"s3:PutObject", "dynamodb:UpdateItem"}
    table = props(resources, "SuppressionTable")
    assert [k["AttributeName"] for k in table["KeySchema"]] == ["pk", "sk"]
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expires", "Enabled": True}
    assert table["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}


def test_outputs_tell_the_operator_what_to_do(cfn: dict[str, Any]) -> None:
    outputs = cfn["Outputs"]
    assert outputs["ReceiptRuleSetName"]["Value"] == {"Ref": "ReceiptRuleSet"}
    assert resolve(outputs["MxRecord"]["Value"]) == "10 inbound-smtp.us-east-1.amazonaws.com"
    assert resolve(outputs["ActivateCommand"]["Value"]) == (
        "aws ses set-active-receipt-rule-set --rule-set-name {ReceiptRuleSet} --region us-east-1"
    )
    # What `sesame query`, `status` and `activate` read from the stack.
    for name in ("BucketName", "DeadLetterQueueUrl", "UnreportedFailuresQueueUrl", "IdempotencyTableName",
                 "SuppressionTableName", "ConfigurationSetName", "FeedbackFunctionName", "ForwarderFunctionName",
                 "AthenaWorkGroup", "GlueDatabase", "AliasParameterPath"):
        assert name in outputs
    assert outputs["IndexTable"]["Value"] == {"Ref": "IndexTable"}
    for n in (1, 2, 3):
        assert outputs[f"DkimRecord{n}"]["Condition"] == "CreateIdentity"


# ---------------------------------------------------------------- samconfig


def test_samconfig_deploys_with_sensible_defaults() -> None:
    samconfig = tomllib.loads(SAMCONFIG.read_text())
    assert samconfig["version"] == 0.1
    deploy = samconfig["default"]["deploy"]["parameters"]
    assert deploy["stack_name"] == "sesame"
    assert deploy["capabilities"] == "CAPABILITY_IAM"
    assert deploy["resolve_s3"] is True
    assert deploy["confirm_changeset"] is True
    assert samconfig["default"]["validate"]["parameters"]["lint"] is True
    assert "build" in samconfig["default"]


if __name__ == "__main__":  # pragma: no cover - used by `make checkov`
    if len(sys.argv) != 2:
        sys.exit("usage: python tests/test_template.py OUT.json  (writes the translated template)")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        Path(sys.argv[1]).parent.mkdir(parents=True, exist_ok=True)
        Path(sys.argv[1]).write_text(json.dumps(_translated(), indent=1) + "\n")


def test_every_function_is_packaged_by_src_makefile_and_checked_by_make_build(source: dict[str, Any]) -> None:
    """Each function ships compiled bytecode (src/Makefile), and `make build` checks its bundle."""
    functions = [name for name, r in source["Resources"].items() if r["Type"] == "AWS::Serverless::Function"]
    assert functions
    src_makefile = (ROOT / "src" / "Makefile").read_text()
    build_check = next(line for line in (ROOT / "Makefile").read_text().splitlines() if "bundle_check.py" in line)
    for name in functions:
        assert source["Resources"][name].get("Metadata", {}).get("BuildMethod") == "makefile", name
        assert f"build-{name}" in src_makefile, name
        assert f".aws-sam/build/{name}" in build_check, name
    handlers = {source["Resources"][n]["Properties"]["Handler"].split(".")[0] for n in functions}
    packages = next(line for line in src_makefile.splitlines() if line.startswith("PACKAGES :=")).split()[2:]
    assert handlers <= set(packages)
