"""`sesame local` end to end, in this process: real SMTP in, the real handler, the outbox out."""

from __future__ import annotations

import base64
import io
import json
import os
import smtplib
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_local_wiring import write_template

from sesame.local.server import LocalMode, LocalModeError, LocalOptions

ROOT = Path(__file__).resolve().parent.parent
CRLF = b"\r\n"


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


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalMode]:
    folder = tmp_path_factory.mktemp("local")
    options = LocalOptions(
        aliases=ROOT / "aliases.toml",
        template=write_template(folder),
        outbox=folder / "outbox",
        smtp_port=0,
    )
    saved = {k: os.environ.get(k) for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")}
    mode = LocalMode(options, out=io.StringIO(), err=io.StringIO())
    mode.start()
    try:
        yield mode
    finally:
        mode.stop()
        assert {k: os.environ.get(k) for k in saved} == saved  # local mode restores what it changed


def outcome(mode: LocalMode, message_id: str) -> dict[str, Any]:
    assert mode.wait_idle(60)
    (summary,) = [r for r in mode.results if r["message_id"] == message_id]
    return summary


def delivered(mode: LocalMode, to: str, data: bytes) -> dict[str, Any]:
    code, reply = send_one(mode.smtp_port, [to], data)
    assert code == 250
    return outcome(mode, reply.split()[-1])


def split(data: bytes) -> tuple[bytes, bytes]:
    head, _, body = data.partition(b"\r\n\r\n")
    return head, body


def test_a_forwarded_message_has_the_rewritten_headers_and_the_original_body(local: LocalMode) -> None:
    original = message(subject="Forward me")
    summary = delivered(local, "john@example.com", original)
    (result,) = summary["outcomes"]
    assert (result["status"], result["reason"]) == ("forwarded", "alias")
    assert result["destinations"] == ["john.doe@gmail.example", "john@work.example"]
    files = sorted(Path(p) for p in summary["outbox"])
    assert [f.name for f in files] == [
        f"{summary['message_id']}--john.doe@gmail.example.eml",
        f"{summary['message_id']}--john@work.example.eml",
    ]
    sent = files[0].read_bytes()
    head, body = split(sent)
    assert body == split(original)[1]  # the body bytes, untouched
    assert b'\r\nFrom: "Jane Doe at jane@sender.example" <john@example.com>\r\n' in CRLF + head + CRLF
    assert b"\r\nReply-To: " in CRLF + head and b"jane@sender.example" in head.split(b"Reply-To:")[1]
    assert b"X-Sesame-Forwarded-For: john@example.com" in head
    assert b"DKIM-Signature" not in head and b"X-SES-" not in head and b"Return-Path" not in head
    assert b"by inbound-smtp.us-east-1.amazonaws.com with SMTP id " + summary["message_id"].encode() in head
    line = local.out.getvalue()  # type: ignore[attr-defined]
    assert f"{summary['message_id']} from <jane@sender.example>: john@example.com forwarded (alias) -> " in line


def test_catch_all_group_and_plus_address_reach_their_destinations(local: LocalMode) -> None:
    cases = {
        "anyone@example.com": ["catchall@gmail.example"],
        "team@example.com": ["john.doe@gmail.example", "john@work.example", "ann@example.org"],
        "john+news@example.net": ["john.doe@gmail.example", "john@work.example"],  # tag removed, domain alias
    }
    for to, destinations in cases.items():
        summary = delivered(local, to, message(to=to, subject=f"to {to}"))
        (result,) = summary["outcomes"]
        assert (result["recipient"], result["status"], result["destinations"]) == (to, "forwarded", destinations)
        assert len(summary["outbox"]) == len(destinations)


def test_a_mail_loop_is_dropped(local: LocalMode) -> None:
    looped = message(subject="loop", extra=b"X-Sesame-Forwarded-For: john@example.com\r\n")
    summary = delivered(local, "john@example.com", looped)
    assert [(o["status"], o["reason"]) for o in summary["outcomes"]] == [("dropped", "loop")]
    assert summary["outbox"] == []


def test_recipients_no_rule_covers_are_refused_at_rcpt(local: LocalMode) -> None:
    with smtplib.SMTP("127.0.0.1", local.smtp_port, timeout=30) as smtp:
        smtp.ehlo("mx.sender.example")
        smtp.mail("jane@sender.example")
        code, reply = smtp.rcpt("someone@not-ours.example")
        assert (code, reply.split()[0]) == (550, b"5.1.1")
        code, reply = smtp.rcpt("john@sub.example.com")  # a domain rule does not cover subdomains
        assert code == 550
        code, reply = smtp.rcpt("x@retired.example")  # the bounce rule answers with its own reply
        assert (code, reply) == (550, b"5.1.1 Mailbox does not exist")
        assert smtp.rcpt("john@example.com")[0] == 250


def test_an_unknown_alias_on_our_domain_is_bounced_by_the_forwarder(local: LocalMode) -> None:
    summary = delivered(local, "old@example.com", message(to="old@example.com", subject="disabled alias"))
    (result,) = summary["outcomes"]
    assert (result["status"], result["reason"]) == ("bounced", "alias-disabled")
    (dsn,) = [Path(p) for p in summary["outbox"]]
    assert dsn.name.endswith("--jane@sender.example.eml")
    assert b"mailer-daemon@example.com" in split(dsn.read_bytes())[0]


def test_29_mb_goes_through_intact(local: LocalMode) -> None:
    # Just under the 30,000,000 raw bytes SES v2 can send (40 MB after base64).
    payload = base64.encodebytes(os.urandom(21 * 1000 * 1000)).replace(b"\n", CRLF)
    big = message(subject="big", body=payload)
    assert 28_000_000 < len(big) < 30_000_000
    started = time.monotonic()
    summary = delivered(local, "anyone@example.com", big)
    elapsed = time.monotonic() - started
    (path,) = [Path(p) for p in summary["outbox"]]
    assert split(path.read_bytes())[1] == payload
    assert summary["outcomes"][0]["status"] == "forwarded"
    print(f"29 MB message: SMTP in to outbox in {elapsed:.2f} s")


def test_200_messages_over_4_connections_each_get_one_outcome(local: LocalMode) -> None:
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

    started = time.monotonic()
    threads = [threading.Thread(target=client, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert local.wait_idle(120)
    elapsed = time.monotonic() - started
    assert len(ids) == len(set(ids)) == 200
    results = Counter(r["message_id"] for r in local.results if r["message_id"] in set(ids))
    assert set(results.values()) == {1} and len(results) == 200
    files = Counter(p.name.split("--")[0] for p in local.outbox.folder.glob("*.eml"))
    assert all(files[i] == 1 for i in ids)  # one destination each (the catch-all), none twice
    assert not list(local.outbox.folder.glob("*.2.eml"))
    print(f"200 messages over 4 connections: {elapsed:.2f} s")


def test_a_handler_failure_is_reported_failed_and_the_message_kept(local: LocalMode) -> None:
    class BrokenStore:
        def fetch(self, mail: Any) -> bytes:
            raise ConnectionError("S3 is down")

    store = local.runtime.store
    local.runtime.store = BrokenStore()  # type: ignore[assignment]
    try:
        summary = delivered(local, "john@example.com", message(subject="infrastructure failure"))
    finally:
        local.runtime.store = store
    (result,) = summary["outcomes"]
    assert (result["status"], result["reason"]) == ("failed", "handler-error")
    assert "S3 is down" in result["detail"]
    assert summary["attempts"] == 3  # the template's retries (Lambda's default 2)
    bucket, _, key = summary["kept"].removeprefix("s3://").partition("/")
    kept = local.clients["s3"].get_object(Bucket=bucket, Key=key)["Body"].read()
    assert kept.endswith(message(subject="infrastructure failure"))
    assert Path(summary["kept_copy"]).read_bytes() == kept
    queue = local.clients["sqs"].receive_message(QueueUrl=local._failure_queue_url, MaxNumberOfMessages=10)
    bodies = [json.loads(m["Body"]) for m in queue.get("Messages", [])]
    assert any(b["requestPayload"]["Records"][0]["ses"]["mail"]["messageId"] == summary["message_id"] for b in bodies)


def test_size_limit_verdicts_json_and_alias_edits(tmp_path: Path) -> None:
    aliases = tmp_path / "aliases.toml"
    aliases.write_text((ROOT / "aliases.toml").read_text())
    options = LocalOptions(
        aliases=aliases,
        template=write_template(tmp_path),
        outbox=tmp_path / "outbox",
        smtp_port=0,
        max_size=100_000,
        verdicts=("spam=FAIL",),
        json=True,
    )
    out = io.StringIO()
    with LocalMode(options, out=out, err=io.StringIO()) as mode:
        with smtplib.SMTP("127.0.0.1", mode.smtp_port, timeout=30) as smtp:
            smtp.ehlo("mx.sender.example")
            assert smtp.esmtp_features["size"] == "100000"
            code, reply = smtp.mail("jane@sender.example", ["SIZE=200000"])
            assert (code, reply.split()[0]) == (552, b"5.3.4")
            smtp.rset()
            smtp.mail("jane@sender.example")  # no SIZE given: enforced on DATA
            smtp.rcpt("john@example.com")
            code, reply = smtp.data(message(body=b"x" * 76 + b"\r\n") * 1500)
            assert (code, reply.split()[0]) == (552, b"5.3.4")
        code, reply = send_one(mode.smtp_port, ["john@example.com"], message(subject="spam"))
        summary = outcome(mode, reply.split()[-1])  # --verdict spam=FAIL: the forwarder drops it
        assert [(o["status"], o["reason"]) for o in summary["outcomes"]] == [("dropped", "spam")]
        assert json.loads(out.getvalue().splitlines()[-1]) == summary  # --json: one object a line
        # An edit to the aliases file applies to the next message (written to SSM again).
        aliases.write_text(aliases.read_text() + '"new@example.com" = ["new@dest.example"]\n')
        os.utime(aliases, (time.time() + 5, time.time() + 5))
        mode.base_verdicts = type(mode.base_verdicts)()  # PASS again, to see the forward
        mode._explicit_verdicts = ()
        code, reply = send_one(mode.smtp_port, ["new@example.com"], message(to="new@example.com", subject="new"))
        summary = outcome(mode, reply.split()[-1])
        assert [(o["status"], o["destinations"]) for o in summary["outcomes"]] == [("forwarded", ["new@dest.example"])]


def test_bad_wiring_refuses_to_start(tmp_path: Path) -> None:
    options = LocalOptions(aliases=ROOT / "aliases.toml", template=write_template(tmp_path, prefix="inbox/"))
    with pytest.raises(LocalModeError) as caught:
        LocalMode(options).start()
    assert len(caught.value.lines) == 1 and "SESAME_MESSAGE_PREFIX='inbox/'" in caught.value.lines[0]
