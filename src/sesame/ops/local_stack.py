"""A running ``sesame local``, as its ``endpoints.json`` describes it, for operator commands
(``sesame redrive --local``, ``sesame suppressions --local``).

The file is local mode's (written at start, removed at stop): ``region``, ``credentials``
(the fake ones moto takes), ``moto.endpoint`` (the moto serving every service not named in
``moto.services``, service name -> endpoint: S3 and DynamoDB have one each), ``ses.endpoint`` (its
SES v2 stand-in), ``bucket``, ``queues`` and ``functions`` keyed by the template's logical
ids (``{"url", "arn"}`` and ``{"name", "arn", "handler", "environment"}``), ``tables``.
Clients made here carry Sesame's configuration (:func:`sesame.aws.make_client`) and point
at those endpoints, so nothing reaches AWS.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ENDPOINTS_FILE = "endpoints.json"


class LocalStackError(ValueError):
    """No running local stack there, or its description lacks what the command needs."""


@dataclass(frozen=True)
class LocalStack:
    data: Mapping[str, Any]
    source: Path

    @property
    def region(self) -> str:
        return str(self.data.get("region") or "us-east-1")

    @property
    def bucket(self) -> str:
        return str(self.data.get("bucket") or "")

    def _endpoint(self, service: str) -> str:
        if service in ("sesv2", "ses"):
            endpoint = (self.data.get("ses") or {}).get("endpoint")
            if endpoint:
                return str(endpoint)
        moto = self.data.get("moto") or {}
        endpoint = (moto.get("services") or {}).get(service) or moto.get("endpoint")
        if not endpoint:
            raise LocalStackError(f"{self.source} names no moto endpoint")
        return str(endpoint)

    def client(self, service: str) -> Any:
        import boto3

        from sesame.aws import make_client

        credentials = self.data.get("credentials") or {}
        session = boto3.session.Session(
            region_name=self.region,
            aws_access_key_id=credentials.get("aws_access_key_id", "testing"),
            aws_secret_access_key=credentials.get("aws_secret_access_key", "testing"),
        )
        extra: dict[str, Any] = {"s3": {"addressing_style": "path"}} if service == "s3" else {}
        client = make_client(service, session=session, endpoint_url=self._endpoint(service), **extra)
        if service == "s3":  # what a command rewrites (a redriven index record) reaches the state folder too
            from sesame.local.mirror import StateMirror, mirrored_folders
            from sesame.local.state import StateDir

            state = StateDir(self.source.parent)
            environments = [self.function_env(f, required=False) for f in self.data.get("functions") or {}]
            StateMirror(state, mirrored_folders(state, environments)).attach(client)
        return client

    def function_env(self, logical_id: str, *, required: bool = True) -> dict[str, str]:
        function = (self.data.get("functions") or {}).get(logical_id)
        if not isinstance(function, dict):
            if required:
                raise LocalStackError(f"{self.source} describes no function {logical_id}")
            return {}
        return {str(k): str(v) for k, v in (function.get("environment") or {}).items()}

    def queue_url(self, logical_id: str) -> str | None:
        queue = (self.data.get("queues") or {}).get(logical_id)
        return str(queue["url"]) if isinstance(queue, dict) and queue.get("url") else None

    def table(self, contains: str) -> str | None:
        """The table whose physical name contains ``contains`` (local mode lists names only)."""
        for name in self.data.get("tables") or []:
            if contains.lower() in str(name).lower():
                return str(name)
        return None


def load_local_stack(state_dir: Path) -> LocalStack:
    path = Path(state_dir) / ENDPOINTS_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise LocalStackError(f"no {path}: is `sesame local` running from this folder? (--state-dir names another)") from None
    except (OSError, ValueError) as exc:
        raise LocalStackError(f"cannot read {path}: {exc}") from None
    if not isinstance(data, dict):
        raise LocalStackError(f"{path} is not a JSON object")
    return LocalStack(data, path)


__all__ = ["LocalStack", "LocalStackError", "load_local_stack"]
