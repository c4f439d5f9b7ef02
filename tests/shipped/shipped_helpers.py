"""What the tests of the shipped files share: the metrics vpnwatch really exports, a small PromQL
reader (metric names, label matchers, `by` lists) and a Dockerfile reader.

The PromQL reader is deliberately simple (the shipped queries are simple); `promtool check rules`
checks the syntax of every expression, so this only has to find names, not validate grammar.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ALERTS = REPO / "alerts"
DASHBOARDS = REPO / "dashboards"
RULES = ALERTS / "vpnwatch.rules.yml"
RULES_TEST = ALERTS / "vpnwatch.rules.test.yml"
ALERTMANAGER_EXAMPLE = ALERTS / "alertmanager.example.yml"
DASHBOARD = DASHBOARDS / "vpnwatch.json"
DOCKERFILE = REPO / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"
SCENARIO = Path(__file__).parent / "scenarios" / "estate.yaml"

PROMTOOL = shutil.which("promtool")
AMTOOL = shutil.which("amtool")
ALERTMANAGER = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
HADOLINT = shutil.which("hadolint")

# Labels Prometheus adds to every scraped series (vpnwatch's own series never use them).
TARGET_LABELS = frozenset({"job", "instance"})


@dataclass
class Exported:
    """Sample names on vpnwatch's /metrics and the label names each carries, as Prometheus
    stores them after a scrape."""

    labels: dict[str, set[str]] = field(default_factory=dict)

    @classmethod
    def from_text(cls, text: str) -> Exported:
        from prometheus_client.parser import text_string_to_metric_families

        exported = cls()
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                names = set(sample.labels)
                exported.labels.setdefault(sample.name, set()).update(names | TARGET_LABELS)
        return exported

    @property
    def names(self) -> set[str]:
        return set(self.labels)

    def with_up(self) -> Exported:
        """Plus Prometheus' own `up` series of each target."""
        return Exported({**self.labels, "up": set(TARGET_LABELS)})


# --- PromQL ---------------------------------------------------------------------------------------

KEYWORDS = frozenset(
    {
        "and",
        "or",
        "unless",
        "bool",
        "offset",
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "inf",
        "nan",
        "atan2",
    }
)
GRAFANA_INTERVALS = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "6h"}
_SELECTOR = re.compile(r"([a-zA-Z_:][\w:]*)?\s*\{([^{}]*)\}")
_MATCHER = re.compile(r'([a-zA-Z_]\w*)\s*(?:=~|!~|!=|=)\s*"')
_GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\(([^()]*)\)")
_IDENT = re.compile(r"(?<![\w$.:])([a-zA-Z_:][\w:]*)(?!\w)")
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_LABEL_VALUES = re.compile(r"^\s*label_values\((.*),\s*([a-zA-Z_]\w*)\s*\)\s*$", re.S)


@dataclass
class Query:
    """What one PromQL expression refers to."""

    expr: str
    metrics: set[str] = field(default_factory=set)
    matched_labels: dict[str, set[str]] = field(default_factory=dict)  # metric -> matcher labels
    grouping: set[str] = field(default_factory=set)  # labels of every by/on/... list


def grafana_to_promql(expr: str) -> str:
    """Replace Grafana's variables with values Prometheus accepts: ranges for the interval
    variables, a match-everything regex for the template variables (always used with `=~`)."""
    for var, value in GRAFANA_INTERVALS.items():
        expr = expr.replace(var, value)
    return re.sub(r"\$\{?\w+\}?", ".*", expr)


def parse(expr: str) -> Query:
    query = Query(expr)
    rest = expr

    def selector(match: re.Match[str]) -> str:
        metric, body = match.group(1), match.group(2)
        labels = set(_MATCHER.findall(body))
        if metric and metric not in KEYWORDS:
            query.metrics.add(metric)
            query.matched_labels.setdefault(metric, set()).update(labels)
            return " "
        # `by (x) {…}` cannot occur; a bare `{…}` selects by labels only (not used here).
        return (metric or "") + " "

    rest = _SELECTOR.sub(selector, rest)
    rest = _STRING.sub(" ", rest)
    rest = re.sub(r"\[[^\]]*\]", " ", rest)

    def grouping(match: re.Match[str]) -> str:
        query.grouping.update(x.strip() for x in match.group(2).split(",") if x.strip())
        return " "

    rest = _GROUPING.sub(grouping, rest)
    for ident in _IDENT.finditer(rest):
        name = ident.group(1)
        after = rest[ident.end() :].lstrip()
        if name in KEYWORDS or after.startswith("("):
            continue  # a function, an aggregation or an operator
        query.metrics.add(name)
    return query


def label_values(query: str) -> tuple[str, str] | None:
    """`label_values(selector, label)` of a Grafana variable: (selector, label)."""
    match = _LABEL_VALUES.match(query)
    return (match.group(1), match.group(2)) if match else None


def unknown_labels(query: Query, exported: Exported, shown: set[str]) -> list[str]:
    """Label names the query uses (matchers, `by` lists) or shows (`shown`: a legend's
    `{{label}}`, an annotation's `$labels.x`) that no metric it reads carries."""
    problems: list[str] = []
    available: set[str] = set()
    for metric in query.metrics:
        available |= exported.labels.get(metric, set())
    for metric, labels in query.matched_labels.items():
        for label in sorted(labels - exported.labels.get(metric, set())):
            problems.append(f"{metric} has no label {label!r}")
    for label in sorted(query.grouping - available):
        problems.append(f"grouping by {label!r}, which none of {sorted(query.metrics)} carries")
    # What an aggregation keeps is its `by` list; otherwise the series keep their labels.
    result = query.grouping if query.grouping else available
    for label in sorted(shown - result):
        problems.append(f"shows {label!r}, which the result of {query.expr!r} does not carry")
    return problems


# --- dashboard ------------------------------------------------------------------------------------


def load_dashboard() -> dict:
    return json.loads(DASHBOARD.read_text())


def panels(dashboard: dict) -> list[dict]:
    """Every panel, rows' nested panels included."""
    out: list[dict] = []
    for panel in dashboard["panels"]:
        out.append(panel)
        out.extend(panel.get("panels", []))
    return out


def legend_labels(legend: str) -> set[str]:
    return set(re.findall(r"\{\{\s*([a-zA-Z_]\w*)\s*\}\}", legend or ""))


# --- Dockerfile -----------------------------------------------------------------------------------


@dataclass
class Instruction:
    keyword: str  # upper case
    args: str
    line: int


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[Instruction]

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]

    def last(self, keyword: str) -> Instruction | None:
        found = self.all(keyword)
        return found[-1] if found else None


@dataclass
class Dockerfile:
    global_args: dict[str, str]
    stages: list[Stage]

    @property
    def final(self) -> Stage:
        return self.stages[-1]

    def resolve(self, text: str) -> str:
        return re.sub(
            r"\$\{?(\w+)\}?", lambda m: self.global_args.get(m.group(1), m.group(0)), text
        )


def read_dockerfile(path: Path = DOCKERFILE) -> Dockerfile:
    """Instructions with their continuation lines joined and comments dropped, split by stage."""
    logical: list[Instruction] = []
    buffer, start = "", 0
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        stripped = raw.strip()
        if not buffer and (not stripped or stripped.startswith("#")):
            continue
        if buffer and stripped.startswith("#"):
            continue
        if not buffer:
            start = number
        if stripped.endswith("\\"):
            buffer += stripped[:-1] + " "
            continue
        buffer += stripped
        keyword, _, args = buffer.partition(" ")
        logical.append(Instruction(keyword.upper(), args.strip(), start))
        buffer = ""
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for instruction in logical:
        if instruction.keyword == "FROM":
            parts = instruction.args.split()
            name = parts[2] if len(parts) >= 3 and parts[1].upper() == "AS" else None
            stages.append(Stage(parts[0], name, []))
        elif not stages and instruction.keyword == "ARG":
            key, _, value = instruction.args.partition("=")
            global_args[key.strip()] = value.strip().strip('"')
        elif stages:
            stages[-1].instructions.append(instruction)
    return Dockerfile(global_args, stages)


def env_pairs(args: str) -> dict[str, str]:
    """`ENV a=1 b="two"` (the key=value form) as a dict."""
    pairs: dict[str, str] = {}
    for match in re.finditer(r'([A-Za-z_]\w*)=("(?:[^"\\]|\\.)*"|\S*)', args):
        pairs[match.group(1)] = match.group(2).strip('"')
    return pairs
