"""A function's execution environment in a child process (:mod:`sesame.local.lambdas.container`),
driven from local mode's process.

Its callers (the forwarder's asynchronous event queue, an SQS event source) call
``invoke(event, request_id) -> Invocation``; a process of its own makes these real:

- **Cold starts.** The environment starts on its first invocation (or :meth:`start`) and
  stays warm; its init phase is paid once.
- **The function's timeout.** An invocation that runs past the template's ``Timeout`` is
  ended: the process is killed and the invocation fails with Lambda's ``Sandbox.Timedout``
  ("Task timed out after N seconds"); the next invocation starts a new environment.
- **A crash.** If the process dies mid-invocation (killed, out of memory, ``os._exit``), the
  invocation fails with ``Runtime.ExitError``, as Lambda reports a runtime that exited, and
  the next one starts a new environment. An init phase that raises fails the invocation
  with the init error (``Runtime.ImportModuleError`` or the exception's own type).

Each invocation's result is one JSON line on a pipe; the function's log (stderr) goes to
``logs`` when given, and otherwise only its last lines are kept, to say why a process died.
"""

from __future__ import annotations

import collections
import json
import os
import select
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from typing import IO, Any, TextIO

from sesame.local.lambdas.function import FunctionIdentity, Invocation
from sesame.local.lambdas.records import FunctionError
from sesame.local.wiring import FunctionSpec

START_TIMEOUT = 120.0  # a cold import on a loaded 2-core machine takes seconds, never minutes


class _Gone(Exception):
    """The process ended (or never answered) before giving the line we wait for."""


class ProcessContainer(FunctionIdentity):
    def __init__(
        self,
        spec: FunctionSpec,
        region: str,
        settings: Callable[[], dict[str, Any]],
        *,
        logs: TextIO | None = None,
        log_lock: threading.Lock | None = None,
        generation: Callable[[], int] | None = None,
    ) -> None:
        self.spec = spec
        self.region = region
        self.settings = settings
        self.logs = logs
        self.log_lock = log_lock or threading.Lock()
        self.generation = generation
        self.starts = 0  # cold starts, the first included
        self._process: subprocess.Popen[bytes] | None = None
        self._buffer = b""
        self._tail: collections.deque[str] = collections.deque(maxlen=20)
        self._lock = threading.Lock()

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def start(self) -> None:
        """The init phase, now (local mode warms the first environment before taking mail);
        raises :class:`FunctionError` when it fails."""
        with self._lock:
            if self._process is None:
                self._start()

    def stop(self, timeout: float = 10.0) -> None:
        with self._lock:
            self._end(timeout)

    def invoke(self, event: dict[str, Any], request_id: str | None = None) -> Invocation:
        request_id = request_id or str(uuid.uuid4())
        started = time.monotonic()
        with self._lock:
            try:
                if self._process is None:
                    self._start()
                payload = self._call(request_id, event)
            except FunctionError as exc:
                return Invocation(request_id, None, exc, time.monotonic() - started)
        if "error" in payload:
            return Invocation(request_id, None, FunctionError(payload["error"]), time.monotonic() - started)
        return Invocation(request_id, payload.get("payload"), None, time.monotonic() - started)

    # --- the process -----------------------------------------------------------------------
    def _start(self) -> None:
        self.starts += 1
        self._buffer = b""
        process = subprocess.Popen(
            [sys.executable, "-m", "sesame.local.lambdas.container"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self._process = process
        threading.Thread(target=self._copy_log, args=(process.stderr,), name=f"log-{self.name}", daemon=True).start()
        try:
            self._write(json.dumps(self.settings()))
            answer = self._read(START_TIMEOUT)
        except _Gone as exc:
            self._end()
            raise FunctionError(
                {"errorType": "Runtime.ExitError", "errorMessage": f"Runtime exited during init: {exc}{self._why()}"}
            ) from None
        if "init_error" in answer:
            self._end()
            raise FunctionError(answer["init_error"])

    def _call(self, request_id: str, event: dict[str, Any]) -> dict[str, Any]:
        request = {"request_id": request_id, "event": event}
        if self.generation is not None:
            request["aliases"] = self.generation()
        try:
            self._write(json.dumps(request))
            return self._read(float(self.spec.timeout))
        except TimeoutError:
            self._end(0)
            raise FunctionError(
                {"errorType": "Sandbox.Timedout",
                 "errorMessage": f"RequestId: {request_id} Error: Task timed out after {self.spec.timeout:.2f} seconds"}
            ) from None
        except _Gone as exc:
            self._end(0)
            raise FunctionError(
                {"errorType": "Runtime.ExitError",
                 "errorMessage": f"RequestId: {request_id} Error: Runtime exited with error: {exc}{self._why()}"}
            ) from None

    def _write(self, line: str) -> None:
        assert self._process is not None and self._process.stdin is not None
        try:
            self._process.stdin.write(line.encode() + b"\n")
            self._process.stdin.flush()
        except (BrokenPipeError, OSError):
            raise _Gone(self._status()) from None

    def _read(self, timeout: float) -> dict[str, Any]:
        """The next protocol line, within ``timeout`` seconds."""
        assert self._process is not None and self._process.stdout is not None
        fd = self._process.stdout.fileno()
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            ready, _, _ = select.select([fd], [], [], remaining)
            if not ready:
                continue
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                raise _Gone(self._status())
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        try:
            data = json.loads(line)
        except ValueError:
            raise _Gone(f"unreadable answer {line[:200]!r}") from None
        if not isinstance(data, dict):
            raise _Gone(f"unreadable answer {line[:200]!r}")
        return data

    def _status(self) -> str:
        process = self._process
        if process is None:
            return "no process"
        try:
            code = process.wait(5)
        except subprocess.TimeoutExpired:
            return "the process stopped answering"
        return f"signal: {_signal_name(-code)}" if code < 0 else f"exit status {code}"

    def _why(self) -> str:
        time.sleep(0.05)  # let the log reader take the last lines the process wrote
        tail = [line for line in list(self._tail) if line.strip()]
        return f" (last log lines: {' | '.join(tail[-3:])})" if tail else ""

    def _end(self, timeout: float = 10.0) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if process.stdin is not None:
            try:
                process.stdin.close()  # the environment's signal to end
            except OSError:
                pass
        try:
            process.wait(timeout) if timeout > 0 else process.kill()
        except subprocess.TimeoutExpired:
            process.kill()
        process.wait()
        if process.stdout is not None:
            process.stdout.close()

    def _copy_log(self, stream: IO[bytes]) -> None:
        with stream:
            for raw in stream:
                line = raw.decode("utf-8", "replace")
                self._tail.append(line.rstrip("\n"))
                if self.logs is not None:
                    with self.log_lock:
                        self.logs.write(line)
                        self.logs.flush()


def _signal_name(number: int) -> str:
    import signal

    try:
        return signal.Signals(number).name.removeprefix("SIG").lower()
    except ValueError:
        return str(number)
