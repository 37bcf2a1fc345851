"""Reviews in, announcements out: feed and Markdown sources, normalisation, the outbox.

Services only (no discord.py types); the reviews cog adapts them to Discord.
"""

from .delivery import Delivered, DeliveryError, DeliveryReport, DeliveryService, Failure, Transport
from .draft import ReviewDraft, parse_rating, slugify
from .feeds import FeedParseError, ParsedFeed, parse_feed
from .fetch import FeedFetcher, FeedFetchError, FetchResult, validate_feed_url
from .film_guess import FilmGuess, guess_film, identify_film, lead_phrase
from .html import HtmlDocument, html_to_markdown
from .markdown import MarkdownError, MarkdownScanner, parse_review_file
from .service import FeedStatus, PollResult, ReviewService

__all__ = [
    "Delivered",
    "DeliveryError",
    "DeliveryReport",
    "DeliveryService",
    "Failure",
    "FeedFetchError",
    "FeedFetcher",
    "FeedParseError",
    "FeedStatus",
    "FetchResult",
    "FilmGuess",
    "HtmlDocument",
    "MarkdownError",
    "MarkdownScanner",
    "ParsedFeed",
    "PollResult",
    "ReviewDraft",
    "ReviewService",
    "Transport",
    "guess_film",
    "html_to_markdown",
    "identify_film",
    "lead_phrase",
    "parse_feed",
    "parse_rating",
    "parse_review_file",
    "slugify",
    "validate_feed_url",
]
