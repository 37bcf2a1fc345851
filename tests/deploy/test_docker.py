"""The Dockerfile and compose.yaml: every command they run exists in the project, and they build and run.

Without a Docker engine (this machine, most CI runners) the files are read and each
command, file, entry point and health check they name is checked against the project;
the health check's own command runs against a loopback server. With an engine, the image
is built and the container runs against the loopback Discord double.
"""

from __future__ import annotations

import ast
import asyncio
import importlib
import importlib.util
import json
import shutil
import socket
import subprocess
import sys
import threading
import tomllib
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

import pytest
import yaml

from bot import __version__
from bot.cli import build_parser
from bot.settings import specs
from tests.deploy._dockerfile import Dockerfile, Instruction, dockerignored, simple_commands

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = Dockerfile(ROOT / "Dockerfile")
COMPOSE = yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
CONSOLE_SCRIPTS = PYPROJECT["project"]["scripts"]
FINAL = DOCKERFILE.final_stage
# Variables the image sets for Python, pip and tiktoken rather than for Matinee's settings.
RUNTIME_VARIABLES = {"PATH", "PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED", "TIKTOKEN_CACHE_DIR"}


def web_server_merged() -> bool:
    """The web server (issue 12: WEB_HOST, WEB_PORT, /healthz) is built in parallel with this file."""
    return importlib.util.find_spec("bot.web") is not None


def declared_settings() -> set[str]:
    names = {spec.env for _, spec, _ in specs()}
    if not web_server_merged():
        names |= {"WEB_HOST", "WEB_PORT"}  # declared by bot/settings.py once bot/web is merged
    return names


def assert_matinee_command(args: list[str], where: str) -> None:
    """``matinee ARGS`` is a real subcommand with real flags (argparse exits 2 on anything unknown)."""
    try:
        parsed = build_parser().parse_args(args)
    except SystemExit as exc:  # --version and --help exit 0 after printing
        assert exc.code == 0, f"{where}: `matinee {' '.join(args)}` is not a valid command line"
        return
    assert parsed.command is None or callable(parsed.handler), where


def assert_python_code(code: str, where: str) -> None:
    """``python -c CODE`` compiles, and whatever it imports from Matinee exists."""
    tree = ast.parse(code)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in ("bot", "cogs"):
            module = importlib.import_module(node.module)
            for alias in node.names:
                assert hasattr(module, alias.name), f"{where}: {node.module} has no {alias.name}"
        elif isinstance(node, ast.Import):
            for alias in node.names:
                assert importlib.util.find_spec(alias.name.split(".")[0]) is not None, (
                    f"{where}: no module {alias.name}"
                )


def command_words(words: list[str]) -> list[str]:
    """Drop leading ``VAR=value`` assignments of a simple command."""
    while words and "=" in words[0] and not words[0].startswith("-"):
        words = words[1:]
    return words


def check_command(words: list[str], where: str) -> None:
    words = command_words(words)
    program = PurePosixPath(words[0]).name
    if program in CONSOLE_SCRIPTS:
        assert_matinee_command(words[1:], where)
    elif program.startswith("python") and "-c" in words:
        assert_python_code(words[words.index("-c") + 1], where)
    elif program.startswith("python") and words[1:2] == ["-m"] and words[2] not in ("venv", "pip"):
        assert importlib.util.find_spec(words[2]) is not None, f"{where}: no module {words[2]}"
    elif program == "pip" and "install" in words:
        for target in words[words.index("install") + 1 :]:
            if target == "." or target.startswith(".["):
                assert (ROOT / "pyproject.toml").is_file()


def healthcheck() -> tuple[dict[str, str], list[str]]:
    (instruction,) = DOCKERFILE.all("HEALTHCHECK")
    options, _, command = instruction.args.partition("CMD")
    parsed = dict(option.lstrip("-").split("=", 1) for option in options.split())
    form = Instruction("CMD", command, instruction.line, instruction.stage).exec_form()
    assert form is not None, "the health check uses exec form (no shell needed in the image)"
    return parsed, form


def healthcheck_url_path() -> str:
    _, form = healthcheck()
    code = form[form.index("-c") + 1]
    urls = [
        node.value for node in ast.walk(ast.parse(code)) if isinstance(node, ast.Constant) and "://" in str(node.value)
    ]
    assert len(urls) == 1, code
    return urlsplit(urls[0]).path


