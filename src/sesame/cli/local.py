"""``sesame local``: the whole pipeline on one machine, no AWS account (``make run``).

An SMTP listener stands in for SES receiving, with the receipt rules of ``template.yaml``;
moto (in a child process) stands in for S3, SSM, SQS and DynamoDB, an HTTP server for the
SES v2 API; the real forwarding, dead-letter and feedback handlers run as Lambda would run them; what
SES would send lands in an outbox folder (and can be relayed). One line per message says
what happened to each recipient.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from sesame.cli.common import CommandError

MISSING_EXTRA = "local mode needs the [local] extra: pip install 'sesame-forwarder[local]'"


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "local",
        help="run SES receiving, the forwarder and SES sending on this machine (no AWS account)",
        description=(
            "Run the whole pipeline on this machine, with no AWS account: an SMTP listener standing in "
            "for SES receiving (rules from the template), moto for S3/SSM/SQS/DynamoDB, an SES v2 API "
            "stand-in, the real forwarding, dead-letter and feedback functions, and an outbox folder for what SES "
            "would send."
        ),
    )
    parser.add_argument("--smtp-port", type=int, default=2525, help="SMTP port on 127.0.0.1 (default 2525; 0 = any free)")
    parser.add_argument("--aliases", type=Path, default=Path("aliases.toml"), help="alias file (default: aliases.toml)")
    parser.add_argument("--outbox", type=Path, default=Path("outbox"), help="where sent mail is written (default: ./outbox)")
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=Path(".sesame-local"),
        help="index records, failed messages, fault log, endpoints.json (default: ./.sesame-local)",
    )
    parser.add_argument("--relay", metavar="HOST:PORT", help="also relay what SES would send to this SMTP server")
    parser.add_argument("--template", type=Path, default=Path("template.yaml"), help="SAM template (default: template.yaml)")
    parser.add_argument(
        "--samconfig", type=Path, help="parameter overrides from this samconfig.toml (default: the one beside the template)"
    )
    parser.add_argument("--config-env", default="default", help="samconfig environment (default: default)")
    parser.add_argument(
        "--max-size", type=int, default=40 * 1024 * 1024, help="largest message accepted, in bytes (default 40 MB, as SES)"
    )
    parser.add_argument(
        "--verdict",
        action="append",
        default=[],
        metavar="NAME=STATUS",
        help="local only: the scan verdict SES reports, e.g. spam=FAIL, dmarc=FAIL, dmarc-policy=reject (repeatable)",
    )
    parser.add_argument(
        "--feedback",
        action="append",
        default=[],
        metavar="KIND=ADDRESS",
        help="local only: SES reports this destination's copies as a bounce, soft-bounce or complaint "
        "(repeatable, or comma-separated); the mailbox simulator's addresses (bounce@simulator.amazonses.com, "
        "complaint@..., suppressionlist@...) do so anyway",
    )
    parser.add_argument(
        "--retries", type=int, help="Lambda retries after a function error (default: the template's MaximumRetryAttempts)"
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        default=4,
        metavar="N",
        help="the forwarder's execution environments at most, a process each, started as a burst of mail "
        "needs them (1 to 10, default 4)",
    )
    parser.add_argument(
        "--time-scale",
        type=float,
        default=0.01,
        metavar="FACTOR",
        help="how fast Lambda's retry delays (1 and 2 minutes) and SQS visibility timeouts pass: "
        "1 is real time (default 0.01)",
    )
    parser.add_argument(
        "--faults",
        type=float,
        default=0.0,
        metavar="RATE",
        help="fail this share of the functions' AWS calls (0 to 1): throttling, 5xx, timeouts, lost responses",
    )
    parser.add_argument("--fault-seed", type=int, metavar="N", help="seed for --faults, to replay a run (with --concurrency 1: which environment takes a message "
        "depends on timing, and each draws from its own seed)")
    parser.add_argument(
        "--no-sdk-retries",
        dest="sdk_retries",
        action="store_false",
        help="turn botocore's own retries off in the functions' clients (one attempt a call)",
    )
    parser.add_argument(
        "--operator-email",
        default=None,
        help="the OperatorEmail parameter when the template and samconfig give none (default operator@sesame.localhost)",
    )
    parser.add_argument("--region", default="us-east-1", help="the region local mode pretends to be (default us-east-1)")
    parser.add_argument("--json", action="store_true", help="print one JSON object per message")
    parser.add_argument("--verbose", action="store_true", help="also show the functions' own logs and metrics (stderr)")
    parser.set_defaults(func=run)


def _relay(value: str | None) -> tuple[str, int] | None:
    if not value:
        return None
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise CommandError(f"--relay {value!r}: expected HOST:PORT, e.g. 127.0.0.1:1025")
    return host, int(port)


def options_from(args: argparse.Namespace) -> Any:
    from sesame.local.stack import DEFAULT_OPERATOR, LocalOptions

    if not 0 <= args.smtp_port <= 65535:
        raise CommandError(f"--smtp-port {args.smtp_port}: not a port number")
    if args.max_size < 1:
        raise CommandError("--max-size must be positive")
    if not 0 <= args.faults <= 1:
        raise CommandError(f"--faults {args.faults}: a rate between 0 and 1, e.g. 0.05")
    if args.time_scale <= 0:
        raise CommandError(f"--time-scale {args.time_scale}: must be positive (1 = real time)")
    if not 1 <= args.concurrency <= 10:
        raise CommandError(f"--concurrency {args.concurrency}: between 1 and 10 execution environments")
    if args.retries is not None and not 0 <= args.retries <= 2:
        raise CommandError(f"--retries {args.retries}: Lambda retries an asynchronous event 0 to 2 times")
    from sesame.local.sending.fates import parse_feedback_marks

    try:
        parse_feedback_marks(args.feedback)
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    return LocalOptions(
        aliases=args.aliases,
        template=args.template,
        samconfig=args.samconfig,
        config_env=args.config_env,
        outbox=args.outbox,
        state_dir=args.state_dir,
        smtp_port=args.smtp_port,
        relay=_relay(args.relay),
        max_size=args.max_size,
        verdicts=tuple(args.verdict),
        json=args.json,
        verbose=args.verbose,
        region=args.region,
        retries=args.retries,
        faults=args.faults,
        fault_seed=args.fault_seed,
        sdk_retries=args.sdk_retries,
        time_scale=args.time_scale,
        operator_email=args.operator_email or DEFAULT_OPERATOR,
        feedback=tuple(args.feedback),
        concurrency=args.concurrency,
    )


def run(args: argparse.Namespace) -> int:
    try:
        import aiosmtpd  # noqa: F401
        import moto.server  # noqa: F401
        import yaml  # noqa: F401
    except ImportError:
        raise CommandError(MISSING_EXTRA) from None
    from sesame.local.report import tally
    from sesame.local.stack import LocalModeError, LocalStack

    options = options_from(args)
    stack = LocalStack(options)
    try:
        stack.prepare()
    except LocalModeError as exc:
        if len(exc.lines) == 1:
            raise CommandError(exc.lines[0]) from None
        for line in exc.lines:
            print(f"sesame local: error: {line}", file=sys.stderr)
        raise CommandError(f"{len(exc.lines)} problems; not starting") from None
    # Both signals stop local mode, also without a terminal: a shell starting a background job
    # (`sesame local ... &`) leaves SIGINT ignored, and Python then never raises KeyboardInterrupt.
    # The handler only appends to a list: it runs in the main thread between any two bytecodes,
    # so taking a lock there (threading.Event.set) can deadlock against the main thread itself.
    signals: list[int] = []
    previous = _on_signals(lambda signum, _frame: signals.append(signum))
    status = 0
    try:
        try:
            stack.start()
        except LocalModeError as exc:
            raise CommandError("; ".join(exc.lines)) from None
        banner = sys.stderr if args.json else sys.stdout
        for line in stack.banner():
            print(line, file=banner, flush=True)
        if args.json:
            ready = {"event": "ready", "smtp": f"{options.host}:{stack.smtp_port}", "outbox": str(options.outbox.resolve())}
            print(json.dumps(ready), flush=True)
        while not signals:
            problem = stack.failure()
            if problem is not None:
                print(f"sesame local: error: {problem}; stopping", file=sys.stderr, flush=True)
                status = 1
                break
            time.sleep(0.2)
    finally:
        _on_signals(lambda *_: None)  # a second signal while stopping: stop anyway, quietly
        try:
            stack.stop()
        finally:
            _restore(previous)
    # A message `sesame redrive --local` ran again since its line counts by its latest outcome.
    print(f"sesame local: {tally(stack.results, stack.final.rewritten)}", file=sys.stderr)
    return status


def _on_signals(handler: Any) -> dict[int, Any]:
    if threading.current_thread() is not threading.main_thread():
        return {}
    return {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}


def _restore(previous: dict[int, Any]) -> None:
    for sig, handler in previous.items():
        signal.signal(sig, handler)
