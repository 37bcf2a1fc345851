"""deploy/*.service and *.timer: the commands they run exist, the sandbox is there, and systemd accepts them."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path, PurePosixPath

import pytest

from bot.cli import EXIT_USAGE, build_parser

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
UNITS = sorted(p for p in DEPLOY.iterdir() if p.suffix in (".service", ".timer"))
CONSOLE_SCRIPTS = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["scripts"]
SANDBOX = {
    "ProtectSystem": "strict",
    "ProtectHome": "yes",
    "PrivateTmp": "yes",
    "PrivateDevices": "yes",
    "NoNewPrivileges": "yes",
    "ProtectKernelTunables": "yes",
    "ProtectKernelModules": "yes",
    "ProtectKernelLogs": "yes",
    "ProtectControlGroups": "yes",
    "RestrictNamespaces": "yes",
    "RestrictSUIDSGID": "yes",
    "LockPersonality": "yes",
    "CapabilityBoundingSet": "",
    "SystemCallArchitectures": "native",
}


def read_unit(path: Path) -> dict[str, dict[str, list[str]]]:
    """Sections of a unit file; a key may repeat (``Environment=``, ``SystemCallFilter=``)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    logical = ""
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not logical and (not line or line.startswith(("#", ";"))):
            continue
        if line.endswith("\\"):
            logical += line[:-1] + " "
            continue
        line, logical = logical + line, ""
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        assert current is not None and "=" in line, f"{path.name}: {line!r} is outside a section or not key=value"
        key, _, value = line.partition("=")
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def one(unit: dict, section: str, key: str) -> str:
    values = unit[section].get(key, [])
    assert len(values) == 1, f"{key}= appears {len(values)} times in [{section}]"
    return values[0]


def environment(service: dict[str, list[str]]) -> dict[str, str]:
    pairs = [pair for value in service.get("Environment", []) for pair in shlex.split(value)]
    return dict(pair.split("=", 1) for pair in pairs)


SERVICES = {p.name: read_unit(p) for p in UNITS if p.suffix == ".service"}


def test_the_bot_service_restarts_on_failure_and_stops_on_sigterm() -> None:
    unit = SERVICES["matinee.service"]
    assert one(unit, "Service", "Restart") == "on-failure"
    assert one(unit, "Service", "KillSignal") == "SIGTERM"
    assert re.fullmatch(r"\d+s?", one(unit, "Service", "TimeoutStopSec"))
    assert int(one(unit, "Service", "TimeoutStopSec").rstrip("s")) >= 10, "the bot's graceful shutdown needs time"
    assert one(unit, "Service", "RestartPreventExitStatus") == str(EXIT_USAGE), "exit 2: the operator must fix it"
    assert "network-online.target" in one(unit, "Unit", "After")
    assert one(unit, "Install", "WantedBy") == "multi-user.target"


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_each_service_runs_a_real_matinee_command_with_documented_paths(name: str) -> None:
    unit = SERVICES[name]
    service = unit["Service"]
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for key in ("ExecStart", "ExecStartPost"):
        for line in service.get(key, []):
            words = shlex.split(line)
            program = PurePosixPath(words[0])
            assert program.is_absolute(), f"{key} needs an absolute path"
            if program.name in CONSOLE_SCRIPTS:
                args = build_parser().parse_args(words[1:])  # exits 2 on an unknown subcommand or flag
                assert callable(args.handler)
                assert str(program) in readme, f"the README's install steps do not create {program}"
                if "--env-file" in words:
                    assert words[words.index("--env-file") + 1] in readme, "the README says where the settings go"
    user = one(unit, "Service", "User")
    assert user not in ("root", "0") and f"useradd --system --home-dir /var/lib/{user}" in readme and user in readme


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_each_service_is_sandboxed_and_can_write_only_its_data(name: str) -> None:
    service = SERVICES[name]["Service"]
    for key, expected in SANDBOX.items():
        assert service.get(key) == [expected], f"{name}: {key}={expected} expected, found {service.get(key)}"
    assert "@system-service" in service["SystemCallFilter"]
    families = set(one(SERVICES[name], "Service", "RestrictAddressFamilies").split())
    assert families <= {"AF_INET", "AF_INET6", "AF_UNIX"}
    writable = [PurePosixPath(p) for value in service["ReadWritePaths"] for p in value.split()]
    writable += [PurePosixPath("/var/lib") / d for d in service.get("StateDirectory", [])]
    # DATABASE_PATH is set once, in the settings file the README's install steps write.
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    (database,) = {PurePosixPath(p) for p in re.findall(r"DATABASE_PATH=(/\S+?)\"? >> /etc/", readme)}
    assert any(database.parent.is_relative_to(p) for p in writable), f"{database} is not writable in the sandbox"
    assert "DATABASE_PATH" not in environment(service), "one place for the path: the settings file"


def test_the_backup_timer_starts_the_backup_service_daily() -> None:
    timer = read_unit(DEPLOY / "matinee-backup.timer")
    unit = one(timer, "Timer", "Unit") if "Unit" in timer["Timer"] else "matinee-backup.service"
    assert unit in SERVICES
    assert one(timer, "Timer", "Persistent") == "true"
    assert one(timer, "Install", "WantedBy") == "timers.target"
    backup = shlex.split(one(SERVICES[unit], "Service", "ExecStart"))
    assert build_parser().parse_args(backup[1:]).command == "backup"
    target = backup[-1]
    writable = " ".join(SERVICES[unit]["Service"]["ReadWritePaths"]).split()
    assert any(target.startswith(p) for p in writable), "the backup directory is writable in the sandbox"


def installed_copies(tmp_path: Path) -> list[Path]:
    """The units as installed here: the checkout's own `matinee` stands in for /opt/matinee's."""
    matinee = Path(sys.executable).with_name("matinee")
    if not matinee.exists():
        pytest.skip(f"{matinee} is not installed (run make install)")
    copies = []
    for unit in UNITS:
        text = re.sub(r"/opt/matinee/\.venv/bin/matinee\b", str(matinee), unit.read_text(encoding="utf-8"))
        copy = tmp_path / unit.name
        copy.write_text(text, encoding="utf-8")
        copies.append(copy)
    return copies


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_systemd_accepts_the_units(tmp_path: Path) -> None:
    copies = installed_copies(tmp_path)
    done = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *map(str, copies)],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )  # fmt: skip
    complaints = [line for line in done.stderr.splitlines() if any(c.name in line for c in copies)]
    assert done.returncode == 0 and complaints == [], done.stderr


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
@pytest.mark.parametrize("name", sorted(SERVICES))
def test_systemd_rates_the_sandbox_ok_or_better(tmp_path: Path, name: str) -> None:
    copy = next(c for c in installed_copies(tmp_path) if c.name == name)
    done = subprocess.run(
        ["systemd-analyze", "security", "--offline=true", "--threshold=20", "--no-pager", str(copy)],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )  # fmt: skip
    if "--offline" in done.stderr and "unrecognized" in done.stderr:
        pytest.skip("this systemd-analyze cannot rate a unit file offline")
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr  # exposure 2.0 is still "OK"
