"""The web side's storage: publishing per server, members' consent, staff hides, the change log,
and the public reads the HTTP server makes.

Every public read goes through the ``web_public_comments`` view (migration 0008), the
one definition of what a blog reader may see, and reads reviews from ``published_reviews``:
a review withdrawn from the blog is not served. The reads the HTTP server makes run as
one function on the read connection (:meth:`Database.read`), inside one read
transaction, so a document and the change-log position it reflects come from the same
snapshot and the server never queues behind the bot's writes.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Literal, TypeVar

from ..models import Comment, Review
from .database import Database
from .privacy import MemberData, member_rows
from .review_names import resolve_review_id, review_ids_by_url_key
from .reviews import _REVIEW_COLUMNS

__all__ = [
    "CONSENT_MODES",
    "Change",
    "DiscussionLink",
    "PublicSnapshot",
    "ReviewCounts",
    "WebGuild",
    "WebRepository",
]

ConsentMode = Literal["notice", "opt-in"]
CONSENT_MODES: tuple[str, ...] = ("notice", "opt-in")
PRUNED_KEY = "web.changes_pruned_before"
T = TypeVar("T")

_COMMENT_COLUMNS = (
    "message_id, review_id, guild_id, thread_id, author_id, author_name, content, created_at, edited_at, "
    "reply_to_id, attachments, reactions, deleted, source, source_url"
)


@dataclass(frozen=True, slots=True)
class WebGuild:
    guild_id: int
    publish: bool = False
    consent_mode: str = "notice"
    invite_url: str | None = None
    guild_name: str | None = None


@dataclass(frozen=True, slots=True)
class Change:
    """One row of the change log."""

    seq: int
    review_id: int
    kind: str
    message_id: int | None


@dataclass(frozen=True, slots=True)
class DiscussionLink:
    """A published server's thread about the review (ids are Discord's, never a member's)."""

    guild_id: int
    thread_id: int
    guild_name: str | None
    invite_url: str | None


@dataclass(frozen=True, slots=True)
class PublicSnapshot:
    """Everything the public view of one review's discussion is built from, read in one transaction."""

    review: Review
    comments: list[Comment]
    poll_counts: dict[int, int]
    poll_final: bool
    member_rating: tuple[float | None, int] | None
    discussions: list[DiscussionLink]
    seq: int  # the change log's newest seq in this snapshot
    review_seq: int  # the newest seq that touched this review (the ETag's version)


@dataclass(frozen=True, slots=True)
class ReviewCounts:
    review_id: int
    comments: int
    poll_counts: dict[int, int]


def _in_read_transaction(conn: sqlite3.Connection, fn: Callable[[sqlite3.Cursor], T]) -> T:
    """Run ``fn`` in one read transaction: every statement sees the same snapshot."""
    cursor = conn.cursor()
    cursor.row_factory = sqlite3.Row
    cursor.execute("BEGIN")
    try:
        return fn(cursor)
    finally:
        cursor.execute("COMMIT")
        cursor.close()


def _max_seq(cur: sqlite3.Cursor) -> int:
    return int(cur.execute("SELECT coalesce(max(seq), 0) FROM web_changes").fetchone()[0])


def _review_seq(cur: sqlite3.Cursor, review_id: int) -> int:
    row = cur.execute("SELECT coalesce(max(seq), 0) FROM web_changes WHERE review_id = ?", (review_id,)).fetchone()
    return int(row[0])


_PUBLISHING_POLLS = "FROM discussion_polls AS p JOIN web_guilds AS g ON g.guild_id = p.guild_id AND g.publish = 1 "


