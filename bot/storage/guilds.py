"""Per-guild settings (announcement channel, ping role, log channel, persona, /top's minimum votes…)."""

from __future__ import annotations

from dataclasses import dataclass

from .database import Database

__all__ = ["DEFAULT_TOP_MIN_VOTES", "GuildSettings", "GuildSettingsRepository"]

DEFAULT_AUTO_ARCHIVE_MINUTES = 10080  # one week
DEFAULT_TOP_MIN_VOTES = 3  # the column's default in migration 0008

_COLUMNS = (
    "guild_id, announce_channel_id, ping_role_id, log_channel_id, forum_tag_id, auto_archive_minutes, persona, "
    "top_min_votes"
)
_UPDATABLE = frozenset(
    {
        "announce_channel_id",
        "ping_role_id",
        "log_channel_id",
        "forum_tag_id",
        "auto_archive_minutes",
        "persona",
        "top_min_votes",
    }
)


@dataclass(frozen=True, slots=True)
class GuildSettings:
    guild_id: int
    announce_channel_id: int | None = None
    ping_role_id: int | None = None
    log_channel_id: int | None = None
    forum_tag_id: int | None = None
    auto_archive_minutes: int = DEFAULT_AUTO_ARCHIVE_MINUTES
    persona: str | None = None
    top_min_votes: int = DEFAULT_TOP_MIN_VOTES


class GuildSettingsRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, guild_id: int) -> GuildSettings:
        """The guild's settings, or the defaults when it never ran setup."""
        row = await self._db.fetchone(
            f"SELECT {_COLUMNS} FROM guild_settings WHERE guild_id = ?",  # noqa: S608 - fixed column list
            (guild_id,),
        )
        return GuildSettings(**dict(row)) if row else GuildSettings(guild_id=guild_id)

    async def update(self, guild_id: int, **changes: int | str | None) -> GuildSettings:
        """Set the given fields (creating the row if needed) and return the result."""
        unknown = set(changes) - _UPDATABLE
        if unknown:
            raise ValueError(f"unknown guild settings: {sorted(unknown)}")
        if changes:
            names = sorted(changes)
            assignments = ", ".join(f"{name} = excluded.{name}" for name in names)
            await self._db.execute(
                # Column names come from the _UPDATABLE whitelist, never from input.
                f"INSERT INTO guild_settings (guild_id, {', '.join(names)}) "  # noqa: S608
                f"VALUES (?, {', '.join('?' for _ in names)}) "
                f"ON CONFLICT (guild_id) DO UPDATE SET {assignments}, "
                "updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')",
                (guild_id, *(changes[name] for name in names)),
            )
        return await self.get(guild_id)

    async def configured(self) -> list[GuildSettings]:
        """Guilds with an announcement channel: the ones that receive reviews."""
        rows = await self._db.fetchall(
            f"SELECT {_COLUMNS} FROM guild_settings "  # noqa: S608 - fixed column list
            "WHERE announce_channel_id IS NOT NULL ORDER BY guild_id"
        )
        return [GuildSettings(**dict(row)) for row in rows]

    async def forget_guild(self, guild_id: int) -> None:
        await self._db.execute("DELETE FROM guild_settings WHERE guild_id = ?", (guild_id,))
