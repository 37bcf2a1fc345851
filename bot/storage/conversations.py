"""Chat memory and token usage.

Conversations are keyed by the Discord channel, thread or DM channel they happen
in, so each thread is its own conversation and a restart loses nothing. Usage is
counted per guild per UTC day for the daily token budget (guild 0 = DMs). The times
of each member's recent requests are kept for the per-member rate limit, so a
restart does not hand out a fresh allowance either.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .database import Database
from .privacy import MemberData, member_rows

__all__ = ["ChatRequestRepository", "ConversationRepository", "ConversationTurn", "UsageRepository"]


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
    # conversations have no guild: the NO_SERVER scope takes those. The times of the
    # member's recent requests (the rate limit's record, chat_requests) belong to the
    # same feature and go with them, uncounted: the member is told about what they said.
    member_data = MemberData("chat messages", ("chat_messages", "chat_requests"), outside_servers="our direct messages")

    async def count_member(self, user_id: int, guild_id: int | None) -> int:
        rows, params = member_rows("chat_messages", "author_id", user_id, guild_id)
        return int(await self._db.fetchval(f"SELECT count(*) {rows}", params))

    async def erase_member(self, user_id: int, guild_id: int | None) -> int:
        turns, params = member_rows("chat_messages", "author_id", user_id, guild_id)
        requests, request_params = member_rows("chat_requests", "user_id", user_id, guild_id)
        async with self._db.transaction() as conn:
            async with conn.execute(f"DELETE {turns}", params) as cursor:
                erased = cursor.rowcount
            await (await conn.execute(f"DELETE {requests}", request_params)).close()
        return erased


class ChatRequestRepository:
    """When each member's counted chat requests were made: the record behind the sliding-window limit.

    One row per request, keyed by member and server (``guild_id`` NULL for direct
    messages); only the last window's rows matter and :meth:`prune` drops the rest.
    Erased with the member's chat messages (:class:`ConversationRepository`).
    """

    def __init__(self, db: Database) -> None:
        self._db = db

    async def record_unless_full(
        self, guild_id: int | None, user_id: int, *, at: float, since: float, limit: int
    ) -> bool:
        """Record a request at ``at`` unless the member made ``limit`` or more after ``since``; True if recorded.

        Check and insert are one statement, so concurrent requests of a member can't
        both slip under the limit; the count reads at most ``limit`` index entries.
        """
        recorded = await self._db.execute(
            "INSERT INTO chat_requests (guild_id, user_id, at) SELECT :guild, :user, :at "
            "WHERE (SELECT count(*) FROM (SELECT 1 FROM chat_requests "
            "WHERE user_id = :user AND guild_id IS :guild AND at > :since LIMIT :limit)) < :limit",
            {"guild": guild_id, "user": user_id, "at": at, "since": since, "limit": limit},
        )
        return recorded == 1

    async def nth_newest(self, guild_id: int | None, user_id: int, *, since: float, n: int) -> float | None:
        """The time of the member's ``n``-th newest request after ``since`` (1 = the newest), if there is one.

        With a limit of ``n``, a member is allowed again when that request leaves the window.
        """
        value = await self._db.fetchval(
            "SELECT at FROM chat_requests WHERE user_id = ? AND guild_id IS ? AND at > ? "
            "ORDER BY at DESC LIMIT 1 OFFSET ?",
            (user_id, guild_id, since, max(0, n - 1)),
        )
        return None if value is None else float(value)

    async def prune(self, before: float) -> int:
        """Forget requests made at or before ``before`` (outside every window); returns how many."""
        return await self._db.execute("DELETE FROM chat_requests WHERE at <= ?", (before,))


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
