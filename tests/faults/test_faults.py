"""Each fault of issue 12 under load, on each backend it concerns, against the promises (scenarios.py says how):

- the line stays up: gunicorn keeps running; while the store is down /healthz answers 200 "degraded", /readyz
  503, and callers hear the apology and a transfer; once it is back, every worker serves whole calls again;
- no lie to a caller: each confirmation number heard is stored exactly once, for that call; nothing is stored for a
  caller who heard the apology unless the call log says so; a retried request gets the same answer; the call log
  holds every answer a caller heard.

IVR_FAULT_CALLS (default 30) sets the calls per fault; `python bench/faults.py` runs more and prints the table.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.faults.scenarios import BACKENDS, FAULTS, Unavailable, run_fault, why_not

pytestmark = [pytest.mark.faults, pytest.mark.slow]

CALLS = int(os.environ.get("IVR_FAULT_CALLS", "30"))
CASES = [(fault, backend) for fault in FAULTS for backend in BACKENDS[fault]]


@pytest.mark.parametrize(("fault", "backend"), CASES, ids=[f"{f}-{b}" for f, b in CASES])
def test_callers_are_answered_and_told_the_truth(fault: str, backend: str, tmp_path: Path,
                                                 request: pytest.FixtureRequest) -> None:
    reason = why_not(fault)
    if reason is not None:
        pytest.skip(reason)
    cluster = request.getfixturevalue("cluster") if backend == "postgresql" else None
    try:
        report = run_fault(fault, backend, tmp_path, CALLS, cluster)
    except Unavailable as exc:
        pytest.skip(str(exc))
    assert report.problems == [], report.describe()
    assert report.ledger.heard > 0, report.describe()  # the line worked around the fault
