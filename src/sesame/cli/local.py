"""``sesame local``: the whole pipeline on one machine, no AWS account (``make run``).

An SMTP listener stands in for SES receiving, with the receipt rules of ``template.yaml``;
moto stands in for S3, SSM, SQS and DynamoDB; the real forwarding handler runs for every
message; what SES would send lands in an outbox folder (and can be relayed). One line per
message says what happened to each recipient.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import warnings
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
            "for SES receiving (rules from the template), moto for S3/SSM/SQS/DynamoDB, the real "
            "forwarding handler, and an outbox folder for what SES would send."
        ),
    )
    parser.add_argument("--smtp-port", type=int, default=2525, help="SMTP port on 127.0.0.1 (default 2525; 0 = any free)")
    parser.add_argument("--aliases", type=Path, default=Path("aliases.toml"), help="alias file (default: aliases.toml)")
    parser.add_argument("--outbox", type=Path, default=Path("outbox"), help="where sent mail is written (default: ./outbox)")
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
        "--retries", type=int, help="retries after a handler error (default: the template's MaximumRetryAttempts)"
    )
    parser.add_argument("--region", default="us-east-1", help="the region local mode pretends to be (default us-east-1)")
    parser.add_argument("--json", action="store_true", help="print one JSON object per message")
    parser.add_argument("--verbose", action="store_true", help="also show the forwarder's own logs and metrics (stderr)")
    parser.set_defaults(func=run)


def _relay(value: str | None) -> tuple[str, int] | None:
    if not value:
        return None
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise CommandError(f"--relay {value!r}: expected HOST:PORT, e.g. 127.0.0.1:1025")
    return host, int(port)


def run(args: argparse.Namespace) -> int:
    try:
        import aiosmtpd  # noqa: F401
        import moto.server  # noqa: F401
        import yaml  # noqa: F401
    except ImportError:
        raise CommandError(MISSING_EXTRA) from None
    from sesame.local.server import LocalMode, LocalModeError, LocalOptions

    if not 0 <= args.smtp_port <= 65535:
        raise CommandError(f"--smtp-port {args.smtp_port}: not a port number")
    if args.max_size < 1:
        raise CommandError("--max-size must be positive")
    options = LocalOptions(
        aliases=args.aliases,
        template=args.template,
        samconfig=args.samconfig,
        config_env=args.config_env,
        outbox=args.outbox,
        smtp_port=args.smtp_port,
        relay=_relay(args.relay),
        max_size=args.max_size,
        verdicts=tuple(args.verdict),
        json=args.json,
        verbose=args.verbose,
        region=args.region,
        retries=args.retries,
    )
    # The handler's Powertools warns when a failed invocation published no metric: noise here.
    warnings.filterwarnings("ignore", message="No application metrics to publish")
    mode = LocalMode(options)
    try:
        mode.prepare()
    except LocalModeError as exc:
        if len(exc.lines) == 1:
            raise CommandError(exc.lines[0]) from None
        for line in exc.lines:
            print(f"sesame local: error: {line}", file=sys.stderr)
        raise CommandError(f"{len(exc.lines)} problems; not starting") from None
    stop = threading.Event()
    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set()) if in_main else None
    try:
        try:
            mode.start()
        except LocalModeError as exc:
            raise CommandError("; ".join(exc.lines)) from None
        banner = sys.stderr if args.json else sys.stdout
        for line in mode.banner():
            print(line, file=banner, flush=True)
        if args.json:
            import json

            ready = {"event": "ready", "smtp": f"{options.host}:{mode.smtp_port}", "outbox": str(options.outbox.resolve())}
            print(json.dumps(ready), flush=True)
        try:
            stop.wait()
        except KeyboardInterrupt:
            pass
    finally:
        try:
            mode.stop()
        except KeyboardInterrupt:  # a second Ctrl-C while stopping: stop anyway, quietly
            pass
        if in_main:
            signal.signal(signal.SIGTERM, previous)
    counts: dict[str, int] = {}
    for summary in mode.results:
        for outcome in summary["outcomes"]:
            counts[outcome["status"]] = counts.get(outcome["status"], 0) + 1
    tally = ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "nothing"
    print(f"sesame local: stopped after {len(mode.results)} message(s): {tally}", file=sys.stderr)
    return 0
