"""Fixtures for the fault-injection suite: the real `vpnwatch` processes, all stopped at teardown.

The fixture and the process helpers are the end-to-end tests' own (`tests/e2e/`).
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "e2e"))

from e2e_fixtures import processes, pytest_runtest_makereport

__all__ = ["processes", "pytest_runtest_makereport"]
