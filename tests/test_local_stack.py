"""`sesame local` end to end, in this process: real SMTP in, the real functions, the outbox and
the state folder out. The stack is the deployed template's, with Lambda's waits scaled down."""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import smtplib
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hostile import HostileMessage, hostile_messages
from hypothesis import HealthCheck, given, settings
from test_local_wiring import write_template

from sesame.local.receiving.event import parse_verdicts
from sesame.local.stack import LocalModeError, LocalOptions, LocalStack

ROOT = Path(__file__).resolve().parent.parent
CRLF = b"\r\n"
TINY = 0.0005  # Lambda's 1- and 2-minute retry delays become 30 and 60 ms


def message(to: str = "john@example.com", subject: str = "Hello", extra: bytes = b"", body: bytes | None = None) -> bytes:
    head = (
        b'From: "Jane Doe" <jane@sender.example>\r\n'
        b"To: " + to.encode() + b"\r\n"
        b"Subject: " + subject.encode() + b"\r\n"
        b"Date: Mon, 23 Nov 2026 10:00:00 +0000\r\n"
        b"Message-ID: <" + subject.replace(" ", ".").encode() + b"@sender.example>\r\n"
        b"DKIM-Signature: v=1; a=rsa-sha256; d=sender.example; s=s1; b=abc\r\n"
        b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=iso-8859-1\r\n"
        b"Content-Transfer-Encoding: 8bit\r\n" + extra
    )
    return head + CRLF + (body if body is not None else b"Caf\xe9 bytes stay as they are.\r\n.leading dot\r\n")


def send_one(port: int, to: list[str], data: bytes, sender: str = "jane@sender.example") -> tuple[int, str]:
    with smtplib.SMTP("127.0.0.1", port, timeout=60) as smtp:
        smtp.ehlo("mx.sender.example")
        smtp.mail(sender)
        for rcpt in to:
            code, reply = smtp.rcpt(rcpt)
            assert code == 250, (rcpt, code, reply)
        code, reply = smtp.data(data)
        return code, reply.decode()


