"""`sesame local` through its entry point: help, one-line errors, wiring refusal, `make run`."""

from __future__ import annotations

import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from test_local_wiring import LAMBDA, S3, STOP, write_template

from sesame.cli import main

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
SESAME = BIN / "sesame"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_help_through_the_installed_command() -> None:
    done = subprocess.run([SESAME, "local", "--help"], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0
    for option in ("--smtp-port", "--aliases", "--outbox", "--relay", "--json", "--template", "--max-size", "--verdict"):
        assert option in done.stdout


def test_a_bad_aliases_file_is_one_line_and_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "aliases.toml"
    bad.write_text('[aliases]\n"john@example.com" = 42\n')
    done = subprocess.run(
        [SESAME, "local", "--aliases", bad, "--template", ROOT / "template.yaml", "--smtp-port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("sesame local: error: ")
    assert str(bad) in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("actions", "prefix", "expected"),
    [
        ((LAMBDA, S3, STOP), "messages/", "runs before the S3 action"),
        ((S3, LAMBDA, STOP), "inbox/", "stores under 'messages/' but HandleEmailFunction reads SESAME_MESSAGE_PREFIX='inbox/'"),
    ],
)
def test_broken_wiring_refuses_to_start(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], actions: tuple[str, ...], prefix: str, expected: str
) -> None:
    template = write_template(tmp_path, actions, prefix)
    code = main(["local", "--aliases", str(ROOT / "aliases.toml"), "--template", str(template), "--smtp-port", "0"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and err.startswith(f"sesame local: error: {template}: rule sesame-local-forward: ")
    assert expected in err


def test_without_the_local_extra_the_error_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "aiosmtpd", None)
    assert main(["local", "--smtp-port", "0"]) == 2
    assert "pip install 'sesame-forwarder[local]'" in capsys.readouterr().err


def _lines(stream, into: queue.Queue[str]) -> None:  # type: ignore[no-untyped-def]
    for line in stream:
        into.put(line)
    into.put("")


def _wait_for(lines: queue.Queue[str], needle: str, seen: list[str], timeout: float = 45) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
        except queue.Empty:
            break
        seen.append(line)
        if needle in line:
            return line
        if line == "":
            break
    raise AssertionError(f"no line with {needle!r} in: {''.join(seen)}")


def test_make_run_then_send_then_ctrl_c(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [SESAME, "local", "--aliases", "aliases.toml", "--smtp-port", str(port), "--outbox", tmp_path / "outbox"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    out: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=_lines, args=(process.stdout, out), daemon=True)
    reader.start()
    seen: list[str] = []
    try:
        _wait_for(out, "Ready", seen)
        assert any(f"smtp://127.0.0.1:{port}" in line for line in seen)
        assert any(f"-m sesame.local.send --to john@example.com --port {port}" in line for line in seen)
        sent = subprocess.run(
            [BIN / "python", "-m", "sesame.local.send", "--to", "john@example.com", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert sent.returncode == 0, sent.stderr
        message_id = sent.stdout.split()[-1]
        line = _wait_for(out, message_id, seen)
        assert "john@example.com forwarded (alias) -> john.doe@gmail.example, john@work.example" in line
        assert len(list((tmp_path / "outbox").glob(f"{message_id}--*.eml"))) == 2
    finally:
        process.send_signal(signal.SIGINT)
        try:
            code = process.wait(timeout=30)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        reader.join(10)
        stderr = process.stderr.read() if process.stderr else ""
        if process.stdout:
            process.stdout.close()
        if process.stderr:
            process.stderr.close()
    assert code in (0, 130)
    assert "Traceback" not in stderr
    assert "stopped after 1 message(s): 1 forwarded" in stderr
