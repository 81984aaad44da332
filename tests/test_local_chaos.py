"""The chaos harness, small: 60 messages of 1 to 5 destinations through `sesame local --faults`,
at fault rates 0.2 and 0.05, and once with botocore's retries off. `make chaos` runs 500
messages of 1 to 120 destinations.

Every check is the delivery contract itself (see sesame.local.chaos): 0 lost, 0 unreported,
one index record and one outcome per recipient, extra copies only for lost SES responses.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sesame.local.chaos import run_chaos

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    ("rate", "sdk_retries", "seed"),
    [(0.2, True, 1), (0.05, True, 2), (0.05, False, 3)],
    ids=["rate-0.2", "rate-0.05", "rate-0.05-no-botocore-retries"],
)
def test_no_message_is_lost_unreported_or_copied_without_a_lost_response(
    tmp_path: Path, rate: float, sdk_retries: bool, seed: int
) -> None:
    report = run_chaos(
        tmp_path, messages=60, rate=rate, seed=seed, sdk_retries=sdk_retries, sizes=(1, 2, 3, 5), root=ROOT, timeout=240
    )
    print(report.summary())
    assert report.accepted == 60
    assert sum(report.faults.values()) > 0  # the run did inject faults
    assert report.ok, report.summary()
