"""Every boto3 client Sesame makes, configured on purpose.

botocore's defaults are 60 s to connect, 60 s to read and a retry mode that depends on the
botocore version the Lambda runtime happens to ship (legacy with 5 attempts, or standard
with 3). Against a 120 s function timeout one hung call could use up the invocation, leaving
no time to record what was already sent. So each client gets:

- ``connect_timeout`` 3 s or less: an AWS endpoint in the same region answers a TCP + TLS
  handshake in tens of milliseconds; three seconds means it is not going to.
- ``read_timeout`` sized to the call: the wait for a response to a request that was sent
  (urllib3 applies it to each socket read, not to the whole transfer, so a 40 MB download
  streaming steadily never trips it).
- ``retries`` in standard mode (exponential backoff with jitter, retries throttling, 5xx,
  and connection errors) with a bounded total attempt count.

The one exception is SES sending: SES v2 ``SendEmail`` has no idempotency token, so a retry
after a response was lost can deliver a second copy. botocore would retry silently; Sesame
retries sends itself (:mod:`sesame.core.delivery`), knowing which failures may have sent and
counting the extra copies they can cause. Its client therefore makes exactly one attempt.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

# (connect timeout s, read timeout s, total attempts). The worst case of one call is
# attempts x (connect + read) plus backoff (standard mode: at most 20 s a wait, in practice
# under 1 s for the first retries).
CLIENT_LIMITS: dict[str, tuple[float, float, int]] = {
    # GetObject of up to 40 MB and PutObject of index records and error copies.
    "s3": (3, 20, 3),
    # GetParametersByPath pages of 10 parameters; answers in milliseconds.
    "ssm": (3, 5, 3),
    # Single-item conditional writes and reads on the delivery ledger.
    "dynamodb": (2, 3, 3),
    # SendEmail with up to 40 MB of base64 raw content: SES checks the whole message before
    # it answers. One attempt: see the module docstring.
    "sesv2": (3, 30, 1),
    # Dead-letter queue reads and deletes (`sesame redrive`, the status command).
    "sqs": (3, 10, 3),
    # Operator commands: receipt rules, identities, Athena, Lambda, CloudWatch, Glue.
    "ses": (3, 10, 3),
    "athena": (3, 10, 3),
    # `sesame redrive --invoke` waits for the forwarder (RequestResponse): its timeout is 120 s,
    # so the read timeout must outlast it. One attempt: a retried invoke would run it twice.
    "lambda": (3, 150, 1),
    "cloudwatch": (3, 10, 3),
    "glue": (3, 10, 3),
    "cloudformation": (3, 10, 3),
    "sts": (3, 5, 3),
}
DEFAULT_LIMITS = (3.0, 10.0, 3)

ClientFactory = Callable[[str], Any]


def client_config(service: str, *, attempts: int | None = None, **extra: Any) -> Any:
    """The botocore ``Config`` Sesame uses for ``service``; ``attempts`` overrides the total
    attempt count (local mode turns botocore's retries off with ``attempts=1``)."""
    from botocore.config import Config

    connect, read, default_attempts = CLIENT_LIMITS.get(service, DEFAULT_LIMITS)
    return Config(
        connect_timeout=connect,
        read_timeout=read,
        retries={"mode": "standard", "total_max_attempts": attempts or default_attempts},
        tcp_keepalive=True,
        **extra,
    )


def make_client(
    service: str,
    *,
    session: Any = None,
    region_name: str | None = None,
    endpoint_url: str | None = None,
    attempts: int | None = None,
    **config_extra: Any,
) -> Any:
    """A boto3 client for ``service`` with Sesame's configuration for it."""
    if session is None:
        import boto3

        session = boto3.session.Session()
    return session.client(
        service,
        region_name=region_name,
        endpoint_url=endpoint_url,
        config=client_config(service, attempts=attempts, **config_extra),
    )


_SESSION: Any = None


def default_factory(service: str) -> Any:
    """The factory the Lambda functions use: one boto3 session for the container (each new
    session lists and parses botocore's data again: four clients from four sessions took
    1.0-1.6 s of a cold start, from one 0.65-0.8 s), Sesame's configuration for each client."""
    global _SESSION
    if _SESSION is None:
        import boto3

        _SESSION = boto3.session.Session()
    return make_client(service, session=_SESSION)


class LazyClients:
    """One client per service from ``factory``, each made the first time it is used: a
    runtime can hand clients to its adapters without paying for the ones a message never
    needs (a dropped message touches no SES, DynamoDB or S3 client)."""

    def __init__(self, factory: ClientFactory) -> None:
        self._factory = factory
        self._made: dict[str, Any] = {}

    def get(self, service: str) -> Any:
        return _LazyClient(self, service)

    def made(self, service: str) -> Any:
        if service not in self._made:
            self._made[service] = self._factory(service)
        return self._made[service]


class _LazyClient:
    __slots__ = ("_clients", "_service")

    def __init__(self, clients: LazyClients, service: str) -> None:
        self._clients = clients
        self._service = service

    def __getattr__(self, name: str) -> Any:
        return getattr(self._clients.made(self._service), name)


__all__ = ["CLIENT_LIMITS", "ClientFactory", "LazyClients", "client_config", "default_factory", "make_client"]