def service() -> dict:
    (only,) = COMPOSE["services"].values()
    return only


# --------------------------------------------------------------------------- static checks


def test_every_run_command_exists_in_the_project() -> None:
    checked = 0
    for instruction in DOCKERFILE.all("RUN"):
        for words in simple_commands(instruction.args):
            check_command(words, f"Dockerfile line {instruction.line}")
            checked += 1
    assert checked >= 3


def test_copy_sources_exist_and_reach_the_build_context() -> None:
    ignore = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    stages = DOCKERFILE.stage_names()
    copies = DOCKERFILE.all("COPY") + DOCKERFILE.all("ADD")
    assert copies
    for instruction in copies:
        words = instruction.exec_form() or instruction.args.split()
        from_stage = next((w.split("=", 1)[1] for w in words if w.startswith("--from=")), None)
        sources = [w for w in words if not w.startswith("--")][:-1]
        if from_stage is not None:
            assert from_stage in stages, f"line {instruction.line}: no stage named {from_stage}"
            continue
        for source in sources:
            path = ROOT / source
            assert path.exists(), f"Dockerfile line {instruction.line}: {source} does not exist"
            inside = [f for f in tracked if f == source or f.startswith(source.rstrip("/") + "/")]
            assert inside, f"{source} holds no tracked file"
            excluded = [f for f in inside if dockerignored(f, ignore) and "__pycache__" not in f]
            assert excluded == [], f".dockerignore keeps {excluded[:3]} of COPY {source} out of the image"
    # What must never reach a build context, however the Dockerfile changes.
    for secret in (".env", "data/matinee.db", "data/matinee.db-wal", ".venv/bin/python", ".git/config"):
        assert dockerignored(secret, ignore), f"{secret} would be sent to the Docker daemon"


def test_entrypoint_and_command_are_matinee_subcommands() -> None:
    (entrypoint,) = DOCKERFILE.all("ENTRYPOINT", stage=FINAL)
    (command,) = DOCKERFILE.all("CMD", stage=FINAL)
    entry, args = entrypoint.exec_form(), command.exec_form()
    assert entry and args is not None, "exec form: Matinee itself receives SIGTERM, not a shell"
    assert entry[0] in CONSOLE_SCRIPTS, f"{entry[0]} is not a console script of pyproject.toml"
    assert_matinee_command(entry[1:] + args, "ENTRYPOINT + CMD")
    assert build_parser().parse_args(entry[1:] + args).command == "run"
    assert [i.args for i in DOCKERFILE.all("STOPSIGNAL")] == ["SIGTERM"]


def test_the_image_runs_as_an_unprivileged_user_it_creates() -> None:
    users = DOCKERFILE.all("USER", stage=FINAL)
    assert users, "the image needs a USER, or Matinee runs as root"
    user = users[-1].args.split(":")[0]
    assert user not in ("root", "0")
    created = [
        words for i in DOCKERFILE.all("RUN", stage=FINAL) for words in simple_commands(i.args) if words[0] == "useradd"
    ]
    assert any(words[-1] == user for words in created), f"the final stage does not create the user {user}"
    last_run = max(i.line for i in DOCKERFILE.all("RUN", stage=FINAL))
    assert users[-1].line > last_run, "USER comes after the last RUN that needs root"


def test_base_image_satisfies_requires_python() -> None:
    for instruction in DOCKERFILE.all("FROM"):
        image = DOCKERFILE.substitute(instruction.args.split()[0])
        if image in DOCKERFILE.stage_names():
            continue
        name, _, tag = image.partition(":")
        assert name == "python", image
        version = tuple(int(n) for n in tag.split("-")[0].split("."))
        floor = PYPROJECT["project"]["requires-python"].removeprefix(">=")
        assert version >= tuple(int(n) for n in floor.split(".")), f"{image} is older than requires-python"


def test_the_database_lives_on_a_volume_and_the_settings_are_real() -> None:
    env = DOCKERFILE.env(stage=FINAL)
    volumes = DOCKERFILE.volumes()
    database = PurePosixPath(env["DATABASE_PATH"])
    assert any(database.is_relative_to(volume) for volume in volumes), f"{database} is not on a VOLUME {volumes}"
    assert env["WEB_HOST"] == "0.0.0.0", "inside a container the web server must listen on every interface"
    unknown = set(env) - RUNTIME_VARIABLES - declared_settings()
    assert not unknown, f"the Dockerfile sets variables Matinee does not read: {unknown}"
    exposed = {int(p.split("/")[0]) for i in DOCKERFILE.all("EXPOSE") for p in i.args.split()}
    assert exposed == {int(env["WEB_PORT"])}
    if web_server_merged():
        defaults = {spec.env: default for _, spec, default in specs()}
        assert int(env["WEB_PORT"]) == defaults["WEB_PORT"]


