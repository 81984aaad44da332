"""What every function's execution environment shares: its identity and an invocation's result.

The environments themselves are processes (:mod:`sesame.local.lambdas.process`), one handler
module and one runtime each, as in Lambda.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sesame.local.wiring import FunctionSpec


@dataclass(frozen=True)
class Invocation:
    request_id: str
    payload: Any
    error: BaseException | None
    seconds: float


class FunctionIdentity:
    """A function's name and ARN, from its template entry and the region."""

    spec: FunctionSpec
    region: str

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def arn(self) -> str:
        return self.spec.arn(self.region)
