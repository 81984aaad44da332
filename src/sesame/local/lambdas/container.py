"""One execution environment of a function, in a process of its own:
``python -m sesame.local.lambdas.container``.

Lambda runs each concurrent invocation of a function in its own execution environment: its
own process, its own module state (Powertools' Logger and Metrics, the runtime the handler
module keeps), its own clients. This is that environment for local mode. The parent
(:class:`sesame.local.lambdas.process.ProcessContainer`) writes one JSON line of settings on
stdin, then one line per invocation; each gets one JSON line back on the protocol pipe:

- settings -> ``{"ready": true}`` once the init phase (the handler module's import, its
  runtime) is over, or ``{"init_error": {errorType, errorMessage, stackTrace}}``;
- ``{"request_id", "event", "aliases"}`` -> ``{"payload": ...}`` or ``{"error": {...}}``, the
  Python runtime's error shape (AWS Lambda developer guide, "Lambda runtime API":
  invocation error; :func:`sesame.local.lambdas.records.error_payload`).

Whatever the handler prints (Powertools' metrics go to stdout, as in Lambda) and logs goes to
stderr, which is the function's log; the protocol has a descriptor of its own. The
environment ends when stdin closes. A Ctrl-C in the terminal or a SIGTERM to the process
group is the parent's business (it stops taking events first), so both are ignored here.
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from sesame.local.lambdas.context import LambdaContext
from sesame.local.lambdas.records import error_payload


class GenerationAliases:
    """The forwarder's aliases: the real SSM alias store, made again whenever the parent says
    the aliases file changed (it writes SSM first, then bumps the generation it sends along
    with each event), so every environment reads the new aliases from SSM on its next event."""

    def __init__(self, make_store: Any) -> None:
        self.make_store = make_store
        self.generation: int | None = None
        self._store: Any = None

    def at(self, generation: int | None) -> None:
        if self._store is None or generation != self.generation:
            self.generation = generation
            self._store = self.make_store()

    def load(self) -> Any:
        if self._store is None:
            self.at(None)
        return self._store.load()


class Environment:
    """The init phase: the handler module imported, its runtime built on local clients."""

    def __init__(self, settings: dict[str, Any]) -> None:
        self.settings = settings
        self.function = settings["function"]
        os.environ.update(settings["env"])  # Lambda sets the function's variables in its environment
        self.aliases: GenerationAliases | None = None
        module_name, _, attribute = self.function["handler"].rpartition(".")
        self.module = importlib.import_module(module_name)
        self.handler = getattr(self.module, attribute)
        if settings.get("runtime"):  # Sesame's functions take their runtime, built on local clients
            self.module.use_runtime(self._runtime())
        logger = getattr(self.module, "logger", None)
        if logger is not None:
            logger.setLevel(settings.get("log_level") or "WARNING")
            handler = logger.registered_handler
            if hasattr(handler, "setStream"):
                handler.setStream(sys.stderr)

    def _clients(self) -> Any:
        from sesame.local.aws.clients import LocalAws
        from sesame.local.aws.faults import FaultInjector, FaultPlan
        from sesame.local.mirror import StateMirror
        from sesame.local.state import StateDir

        s = self.settings
        faults = None
        if s.get("faults"):
            f = s["faults"]
            plan = FaultPlan(f["rate"], f.get("seed"), tuple(f["kinds"]))
            faults = FaultInjector(plan, Path(f["log"]) if f.get("log") else None)
        aws = LocalAws(s["region"], s["endpoints"], faults=faults, sdk_retries=s.get("sdk_retries", True))
        make = aws.factory(self.function["name"])
        mirror = StateMirror(StateDir(s["state_dir"]), {p: Path(f) for p, f in (s.get("mirror") or {}).items()})

        def clients(service: str) -> Any:
            client = make(service)
            mirror.attach(client)
            return client

        return clients

    def _runtime(self) -> Any:
        kind = self.settings["runtime"]
        env, clients = self.settings["env"], self._clients()
        if kind == "forwarder":
            from sesame.adapters.ssm import SsmAliasStore
            from sesame.runtime import build_runtime

            alias = self.settings["aliases"]
            self.aliases = GenerationAliases(
                lambda: SsmAliasStore(clients("ssm"), alias["path"], alias["cache_seconds"])
            )
            return build_runtime(env, clients=clients, aliases=self.aliases)
        if kind == "dead_letter":
            from sesame.dead_letter_runtime import build_dead_letter_runtime

            return build_dead_letter_runtime(env, clients=clients)
        if kind == "feedback":
            from sesame.feedback_runtime import build_feedback_runtime

            return build_feedback_runtime(env, clients=clients)
        raise ValueError(f"no runtime called {kind!r}")

    def invoke(self, request: dict[str, Any]) -> dict[str, Any]:
        if self.aliases is not None:
            self.aliases.at(request.get("aliases"))
        f = self.function
        context = LambdaContext(
            function_name=f["name"],
            invoked_function_arn=f["arn"],
            memory_limit_in_mb=f["memory"],
            timeout_seconds=f["timeout"],
            aws_request_id=request["request_id"],
            started=time.monotonic(),
        )
        try:
            return {"payload": self.handler(request["event"], context)}
        except Exception as exc:  # noqa: BLE001 - an unhandled error is the invocation's result, as Lambda records it
            return {"error": error_payload(exc)}


def _answer(out: TextIO, data: dict[str, Any]) -> None:
    try:
        line = json.dumps(data)
    except (TypeError, ValueError) as exc:  # Lambda cannot serialize the handler's return either
        line = json.dumps({"error": {"errorType": "Runtime.MarshalError", "errorMessage": f"Unable to marshal response: {exc}",
                                     "stackTrace": []}})
    out.write(line + "\n")
    out.flush()


def main() -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    protocol = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)  # what the handler prints is its log, never the protocol
    sys.stdout = sys.stderr
    settings = json.loads(sys.stdin.readline() or "{}")
    try:
        environment = Environment(settings)
    except Exception as exc:  # noqa: BLE001 - the init error, as Lambda reports it on the next invoke
        _answer(protocol, {"init_error": error_payload(exc)})
        return 1
    _answer(protocol, {"ready": True})
    for line in sys.stdin:
        _answer(protocol, environment.invoke(json.loads(line)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