def options(folder: Path, **extra: Any) -> LocalOptions:
    return LocalOptions(
        aliases=extra.pop("aliases", ROOT / "aliases.toml"),
        template=extra.pop("template", ROOT / "template.yaml"),
        outbox=folder / "outbox",
        state_dir=folder / "state",
        smtp_port=0,
        time_scale=TINY,
        **extra,
    )


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    folder = tmp_path_factory.mktemp("local")
    saved = {k: os.environ.get(k) for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")}
    stack = LocalStack(options(folder), out=io.StringIO(), err=io.StringIO())
    stack.start()
    try:
        yield stack
    finally:
        stack.stop()
        assert {k: os.environ.get(k) for k in saved} == saved  # local mode restores what it changed
        assert not (folder / "state" / "endpoints.json").exists()  # no stale description of a stopped stack


def outcome(stack: LocalStack, message_id: str) -> dict[str, Any]:
    assert stack.wait_idle(60)
    (summary,) = [r for r in stack.results if r["message_id"] == message_id]
    return summary


def delivered(stack: LocalStack, to: str, data: bytes, sender: str = "jane@sender.example") -> dict[str, Any]:
    code, reply = send_one(stack.smtp_port, [to], data, sender)
    assert code == 250
    return outcome(stack, reply.split()[-1])


@contextlib.contextmanager
def misconfigured_forwarder(stack: LocalStack, **changes: str) -> Iterator[None]:
    """The forwarder's environments restarted with ``changes`` to its environment variables
    (a real deployment mistake, e.g. a bucket that does not exist), and put back after."""
    env = stack.forwarder_env
    saved = dict(env)

    def restart() -> None:
        for container in stack.parts.containers:
            container.stop()

    env.update(changes)
    restart()
    try:
        yield
    finally:
        env.clear()
        env.update(saved)
        restart()


def split(data: bytes) -> tuple[bytes, bytes]:
    head, _, body = data.partition(b"\r\n\r\n")
    return head, body


def by_destination(summary: dict[str, Any]) -> dict[str, Path]:
    return {Path(p).name.split("--", 1)[1].removesuffix(".eml"): Path(p) for p in summary["outbox"]}


def test_a_forwarded_message_has_the_rewritten_headers_the_original_body_and_an_index_record(local: LocalStack) -> None:
    original = message(subject="Forward me")
    summary = delivered(local, "john@example.com", original)
    (result,) = summary["outcomes"]
    assert (result["status"], result["reason"]) == ("forwarded", "alias")
    assert result["destinations"] == ["john.doe@gmail.example", "john@work.example"]
    files = by_destination(summary)
    assert sorted(files) == ["john.doe@gmail.example", "john@work.example"]
    head, body = split(files["john.doe@gmail.example"].read_bytes())
    assert body == split(original)[1]  # the body bytes, untouched
    assert b'\r\nFrom: "Jane Doe at jane@sender.example" <john@example.com>\r\n' in CRLF + head + CRLF
    assert b"X-Sesame-Forwarded-For: john@example.com" in head
    assert b"DKIM-Signature" not in head and b"X-SES-" not in head and b"Return-Path" not in head
    assert b"by inbound-smtp.us-east-1.amazonaws.com with SMTP id " + summary["message_id"].encode() in head
    # The index record, mirrored into the state folder with the S3 object's bytes.
    index = Path(summary["index"])
    assert index.relative_to(local.state.index).parts[-1] == f"{summary['message_id']}.json"
    assert len(index.relative_to(local.state.index).parts) == 4  # YYYY/MM/DD/<id>.json
    record = json.loads(index.read_bytes())
    assert record["outcomes"][0]["status"] == "forwarded" and record["message_id"] == summary["message_id"]
    line = local.out.getvalue()  # type: ignore[attr-defined]
    assert f"{summary['message_id']} from <jane@sender.example>: john@example.com forwarded (alias) -> " in line


def test_catch_all_group_and_plus_address_reach_their_destinations(local: LocalStack) -> None:
    cases = {
        "anyone@example.com": ["catchall@gmail.example"],
        "team@example.com": ["john.doe@gmail.example", "john@work.example", "ann@example.org"],
        "john+news@example.net": ["john.doe@gmail.example", "john@work.example"],  # tag removed, domain alias
    }
    for to, destinations in cases.items():
        summary = delivered(local, to, message(to=to, subject=f"to {to}"))
        (result,) = summary["outcomes"]
        assert (result["recipient"], result["status"], result["destinations"]) == (to, "forwarded", destinations)
        assert sorted(by_destination(summary)) == sorted(destinations)


def test_mailing_list_mail_with_a_sender_header_is_forwarded(local: LocalStack) -> None:
    """SES gives commonHeaders.sender as a list; a string there made every list message an InvalidEvent."""
    listed = message(subject="list", extra=b"Sender: owner-team@lists.example\r\nList-Id: <team.lists.example>\r\n")
    summary = delivered(local, "john@example.com", listed, sender="owner-team@lists.example")
    assert [o["status"] for o in summary["outcomes"]] == ["forwarded"]
    head, _ = split(next(iter(by_destination(summary).values())).read_bytes())
    assert b"\r\nSender:" not in CRLF + head  # the rewriter drops it; SES would refuse a foreign Sender


def _hostile_shapes() -> dict[str, bytes]:
    """Each pathological header shape the forward path was hardened against, as a whole
    message: the benchmark's shapes at 100 KB (bench/bench_hostile.py), and the smaller ones."""
    import sys

    sys.path.insert(0, str(ROOT / "bench"))
    import bench_hostile

    # one-huge-line: a 100 KB field on one line, which local mode takes as SES does any line.
    shapes = {name: bench_hostile.message(name, 100_000) for name in bench_hostile.SHAPES}
    base = message(subject="shape")
    head, body = split(base)
    shapes["5000-octet-body-line"] = head + CRLF + CRLF + b"<p>" + b"x" * 5000 + b"</p>" + CRLF
    shapes["internationalized-from"] = (  # RFC 6532: local mode answered 451 to it, for ever
        "From: José <josé@bücher.example>\r\n".encode() + head.partition(CRLF)[2] + CRLF + CRLF + body
    )
    crlf_reply_to = b"Reply-To: =?utf-8?b?" + __import__("base64").b64encode("a\r\nBcc: x@evil.example \u00e9".encode()) + b"?="
    for name, extra in {
        "nul-made-fields": b"\x00Content-Type: text/html\r\nT\x00o: victim@evil.example\r\n",
        "encoded-crlf-reply-to": crlf_reply_to + CRLF,
        "8bit-content-type": b"Content-Type: multipart/mixed; boundary=\"caf\xc3\xa9\"\r\n",
        "duplicate-to-and-cc": b"To: ann@example.org\r\nCc: bob@example.org\r\nCc: carol@example.org\r\n",
        "nested-comment-reply-to": b"Reply-To: " + b"(" * 300 + b"c" + b")" * 300 + b" <jane@sender.example>\r\n",
    }.items():
        shapes[name] = head + CRLF + extra + CRLF + body
    return shapes


HOSTILE = _hostile_shapes()


@pytest.mark.parametrize("shape", sorted(HOSTILE))
def test_each_hostile_header_shape_goes_through_smtp_to_its_outcome(local: LocalStack, shape: str) -> None:
    """Every shape the core was hardened against reaches an outcome through real SMTP, and what
    leaves (the outbox) is what SES would take: lines of at most 998 octets, 7-bit headers, the
    body untouched."""
    original = HOSTILE[shape]
    summary = delivered(local, "john@example.com", original)
    (result,) = summary["outcomes"]
    assert result["status"] in ("forwarded", "dropped"), result
    for path in summary["outbox"]:
        head, body = split(Path(path).read_bytes())
        # A line the standard parsers read as body (a NUL-made field) stays body.
        assert original.endswith(body) and body.endswith(split(original)[1])
        assert max(len(line) for line in head.split(CRLF)) <= 998
        assert head.isascii()
        assert b"\nBcc:" not in head and b"\r\nTo: victim" not in CRLF + head


@settings(
    max_examples=int(os.environ.get("SESAME_FUZZ_EXAMPLES", "150")) if os.environ.get("SESAME_FUZZ") == "long" else 25,
    derandomize=os.environ.get("SESAME_FUZZ") != "long",
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture],
)
@given(hostile_messages)
def test_generated_hostile_mail_through_smtp_is_accepted_and_reaches_an_outcome(
    local: LocalStack, hostile: HostileMessage
) -> None:
    """tests/hostile.py's messages (the ones test_fuzz_forward.py checks in depth) through real
    SMTP: SES would take each, so local mode answers 250, and each one's outcome line follows."""
    sender = hostile.envelope.sender if hostile.envelope.usable else "jane@sender.example"
    code, reply = send_one(local.smtp_port, ["john@example.com"], hostile.raw, sender)
    assert code == 250, reply
    (result,) = outcome(local, reply.split()[-1])["outcomes"]
    assert result["status"] in ("forwarded", "dropped"), result


