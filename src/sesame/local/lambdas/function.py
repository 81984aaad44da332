"""One function's container: its handler module, its runtime, one invocation at a time.

The handler is the real one (``handle_email.app.lambda_handler``,
``dead_letter.app.lambda_handler``): local mode only hands it a runtime built on local
clients (``app.use_runtime``) and a context. Powertools' Logger and Metrics are module
state, as in a Lambda container, so a function runs one invocation at a time; and the
metrics (EMF) go to stdout, which is the log in Lambda, so every invocation in this process
holds one lock while stdout points at the function's log.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO

from sesame.local.lambdas.context import LambdaContext
from sesame.local.wiring import FunctionSpec

_STDOUT = threading.Lock()  # sys.stdout is one per process


class _Discard(io.TextIOBase):
    def write(self, s: str) -> int:
        return len(s)


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


class LocalFunction(FunctionIdentity):
    def __init__(
        self,
        spec: FunctionSpec,
        region: str,
        runtime_factory: Callable[[], Any],
        *,
        logs: TextIO | None = None,
        log_level: str = "WARNING",
    ) -> None:
        self.spec = spec
        self.region = region
        self.runtime_factory = runtime_factory
        self.logs = logs
        self.log_level = log_level
        self.module: Any = None
        self._handler: Callable[..., Any] | None = None
        self._saved_logger: tuple[Any, ...] | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        """The container's init phase: import the handler module, give it its runtime."""
        module_name, _, attribute = self.spec.handler.rpartition(".")
        self.module = importlib.import_module(module_name)
        self._handler = getattr(self.module, attribute)
        self.module.use_runtime(self.runtime_factory())
        logger = getattr(self.module, "logger", None)
        if logger is not None:
            handler = logger.registered_handler
            self._saved_logger = (logger, logger.log_level, handler, getattr(handler, "stream", None))
            logger.setLevel(self.log_level)
            if hasattr(handler, "setStream"):
                handler.setStream(self.logs if self.logs is not None else _Discard())

    def stop(self) -> None:
        if self._saved_logger is not None:
            logger, level, handler, stream = self._saved_logger
            logger.setLevel(level)
            if stream is not None and hasattr(handler, "setStream"):
                handler.setStream(stream)
            self._saved_logger = None
        if self.module is not None:
            self.module.use_runtime(None)
            self.module = None

    def invoke(self, event: dict[str, Any], request_id: str | None = None) -> Invocation:
        assert self._handler is not None, "start() the function first"
        context = LambdaContext(
            function_name=self.spec.name,
            invoked_function_arn=self.arn,
            memory_limit_in_mb=self.spec.memory,
            timeout_seconds=self.spec.timeout,
            aws_request_id=request_id or str(uuid.uuid4()),
        )
        started = time.monotonic()
        payload: Any = None
        error: BaseException | None = None
        with self._lock, _STDOUT, contextlib.redirect_stdout(self.logs if self.logs is not None else _Discard()):
            try:
                payload = self._handler(event, context)
            except Exception as exc:  # noqa: BLE001 - a function error, as Lambda records it
                error = exc
        return Invocation(context.aws_request_id, payload, error, time.monotonic() - started)
