"""The deployment bundle ships valid bytecode for every module it ships.

Lambda's code directory is read-only: a module whose .pyc is missing, stale, built for
another Python, or checked against the source's mtime (a zip keeps mtimes only to 2 seconds,
DOS time, so a timestamp .pyc can look stale after deployment) is compiled from source again
on every cold start. ``src/Makefile`` compiles the bundle with
``--invalidation-mode unchecked-hash``; this checks the result.

Run it under the runtime's interpreter on built bundles; it exits 1 on a problem (``make
build`` runs it on what ``sam build`` produced; ``tests/test_bundle.py`` tests it):

    python3.13 tests/bundle_check.py .aws-sam/build/HandleEmailFunction ...
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

# PEP 552: the pyc header is magic (4 bytes), flags (4, little-endian), then either the
# source mtime and size or, for hash-based pycs, the source's SipHash (8 bytes).
_HASH_BASED = 0b01
_CHECK_SOURCE = 0b10


def bundle_problems(
    root: Path,
    *,
    magic: bytes = importlib.util.MAGIC_NUMBER,
    cache_tag: str = sys.implementation.cache_tag,
    required: tuple[str, ...] = (),
) -> list[str]:
    """Everything in the bundle at ``root`` that would make a cold start compile source."""
    problems = [f"{name}: missing" for name in required if not (root / name).is_file()]
    sources = sorted(root.rglob("*.py"))
    if not sources:
        problems.append(f"{root}: no Python source at all")
    for source in sources:
        where = source.relative_to(root)
        pyc = source.parent / "__pycache__" / f"{source.stem}.{cache_tag}.pyc"
        if not pyc.is_file():
            problems.append(f"{where}: no {pyc.name}")
            continue
        header = pyc.read_bytes()[:16]
        flags = int.from_bytes(header[4:8], "little")
        if header[:4] != magic:
            problems.append(f"{where}: {pyc.name} was compiled by another Python version")
        elif not flags & _HASH_BASED or flags & _CHECK_SOURCE:
            problems.append(f"{where}: {pyc.name} is not unchecked-hash (flags {flags:#b})")
        elif header[8:16] != importlib.util.source_hash(source.read_bytes()):
            problems.append(f"{where}: {pyc.name} was compiled from other source")
    for pyc in sorted(root.rglob("__pycache__/*.pyc")):
        if not pyc.name.endswith(f".{cache_tag}.pyc"):
            problems.append(f"{pyc.relative_to(root)}: bytecode for another interpreter")
    return problems


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: tests/bundle_check.py BUNDLE_DIR...", file=sys.stderr)
        return 2
    failed = False
    for folder in map(Path, argv):
        problems = bundle_problems(folder, required=("handle_email/app.py", "dead_letter/app.py", "sesame/runtime.py"))
        count = len(list(folder.rglob("*.py")))
        if problems:
            failed = True
            print(f"{folder}: {len(problems)} problem(s) in {count} modules", file=sys.stderr)
            for problem in problems[:20]:
                print(f"  {problem}", file=sys.stderr)
        else:
            print(f"{folder}: {count} modules, each with unchecked-hash bytecode for {sys.implementation.cache_tag}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
