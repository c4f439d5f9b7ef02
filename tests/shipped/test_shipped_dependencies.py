"""What pyproject.toml declares matches what the package imports: every third-party import of
`vpnwatch/` is declared (runtime code in `dependencies`, optional parts in their extra), and every
runtime dependency is imported somewhere, or named below with the reason it is needed."""

from __future__ import annotations

import ast
import importlib.metadata
import importlib.util
import re
import sys
import tomllib
from functools import cache
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "vpnwatch"
PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]

# Declared, used, but never imported by name.
USED_INDIRECTLY = {
    "jinja2": "fastapi.templating.Jinja2Templates renders the status page with it",
    "sniffio": "httpcore looks it up on every request; without it each lookup scans sys.path",
}
# Which extra a module's imports belong to, when not to the runtime dependencies.
EXTRA_OF = {
    "vpnwatch/service/otlp.py": "otlp",
    "vpnwatch/emulator/certs.py": "emulator",
}


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement_name(requirement: str) -> str:
    return _normal(re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0])


def _declared(requirements: list[str]) -> set[str]:
    names = {_requirement_name(r) for r in requirements}
    for requirement in requirements:  # vpnwatch[otlp,emulator] in dev
        match = re.match(r"vpnwatch\[(.+)\]", requirement)
        if match:
            for extra in match.group(1).split(","):
                names |= _declared(PROJECT["optional-dependencies"][extra.strip()])
    return names


@cache
def _owners() -> dict[str, str]:
    """Installed file (relative to site-packages) -> the distribution that installed it."""
    owners: dict[str, str] = {}
    for dist in importlib.metadata.distributions():
        for file in dist.files or ():
            if file.suffix == ".py":
                owners[str(file)] = _normal(dist.metadata["Name"])
    return owners


def _distribution(module: str) -> str | None:
    """The distribution that installs `module` (None: the standard library or not installed)."""
    if module.split(".")[0] in sys.stdlib_module_names:
        return None
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        return None
    origin = Path(spec.origin)
    for base in map(Path, sys.path):
        try:
            relative = origin.relative_to(base)
        except ValueError:
            continue
        owner = _owners().get(str(relative))
        if owner is not None:
            return owner
    return None


def _imports() -> dict[str, set[str]]:
    """Third-party module -> the files of `vpnwatch/` that import it."""
    found: dict[str, set[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        where = str(path.relative_to(REPO))
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                if name.split(".")[0] not in ("vpnwatch", *sys.stdlib_module_names):
                    found.setdefault(name, set()).add(where)
    return found


@pytest.fixture(scope="module")
def imported_from() -> dict[str, set[str]]:
    """Distribution -> the files that import it."""
    by_distribution: dict[str, set[str]] = {}
    for module, files in _imports().items():
        dist = _distribution(module)
        assert dist is not None, f"{module} (imported by {sorted(files)}) is not installed"
        by_distribution.setdefault(dist, set()).update(files)
    return by_distribution


def test_every_import_is_declared_where_it_is_used(imported_from):
    runtime = _declared(PROJECT["dependencies"])
    undeclared = []
    for dist, files in sorted(imported_from.items()):
        extras = {EXTRA_OF[f] for f in files if f in EXTRA_OF}
        if files - EXTRA_OF.keys() and dist not in runtime:
            undeclared.append(f"{dist}: runtime, imported by {sorted(files)}")
        for extra in extras:
            if dist not in runtime | _declared(PROJECT["optional-dependencies"][extra]):
                undeclared.append(f"{dist}: extra {extra!r}")
    assert not undeclared, "imported but not declared:\n" + "\n".join(undeclared)


def test_every_runtime_dependency_is_used(imported_from):
    declared = _declared(PROJECT["dependencies"])
    unused = sorted(declared - imported_from.keys() - USED_INDIRECTLY.keys())
    assert not unused, f"declared but never imported: {unused}"


def test_extras_hold_only_what_their_modules_import(imported_from):
    for extra in ("otlp", "emulator"):
        declared = _declared(PROJECT["optional-dependencies"][extra])
        used = {
            dist
            for dist, files in imported_from.items()
            if any(EXTRA_OF.get(f) == extra for f in files)
        }
        assert declared <= used, f"extra {extra!r} declares {sorted(declared - used)} unused"
        assert used - _declared(PROJECT["dependencies"]) <= declared


# Imports that fail as they would without the extras installed.
_WITHOUT_EXTRAS = """
import importlib, importlib.abc, pkgutil, sys

BLOCKED = ("cryptography", "opentelemetry.sdk", "opentelemetry.exporter")

class Missing(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if any(name == b or name.startswith(b + ".") for b in BLOCKED):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, Missing())
import vpnwatch
skip = {"vpnwatch.__main__", "vpnwatch.emulator.certs"}  # runs the CLI; the extra's module
for info in pkgutil.walk_packages(vpnwatch.__path__, "vpnwatch."):
    if info.name not in skip:
        importlib.import_module(info.name)
from vpnwatch.cli import main
assert main(["role-definition"]) == 0
"""


def test_the_package_imports_without_the_extras():
    """Only `vpnwatch emulator --tls` and `service.otlp_endpoint` need an extra: every module
    imports, and the CLI runs, without them."""
    import subprocess

    result = subprocess.run(
        [sys.executable, "-c", _WITHOUT_EXTRAS], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
