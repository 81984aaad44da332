"""`sesame preview` through its installed entry point, as an operator runs it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SESAME = str(Path(sys.executable).parent / "sesame")
MESSAGE = (
    b"From: =?utf-8?q?Jos=C3=A9?= <jose@sender.example>\r\nTo: john@example.com\r\nSubject: hola\r\n"
    b"DKIM-Signature: v=1; d=sender.example\r\n\r\nbody \xff bytes\r\n"
)


def sesame(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SESAME, *args],
        input=stdin.decode("latin-1") if stdin is not None else None,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )


# What SES puts on top of a message it stores (its own Authentication-Results first): the
# sender authenticated, so preview reads that a bounce may be sent.
SES_STORED = (
    b"Return-Path: <jose@sender.example>\r\nX-SES-Spam-Verdict: PASS\r\nX-SES-Virus-Verdict: PASS\r\n"
    b"Authentication-Results: amazonses.com;\r\n spf=pass client-ip=192.0.2.7; envelope-from=jose@sender.example;\r\n"
    b" dkim=pass header.i=@sender.example;\r\n dmarc=pass header.from=sender.example;\r\n"
)


@pytest.fixture
def message(tmp_path: Path) -> Path:
    path = tmp_path / "in.eml"
    path.write_bytes(SES_STORED + MESSAGE)
    return path


def test_given_an_alias_when_previewing_with_json_then_decision_and_exact_bytes(message: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.eml"
    result = sesame("preview", str(message), "--recipient", "John+x@Example.net", "--json", "--output", str(out))
    assert result.returncode == 0, result.stderr
    decision = json.loads(result.stdout)
    assert decision["action"] == "forward"
    assert decision["reason"] == "alias"
    assert decision["rule"] == "john@example.com"
    assert decision["destinations"] == ["john.doe@gmail.example", "john@work.example"]
    sent = out.read_bytes()
    assert sent.endswith(b"\r\n\r\nbody \xff bytes\r\n")
    assert b"From: =?utf-8?" in sent and b"<john+x@example.net>" in sent
    assert b"DKIM-Signature" not in sent
    assert decision["size"] == len(sent)


def test_given_an_unknown_recipient_then_bounce_is_a_decision_with_exit_zero(message: Path) -> None:
    result = sesame("preview", str(message), "--recipient", "nobody@elsewhere.example", "--json")
    assert result.returncode == 0
    decision = json.loads(result.stdout)
    assert (decision["action"], decision["reason"], decision["destinations"]) == ("bounce", "unknown-recipient", [])


def test_given_a_message_nobody_authenticated_then_the_bounce_is_held_back(tmp_path: Path) -> None:
    # Not a copy SES stored (no SES verdicts): nothing says the sender is who they claim.
    path = tmp_path / "plain.eml"
    path.write_bytes(MESSAGE)
    decision = json.loads(sesame("preview", str(path), "--recipient", "nobody@elsewhere.example", "--json").stdout)
    assert decision["action"] == "drop" and decision["detail"] == "bounce held back: unauthenticated-sender"


def test_given_a_disabled_alias_then_human_output_explains(message: Path) -> None:
    result = sesame("preview", str(message), "--recipient", "old@example.com")
    assert result.returncode == 0
    assert result.stdout.splitlines()[0] == "bounce: old@example.com (alias-disabled)"
    assert "rule:         old@example.com" in result.stdout


def test_given_a_null_sender_then_the_bounce_is_held_back_and_reported_as_drop(message: Path) -> None:
    result = sesame("preview", str(message), "--recipient", "nobody@example.org", "--sender", "", "--json")
    decision = json.loads(result.stdout)
    assert decision["action"] == "drop" and decision["detail"] == "bounce held back: null-sender"


def test_output_is_refused_when_nothing_would_be_sent(message: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.eml"
    result = sesame("preview", str(message), "--recipient", "old@example.com", "--output", str(out))
    assert result.returncode == 2 and "nothing would be sent" in result.stderr
    assert not out.exists()


def test_message_can_come_from_stdin() -> None:
    result = sesame("preview", "-", "--recipient", "team@example.com", "--json", stdin=MESSAGE)
    assert result.returncode == 0
    assert json.loads(result.stdout)["destinations"] == ["john.doe@gmail.example", "john@work.example", "ann@example.org"]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["missing.eml", "--recipient", "john@example.com"], "missing.eml: No such file or directory"),
        (["{msg}", "--recipient", "not-an-address"], "--recipient: not an email address"),
        (["{msg}", "--recipient", "john@example.com", "--aliases", "{bad}"], "invalid TOML"),
        (["{msg}", "--recipient", "john@example.com", "--aliases", "nowhere.toml"], "nowhere.toml: No such file"),
    ],
)
def test_unusable_input_gives_one_line_and_nonzero_exit(
    args: list[str], expected: str, message: Path, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[aliases\n")
    result = sesame("preview", *[a.format(msg=message, bad=bad) for a in args])
    assert result.returncode == 2
    assert expected in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_missing_recipient_is_a_usage_error(message: Path) -> None:
    result = sesame("preview", str(message))
    assert result.returncode == 2 and "--recipient" in result.stderr


def test_python_dash_m_runs_the_same_command(message: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "sesame.cli", "--version"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0 and result.stdout.startswith("sesame ")


def test_an_empty_message_file_is_still_a_decision(tmp_path: Path) -> None:
    empty = tmp_path / "empty.eml"
    empty.write_bytes(b"")
    out = tmp_path / "out.eml"
    result = sesame("preview", str(empty), "--recipient", "john@example.com", "--json", "--output", str(out))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["action"] == "forward"
    sent = out.read_bytes()
    assert sent.startswith(b"X-Sesame-Forwarded-For: john@example.com\r\n")
    assert b'From: "unknown sender" <john@example.com>\r\n' in sent and sent.endswith(b"\r\n\r\n")
