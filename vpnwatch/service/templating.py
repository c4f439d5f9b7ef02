"""The Jinja2 environment of the HTML pages, with the filters every page uses.

Every time on a page comes from the agent's clock (scenario time in the demo, wall time in
production), so one page never mixes the two.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from fastapi.templating import Jinja2Templates

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))


def when(value: datetime | None) -> str:
    return "—" if value is None else value.strftime("%Y-%m-%d %H:%M:%S UTC")


def ago(value: float | None) -> str:
    if value is None:
        return "never"
    seconds = int(value)
    if seconds < 120:
        return f"{seconds} s ago"
    if seconds < 7200:
        return f"{seconds // 60} min ago"
    return f"{seconds // 3600} h ago"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    seconds = round(seconds)
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


TEMPLATES.env.filters["when"] = when
TEMPLATES.env.filters["ago"] = ago
TEMPLATES.env.filters["duration"] = duration
