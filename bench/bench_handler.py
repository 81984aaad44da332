"""What one invocation of the real forwarding handler costs, and what a cold start costs.

Run as ``.venv/bin/python bench/bench_handler.py`` (``make bench`` runs it after the preview
benchmark). Two parts:

1. **Forwarding** (``handle_email.app.lambda_handler``, unchanged, in fresh processes). S3,
   SSM and DynamoDB are a moto server in another process; SES v2 is ``bench/ses_sink.py``
   in a third, which reads each request, answers like SES, and afterwards checks it: the
   SigV4 signature over the body received, the JSON, the base64, the destinations, and the
   SHA-256 of the decoded message against the message the rewriter makes from the input.
   Each process forwards a ~10 KB message (the first invocation: clients, connections, the
   alias cache), then the message measured, ~10 KB again or ~29.5 MB; each to one
   destination (one send) through the handler's idempotency table. Measured: each handler
   call's wall time inside the child, and the child's peak RSS (a small launcher per run
   reads ``RUSAGE_CHILDREN``). The 29.5 MB figures are the extra cost over the 10 KB ones:
   second invocation against second invocation, peak against peak (medians).
2. **Cold start** (Python 3.13, the runtime's version). The function bundle is built by
   ``src/Makefile`` (the target ``sam build`` runs) for this machine's platform, and boto3 is
   installed beside it as the Lambda runtime provides it. In fresh ``python3.13 -S``
   processes with only those two on the path: ``import boto3`` alone, ``import
   handle_email.app``, and the first invocation (import, clients, one 10 KB event), with the
   bundle's unchecked-hash bytecode and with the same bundle as source only
   (``PYTHONDONTWRITEBYTECODE``: Lambda's code directory is read-only, so nothing compiled
   there survives the process). ``python -X importtime`` shows where the import time goes.

Targets (exit status 1 when one is missed): 29.5 MB extra peak memory <= 2.5x the message;
extra time <= 0.25 s per 30 MB; every SES request checks out; cold import of the handler
<= 1.2x ``import boto3`` alone (with bytecode).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.request import urlopen

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_preview import HEADER, MB, write_big_message  # noqa: E402

MEMORY_RATIO_TARGET = 2.5
SECONDS_PER_30MB_TARGET = 0.25
IMPORT_RATIO_TARGET = 1.2
ALIAS = "john@example.com"
DESTINATION = "john.doe@gmail.example"
SOURCE = "jane@sender.example"
BUCKET = "sesame-bench"
TABLE = "sesame-bench-idempotency"
REGION = "us-east-1"
ALIASES_TOML = f'[settings]\nfrom = "{{alias}}"\n\n[aliases]\n"{ALIAS}" = ["{DESTINATION}"]\n'

# A fresh process: import the handler, invoke it once per event file, write the timings.
HANDLER_CHILD = """\
import json, sys, time
start = time.perf_counter()
from handle_email import app
imported = time.perf_counter()

class Context:
    function_name = "sesame-HandleEmailFunction"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:sesame-HandleEmailFunction"
    aws_request_id = "bench"
    def get_remaining_time_in_millis(self):
        return 120_000

began = time.perf_counter()
app.runtime()  # what the first invocation builds first (clients, adapters), timed on its own
runtime = time.perf_counter() - began
invocations = []
for path in sys.argv[2:]:
    event = json.load(open(path))
    began = time.perf_counter()
    result = app.lambda_handler(event, Context())
    invocations.append(time.perf_counter() - began)
    assert result["disposition"] == "CONTINUE", result
