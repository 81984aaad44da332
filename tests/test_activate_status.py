"""`sesame activate` and `sesame status` against moto: receipt rule sets, bucket and function
policies, SES identities, CloudFormation outputs, SSM state, SQS and CloudWatch.

moto keeps rule sets, their rules (it checks on creation that the bucket and function
exist), bucket policies, Lambda resource policies (AddPermission's statement shape) and
SES v2 identities; it never checks DNS, so the MX look-up is replaced by a fake here and
no test reaches a resolver."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from conftest import create_suppression_table
from moto import mock_aws

from sesame.cli import main
from sesame.ops import dns
from sesame.ops.preflight import ForwardRule, check_bucket_policy, check_function_policy, check_identity, check_mx

ACCOUNT, REGION = "123456789012", "us-east-1"
MX = {"example.com": ["inbound-smtp.us-east-1.amazonaws.com."], "example.net": ["mx.old-provider.example."]}


def rule_source_arn(stack: str) -> str:
    return f"arn:aws:ses:{REGION}:{ACCOUNT}:receipt-rule-set/{stack}-rules:receipt-rule/{stack}-forward"


def _function(stack: str) -> str:
    iam = boto3.client("iam")
    role = iam.create_role(RoleName=f"{stack}-role", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("app.py", "def lambda_handler(event, context):\n    return None\n")
    arn = boto3.client("lambda").create_function(
        FunctionName=f"{stack}-HandleEmailFunction", Runtime="python3.13", Role=role, Handler="app.lambda_handler",
        Code={"ZipFile": code.getvalue()},
    )["FunctionArn"]
    # What the template's HandleEmailSesPermission creates.
    boto3.client("lambda").add_permission(
        FunctionName=arn, StatementId="ses", Action="lambda:InvokeFunction", Principal="ses.amazonaws.com",
        SourceAccount=ACCOUNT, SourceArn=rule_source_arn(stack),
    )
    return arn


def bucket_policy(bucket: str, source_arn: str) -> str:
    """The template's MailBucketPolicy statement for SES."""
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Sid": "AllowSesReceiptRuleToStoreMessages", "Effect": "Allow",
        "Principal": {"Service": "ses.amazonaws.com"}, "Action": "s3:PutObject",
        "Resource": f"arn:aws:s3:::{bucket}/messages/*",
        "Condition": {"StringEquals": {"aws:SourceAccount": ACCOUNT}, "ArnLike": {"aws:SourceArn": source_arn}},
    }]})


def deploy(stack: str, domains: tuple[str, ...] = ("example.com", "example.net")) -> dict[str, str]:
    """What `sam deploy` of the template makes, as far as the operator commands look."""
    bucket = f"{stack}-mail"
    boto3.client("s3").create_bucket(Bucket=bucket)
    boto3.client("s3").put_bucket_policy(Bucket=bucket, Policy=bucket_policy(bucket, rule_source_arn(stack)))
    function = _function(stack)
    ses = boto3.client("ses")
    ses.create_receipt_rule_set(RuleSetName=f"{stack}-rules")
    ses.create_receipt_rule(RuleSetName=f"{stack}-rules", Rule={
        "Name": f"{stack}-forward", "Enabled": True, "TlsPolicy": "Require", "ScanEnabled": True,
        "Recipients": list(domains),
        "Actions": [
            {"S3Action": {"BucketName": bucket, "ObjectKeyPrefix": "messages/"}},
            {"LambdaAction": {"FunctionArn": function, "InvocationType": "Event"}},
            {"StopAction": {"Scope": "RuleSet"}},
        ],
    })
    queue = boto3.client("sqs").create_queue(QueueName=f"{stack}-DeadLetterQueue")["QueueUrl"]
    unreported = boto3.client("sqs").create_queue(QueueName=f"{stack}-UnreportedFailuresQueue")["QueueUrl"]
    outputs = {"ReceiptRuleSetName": f"{stack}-rules", "AliasParameterPath": "/sesame",
               "DeadLetterQueueUrl": queue, "UnreportedFailuresQueueUrl": unreported}
    boto3.client("cloudformation").create_stack(StackName=stack, TemplateBody=json.dumps({
        "Resources": {"Placeholder": {"Type": "AWS::SQS::Queue"}},
        "Outputs": {key: {"Value": value} for key, value in outputs.items()},
    }))
    return outputs


