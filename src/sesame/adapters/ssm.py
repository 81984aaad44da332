"""The alias store: aliases in SSM Parameter Store, read through Powertools Parameters
(cached between invocations for ``max_age`` seconds)."""

from __future__ import annotations

from typing import Any

from sesame.core.alias_config import AliasConfig, from_parameters


class SsmAliasStore:
    def __init__(self, client: Any, path: str, max_age: int = 300) -> None:
        self._client = client
        self._provider: Any = None  # Powertools Parameters, imported and built on first load
        self._path = "/" + path.strip("/")
        self._max_age = max_age
        self._parsed: tuple[object, AliasConfig] | None = None

    @property
    def path(self) -> str:
        return self._path

    def load(self) -> AliasConfig:
        if self._provider is None:
            from aws_lambda_powertools.utilities.parameters import SSMProvider

            self._provider = SSMProvider(boto3_client=self._client)
        params = self._provider.get_multiple(self._path, max_age=self._max_age, recursive=True, decrypt=True)
        # Powertools hands back its cached dict until max_age passes: parse it once.
        if self._parsed is None or self._parsed[0] is not params:
            self._parsed = (params, from_parameters(params))  # type: ignore[arg-type]
        return self._parsed[1]
