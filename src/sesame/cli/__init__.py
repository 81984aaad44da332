"""``sesame``: the operator's command line.

Each subcommand lives in a module with ``register(subparsers)``; expected failures print
one line a person can act on and exit non-zero, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from sesame import __version__
from sesame.cli import activate, aliases, local, preview, query, redrive, status, suppressions
from sesame.cli.common import CommandError

# In the order `sesame --help` lists them: the operator's loop (activate, status, query,
# redrive, suppressions), then the tools.
COMMANDS = [activate, status, query, redrive, suppressions, aliases, preview, local]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sesame", description="Operate a Sesame email forwarder.")
    parser.add_argument("--version", action="version", version=f"sesame {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except CommandError as exc:
        print(f"sesame {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
