"""Chat memory and token usage.

Conversations are keyed by the Discord channel, thread or DM channel they happen
in, so each thread is its own conversation and a restart loses nothing. Usage is
counted per guild per UTC day for the daily token budget (guild 0 = DMs).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .database import Database
from .privacy import MemberData, member_rows

__all__ = ["ConversationRepository", "ConversationTurn", "UsageRepository"]


@dataclass(frozen=True, slots=True)
class ConversationTurn:
    id: int
    conversation_id: int
    role: str  # 'user' | 'assistant'
    content: str
    tokens: int
    author_id: int | None
    author_name: str | None
    created_at: str


class ConversationRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(
        self,
        conversation_id: int,
        *,
        role: str,
        content: str,
        tokens: int,
        guild_id: int | None = None,
        author_id: int | None = None,
        author_name: str | None = None,
    ) -> None:
        await self._db.execute(
            "INSERT INTO chat_messages (conversation_id, guild_id, author_id, author_name, role, content, tokens) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (conversation_id, guild_id, author_id, author_name, role, content, tokens),
        )

    async def add_turns(
        self,
        conversation_id: int,
        *,
        guild_id: int | None,
        turns: Sequence[tuple[str, str, int, int | None, str | None]],
    ) -> None:
        """Store an exchange in one transaction: (role, content, tokens, author_id, author_name) each."""
        await self._db.executemany(
            "INSERT INTO chat_messages (conversation_id, guild_id, role, content, tokens, author_id, author_name) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(conversation_id, guild_id, *turn) for turn in turns],
        )

    async def recent(self, conversation_id: int, *, limit: int = 40) -> list[ConversationTurn]:
        """The newest turns, newest first (the order the prompt packer consumes them in)."""
        rows = await self._db.fetchall(
            "SELECT id, conversation_id, role, content, tokens, author_id, author_name, created_at "
            "FROM chat_messages WHERE conversation_id = ? ORDER BY id DESC LIMIT ?",
            (conversation_id, limit),
        )
        # The selected column names are the dataclass fields.
        return [ConversationTurn(**dict(row)) for row in rows]

    async def count(self, conversation_id: int) -> int:
        return int(
            await self._db.fetchval("SELECT count(*) FROM chat_messages WHERE conversation_id = ?", (conversation_id,))
        )

    async def forget_conversation(self, conversation_id: int) -> int:
        """Drop a channel's or thread's whole chat memory; returns the number of turns removed."""
        return await self._db.execute("DELETE FROM chat_messages WHERE conversation_id = ?", (conversation_id,))

    # -- privacy (MemberDataEraser) -------------------------------------------------

    # A member's own turns; the bot's replies (author_id NULL) stay. Direct-message
    # conversations have no guild: the NO_SERVER scope takes those.
    member_data = MemberData("chat messages", ("chat_messages",), outside_servers="our direct messages")

    async def count_member(self, user_id: int, guild_id: int | None) -> int:
        rows, params = member_rows("chat_messages", "author_id", user_id, guild_id)
        return int(await self._db.fetchval(f"SELECT count(*) {rows}", params))

    async def erase_member(self, user_id: int, guild_id: int | None) -> int:
        rows, params = member_rows("chat_messages", "author_id", user_id, guild_id)
        return await self._db.execute(f"DELETE {rows}", params)


class UsageRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(self, guild_id: int, day: str, tokens: int) -> None:
        await self._db.execute(
            "INSERT INTO chat_usage (guild_id, day, tokens, requests) VALUES (?, ?, ?, 1) "
            "ON CONFLICT (guild_id, day) DO UPDATE SET tokens = tokens + excluded.tokens, requests = requests + 1",
            (guild_id, day, max(0, int(tokens))),
        )

    async def tokens_on(self, guild_id: int, day: str) -> int:
        value = await self._db.fetchval("SELECT tokens FROM chat_usage WHERE guild_id = ? AND day = ?", (guild_id, day))
        return int(value or 0)

    async def prune(self, before_day: str) -> int:
        """Forget usage older than ``before_day`` (nothing reads it after the day ends)."""
        return await self._db.execute("DELETE FROM chat_usage WHERE day < ?", (before_day,))
