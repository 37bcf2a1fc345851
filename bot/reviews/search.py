"""Review search: what /reviews asks for, and the discussion links the film card shows too.

No discord.py here. A review is linked to its discussion thread only in the guild
asking (threads of other servers are none of its business).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..models import Review
from ..paging import Page, page_count
from ..storage import AnnouncementRepository, Database, ReviewRepository

__all__ = ["PAGE_SIZE", "ReviewLink", "ReviewSearchService", "thread_url"]

PAGE_SIZE = 5


def thread_url(guild_id: int, thread_id: int) -> str:
    return f"https://discord.com/channels/{guild_id}/{thread_id}"


@dataclass(frozen=True, slots=True)
class ReviewLink:
    """A review, and its discussion thread in the asking guild when it has one."""

    review: Review
    thread_url: str | None = None


class ReviewSearchService:
    def __init__(self, db: Database) -> None:
        self.reviews = ReviewRepository(db)
        self.announcements = AnnouncementRepository(db)

    async def search(
        self, query: str | None, *, film_id: int | None = None, page: int = 0, guild_id: int | None = None
    ) -> Page[ReviewLink]:
        """Reviews matching ``query`` (any input is safe), optionally of one film; no query: newest first."""
        page = max(0, page)
        reviews, total = await self.reviews.search_page(
            query or "", film_id=film_id, limit=PAGE_SIZE, offset=page * PAGE_SIZE
        )
        return Page(await self.links(reviews, guild_id), page, page_count(total, PAGE_SIZE), total)

    async def links(self, reviews: Sequence[Review], guild_id: int | None) -> list[ReviewLink]:
        """Each review with a link to its discussion thread in this guild, where it has one."""
        links: list[ReviewLink] = []
        for review in reviews:
            url = None
            if guild_id is not None:
                announcement = await self.announcements.get(review.id, guild_id)
                if announcement is not None and announcement.thread_id:
                    url = thread_url(guild_id, announcement.thread_id)
            links.append(ReviewLink(review, url))
        return links
