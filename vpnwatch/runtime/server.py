"""uvicorn's server without its own signal handling.

uvicorn catches SIGINT and SIGTERM while serving and raises them again once it has stopped:
the front would then die of its SIGTERM before stopping the agent process, and the child before
closing its store. Each process installs its own handlers instead, which end the server and let
the code after it run.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import uvicorn


class QuietServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield
