"""The `processes` fixture and the report hook it reads, shared by every suite that starts real
`vpnwatch` processes (a conftest imports both names)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
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
