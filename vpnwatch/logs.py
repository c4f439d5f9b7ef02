"""How vpnwatch logs: plain text for people, or one JSON object per line for log shippers
(`log_format: json`), and credential failures kept to one line each, repeated only when they
change.

Azure's identity library logs every failed token attempt with the full list of credentials it
tried, one line each, for every request: a wrong secret filled a terminal with 161 lines in 75 s.
`CredentialNoise` folds each such record into one line and lets it through once, then again only
when it changes.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
QUIET = ("azure", "aiohttp.access", "uvicorn.access")
CREDENTIAL_LOGGERS = ("azure.identity",)
MAX_LINE = 600


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time (UTC, ISO 8601), level, logger, message, and the
    exception's text when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


class CredentialNoise(logging.Filter):
    """Credential failures in one line, and only when the line differs from the last one."""

    def __init__(self) -> None:
        super().__init__()
        self._last: dict[str, str] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith(CREDENTIAL_LOGGERS):
            return True
        parts = [p.strip() for p in record.getMessage().splitlines() if p.strip()]
        line = " | ".join(parts)
        if len(line) > MAX_LINE:
            line = line[: MAX_LINE - 1] + "…"
        if self._last.get(record.name) == line:
            return False
        self._last[record.name] = line
        record.msg, record.args = line, None
        record.exc_info, record.exc_text, record.stack_info = None, None, None
        return True


def configure(level: str = "INFO", fmt: str = "text") -> None:
    """Log to stderr in `fmt` ("text" or "json") at `level`; replaces earlier handlers."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    handler.addFilter(CredentialNoise())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for noisy in QUIET:
        logging.getLogger(noisy).setLevel(logging.WARNING)
