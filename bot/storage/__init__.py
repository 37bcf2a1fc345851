"""The storage layer: every SQL statement in Matinee lives in this package."""

from .comments import CommentRepository, DiscussionThread, DiscussionThreadRepository
from .database import Database, Migration, MigrationError, StorageError, load_migrations
from .films import FilmRepository
from .fts import fts_prefix_query, fts_tokens
from .guilds import GuildSettings, GuildSettingsRepository
from .meta import MetaRepository
from .polls import PollInfo, PollRepository
from .ratings import RatingRepository, RatingSummary
from .reviews import AnnouncementRepository, ReviewRepository
from .writer import BatchedWriter, WriterClosedError

__all__ = [
    "AnnouncementRepository",
    "BatchedWriter",
    "CommentRepository",
    "Database",
    "DiscussionThread",
    "DiscussionThreadRepository",
    "FilmRepository",
    "GuildSettings",
    "GuildSettingsRepository",
    "MetaRepository",
    "Migration",
    "MigrationError",
    "PollInfo",
    "PollRepository",
    "RatingRepository",
    "RatingSummary",
    "ReviewRepository",
    "StorageError",
    "WriterClosedError",
    "fts_prefix_query",
    "fts_tokens",
    "load_migrations",
]
