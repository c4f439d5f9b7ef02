"""Turning a YAML file plus environment overrides into a validated settings model, with every
problem located by file, dotted key and line.

`config.py` says what the settings are; this module says where a bad value came from, which is
what an engineer needs from `vpnwatch check-config`. Nothing here knows vpnwatch's settings: it
works for any pydantic model.

Rules it applies:
- the file is UTF-8 YAML holding one mapping; YAML 1.1's base-60 numbers are off, so
  `start_time: 22:30` stays the text "22:30" instead of becoming the integer 1350;
- a key given twice in one mapping is a problem (YAML would silently keep the last);
- `<PREFIX>SECTION__KEY=value` overrides `section.key` of the file; structured settings (a
  section, a list) take JSON; an empty variable counts as unset;
- values are never echoed in messages, so a misplaced secret does not end up in a log.

The environment is read here rather than through pydantic-settings' sources: those cannot say
which variable a bad value came from, nor set one item of a named list
(`VPNWATCH_NOTIFY__RECEIVERS__ONCALL__ROUTING_KEY`), and both are what `check-config` promises.
"""

from __future__ import annotations

import difflib
import json
import re
import types
import typing
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationError
from pydantic_core import PydanticCustomError

ENVIRONMENT = "environment"  # the `file` of a problem that comes from an environment variable
RULE_ERROR = "config_rule"  # the error type of `rule_error`

Loc = tuple[str | int, ...]
M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class ConfigProblem:
    """One thing wrong with the configuration, and where: `file:line: key: message`."""

    file: str
    key: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        return f"{where}: {self.key}: {self.message}" if self.key else f"{where}: {self.message}"


class ConfigError(Exception):
    """The configuration is not usable; `problems` lists everything wrong with it, not the first."""

    def __init__(self, problems: Sequence[ConfigProblem]) -> None:
        self.problems = list(problems)
        super().__init__(self.problems)

    def __str__(self) -> str:
        return "\n".join(str(problem) for problem in self.problems)


class Section(BaseModel):
    """A block of the configuration file: a key it does not know is a mistake, reported with its
    line."""

    model_config = ConfigDict(extra="forbid")


def _with_utc_offset(value: datetime) -> datetime:
    if value.utcoffset() is None:
        raise ValueError("give a UTC offset, e.g. 2026-05-02T01:00:00Z")
    return value


# A moment in a config file (a maintenance window's or a silence's start and end): an offset is
# required, so a window never shifts with the host's time zone.
OffsetDatetime = Annotated[datetime, AfterValidator(_with_utc_offset)]


def rule_error(at: str, message: str) -> PydanticCustomError:
    """An error for a model validator that belongs to one of the model's keys (dotted, relative
    to the model), so the problem points at that key's line instead of the whole section."""
    return PydanticCustomError(RULE_ERROR, message.replace("{", "(").replace("}", ")"), {"at": at})


Check = Callable[[Any], Iterable[tuple[Loc, str]]]


def load_model(
    model: type[M],
    path: str | Path | None,
    *,
    environ: Mapping[str, str],
    env_prefix: str,
    ignore_env: Collection[str] = (),
    checks: Check | None = None,
) -> M:
    """Read `path` (None: no file), apply the environment, validate; raise `ConfigError`.

    `checks` runs on the valid model and yields (location, message) for problems that need
    the outside world (a file that must exist), which a model validator should not look at.
    """
    problems: list[ConfigProblem] = []
    data: dict[str, Any] = {}
    root: yaml.Node | None = None
    label = ENVIRONMENT if path is None else str(path)
    if path is not None:
        document = _read_yaml(Path(path), label, problems)
        if document is not None:
            data, root = document
    overrides, origins = _environment(environ, env_prefix, ignore_env, model, problems)
    if problems and path is not None and root is None:
        raise ConfigError(problems)  # nothing to validate: the file itself is the problem
    renamed: dict[Loc, Loc] = {}
    _merge(data, overrides, model, (), renamed)
    origins = {_renamed(loc, renamed): name for loc, name in origins.items()}
    locator = _Locator(model, label, root, origins)
    for key in [k for k in data if not isinstance(k, str) or k.startswith("_")]:
        problems.append(locator.problem((str(key),), _unknown_key(model, str(key))))
        del data[key]
    try:
        settings = model.model_validate(data)
    except ValidationError as exc:
        problems.extend(locator.from_validation(exc))
        raise ConfigError(_merged(problems)) from None
    if checks is not None:
        problems.extend(locator.problem(loc, message) for loc, message in checks(settings))
    if problems:
        raise ConfigError(_merged(problems))
    return settings


# --- the YAML file -----------------------------------------------------------------------------

