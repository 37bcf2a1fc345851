"""Review comments (members' messages in discussion threads) and the threads' backfill cursors.

Ingest writes (new comments, edits, deletions, reaction counts) go through the
:class:`BatchedWriter`: a busy thread delivers hundreds of messages a second and
one transaction per message would not keep up. The writer keeps the order of
writes, so "insert, then edit, then delete" of one message applies in that order.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ..models import Comment
from .database import Database
from .privacy import MemberData, member_rows
from .writer import BatchedWriter

__all__ = ["DELETED_AUTHOR_NAME", "CommentRepository", "DiscussionThread", "DiscussionThreadRepository"]

DELETED_AUTHOR_NAME = "Deleted User"

_COLUMNS = (
    "message_id, review_id, guild_id, thread_id, author_id, author_name, content, created_at, edited_at, "
    "reply_to_id, attachments, reactions, deleted"
)

# An upsert, so a backfill re-reading a message we already have refreshes it
# (edits made while we were away) instead of failing. A comment marked deleted
# stays deleted; the author's name stays the one they had when posting. Reaction
# counts of a row we already have are left to the live reaction events: a history
# snapshot taken while such an event is in flight would otherwise count it twice.
# (Reactions made while we were away are caught by the fresh-session reconcile.)
_UPSERT = (
    f"INSERT INTO comments ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0) "  # noqa: S608
    "ON CONFLICT (message_id) DO UPDATE SET content = excluded.content, "
    "edited_at = excluded.edited_at, attachments = excluded.attachments "
    "WHERE comments.deleted = 0"
)
# The same upsert for a whole run of rows at once, fed as one JSON array of the
# row tuples below (BatchedWriter.register_bulk explains why). Rows are applied
# in array order (ORDER BY key), so a repeated message id ends as its last row.
# "WHERE true" keeps SQLite's parser from reading ON CONFLICT as a join constraint.
_UPSERT_BULK = (
    f"INSERT INTO comments ({_COLUMNS}) SELECT "  # noqa: S608
    + ", ".join(f"value ->> {i}" for i in range(12))
    + ", 0 FROM json_each(?) WHERE true ORDER BY key "
    "ON CONFLICT (message_id) DO UPDATE SET content = excluded.content, "
    "edited_at = excluded.edited_at, attachments = excluded.attachments "
    "WHERE comments.deleted = 0"
)
_EDIT = "UPDATE comments SET content = ?, edited_at = ?, attachments = ? WHERE message_id = ? AND deleted = 0"
# Refresh a comment from a re-read of history: only a live row is touched, so a comment
# erased by /forget-me (its row deleted) is never brought back.
_REFRESH = (
    "UPDATE comments SET content = ?, edited_at = ?, attachments = ?, reactions = ? "
    "WHERE message_id = ? AND deleted = 0"
)
_SOFT_DELETE = (
    "UPDATE comments SET deleted = 1, content = '', attachments = '[]', reactions = '{}' WHERE message_id = ?"
)
# json path '$."<key>"'; keys are sanitised (no quotes or backslashes) by the caller.
_REACT = (
    "UPDATE comments SET reactions = CASE "
    "WHEN coalesce(json_extract(reactions, ?1), 0) + ?2 <= 0 THEN json_remove(reactions, ?1) "
    "ELSE json_set(reactions, ?1, coalesce(json_extract(reactions, ?1), 0) + ?2) END "
    "WHERE message_id = ?3 AND deleted = 0"
)
_CLEAR_REACTIONS = "UPDATE comments SET reactions = '{}' WHERE message_id = ? AND deleted = 0"
_CLEAR_REACTION = "UPDATE comments SET reactions = json_remove(reactions, ?) WHERE message_id = ? AND deleted = 0"


def reaction_key(emoji: str) -> str:
    """The key a reaction is counted under; never contains a JSON-path metacharacter."""
    return emoji.replace('"', "").replace("\\", "") or "?"


def _json_path(key: str) -> str:
    return f'$."{reaction_key(key)}"'


def _row(comment: Comment) -> tuple:
    # Almost every comment has no attachments and no reactions: skip json.dumps for those (hot path).
    attachments = json.dumps(list(comment.attachments)) if comment.attachments else "[]"
    reactions = (
        # Raw UTF-8 keys, like the live reaction path writes them (one stored form per emoji).
        json.dumps({reaction_key(k): int(v) for k, v in comment.reactions.items() if int(v) > 0}, ensure_ascii=False)
        if comment.reactions
        else "{}"
    )
    return (
        comment.message_id,
        comment.review_id,
        comment.guild_id,
        comment.thread_id,
        comment.author_id,
        comment.author_name,
        comment.content,
        comment.created_at,
        comment.edited_at,
        comment.reply_to_id,
        attachments,
        reactions,
    )


class CommentRepository:
    """Comments of reviews. Writes are batched; reads go straight to the database."""

    def __init__(self, db: Database, writer: BatchedWriter) -> None:
        self._db = db
        self._writer = writer
        writer.register_bulk(_UPSERT, _UPSERT_BULK)

    # -- ingest (batched) ---------------------------------------------------------

    async def store(self, comment: Comment) -> None:
        """Insert or refresh one comment; returns once it is durable."""
        await self._writer.write(_UPSERT, _row(comment))

    async def store_many(self, comments: Iterable[Comment]) -> None:
        await self._writer.write_many(_UPSERT, [_row(c) for c in comments])

    async def edit(self, message_id: int, content: str, edited_at: str | None, attachments: Sequence[str]) -> None:
        await self._writer.write(_EDIT, (content, edited_at, json.dumps(list(attachments)), message_id))

    async def refresh_many(self, comments: Iterable[Comment]) -> None:
        """Update content, edit time, attachments and reactions of comments already stored (and live)."""
        rows = []
        for comment in comments:
            row = _row(comment)
            rows.append((comment.content, comment.edited_at, row[10], row[11], comment.message_id))
        if rows:
            await self._writer.write_many(_REFRESH, rows)

    async def mark_deleted(self, message_ids: Iterable[int]) -> None:
        """Soft delete: the row stays (replies keep their parent) but its content is gone."""
        await self._writer.write_many(_SOFT_DELETE, [(m,) for m in message_ids])

    async def adjust_reaction(self, message_id: int, emoji: str, delta: int) -> None:
        await self._writer.write(_REACT, (_json_path(emoji), delta, message_id))

    async def clear_reactions(self, message_id: int, emoji: str | None = None) -> None:
        if emoji is None:
            await self._writer.write(_CLEAR_REACTIONS, (message_id,))
        else:
            await self._writer.write(_CLEAR_REACTION, (_json_path(emoji), message_id))

    async def anonymise_author(self, author_id: int) -> None:
        """A deleted Discord account: keep its comments, drop who wrote them."""
        await self._writer.write(
            "UPDATE comments SET author_id = 0, author_name = ? WHERE author_id = ?", (DELETED_AUTHOR_NAME, author_id)
        )

    # -- reads --------------------------------------------------------------------

    async def get(self, message_id: int) -> Comment | None:
        row = await self._db.fetchone(f"SELECT {_COLUMNS} FROM comments WHERE message_id = ?", (message_id,))  # noqa: S608
        return Comment.from_row(row) if row else None

    async def for_review(self, review_id: int, *, guild_id: int | None = None) -> list[Comment]:
        """The review's live (not deleted) comments, oldest first."""
        if guild_id is None:
            rows = await self._db.fetchall(
                f"SELECT {_COLUMNS} FROM comments WHERE review_id = ? AND deleted = 0 "  # noqa: S608
                "ORDER BY created_at, message_id",
                (review_id,),
            )
        else:
            rows = await self._db.fetchall(
                f"SELECT {_COLUMNS} FROM comments WHERE review_id = ? AND guild_id = ? AND deleted = 0 "  # noqa: S608
                "ORDER BY created_at, message_id",
                (review_id, guild_id),
            )
        return [Comment.from_row(r) for r in rows]

    async def for_thread(self, thread_id: int) -> list[Comment]:
        rows = await self._db.fetchall(
            f"SELECT {_COLUMNS} FROM comments WHERE thread_id = ? AND deleted = 0 ORDER BY message_id",  # noqa: S608
            (thread_id,),
        )
        return [Comment.from_row(r) for r in rows]

    async def count_for_review(self, review_id: int) -> int:
        return int(
            await self._db.fetchval("SELECT count(*) FROM comments WHERE review_id = ? AND deleted = 0", (review_id,))
        )

    # -- privacy (MemberDataEraser) -------------------------------------------------

    member_data = MemberData("comments", ("comments",))  # comments_fts follows through its triggers

    async def count_member(self, user_id: int, guild_id: int | None) -> int:
        """The member's live comments (tombstones of deleted messages are not counted, but are erased too)."""
        rows, params = member_rows("comments", "author_id", user_id, guild_id, also="deleted = 0")
        return int(await self._db.fetchval(f"SELECT count(*) {rows}", params))

    async def erase_member(self, user_id: int, guild_id: int | None) -> int:
        """Delete the member's comments for good (through the writer, after any of theirs still queued)."""
        count = await self.count_member(user_id, guild_id)
        rows, params = member_rows("comments", "author_id", user_id, guild_id)
        await self._writer.write(f"DELETE {rows}", params)
        return count


