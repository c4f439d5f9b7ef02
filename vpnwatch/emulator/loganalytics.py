"""The Log Analytics query API on loopback: `POST /v1/workspaces/{workspace}/query`.

Request `{"query": "<KQL>", "timespan": "<ISO 8601>"}`, answer `{"tables": [{"name":
"PrimaryResult", "columns": [...], "rows": [...]}]}` (logs/oms-post-example.json, Log Analytics
`v1`). The emulator holds one workspace, whatever its id, with the `AzureDiagnostics` rows of
`diagnostics.py`; a row is only visible after its ingestion delay.

It runs the small KQL subset vpnwatch sends, and refuses the rest with Log Analytics' own
`400 BadArgumentError` (a query Azure would reject must not pass here):

    <Table> | where <col> <op> <value> [and ...] | project <cols> | order by <col> [asc|desc]
    | take <n>

with `op` one of `==`, `=~`, `!=`, `>`, `>=`, `<`, `<=`, `in`, and values string literals,
numbers or `datetime(...)`.

Throttling: the query API admits 200 requests per 30 seconds per caller (learn.microsoft.com/
azure/azure-monitor/service-limits, "User query throttling"); beyond that it answers 429 with
`Retry-After`. The bucket refills in scenario time.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from vpnwatch.emulator.arm import Reply
from vpnwatch.emulator.diagnostics import COLUMNS, Diagnostics, LogRow
from vpnwatch.emulator.traffic import retry_headers
from vpnwatch.emulator.world import World

QUERY_PATH = re.compile(r"^/v1/workspaces/([^/]+)/query$", re.IGNORECASE)
QUERIES_PER_WINDOW = 200
WINDOW_SECONDS = 30.0
TABLE = "AzureDiagnostics"


class KqlError(ValueError):
    pass


def _bad(message: str, code: str = "SyntaxError") -> Reply:
    return Reply(
        400,
        {
            "error": {
                "code": "BadArgumentError",
                "message": "The request had some invalid properties",
                "innererror": {"code": code, "message": message},
            }
        },
    )


class LogAnalyticsApi:
    def __init__(self, world: World, started_at: datetime, speed: float = 1.0) -> None:
        self.diagnostics = Diagnostics(world, started_at)
        self.started_at = started_at
        self.speed = speed
        self._level = float(QUERIES_PER_WINDOW)
        self._level_at = 0.0
        self.queries = 0

    def serves(self, path: str) -> bool:
        return QUERY_PATH.match(path) is not None

    def handle(self, method: str, path: str, body: bytes, t: float) -> Reply:
        if method != "POST":
            return _bad(f"{method} is not supported on {path}; POST the query", "NotSupported")
        throttled = self._take(t)
        if throttled is not None:
            return throttled
        try:
            request = json.loads(body or b"{}")
            query = str(request["query"])
        except (ValueError, KeyError, TypeError):
            return _bad('The body must be {"query": "...", "timespan": "..."}', "InvalidBody")
        self.queries += 1
        now = self.started_at + timedelta(seconds=t)
        try:
            span = _timespan(request.get("timespan"), now)
            columns, rows = run_query(query, self.diagnostics.visible(t), span)
        except KqlError as exc:
            return _bad(str(exc))
        return Reply(
            200,
            {
                "tables": [
                    {
                        "name": "PrimaryResult",
                        "columns": [{"name": n, "type": kind} for n, kind in columns],
                        "rows": [[_wire(v) for v in row] for row in rows],
                    }
                ]
            },
        )

    def _take(self, t: float) -> Reply | None:
        refill = max(0.0, t - self._level_at) * QUERIES_PER_WINDOW / WINDOW_SECONDS
        self._level = min(float(QUERIES_PER_WINDOW), self._level + refill)
        self._level_at = t
        if self._level >= 1:
            self._level -= 1
            return None
        wait = (1 - self._level) * WINDOW_SECONDS / QUERIES_PER_WINDOW
        reply = Reply(
            429,
            {
                "error": {
                    "code": "ThrottledError",
                    "message": "Your request was throttled: too many requests, retry later.",
                }
            },
        )
        reply.headers.update(retry_headers(max(wait, 1.0), self.speed))
        return reply


# --- a small KQL -----------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""\s*(?:(?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')|(?P<dt>datetime\([^)]*\))"""
    r"""|(?P<op>==|=~|!=|>=|<=|>|<|\(|\)|,)|(?P<word>[A-Za-z_][A-Za-z0-9_]*|-?\d+(?:\.\d+)?))"""
)

Predicate = Callable[[dict[str, object]], bool]


def _tokens(text: str) -> list[str]:
    out: list[str] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise KqlError(f"unexpected text at {text[pos : pos + 20]!r}")
        out.append(m.group(m.lastgroup or "word"))
        pos = m.end()
    return out


def _split_pipes(query: str) -> list[str]:
    parts, current, quote = [], [], ""
    for ch in query:
        if quote:
            current.append(ch)
            if ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
            current.append(ch)
        elif ch == "|":
            parts.append("".join(current).strip())
            current = []
        else:
            current.append(ch)
    parts.append("".join(current).strip())
    return parts


