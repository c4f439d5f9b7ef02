"""Fixtures for the end-to-end tests: a temp directory of processes, all stopped at teardown."""

from e2e_fixtures import processes, pytest_runtest_makereport

__all__ = ["processes", "pytest_runtest_makereport"]
