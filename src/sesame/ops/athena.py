"""Running a named query on Athena: start it, wait a bounded time, read the rows.

Athena answers ``StartQueryExecution`` at once and runs the query in the background; the
caller polls ``GetQueryExecution`` until the state is SUCCEEDED, FAILED or CANCELLED
(Athena API reference, QueryExecutionStatus). A query still running when the wait is over
is stopped, so no forgotten query keeps scanning. Values in ``ExecutionParameters`` are SQL
literals, so a day is passed quoted: ``'2026/11/20'``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from sesame.ops.local_query import QueryResult

FINISHED = frozenset({"SUCCEEDED", "FAILED", "CANCELLED"})
_INTEGER_TYPES = frozenset({"tinyint", "smallint", "integer", "bigint"})


class AthenaQueryError(RuntimeError):
    """The query could not run or did not finish; the message says what to do."""


@dataclass(frozen=True)
class AthenaTarget:
    workgroup: str
    database: str


def _value(cell: dict[str, Any], type_: str) -> Any:
    if "VarCharValue" not in cell:
        return None  # Athena leaves NULL cells empty
    text = cell["VarCharValue"]
    if type_ in _INTEGER_TYPES:
        return int(text)
    if type_ in {"double", "float", "real"}:
        return float(text)
    if type_ == "boolean":
        return text == "true"
    return text


def _explain(execution: dict[str, Any]) -> str:
    status = execution.get("Status", {})
    reason = status.get("StateChangeReason") or status.get("AthenaError", {}).get("ErrorMessage") or "no reason given"
    hint = ""
    if "does not exist" in reason or "not found" in reason.lower():
        hint = " (is the stack deployed with its index table? `sesame query --stack NAME` picks another stack)"
    elif "Access denied" in reason or "AccessDenied" in reason:
        hint = " (your credentials need athena:*, glue:GetTable and s3 access to the bucket's index/ and athena-results/)"
    return f"{reason}{hint}"


def run_athena_query(
    client: Any,
    target: AthenaTarget,
    sql: str,
    parameters: list[str],
    *,
    timeout: float = 120.0,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> QueryResult:
    """Run ``sql`` with ``parameters`` (SQL literals) and return its rows."""
    request: dict[str, Any] = {
        "QueryString": sql,
        "QueryExecutionContext": {"Database": target.database},
        "WorkGroup": target.workgroup,
    }
    if parameters:
        request["ExecutionParameters"] = parameters
    try:
        query_id = client.start_query_execution(**request)["QueryExecutionId"]
    except ClientError as exc:
        raise AthenaQueryError(f"Athena refused the query: {exc}") from None
    except BotoCoreError as exc:
        raise AthenaQueryError(f"cannot reach Athena: {exc}") from None

    deadline, wait = clock() + timeout, 0.25
    while True:
        try:
            execution = client.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]
        except (ClientError, BotoCoreError) as exc:
            raise AthenaQueryError(f"cannot read the state of query {query_id}: {exc}") from None
        state = execution.get("Status", {}).get("State", "")
        if state in FINISHED:
            break
        if clock() >= deadline:
            try:
                client.stop_query_execution(QueryExecutionId=query_id)
            except (ClientError, BotoCoreError):
                pass  # the message below already says the query may still be running
            raise AthenaQueryError(
                f"query {query_id} was still {state or 'pending'} after {timeout:g} s and was stopped; "
                "try a smaller --days or a longer --timeout"
            )
        sleep(wait)
        wait = min(wait * 2, 2.0)
    if state != "SUCCEEDED":
        raise AthenaQueryError(f"query {query_id} {state.lower()}: {_explain(execution)}")
    return _results(client, query_id)


def _results(client: Any, query_id: str) -> QueryResult:
    columns: tuple[str, ...] = ()
    types: tuple[str, ...] = ()
    rows: list[tuple[Any, ...]] = []
    try:
        for page_number, page in enumerate(
            client.get_paginator("get_query_results").paginate(QueryExecutionId=query_id)
        ):
            result_set = page["ResultSet"]
            if not columns:
                info = result_set.get("ResultSetMetadata", {}).get("ColumnInfo", [])
                columns = tuple(c["Name"] for c in info)
                types = tuple(c.get("Type", "varchar").lower() for c in info)
            page_rows = result_set.get("Rows", [])
            # A SELECT's first row holds the column names (Athena API reference, GetQueryResults).
            if page_number == 0 and page_rows and [c.get("VarCharValue") for c in page_rows[0]["Data"]] == list(columns):
                page_rows = page_rows[1:]
            for row in page_rows:
                cells = row["Data"]
                rows.append(tuple(_value(cell, type_) for cell, type_ in zip(cells, types, strict=False)))
    except (ClientError, BotoCoreError) as exc:
        raise AthenaQueryError(f"cannot read the results of query {query_id}: {exc}") from None
    return QueryResult(columns, tuple(rows))


__all__ = ["AthenaQueryError", "AthenaTarget", "run_athena_query"]