@pytest.fixture
def region(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    looked_up: list[str] = []

    def fake_mx(domain: str, timeout: float = 3.0) -> list[str]:
        looked_up.append(domain)
        return MX.get(domain, [])

    monkeypatch.setattr(dns, "lookup_mx", fake_mx)
    with mock_aws():
        sesv2 = boto3.client("sesv2")
        for domain in ("example.com", "example.net"):
            # Easy DKIM: moto reports DKIM SUCCESS when signing attributes are given.
            sesv2.create_email_identity(EmailIdentity=domain, DkimSigningAttributes={"NextSigningKeyLength": "RSA_2048_BIT"})
        blue, green = deploy("sesame"), deploy("sesame-green")
        boto3.client("ses").set_active_receipt_rule_set(RuleSetName="sesame-rules")
        yield {"blue": blue, "green": green, "mx": looked_up}


def active() -> str | None:
    return boto3.client("ses").describe_active_receipt_rule_set().get("Metadata", {}).get("Name")


def state() -> dict[str, Any]:
    return json.loads(boto3.client("ssm").get_parameter(Name="/sesame/state/activation")["Parameter"]["Value"])


def rows(out: str) -> dict[str, list[str]]:
    """A printed table's rows by their first cell."""
    return {line.split("  ")[0].strip(): [c.strip() for c in line.split("  ") if c.strip()] for line in out.splitlines() if line.strip()}


def test_given_a_ready_green_stack_when_activated_then_it_receives_and_blue_is_recorded(
    region: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["activate", "sesame-green"]) == 0

    assert active() == "sesame-green-rules"
    recorded = state()
    assert (recorded["activated"], recorded["previous"]) == ("sesame-green-rules", "sesame-rules")
    out = capsys.readouterr().out
    table = rows(out)
    assert table["SES may write to the bucket"][1] == "ok"
    assert table["SES may invoke the function"][1] == "ok"
    assert table["example.com is a verified identity with DKIM"][1] == "ok"
    assert table["MX of example.com"][1:] == ["ok", "inbound-smtp.us-east-1.amazonaws.com"]
    # A wrong MX is reported, not required.
    assert table["MX of example.net"][1] == "warn"
    assert "not inbound-smtp.us-east-1.amazonaws.com" in table["MX of example.net"][2]
    assert table["result"][1] == "activated sesame-green-rules"
    assert table["to go back"][1] == "sesame activate sesame-green --rollback"
    assert region["mx"] == ["example.com", "example.net"]


def test_given_an_activation_when_rolled_back_then_the_previous_rule_set_is_active_again(
    region: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["activate", "sesame-green"]) == 0

    assert main(["activate", "sesame-green", "--rollback"]) == 0

    assert active() == "sesame-rules"
    assert (state()["activated"], state()["previous"]) == ("sesame-rules", "sesame-green-rules")
    assert "activated sesame-rules" in capsys.readouterr().out


def test_given_a_rule_set_name_and_dry_run_then_checks_run_and_nothing_changes(
    region: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["activate", "sesame-green-rules", "--dry-run"]) == 0

    assert active() == "sesame-rules"
    with pytest.raises(boto3.client("ssm").exceptions.ParameterNotFound):
        state()
    assert rows(capsys.readouterr().out)["result"][1] == "dry run: nothing changed"


def test_given_a_bucket_policy_for_another_rule_set_then_nothing_is_activated(
    region: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    # Green's bucket still admits only blue's rule: SES could not store green's mail.
    boto3.client("s3").put_bucket_policy(Bucket="sesame-green-mail", Policy=bucket_policy("sesame-green-mail", rule_source_arn("sesame")))

    assert main(["activate", "sesame-green"]) == 1

    assert active() == "sesame-rules"
    captured = capsys.readouterr()
    assert rows(captured.out)["SES may write to the bucket"][1] == "FAIL"
    assert "not activated: 1 check(s) failed" in captured.err


def test_given_a_domain_without_dkim_then_nothing_is_activated(region: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    boto3.client("sesv2").delete_email_identity(EmailIdentity="example.net")
    boto3.client("sesv2").create_email_identity(EmailIdentity="example.net")  # no DKIM

    assert main(["activate", "sesame-green"]) == 1

    assert active() == "sesame-rules"
    line = rows(capsys.readouterr().out)["example.net is a verified identity with DKIM"]
    assert line[1] == "FAIL" and "DKIM is NOT_STARTED" in line[2]


def test_given_dns_is_unreachable_then_mx_is_unknown_and_the_switch_still_happens(
    region: dict[str, Any], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def no_dns(domain: str, timeout: float = 3.0) -> list[str]:
        raise dns.MxLookupFailed("DNS did not answer within 3 s")

    monkeypatch.setattr(dns, "lookup_mx", no_dns)

    assert main(["activate", "sesame-green"]) == 0

    assert active() == "sesame-green-rules"
    assert rows(capsys.readouterr().out)["MX of example.com"][1:] == ["?", "not checked: DNS did not answer within 3 s"]


def test_given_the_active_rule_set_changed_by_hand_then_rollback_refuses(
    region: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["activate", "sesame-green"]) == 0
    boto3.client("ses").set_active_receipt_rule_set()  # someone turned receiving off

    assert main(["activate", "sesame-green", "--rollback"]) == 2

    assert active() is None
    assert "not sesame-green-rules as the last" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message", "code"),
    [
        (["activate", "sesame-green", "--rollback"], "nothing to roll back", 2),
        (["activate", "no-such-thing"], "neither a receipt rule set nor a stack", 1),
    ],
)
def test_bad_targets_are_one_line(region: dict[str, Any], argv: list[str], message: str, code: int, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == code
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_status_shows_receiving_identities_dead_letters_and_the_last_hour(
    region: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    sqs, cloudwatch = boto3.client("sqs"), boto3.client("cloudwatch")
    for n in range(2):
        sqs.send_message(QueueUrl=region["green"]["DeadLetterQueueUrl"], MessageBody=f'{{"n": {n}}}')
    now = datetime.now(UTC)
    # What SQS and the forwarder publish (moto accepts AWS/ namespaces; AWS itself would not).
    cloudwatch.put_metric_data(Namespace="AWS/SQS", MetricData=[{
        "MetricName": "ApproximateAgeOfOldestMessage", "Timestamp": now, "Value": 1260, "Unit": "Seconds",
        "Dimensions": [{"Name": "QueueName", "Value": "sesame-green-DeadLetterQueue"}],
    }])
    cloudwatch.put_metric_data(Namespace="Sesame", MetricData=[
        {"MetricName": name, "Timestamp": now, "Value": value, "Unit": "Count",
         "Dimensions": [{"Name": "service", "Value": "sesame-forwarder"}]}
        for name, value in (("MessagesReceived", 4), ("Forwarded", 3), ("Failed", 1))
    ])

    assert main(["status"]) == 0

    out = capsys.readouterr().out
    assert out.splitlines()[0] == "Region us-east-1: active receipt rule set sesame-rules"
    table = rows(out)
    assert table["sesame-rules"] == ["sesame-rules", "ACTIVE", "sesame"]
    assert table["sesame-green-rules"] == ["sesame-green-rules", "sesame-green"]
    assert table["example.com"] == ["example.com", "DOMAIN", "SUCCESS", "SUCCESS"]
    dead_letters = [line.split() for line in out.splitlines() if line.startswith("sesame-green") and "dead letters" in line]
    assert dead_letters == [["sesame-green", "dead", "letters", "2", "0", "21", "min"]]
    assert table["Forwarded"] == ["Forwarded", "3"]
    assert table["Failed"] == ["Failed", "1"]
    assert table["Bounced"] == ["Bounced", "0"]


# --- the checks alone ------------------------------------------------------------------------

RULE = ForwardRule("green-forward", "mail", "messages/", f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:f", ("example.com",))
SOURCE = rule_source_arn("sesame-green")


def test_a_policy_that_admits_any_ses_rule_passes_with_a_note() -> None:
    policy = {"Statement": [{"Effect": "Allow", "Principal": {"Service": ["ses.amazonaws.com"]},
                             "Action": ["s3:Put*"], "Resource": "arn:aws:s3:::mail/*"}]}
    check = check_bucket_policy(policy, RULE, SOURCE, ACCOUNT)
    assert check.ok is True and "no aws:SourceArn condition" in check.detail


def test_a_policy_for_another_account_fails() -> None:
    policy = {"Statement": [{"Effect": "Allow", "Principal": {"Service": "ses.amazonaws.com"},
                             "Action": "lambda:InvokeFunction", "Resource": RULE.function_arn,
                             "Condition": {"StringEquals": {"AWS:SourceAccount": "999999999999"}}}]}
    assert check_function_policy(json.dumps(policy), RULE, SOURCE, ACCOUNT).ok is False
    assert check_function_policy(None, RULE, SOURCE, ACCOUNT).ok is False


def test_a_pending_identity_and_a_parent_domain() -> None:
    assert check_identity("example.com", {"VerificationStatus": "PENDING"}).blocks
    parent = {"VerificationStatus": "SUCCESS", "DkimAttributes": {"Status": "SUCCESS", "SigningEnabled": True}}
    check = check_identity("mail.example.com", parent, via="example.com")
    assert check.ok is True and "through example.com" in check.detail


def test_no_mx_record_is_a_warning_never_a_blocker() -> None:
    check = check_mx("example.org", REGION, [])
    assert (check.ok, check.blocks) == (False, False)
    assert "add 10 inbound-smtp.us-east-1.amazonaws.com" in check.detail


# --- the SES feedback loop in `sesame status` and `sesame suppressions` -------------------------


def _suppression_table(stack: str) -> str:
    """What the template's SuppressionTable is, and the stack output naming it."""
    table = f"{stack}-SuppressionTable"
    create_suppression_table(table)
    cloudformation = boto3.client("cloudformation")
    outputs = {o["OutputKey"]: o["OutputValue"] for o in cloudformation.describe_stacks(StackName=stack)["Stacks"][0]["Outputs"]}
    outputs["SuppressionTableName"] = table
    cloudformation.update_stack(StackName=stack, TemplateBody=json.dumps({
        "Resources": {"Placeholder": {"Type": "AWS::SQS::Queue"}},
        "Outputs": {key: {"Value": value} for key, value in outputs.items()},
    }))
    return table


def _feedback_metrics(now: datetime) -> None:
    """What the feedback function's per-destination and per-alias counts publish (EMF)."""
    data = []
    for name, dimension, value, count in (
        ("Bounces", "destination", "dead@gmail.example", 3),
        ("Complaints", "destination", "john.doe@gmail.example", 1),
        ("Bounces", "alias", "team@example.com", 3),
        ("Complaints", "alias", "promo@example.com", 1),
    ):
        data += [{"MetricName": name, "Timestamp": now - timedelta(days=i, hours=1), "Value": 1, "Unit": "Count",
                  "Dimensions": [{"Name": "service", "Value": "sesame-feedback"}, {"Name": dimension, "Value": value}]}
                 for i in range(count)]
    boto3.client("cloudwatch").put_metric_data(Namespace="Sesame", MetricData=data)


def test_status_shows_the_suppressions_in_force_and_7_days_of_bounces_and_complaints(
    region: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    from sesame.adapters.suppression import DynamoSuppressionList

    now = datetime.now(UTC)
    table = _suppression_table("sesame")
    suppressions = DynamoSuppressionList(boto3.client("dynamodb"), table)
    suppressions.add("ann@example.org", None, "holiday", now)
    suppressions.add("john.doe@gmail.example", "promo@example.com", "", now)
    _feedback_metrics(now)

    assert main(["status"]) == 0

    out = capsys.readouterr().out
    table_rows = rows(out)
    assert table_rows["sesame"][-1] == "2 manual"
    feedback = [line.split() for line in out.splitlines() if line.startswith(("destination ", "alias "))]
    # Most first; destinations before aliases on a tie.
    assert feedback == [
        ["destination", "dead@gmail.example", "3", "0"], ["alias", "team@example.com", "3", "0"],
        ["destination", "john.doe@gmail.example", "0", "1"], ["alias", "promo@example.com", "0", "1"]]
    assert "SES account: " in out


def test_suppressions_add_list_and_rm_from_the_command_line(region: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    _suppression_table("sesame")

    assert main(["suppressions", "add", "--destination", "Ann@Example.org", "--note", "on holiday"]) == 0
    assert main(["suppressions", "add", "--destination", "john.doe@gmail.example", "--alias", "promo@example.com"]) == 0
    capsys.readouterr()
    assert main(["suppressions", "list", "--alias", "promo@example.com"]) == 0
    out = capsys.readouterr().out
    assert rows(out)["ann@example.org"][:3] == ["ann@example.org", "(every alias)", "manual"]
    assert rows(out)["john.doe@gmail.example"][:3] == ["john.doe@gmail.example", "promo@example.com", "manual"]
    assert "(2 entries in force)" in out

    assert main(["suppressions", "rm", "--alias", "promo@example.com"]) == 0
    assert "promo@example.com: 1 entry removed; forwarding resumes" in capsys.readouterr().out
    assert main(["suppressions", "list", "--json"]) == 0
    assert [e["destination"] for e in json.loads(capsys.readouterr().out)] == ["ann@example.org"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["suppressions", "rm"], "rm needs --destination, --alias, or both"),
        (["suppressions", "add", "--alias", "a@example.com"], "add needs --destination"),
        (["suppressions", "list", "--destination", "not an address"], "--destination: not an email address"),
        (["suppressions", "list", "--stack", "sesame-green"], "has no SuppressionTableName output"),
    ],
)
def test_bad_suppression_input_is_one_line(region: dict[str, Any], argv: list[str], message: str,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    _suppression_table("sesame")
    assert main(argv) == 2
    assert message in capsys.readouterr().err
