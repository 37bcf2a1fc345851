"""The storage layer: every SQL statement in Matinee lives in this package."""

from .database import Database, Migration, MigrationError, StorageError, load_migrations
from .films import FilmRepository
from .fts import fts_prefix_query, fts_tokens
from .guilds import GuildSettings, GuildSettingsRepository
from .meta import MetaRepository
from .ratings import RatingRepository, RatingSummary
from .reviews import AnnouncementRepository, ReviewRepository
from .writer import BatchedWriter, WriterClosedError

__all__ = [
    "AnnouncementRepository",
    "BatchedWriter",
    "Database",
    "FilmRepository",
    "GuildSettings",
    "GuildSettingsRepository",
    "MetaRepository",
    "Migration",
    "MigrationError",
    "RatingRepository",
    "RatingSummary",
    "ReviewRepository",
    "StorageError",
    "WriterClosedError",
    "fts_prefix_query",
    "fts_tokens",
    "load_migrations",
]
