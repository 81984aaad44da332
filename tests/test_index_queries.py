"""Every named query, on DuckDB, over index records the real handlers wrote under moto; and
`sesame query` on Athena (moto for the happy path, botocore's Stubber for failures)."""

from __future__ import annotations

import json
from datetime import date, datetime, UTC
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws
from moto.athena.models import QueryResults, athena_backends
from moto.core import DEFAULT_ACCOUNT_ID
from fakes import FirstEventSuppressions
from mail_scenarios import scenario, scenario_environment, write_index

from sesame.cli import main
from sesame.ops.athena import AthenaQueryError, AthenaTarget, run_athena_query
from sesame.ops.catalog import packaged_catalog
from sesame.ops.local_query import LocalQueryError, run_local_query, to_duckdb

TODAY = date(2026, 11, 23)
THROTTLED = (
    "TooManyRequestsException: An error occurred (TooManyRequestsException) when calling the "
    "SendEmail operation: Maximum sending rate exceeded."
)


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The index/ prefix the handlers wrote, laid out as local mode mirrors it."""
    with scenario_environment(), mock_aws():
        objects = write_index(TODAY)
    root = tmp_path_factory.mktemp("index")
    for key, body in objects.items():
        target = root / key.removeprefix("index/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(body)
    return root


def rows(name: str, index_dir: Path, days: int = 30) -> list[tuple[Any, ...]]:
    catalog = packaged_catalog()
    result = run_local_query(catalog, catalog.query(name), days=days, today=TODAY, index_dir=index_dir)
    assert result.skipped == 0
    return list(result.rows)


def size(prefix: str) -> int:
    return len(scenario(prefix).raw)


def test_recent_messages_lists_each_message_newest_first_with_every_recipients_outcome(index_dir: Path) -> None:
    assert rows("recent-messages", index_dir) == [
        ("2026-11-23T09:15:02+00:00", "forwarded0multi000000000000000000000001", "jane@sender.example",
         "Jane Doe <jane@sender.example>", "Lunch on Friday?", size("forwarded0multi"),
         "john@example.com forwarded, team@example.com forwarded"),
        ("2026-11-22T07:30:00+00:00", "forwarded0utf8000000000000000000000002", "joerg@buecher.example",
         "Jörg Müller <Joerg@Buecher.example>", "Grüße aus Köln", size("forwarded0utf8"),
         "john@example.com forwarded"),
        ("2026-11-21T18:00:00+00:00", "bounced0unknown00000000000000000000003", "jane@sender.example",
         "jane@sender.example", "Anyone there?", size("bounced0unknown"), "nobody@example.com bounced"),
        # Forwarded to one destination of two: the other is suppressed (the record names it).
        ("2026-11-21T08:00:00+00:00", "forwarded0suppressed00000000000000010", "grandpa@family.example",
         "Grandpa <grandpa@family.example>", "Sunday", size("forwarded0suppressed"), "family@example.com forwarded"),
        # Dropped before the message was read: no size.
        ("2026-11-20T03:03:00+00:00", "dropped0spam0000000000000000000000004", "promo@spam.example",
         "Deals <promo@spam.example>", "WIN NOW", None, "john@example.com dropped"),
        ("2026-11-19T11:02:40+00:00", "dropped0dmarc0000000000000000000000005", "billing@spoofed-bank.example",
         "Bank <billing@spoofed-bank.example>", "Verify your account", None, "john@example.com dropped"),
        ("2026-11-18T12:00:00+00:00", "failed0unverified00000000000000000006", "customer@shop.example",
         "customer@shop.example", "Order 1234", size("failed0unverified"), "help@unverified.example failed"),
        # No From, no Subject, null sender.
        ("2026-11-17T23:59:59+00:00", "forwarded0bare000000000000000000000007", "", "", None,
         size("forwarded0bare"), "john@example.com forwarded"),
        ("2026-11-16T15:22:41+00:00", "failed0deadletter00000000000000000008", "jane@sender.example",
         "Jane Doe <jane@sender.example>", "Throttled", None,
         "john@example.com failed, team@example.com failed"),
    ]


def test_days_reads_only_the_days_asked_for(index_dir: Path) -> None:
    assert [r[1] for r in rows("recent-messages", index_dir, days=1)] == ["forwarded0multi000000000000000000000001"]
    assert len(rows("recent-messages", index_dir, days=8)) == 9
    assert len(rows("recent-messages", index_dir, days=41)) == 10  # the 40-day-old message too


def test_top_senders_counts_header_from_addresses_lower_cased(index_dir: Path) -> None:
    assert rows("top-senders", index_dir) == [
        ("jane@sender.example", 3),
        ("billing@spoofed-bank.example", 1),
        ("customer@shop.example", 1),
        ("grandpa@family.example", 1),
        ("joerg@buecher.example", 1),
        ("promo@spam.example", 1),
    ]


def test_top_sender_domains(index_dir: Path) -> None:
    assert rows("top-sender-domains", index_dir) == [
        ("sender.example", 3),
        ("buecher.example", 1),
        ("family.example", 1),
        ("shop.example", 1),
        ("spam.example", 1),
        ("spoofed-bank.example", 1),
    ]


def test_top_destinations_counts_forwarded_copies_only(index_dir: Path) -> None:
    # A bounce's destination (the DSN's recipient) is not a forwarded copy.
    assert rows("top-destinations", index_dir) == [
        ("john.doe@gmail.example", 3),
        ("john@work.example", 3),
        ("ann@example.org", 1),
        ("mum@home.example", 1),  # not old.mailbox@gone.example: suppressed
    ]


def test_failures_and_drops_show_each_recipient_with_why_and_the_ses_error(index_dir: Path) -> None:
    assert rows("failures-and-drops", index_dir) == [
        ("2026-11-21T18:00:00+00:00", "bounced0unknown00000000000000000000003", "jane@sender.example",
         "Anyone there?", "nobody@example.com", "bounced", "unknown-recipient", None),
        # Forwarded, but not to every destination: the suppressed one is named.
        ("2026-11-21T08:00:00+00:00", "forwarded0suppressed00000000000000010", "grandpa@family.example",
         "Sunday", "family@example.com", "forwarded", "alias", "not sent to old.mailbox@gone.example: suppressed:manual"),
        ("2026-11-20T03:03:00+00:00", "dropped0spam0000000000000000000000004", "promo@spam.example",
         "WIN NOW", "john@example.com", "dropped", "spam", None),
        ("2026-11-19T11:02:40+00:00", "dropped0dmarc0000000000000000000000005", "billing@spoofed-bank.example",
         "Verify your account", "john@example.com", "dropped", "dmarc-reject", None),
        ("2026-11-18T12:00:00+00:00", "failed0unverified00000000000000000006", "customer@shop.example",
         "Order 1234", "help@unverified.example", "failed", "ses-rejected",
         "MessageRejected: Did not have authority to send from email help@unverified.example"),
        ("2026-11-16T15:22:41+00:00", "failed0deadletter00000000000000000008", "jane@sender.example",
         "Throttled", "john@example.com", "failed", "dead-lettered", THROTTLED),
        ("2026-11-16T15:22:41+00:00", "failed0deadletter00000000000000000008", "jane@sender.example",
         "Throttled", "team@example.com", "failed", "dead-lettered", THROTTLED),
    ]


def test_records_are_read_as_athena_reads_them(tmp_path: Path) -> None:
    day = tmp_path / "2026" / "11" / "23"
    day.mkdir(parents=True)
    # Keys in any case (the SerDe's case.insensitive), keys the schema lacks ignored, and a
    # damaged file skipped (ignore.malformed.json) rather than failing the query.
    (day / "a.json").write_text(json.dumps({
        "MESSAGE_ID": "a", "Timestamp": "2026-11-23T01:00:00+00:00", "source": "x@y.example",
        "from": [], "outcomes": [{"Recipient": "r@example.com", "STATUS": "dropped", "reason": "loop"}],
        "added_in_a_later_version": {"x": 1},
    }) + "\n")
    (day / "b.json").write_text('{"message_id": "b", "outcomes": [\n')
    (tmp_path / "not-a-day").mkdir()
    (tmp_path / "not-a-day" / "c.json").write_text("{}\n")
    catalog = packaged_catalog()

    result = run_local_query(catalog, catalog.query("failures-and-drops"), days=1, today=TODAY, index_dir=tmp_path)

    assert result.rows == (("2026-11-23T01:00:00+00:00", "a", "x@y.example", None, "r@example.com", "dropped", "loop", None),)
    assert result.skipped == 1


def test_a_record_with_a_line_separator_or_a_lone_surrogate_in_a_subject_is_read_not_skipped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # JSON keeps U+2028 and U+0085 raw inside a string, so a record is cut at "\n" only; and
    # "\udc80" is valid JSON that DuckDB refuses a whole file for ("no low surrogate").
    day = tmp_path / "2026" / "11" / "23"
    day.mkdir(parents=True)
    record = {"message_id": "a", "timestamp": "2026-11-23T01:00:00+00:00", "source": "x@y.example",
              "subject": "one\u2028two\x85three", "outcomes": [{"recipient": "r@example.com", "status": "forwarded"}]}
    (day / "a.json").write_text(json.dumps(record, ensure_ascii=False) + "\n", encoding="utf-8")
    (day / "b.json").write_text(json.dumps(record | {"message_id": "b", "subject": "bad \udc80 \x1b[2J"}) + "\n")

    assert sorted(rows("recent-messages", tmp_path, days=1)) == [
        ("2026-11-23T01:00:00+00:00", "a", "x@y.example", None, "one\u2028two\x85three", None, "r@example.com forwarded"),
        ("2026-11-23T01:00:00+00:00", "b", "x@y.example", None, "bad \ufffd \x1b[2J", None, "r@example.com forwarded"),
    ]
    # Printed, the subject is one line and the escape sequence does not reach the terminal.
    argv = ["query", "recent-messages", "--local", "--index-dir", str(tmp_path), "--days", "36500"]
    assert main(argv) == 0
    table = capsys.readouterr().out.splitlines()
    assert len(table) == 5 and "\x1b" not in "".join(table)
    assert any("one two three" in line for line in table[2:4])
    assert any("bad \ufffd \ufffd[2J" in line for line in table[2:4])


def test_a_missing_index_folder_says_how_to_make_one(tmp_path: Path) -> None:
    catalog = packaged_catalog()
    with pytest.raises(LocalQueryError, match="run `sesame local`"):
        run_local_query(catalog, catalog.queries[0], days=1, today=TODAY, index_dir=tmp_path / "none")


def test_trinos_zipping_unnest_becomes_a_lateral_duckdb_unnest() -> None:
    sql = to_duckdb("SELECT x, y FROM t CROSS JOIN UNNEST(a, b) AS u (x, y) WHERE received_day >= ?")
    assert "LATERAL (SELECT UNNEST(a) AS x, UNNEST(b) AS y) AS u" in sql


# --- the command ----------------------------------------------------------------------------


def test_sesame_query_local_prints_a_table_and_json(index_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # --days from the real today: wide enough to reach every record, the 40-day-old one too.
    assert main(["query", "top-destinations", "--local", "--index-dir", str(index_dir), "--days", "36500"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["destination", "messages"]
    assert table[2].split() == ["john.doe@gmail.example", "4"]
    assert table[-1].startswith("(4 rows; received since ")

    assert main(["query", "top-senders", "--local", "--index-dir", str(index_dir), "--days", "36500", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0] == {"sender": "jane@sender.example", "messages": 4}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["query", "recent-messages", "--local", "--index-dir", "/nonexistent/index"], "no index at /nonexistent/index"),
        (["query", "recent-messages", "--local", "--days", "0"], "--days must be at least 1"),
    ],
)
def test_bad_query_input_is_one_line(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


ATHENA_STACK = {
    "AWSTemplateFormatVersion": "2010-09-09",
    "Resources": {"Placeholder": {"Type": "AWS::SQS::Queue"}},
    "Outputs": {"AthenaWorkGroup": {"Value": "sesame"}, "GlueDatabase": {"Value": "sesame"}},
}


def test_sesame_query_on_athena_runs_the_templates_sql_with_the_first_day(capsys: pytest.CaptureFixture[str]) -> None:
    with mock_aws():
        boto3.client("cloudformation").create_stack(StackName="sesame", TemplateBody=json.dumps(ATHENA_STACK))
        boto3.client("athena").create_work_group(Name="sesame", Configuration={})
        backend = athena_backends[DEFAULT_ACCOUNT_ID]["us-east-1"]
        # moto runs no SQL: it answers with the rows queued here, shaped as GetQueryResults'.
        backend.query_results_queue.append(QueryResults(
            rows=[
                {"Data": [{"VarCharValue": "sender"}, {"VarCharValue": "messages"}]},
                {"Data": [{"VarCharValue": "jane@sender.example"}, {"VarCharValue": "3"}]},
                {"Data": [{}, {"VarCharValue": "1"}]},
            ],
            column_info=[
                {"CatalogName": "hive", "SchemaName": "", "TableName": "", "Name": "sender", "Label": "sender",
                 "Type": "varchar", "Precision": 2147483647, "Scale": 0, "Nullable": "UNKNOWN", "CaseSensitive": True},
                {"CatalogName": "hive", "SchemaName": "", "TableName": "", "Name": "messages", "Label": "messages",
                 "Type": "bigint", "Precision": 19, "Scale": 0, "Nullable": "UNKNOWN", "CaseSensitive": False},
            ],
        ))

        assert main(["query", "top-senders", "--days", "7", "--json"]) == 0

        (execution,) = backend.executions.values()
    assert json.loads(capsys.readouterr().out) == [
        {"sender": "jane@sender.example", "messages": 3},
        {"sender": None, "messages": 1},
    ]
    assert execution.query == packaged_catalog().query("top-senders").sql
    assert execution.workgroup.name == "sesame"
    today = datetime.now(UTC).date()
    from sesame.ops.catalog import first_day

    assert execution.execution_parameters == [f"'{first_day(7, today)}'"]


def test_a_stack_without_the_outputs_is_named(capsys: pytest.CaptureFixture[str]) -> None:
    with mock_aws():
        assert main(["query", "top-senders", "--stack", "nope"]) == 2
    assert "no stack 'nope'" in capsys.readouterr().err


def _athena() -> Any:
    return boto3.client("athena", region_name="us-east-1")


def test_given_athena_fails_the_query_then_the_reason_and_a_hint_are_given() -> None:
    client = _athena()
    with Stubber(client) as stub:
        stub.add_response("start_query_execution", {"QueryExecutionId": "q-1"})
        # GetQueryExecution's answer for a failed query (Athena API reference, QueryExecutionStatus).
        stub.add_response("get_query_execution", {"QueryExecution": {
            "QueryExecutionId": "q-1",
            "Status": {"State": "FAILED",
                       "StateChangeReason": "TABLE_NOT_FOUND: line 3:6: Table 'awsdatacatalog.sesame.sesame_index' does not exist",
                       "AthenaError": {"ErrorCategory": 2, "ErrorType": 1006, "Retryable": False,
                                       "ErrorMessage": "TABLE_NOT_FOUND: Table does not exist"}},
        }})
        with pytest.raises(AthenaQueryError, match="q-1 failed: TABLE_NOT_FOUND.*is the stack deployed"):
            run_athena_query(client, AthenaTarget("sesame", "sesame"), "SELECT 1", [], sleep=lambda s: None)


def test_given_a_query_still_running_at_the_deadline_then_it_is_stopped() -> None:
    client, now = _athena(), [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    running = {"QueryExecution": {"QueryExecutionId": "q-2", "Status": {"State": "RUNNING"}}}
    with Stubber(client) as stub:
        stub.add_response("start_query_execution", {"QueryExecutionId": "q-2"},
                          {"QueryString": "SELECT 1", "QueryExecutionContext": {"Database": "db"},
                           "WorkGroup": "wg", "ExecutionParameters": ["'2026/11/23'"]})
        for _ in range(6):  # at 0, 0.25, 0.75, 1.75, 3.75 and 5.75 s: waits double up to 2 s
            stub.add_response("get_query_execution", running)
        stub.add_response("stop_query_execution", {}, {"QueryExecutionId": "q-2"})
        with pytest.raises(AthenaQueryError, match="still RUNNING after 5 s and was stopped"):
            run_athena_query(client, AthenaTarget("wg", "db"), "SELECT 1", ["'2026/11/23'"],
                             timeout=5, sleep=sleep, clock=lambda: now[0])
        stub.assert_no_pending_responses()


# --- SES feedback, joined with the index -----------------------------------------------------


@pytest.fixture(scope="module")
def feedback_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Feedback records as the feedback function writes them, about the scenarios' first
    message (two events) and about a message the index does not have."""
    from conftest import load_event

    from sesame.core.feedback import FeedbackPolicy, apply, feedback_key, feedback_rows, parse_feedback, to_json_lines

    root = tmp_path_factory.mktemp("feedback")
    for name, message_id, when in (
        ("bounce", "forwarded0multi000000000000000000000001", "2026-11-23T09:20:00.000Z"),
        ("complaint", "forwarded0multi000000000000000000000001", "2026-11-23T11:00:00.000Z"),
        ("bounce_soft", "unknown0message0000000000000000000000", "2026-11-22T08:00:00.000Z"),
    ):
        event = load_event(f"ses_feedback_{name}.json")
        detail = event["detail"]
        detail["mail"]["tags"]["sesame-message"] = [message_id]
        detail[{"bounce": "bounce", "bounce_soft": "bounce", "complaint": "complaint"}[name]]["timestamp"] = when
        parsed = parse_feedback(json.dumps(event))
        target = root / feedback_key("", parsed)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(to_json_lines(feedback_rows(apply(parsed, FirstEventSuppressions(), FeedbackPolicy()))))
    return root