def _literal(token: str) -> object:
    if token[:1] in "\"'":
        return bytes(token[1:-1], "utf-8").decode("unicode_escape")
    if token.startswith("datetime("):
        return _when(token[len("datetime(") : -1].strip().strip("\"'"))
    try:
        return float(token)
    except ValueError:
        raise KqlError(f"expected a value, got {token!r}") from None


def _compare(op: str, left: object, right: object) -> bool:
    if isinstance(left, str) and isinstance(right, str) and op == "=~":
        return left.lower() == right.lower()
    try:
        match op:
            case "==" | "=~":
                return left == right
            case "!=":
                return left != right
            case ">":
                return left > right  # type: ignore[operator]
            case ">=":
                return left >= right  # type: ignore[operator]
            case "<":
                return left < right  # type: ignore[operator]
            case "<=":
                return left <= right  # type: ignore[operator]
    except TypeError:
        return False
    raise KqlError(f"unsupported operator {op!r}")


def _where(tokens: list[str], known: set[str]) -> Predicate:
    predicates: list[Predicate] = []
    i = 0
    while i < len(tokens):
        column = tokens[i]
        if column not in known:
            raise KqlError(f"'where' operator: failed to resolve column '{column}'")
        op = tokens[i + 1] if i + 1 < len(tokens) else ""
        if op == "in":
            if tokens[i + 2 : i + 3] != ["("]:
                raise KqlError("'in' needs a parenthesised list")
            close = tokens.index(")", i + 3)
            values = {_literal(t) for t in tokens[i + 3 : close] if t != ","}
            predicates.append(lambda row, c=column, v=values: row.get(c) in v)
            i = close + 1
        else:
            if op not in {"==", "=~", "!=", ">", ">=", "<", "<="} or i + 2 >= len(tokens):
                raise KqlError(f"unsupported condition near {' '.join(tokens[i : i + 3])!r}")
            value = _literal(tokens[i + 2])
            predicates.append(lambda row, c=column, o=op, v=value: _compare(o, row.get(c), v))
            i += 3
        if i < len(tokens):
            if tokens[i] != "and":
                raise KqlError(f"expected 'and', got {tokens[i]!r}")
            i += 1
    return lambda row: all(p(row) for p in predicates)


def run_query(
    query: str, rows: list[LogRow], span: tuple[datetime, datetime] | None
) -> tuple[list[tuple[str, str]], list[list[object]]]:
    stages = _split_pipes(query)
    if stages[0] != TABLE:
        raise KqlError(f"'{stages[0]}': table not found in this workspace (only {TABLE})")
    columns = list(COLUMNS)
    known = {name for name, _ in columns}
    selected = [r.values for r in rows]
    if span is not None:
        selected = [v for v in selected if span[0] <= v["TimeGenerated"] < span[1]]  # type: ignore[operator]
    limit: int | None = None
    for stage in stages[1:]:
        word, _, rest = stage.partition(" ")
        tokens = _tokens(rest)
        if word == "where":
            keep = _where(tokens, known)
            selected = [v for v in selected if keep(v)]
        elif word == "project":
            names = [t for t in tokens if t != ","]
            unknown = [n for n in names if n not in known]
            if unknown:
                raise KqlError(f"'project' operator: failed to resolve column '{unknown[0]}'")
            columns = [c for n in names for c in columns if c[0] == n]
            known = set(names)
        elif word == "order" and tokens[:1] == ["by"]:
            column = tokens[1] if len(tokens) > 1 else ""
            if column not in known:
                raise KqlError(f"'order' operator: failed to resolve column '{column}'")
            descending = tokens[2:3] != ["asc"]  # KQL sorts descending unless told
            selected = sorted(selected, key=lambda v: _sort_key(v.get(column)), reverse=descending)
        elif word in ("take", "limit") and len(tokens) == 1 and tokens[0].isdigit():
            limit = int(tokens[0]) if limit is None else min(limit, int(tokens[0]))
            selected = selected[:limit]
        else:
            raise KqlError(f"unsupported operator '{word}'")
    names = [n for n, _ in columns]
    return columns, [[v.get(n) for n in names] for v in selected]


def _sort_key(value: object) -> Any:
    if isinstance(value, datetime):
        return (0, value.timestamp(), "")
    return (1, 0.0, str(value))


def _when(text: str) -> datetime:
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _timespan(value: object, now: datetime) -> tuple[datetime, datetime] | None:
    """`start/end`, `start/duration` or a duration ending now (ISO 8601, as the SDK sends it)."""
    if not value:
        return None
    text = str(value)
    if "/" in text:
        first, second = text.split("/", 1)
        start = _when(first)
        end = start + _duration(second) if second.upper().startswith("P") else _when(second)
        return start, end
    return now - _duration(text), now + timedelta(microseconds=1)


def _duration(text: str) -> timedelta:
    m = re.fullmatch(r"P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?", text.upper())
    if m is None:
        raise KqlError(f"invalid timespan {text!r}")
    days, hours, minutes, seconds = (float(g) if g else 0.0 for g in m.groups())
    return timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)


def _wire(value: object) -> object:
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    return value
