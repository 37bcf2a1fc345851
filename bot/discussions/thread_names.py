"""Names of discussion threads: the discussions feature names the threads it opens, and the
announcer (``cogs/reviews/transport.py``) names a forum post the same way."""

from __future__ import annotations

from ..models import Review
from ..text import THREAD_NAME, one_line, truncate

__all__ = ["discussion_thread_name", "review_thread_name"]

SPOILER_PREFIX = "⚠ Spoilers: "


def discussion_thread_name(film: str, *, spoilers: bool = False) -> str:
    """ "What did you think of <Film>?", within Discord's 100-character thread name limit.

    The film name is shortened, never the question, so the thread still reads as an
    invitation when the title is long.
    """
    prefix = SPOILER_PREFIX if spoilers else ""
    head, tail = f"{prefix}What did you think of ", "?"
    room = THREAD_NAME - len(head) - len(tail)
    name = one_line(film) or "this film"
    return f"{head}{truncate(name, room)}{tail}"


def review_thread_name(review: Review, *, spoilers: bool) -> str:
    """The discussion thread's name for a review; the announcer (forum posts) and discussions share it."""
    return discussion_thread_name(review.film_name, spoilers=spoilers)
