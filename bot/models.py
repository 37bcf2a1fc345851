"""Domain records shared by every feature. Plain dataclasses: no discord.py, no SQL."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["BLOG", "DISCORD", "Announcement", "Comment", "Film", "Review", "json_list"]

DISCORD = "discord"  # a comment's source: a member's message in a review thread
BLOG = "blog"  # a comment's source: a blog reader's comment, read from the review's comment feed


def json_list(raw: str | None) -> tuple[str, ...]:
    """Decode a JSON array column; a damaged value reads as empty rather than crashing."""
    if not raw:
        return ()
    try:
        value = json.loads(raw)
    except ValueError:
        return ()
    return tuple(str(v) for v in value) if isinstance(value, list) else ()


def _optional(row: Mapping[str, Any], key: str) -> Any:
    """A column a query may not select (rows of older queries and test fakes): None when absent."""
    keys = row.keys() if hasattr(row, "keys") else row
    return row[key] if key in keys else None


@dataclass(frozen=True, slots=True)
class Film:
    id: int
    title: str
    year: int | None = None
    original_title: str | None = None
    directors: tuple[str, ...] = ()
    cast: tuple[str, ...] = ()
    runtime_minutes: int | None = None
    genres: tuple[str, ...] = ()
    overview: str | None = None
    poster_url: str | None = None
    tmdb_id: int | None = None
    imdb_id: str | None = None
    popularity: float = 0.0
    vote_count: int = 0

    @property
    def label(self) -> str:
        """ "Title (Year)", the way members tell same-titled films apart."""
        return f"{self.title} ({self.year})" if self.year else self.title

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Film:
        return cls(
            id=row["id"],
            title=row["title"],
            year=row["year"],
            original_title=row["original_title"],
            directors=json_list(row["directors"]),
            cast=json_list(row["cast_members"]),
            runtime_minutes=row["runtime_minutes"],
            genres=json_list(row["genres"]),
            overview=row["overview"],
            poster_url=row["poster_url"],
            tmdb_id=row["tmdb_id"],
            imdb_id=row["imdb_id"],
            popularity=row["popularity"],
            vote_count=row["vote_count"],
        )


@dataclass(frozen=True, slots=True)
class Review:
    id: int
    source: str
    source_key: str
    slug: str
    title: str
    url: str | None = None
    author: str | None = None
    film_title: str | None = None
    film_year: int | None = None
    film_id: int | None = None
    rating: float | None = None
    excerpt: str = ""
    body_md: str = ""
    image_url: str | None = None
    tags: tuple[str, ...] = ()
    spoilers: bool = False
    published_at: str | None = None
    content_hash: str = ""
    withdrawn_at: str | None = None  # set while the blog no longer publishes it (its Markdown file was deleted)

    @property
    def withdrawn(self) -> bool:
        return self.withdrawn_at is not None

    @property
    def film_name(self) -> str:
        """The film's title, or the review's own title when the film is not known."""
        return self.film_title or self.title

    @property
    def film_label(self) -> str:
        name = self.film_name
        return f"{name} ({self.film_year})" if self.film_year else name

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Review:
        return cls(
            id=row["id"],
            source=row["source"],
            source_key=row["source_key"],
            slug=row["slug"],
            title=row["title"],
            url=row["url"],
            author=row["author"],
            film_title=row["film_title"],
            film_year=row["film_year"],
            film_id=row["film_id"],
            rating=row["rating"],
            excerpt=row["excerpt"],
            body_md=row["body_md"],
            image_url=row["image_url"],
            tags=json_list(row["tags"]),
            spoilers=bool(row["spoilers"]),
            published_at=row["published_at"],
            content_hash=row["content_hash"],
            withdrawn_at=row["withdrawn_at"],
        )


@dataclass(frozen=True, slots=True)
class Announcement:
    """Where a review was posted in one guild, and its discussion thread."""

    review_id: int
    guild_id: int
    channel_id: int
    nonce: str
    state: str = "pending"
    message_id: int | None = None
    thread_id: int | None = None
    spoiler: bool = False

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Announcement:
        return cls(
            review_id=row["review_id"],
            guild_id=row["guild_id"],
            channel_id=row["channel_id"],
            nonce=row["nonce"],
            state=row["state"],
            message_id=row["message_id"],
            thread_id=row["thread_id"],
            spoiler=bool(row["spoiler"]),
        )


@dataclass(frozen=True, slots=True)
class Comment:
    """A comment of a review: a member's message in a review thread, or a blog reader's comment.

    A blog comment (``source == "blog"``, read from the review's comment feed by
    :mod:`bot.bridge`) has a negative ``message_id`` (never a Discord id), no guild,
    thread or author id (0), and its anchor on the blog as ``source_url``.
    """

    message_id: int
    review_id: int
    guild_id: int
    thread_id: int
    author_id: int
    author_name: str
    content: str
    created_at: str
    edited_at: str | None = None
    reply_to_id: int | None = None
    attachments: tuple[str, ...] = ()
    reactions: Mapping[str, int] = field(default_factory=dict)
    deleted: bool = False
    source: str = "discord"
    source_url: str | None = None

    @property
    def from_blog(self) -> bool:
        return self.source == BLOG

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Comment:
        try:
            reactions = json.loads(row["reactions"] or "{}")
        except ValueError:
            reactions = {}
        return cls(
            message_id=row["message_id"],
            review_id=row["review_id"],
            guild_id=row["guild_id"],
            thread_id=row["thread_id"],
            author_id=row["author_id"],
            author_name=row["author_name"],
            content=row["content"],
            created_at=row["created_at"],
            edited_at=row["edited_at"],
            reply_to_id=row["reply_to_id"],
            attachments=json_list(row["attachments"]),
            reactions=reactions if isinstance(reactions, dict) else {},
            deleted=bool(row["deleted"]),
            source=_optional(row, "source") or DISCORD,
            source_url=_optional(row, "source_url"),
        )
