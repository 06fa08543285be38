"""The fault suite's own PostgreSQL: one throwaway server per test process, which the faults may stop and crash
without disturbing the other tests on the shared local server."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.faults.postgres import Cluster, why_no_cluster


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    """A running PostgreSQL of the suite's own. Skipped, saying why, when this machine cannot run one; with
    IVR_REQUIRE_POSTGRES=1 (as CI sets it) that is a failure instead."""
    reason = why_no_cluster()
    if reason is not None:
        message = f"{reason}: the PostgreSQL faults need a throwaway server of their own"
        if os.environ.get("IVR_REQUIRE_POSTGRES") == "1":
            pytest.fail(message + "; IVR_REQUIRE_POSTGRES=1 makes this a failure")
        pytest.skip(message)
    server = Cluster().init()
    try:
        server.start()
        yield server
    finally:
        server.destroy()