def feedback_query(name: str, index_dir: Path, feedback_dir: Path) -> list[tuple[Any, ...]]:
    catalog = packaged_catalog()
    result = run_local_query(catalog, catalog.query(name), days=30, today=TODAY, index_dir=index_dir,
                             table_dirs={"sesame_feedback": feedback_dir})
    return list(result.rows)


def test_bounces_and_complaints_name_the_forwarded_message_they_were_about(index_dir: Path, feedback_dir: Path) -> None:
    assert feedback_query("bounces-and-complaints", index_dir, feedback_dir) == [
        ("2026-11-23T11:00:00.000Z", "complaint", "john.doe@gmail.example", "john@example.com", "abuse", "paused",
         "forwarded0multi000000000000000000000001", "jane@sender.example", "Lunch on Friday?", None),
        ("2026-11-23T09:20:00.000Z", "bounce", "john.doe@gmail.example", "john@example.com", "General",
         "suppressed-until-2026-12-23T09:20Z", "forwarded0multi000000000000000000000001", "jane@sender.example",
         "Lunch on Friday?", "smtp; 550-5.1.1 The email account that you tried to reach does not exist."),
        # A message outside the index's days (or never indexed) still shows, without its sender.
        ("2026-11-22T08:00:00.000Z", "bounce", "ann@example.org", "team@example.com", "MailboxFull",
         "soft-bounce-1-of-3", "unknown0message0000000000000000000000", None, None,
         "smtp; 452 4.2.2 The email account that you tried to reach is over quota."),
    ]


def test_feedback_by_destination_counts_each_kind(index_dir: Path, feedback_dir: Path) -> None:
    assert feedback_query("feedback-by-destination", index_dir, feedback_dir) == [
        ("john.doe@gmail.example", 1, 1, 0, "2026-11-23T11:00:00.000Z"),
        ("ann@example.org", 1, 0, 0, "2026-11-22T08:00:00.000Z"),
    ]


def test_without_feedback_records_the_feedback_queries_are_empty(index_dir: Path, tmp_path: Path) -> None:
    assert feedback_query("feedback-by-destination", index_dir, tmp_path / "none") == []
