"""Shared test set-up: fake AWS credentials so nothing can reach a real endpoint."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
EVENTS = ROOT / "events"
FIXTURES = Path(__file__).resolve().parent / "fixtures"


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


@pytest.fixture(autouse=True)
def _no_send_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """The delivery protocol waits 0.2-1 s between attempts of a send; tests need not."""
    monkeypatch.setattr("sesame.core.delivery.BACKOFF_SECONDS", (0.0, 0.0))


def load_event(name: str) -> dict[str, Any]:
    """A real-shaped event from ``events/`` (the same files ``sam local invoke -e`` takes)."""
    return json.loads((EVENTS / name).read_text())
