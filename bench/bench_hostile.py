"""What one hostile message costs the forward path: time and memory, with a budget.

Run as ``.venv/bin/python bench/bench_hostile.py`` (``make bench`` runs it after the preview
benchmark). For each pathological shape of header block, at 100 KB, 1 MB, just under 2 MB and 5 MB, it writes
one message and hands it, in a fresh child process, to ``Forwarder.handle`` with an in-memory
store and a sender that only counts, addressed to 5 aliases at once (so per-alias work shows
five times). The child measures the call alone (start-up, imports and a warm-up message
excluded): wall and CPU time, the growth of peak RSS (``ru_maxrss``), and, in a second call,
the peak of Python allocations (``tracemalloc``).

Budget per message (exit status 1 when any case misses it): at most 1 s of CPU and 64 MB of
extra memory (the larger of the two memory figures). A child that does not finish within
``--timeout`` seconds is killed and reported over budget, and one that raises is reported
as failed: either way the table is still printed.

Shapes, after the findings they come from:

- ``folded-8bit-text``: an 8-bit Subject folded into 70-octet lines (a 411 KB one took 31 s);
- ``many-to-addresses``: To with thousands of 8-bit display names (8,000 of them);
- ``many-from-addresses``: From with thousands of addresses (20,000 of them);
- ``many-to-fields``: one To field per address, all to be merged into one;
- ``many-empty-fields``: ``A:`` fields, three octets each (2 million of them, 6 MB);
- ``deep-comment-nesting``: a From whose comment nests as deep as the size allows, folded
  into short lines (a few hundred levels raised RecursionError);
- ``many-short-fields``: ``X-Fnnnnnn: v`` fields;
- ``one-huge-line``: one unfolded field line of words;
- ``huge-mailbox-to``, ``-cc``, ``-reply-to``: one "address" of hundreds of thousands of
  one-letter words folded into short lines (0.6 s to parse and 1.0 s to rewrite at 2 MB,
  when a To copy was first read up to 500 KB);
- ``blank-lines-to``, ``-cc``, ``-reply-to``: an address, then whitespace-only continuation
  lines, hundreds of thousands of them (0.9 s at 2 MB);
- ``token-copies-to``, ``-cc``, ``-reply-to``: three copies of the field, each of up to 1,000
  mailboxes of about 500 tokens (just under the 512 a mailbox may have), so every token is
  read (1.5-2.5 s at 1.6 MB before the message-wide budget of address tokens).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MB = 1_000_000
# 2MB: just under the 2,000,000 octets of header block read (the most a forwarded message has).
SIZES = {"100KB": 100_000, "1MB": 1_000_000, "2MB": 1_990_000, "5MB": 5_000_000}
CPU_BUDGET_S = 1.0
MEMORY_BUDGET = 64 * 1024 * 1024
ALIASES = [f"a{i}@example.com" for i in range(1, 6)]
# A child may not take the machine down with it: past this address space it fails alone.
CHILD_ADDRESS_SPACE = 4 * 1024**3

PREAMBLE = (
    b"Received: from mail.sender.example (mail.sender.example [198.51.100.7])\r\n"
    b" by inbound-smtp.us-east-1.amazonaws.com with SMTP id benchhostile;\r\n"
    b" Tue, 03 Jun 2025 09:14:07 +0000 (UTC)\r\n"
    b"X-SES-Spam-Verdict: PASS\r\n"
    b"Date: Tue, 3 Jun 2025 09:14:00 +0000\r\n"
    b"Message-ID: <bench-hostile@sender.example>\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
)
FROM = b'From: "Jane Doe" <jane@sender.example>\r\n'
TO = b"To: " + b", ".join(a.encode() for a in ALIASES) + b"\r\n"
SUBJECT = b"Subject: benchmark\r\n"
BODY = b"\r\nHello.\r\n"


def _fill(unit: bytes, room: int) -> bytes:
    return unit * max(1, room // len(unit))


def folded_8bit_text(size: int) -> bytes:
    words = "Gr\u00fc\u00dfe aus K\u00f6ln, na\u00efve caf\u00e9 \u00e0 la cr\u00e8me ".encode()
    text = _fill(words, size)
    lines = [text[i : i + 68] for i in range(0, len(text), 68)]
    return FROM + TO + b"Subject: " + b"\r\n ".join(lines) + b"\r\n"


def many_to_addresses(size: int) -> bytes:
    parts = []
    total, i = 0, 0
    while total < size:
        part = f'"J\u00f6rg D\u00fcrr {i}" <user{i}@bulk{i % 97}.example>'.encode()
        parts.append(part)
        total += len(part) + 4
        i += 1
    return FROM + SUBJECT + b"To: " + b",\r\n ".join(parts) + b"\r\n"


def many_from_addresses(size: int) -> bytes:
    parts = []
    total, i = 0, 0
    while total < size:
        part = f"user{i}@bulk{i % 97}.example".encode()
        parts.append(part)
        total += len(part) + 4
        i += 1
    return TO + SUBJECT + b"From: " + b",\r\n ".join(parts) + b"\r\n"


def many_empty_fields(size: int) -> bytes:
    return FROM + TO + SUBJECT + _fill(b"A:\r\n", size)


def _folded_run(token: bytes, count: int, per_line: int = 34) -> bytes:
    """``count`` tokens separated by spaces, folded ``per_line`` to a line."""
    full, rest = divmod(count, per_line)
    lines = [b" ".join([token] * per_line)] * full + ([b" ".join([token] * rest)] if rest else [])
    return b"\r\n ".join(lines)


def deep_comment_nesting(size: int) -> bytes:
    depth = size // 4
    nested = _folded_run(b"(", depth) + b"\r\n c\r\n " + _folded_run(b")", depth)
    return TO + SUBJECT + b"From: " + nested + b" <jane@sender.example>\r\n"


def many_to_fields(size: int) -> bytes:
    count = size // len(b"To: user000000@bulk.example\r\n")
    return FROM + SUBJECT + b"".join(b"To: user%06d@bulk.example\r\n" % i for i in range(count))


def many_short_fields(size: int) -> bytes:
    count = size // len(b"X-F000000: v\r\n")
    return FROM + TO + SUBJECT + b"".join(b"X-F%06d: v\r\n" % i for i in range(count))


def one_huge_line(size: int) -> bytes:
    return FROM + TO + SUBJECT + b"X-Long: " + _fill(b"lorem ipsum dolor ", size) + b"\r\n"


def _address_field(name: bytes, value_of_size):  # type: ignore[no-untyped-def]
    """A shape whose bulk is the value of one address field ``name``; the other fields as usual."""

    def shape(size: int) -> bytes:
        others = FROM + SUBJECT + (b"" if name == b"To" else TO)
        head = others + name + b": "
        return head + value_of_size(size - len(head) - 2) + b"\r\n"

    return shape


def huge_mailbox(room: int) -> bytes:
    """One mailbox of one-letter words, 34 a line: three octets a word with the folding."""
    return _folded_run(b"a", room * 34 // 70)


def blank_lines(room: int) -> bytes:
    """A usable address, then whitespace-only lines of one space each."""
    return b"jane@sender.example," + b"\r\n " * ((room - 20) // 3)


def token_copies(name: bytes):  # type: ignore[no-untyped-def]
    """Three copies of address field ``name``, each of up to 1,000 mailboxes of 248 one-letter
    words and an address (about 500 tokens: words and the white space between them), folded
    34 words a line; the other fields as usual. At most 1,000 mailboxes a copy, so the
    message is never over 1.6 MB (its "5MB" case is that size). Reply-To's addresses are
    unusable (``x@y``), so that every copy of it is read in turn, each up to its 32 KB."""

    address = b" <x@y>" if name == b"Reply-To" else b" <x@y.example>"
    mailbox = _folded_run(b"a", 248) + address

    def shape(size: int) -> bytes:
        others = FROM + SUBJECT + (b"" if name == b"To" else TO)
        room = (size - len(others)) // 3 - len(name) - 4
        count = max(1, min(1_000, room // (len(mailbox) + 4)))
        field = name + b": " + b",\r\n ".join([mailbox] * count) + b"\r\n"
        return others + field * 3

    return shape


SHAPES = {
    "folded-8bit-text": folded_8bit_text,
    "many-to-addresses": many_to_addresses,
    "many-from-addresses": many_from_addresses,
    "many-to-fields": many_to_fields,
    "many-empty-fields": many_empty_fields,
    "deep-comment-nesting": deep_comment_nesting,
    "many-short-fields": many_short_fields,
    "one-huge-line": one_huge_line,
    "huge-mailbox-to": _address_field(b"To", huge_mailbox),
    "huge-mailbox-cc": _address_field(b"Cc", huge_mailbox),
    "huge-mailbox-reply-to": _address_field(b"Reply-To", huge_mailbox),
    "blank-lines-to": _address_field(b"To", blank_lines),
    "blank-lines-cc": _address_field(b"Cc", blank_lines),
    "blank-lines-reply-to": _address_field(b"Reply-To", blank_lines),
    "token-copies-to": token_copies(b"To"),
    "token-copies-cc": token_copies(b"Cc"),
    "token-copies-reply-to": token_copies(b"Reply-To"),
}


def message(shape: str, size: int) -> bytes:
    """A message whose header block is ``size`` octets, mostly of ``shape``."""
    return PREAMBLE + SHAPES[shape](size - len(PREAMBLE)) + BODY


# --- the child: one message through the forward path -----------------------------------------------


def child(path: str) -> None:
    """Measure one ``Forwarder.handle`` call on the message at ``path``; print JSON lines."""
    resource.setrlimit(resource.RLIMIT_AS, (CHILD_ADDRESS_SPACE, CHILD_ADDRESS_SPACE))
    import gc
    import tracemalloc
    from datetime import UTC, datetime

    from sesame.core.alias_config import parse_aliases_toml
    from sesame.core.event import InboundMail
    from sesame.core.forward import Forwarder
    from sesame.core.ports import outgoing_size
    from sesame.core.settings import Settings

    class CountingSender:
        """Counts sends and bytes; keeps nothing, as SES keeps nothing in this process."""

        def __init__(self) -> None:
            self.sends = 0
            self.bytes = 0

        def send_raw(self, message, destinations, *, key):  # type: ignore[no-untyped-def]
            self.sends += 1
            self.bytes += outgoing_size(message)
            return f"ses-{self.sends}"

    class OneMessageStore:
        """The message store port (sesame.core.ports.MessageStore) over one message in memory."""

        def __init__(self, raw: bytes) -> None:
            self.raw = raw

        def fetch(self, mail):  # type: ignore[no-untyped-def]
            return self.raw

        def location(self, mail):  # type: ignore[no-untyped-def]
            return f"memory://{mail.message_id}"

        def quarantine(self, mail):  # type: ignore[no-untyped-def]
            return f"memory://quarantine/{mail.message_id}"

    table = parse_aliases_toml(
        "[aliases]\n" + "".join(f'"{a}" = ["dest{i}@gmail.example"]\n' for i, a in enumerate(ALIASES))
    ).table
    mail = InboundMail(
        message_id="benchhostile",
        source="jane@sender.example",
        timestamp=datetime(2026, 11, 20, 9, 15, tzinfo=UTC),
        recipients=tuple(ALIASES),
    )

    def run(raw: bytes) -> tuple[CountingSender, object]:
        sender = CountingSender()
        report = Forwarder(OneMessageStore(raw), sender, Settings()).handle(mail, table)
        return sender, report

    run(message("many-short-fields", 2_000))  # warm-up: lazy imports, caches
    raw = Path(path).read_bytes()
    gc.collect()
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    wall, cpu = time.perf_counter(), time.process_time()
    try:
        sender, report = run(raw)
    except BaseException as exc:  # noqa: BLE001 - a crash is a result to report, not to hide
        print(json.dumps({"error": f"{type(exc).__name__}: {str(exc)[:120]}"}), flush=True)
        return
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    rss_extra = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) * (1 if sys.platform == "darwin" else 1024)
    outcomes = sorted({f"{o.status} ({o.reason})" for o in report.outcomes})  # type: ignore[attr-defined]
    print(json.dumps({"wall": wall, "cpu": cpu, "rss_extra": rss_extra, "sends": sender.sends, "outcomes": outcomes}), flush=True)
    del sender, report
    gc.collect()
    tracemalloc.start()
    run(raw)
    print(json.dumps({"traced_peak": tracemalloc.get_traced_memory()[1]}), flush=True)


# --- the parent: one fresh child per case, a table, a verdict ----------------------------------------


def measure(path: Path, timeout: float) -> dict[str, object]:
    process = subprocess.Popen(
        [sys.executable, __file__, "--child", str(path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    timed_out = False
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate()
        timed_out = True
    result: dict[str, object] = {}
    for line in out.splitlines():
        result.update(json.loads(line))
    if timed_out:
        result["timeout"] = timeout
    elif process.returncode != 0 and "error" not in result:
        result["error"] = f"exit {process.returncode}: {err.strip().splitlines()[-1] if err.strip() else ''}"[:140]
    return result


def verdict(result: dict[str, object]) -> str:
    if "error" in result:
        return f"FAILED: {result['error']}"
    if "cpu" not in result:
        return f"OVER: no result in {result['timeout']:.0f} s"
    over = []
    if float(result["cpu"]) > CPU_BUDGET_S:  # type: ignore[arg-type]
        over.append("time")
    if max(int(result.get("rss_extra", 0)), int(result.get("traced_peak", 0))) > MEMORY_BUDGET:  # type: ignore[call-overload]
        over.append("memory")
    if "timeout" in result:
        over.append(f"tracemalloc run cut at {result['timeout']:.0f} s")
    return "OVER: " + ", ".join(over) if over else "ok"


def _mb(value: object) -> str:
    return f"{int(value) / MB:7.1f}" if value is not None else "      -"  # type: ignore[call-overload]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timeout", type=float, default=20.0, help="seconds before a case is killed (default 20)")
    parser.add_argument("--shape", action="append", choices=sorted(SHAPES), help="only this shape (repeatable)")
    parser.add_argument("--size", action="append", choices=list(SIZES), help="only this size (repeatable)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child)
        return 0

    shm = Path("/dev/shm")
    base = str(shm) if os.access(shm, os.W_OK) else None
    workdir = Path(tempfile.mkdtemp(prefix="sesame-bench-hostile-", dir=base))
    header = f"{'shape':<22} {'size':>5} {'wall ms':>8} {'CPU ms':>8} {'RSS+ MB':>7} {'heap MB':>7} {'sends':>5}  {'result':<8} outcome"
    print(f"one message, {len(ALIASES)} aliases; budget {CPU_BUDGET_S:.0f} s CPU and {MEMORY_BUDGET // 2**20} MB extra memory; fresh process per case")
    print(header)
    print("-" * len(header))
    missed = 0
    try:
        for shape in args.shape or SHAPES:
            for label in args.size or SIZES:
                path = workdir / f"{shape}-{label}.eml"
                path.write_bytes(message(shape, SIZES[label]))
                result = measure(path, args.timeout)
                path.unlink()
                outcome = verdict(result)
                missed += outcome != "ok"
                wall = f"{float(result['wall']) * 1000:8.0f}" if "wall" in result else "       -"  # type: ignore[arg-type]
                cpu = f"{float(result['cpu']) * 1000:8.0f}" if "cpu" in result else "       -"  # type: ignore[arg-type]
                sends = f"{result['sends']:>5}" if "sends" in result else "    -"
                shown = ", ".join(result.get("outcomes", []))  # type: ignore[arg-type]
                print(f"{shape:<22} {label:>5} {wall} {cpu} {_mb(result.get('rss_extra'))} {_mb(result.get('traced_peak'))} {sends}  {outcome:<8} {shown}", flush=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    if missed:
        print(f"MISSED: {missed} case(s) over budget or failed")
        return 1
    print("all cases within budget")
    return 0


if __name__ == "__main__":
    sys.exit(main())
