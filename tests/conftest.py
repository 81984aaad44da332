"""Shared test set-up: fake AWS credentials so nothing can reach a real endpoint."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
EVENTS = ROOT / "events"
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def _import_every_project_module() -> None:
    """Hypothesis draws some values from the constants in the project's own modules that are
    loaded when a property test runs (hypothesis.internal.conjecture.providers, "local
    constants"). Which modules that is would depend on the tests run before it in the same
    process (pytest-xdist shares them out differently each run), and with it the examples of
    the derandomized profiles. Loading every module here, before any test, makes the examples
    the same on every run and in every order."""
    import importlib
    import pkgutil
    import sys

    for package in ("sesame", "handle_email", "dead_letter", "feedback"):
        module = importlib.import_module(package)
        for info in pkgutil.walk_packages(module.__path__, f"{package}."):
            if not info.name.endswith(".__main__"):  # a command's entry point runs on import
                importlib.import_module(info.name)
    sys.path.insert(0, str(ROOT / "bench"))  # the benchmarks some tests build their input with
    for path in sorted((ROOT / "bench").glob("*.py")):
        importlib.import_module(path.stem)


_import_every_project_module()


@pytest.fixture(autouse=True)
def _fake_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SECURITY_TOKEN": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.setenv("POWERTOOLS_DEV", "false")


LEDGER_TABLE = "sesame-idempotency"


def create_ledger_table(name: str = LEDGER_TABLE) -> None:
    """The idempotency table as the template declares it (hash key id, TTL expiration)."""
    import boto3

    boto3.client("dynamodb").create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )


def create_suppression_table(name: str) -> None:
    """The suppression table as the template declares it (hash key pk, range key sk)."""
    import boto3

    boto3.client("dynamodb").create_table(
        TableName=name,
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        BillingMode="PAY_PER_REQUEST",
    )


def seed_forwarder_aws(bucket: str, aliases: Any, alias_path: str = "/sesame") -> tuple[Any, Any]:
    """Inside ``mock_aws``: what the forwarder reads as deployed. The mail bucket, the aliases
    (an ``aliases.toml`` text or an ``AliasConfig``) as SSM parameters under ``alias_path``,
    and example.com verified in SES. Returns the S3 and SSM clients."""
    import boto3

    from sesame.core.alias_config import parse_aliases_toml, to_parameters

    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=bucket)
    ssm = boto3.client("ssm")
    config = parse_aliases_toml(aliases) if isinstance(aliases, str) else aliases
    for name, value in to_parameters(config, alias_path).items():
        ssm.put_parameter(Name=name, Value=value, Type="String")
    boto3.client("sesv2").create_email_identity(EmailIdentity="example.com")
    return s3, ssm


@pytest.fixture(autouse=True)
def _no_send_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """The delivery protocol waits 0.2-1 s between attempts of a send; tests need not."""
    monkeypatch.setattr("sesame.core.delivery.BACKOFF_SECONDS", (0.0, 0.0))


def load_event(name: str) -> dict[str, Any]:
    """A real-shaped event from ``events/`` (the same files ``sam local invoke -e`` takes)."""
    return json.loads((EVENTS / name).read_text())
