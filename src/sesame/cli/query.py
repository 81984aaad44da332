"""``sesame query NAME``: the index's named queries, on Athena or on the local index.

The SQL is the template's (``AWS::Athena::NamedQuery``), carried in the package's
catalog: the deployed stack's workgroup and database come from its outputs, and
``--local`` runs the same text on DuckDB over local mode's records.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sesame.cli.common import CommandError, add_aws_options, aws_client, print_table, stack_outputs
from sesame.core.documents import dumps_json
from sesame.ops.catalog import CatalogError, first_day, packaged_catalog
from sesame.ops.local_query import DEFAULT_INDEX_DIR, DEFAULT_TABLE_DIRS, QueryResult

DEFAULT_STACK = "sesame"
DEFAULT_DAYS = 30


def register(subparsers: Any) -> None:
    catalog = packaged_catalog()
    lines = "\n".join(f"  {q.name:<20} {q.description}" for q in catalog.queries)
    parser = subparsers.add_parser(
        "query",
        help="run a named index query (recent messages, top senders, failures, ...)",
        description=f"Run one of the index's named queries and print a table.\n\nqueries:\n{lines}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("name", metavar="NAME", choices=catalog.query_names, help="the query (listed above)")
    parser.add_argument("--days", type=int, default=DEFAULT_DAYS, help=f"how many days back, today included (default {DEFAULT_DAYS})")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON objects, whole")
    parser.add_argument("--local", action="store_true", help="query local mode's index with DuckDB; no AWS call")
    parser.add_argument("--index-dir", type=Path, default=DEFAULT_INDEX_DIR, help=f"the local index (default {DEFAULT_INDEX_DIR})")
    parser.add_argument("--feedback-dir", type=Path, default=DEFAULT_TABLE_DIRS["sesame_feedback"],
                        help=f"with --local: the feedback records (default {DEFAULT_TABLE_DIRS['sesame_feedback']})")
    parser.add_argument("--stack", default=DEFAULT_STACK, help=f"the deployed stack whose index to query (default {DEFAULT_STACK})")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for Athena (default 120)")
    add_aws_options(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    catalog = packaged_catalog()
    query = catalog.query(args.name)
    today = datetime.now(UTC).date()
    try:
        day = first_day(args.days, today)
    except CatalogError as exc:
        raise CommandError(str(exc)) from None
    if args.local:
        result = _run_local(args, query, today)
    else:
        result = _run_athena(args, query.sql, [f"'{day}'"] * query.parameter_count)
    if args.json:
        sys.stdout.write(dumps_json([dict(zip(result.columns, row, strict=True)) for row in result.rows], indent=1, default=str))
        sys.stdout.write("\n")
    else:
        print_table(result.columns, result.rows)
        print(f"({len(result.rows)} row{'s' if len(result.rows) != 1 else ''}; received since {day})")
    if result.skipped:
        print(f"sesame query: {result.skipped} record(s) were not JSON and were skipped", file=sys.stderr)
    return 0


def _run_local(args: argparse.Namespace, query: Any, today: Any) -> QueryResult:
    try:
        from sesame.ops.local_query import LocalQueryError, run_local_query
    except ImportError:  # pragma: no cover - the [local] extra is missing
        raise CommandError("--local needs DuckDB and sqlglot: pip install 'sesame-forwarder[local]'") from None
    try:
        return run_local_query(packaged_catalog(), query, days=args.days, today=today, index_dir=args.index_dir,
                               table_dirs={"sesame_feedback": args.feedback_dir})
    except LocalQueryError as exc:
        raise CommandError(str(exc)) from None


def _run_athena(args: argparse.Namespace, sql: str, parameters: list[str]) -> QueryResult:
    from sesame.ops.athena import AthenaQueryError, AthenaTarget, run_athena_query

    outputs = stack_outputs(aws_client(args, "cloudformation"), args.stack)
    missing = [key for key in ("AthenaWorkGroup", "GlueDatabase") if key not in outputs]
    if missing:
        raise CommandError(f"stack {args.stack!r} has no {' or '.join(missing)} output: is it a Sesame stack?")
    target = AthenaTarget(outputs["AthenaWorkGroup"], outputs["GlueDatabase"])
    try:
        return run_athena_query(aws_client(args, "athena"), target, sql, parameters, timeout=args.timeout)
    except AthenaQueryError as exc:
        raise CommandError(str(exc), exit_code=1) from None


__all__ = ["register"]
