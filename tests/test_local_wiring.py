"""Local mode reads the receipt wiring from the template and refuses wiring SES would not deliver."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from sesame.local.cfn import Composite, Reference, Resolver, TemplateError, load_template
from sesame.local.wiring import NO_RULE_REPLY, read_wiring

ROOT = Path(__file__).resolve().parent.parent

S3 = "- S3Action: {BucketName: !Ref MailBucket, ObjectKeyPrefix: messages/}"
LAMBDA = "- LambdaAction: {FunctionArn: !GetAtt HandleEmailFunction.Arn, InvocationType: Event}"
STOP = "- StopAction: {Scope: RuleSet}"

TEMPLATE = """\
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Parameters:
  Domains:
    Type: CommaDelimitedList
  BounceRetired:
    Type: String
    Default: "true"
Conditions:
  AddBounceRule: !Equals [!Ref BounceRetired, "true"]
Resources:
  MailBucket:
    Type: AWS::S3::Bucket
  MailBucketPolicy:
    Type: AWS::S3::BucketPolicy
    Properties:
      Bucket: !Ref MailBucket
      PolicyDocument:
        Statement:
          - Effect: Allow
            Principal: {Service: ses.amazonaws.com}
            Action: s3:PutObject
            Resource: !Sub ${MailBucket.Arn}/messages/*
            Condition:
              ArnLike:
                aws:SourceArn: !Sub arn:${AWS::Partition}:ses:${AWS::Region}:${AWS::AccountId}:receipt-rule-set/${RuleSet}:receipt-rule/${AWS::StackName}-forward
  RuleSet:
    Type: AWS::SES::ReceiptRuleSet
  ForwardRule:
    Type: AWS::SES::ReceiptRule
    Properties:
      RuleSetName: !Ref RuleSet
      Rule:
        Name: !Sub ${AWS::StackName}-forward
        Enabled: true
        ScanEnabled: true
        Recipients: !Ref Domains
        Actions:
          @ACTIONS@
  RetiredRule:
    Type: AWS::SES::ReceiptRule
    Condition: AddBounceRule
    Properties:
      RuleSetName: !Ref RuleSet
      After: !Ref ForwardRule
      Rule:
        Name: retired
        Enabled: true
        Recipients: [retired.example, .old.example]
        Actions:
          - BounceAction:
              SmtpReplyCode: "550"
              StatusCode: 5.1.1
              Message: Mailbox does not exist
              Sender: !Sub
                - mailer-daemon@${First}
                - First: !Select [0, !Ref Domains]
  HandleEmailFunction:
    Type: AWS::Serverless::Function
    Properties:
      Handler: handle_email.app.lambda_handler
      Environment:
        Variables:
          SESAME_BUCKET: !Ref MailBucket
          SESAME_MESSAGE_PREFIX: @PREFIX@
  OtherFunction:
    Type: AWS::Serverless::Function
    Properties:
      Handler: other.handler
  HandleEmailSesPermission:
    Type: AWS::Lambda::Permission
    Properties:
      Action: lambda:InvokeFunction
      FunctionName: !GetAtt HandleEmailFunction.Arn
      Principal: ses.amazonaws.com
"""


def write_template(
    folder: Path, actions: tuple[str, ...] = (S3, LAMBDA, STOP), prefix: str = "messages/", name: str = "template.yaml"
) -> Path:
    """A small template with the deployed template's receipt wiring (and a bounce rule)."""
    indent = "\n" + " " * 10
    text = TEMPLATE.replace("@ACTIONS@", indent.join(actions)).replace("@PREFIX@", prefix)
    path = folder / name
    path.write_text(text)
    return path


DOMAINS = ("example.com", "example.net")


def test_the_wiring_of_a_good_template_is_read_in_rule_order(tmp_path: Path) -> None:
    wiring = read_wiring(write_template(tmp_path), alias_domains=DOMAINS)
    assert wiring.problems == []
    assert [r.name for r in wiring.rules] == ["sesame-local-forward", "retired"]
    forward = wiring.rules[0]
    assert forward.recipients == DOMAINS  # Domains had no value: the aliases' domains
    assert wiring.message_prefix == "messages/"
    assert wiring.function_env["SESAME_BUCKET"] == "sesame-local-mailbucket"
    assert wiring.domains == DOMAINS
    assert wiring.retry_attempts == 2  # Lambda's default for async invocations


def test_lambda_before_s3_is_refused(tmp_path: Path) -> None:
    wiring = read_wiring(write_template(tmp_path, (LAMBDA, S3, STOP)), alias_domains=DOMAINS)
    assert wiring.problems == [
        "rule sesame-local-forward: the Lambda action (action 1) runs before the S3 action (action 2): "
        "the forwarder would look for a message not stored yet"
    ]


def test_a_prefix_other_than_the_functions_is_refused(tmp_path: Path) -> None:
    wiring = read_wiring(write_template(tmp_path, prefix="inbox/"), alias_domains=DOMAINS)
    assert wiring.problems == [
        "rule sesame-local-forward: the S3 action stores under 'messages/' but HandleEmailFunction reads "
        "SESAME_MESSAGE_PREFIX='inbox/'"
    ]


def test_a_lambda_action_for_another_function_is_refused(tmp_path: Path) -> None:
    other = "- LambdaAction: {FunctionArn: !GetAtt OtherFunction.Arn}"
    wiring = read_wiring(write_template(tmp_path, (S3, other, STOP)), alias_domains=DOMAINS)
    assert "rule sesame-local-forward: the Lambda action (action 2) invokes OtherFunction, not HandleEmailFunction" in (
        wiring.problems
    )
    assert "no enabled receipt rule invokes HandleEmailFunction: SES would never hand it any mail" in wiring.problems


def test_no_rule_at_all_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "template.yaml"
    path.write_text(
        "Resources:\n  HandleEmailFunction:\n    Type: AWS::Serverless::Function\n"
        "    Properties: {Handler: handle_email.app.lambda_handler}\n"
    )
    wiring = read_wiring(path, alias_domains=DOMAINS)
    assert wiring.problems[0] == "no AWS::SES::ReceiptRule: SES would accept no mail for the forwarder"


def test_a_stop_before_the_lambda_action_and_a_missing_s3_action_are_refused(tmp_path: Path) -> None:
    wiring = read_wiring(write_template(tmp_path, (STOP, LAMBDA)), alias_domains=DOMAINS)
    assert any("comes after a Stop action" in p for p in wiring.problems)
    assert any("no S3 action stores the message" in p for p in wiring.problems)


def test_a_bucket_policy_for_another_rule_is_refused(tmp_path: Path) -> None:
    path = write_template(tmp_path)
    path.write_text(path.read_text().replace("receipt-rule/${AWS::StackName}-forward", "receipt-rule/other"))
    wiring = read_wiring(path, alias_domains=DOMAINS)
    assert len(wiring.problems) == 1 and "the bucket policy lets SES write only for" in wiring.problems[0]


def test_recipients_match_as_ses_matches_them(tmp_path: Path) -> None:
    wiring = read_wiring(write_template(tmp_path), alias_domains=DOMAINS)
    forward, retired = wiring.rules
    assert forward.matches("John@Example.COM")
    assert not forward.matches("john@sub.example.com")  # a domain does not cover its subdomains
    assert retired.matches("x@retired.example") and retired.matches("x@a.old.example")
    assert not retired.matches("x@old.example")  # ".old.example" covers subdomains only
    assert wiring.route("john@example.com").rules == (forward,)
    assert wiring.route("x@retired.example").refusal == "550 5.1.1 Mailbox does not exist"
    assert wiring.route("x@elsewhere.example").refusal == NO_RULE_REPLY


def test_samconfig_overrides_parameters_and_conditions(tmp_path: Path) -> None:
    template = write_template(tmp_path)
    (tmp_path / "samconfig.toml").write_text(
        'version = 0.1\n[default.deploy.parameters]\nstack_name = "blue"\n'
        'parameter_overrides = "Domains=\\"mail.example\\" BounceRetired=\\"false\\""\n'
    )
    wiring = read_wiring(template, alias_domains=DOMAINS)
    assert [r.name for r in wiring.rules] == ["blue-forward"]  # the bounce rule's condition is false
    assert wiring.rules[0].recipients == ("mail.example",)
    assert wiring.domains == ("mail.example",)
    assert wiring.warnings == [
        "aliases for example.com, example.net, but no forwarding rule receives that domain",
        "HandleEmailFunction has no on-failure destination: a failed message is reported nowhere",
    ]


def test_short_tags_and_intrinsics_resolve(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(
        textwrap.dedent(
            """\
            Parameters:
              Names: {Type: CommaDelimitedList, Default: "a,b"}
              Env: {Type: String, Default: prod}
            Mappings:
              Sizes: {prod: {Memory: "1024"}}
            Conditions:
              IsProd: !And [!Equals [!Ref Env, prod], !Not [!Equals [!Ref Env, dev]]]
              Either: !Or [!Condition IsProd, !Equals [x, y]]
            Resources:
              Bucket: {Type: AWS::S3::Bucket}
            Outputs:
              A: {Value: !Select [1, !Ref Names]}
              B: {Value: !Join ["-", !Split [",", "x,y"]]}
              C: {Value: !Sub "${AWS::Region}/${Env}/${Bucket.Arn}/${!Literal}"}
              D: {Value: !If [Either, !FindInMap [Sizes, !Ref Env, Memory], small]}
              E: {Value: !GetAtt Bucket.Arn}
              F: {Value: !Base64 abc}
              G: {Value: [!ImportValue x, !GetAZs "", !Cidr [a, 1, 2], !Ref AWS::NoValue]}
            """
        )
    )
    resolver = Resolver(load_template(path))
    outputs = {k: resolver.value(v["Value"]) for k, v in resolver.template["Outputs"].items()}
    assert outputs["A"] == "b"
    assert outputs["B"] == "x-y"
    assert outputs["C"] == Composite(("us-east-1/prod/", Reference("Bucket", "Arn"), "/${Literal}"))
    assert outputs["D"] == "1024"
    assert outputs["E"] == Reference("Bucket", "Arn")
    assert str(outputs["F"]).startswith("Fn::Base64")
    assert len(outputs["G"]) == 3  # AWS::NoValue removed


def test_unreadable_templates_raise_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(TemplateError, match="no such file|No such file"):
        load_template(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("Resources: [unclosed\n")
    with pytest.raises(TemplateError, match="not valid YAML"):
        load_template(bad)
    bad.write_text("just: text\n")
    with pytest.raises(TemplateError, match="no Resources section"):
        load_template(bad)


@pytest.mark.skipif(not (ROOT / "template.yaml").exists(), reason="template.yaml is not written yet")
def test_the_real_template_passes_the_wiring_check() -> None:
    from sesame.core.alias_config import load_aliases_file

    aliases = load_aliases_file(ROOT / "aliases.toml")
    wiring = read_wiring(ROOT / "template.yaml", alias_domains=aliases.table.domains)
    assert wiring.problems == []
    assert wiring.warnings == []
    forwarding = [r for r in wiring.rules if r.enabled and any(type(a).__name__ == "LambdaAction" for a in r.actions)]
    assert len(forwarding) == 1
    assert [type(a).__name__ for a in forwarding[0].actions][:2] == ["S3Action", "LambdaAction"]
    assert set(aliases.table.domains) <= set(wiring.domains)
    # The failure path: on-failure destination -> queue -> event source mapping -> dead-letter function.
    assert wiring.failure_queue == "DeadLetterQueue"
    assert wiring.dead_letter_function is not None and wiring.dead_letter_function.handler == "dead_letter.app.lambda_handler"
    # Two SQS sources: the dead letters, and SES's feedback (bounces, complaints).
    assert {(s.queue, s.function) for s in wiring.event_sources} == {
        ("DeadLetterQueue", "DeadLetterFunction"), ("FeedbackQueue", "FeedbackFunction")}
    (source,) = [s for s in wiring.event_sources if s.queue == "DeadLetterQueue"]
    declared = load_template(ROOT / "template.yaml")["Resources"]
    assert source.batch_size == declared["DeadLetterEventSource"]["Properties"]["BatchSize"]
    assert source.report_batch_item_failures
    queue = wiring.queues["DeadLetterQueue"]
    properties = declared["DeadLetterQueue"]["Properties"]
    assert (queue.visibility_timeout, queue.redrive_target, queue.max_receive_count) == (
        properties["VisibilityTimeout"],
        "UnreportedFailuresQueue",
        properties["RedrivePolicy"]["maxReceiveCount"],
    )