def test_healthcheck_asks_the_web_servers_health_route() -> None:
    options, form = healthcheck()
    assert PurePosixPath(form[0]).name.startswith("python")
    assert_python_code(form[form.index("-c") + 1], "HEALTHCHECK")
    assert int(options["timeout"].rstrip("s")) < int(options["interval"].rstrip("s"))
    assert healthcheck_url_path() == "/healthz"
    if not web_server_merged():
        pytest.skip("bot/web (issue 12), which serves /healthz, is not merged yet")
    from bot.web.app import routes

    served = {(route.method, route.path) for route in routes}
    assert ("GET", healthcheck_url_path()) in served


class _HealthServer:
    """A loopback HTTP server answering every GET with ``status``, remembering the paths asked."""

    def __init__(self, status: int) -> None:
        self.paths: list[str] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.paths.append(self.path)
                body = json.dumps({"status": "ok" if status == 200 else "down"}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> _HealthServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


def run_healthcheck(port: int) -> subprocess.CompletedProcess[str]:
    _, form = healthcheck()
    command = [sys.executable, *form[1:]]
    env = {"PATH": "/usr/bin:/bin", "WEB_PORT": str(port)}
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("status", [200, 503])
def test_healthcheck_command_passes_only_on_a_healthy_answer(status: int) -> None:
    with _HealthServer(status) as server:
        done = run_healthcheck(server.port)
    assert server.paths == [healthcheck_url_path()]
    assert (done.returncode == 0) == (status == 200), done.stderr


def test_healthcheck_command_fails_when_nothing_listens() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # bound, never listening: connections are refused
        assert run_healthcheck(port).returncode != 0


def test_compose_runs_the_image_with_the_database_on_a_volume() -> None:
    matinee = service()
    build = matinee["build"]
    context = build if isinstance(build, str) else build.get("context", ".")
    dockerfile = "Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile")
    assert (ROOT / context / dockerfile).resolve() == ROOT / "Dockerfile"
    assert matinee.get("init") is True, "an init as PID 1 forwards SIGTERM and reaps orphans"
    for args in (matinee.get("command"), matinee.get("entrypoint")):
        if args is not None:
            words = args if isinstance(args, list) else args.split()
            assert_matinee_command(words[1:] if words[0] in CONSOLE_SCRIPTS else words, "compose command")
    mounts = {}
    for volume in matinee["volumes"]:
        source, target = volume.split(":")[:2]
        mounts[target] = source
        if not source.startswith((".", "/")):
            assert source in COMPOSE.get("volumes", {}), f"named volume {source} is not declared"
    assert set(mounts) == set(DOCKERFILE.volumes())
    env = {**DOCKERFILE.env(stage=FINAL), **{k: str(v) for k, v in matinee.get("environment", {}).items()}}
    assert set(matinee.get("environment", {})) <= declared_settings()
    assert any(PurePosixPath(env["DATABASE_PATH"]).is_relative_to(t) for t in mounts)
    for port in matinee.get("ports", []):
        host, _published, container = port.rsplit(":", 2) if port.count(":") == 2 else ("", *port.split(":"))
        assert int(container) == int(env["WEB_PORT"])
        assert host == "127.0.0.1", "publish the web server on loopback; a reverse proxy faces the internet"
    for env_file in matinee.get("env_file", []):
        path = env_file["path"] if isinstance(env_file, dict) else env_file
        assert path == ".env" and (ROOT / ".env.example").is_file()
        ignored = subprocess.run(["git", "check-ignore", "-q", path], cwd=ROOT)
        assert ignored.returncode == 0, f"{path} holds the token and must be git-ignored"


# --------------------------------------------------------------------------- with a Docker engine


