"""The discussions feature wired once: its repositories and services over the shared database.

The cog creates one :class:`DiscussionFeature` with a :class:`ThreadTransport`
and the model callables, and calls it; nothing here knows discord.py.
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping, Sequence
from typing import Protocol

from ..errors import UserFacingError
from ..models import Comment, Review
from ..problems import ProblemLog
from ..storage import (
    AnnouncementRepository,
    BatchedWriter,
    CommentRepository,
    Database,
    DiscussionThreadRepository,
    GuildSettingsRepository,
    PollRepository,
    RatingRepository,
    ReviewRepository,
)
from ..storage.forgotten import ForgottenRepository
from .backfill import BackfillService, CatchUpReason
from .export import DiscussionExporter
from .opening import ARCHIVE_CHOICES, BlogNotice, OpeningService, PromptWriter
from .recheck import OlderCommentsRecheck, RestBudget
from .service import CommentService, DiscussionIndex, PollService, ThreadRef
from .summary import DiscussionSummary
from .transport import ThreadTransport

__all__ = ["DiscussionFeature", "Summariser"]

REVIEW_CHOICES = 25  # autocomplete shows at most 25 choices


class Summariser(Protocol):
    """Summarises a thread's comments and poll counts (the model's summary, or statistics)."""

    def __call__(
        self, review: Review, comments: Sequence[Comment], poll_counts: Mapping[int, int], *, spoiler: bool
    ) -> Awaitable[DiscussionSummary]: ...


class DiscussionFeature:
    """Review threads, their comments and polls, exports: the services the discussions cog calls."""

    def __init__(
        self,
        db: Database,
        writer: BatchedWriter,
        transport: ThreadTransport,
        *,
        summarise: Summariser,
        write_prompts: PromptWriter | None = None,
        blog_notice: BlogNotice | None = None,
        rest_budget: RestBudget | None = None,
    ) -> None:
        self.reviews = ReviewRepository(db)
        self.announcements = AnnouncementRepository(db)
        self.guild_settings = GuildSettingsRepository(db)
        comments = CommentRepository(db, writer)
        threads = DiscussionThreadRepository(db)
        polls = PollRepository(db, writer)
        ratings = RatingRepository(db)
        forgotten = ForgottenRepository(db)
        self._comments = comments
        self._polls = polls
        self._summarise = summarise
        self.index = DiscussionIndex(self.announcements)
        self.comment_service = CommentService(self.index, comments, forgotten)
        self.poll_service = PollService(polls, self.reviews, ratings, forgotten)
        self.backfill = BackfillService(
            transport,
            index=self.index,
            threads=threads,
            comments=self.comment_service,
            polls=polls,
            poll_service=self.poll_service,
        )
        # Older comments, after the quick re-check: in the background, yielding to catch-ups and to others' requests.
        self.older = OlderCommentsRecheck(
            transport,
            threads=threads,
            comments=self.comment_service,
            busy=lambda: self.backfill.busy,
            budget=rest_budget,
        )
        self.backfill.on_caught_up = self.older.wake
        self.opening = OpeningService(
            transport,
            index=self.index,
            announcements=self.announcements,
            reviews=self.reviews,
            threads=threads,
            guild_settings=self.guild_settings,
            polls=polls,
            poll_service=self.poll_service,
            backfill=self.backfill,
            write_prompts=write_prompts,
            blog_notice=blog_notice,
            problems=ProblemLog(db),
        )
        self.exporter = DiscussionExporter(self.reviews, comments, polls, ratings)

    async def load(self) -> None:
        """Before connecting: the thread index; every thread owes a backfill (we were not listening)."""
        await self.index.load()
        await self.backfill.gap_opened()

    def session_started(self, reason: CatchUpReason) -> None:
        """Connected (READY) or resumed: catch up in the background, then re-check older comments at a pace.

        A new session (``ready``) also opens the discussions the process stopped
        before opening (announced, with no thread or no opening message yet).
        """
        self.backfill.start_catch_up(reason)
        self.older.start()
        if reason == "ready":
            self.opening.start_resume()

    async def close(self) -> None:
        await self.opening.close()
        await self.older.close()
        await self.backfill.close()

    # -- what commands look up -------------------------------------------------------------

    async def search_reviews(self, query: str) -> list[Review]:
        """Choices for a review option: the review ``query`` names exactly (slug, id, post address) first.

        Published reviews only: a withdrawn one is not offered.
        """
        found = await self.reviews.search(query, limit=REVIEW_CHOICES)
        named = await self.reviews.find(query) if query.strip() else None
        if named is None or named.withdrawn:
            return found
        return [named, *(r for r in found if r.id != named.id)][:REVIEW_CHOICES]

    async def find_review(self, name: str) -> Review:
        """The review a command's option names: a choice from the list, a slug, an id or a post address."""
        review = await self.reviews.find(name)
        if review is None:
            raise UserFacingError(
                "I don't have that review. Pick one from the list, or give its slug, id or post address."
            )
        if review.withdrawn:
            raise UserFacingError("That review was withdrawn from the blog (its file was deleted), so I won't open "
                                  "a discussion of it. If the file comes back, so does the review.")  # fmt: skip
        return review

    async def review_thread(self, thread_id: int | None) -> tuple[ThreadRef, Review]:
        """The review discussed in this thread; a clear message when it is not a review thread."""
        ref = await self.index.thread(thread_id or 0)
        if ref is None:
            raise UserFacingError("Run this inside a review's discussion thread.")
        review = await self.reviews.get(ref.review_id)
        if review is None:
            raise UserFacingError("This thread's review is no longer stored.")
        return ref, review

    # -- /discussion summary, /matinee archive-after ------------------------------------------

    async def summary(self, ref: ThreadRef, review: Review) -> str:
        """What members think: the model's summary or statistics, spoiler-tagged in spoiler threads."""
        announcement = await self.announcements.by_thread(ref.thread_id) if ref.thread_id else None
        spoiler = announcement.spoiler if announcement is not None else ref.spoiler
        comments = await self._comments.for_review(review.id, guild_id=ref.guild_id)
        counts, _ = await self._polls.review_counts(review.id, ref.guild_id)
        result = await self._summarise(review, comments, counts, spoiler=spoiler)
        return result.text

    async def set_archive_after(self, guild_id: int, minutes: int) -> None:
        if minutes not in ARCHIVE_CHOICES:
            raise UserFacingError("Pick one of the offered durations.")
        await self.guild_settings.update(guild_id, auto_archive_minutes=minutes)
