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
from .forgotten import not_forgotten
from .privacy import MemberData, member_rows
from .writer import BatchedWriter

__all__ = [
    "DELETED_AUTHOR_NAME",
    "CommentRepository",
    "DiscussionThread",
    "DiscussionThreadRepository",
    "RecheckPosition",
]

DELETED_AUTHOR_NAME = "Deleted User"

_COLUMNS = (
    "message_id, review_id, guild_id, thread_id, author_id, author_name, content, created_at, edited_at, "
    "reply_to_id, attachments, reactions, deleted"
)
# What reads select: the stored columns and where the comment comes from (a member, or the blog).
_READ_COLUMNS = _COLUMNS + ", source, source_url"
# A reply to Matinee's mirror of a blog comment (bot/bridge) is a reply to that blog comment:
# the mirror's Discord id becomes the blog comment's own id in the same write.
_MIRRORED = "coalesce((SELECT -p.comment_id FROM blog_comment_posts AS p WHERE p.message_id = {0}), {0})"

# An upsert, so a backfill re-reading a message we already have refreshes it
# (edits made while we were away) instead of failing. A comment marked deleted
# stays deleted; the author's name stays the one they had when posting. Reaction
# counts of a row we already have are left to the live reaction events: a history
# snapshot taken while such an event is in flight would otherwise count it twice.
# (Reactions made while we were away are caught by the fresh-session reconcile.)
# A message its author wrote before asking to be forgotten is never stored again,
# however it arrives (live, backfill, re-check): see bot/storage/forgotten.py.
_ON_CONFLICT = (
    "ON CONFLICT (message_id) DO UPDATE SET content = excluded.content, "
    "edited_at = excluded.edited_at, attachments = excluded.attachments "
    "WHERE comments.deleted = 0"
)
_UPSERT = (
    f"INSERT INTO comments ({_COLUMNS}) SELECT "
    + ", ".join(_MIRRORED.format("?10") if i == 10 else f"?{i}" for i in range(1, 13))
    + f", 0 WHERE {not_forgotten(user='?5', guild='?3', snowflake='?1')} {_ON_CONFLICT}"
)
# The same upsert for a whole run of rows at once, fed as one JSON array of the
# row tuples below (BatchedWriter.register_bulk explains why). Rows are applied
# in array order (ORDER BY key), so a repeated message id ends as its last row.
# The WHERE clause also keeps SQLite's parser from reading ON CONFLICT as a join constraint.
_UPSERT_BULK = (
    f"INSERT INTO comments ({_COLUMNS}) SELECT "  # noqa: S608
    + ", ".join(_MIRRORED.format("value ->> 9") if i == 9 else f"value ->> {i}" for i in range(12))
    + f", 0 FROM json_each(?) WHERE {not_forgotten(user='value ->> 4', guild='value ->> 2', snowflake='value ->> 0')} "
    f"ORDER BY key {_ON_CONFLICT}"
)
_EDIT = "UPDATE comments SET content = ?, edited_at = ?, attachments = ? WHERE message_id = ? AND deleted = 0"
# Refresh a comment from a re-read of history. Only a live row is touched, so a comment
# erased by /forget-me (its row deleted) is never brought back; and only if the row is
# still as it was read (compare and set), so a live event handled meanwhile is not
# overwritten by the older snapshot. An edit is taken only when it is newer than the
# stored one: a snapshot read just before a live edit must not undo it.
_REFRESH_EDIT = (
    "UPDATE comments SET content = ?1, edited_at = ?2, attachments = ?3 "
    "WHERE message_id = ?4 AND deleted = 0 AND content = ?5 AND edited_at IS ?6 AND ?2 > coalesce(edited_at, '')"
)
_REFRESH_REACTIONS = (
    "UPDATE comments SET reactions = ?1 WHERE message_id = ?2 AND deleted = 0 "
    "AND CASE WHEN json_valid(reactions) THEN json(reactions) = json(?3) ELSE 0 END"
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

    async def refresh_many(self, changes: Iterable[tuple[Comment, Comment]]) -> None:
        """Bring stored (live) comments to what a re-read of history found: ``(as stored, as found)`` pairs.

        The edit (content, edit time, attachments) and the reaction counts are set
        separately, each only if that part of the row is still as stored: a live
        event handled since the row was read wins over the re-read.
        """
        edits, reactions = [], []
        for stored, found in changes:
            row = _row(found)
            if (found.content, found.edited_at, found.attachments) != (
                stored.content,
                stored.edited_at,
                stored.attachments,
            ):
                edits.append((found.content, found.edited_at, row[10], found.message_id, stored.content,
                              stored.edited_at))  # fmt: skip
            if dict(found.reactions) != dict(stored.reactions):
                reactions.append((row[11], found.message_id, _row(stored)[11]))
        if edits:
            await self._writer.write_many(_REFRESH_EDIT, edits)
        if reactions:
            await self._writer.write_many(_REFRESH_REACTIONS, reactions)

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
        row = await self._db.fetchone(
            f"SELECT {_READ_COLUMNS} FROM comments WHERE message_id = ?", (message_id,)  # noqa: S608
        )
        return Comment.from_row(row) if row else None

    async def for_review(self, review_id: int, *, guild_id: int | None = None) -> list[Comment]:
        """The review's live (not deleted) comments, oldest first: one server's (with ``guild_id``) and the blog's."""
        if guild_id is None:
            rows = await self._db.fetchall(
                f"SELECT {_READ_COLUMNS} FROM comments WHERE review_id = ? AND deleted = 0 "  # noqa: S608
                "ORDER BY created_at, message_id",
                (review_id,),
            )
        else:
            rows = await self._db.fetchall(
                f"SELECT {_READ_COLUMNS} FROM comments WHERE review_id = ? "  # noqa: S608
                "AND (guild_id = ? OR source = 'blog') AND deleted = 0 ORDER BY created_at, message_id",
                (review_id, guild_id),
            )
        return [Comment.from_row(r) for r in rows]

    async def for_thread(self, thread_id: int) -> list[Comment]:
        rows = await self._db.fetchall(
            f"SELECT {_READ_COLUMNS} FROM comments WHERE thread_id = ? AND deleted = 0 ORDER BY message_id",  # noqa: S608
            (thread_id,),
        )
        return [Comment.from_row(r) for r in rows]

    async def for_thread_between(self, thread_id: int, oldest_id: int, newest_id: int) -> list[Comment]:
        """The thread's live comments with ids from ``oldest_id`` to ``newest_id`` (inclusive), oldest first."""
        rows = await self._db.fetchall(
            f"SELECT {_COLUMNS} FROM comments WHERE thread_id = ? AND message_id BETWEEN ? AND ? "  # noqa: S608
            "AND deleted = 0 ORDER BY message_id",
            (thread_id, oldest_id, newest_id),
        )
        return [Comment.from_row(r) for r in rows]

    async def known_ids(self, message_ids: Iterable[int]) -> set[int]:
        """Those of ``message_ids`` that have a row (live or deleted): what a re-read need not store."""
        ids = list(message_ids)
        if not ids:
            return set()
        rows = await self._db.fetchall(
            "SELECT message_id FROM comments WHERE message_id IN (SELECT value FROM json_each(?))", (json.dumps(ids),)
        )
        return {int(r[0]) for r in rows}

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
    last_message_id: int  # read up to here: the backfill's cursor
    backfill_owed: int = 0  # 0: nothing unread before the live stream; else a backfill is owed
    opening_attempts: int = 0  # sends of the opening whose message id was never stored


@dataclass(frozen=True, slots=True)
class RecheckPosition:
    """Where a thread's background re-check of older comments is (``*_recheck_and_openings.sql`` explains the walk).

    Messages older than ``before`` are still to be re-read. ``until`` is None for a
    walk that ends at the thread's start; otherwise the walk goes on from the
    thread's newest message after reaching its start, and ends at ``until``.
    """

    thread_id: int
    before: int
    until: int | None = None

    @property
    def wrapped(self) -> bool:
        """Past the thread's start and back from its newest message, on the way down to ``until``."""
        return self.until is not None and self.before > self.until


class DiscussionThreadRepository:
    """Matinee's own facts about review threads: the opening message and the backfill cursor.

    The cursor (``last_message_id``) says "every message up to here has been read".
    A backfill moves it page by page as it reads; a live message moves it (a trigger
    on ``comments``) only while the thread owes no backfill, so it never jumps over
    messages nobody read. ``backfill_owed`` counts the gaps opened since the thread
    was last read to the end (migration 0006 explains the counter).
    """

    def __init__(self, db: Database) -> None:
        self._db = db

    async def register(self, thread_id: int, review_id: int, guild_id: int, *, owes_backfill: bool = False) -> None:
        """Know a thread as a review's; ``owes_backfill`` for a thread members may have written in already.

        A thread Matinee adopts (a forum post made before it was known as a review
        thread) may hold messages nobody read: it starts owing a backfill, so the
        first live message cannot move the cursor past them.
        """
        await self._db.execute(
            "INSERT INTO discussion_threads (thread_id, review_id, guild_id, backfill_owed) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (thread_id) DO UPDATE SET review_id = excluded.review_id, guild_id = excluded.guild_id",
            (thread_id, review_id, guild_id, int(owes_backfill)),
        )

    async def set_opening(self, thread_id: int, message_id: int) -> None:
        await self._db.execute(
            "UPDATE discussion_threads SET opening_message_id = ? WHERE thread_id = ?", (message_id, thread_id)
        )

    async def opening_attempted(self, thread_id: int) -> None:
        """The opening is about to be sent: from now on a crash or a lost answer may leave it posted unseen."""
        await self._db.execute(
            "UPDATE discussion_threads SET opening_attempts = opening_attempts + 1 WHERE thread_id = ?", (thread_id,)
        )

    async def unopened(self, sent_since: str) -> list[tuple[int, int]]:
        """(review id, guild id) of announcements sent since ``sent_since`` whose discussion has no opening yet.

        The thread was never made, or its opening message never recorded: the
        process stopped in between, or Discord failed. Oldest first.
        """
        rows = await self._db.fetchall(
            "SELECT a.review_id, a.guild_id FROM announcements AS a "
            "LEFT JOIN discussion_threads AS t ON t.thread_id = a.thread_id "
            "WHERE a.state = 'sent' AND a.message_id IS NOT NULL AND a.sent_at >= ? "
            "AND t.opening_message_id IS NULL ORDER BY a.sent_at, a.review_id, a.guild_id",
            (sent_since,),
        )
        return [(int(r[0]), int(r[1])) for r in rows]

    async def get(self, thread_id: int) -> DiscussionThread | None:
        row = await self._db.fetchone(
            "SELECT thread_id, review_id, guild_id, opening_message_id, last_message_id, backfill_owed, "
            "opening_attempts FROM discussion_threads WHERE thread_id = ?",
            (thread_id,),
        )
        return DiscussionThread(**dict(row)) if row else None

    async def last_message_id(self, thread_id: int) -> int | None:
        """The thread's cursor: every message up to it has been read (backfill resumes after it); None if none."""
        value = await self._db.fetchval(
            "SELECT last_message_id FROM discussion_threads WHERE thread_id = ?", (thread_id,)
        )
        return int(value) if value else None

    async def newest_known(self, thread_id: int) -> int:
        """The newest message of the thread Matinee knows: the cursor or the newest stored comment (0: none)."""
        value = await self._db.fetchval(
            "SELECT max(coalesce((SELECT last_message_id FROM discussion_threads WHERE thread_id = ?1), 0), "
            "coalesce((SELECT max(message_id) FROM comments WHERE thread_id = ?1), 0))",
            (thread_id,),
        )
        return int(value or 0)

    async def cursors(self) -> dict[int, int]:
        rows = await self._db.fetchall("SELECT thread_id, last_message_id FROM discussion_threads")
        return {int(r[0]): int(r[1]) for r in rows}

    # -- gaps --------------------------------------------------------------------------

    async def open_gap(self, guild_id: int | None = None) -> None:
        """Events may be lost from now on: every thread (of one server) owes a backfill."""
        if guild_id is None:
            await self._db.execute("UPDATE discussion_threads SET backfill_owed = backfill_owed + 1")
        else:
            await self._db.execute(
                "UPDATE discussion_threads SET backfill_owed = backfill_owed + 1 WHERE guild_id = ?", (guild_id,)
            )

    async def owed(self, thread_id: int) -> int:
        """0 when the thread owes no backfill; otherwise the gap counter a backfill must settle."""
        value = await self._db.fetchval(
            "SELECT backfill_owed FROM discussion_threads WHERE thread_id = ?", (thread_id,)
        )
        return int(value or 0)

    async def owing(self) -> list[int]:
        """Every thread that owes a backfill (for diagnostics and tests)."""
        rows = await self._db.fetchall(
            "SELECT thread_id FROM discussion_threads WHERE backfill_owed > 0 ORDER BY thread_id"
        )
        return [int(r[0]) for r in rows]

    async def advance(self, thread_id: int, message_id: int) -> None:
        """A backfill has read (and stored) everything up to ``message_id``: move the cursor there."""
        await self._db.execute(
            "UPDATE discussion_threads SET last_message_id = max(last_message_id, ?) WHERE thread_id = ?",
            (message_id, thread_id),
        )

    async def settle(self, thread_id: int, owed: int) -> bool:
        """A backfill that started when the counter was ``owed`` read the thread to its end.

        Clears the debt only if no gap opened meanwhile; True when cleared.
        """
        if not owed:
            return True
        changed = await self._db.execute(
            "UPDATE discussion_threads SET backfill_owed = 0 WHERE thread_id = ? AND backfill_owed = ?",
            (thread_id, owed),
        )
        return changed > 0

    # -- the background re-check of older comments --------------------------------------

    async def owe_recheck(self, thread_id: int, before: int) -> None:
        """A gap opened: the messages older than ``before`` are to be re-read (the newer ones just were).

        With no walk under way, one starts at ``before``. A walk already under way
        (at a position below ``before``) goes on from where it is, to the thread's
        start, and then from the newest message down to that position: everything
        is re-read once after this gap, and a restart does not start over.
        """
        await self._db.execute(
            "UPDATE discussion_threads SET "
            "recheck_until = CASE WHEN recheck_before IS NULL OR recheck_before >= ?2 THEN NULL "
            "ELSE recheck_before END, "
            "recheck_before = CASE WHEN recheck_before IS NULL OR recheck_before >= ?2 THEN ?2 "
            "ELSE recheck_before END "
            "WHERE thread_id = ?1",
            (thread_id, before),
        )

    async def clear_recheck(self, thread_id: int) -> None:
        """Nothing older is owed a re-check (the thread is short, gone, or was walked to the end)."""
        await self._db.execute(
            "UPDATE discussion_threads SET recheck_before = NULL, recheck_until = NULL WHERE thread_id = ?",
            (thread_id,),
        )

    async def recheck_position(self, thread_id: int) -> RecheckPosition | None:
        row = await self._db.fetchone(
            "SELECT thread_id, recheck_before, recheck_until FROM discussion_threads "
            "WHERE thread_id = ? AND recheck_before IS NOT NULL",
            (thread_id,),
        )
        return RecheckPosition(int(row[0]), int(row[1]), row[2]) if row else None

    async def rechecks_owed(self) -> list[RecheckPosition]:
        """Every thread whose older comments are still to be re-checked, by thread id."""
        rows = await self._db.fetchall(
            "SELECT thread_id, recheck_before, recheck_until FROM discussion_threads "
            "WHERE recheck_before IS NOT NULL ORDER BY thread_id"
        )
        return [RecheckPosition(int(r[0]), int(r[1]), r[2]) for r in rows]

    async def move_recheck(self, at: RecheckPosition, before: int | None, until: int | None) -> bool:
        """Move the walk from ``at`` to ``before`` (None: done), unless a new gap moved it meanwhile."""
        changed = await self._db.execute(
            "UPDATE discussion_threads SET recheck_before = ?, recheck_until = ? "
            "WHERE thread_id = ? AND recheck_before IS ? AND recheck_until IS ?",
            (before, until if before is not None else None, at.thread_id, at.before, at.until),
        )
        return changed > 0