def docker_engine() -> str | None:
    """None when a Docker engine answers; otherwise why the build-and-run test is skipped."""
    docker = shutil.which("docker")
    if docker is None:
        return "docker is not installed"
    try:
        info = subprocess.run(
            [docker, "info", "--format", "{{.ServerVersion}}"], capture_output=True, text=True, timeout=60
        )
    except subprocess.TimeoutExpired:
        return "docker info timed out"
    if info.returncode != 0:
        reason = (info.stderr.strip().splitlines() or ["docker info failed"])[-1]
        return f"no Docker engine ({reason})"
    return None


def docker(*args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    if check:
        assert done.returncode == 0, f"docker {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done


@pytest.fixture(scope="module")
def image() -> Iterator[str]:
    reason = docker_engine()
    if reason is not None:
        pytest.skip(reason)
    tag = f"matinee-test:{uuid.uuid4().hex[:12]}"
    docker("build", "--tag", tag, str(ROOT), timeout=1800)
    try:
        yield tag
    finally:
        docker("image", "rm", "--force", tag, check=False)


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_image_builds_and_its_commands_run(image: str) -> None:
    assert docker("run", "--rm", image, "--version").stdout.strip() == f"matinee {__version__}"
    assert docker("run", "--rm", "--entrypoint", "id", image, "-u").stdout.strip() != "0"
    for subcommand in ("run", "backup", "restore", "export"):
        assert docker("run", "--rm", image, subcommand, "--help").returncode == 0


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_compose_file_is_valid(image: str, tmp_path: Path) -> None:
    if docker("compose", "version", check=False).returncode != 0:
        pytest.skip("the Docker Compose plugin is not installed")
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))
    service_name = next(iter(compose["services"]))
    compose["services"][service_name]["build"] = str(ROOT)
    (tmp_path / "compose.yaml").write_text(yaml.safe_dump(compose))
    (tmp_path / ".env").write_text("DISCORD_TOKEN=test-token\n")
    docker("compose", "--project-directory", str(tmp_path), "-f", str(tmp_path / "compose.yaml"), "config", "--quiet")


@pytest.mark.slow
@pytest.mark.timeout(1800)
async def test_container_connects_reports_healthy_and_stops_gracefully(image: str, double) -> None:
    """The real container against the loopback double (host network): up, healthy, SIGTERM, exit 0, backup."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        web_port = probe.getsockname()[1]
    volume = f"matinee-test-{uuid.uuid4().hex[:12]}"
    name = f"matinee-test-{uuid.uuid4().hex[:12]}"
    env = {
        "DISCORD_TOKEN": "test-token",
        "DISCORD_API_BASE": double.api_base,
        "DISCORD_GATEWAY_URL": double.gateway_url,
        "WEB_PORT": str(web_port),
    }
    flags = [arg for key, value in env.items() for arg in ("--env", f"{key}={value}")]
    run = ["run", "--detach", "--init", "--name", name, "--network", "host", "--volume", f"{volume}:/data"]
    run += ["--health-interval", "1s", "--health-start-period", "120s", *flags, image]
    await asyncio.to_thread(docker, *run)
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 120
        while double.identify_count == 0 or (web_server_merged() and await _health(name) != "healthy"):
            state = await asyncio.to_thread(docker, "inspect", "--format", "{{.State.Status}}", name)
            assert state.stdout.strip() == "running", (await asyncio.to_thread(docker, "logs", name)).stderr
            assert loop.time() < deadline, "the container did not connect (and report healthy) in time"
            await asyncio.sleep(0.5)
        await asyncio.to_thread(docker, "stop", name, timeout=60)  # SIGTERM; SIGKILL after Docker's 10 s
        code = await asyncio.to_thread(docker, "inspect", "--format", "{{.State.ExitCode}}", name)
        logs = await asyncio.to_thread(docker, "logs", name)
        assert code.stdout.strip() == "0", f"not a graceful stop (137 is Docker's SIGKILL):\n{logs.stderr}"
        assert "Traceback" not in logs.stdout + logs.stderr
        backup = await asyncio.to_thread(
            docker, "run", "--rm", "--volume", f"{volume}:/data", image, "backup", "/data/backup.db"
        )
        assert "backed up /data/matinee.db to /data/backup.db" in backup.stdout
    finally:
        await asyncio.to_thread(docker, "rm", "--force", name, check=False)
        await asyncio.to_thread(docker, "volume", "rm", "--force", volume, check=False)


async def _health(name: str) -> str:
    done = await asyncio.to_thread(docker, "inspect", "--format", "{{.State.Health.Status}}", name, check=False)
    return done.stdout.strip()
