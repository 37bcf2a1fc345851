"""The storage layer: every SQL statement in Matinee lives in this package."""

from .comments import CommentRepository, DiscussionThread, DiscussionThreadRepository
from .database import Database, Migration, MigrationError, StorageError, load_migrations
from .feeds import Feed, FeedRepository, Subscription, feed_source
from .films import FilmRepository
from .fts import fts_prefix_query, fts_tokens
from .guilds import GuildSettings, GuildSettingsRepository
from .meta import MetaRepository
from .outbox import OutboxRepository, PendingAnnouncement, Target
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
    "Feed",
    "FeedRepository",
    "FilmRepository",
    "GuildSettings",
    "GuildSettingsRepository",
    "MetaRepository",
    "Migration",
    "MigrationError",
    "OutboxRepository",
    "PendingAnnouncement",
    "PollInfo",
    "PollRepository",
    "RatingRepository",
    "RatingSummary",
    "ReviewRepository",
    "StorageError",
    "Subscription",
    "Target",
    "WriterClosedError",
    "feed_source",
    "fts_prefix_query",
    "fts_tokens",
    "load_migrations",
]