def test_a_bounce_from_the_null_sender_is_shown_as_from_angle_brackets(local: LocalStack) -> None:
    summary = delivered(local, "old@example.com", message(to="old@example.com", subject="dsn"), sender="")
    assert summary["source"] == ""
    assert [(o["status"], o["reason"]) for o in summary["outcomes"]] == [("dropped", "alias-disabled")]
    assert "bounce held back" in summary["outcomes"][0]["detail"]
    line = local.out.getvalue().splitlines()[-1]  # type: ignore[attr-defined]
    assert line.startswith(f"{summary['message_id']} from <>: ")


def test_a_mail_loop_is_dropped(local: LocalStack) -> None:
    looped = message(subject="loop", extra=b"X-Sesame-Forwarded-For: john@example.com\r\n")
    summary = delivered(local, "john@example.com", looped)
    assert [(o["status"], o["reason"]) for o in summary["outcomes"]] == [("dropped", "loop")]
    assert summary["outbox"] == []


def test_recipients_no_rule_covers_are_refused_at_rcpt(local: LocalStack) -> None:
    with smtplib.SMTP("127.0.0.1", local.smtp_port, timeout=30) as smtp:
        smtp.ehlo("mx.sender.example")
        smtp.mail("jane@sender.example")
        code, reply = smtp.rcpt("someone@not-ours.example")
        assert (code, reply.split()[0]) == (550, b"5.1.1")
        code, reply = smtp.rcpt("john@sub.example.com")  # a domain rule does not cover subdomains
        assert code == 550
        assert smtp.rcpt("john@example.com")[0] == 250


def test_an_unknown_alias_on_our_domain_is_bounced_by_the_forwarder(local: LocalStack) -> None:
    summary = delivered(local, "old@example.com", message(to="old@example.com", subject="disabled alias"))
    (result,) = summary["outcomes"]
    assert (result["status"], result["reason"]) == ("bounced", "alias-disabled")
    (dsn,) = list(by_destination(summary).items())
    assert dsn[0] == "jane@sender.example"
    assert b"mailer-daemon@example.com" in split(dsn[1].read_bytes())[0]