json.dump({"import": imported - start, "runtime": runtime, "invocations": invocations}, open(sys.argv[1], "w"))
"""

IMPORT_CHILD = "import time; s = time.perf_counter(); import {module}; print(time.perf_counter() - s)"

# As in bench_preview: a small launcher per run, so RUSAGE_CHILDREN holds exactly one child.
LAUNCHER = """\
import resource, subprocess, sys
done = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
sys.stderr.buffer.write(done.stderr)
print(done.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


@dataclass
class Invocation:
    import_seconds: float
    runtime_seconds: float  # building the runtime (clients, adapters) before the first event
    seconds: list[float]  # each event's handler call (the first one after the runtime exists)
    max_rss_bytes: int

    @property
    def first_invocation(self) -> float:
        return self.runtime_seconds + self.seconds[0]


class Background:
    """A helper process that prints its port on its first line and stops when stdin closes."""

    def __init__(self, argv: list[str]) -> None:
        # stderr discarded: moto's server logs every request there.
        self.process = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line.strip().isdigit():
            self.stop()
            raise SystemExit(f"{argv[0]} did not start: {line!r}")
        self.url = f"http://127.0.0.1:{int(line)}"

    def stop(self) -> None:
        if self.process.stdin:
            self.process.stdin.close()
        self.process.wait(timeout=30)


MOTO_SERVER = """\
import sys
from moto.server import ThreadedMotoServer
server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
server.start()
print(server.get_host_and_port()[1], flush=True)
sys.stdin.read()
server.stop()
"""


def aws_env(moto_url: str, sink_url: str) -> dict[str, str]:
    """What the handler's process sees: the template's variables, endpoints, fake credentials."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SESAME_", "POWERTOOLS_"))}
    env.update(
        {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            # botocore's service-specific endpoint variables (AWS SDKs "Service-specific endpoints").
            "AWS_ENDPOINT_URL_S3": moto_url,
            "AWS_ENDPOINT_URL_SSM": moto_url,
            "AWS_ENDPOINT_URL_DYNAMODB": moto_url,
            "AWS_ENDPOINT_URL_SESV2": sink_url,
            "SESAME_BUCKET": BUCKET,
            "SESAME_ALIAS_PATH": "/sesame",
            "SESAME_IDEMPOTENCY_TABLE": TABLE,
            "POWERTOOLS_SERVICE_NAME": "sesame-forwarder",
            "POWERTOOLS_METRICS_NAMESPACE": "Sesame",
            "POWERTOOLS_LOG_LEVEL": "INFO",
        }
    )
    return env


def prepare_moto(moto_url: str) -> Any:
    import boto3

    from sesame.core.alias_config import parse_aliases_toml, to_parameters

    session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION)
    s3 = session.client("s3", endpoint_url=moto_url)
    s3.create_bucket(Bucket=BUCKET)
    ssm = session.client("ssm", endpoint_url=moto_url)
    for name, value in to_parameters(parse_aliases_toml(ALIASES_TOML), "/sesame").items():
        ssm.put_parameter(Name=name, Value=value, Type="String")
    session.client("dynamodb", endpoint_url=moto_url).create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return s3


class Runs:
    """Stores a fresh copy of a message per run (each run is a new message to the idempotency
    table) and writes the SES event that names it."""

    def __init__(self, workdir: Path, s3: Any) -> None:
        self.workdir, self.s3, self.count = workdir, s3, 0
        self.template = json.loads((ROOT / "events" / "ses_email_receiving.json").read_text())

    def event_for(self, message: Path) -> Path:
        self.count += 1
        message_id = f"bench{self.count:04d}{'0' * 31}"[:40]
        self.s3.upload_file(str(message), BUCKET, f"messages/{message_id}")
        event = json.loads(json.dumps(self.template))
        ses = event["Records"][0]["ses"]
        ses["mail"]["messageId"] = message_id
        ses["mail"]["destination"] = [ALIAS]
        ses["receipt"]["recipients"] = [ALIAS]
        path = self.workdir / f"event-{self.count}.json"
        path.write_text(json.dumps(event))
        return path


def run_handler(python: list[str], env: dict[str, str], events: list[Path], workdir: Path) -> Invocation:
    """One fresh process (``python`` is the interpreter and its options) invoking the handler
    once per event; its timings and peak RSS."""
    out = workdir / "timings.json"
    out.unlink(missing_ok=True)
    argv = [*python, "-c", HANDLER_CHILD, str(out), *map(str, events)]
    launched = subprocess.run([sys.executable, "-c", LAUNCHER, *argv], capture_output=True, text=True, env=env, check=True)
    returncode, max_rss = launched.stdout.split()
    if returncode != "0":
        raise SystemExit(f"handler run failed ({returncode}):\n{launched.stderr[-3000:]}")
    timings = json.loads(out.read_text())
    rss = int(max_rss) if sys.platform == "darwin" else int(max_rss) * 1024
    return Invocation(timings["import"], timings["runtime"], timings["invocations"], rss)


def expected_message(path: Path) -> tuple[int, str]:
    """Size and SHA-256 of what the forwarder must send for the message at ``path``."""
    import hashlib

    from sesame.core.message import parse_message
    from sesame.core.rewrite import RewriteOptions, rewrite

    raw = path.read_bytes()
    result = rewrite(parse_message(raw), RewriteOptions(alias=ALIAS, from_address=ALIAS, envelope_sender=SOURCE))
    digest = hashlib.sha256(result.head)
    digest.update(result.body)
    return result.size, digest.hexdigest()


def sink_checks(sink_url: str) -> list[dict[str, Any]]:
    with urlopen(f"{sink_url}/checks", timeout=120) as response:
        return json.load(response)


def check_sends(checks: list[dict[str, Any]], expected: tuple[int, str], runs: int) -> list[str]:
    problems = []
    if len(checks) != runs:
        problems.append(f"{len(checks)} SES requests for {runs} invocations")
    for check in checks:
        problems.extend(check["problems"])
        if check["destinations"] != [DESTINATION]:
            problems.append(f"destinations {check['destinations']}")
        if (check["message_size"], check["message_sha256"]) != expected:
            problems.append(f"SES received {check['message_size']} bytes that are not the rewritten message")
    return problems


# ---------------------------------------------------------------- cold start


def py313() -> str | None:
    """The Lambda runtime's Python, as the Makefile finds it (PY313_DIR, else pyenv, else PATH)."""
    candidates = [os.environ.get("PY313_DIR", "")]
    try:
        root = subprocess.run(["pyenv", "root"], capture_output=True, text=True, check=True).stdout.strip()
        candidates.append(f"{root}/versions/3.13.0/bin")
    except (OSError, subprocess.CalledProcessError):
        pass
    for folder in candidates:
        if folder and Path(folder, "python3.13").is_file():
            return str(Path(folder, "python3.13"))
    return shutil.which("python3.13")


def host_platforms() -> str:
    import platform

    machine = platform.machine().lower()
    arch = {"arm64": "aarch64", "amd64": "x86_64"}.get(machine, machine)
    return f"manylinux2014_{arch} manylinux_2_28_{arch}"


def build_bundles(python: str, cache: Path) -> tuple[Path, Path, Path]:
    """The function bundle (compiled, and a source-only copy) and a Lambda-like boto3."""
    import boto3

    bundle, source_only, runtime = cache / "bundle", cache / "bundle-source", cache / "runtime"
    for folder in (bundle, source_only):
        shutil.rmtree(folder, ignore_errors=True)
    quiet_run(
        ["make", "--no-print-directory", "-C", str(ROOT / "src"), "bundle", f"ARTIFACTS_DIR={bundle}",
         f"PYTHON313={python}", f"PIP_PLATFORMS={host_platforms()}"]
    )
    shutil.copytree(bundle, source_only, ignore=shutil.ignore_patterns("__pycache__"))
    # The runtime's boto3 comes compiled (the Lambda image has its .pyc files); same version as here.
    marker = runtime / f".boto3-{boto3.__version__}"
    if not marker.exists():
        shutil.rmtree(runtime, ignore_errors=True)
        quiet_run(
            [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--target", str(runtime),
             f"boto3=={boto3.__version__}"]
        )
        marker.touch()
    return bundle, source_only, runtime


def quiet_run(argv: list[str]) -> None:
    done = subprocess.run(argv, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"{' '.join(argv[:4])}... failed:\n{done.stdout[-2000:]}{done.stderr[-3000:]}")


def lambda_env(base: dict[str, str], bundle: Path, runtime: Path, compiled: bool) -> dict[str, str]:
    env = dict(base, PYTHONPATH=f"{bundle}{os.pathsep}{runtime}")
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    if not compiled:
        env["PYTHONDONTWRITEBYTECODE"] = "1"  # read-only /var/task: compiled code never persists
    return env


def time_import(python: str, module: str, env: dict[str, str], repeat: int) -> float:
    runs = []
    for _ in range(repeat + 1):  # the first run warms the page cache and is discarded
        done = subprocess.run([python, "-S", "-c", IMPORT_CHILD.format(module=module)], capture_output=True, text=True, env=env)
        if done.returncode:
            raise SystemExit(f"import {module} failed:\n{done.stderr[-2000:]}")
        runs.append(float(done.stdout))
    return statistics.median(runs[1:])


def importtime_breakdown(python: str, env: dict[str, str], top: int = 8) -> list[tuple[str, float]]:
    """Cumulative import time of ``handle_email.app`` by top-level package (``-X importtime``)."""
    done = subprocess.run(
        [python, "-S", "-X", "importtime", "-c", "import handle_email.app"], capture_output=True, text=True, env=env
    )
    totals: dict[str, float] = defaultdict(float)
    for line in done.stderr.splitlines():  # "import time: <self us> | <cumulative us> | <module>"
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        self_us, _, name = line.removeprefix("import time:").split("|")
        totals[name.strip().split(".")[0]] += int(self_us) / 1e6
    return sorted(totals.items(), key=lambda item: -item[1])[:top]


# ---------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=float, default=29.5, help="large message size (default 29.5: SES sends at most ~30 MB raw)")
    parser.add_argument("--repeat", type=int, default=5, help="runs per measurement; medians are reported (default 5)")
    parser.add_argument("--skip-cold-start", action="store_true", help="only the forwarding part")
    parser.add_argument("--cache", type=Path, default=ROOT / ".bench", help="where the cold-start bundles are built")
    args = parser.parse_args(argv)

    workdir = Path(tempfile.mkdtemp(prefix="sesame-bench-handler-"))
    background: list[Background] = []
    rows: list[tuple[str, str]] = []
    missed: list[str] = []
    try:
        moto = Background([sys.executable, "-c", MOTO_SERVER])
        background.append(moto)
        sink = Background([sys.executable, str(ROOT / "bench" / "ses_sink.py")])
        background.append(sink)
        env = aws_env(moto.url, sink.url)
        runs = Runs(workdir, prepare_moto(moto.url))

        small, big = workdir / "small.eml", workdir / "big.eml"
        small.write_bytes(small_message())
        size = write_big_message(big, int(args.size_mb * MB))
        load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
        print(f"machine: {os.cpu_count()} CPUs, load average {load} (figures are noisy under load)")
        print(f"messages: {small.stat().st_size:,} and {size:,} bytes; {args.repeat} fresh processes each, medians", flush=True)

        forwarding: dict[str, list[Invocation]] = {"small": [], "big": []}
        expected = {"small": expected_message(small), "big": expected_message(big)}
        problems: list[str] = []
        for index in range(args.repeat + 1):  # one warm-up pair, discarded
            for label, message in (("small", small), ("big", big)):
                # Each process forwards a 10 KB message first (clients, connections, alias
                # cache: the first invocation's costs), then the message measured.
                events = [runs.event_for(small), runs.event_for(message)]
                result = run_handler([sys.executable], env, events, workdir)
                checks = sink_checks(sink.url)
                problems += check_sends(checks[:1], expected["small"], 1) + check_sends(checks[1:], expected[label], 1)
                if index:
                    forwarding[label].append(result)

        def median(label: str, pick: Any) -> float:
            return statistics.median(pick(run) for run in forwarding[label])

        first_small = median("small", lambda r: r.first_invocation)
        warm_small = median("small", lambda r: r.seconds[1])
        warm_big = median("big", lambda r: r.seconds[1])
        rss_small = median("small", lambda r: r.max_rss_bytes)
        rss_big = median("big", lambda r: r.max_rss_bytes)
        extra_seconds = warm_big - warm_small
        per_30mb = extra_seconds * 30 * MB / size
        memory_ratio = (rss_big - rss_small) / size
        rows += [
            ("10 KB message: first invocation (clients, aliases, send)", f"{first_small * 1000:.0f} ms"),
            ("10 KB message: next invocation, same process (the baseline)", f"{warm_small * 1000:.0f} ms"),
            ("10 KB messages: peak RSS (the baseline)", f"{rss_small / MB:.0f} MB"),
            (f"{size / MB:.1f} MB message: invocation", f"{warm_big * 1000:.0f} ms"),
            (f"{size / MB:.1f} MB message: extra time", f"{extra_seconds * 1000:.0f} ms = {per_30mb:.2f} s per 30 MB (target <= {SECONDS_PER_30MB_TARGET})"),
            (f"{size / MB:.1f} MB message: extra peak memory", f"{memory_ratio:.2f}x the message (target <= {MEMORY_RATIO_TARGET})"),
            ("SES requests checked (signature, JSON, base64, bytes, destinations)", "all good" if not problems else f"{len(problems)} PROBLEMS"),
        ]
        if per_30mb > SECONDS_PER_30MB_TARGET:
            missed.append(f"extra time {per_30mb:.2f} s per 30 MB > {SECONDS_PER_30MB_TARGET}")
        if memory_ratio > MEMORY_RATIO_TARGET:
            missed.append(f"extra memory {memory_ratio:.2f}x > {MEMORY_RATIO_TARGET}x")
        if problems:
            missed.append("SES requests: " + "; ".join(sorted(set(problems))[:5]))

        if not args.skip_cold_start:
            python = py313()
            if python is None:
                missed.append("cold start not measured: python3.13 not found (set PY313_DIR)")
            else:
                rows += cold_start(python, env, runs, small, args, sink.url, missed)
    finally:
        for process in background:
            process.stop()
        shutil.rmtree(workdir, ignore_errors=True)

    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        print(f"  {label:<{width}}  {value}")
    if missed:
        print("MISSED: " + "; ".join(missed))
        return 1
    print("all targets met")
    return 0


def cold_start(
    python: str, env: dict[str, str], runs: Runs, small: Path, args: argparse.Namespace, sink_url: str, missed: list[str]
) -> list[tuple[str, str]]:
    args.cache.mkdir(exist_ok=True)
    bundle, source_only, runtime = build_bundles(python, args.cache)
    rows = []
    compiled_env = lambda_env(env, bundle, runtime, compiled=True)
    boto3_alone = time_import(python, "boto3", compiled_env, args.repeat)
    handler = {
        compiled: time_import(python, "handle_email.app", lambda_env(env, folder, runtime, compiled), args.repeat)
        for compiled, folder in ((True, bundle), (False, source_only))
    }
    first = {}
    for compiled, folder in ((True, bundle), (False, source_only)):
        results = []
        for _ in range(args.repeat):
            events = [runs.event_for(small)]
            results.append(run_handler([python, "-S"], lambda_env(env, folder, runtime, compiled), events, runs.workdir))
            if problems := check_sends(sink_checks(sink_url), expected_message(small), 1):
                missed.append("cold-start runs: " + "; ".join(problems))
        first[compiled] = tuple(
            statistics.median(pick(r) for r in results)
            for pick in (
                lambda r: r.import_seconds,
                lambda r: r.runtime_seconds,
                lambda r: r.seconds[0],
                lambda r: r.import_seconds + r.first_invocation,
            )
        )
    ratio = handler[True] / boto3_alone
    rows += [
        ("cold: import boto3 alone (Python 3.13)", f"{boto3_alone * 1000:.0f} ms"),
        ("cold: import handle_email.app, bytecode bundle", f"{handler[True] * 1000:.0f} ms = {ratio:.2f}x boto3 (target <= {IMPORT_RATIO_TARGET})"),
        ("cold: import handle_email.app, source-only bundle", f"{handler[False] * 1000:.0f} ms"),
        *(
            (
                f"cold: import + first invocation, {'bytecode' if compiled else 'source-only'}",
                "{3:.0f} ms = import {0:.0f} + runtime (clients) {1:.0f} + 10 KB event {2:.0f}".format(
                    *(seconds * 1000 for seconds in first[compiled])
                ),
            )
            for compiled in (True, False)
        ),
    ]
    breakdown = importtime_breakdown(python, compiled_env)
    rows.append(("cold: import time by package (-X importtime, self times)", ", ".join(f"{name} {secs * 1000:.0f}" for name, secs in breakdown) + " ms"))
    if ratio > IMPORT_RATIO_TARGET:
        missed.append(f"handler import {ratio:.2f}x boto3 > {IMPORT_RATIO_TARGET}x")
    return rows


def small_message() -> bytes:
    """About 10 KB: a plain text message with a few paragraphs."""
    head = HEADER.format(subject="Lunch on Friday?", size=10) + "Content-Type: text/plain; charset=utf-8\r\n\r\n"
    line = "Shall we meet at noon at the usual place? Bring the quarterly figures if you can.\r\n"
    return (head + line * (10_000 // len(line))).encode()


if __name__ == "__main__":
    sys.exit(main())