@dataclass(frozen=True, slots=True)
class DiscussionThread:
    thread_id: int
    review_id: int
    guild_id: int
    opening_message_id: int | None
    last_message_id: int


class DiscussionThreadRepository:
    """Matinee's own facts about review threads: the opening message and the backfill cursor."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def register(self, thread_id: int, review_id: int, guild_id: int) -> None:
        await self._db.execute(
            "INSERT INTO discussion_threads (thread_id, review_id, guild_id) VALUES (?, ?, ?) "
            "ON CONFLICT (thread_id) DO UPDATE SET review_id = excluded.review_id, guild_id = excluded.guild_id",
            (thread_id, review_id, guild_id),
        )

    async def set_opening(self, thread_id: int, message_id: int) -> None:
        await self._db.execute(
            "UPDATE discussion_threads SET opening_message_id = ? WHERE thread_id = ?", (message_id, thread_id)
        )

    async def get(self, thread_id: int) -> DiscussionThread | None:
        row = await self._db.fetchone(
            "SELECT thread_id, review_id, guild_id, opening_message_id, last_message_id "
            "FROM discussion_threads WHERE thread_id = ?",
            (thread_id,),
        )
        return DiscussionThread(**dict(row)) if row else None

    async def last_message_id(self, thread_id: int) -> int | None:
        """The newest stored message of the thread (backfill reads history after it); None if none."""
        value = await self._db.fetchval(
            "SELECT last_message_id FROM discussion_threads WHERE thread_id = ?", (thread_id,)
        )
        return int(value) if value else None

    async def cursors(self) -> dict[int, int]:
        rows = await self._db.fetchall("SELECT thread_id, last_message_id FROM discussion_threads")
        return {int(r[0]): int(r[1]) for r in rows}