_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_INT_NO_BASE60 = re.compile(
    r"""^(?:[-+]?0b[0-1_]+
    |[-+]?0[0-7_]+
    |[-+]?(?:0|[1-9][0-9_]*)
    |[-+]?0x[0-9a-fA-F_]+)$""",
    re.X,
)
_FLOAT_NO_BASE60 = re.compile(
    r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?
    |\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN))$""",
    re.X,
)


class _Loader(yaml.SafeLoader):
    """SafeLoader without base-60 numbers (`22:30` is a time of day, not 1350)."""


_Loader.yaml_implicit_resolvers = {
    first: [
        (tag, _INT_NO_BASE60 if tag == _INT else _FLOAT_NO_BASE60 if tag == _FLOAT else rx)
        for tag, rx in resolvers
    ]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _read_yaml(
    path: Path, label: str, problems: list[ConfigProblem]
) -> tuple[dict[str, Any], yaml.Node] | None:
    def fail(message: str, line: int | None = None) -> None:
        problems.append(ConfigProblem(label, "", line, message))

    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return fail("no such file")
    except IsADirectoryError:
        return fail("is a directory, not a settings file")
    except PermissionError:
        return fail("cannot read the file: permission denied")
    except OSError as exc:
        return fail(f"cannot read the file: {exc.strerror}")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return fail("not UTF-8 text", raw[: exc.start].count(b"\n") + 1)

    loader = _Loader(text)
    try:
        root = loader.get_single_node()
        data = loader.construct_document(root) if root is not None else None
    except yaml.MarkedYAMLError as exc:
        # only the problem text: str(exc) quotes the offending line, which may hold a secret
        mark = exc.problem_mark or exc.context_mark
        detail = exc.problem or exc.context or "not valid YAML"
        if exc.context and exc.problem:
            started = exc.context_mark
            if started is not None and mark is not None and started.line != mark.line:
                detail += f" ({exc.context} started on line {started.line + 1})"
            else:
                detail += f" ({exc.context})"
        return fail(f"YAML syntax error: {detail}", mark.line + 1 if mark else None)
    except yaml.YAMLError as exc:
        return fail(f"YAML error: {type(exc).__name__}")
    finally:
        loader.dispose()

    if root is None or data is None:
        return fail("the file is empty")
    if not isinstance(root, yaml.MappingNode) or not isinstance(data, dict):
        return fail("the top level must be a mapping of sections (key: value)", 1)
    _duplicate_keys(root, (), label, problems)
    return data, root


def _duplicate_keys(node: yaml.Node, loc: Loc, label: str, problems: list[ConfigProblem]) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
            line = key_node.start_mark.line + 1
            if key is not None and key in seen:
                problems.append(
                    ConfigProblem(
                        label,
                        _dotted((*loc, key)),
                        line,
                        f"duplicate key (first given on line {seen[key]})",
                    )
                )
            elif key is not None:
                seen[key] = line
            _duplicate_keys(value_node, (*loc, key) if key is not None else loc, label, problems)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _duplicate_keys(item, (*loc, index), label, problems)


def _lines_along(root: yaml.Node | None, loc: Loc) -> list[int]:
    """The line of each step of `loc` that the YAML has, stopping where it has no more."""
    lines: list[int] = []
    node = root
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            match = None
            for key_node, value_node in reversed(node.value):  # the last of duplicates wins
                if isinstance(key_node, yaml.ScalarNode) and key_node.value == str(part):
                    match = key_node, value_node
                    break
            if match is None:
                break
            lines.append(match[0].start_mark.line + 1)
            node = match[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if not 0 <= part < len(node.value):
                break
            node = node.value[part]
            lines.append(node.start_mark.line + 1)
        else:
            break
    return lines


# --- the environment ---------------------------------------------------------------------------


def _environment(
    environ: Mapping[str, str],
    prefix: str,
    ignore: Collection[str],
    model: type[BaseModel],
    problems: list[ConfigProblem],
) -> tuple[dict[str, Any], dict[Loc, str]]:
    """The overrides as a nested dict, and which variable set each leaf."""
    tree: dict[str, Any] = {}
    origins: dict[Loc, str] = {}
    ignored = {name.upper() for name in ignore}
    for name in sorted(environ):
        upper = name.upper()
        if not upper.startswith(prefix.upper()) or upper in ignored:
            continue
        value = environ[name]
        if value == "":
            continue
        parts = tuple(upper[len(prefix) :].lower().split("__"))
        if not all(parts):
            problems.append(
                ConfigProblem(
                    ENVIRONMENT,
                    name,
                    None,
                    f"cannot tell which setting this is: write {prefix}SECTION__KEY",
                )
            )
            continue
        parsed: Any = value
        if _takes_json(_annotation_at(model, parts)):
            try:
                parsed = json.loads(value)
            except json.JSONDecodeError as exc:
                problems.append(
                    ConfigProblem(
                        ENVIRONMENT,
                        name,
                        None,
                        f"not valid JSON ({exc.msg}, column {exc.colno}); lists and sections "
                        'take JSON, e.g. ["a", "b"]',
                    )
                )
                continue
        _put(tree, parts, parsed)
        for leaf in _leaves(parts, parsed):
            origins[leaf] = name
    return tree, origins


def _put(tree: dict[str, Any], parts: tuple[str, ...], value: Any) -> None:
    for part in parts[:-1]:
        child = tree.get(part)
        if not isinstance(child, dict):
            child = tree[part] = {}
        tree = child
    tree[parts[-1]] = value


def _leaves(loc: Loc, value: Any) -> Iterable[Loc]:
    if isinstance(value, dict) and value:
        for key, child in value.items():
            yield from _leaves((*loc, str(key)), child)
    else:
        yield loc


def _merge(
    base: dict[str, Any],
    overrides: Mapping[str, Any],
    annotation: Any = None,
    loc: Loc = (),
    renamed: dict[Loc, Loc] | None = None,
) -> None:
    """Deep-merge `overrides` into `base`; the override wins at every leaf.

    A list of sections whose items have a `name` (such as `notify.receivers`) takes variables
    per item: `..._RECEIVERS__ONCALL__ROUTING_KEY` sets `routing_key` of the item named
    `oncall` (case, `-` and `.` folded to `_`), adding that item when there is none, and
    `..._RECEIVERS__0__URL` sets `url` of the first item.
    """
    renamed = {} if renamed is None else renamed
    for key, value in overrides.items():
        below = None if annotation is None else _step(annotation, key)
        if isinstance(value, dict) and _is_named_list(below):
            items = base.get(key)
            if not isinstance(items, list):
                items = base[key] = []
            _merge_items(items, value, _step(below, 0), (*loc, key), renamed)
        elif isinstance(value, dict) and (
            isinstance(base.get(key), dict) or (key not in base and _is_model(_unwrap(below)))
        ):
            _merge(base.setdefault(key, {}), value, below, (*loc, key), renamed)
        else:
            base[key] = value


def _is_named_list(annotation: Any) -> bool:
    annotation = _unwrap(annotation)
    if typing.get_origin(annotation) is not list:
        return False
    item = _unwrap(typing.get_args(annotation)[0]) if typing.get_args(annotation) else None
    return _is_model(item) and "name" in item.model_fields


def _merge_items(
    items: list[Any], overrides: Mapping[str, Any], item: Any, loc: Loc, renamed: dict[Loc, Loc]
) -> None:
    def folded(name: object) -> str:
        return re.sub(r"[-.]", "_", str(name).lower())

    for key, value in overrides.items():
        if key.isdigit() and int(key) < len(items):
            index = int(key)
        else:
            names = [folded(i.get("name")) if isinstance(i, dict) else None for i in items]
            if folded(key) in names:
                index = names.index(folded(key))
            else:
                items.append({"name": key})
                index = len(items) - 1
        renamed[(*loc, key)] = (*loc, index)
        if isinstance(value, dict) and isinstance(items[index], dict):
            _merge(items[index], value, item, (*loc, index), renamed)
        else:
            items[index] = value


def _renamed(loc: Loc, renamed: Mapping[Loc, Loc]) -> Loc:
    for n in range(len(loc), 0, -1):
        target = renamed.get(loc[:n])
        if target is not None:
            return _renamed((*target, *loc[n:]), {k: v for k, v in renamed.items() if k != loc[:n]})
    return loc


# --- walking the model -------------------------------------------------------------------------


def _unwrap(annotation: Any) -> Any:
    """`X | None` -> X; a union of one model and scalars -> that model."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return _unwrap(args[0])
    return annotation


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _step(annotation: Any, part: str | int) -> Any:
    """The annotation one step down `part`, or None where the model has no such step."""
    annotation = _unwrap(annotation)
    origin = typing.get_origin(annotation)
    if _is_model(annotation):
        field = annotation.model_fields.get(part) if isinstance(part, str) else None
        return None if field is None else field.annotation
    if origin in (list, tuple, set, frozenset, Sequence) and isinstance(part, int):
        args = typing.get_args(annotation)
        return args[0] if args else Any
    if origin in (dict, Mapping) and isinstance(part, str):
        args = typing.get_args(annotation)
        return args[1] if len(args) == 2 else Any
    return None


def _annotation_at(model: type[BaseModel], parts: Loc) -> Any:
    annotation: Any = model
    for part in parts:
        annotation = _step(annotation, part)
        if annotation is None:
            return None
    return annotation


def _takes_json(annotation: Any) -> bool:
    annotation = _unwrap(annotation)
    origin = typing.get_origin(annotation)
    return _is_model(annotation) or origin in (list, tuple, set, frozenset, dict, Mapping)


def _clean(model: type[BaseModel], loc: Sequence[str | int], error_type: str) -> Loc:
    """The settings path of a pydantic error location, without union-member tags such as
    `verify_tls.bool` (those name a type pydantic tried, not a key)."""
    out: list[str | int] = []
    annotation: Any = model
    for n, part in enumerate(loc):
        if annotation is None:  # below an unknown key: keep what the input had
            out.append(part)
            continue
        below = _step(annotation, part)
        if below is not None:
            out.append(part)
            annotation = below
            continue
        target = _unwrap(annotation)
        is_container = _is_model(target) or typing.get_origin(target) in (list, tuple, dict)
        if is_container or (error_type == "extra_forbidden" and n == len(loc) - 1):
            out.append(part)
            annotation = None
        # else: a union-member tag; skip it
    return tuple(out)


def _unknown_key(model: type[BaseModel], key: str, parent: Loc = ()) -> str:
    annotation = _unwrap(_annotation_at(model, parent))
    known = list(annotation.model_fields) if _is_model(annotation) else []
    close = difflib.get_close_matches(key, known, n=1)
    return f"unknown key (did you mean '{close[0]}'?)" if close else "unknown key"


# --- locating problems -------------------------------------------------------------------------


class _Locator:
    """Maps a settings path to the file, key and line it came from."""

    def __init__(
        self, model: type[BaseModel], label: str, root: yaml.Node | None, origins: dict[Loc, str]
    ) -> None:
        self.model = model
        self.label = label
        self.root = root
        self.origins = origins

    def from_validation(self, exc: ValidationError) -> list[ConfigProblem]:
        problems = []
        for error in exc.errors(include_url=False, include_input=False):
            error_type = error["type"]
            loc = _clean(self.model, error["loc"], error_type)
            if error_type == "invalid_key" and loc:
                loc = (*loc[:-1], str(loc[-1]))
            ctx = error.get("ctx") or {}
            if error_type == RULE_ERROR and ctx.get("at"):
                loc = (*loc, *(int(p) if p.isdigit() else p for p in str(ctx["at"]).split(".")))
            problems.append(self.problem(loc, self._message(error_type, error["msg"], loc)))
        return problems

    def _message(self, error_type: str, message: str, loc: Loc) -> str:
        if error_type == "extra_forbidden" and loc and isinstance(loc[-1], str):
            return _unknown_key(self.model, loc[-1], loc[:-1])
        if error_type == "missing":
            return "required, but not set"
        if error_type == "path_type":
            return "Input should be a path (text)"
        return message.removeprefix("Value error, ").removeprefix("Assertion failed, ")

    def problem(self, loc: Loc, message: str) -> ConfigProblem:
        for n in range(len(loc), 0, -1):  # set by a variable, or inside what one set
            name = self.origins.get(loc[:n])
            if name is not None:
                return self._from_env(name, loc, loc[:n], message)
        lines = _lines_along(self.root, loc)
        if lines and len(lines) == len(loc):
            return ConfigProblem(self.label, _dotted(loc), lines[-1], message)
        # not in the file: blame a variable that set something beneath the missing part
        for n in range(len(loc), len(lines), -1):
            for leaf, name in self.origins.items():
                if leaf[:n] == loc[:n]:
                    return self._from_env(name, loc, leaf, message)
        return ConfigProblem(self.label, _dotted(loc), lines[-1] if lines else None, message)

    @staticmethod
    def _from_env(name: str, loc: Loc, leaf: Loc, message: str) -> ConfigProblem:
        if loc != leaf:
            message = f"{_dotted(loc)}: {message}"
        return ConfigProblem(ENVIRONMENT, name, None, message)


def _dotted(loc: Loc) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def _merged(problems: list[ConfigProblem]) -> list[ConfigProblem]:
    """One problem per place, the file's in line order, then the environment's. Errors pydantic
    reports for each member of a union are joined into one."""
    by_place: dict[tuple[str, str, int | None], list[str]] = {}
    ordered = sorted(problems, key=lambda p: (p.file == ENVIRONMENT, p.line is None, p.line or 0))
    for problem in ordered:
        messages = by_place.setdefault((problem.file, problem.key, problem.line), [])
        if problem.message not in messages:
            messages.append(problem.message)
    return [
        ConfigProblem(file, key, line, "; or ".join(messages))
        for (file, key, line), messages in by_place.items()
    ]
