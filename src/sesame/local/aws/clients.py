"""The clients local mode hands the functions, and the ones it uses itself.

A function's clients come from :func:`sesame.aws.make_client`: the timeouts and retries the
deployed functions use are the ones local mode exercises. They point at the local endpoints
(SES v2 at the SES stand-in, every other service at the moto child serving it) and carry
the fault hooks.
Local mode's own calls (storing received mail, queue polling, reading index records back)
stand for AWS's side of things and never see faults.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from sesame.aws import ClientFactory, make_client
from sesame.local.aws.faults import FaultInjector

# Credentials moto accepts; nothing here can reach a real AWS endpoint.
FAKE_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


class LocalAws:
    def __init__(
        self,
        region: str,
        endpoints: Mapping[str, str],
        *,
        faults: FaultInjector | None = None,
        sdk_retries: bool = True,
    ) -> None:
        """``endpoints``: service name -> URL, with ``default`` for the services not named."""
        import boto3

        self.region = region
        self.endpoints = dict(endpoints)
        self.faults = faults
        self.sdk_retries = sdk_retries
        self._session = boto3.session.Session(region_name=region, **FAKE_CREDENTIALS)
        self._admin: dict[str, Any] = {}
        self._lock = threading.Lock()  # a boto3 session is not safe to make clients from concurrently

    def endpoint_for(self, service: str) -> str:
        return self.endpoints.get(service) or self.endpoints["default"]

    def _client(self, service: str, *, retries: bool) -> Any:
        extra: dict[str, Any] = {"s3": {"addressing_style": "path"}} if service == "s3" else {}
        with self._lock:
            # Sesame's configuration; without retries, botocore's own are off: one attempt a call.
            return make_client(
                service,
                session=self._session,
                region_name=self.region,
                endpoint_url=self.endpoint_for(service),
                attempts=None if retries else 1,
                **extra,
            )

    def factory(self, function: str) -> ClientFactory:
        """The client factory for one function: Sesame's configuration, local endpoints, faults."""

        def make(service: str) -> Any:
            client = self._client(service, retries=self.sdk_retries)
            if self.faults is not None:
                self.faults.attach(client, function)
            return client

        return make

    def admin(self, service: str) -> Any:
        """A client for local mode's own calls (AWS's side): no faults, botocore's retries."""
        with self._lock:
            client = self._admin.get(service)
        if client is None:
            client = self._client(service, retries=True)
            with self._lock:
                client = self._admin.setdefault(service, client)
        return client
