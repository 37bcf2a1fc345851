"""What ``/matinee about`` reports: version, uptime, integrations and database size."""

from __future__ import annotations

from dataclasses import dataclass

from . import __version__
from .settings import Settings
from .storage import Database

__all__ = ["AboutInfo", "format_uptime", "gather_about"]


@dataclass(frozen=True, slots=True)
class AboutInfo:
    version: str
    uptime_seconds: float
    integrations: dict[str, str]
    database_bytes: int
    failed_extensions: tuple[str, ...]


def format_uptime(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    parts = [f"{days}d"] if days else []
    parts += [f"{hours}h"] if hours or days else []
    parts += [f"{minutes}m", f"{secs}s"]
    return " ".join(parts)


def format_bytes(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


async def gather_about(
    settings: Settings, db: Database, uptime_seconds: float, failed_extensions: list[str]
) -> AboutInfo:
    integrations = {
        "LLM chat": f"on ({settings.openai_model})" if settings.llm_configured else "off",
        "TMDB": "on" if settings.tmdb_configured else "off (local catalog only)",
        "Default feeds": str(len(settings.review_feeds)) if settings.review_feeds else "none",
        "Reviews folder": str(settings.reviews_dir),
    }
    return AboutInfo(
        version=__version__,
        uptime_seconds=uptime_seconds,
        integrations=integrations,
        database_bytes=await db.size_bytes(),
        failed_extensions=tuple(failed_extensions),
    )
