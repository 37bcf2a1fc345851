"""What ``/matinee about`` reports: version, uptime, integrations, database size, and the server's health."""

from __future__ import annotations

from dataclasses import dataclass, field

from . import __version__
from .permissions import ANNOUNCEMENTS, LOG, ChannelRole
from .problems import Problem, ProblemLog
from .settings import Settings
from .storage import Database, FeedRepository, GuildSettingsRepository

__all__ = ["AboutInfo", "ConfiguredChannel", "ServerHealth", "format_uptime", "gather_about", "server_health"]


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
        "Reviews folder": str(settings.reviews_dir) if settings.reviews_dir is not None else "none",
    }
    return AboutInfo(
        version=__version__,
        uptime_seconds=uptime_seconds,
        integrations=integrations,
        database_bytes=await db.size_bytes(),
        failed_extensions=tuple(failed_extensions),
    )


@dataclass
class ConfiguredChannel:
    """A channel Matinee posts in for this server, what for, and so which permissions it needs there."""

    channel_id: int
    roles: set[ChannelRole] = field(default_factory=set)
    uses: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ServerHealth:
    channels: list[ConfiguredChannel]
    problems: list[Problem]  # open ones (what /matinee feed list shows under "Needs attention")


async def server_health(db: Database, guild_id: int) -> ServerHealth:
    """The channels a server configured (announcements, log, each feed's own) and its open delivery problems.

    The cog checks each channel's permissions with discord.py; nothing here needs Discord.
    """
    settings = await GuildSettingsRepository(db).get(guild_id)
    channels: dict[int, ConfiguredChannel] = {}

    def add(channel_id: int | None, role: ChannelRole, use: str) -> None:
        if channel_id:
            entry = channels.setdefault(channel_id, ConfiguredChannel(channel_id))
            entry.roles.add(role)
            entry.uses.append(use)

    add(settings.announce_channel_id, ANNOUNCEMENTS, "announcements")
    add(settings.log_channel_id, LOG, "log")
    for feed, sub in await FeedRepository(db).feeds_of_guild(guild_id):
        add(sub.channel_id, ANNOUNCEMENTS, f"feed {feed.label}")
    return ServerHealth(list(channels.values()), await ProblemLog(db).open_for_guild(guild_id))
