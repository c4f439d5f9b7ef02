"""Fixtures for the fault-injection suite: the real `vpnwatch` processes, all stopped at teardown.

The process helpers are the end-to-end tests' own (`tests/e2e/e2e_helpers.py`).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "e2e"))

from e2e_helpers import ProcessGroup, process_group

_FAILED = pytest.StashKey[bool]()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if report.when == "call":
        item.stash[_FAILED] = report.failed


@pytest.fixture
def processes(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[ProcessGroup]:
    """Start `vpnwatch` processes in `tmp_path`; every one is stopped when the test ends, and
    their output is printed when it failed."""
    with process_group(tmp_path) as group:
        yield group
    if request.node.stash.get(_FAILED, False):
        print(group.diagnostics())
