"""The chaos harness: mail through ``sesame local --faults RATE`` over SMTP, then every message
and destination checked against the delivery contract.

- 0 lost: every destination of every accepted message has a copy in the outbox, or the
  message is reported failed, with its copy kept and the operator report in the outbox;
- 0 unreported: no failure parked unreported;
- one index record per message, one outcome per envelope recipient;
- extra copies only where the fault log shows a lost SES ``SendEmail`` response for that
  message and destination, at most one per such fault.

``python -m sesame.local.chaos --messages 500 --rate 0.2`` (``make chaos``) prints a summary.
"""

from __future__ import annotations

import argparse
import json
import queue
import random
import re
import signal
import smtplib
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_RECEIVED_ID = re.compile(rb"with SMTP id ([a-z0-9]{20,64})")
ALIAS_SIZES = (1, 2, 3, 5, 8, 13, 21, 34, 49, 50, 51, 75, 99, 100, 101, 120)


@dataclass
class ChaosReport:
    messages: int
    rate: float
    sdk_retries: bool
    seed: int
    accepted: int = 0
    faults: Counter[str] = field(default_factory=Counter)
    lost: list[str] = field(default_factory=list)
    unreported: list[str] = field(default_factory=list)
    index_problems: list[str] = field(default_factory=list)
    outcome_problems: list[str] = field(default_factory=list)
    extra_explained: list[str] = field(default_factory=list)
    extra_unexplained: list[str] = field(default_factory=list)
    failed_reported: int = 0
    missing_lines: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not (
            self.lost or self.unreported or self.index_problems or self.outcome_problems
            or self.extra_unexplained or self.missing_lines
        )

    def summary(self) -> str:
        kinds = ", ".join(f"{k} {n}" for k, n in sorted(self.faults.items())) or "none"
        lines = [
            f"chaos: {self.accepted}/{self.messages} messages accepted, fault rate {self.rate:g}, seed {self.seed}, "
            f"botocore retries {'on' if self.sdk_retries else 'off'}, {self.seconds:.0f} s",
            f"  faults injected: {kinds}",
            f"  lost: {len(self.lost)}; unreported: {len(self.unreported)}; failed and reported: {self.failed_reported}",
            f"  index records: {len(self.index_problems)} problem(s); outcomes: {len(self.outcome_problems)} problem(s)",
            f"  extra copies: {len(self.extra_explained)} explained by a lost SendEmail response, "
            f"{len(self.extra_unexplained)} unexplained",
        ]
        explained_messages = len({item.split(" ", 1)[0] for item in self.extra_explained})
        if self.extra_explained:
            lines.append(f"    the explained extra copies belong to {explained_messages} message(s), e.g. {self.extra_explained[0]}")
        for title, items in (
            ("missing line", self.missing_lines),
            ("LOST", self.lost),
            ("UNREPORTED", self.unreported),
            ("INDEX", self.index_problems),
            ("OUTCOMES", self.outcome_problems),
            ("UNEXPLAINED EXTRA COPY", self.extra_unexplained),
        ):
            lines += [f"    {title}: {item}" for item in items[:20]]
            if len(items) > 20:
                lines.append(f"    ... and {len(items) - 20} more {title.lower()}")
        lines.append("  result: " + ("OK" if self.ok else "CONTRACT BROKEN"))
        return "\n".join(lines)


def write_aliases(path: Path, sizes: tuple[int, ...]) -> dict[str, list[str]]:
    aliases = {f"chaos{i}@example.com": [f"d{i}-{j}@dest.example" for j in range(n)] for i, n in enumerate(sizes)}
    body = "\n".join(f'"{alias}" = [{", ".join(json.dumps(d) for d in dests)}]' for alias, dests in aliases.items())
    path.write_text(f'[settings]\nfrom = "{{alias}}"\nunknown = "bounce"\n\n[aliases]\n{body}\n')
    return aliases


def _message(n: int, recipients: list[str]) -> bytes:
    return (
        f"From: Chaos Sender <chaos@sender.example>\r\nTo: {', '.join(recipients)}\r\n"
        f"Subject: chaos {n}\r\nDate: Mon, 23 Nov 2026 10:00:00 +0000\r\n"
        f"Message-ID: <chaos.{n}@sender.example>\r\nMIME-Version: 1.0\r\n"
        f"Content-Type: text/plain; charset=us-ascii\r\n\r\n" + f"chaos message {n}\r\n" * 20
    ).encode()


