"""Local mode's throughput: messages a second, SMTP in to final outcome, with 1 and 4 clients.

Starts ``sesame local`` (no faults) with an alias file of its own, sends N messages of 10 KB
to one alias with one destination, and times from the first MAIL FROM to the last message's
outcome line (every message forwarded, its copy in the outbox, its index record written).
Prints the median of ``--runs`` runs per client count, the CPU a message costs in each part and
in all, and the most messages a second the machine's CPUs allow at that cost: on a shared VM a
slow host shows as more CPU a message at the same share of that ceiling. Target: 50 messages a
second with 4 clients (``--check`` exits 1 below it). Figures depend on the machine and on what
else runs.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import shutil
import signal
import smtplib
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = 50.0


def message(n: int) -> bytes:
    head = (
        f"From: Bench <bench@sender.example>\r\nTo: bench@example.com\r\nSubject: bench {n}\r\n"
        f"Date: Mon, 23 Nov 2026 10:00:00 +0000\r\nMessage-ID: <bench.{n}@sender.example>\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"
    ).encode()
    line = b"0123456789" * 7 + b"\r\n"
    return head + line * (10240 // len(line))


def children(pid: int) -> list[int]:
    """Every process started by ``pid``, and theirs (Linux /proc)."""
    found, parents = [], {pid}
    table = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                table[int(entry.name)] = int((entry / "stat").read_text().rpartition(")")[2].split()[1])
            except (OSError, ValueError, IndexError):
                continue
    changed = True
    while changed:
        changed = False
        for child, parent in table.items():
            if parent in parents and child not in parents:
                parents.add(child)
                found.append(child)
                changed = True
    return found


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc), 0 where unavailable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def one_run(clients: int, count: int, workdir: Path, extra: tuple[str, ...] = ()) -> tuple[float, float, float, float]:
    """Messages a second, and CPU milliseconds a message in local mode's process, in the
    forwarder's execution environments and in the moto children."""
    (workdir / "aliases.toml").write_text('[aliases]\n"bench@example.com" = ["bench@dest.example"]\n')
    process = subprocess.Popen(
        [sys.executable, "-m", "sesame.cli", "local", "--aliases", str(workdir / "aliases.toml"), "--template",
         str(ROOT / "template.yaml"), "--smtp-port", "0", "--outbox", str(workdir / "outbox"), "--state-dir",
         str(workdir / "state"), "--json", *extra],
        cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
    )
    lines: queue.Queue[bytes] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(x) for x in process.stdout] + [lines.put(b"")], daemon=True).start()  # type: ignore[union-attr]
    try:
        port = int(json.loads(lines.get(timeout=120))["smtp"].rpartition(":")[2])
        # Warm up as many execution environments as the run's clients keep busy: imports, first
        # calls to each service, cold starts.
        warm = [threading.Thread(target=_send, args=(port, [message(-n - 100 * c) for n in range(10)])) for c in range(clients)]
        for t in warm:
            t.start()
        for t in warm:
            t.join()
        for _ in range(10 * clients):
            lines.get(timeout=120)
        batches = [[message(i) for i in range(c, count, clients)] for c in range(clients)]
        moto_pids = [p for p in json.loads((workdir / "state" / "endpoints.json").read_text())["moto"]["pids"].values() if p]
        environments = [p for p in children(process.pid) if p not in moto_pids]
        cpu_local, cpu_env = cpu_seconds(process.pid), sum(map(cpu_seconds, environments))
        cpu_moto = sum(map(cpu_seconds, moto_pids))
        started = time.perf_counter()
        threads = [threading.Thread(target=_send, args=(port, batch)) for batch in batches]
        for t in threads:
            t.start()
        for _ in range(count):
            data = json.loads(lines.get(timeout=300))
            assert data["outcomes"][0]["status"] == "forwarded", data
        elapsed = time.perf_counter() - started
        cpu_local = cpu_seconds(process.pid) - cpu_local
        cpu_env = sum(map(cpu_seconds, [p for p in children(process.pid) if p not in moto_pids])) - cpu_env
        cpu_moto = sum(map(cpu_seconds, moto_pids)) - cpu_moto
        for t in threads:
            t.join()
        return count / elapsed, cpu_local * 1000 / count, cpu_env * 1000 / count, cpu_moto * 1000 / count
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(60)
        if process.stdout is not None:
            process.stdout.close()


def _send(port: int, messages: list[bytes]) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=120) as smtp:
        smtp.ehlo("bench.sender.example")
        for data in messages:
            smtp.sendmail("bench@sender.example", ["bench@example.com"], data)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=300)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--check", action="store_true", help=f"exit 1 below {TARGET:g} messages/s with 4 clients")
    args = parser.parse_args(argv)
    results: dict[int, float] = {}
    for clients in (1, 4):
        runs = []
        for _ in range(args.runs):
            workdir = Path(tempfile.mkdtemp(prefix="sesame-bench-local-"))
            try:
                runs.append(one_run(clients, args.messages, workdir))
            finally:
                shutil.rmtree(workdir, ignore_errors=True)
        rates = [r[0] for r in runs]
        results[clients] = statistics.median(rates)
        print(
            f"local mode, {clients} SMTP client(s), {args.messages} x 10 KB: "
            f"{results[clients]:.1f} messages/s (median of {args.runs}; runs {', '.join(f'{r:.1f}' for r in rates)}); "
            f"CPU a message: {statistics.median(r[1] for r in runs):.1f} ms in sesame local, "
            f"{statistics.median(r[2] for r in runs):.1f} ms in the forwarder's environments, "
            f"{statistics.median(r[3] for r in runs):.1f} ms in moto",
            flush=True,
        )
        total = statistics.median(r[1] + r[2] + r[3] for r in runs)
        cpus = os.cpu_count() or 1
        ceiling = cpus * 1000 / total  # messages/s the machine's CPUs allow at that CPU a message
        print(f"  {total:.1f} ms of CPU a message in all: {cpus} CPU(s) allow at most {ceiling:.0f} messages/s "
              f"at that cost ({100 * results[clients] / ceiling:.0f}% of it reached)", flush=True)
    met = results[4] >= TARGET
    print(f"target {TARGET:g} messages/s with 4 clients: {'met' if met else 'MISSED'}")
    return 1 if args.check and not met else 0


if __name__ == "__main__":
    sys.exit(main())
