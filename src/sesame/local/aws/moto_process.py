"""Start and stop the moto children (:mod:`sesame.local.aws.moto_child`).

AWS's services share no state that local mode relies on, so each busy one gets a moto of its
own (:data:`SHARDS`): a message's S3 and DynamoDB calls are served by two processes, on two
cores, instead of queueing for one interpreter's lock.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

# The services with a moto child each; the last child serves every other service.
SHARDS: tuple[tuple[str, ...], ...] = (("s3",), ("dynamodb",), ())


class MotoError(RuntimeError):
    """The moto child did not start."""


class MotoProcess:
    def __init__(self, host: str = "127.0.0.1", log: Path | None = None, start_timeout: float = 60) -> None:
        self.host = host
        self.log = log
        self.start_timeout = start_timeout
        self.endpoint = ""
        self._process: subprocess.Popen[bytes] | None = None
        self._log_file = None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    @property
    def exit_code(self) -> int | None:
        """The child's exit status once it has ended while still wanted; None while it runs."""
        return self._process.poll() if self._process is not None else None

    def start(self) -> str:
        self.spawn()
        return self.wait_ready()

    def spawn(self) -> None:
        """Start the child without waiting for it to listen (:meth:`wait_ready`)."""
        self._log_file = self.log.open("ab") if self.log is not None else None
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self._process = subprocess.Popen(
            [sys.executable, "-m", "sesame.local.aws.moto_child", "--host", self.host],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log_file if self._log_file is not None else subprocess.DEVNULL,
            env=env,
        )

    def wait_ready(self) -> str:
        line: list[bytes] = []
        reader = threading.Thread(target=lambda: line.append(self._process.stdout.readline()), daemon=True)  # type: ignore[union-attr]
        reader.start()
        reader.join(self.start_timeout)
        try:
            port = int(json.loads(line[0])["port"]) if line and line[0] else None
        except (ValueError, KeyError, TypeError):
            port = None
        if port is None:
            self.stop()
            where = f" (see {self.log})" if self.log is not None else ""
            raise MotoError(f"the moto server did not start within {self.start_timeout:.0f} s{where}")
        self.endpoint = f"http://{self.host}:{port}"
        return self.endpoint

    def stop(self, timeout: float = 10) -> None:
        process, self._process = self._process, None
        if process is not None:
            if process.stdin is not None:
                process.stdin.close()  # the child's signal to stop
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            if process.stdout is not None:
                process.stdout.close()
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None


class MotoFleet:
    """One moto child per shard of :data:`SHARDS`, started together."""

    def __init__(self, host: str = "127.0.0.1", log: Path | None = None, shards: tuple[tuple[str, ...], ...] = SHARDS) -> None:
        self.shards = shards
        self.children = [MotoProcess(host, log) for _ in shards]

    def start(self) -> dict[str, str]:
        """Start every child; the endpoints by service name, ``default`` for the others."""
        try:
            for child in self.children:
                child.spawn()
            for child in self.children:
                child.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self.endpoints

    @property
    def endpoints(self) -> dict[str, str]:
        found: dict[str, str] = {}
        for services, child in zip(self.shards, self.children, strict=True):
            for service in services or ("default",):
                found[service] = child.endpoint
        return found

    @property
    def pids(self) -> dict[str, int | None]:
        return {"+".join(services) or "default": child.pid for services, child in zip(self.shards, self.children, strict=True)}

    def failure(self) -> tuple[MotoProcess, int] | None:
        """The first child that has ended while wanted, with its exit status."""
        for child in self.children:
            code = child.exit_code
            if code is not None:
                return child, code
        return None

    def stop(self) -> None:
        for child in self.children:
            child.stop()