def run_chaos(
    workdir: Path,
    *,
    messages: int,
    rate: float,
    seed: int = 1,
    sdk_retries: bool = True,
    sizes: tuple[int, ...] = ALIAS_SIZES,
    clients: int = 4,
    root: Path | None = None,
    timeout: float = 600,
) -> ChaosReport:
    started = time.monotonic()
    root = root or Path(__file__).resolve().parents[3]
    workdir.mkdir(parents=True, exist_ok=True)
    aliases = write_aliases(workdir / "aliases.toml", sizes)
    outbox, state = workdir / "outbox", workdir / "state"
    port_file = workdir / "port"
    command = [
        sys.executable, "-m", "sesame.cli", "local", "--aliases", str(workdir / "aliases.toml"),
        "--template", str(root / "template.yaml"), "--smtp-port", "0", "--outbox", str(outbox),
        "--state-dir", str(state), "--json", "--faults", str(rate), "--fault-seed", str(seed),
        "--time-scale", "0.001",
    ]
    if not sdk_retries:
        command.append("--no-sdk-retries")
    report = ChaosReport(messages, rate, sdk_retries, seed)
    with (workdir / "stderr.log").open("wb") as stderr:
        process = subprocess.Popen(command, cwd=root, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=stderr)
    lines: queue.Queue[bytes] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(x) for x in process.stdout] + [lines.put(b"")], daemon=True).start()  # type: ignore[union-attr]
    summaries: dict[str, dict[str, Any]] = {}
    expected: dict[str, list[str]] = {}
    try:
        ready = json.loads(lines.get(timeout=120))
        port = int(ready["smtp"].rpartition(":")[2])
        port_file.write_text(str(port))
        chooser = random.Random(seed)
        plan = []
        for n in range(messages):
            first = chooser.choice(list(aliases))
            recipients = [first]
            if chooser.random() < 0.2:
                second = chooser.choice(list(aliases))
                if second != first and len(aliases[first]) + len(aliases[second]) <= 120:
                    recipients.append(second)
            plan.append((n, recipients))
        work: queue.Queue[tuple[int, list[str]]] = queue.Queue()
        for item in plan:
            work.put(item)
        lock = threading.Lock()

        def client() -> None:
            with smtplib.SMTP("127.0.0.1", port, timeout=120) as smtp:
                smtp.ehlo("chaos.sender.example")
                while True:
                    try:
                        n, recipients = work.get_nowait()
                    except queue.Empty:
                        return
                    smtp.mail("chaos@sender.example")
                    for r in recipients:
                        smtp.rcpt(r)
                    code, reply = smtp.data(_message(n, recipients))
                    if code == 250:
                        with lock:
                            expected[reply.decode().split()[-1]] = recipients

        threads = [threading.Thread(target=client) for _ in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        report.accepted = len(expected)
        deadline = time.monotonic() + timeout
        while len(summaries) < len(expected) and time.monotonic() < deadline:
            try:
                line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                break
            if not line:
                break
            data = json.loads(line)
            if data.get("message_id") in summaries:
                report.outcome_problems.append(f"{data['message_id']}: two final lines")
            summaries[data.get("message_id", "")] = data
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()
    check(report, expected, summaries, aliases, outbox, state)
    report.seconds = time.monotonic() - started
    return report


def check(
    report: ChaosReport,
    expected: dict[str, list[str]],
    summaries: dict[str, dict[str, Any]],
    aliases: dict[str, list[str]],
    outbox: Path,
    state: Path,
) -> None:
    faults = [json.loads(x) for x in (state / "faults.jsonl").read_text().splitlines() if x.strip()]
    report.faults = Counter(f["kind"] for f in faults)
    lost_sends: Counter[tuple[str, str]] = Counter()
    for fault in faults:
        if fault["kind"] == "lost_response" and fault.get("operation") == "SendEmail" and fault.get("message"):
            for destination in fault.get("destinations") or []:
                lost_sends[(fault["message"], destination.lower())] += 1
    copies: Counter[tuple[str, str]] = Counter()
    for path in outbox.glob("*.eml"):
        head = path.read_bytes()[:16384]
        match = _RECEIVED_ID.search(head)
        if match:
            copies[(match.group(1).decode(), path.name.split("--", 1)[1].rsplit(".eml", 1)[0].split(".eml")[0])] += 1
    # A second copy is named "<id>--<dest>.2.eml": strip the counter.
    normalized: Counter[tuple[str, str]] = Counter()
    for (message_id, name), n in copies.items():
        normalized[(message_id, re.sub(r"\.\d+$", "", name).lower())] += n
    index_files = Counter(p.stem for p in (state / "index").rglob("*.json"))
    for message_id, recipients in expected.items():
        summary = summaries.get(message_id)
        if summary is None:
            report.missing_lines.append(message_id)
            continue
        if index_files[message_id] != 1:
            report.index_problems.append(f"{message_id}: {index_files[message_id]} index records")
        got = sorted(o["recipient"] for o in summary["outcomes"])
        if got != sorted(r.lower() for r in recipients):
            report.outcome_problems.append(f"{message_id}: outcomes for {got}, recipients {recipients}")
        failed = any(o["status"] == "failed" for o in summary["outcomes"])
        if summary.get("unreported"):
            report.unreported.append(message_id)
        reported = bool(summary.get("kept")) and Path(summary["kept"]).exists() and bool(summary.get("report"))
        if failed and reported:
            report.failed_reported += 1
        destinations = sorted({d.lower() for r in recipients for d in aliases[r]})
        for destination in destinations:
            n = normalized[(message_id, destination)]
            if n == 0 and not (failed and reported):
                status = ",".join(sorted({o["status"] for o in summary["outcomes"]}))
                report.lost.append(f"{message_id} -> {destination} (outcome {status}, {summary.get('error', '')[:120]})")
            if n > 1:
                allowed = lost_sends[(message_id, destination)]
                text = f"{message_id} -> {destination}: {n} copies, {allowed} lost SendEmail response(s)"
                (report.extra_explained if n - 1 <= allowed else report.extra_unexplained).append(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sesame.local.chaos", description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=500)
    parser.add_argument("--rate", type=float, action="append", help="fault rate (repeatable; default 0.2 and 0.05)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-sdk-retries", dest="sdk_retries", action="store_false")
    parser.add_argument("--workdir", type=Path, default=Path(".chaos"))
    args = parser.parse_args(argv)
    ok = True
    for rate in args.rate or [0.2, 0.05]:
        workdir = args.workdir / f"rate-{rate:g}{'' if args.sdk_retries else '-no-retries'}"
        if workdir.exists():
            import shutil

            shutil.rmtree(workdir)
        report = run_chaos(workdir, messages=args.messages, rate=rate, seed=args.seed, sdk_retries=args.sdk_retries)
        print(report.summary(), flush=True)
        ok = ok and report.ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