def _poll_counts(cur: sqlite3.Cursor, review_id: int) -> tuple[dict[int, int], bool]:
    """Star counts over the review's polls in publishing servers (final counts where a poll closed)."""
    rows = cur.execute(
        "SELECT answer_id, sum(votes) FROM ("  # noqa: S608 - constant fragments only
        "  SELECT r.answer_id AS answer_id, r.votes AS votes " + _PUBLISHING_POLLS + ""
        "  JOIN poll_results AS r ON r.message_id = p.message_id WHERE p.review_id = ?1 AND p.finalized_at IS NOT NULL"
        "  UNION ALL"
        "  SELECT v.answer_id, count(*) " + _PUBLISHING_POLLS + ""
        "  JOIN poll_votes AS v ON v.message_id = p.message_id WHERE p.review_id = ?1 AND p.finalized_at IS NULL"
        "  GROUP BY v.answer_id"
        ") GROUP BY answer_id",
        (review_id,),
    ).fetchall()
    polls = cur.execute(
        "SELECT count(*), coalesce(sum(p.finalized_at IS NOT NULL), 0) " + _PUBLISHING_POLLS + "WHERE p.review_id = ?",
        (review_id,),
    ).fetchone()
    final = bool(polls[0]) and polls[0] == polls[1]
    return {int(r[0]): int(r[1]) for r in rows}, final


def _member_rating(cur: sqlite3.Cursor, film_id: int | None) -> tuple[float | None, int] | None:
    """The film's average member rating and vote count in publishing servers; None without a film."""
    if film_id is None:
        return None
    row = cur.execute(
        "SELECT avg(f.stars), count(*) FROM film_ratings AS f "
        "JOIN web_guilds AS g ON g.guild_id = f.guild_id AND g.publish = 1 WHERE f.film_id = ?",
        (film_id,),
    ).fetchone()
    return (row[0], int(row[1]))


def _snapshot(cur: sqlite3.Cursor, review_id: int) -> PublicSnapshot | None:
    row = cur.execute(f"SELECT {_REVIEW_COLUMNS} FROM published_reviews WHERE id = ?", (review_id,)).fetchone()  # noqa: S608
    if row is None:
        return None
    review = Review.from_row(row)
    seq = _max_seq(cur)
    comments = [
        Comment.from_row(r)
        for r in cur.execute(
            f"SELECT {_COMMENT_COLUMNS} FROM web_public_comments WHERE review_id = ? "  # noqa: S608
            "ORDER BY created_at, message_id",
            (review_id,),
        )
    ]
    counts, final = _poll_counts(cur, review_id)
    discussions = [
        DiscussionLink(int(r[0]), int(r[1]), r[2], r[3])
        for r in cur.execute(
            "SELECT a.guild_id, a.thread_id, g.guild_name, g.invite_url FROM announcements AS a "
            "JOIN web_guilds AS g ON g.guild_id = a.guild_id AND g.publish = 1 "
            "WHERE a.review_id = ? AND a.thread_id IS NOT NULL AND a.state = 'sent' ORDER BY a.guild_id",
            (review_id,),
        )
    ]
    return PublicSnapshot(
        review,
        comments,
        counts,
        final,
        _member_rating(cur, review.film_id),
        discussions,
        seq,
        _review_seq(cur, review_id),
    )


