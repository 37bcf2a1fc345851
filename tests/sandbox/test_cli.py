"""``matinee sandbox`` and ``matinee start`` as real processes: the one line, Ctrl-C, and the choice.

Each child runs in a temporary directory with the environment the test chooses
(:func:`tests._environment.child_environment`), so no developer's `.env` or token reaches it.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import urllib.request
from pathlib import Path

import pytest

from bot.discord_double import DiscordDouble
from tests._environment import child_environment

pytestmark = pytest.mark.e2e

START_TIMEOUT = 90.0
STOP_TIMEOUT = 30.0


def descendants(pid: int) -> set[int]:
    """Every process below ``pid`` (read from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


async def start(tmp_path: Path, *args: str, **env: str | None) -> tuple[asyncio.subprocess.Process, str]:
    """Start ``python -m bot ARGS`` and wait for the line that gives the sandbox's address."""
    (tmp_path / "tmp").mkdir(exist_ok=True)
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", *args,
        cwd=tmp_path, env=child_environment(TMPDIR=str(tmp_path / "tmp"), **env),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert process.stdout is not None

    async def url_line() -> str:
        while True:
            line = (await process.stdout.readline()).decode()
            if not line:
                raise AssertionError("the sandbox exited before printing its address")
            if "http://127.0.0.1:" in line:
                return line

    try:
        return process, await asyncio.wait_for(url_line(), START_TIMEOUT)
    except BaseException:
        process.kill()
        await process.wait()
        raise


def address(line: str) -> str:
    return next(word for word in line.split() if word.startswith("http://127.0.0.1:"))


async def stop(process: asyncio.subprocess.Process, sig: signal.Signals) -> tuple[int, str, str]:
    process.send_signal(sig)
    out, err = await asyncio.wait_for(process.communicate(), STOP_TIMEOUT)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_ctrl_c_stops_everything_cleanly_and_leaves_nothing_behind(tmp_path: Path) -> None:
    process, line = await start(tmp_path, "sandbox", "--port", "0")
    url = address(line)
    assert "Matinee sandbox" in line and "DISCORD_TOKEN" in line and "Ctrl-C" in line
    state = await asyncio.to_thread(lambda: urllib.request.urlopen(url + "/api/state", timeout=10).read())
    assert b"Film Club" in state
    below = descendants(process.pid)
    assert any((tmp_path / "tmp").iterdir())  # the temporary database

    code, out, err = await stop(process, signal.SIGINT)

    assert code == 0, err
    assert "Traceback" not in err and "Error" not in err, err
    assert "Sandbox stopped." in out
    assert not [pid for pid in below | descendants(process.pid) if alive(pid)]
    assert list((tmp_path / "tmp").iterdir()) == []
    with pytest.raises(OSError):
        await asyncio.to_thread(lambda: urllib.request.urlopen(url + "/api/state", timeout=5))


async def test_start_without_a_token_says_it_is_the_sandbox(tmp_path: Path) -> None:
    process, line = await start(tmp_path, "start", "--port", "0")
    assert line.startswith("No DISCORD_TOKEN is set, so this is the Matinee sandbox")
    assert "Set DISCORD_TOKEN (in .env) to connect Matinee to the real Discord instead." in line
    code, _out, err = await stop(process, signal.SIGTERM)
    assert code == 0 and "Traceback" not in err


async def test_start_with_a_token_in_dot_env_runs_the_real_bot(tmp_path: Path) -> None:
    """The `.env` is read exactly as `matinee run` reads it: a token there means the real bot."""
    token = "dotenv-token"
    async with DiscordDouble(token=token) as discord:
        discord.add_guild("Real Server")
        (tmp_path / ".env").write_text(
            f"DISCORD_TOKEN={token}\nDISCORD_API_BASE={discord.api_base}\nDISCORD_GATEWAY_URL={discord.gateway_url}\n"
            f"DATABASE_PATH={tmp_path / 'real.db'}\nWEB_PORT=0\n"
        )
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "start", cwd=tmp_path, env=child_environment(MATINEE_ENV_FILE=None),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        try:
            identify = await discord.wait_until(
                lambda: next((f for f in discord.gateway_received if f.get("op") == 2), None), timeout=START_TIMEOUT
            )
        except BaseException:
            process.kill()
            await process.wait()
            raise
        assert identify["d"]["token"] == token
        code, out, err = await stop(process, signal.SIGTERM)
    assert code == 0, err
    assert "sandbox" not in out.lower()
    assert (tmp_path / "real.db").exists()


def test_the_makefile_runs_matinee_start() -> None:
    makefile = (Path(__file__).resolve().parents[2] / "Makefile").read_text()
    run = makefile.split("\nrun:", 1)[1].split("\n\n", 1)[0]
    assert "matinee start" in run and "matinee run" not in run


async def test_a_taken_port_is_a_clear_message(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "sandbox", "--port", str(port), cwd=tmp_path, env=child_environment(),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        _out, err = await asyncio.wait_for(process.communicate(), START_TIMEOUT)
    assert process.returncode == 2
    assert err.decode().strip().splitlines()[-1] == f"matinee: port {port} is in use; pick another with --port"


def test_the_readme_s_first_commands_start_the_sandbox_and_its_section_shows_it() -> None:
    root = Path(__file__).resolve().parents[2]
    readme = (root / "README.md").read_text(encoding="utf-8")
    sections = [line for line in readme.splitlines() if line.startswith("## ")]
    assert sections[0] == "## Set-up on a fresh clone" and "## Try it without Discord" in sections
    setup = readme.split("## Set-up on a fresh clone", 1)[1].split("\n## ", 1)[0]
    [run_line] = [line for line in setup.splitlines() if line.startswith("make run")]
    assert "DISCORD_TOKEN" in run_line and "sandbox" in run_line  # without a token, make run is the sandbox
    section = readme.split("## Try it without Discord", 1)[1].split("\n## ", 1)[0]
    assert "](docs/images/sandbox.png)" in section and (root / "docs/images/sandbox.png").stat().st_size > 10_000
    assert "simplifies compared with Discord" in section
