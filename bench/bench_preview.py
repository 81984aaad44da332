"""How much a large message costs `sesame preview`, next to a full MIME parse with `email`.

Run as ``.venv/bin/python bench/bench_preview.py`` (or ``make bench``). It writes, under a
temporary directory, a ~29.5 MB multipart message with several base64 attachments and a tiny
message, then measures in fresh child processes, each run several times after a warm-up (median):

(a) ``sesame preview BIG --recipient john@example.com --aliases A --output OUT``: wall time
    and peak RSS over the same command on the tiny message (interpreter start-up, imports and
    alias loading cancel out, leaving what the message itself costs);
(b) a child that parses the whole message with ``email.message_from_bytes(raw,
    policy=email.policy.default)`` and regenerates it with ``as_bytes()``, over the same on
    the tiny message.

Targets (exit status 1 when one is missed): (b) extra time / (a) extra time >= 20; (a) extra
peak memory < 4 x message size; the body preview writes is byte-identical to the input's.
"""

from __future__ import annotations

import argparse
import base64
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from sesame.core.message import parse_message

TIME_RATIO_TARGET = 20.0
MEMORY_RATIO_TARGET = 4.0
ALIAS = "john@example.com"
MB = 1_000_000

ALIASES_TOML = """\
[settings]
from = "{alias}"
unknown = "bounce"

[aliases]
"john@example.com" = ["john.doe@gmail.example"]
"""

EMAIL_PACKAGE_CHILD = """\
import email, email.policy, sys
raw = open(sys.argv[1], "rb").read()
out = email.message_from_bytes(raw, policy=email.policy.default).as_bytes()
open(sys.argv[2], "wb").write(out)
"""

HEADER = (
    "Return-Path: <jane@sender.example>\r\n"
    "Received: from mail.sender.example (mail.sender.example [198.51.100.7])\r\n"
    " by inbound-smtp.us-east-1.amazonaws.com with SMTP id benchbenchbench\r\n"
    " for john@example.com;\r\n"
    " Tue, 03 Jun 2025 09:14:07 +0000 (UTC)\r\n"
    "X-SES-Spam-Verdict: PASS\r\n"
    "X-SES-Virus-Verdict: PASS\r\n"
    "DKIM-Signature: v=1; a=rsa-sha256; d=sender.example; s=s1; bh=abc=; b=def=\r\n"
    'From: "Jane Doe" <jane@sender.example>\r\n'
    "To: john@example.com\r\n"
    "Subject: {subject}\r\n"
    "Date: Tue, 3 Jun 2025 09:14:00 +0000\r\n"
    "Message-ID: <bench-{size}@sender.example>\r\n"
    "MIME-Version: 1.0\r\n"
)


def tiny_message() -> bytes:
    head = HEADER.format(subject="tiny", size=0) + "Content-Type: text/plain; charset=us-ascii\r\n\r\n"
    return head.encode() + b"Hello.\r\n"


def write_big_message(path: Path, target_bytes: int, attachments: int = 5, seed: int = 2025) -> int:
    """Write a multipart/mixed message of about ``target_bytes`` with base64 attachments.

    Streamed to disk one attachment at a time, so this process stays small: the children it
    measures would otherwise inherit its peak RSS figure across fork.
    """
    rng = random.Random(seed)
    boundary = "=_bench_boundary_5f1c"
    # base64 with CRLF every 76 characters grows data by 4/3 * 78/76.
    per_attachment = int(target_bytes / attachments / (4 / 3 * 78 / 76)) - 200
    with path.open("wb") as out:
        out.write(HEADER.format(subject="Quarterly archive", size=target_bytes).encode())
        out.write(f'Content-Type: multipart/mixed; boundary="{boundary}"\r\n\r\n'.encode())
        out.write(f"--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nThe archive is attached.\r\n".encode())
        for index in range(attachments):
            out.write(
                f"--{boundary}\r\nContent-Type: application/octet-stream; name=\"part{index}.bin\"\r\n"
                f"Content-Disposition: attachment; filename=\"part{index}.bin\"\r\n"
                "Content-Transfer-Encoding: base64\r\n\r\n".encode()
            )
            out.write(base64.encodebytes(rng.randbytes(per_attachment)).replace(b"\n", b"\r\n"))
        out.write(f"--{boundary}--\r\n".encode())
    return path.stat().st_size


@dataclass
class Run:
    seconds: float
    max_rss_bytes: int