class WebRepository:
    """Publishing settings, consent, hides and the change log; the public reads for the HTTP server."""

    def __init__(self, db: Database) -> None:
        self._db = db

    # -- servers ------------------------------------------------------------------------

    async def guild(self, guild_id: int) -> WebGuild:
        row = await self._db.fetchone(
            "SELECT guild_id, publish, consent_mode, invite_url, guild_name FROM web_guilds WHERE guild_id = ?",
            (guild_id,),
        )
        if row is None:
            return WebGuild(guild_id)
        return WebGuild(int(row[0]), bool(row[1]), row[2], row[3], row[4])

    async def is_publishing(self, guild_id: int) -> bool:
        return bool(await self._db.fetchval("SELECT publish FROM web_guilds WHERE guild_id = ?", (guild_id,)))

    async def update_guild(
        self,
        guild_id: int,
        *,
        publish: bool | None = None,
        consent_mode: str | None = None,
        invite_url: str | None = None,
        clear_invite: bool = False,
        guild_name: str | None = None,
    ) -> WebGuild:
        """Change what is given (creating the row with defaults: not publishing, notice mode)."""
        if consent_mode is not None and consent_mode not in CONSENT_MODES:
            raise ValueError(f"unknown consent mode {consent_mode!r}")
        current = await self.guild(guild_id)
        updated = WebGuild(
            guild_id,
            current.publish if publish is None else publish,
            consent_mode or current.consent_mode,
            None if clear_invite else (invite_url or current.invite_url),
            guild_name or current.guild_name,
        )
        if updated == current and await self._db.fetchval("SELECT 1 FROM web_guilds WHERE guild_id = ?", (guild_id,)):
            return current  # unchanged: no write, no change-log churn
        await self._db.execute(
            "INSERT INTO web_guilds (guild_id, publish, consent_mode, invite_url, guild_name) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (guild_id) DO UPDATE SET publish = excluded.publish, consent_mode = excluded.consent_mode, "
            "invite_url = excluded.invite_url, guild_name = excluded.guild_name, "
            "updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')",
            (guild_id, int(updated.publish), updated.consent_mode, updated.invite_url, updated.guild_name),
        )
        return updated

    async def rename_guild(self, guild_id: int, name: str) -> None:
        """Keep the server's name (shown on the blog next to its thread link) current; only known servers."""
        await self._db.execute(
            "UPDATE web_guilds SET guild_name = ? WHERE guild_id = ? AND guild_name IS NOT ?", (name, guild_id, name)
        )

    async def opening_messages(self, guild_id: int) -> list[tuple[int, int]]:
        """(thread id, opening message id) of the server's review threads, for the consent notice."""
        rows = await self._db.fetchall(
            "SELECT thread_id, opening_message_id FROM discussion_threads "
            "WHERE guild_id = ? AND opening_message_id IS NOT NULL ORDER BY thread_id",
            (guild_id,),
        )
        return [(int(r[0]), int(r[1])) for r in rows]

    # -- members' choices ---------------------------------------------------------------------

    async def preference(self, guild_id: int, user_id: int) -> bool | None:
        """True: show on the blog; False: hide; None: the server's consent mode decides."""
        value = await self._db.fetchval(
            "SELECT show FROM web_member_prefs WHERE guild_id = ? AND user_id = ?", (guild_id, user_id)
        )
        return None if value is None else bool(value)

    async def set_preference(self, guild_id: int, user_id: int, show: bool) -> None:
        await self._db.execute(
            "INSERT INTO web_member_prefs (guild_id, user_id, show) VALUES (?, ?, ?) "
            "ON CONFLICT (guild_id, user_id) DO UPDATE SET show = excluded.show, "
            "updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE web_member_prefs.show IS NOT excluded.show",
            (guild_id, user_id, int(show)),
        )

    # -- the privacy contract (bot/storage/privacy.py) ------------------------------------------

    member_data = MemberData("blog opt-ins", ("web_member_prefs",))

    async def count_member(self, user_id: int, guild_id: int | None) -> int:
        sql, params = member_rows("web_member_prefs", "user_id", user_id, guild_id, also="show = 1")
        return int(await self._db.fetchval(f"SELECT count(*) {sql}", params) or 0)

    async def erase_member(self, user_id: int, guild_id: int | None) -> int:
        """The member's consent to be published goes; returns rows erased.

        A "hide" is kept: it is the member's refusal, like the forgotten mark itself,
        and erasing it would publish whatever they write next in a server using notice
        mode, the opposite of what someone who asks to be forgotten wants. The member
        can still remove it with ``/privacy blog show``.
        """
        sql, params = member_rows("web_member_prefs", "user_id", user_id, guild_id, also="show = 1")
        return await self._db.execute(f"DELETE {sql}", params)

    # -- staff hides ------------------------------------------------------------------------

    async def comment_location(self, message_id: int) -> tuple[int, int, int] | None:
        """(comment id, review id, guild id) of the comment a Discord message shows; None if it shows none.

        A member's message is its own comment. Matinee's mirror of a blog comment
        (bot/bridge) shows that blog comment: staff hide it from the blog through the
        mirror, in the server the mirror is in.
        """
        row = await self._db.fetchone(
            "SELECT message_id, review_id, guild_id FROM comments WHERE message_id = ?1 AND source = 'discord' "
            "UNION ALL SELECT c.message_id, c.review_id, p.guild_id FROM blog_comment_posts AS p "
            "JOIN comments AS c ON c.message_id = -p.comment_id WHERE p.message_id = ?1 LIMIT 1",
            (message_id,),
        )
        return (int(row[0]), int(row[1]), int(row[2])) if row else None

    async def set_hidden(self, message_id: int, hidden: bool) -> bool:
        """Hide a comment from the blog or show it again; returns whether anything changed."""
        if hidden:
            changed = await self._db.execute(
                "INSERT OR IGNORE INTO web_hidden_comments (message_id) VALUES (?)", (message_id,)
            )
        else:
            changed = await self._db.execute("DELETE FROM web_hidden_comments WHERE message_id = ?", (message_id,))
        return changed > 0

    async def is_hidden(self, message_id: int) -> bool:
        return bool(await self._db.fetchval("SELECT 1 FROM web_hidden_comments WHERE message_id = ?", (message_id,)))

    # -- the change log ---------------------------------------------------------------------

    async def prune_changes(self, keep: int) -> int:
        """Drop all but the newest ``keep`` rows, keeping each review's newest row (its ETag version).

        Records where replay stops working, so an SSE client asking to resume from
        before it is told to reload instead of silently missing events.
        """
        newest = int(await self._db.fetchval("SELECT coalesce(max(seq), 0) FROM web_changes"))
        horizon = newest - keep
        if horizon <= 0:
            return 0
        async with self._db.transaction() as conn:
            cursor = await conn.execute(
                "DELETE FROM web_changes WHERE seq < ? "
                "AND seq NOT IN (SELECT max(seq) FROM web_changes GROUP BY review_id)",
                (horizon,),
            )
            removed = cursor.rowcount
            await cursor.close()
            await conn.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = "
                "CAST(max(CAST(meta.value AS INTEGER), CAST(excluded.value AS INTEGER)) AS TEXT)",
                (PRUNED_KEY, str(horizon)),
            )
        return removed

    async def _read(self, fn: Callable[[sqlite3.Cursor], T]) -> T:
        return await self._db.read(lambda conn: _in_read_transaction(conn, fn))

    async def max_seq(self) -> int:
        return await self._read(_max_seq)

    async def changes_after(self, seq: int, limit: int = 5000) -> list[Change]:
        """Changes newer than ``seq``, oldest first (what the tailer reads every tick)."""
        rows = await self._read(
            lambda cur: cur.execute(
                "SELECT seq, review_id, kind, message_id FROM web_changes WHERE seq > ? ORDER BY seq LIMIT ?",
                (seq, limit),
            ).fetchall()
        )
        return [Change(int(r[0]), int(r[1]), r[2], r[3]) for r in rows]

    async def review_changes_after(self, review_id: int, seq: int, limit: int) -> tuple[list[Change], int, int]:
        """One review's changes newer than ``seq``, the log's newest seq, and the replay horizon."""

        def read(cur: sqlite3.Cursor) -> tuple[list[Change], int, int]:
            rows = cur.execute(
                "SELECT seq, review_id, kind, message_id FROM web_changes WHERE review_id = ? AND seq > ? "
                "ORDER BY seq LIMIT ?",
                (review_id, seq, limit),
            ).fetchall()
            horizon = cur.execute("SELECT value FROM meta WHERE key = ?", (PRUNED_KEY,)).fetchone()
            changes = [Change(int(r[0]), int(r[1]), r[2], r[3]) for r in rows]
            return changes, _max_seq(cur), int(horizon[0]) if horizon else 0

        return await self._read(read)

    # -- public reads (read connection) ---------------------------------------------------------

    async def snapshot(self, review_id: int) -> PublicSnapshot | None:
        """The review and what of its discussion is public, from one consistent snapshot."""
        return await self._read(lambda cur: _snapshot(cur, review_id))

    async def find_review_id(self, name: str, *, withdrawn: bool = False) -> int | None:
        """The published review ``name`` names: slug, old slug, id or post address (:mod:`.review_names`).

        ``withdrawn=True`` finds a review withdrawn from the blog instead, so the API can say so.
        """
        state = "IS NOT NULL" if withdrawn else "IS NULL"

        def read(cur: sqlite3.Cursor) -> int | None:
            found = resolve_review_id(cur, name)
            if found is None:
                return None
            row = cur.execute(f"SELECT 1 FROM reviews WHERE id = ? AND withdrawn_at {state}", (found,)).fetchone()  # noqa: S608
            return found if row else None

        return await self._read(read)

    async def review_ids_for_url_keys(self, keys: Iterable[str]) -> dict[str, int]:
        """For each post address key (``normalize_post_url``) a published review has: its oldest one's id."""
        wanted = list(keys)
        return await self._read(lambda cur: review_ids_by_url_key(cur, wanted, published_only=True))

    async def withdrawn_at_url(self, url_key: str) -> bool:
        """Whether the post at this address (in normal form) is a review withdrawn from the blog."""
        row = await self._read(
            lambda cur: cur.execute(
                "SELECT 1 FROM reviews WHERE url_key = ? AND withdrawn_at IS NOT NULL LIMIT 1", (url_key,)
            ).fetchone()
        )
        return row is not None

    async def review_versions(self) -> list[tuple[int, str, int]]:
        """(id, slug, newest change-log seq that touched it, 0 if none) of every published review, by id."""

        def read(cur: sqlite3.Cursor) -> list[tuple[int, str, int]]:
            rows = cur.execute(
                "SELECT r.id, r.slug, "
                "coalesce((SELECT max(w.seq) FROM web_changes AS w WHERE w.review_id = r.id), 0) "
                "FROM published_reviews AS r ORDER BY r.id"
            ).fetchall()
            return [(int(r[0]), str(r[1]), int(r[2])) for r in rows]

        return await self._read(read)

    async def public_comments(self, review_id: int, message_ids: Iterable[int]) -> tuple[dict[int, Comment], int]:
        """The public ones among ``message_ids`` (others are hidden, deleted or not consented), and the count."""
        ids = sorted({int(m) for m in message_ids})

        def read(cur: sqlite3.Cursor) -> tuple[dict[int, Comment], int]:
            found: dict[int, Comment] = {}
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                marks = ", ".join("?" for _ in chunk)
                for row in cur.execute(
                    f"SELECT {_COMMENT_COLUMNS} FROM web_public_comments "  # noqa: S608 - placeholders only
                    f"WHERE review_id = ? AND message_id IN ({marks})",
                    (review_id, *chunk),
                ):
                    found[int(row["message_id"])] = Comment.from_row(row)
            count = cur.execute(
                "SELECT count(*) FROM web_public_comments WHERE review_id = ?", (review_id,)
            ).fetchone()[0]
            return found, int(count)

        return await self._read(read)

    async def rating(self, review_id: int) -> tuple[dict[int, int], bool, tuple[float | None, int] | None]:
        """Poll counts, whether they are final, and the members' film rating, over publishing servers."""

        def read(cur: sqlite3.Cursor) -> tuple[dict[int, int], bool, tuple[float | None, int] | None]:
            counts, final = _poll_counts(cur, review_id)
            film = cur.execute("SELECT film_id FROM reviews WHERE id = ?", (review_id,)).fetchone()
            return counts, final, _member_rating(cur, film[0] if film else None)

        return await self._read(read)

    async def counts(self, review_ids: Sequence[int]) -> dict[int, ReviewCounts]:
        """Public comment count and poll counts of each review (for index pages)."""
        ids = sorted(set(review_ids))

        def read(cur: sqlite3.Cursor) -> dict[int, ReviewCounts]:
            out: dict[int, ReviewCounts] = {}
            for review_id in ids:
                comments = cur.execute(
                    "SELECT count(*) FROM web_public_comments WHERE review_id = ?", (review_id,)
                ).fetchone()[0]
                poll, _ = _poll_counts(cur, review_id)
                out[review_id] = ReviewCounts(review_id, int(comments), poll)
            return out

        return await self._read(read)
