"""The named queries on DuckDB, over a folder of index records (``sesame query --local``).

Local mode keeps every index record as ``<dir>/YYYY/MM/DD/<messageId>.json``, the same
bytes as the S3 object. This module reads them the way Athena reads the Glue table:

- keys are matched case-insensitively and keys the schema does not name are ignored (the
  OpenX JSON SerDe with ``case.insensitive``); a line that is not JSON is skipped and
  counted (``ignore.malformed.json``);
- the day folder becomes the ``received_day`` partition column;
- the columns and their types are the Glue table's, from the packaged catalog.

The SQL is the template's Trino text, transpiled by sqlglot. sqlglot leaves one Trino
construct as it is, the multi-argument ``CROSS JOIN UNNEST(a, b) AS t (x, y)`` that zips
arrays; DuckDB has no such table function, so it becomes a lateral subquery of
``UNNEST`` calls, which DuckDB zips the same way.
"""

from __future__ import annotations

import json
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from sesame.core.documents import dumps_json
from sesame.ops.catalog import IndexCatalog, NamedQuery, first_day

DEFAULT_INDEX_DIR = Path(".sesame-local/index")
# Folders of the other tables' records, as local mode's state folder would hold them (a
# missing one is an empty table).
DEFAULT_TABLE_DIRS = {"sesame_feedback": Path(".sesame-local/feedback")}
_DAY_PARTS = re.compile(r"^\d{4}$|^\d{2}$")


class LocalQueryError(ValueError):
    """The local index cannot be queried (missing folder, a query DuckDB refuses)."""


@dataclass(frozen=True)
class QueryResult:
    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]
    skipped: int = 0  # records that were not JSON (Athena skips them too)


def duckdb_type(hive_type: str) -> str:
    """A Glue (Hive) column type in DuckDB's spelling."""
    from sqlglot import exp

    return exp.DataType.build(hive_type, dialect="hive").sql(dialect="duckdb")


def to_duckdb(sql: str) -> str:
    """The template's Trino query as DuckDB SQL."""
    import sqlglot
    from sqlglot import exp

    def zip_unnest(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Unnest) and len(node.expressions) > 1 and isinstance(node.parent, exp.Join):
            alias = node.args["alias"]
            columns = [exp.alias_(exp.Unnest(expressions=[array.copy()]), column.name)
                       for array, column in zip(node.expressions, alias.columns, strict=True)]
            return exp.Lateral(
                this=exp.Subquery(this=exp.select(*columns)),
                alias=exp.TableAlias(this=exp.to_identifier(alias.name)),
            )
        return node

    tree = sqlglot.parse_one(sql, read="athena").transform(zip_unnest)
    return tree.sql(dialect="duckdb")


def _lower_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k).lower(): _lower_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_lower_keys(v) for v in value]
    return value


def _record_files(index_dir: Path) -> Iterator[tuple[str, Path]]:
    """(YYYY/MM/DD, file) for every record file under the day folders."""
    for path in sorted(index_dir.glob("*/*/*/*.json")):
        year, month, day = path.parent.parent.parent.name, path.parent.parent.name, path.parent.name
        if len(year) == 4 and all(_DAY_PARTS.match(p) for p in (year, month, day)):
            yield f"{year}/{month}/{day}", path


def _normalized_lines(index_dir: Path, partition: str) -> tuple[list[str], int]:
    lines, skipped = [], 0
    for day, path in _record_files(index_dir):
        # At "\n" only, as JSON Lines does: splitlines() would also cut at a U+2028 in a subject.
        for line in path.read_text(encoding="utf-8", errors="replace").split("\n"):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                skipped += 1
                continue
            if not isinstance(record, dict):
                skipped += 1
                continue
            record = _lower_keys(record)
            record[partition] = day
            lines.append(dumps_json(record))
    return lines, skipped


def run_local_query(
    catalog: IndexCatalog,
    query: NamedQuery,
    *,
    days: int,
    today: date,
    index_dir: Path = DEFAULT_INDEX_DIR,
    table_dirs: dict[str, Path] | None = None,
) -> QueryResult:
    import duckdb

    if not index_dir.is_dir():
        raise LocalQueryError(
            f"no index at {index_dir}: run `sesame local` and send a message, or pass --index-dir"
        )
    folders = {**DEFAULT_TABLE_DIRS, **(table_dirs or {}), catalog.table: index_dir}
    skipped = 0
    connection = duckdb.connect()
    try:
        with tempfile.TemporaryDirectory(prefix="sesame-query-") as scratch:
            for spec in catalog.tables:
                folder = folders.get(spec.name)
                lines, bad = _normalized_lines(folder, spec.partition) if folder and folder.is_dir() else ([], 0)
                skipped += bad if spec.name == catalog.table else 0
                columns = {name: duckdb_type(type_) for name, type_ in spec.columns}
                columns[spec.partition] = "VARCHAR"
                records = Path(scratch) / f"{spec.name}.json"
                records.write_text("\n".join(lines) + "\n", encoding="utf-8")
                connection.execute(
                    f"CREATE TABLE {spec.name} AS SELECT * FROM read_json(?, format = 'newline_delimited', "
                    f"columns = {_struct_literal(columns)})",
                    [str(records)],
                )
        sql = to_duckdb(query.sql)
        try:
            cursor = connection.execute(sql, [first_day(days, today)] * query.parameter_count)
        except duckdb.Error as exc:
            raise LocalQueryError(f"{query.name}: DuckDB refused the transpiled query: {exc}") from None
        names = tuple(d[0] for d in cursor.description)
        return QueryResult(names, tuple(tuple(row) for row in cursor.fetchall()), skipped)
    finally:
        connection.close()


def _struct_literal(columns: dict[str, str]) -> str:
    """``{'name': 'TYPE', ...}`` as DuckDB's read_json takes its ``columns``."""
    def quote(text: str) -> str:
        return "'" + text.replace("'", "''") + "'"

    return "{" + ", ".join(f"{quote(name)}: {quote(type_)}" for name, type_ in columns.items()) + "}"


__all__ = ["DEFAULT_INDEX_DIR", "DEFAULT_TABLE_DIRS", "LocalQueryError", "QueryResult", "duckdb_type", "run_local_query", "to_duckdb"]