# Each measurement runs in a fresh, small launcher: RUSAGE_CHILDREN then holds exactly one
# child, and a forked child cannot inherit a large parent's RSS high-water mark.
LAUNCHER = """\
import resource, subprocess, sys, time
start = time.perf_counter()
done = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
elapsed = time.perf_counter() - start
sys.stderr.buffer.write(done.stderr)
print(done.returncode, elapsed, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def measure(argv: list[str]) -> Run:
    """Wall time and peak RSS of ``argv`` run once in a fresh child process.

    The output file (the last argument) is removed first: overwriting a 40 MB file would add
    the cost of freeing its pages to the figure, which a real run does not pay.
    """
    Path(argv[-1]).unlink(missing_ok=True)
    launched = subprocess.run([sys.executable, "-c", LAUNCHER, *argv], capture_output=True, text=True, check=True)
    returncode, seconds, max_rss = launched.stdout.split()
    if returncode != "0":
        raise SystemExit(f"child failed ({returncode}): {' '.join(argv)}\n{launched.stderr}")
    # Linux reports ru_maxrss in KiB, macOS in bytes.
    rss = int(max_rss) if sys.platform == "darwin" else int(max_rss) * 1024
    return Run(float(seconds), rss)


def median_pair(tiny: list[str], big: list[str], repeat: int) -> tuple[Run, Run]:
    """Median runs of the tiny and the big command, interleaved after one discarded warm-up
    each, so page-cache warming and machine drift weigh on both alike."""
    measure(tiny), measure(big)
    runs: tuple[list[Run], list[Run]] = ([], [])
    for _ in range(repeat):
        runs[0].append(measure(tiny))
        runs[1].append(measure(big))
    return tuple(  # type: ignore[return-value]
        Run(statistics.median(r.seconds for r in each), int(statistics.median(r.max_rss_bytes for r in each)))
        for each in runs
    )


def sesame_command() -> list[str]:
    script = Path(sys.executable).with_name("sesame")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "import sys; from sesame.cli import main; sys.exit(main())"]


def body_is_identical(raw_path: Path, out_path: Path) -> bool:
    raw = raw_path.read_bytes()
    out = out_path.read_bytes()
    parsed = parse_message(raw)
    body = memoryview(raw)[parsed.body_offset :]
    separator = parsed.eol * 2
    end_of_headers = out.find(separator)
    return end_of_headers != -1 and memoryview(out)[end_of_headers + len(separator) :] == body


def _memory_backed_dir() -> str | None:
    """/dev/shm when usable: disk write-back would otherwise add noise to a ~50 ms figure."""
    shm = Path("/dev/shm")
    try:
        return str(shm) if os.access(shm, os.W_OK) and shutil.disk_usage(shm).free > 400 * MB else None
    except OSError:
        return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--size-mb",
        type=float,
        default=29.5,
        help="size of the large message (default 29.5: SES sends at most 30,000,000 raw bytes; "
        "preview shows a larger one as the notice that replaces it)",
    )
    parser.add_argument("--repeat", type=int, default=5, help="runs per measurement; the median is reported (default 5)")
    parser.add_argument("--dir", help="where to write the messages (default: /dev/shm when it has room, else the temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args(argv)

    workdir = Path(tempfile.mkdtemp(prefix="sesame-bench-", dir=args.dir or _memory_backed_dir()))
    try:
        aliases = workdir / "aliases.toml"
        aliases.write_text(ALIASES_TOML)
        tiny, big = workdir / "tiny.eml", workdir / "big.eml"
        tiny.write_bytes(tiny_message())
        size = write_big_message(big, int(args.size_mb * MB))

        def preview(message: Path) -> list[str]:
            out = workdir / f"{message.stem}.preview.out"
            return [*sesame_command(), "preview", str(message), "--recipient", ALIAS, "--aliases", str(aliases), "--output", str(out)]

        def email_package(message: Path) -> list[str]:
            return [sys.executable, "-c", EMAIL_PACKAGE_CHILD, str(message), str(workdir / f"{message.stem}.email.out")]

        # (Both commands take their output file last; measure() relies on it.)

        print(f"message: {size:,} bytes ({size / MB:.1f} MB), {args.repeat} runs each, median", flush=True)
        preview_tiny, preview_big = median_pair(preview(tiny), preview(big), args.repeat)
        email_tiny, email_big = median_pair(email_package(tiny), email_package(big), args.repeat)

        preview_extra = max(preview_big.seconds - preview_tiny.seconds, 1e-3)
        email_extra = email_big.seconds - email_tiny.seconds
        ratio = email_extra / preview_extra
        preview_memory = (preview_big.max_rss_bytes - preview_tiny.max_rss_bytes) / size
        email_memory = (email_big.max_rss_bytes - email_tiny.max_rss_bytes) / size
        identical = body_is_identical(big, workdir / "big.preview.out")

        rows = [
            ("message size", f"{size / MB:.1f} MB"),
            ("preview: tiny message (baseline)", f"{preview_tiny.seconds * 1000:.0f} ms, {preview_tiny.max_rss_bytes / MB:.0f} MB RSS"),
            ("preview: extra time", f"{preview_extra * 1000:.0f} ms"),
            ("email package: tiny message (baseline)", f"{email_tiny.seconds * 1000:.0f} ms, {email_tiny.max_rss_bytes / MB:.0f} MB RSS"),
            ("email package: extra time", f"{email_extra * 1000:.0f} ms"),
            ("ratio email / preview extra time", f"{ratio:.0f}x (target >= {TIME_RATIO_TARGET:.0f}x)"),
            ("preview peak extra memory / size", f"{preview_memory:.2f}x (target < {MEMORY_RATIO_TARGET:.0f}x)"),
            ("email package peak extra memory / size", f"{email_memory:.2f}x"),
            ("preview output body byte-identical", "yes" if identical else "NO"),
        ]
        width = max(len(label) for label, _ in rows)
        for label, value in rows:
            print(f"  {label:<{width}}  {value}")

        missed = []
        if ratio < TIME_RATIO_TARGET:
            missed.append(f"time ratio {ratio:.1f}x < {TIME_RATIO_TARGET:.0f}x")
        if preview_memory >= MEMORY_RATIO_TARGET:
            missed.append(f"memory {preview_memory:.2f}x >= {MEMORY_RATIO_TARGET:.0f}x")
        if not identical:
            missed.append("body changed")
        if missed:
            print("MISSED: " + "; ".join(missed))
            return 1
        print("all targets met")
        return 0
    finally:
        if args.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