def test_29_mb_goes_through_intact(local: LocalStack) -> None:
    """SES sends up to 40 MB after base64 encoding: a 29 MB message (38.7 MB encoded) goes out."""
    import base64

    payload = base64.encodebytes(os.urandom(20 * 1024 * 1024)).replace(b"\n", CRLF)
    big = message(subject="big", body=payload)
    assert 28_000_000 < len(big) < 30_000_000
    summary = delivered(local, "anyone@example.com", big)
    assert summary["outcomes"][0]["status"] == "forwarded"
    (path,) = by_destination(summary).values()
    assert split(path.read_bytes())[1] == payload


def test_200_messages_over_4_connections_each_get_one_outcome(local: LocalStack) -> None:
    ids: list[str] = []
    lock = threading.Lock()

    def client(n: int) -> None:
        with smtplib.SMTP("127.0.0.1", local.smtp_port, timeout=60) as smtp:
            smtp.ehlo(f"client{n}.example")
            for i in range(50):
                smtp.mail("bulk@sender.example")
                assert smtp.rcpt(f"bulk{n}-{i}@example.com")[0] == 250
                code, reply = smtp.data(message(to="x@example.com", subject=f"bulk {n} {i}"))
                assert code == 250
                with lock:
                    ids.append(reply.decode().split()[-1])

    threads = [threading.Thread(target=client, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert local.wait_idle(120)
    assert len(ids) == len(set(ids)) == 200
    results = Counter(r["message_id"] for r in local.results if r["message_id"] in set(ids))
    assert set(results.values()) == {1} and len(results) == 200
    copies = Counter(r["message_id"] for r in local.results if r["message_id"] in set(ids) for _ in r["outbox"])
    assert all(copies[i] == 1 for i in ids)  # one destination each (the catch-all), none twice
    assert not list(local.outbox.folder.glob("*.2.eml"))


def test_a_function_failure_is_retried_dead_lettered_reported_and_kept(local: LocalStack) -> None:
    # GIVEN a forwarder whose bucket does not exist: every attempt fails reading the message
    with misconfigured_forwarder(local, SESAME_BUCKET="no-such-bucket"):
        original = message(subject="infrastructure failure")
        summary = delivered(local, "john@example.com", original)
    assert summary["attempts"] == 3  # the template's MaximumRetryAttempts: 2
    assert "NoSuchBucket" in summary["error"]
    # The dead-letter function ran on the on-failure record: the failure is indexed ...
    (result,) = summary["outcomes"]
    assert (result["status"], result["reason"]) == ("failed", "dead-lettered")
    assert "NoSuchBucket" in result["detail"]
    # ... the raw message is kept (the state folder's copy of error/<id>.eml) ...
    kept = Path(summary["kept"])
    assert kept == local.state.errors / f"{summary['message_id']}.eml"
    assert kept.read_bytes().endswith(original)
    context = json.loads((local.state.errors / f"{summary['message_id']}.json").read_text())
    assert context["attempts"] == 3 and context["condition"] == "RetriesExhausted"
    # ... and the operator report went out through SES: it is in the outbox.
    report = Path(summary["report"])
    assert report.name.endswith("--operator@sesame.localhost.eml")
    assert summary["message_id"].encode() in report.read_bytes()
    assert summary["unreported"] is False
    assert f"[kept: {kept}]" in local.out.getvalue()  # type: ignore[attr-defined]


def test_the_dead_letter_function_has_an_environment_of_its_own_and_a_crash_there_loses_no_report(
    local: LocalStack,
) -> None:
    assert local.wiring is not None and local.wiring.dead_letter_function is not None
    dead_letter = local.wiring.dead_letter_function
    with misconfigured_forwarder(local, SESAME_BUCKET="no-such-bucket"):
        # GIVEN a failure the dead-letter function reported, from a process of its own
        first = delivered(local, "john@example.com", message(subject="first dead letter"))
        assert first["unreported"] is False and "report" in first
        (environment,) = [f for f in local.parts.functions if f.spec.logical_id == dead_letter.logical_id]
        pid = environment.pid
        assert pid is not None and pid != os.getpid() and environment.starts == 1
        # WHEN that process dies (killed, out of memory) and the next failure reaches it
        os.kill(pid, signal.SIGKILL)
        second = delivered(local, "john@example.com", message(subject="second dead letter"))
    # THEN its batch fails as Lambda fails it, SQS hands the record over again, a new
    # environment (a cold start) reports it, and local mode said what happened
    assert second["unreported"] is False and "report" in second
    (result,) = second["outcomes"]
    assert (result["status"], result["reason"]) == ("failed", "dead-lettered")
    assert environment.starts == 2 and environment.pid not in (None, pid)
    said = local.err.getvalue()  # type: ignore[attr-defined]
    assert f"{dead_letter.name} failed on a batch of 1 record(s): Runtime.ExitError" in said


def test_endpoints_json_describes_the_running_stack(local: LocalStack) -> None:
    data = json.loads((local.state.root / "endpoints.json").read_text())
    assert data["region"] == "us-east-1" and data["smtp"]["port"] == local.smtp_port
    assert data["moto"]["endpoint"].startswith("http://127.0.0.1:") and data["ses"]["endpoint"].startswith("http://")
    assert set(data["queues"]) == {"DeadLetterQueue", "UnreportedFailuresQueue", "FeedbackQueue", "FeedbackDeadLetterQueue"}
    forwarder = data["functions"]["HandleEmailFunction"]
    assert forwarder["environment"]["SESAME_BUCKET"] == data["bucket"]
    assert data["functions"]["DeadLetterFunction"]["environment"]["SESAME_OPERATOR_EMAIL"] == "operator@sesame.localhost"
    assert data["index_dir"] == str(local.state.index.resolve())


def test_size_limit_verdicts_json_and_alias_edits(tmp_path: Path) -> None:
    aliases = tmp_path / "aliases.toml"
    aliases.write_text((ROOT / "aliases.toml").read_text())
    out = io.StringIO()
    opts = options(tmp_path, aliases=aliases, max_size=100_000, verdicts=("spam=FAIL",), json=True)
    with LocalStack(opts, out=out, err=io.StringIO()) as stack:
        with smtplib.SMTP("127.0.0.1", stack.smtp_port, timeout=30) as smtp:
            smtp.ehlo("mx.sender.example")
            assert smtp.esmtp_features["size"] == "100000"
            code, reply = smtp.mail("jane@sender.example", ["SIZE=200000"])
            assert (code, reply.split()[0]) == (552, b"5.3.4")
            smtp.rset()
            smtp.mail("jane@sender.example")  # no SIZE given: enforced on DATA
            smtp.rcpt("john@example.com")
            code, reply = smtp.data(message(body=b"x" * 76 + b"\r\n") * 1500)
            assert (code, reply.split()[0]) == (552, b"5.3.4")
            smtp.mail("jane@sender.example")  # one line longer than the whole limit: too big too
            smtp.rcpt("john@example.com")
            code, reply = smtp.data(message(body=b"x" * 150_000 + b"\r\n"))
            assert (code, reply.split()[0]) == (552, b"5.3.4")
        code, reply = send_one(stack.smtp_port, ["john@example.com"], message(subject="spam"))
        summary = outcome(stack, reply.split()[-1])  # --verdict spam=FAIL: the forwarder drops it
        assert [(o["status"], o["reason"]) for o in summary["outcomes"]] == [("dropped", "spam")]
        assert json.loads(out.getvalue().splitlines()[-1]) == summary  # --json: one object a line
        # An edit to the aliases file applies to the next message (written to SSM again).
        aliases.write_text(aliases.read_text() + '"new@example.com" = ["new@dest.example"]\n')
        os.utime(aliases, (time.time() + 5, time.time() + 5))
        stack.receiving.verdicts = parse_verdicts([])  # PASS again, to see the forward
        code, reply = send_one(stack.smtp_port, ["new@example.com"], message(to="new@example.com", subject="new"))
        summary = outcome(stack, reply.split()[-1])
        assert [(o["status"], o["destinations"]) for o in summary["outcomes"]] == [("forwarded", ["new@dest.example"])]


def test_a_region_other_than_us_east_1_starts_and_forwards(tmp_path: Path) -> None:
    """CreateBucket outside us-east-1 needs a LocationConstraint; without it local mode died."""
    with LocalStack(options(tmp_path, region="eu-west-1"), out=io.StringIO(), err=io.StringIO()) as stack:
        summary = delivered(stack, "john@example.com", message(subject="eu"))
        assert summary["outcomes"][0]["status"] == "forwarded"
        head, _ = split(next(iter(by_destination(summary).values())).read_bytes())
        assert b"by inbound-smtp.eu-west-1.amazonaws.com" in head


def test_bad_wiring_refuses_to_start(tmp_path: Path) -> None:
    opts = options(tmp_path, template=write_template(tmp_path, prefix="inbox/"))
    with pytest.raises(LocalModeError) as caught:
        LocalStack(opts).start()
    assert len(caught.value.lines) == 1 and "SESAME_MESSAGE_PREFIX='inbox/'" in caught.value.lines[0]
