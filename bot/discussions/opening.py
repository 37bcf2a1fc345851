"""Opening a review's discussion: the thread, its opening message and poll, spoiler marking.

A discussion is opened once per (review, guild), however often the announcement
event is repeated: a lock per pair serialises concurrent attempts, and the stored
``opening_message_id`` says whether the opening was already posted. In a text
channel the thread is started from the announcement; in a forum the announcer's
post is the thread and is adopted (renamed and given the server's auto-archive
setting the first time). Staff can also open a discussion by hand.

When Discord refuses the thread or its opening (a missing permission answers
403), the announcement is left without its discussion: that is recorded as a
``thread`` problem (:mod:`bot.problems`) that staff see and that is retried at a
bounded pace (the reviews loop hands due retries back to :meth:`OpeningService.open`).

Exactly once, even when Discord's answer is lost (a 5xx after the work was done,
which discord.py retries) or the process dies before the answer is stored:

- the thread: Discord refuses a second thread from the same message (160004) and
  the transport returns the existing one;
- the opening message: it is sent with a nonce derived from the thread id that
  Discord enforces (a retry within its dedupe window returns the first message),
  and every send is counted durably before it goes out, so a later attempt after a
  crash or a lost answer first looks for the bot's own opening in the thread and
  adopts it;
- a discussion the process stopped before opening (announced, no thread or no
  opening yet, and no problem recorded since nothing failed) is opened at the next
  start (:meth:`OpeningService.resume`).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Awaitable, Callable, Sequence

from ..errors import UserFacingError
from ..models import Announcement, Review
from ..problems import THREAD, ProblemLog
from ..storage import (
    AnnouncementRepository,
    DiscussionThreadRepository,
    GuildSettingsRepository,
    PollRepository,
    ReviewRepository,
)
from ..storage.polls import PollInfo
from ..timestamps import utc_iso
from .backfill import BackfillService
from .opening_prompts import SPOILER_NOTICE, build_opening, template_prompts
from .service import DiscussionIndex, PollService, ThreadRef
from .thread_names import review_thread_name
from .transport import PostedOpening, ThreadInfo, ThreadTransport, TransportError

__all__ = [
    "ARCHIVE_CHOICES",
    "RESUME_WITHIN",
    "BlogNotice",
    "OpeningService",
    "PromptWriter",
    "normalise_archive_minutes",
    "opening_nonce",
    "with_spoiler_notice",
]

log = logging.getLogger(__name__)

ARCHIVE_CHOICES = (60, 1440, 4320, 10080)  # the auto-archive durations Discord accepts, in minutes
# At start-up, discussions of announcements sent this recently that never got their
# thread or opening are opened. Older ones are left alone (their poll would have ended).
RESUME_WITHIN = dt.timedelta(days=7)

# Writes the opening's prompts with the model; None (or no writer at all) means "use the templates".
PromptWriter = Callable[[Review], Awaitable[Sequence[str] | None]]
BlogNotice = Callable[[int], Awaitable[str | None]]
"""``notice(guild_id)``: the line telling members their replies appear on the blog, or None (not publishing)."""


def normalise_archive_minutes(minutes: int | None) -> int:
    """The closest auto-archive duration Discord accepts (60, 1440, 4320, 10080)."""
    if not minutes:
        return 10080
    return min(ARCHIVE_CHOICES, key=lambda choice: abs(choice - minutes))


def opening_nonce(thread_id: int) -> str:
    """The nonce of a thread's opening message: the same on every attempt, at most Discord's 25 characters."""
    return f"op{thread_id}"


def with_spoiler_notice(content: str, spoiler: bool) -> str:
    """The opening message with the spoiler notice added (after the question) or removed."""
    lines = [line for line in content.split("\n") if line != SPOILER_NOTICE]
    if spoiler:
        lines.insert(1, SPOILER_NOTICE)
    return "\n".join(lines)


class OpeningService:
    def __init__(
        self,
        transport: ThreadTransport,
        *,
        index: DiscussionIndex,
        announcements: AnnouncementRepository,
        reviews: ReviewRepository,
        threads: DiscussionThreadRepository,
        guild_settings: GuildSettingsRepository,
        polls: PollRepository,
        poll_service: PollService,
        backfill: BackfillService,
        write_prompts: PromptWriter | None = None,
        blog_notice: BlogNotice | None = None,
        problems: ProblemLog | None = None,
    ) -> None:
        self._transport = transport
        self._problems = problems
        self._index = index
        self._announcements = announcements
        self._reviews = reviews
        self._threads = threads
        self._guild_settings = guild_settings
        self._polls = polls
        self._poll_service = poll_service
        self._backfill = backfill
        self._write_prompts = write_prompts
        self._blog_notice = blog_notice
        self._locks: dict[tuple[int, int], asyncio.Lock] = {}
        self._resume_task: asyncio.Task[int] | None = None
        self.resumed = 0  # discussions opened by resume(): observable in tests

    async def _archive_minutes(self, guild_id: int) -> int:
        settings = await self._guild_settings.get(guild_id)
        return normalise_archive_minutes(settings.auto_archive_minutes)

    # -- the announcement's discussion ------------------------------------------------------

    async def open(self, review: Review, announcement: Announcement) -> ThreadInfo | None:
        """Create (text channel) or adopt (forum post) the thread, then post the opening message once.

        Returns the thread, or None when there is none to open (logged): the
        announcement's message or thread is gone, or Discord refused.
        """
        guild_id = announcement.guild_id
        async with self._locks.setdefault((review.id, guild_id), asyncio.Lock()):
            # A concurrent attempt may have made the thread while this one waited: go by what is stored.
            announcement = await self._announcements.get(review.id, guild_id) or announcement
            archive = await self._archive_minutes(guild_id)
            known = await self._threads.get(announcement.thread_id) if announcement.thread_id else None
            opened_before = known is not None and known.opening_message_id is not None
            # Once a thread is open, staff decide about spoilers (/discussion spoilers); a re-open keeps it.
            spoiler = announcement.spoiler if opened_before else (announcement.spoiler or review.spoilers)
            name = review_thread_name(review, spoilers=spoiler)
            thread = await self._thread_for(review, announcement, name, archive, adjust=not opened_before)
            if thread is None:
                return None
            if spoiler and not announcement.spoiler:
                await self._announcements.set_spoiler(thread.id, True)
            self._index.add(
                ThreadRef(review.id, guild_id, announcement.channel_id, thread.id, announcement.message_id, spoiler)
            )
            # A forum post existed before we knew it was a review thread: its first replies are unread.
            adopted = announcement.thread_id is not None
            await self._threads.register(thread.id, review.id, guild_id, owes_backfill=adopted)
            record = await self._threads.get(thread.id)
            if record is not None and record.opening_message_id:
                await self._thread_ok(review, announcement)
                return thread  # already opened (a repeated event or a re-open)
            try:
                await self._post_opening(thread.id, review, guild_id, spoiler)
            except TransportError as exc:
                log.warning("could not post the opening of review %s in thread %s: %s", review.id, thread.id, exc)
                await self._thread_failed(review, announcement, f"couldn't post the opening message: {exc}", exc)
                return thread
            if adopted:
                self._backfill.schedule(thread.id)
            await self._thread_ok(review, announcement)
            return thread

    async def _thread_ok(self, review: Review, announcement: Announcement) -> None:
        if self._problems is not None:
            await self._problems.succeeded(announcement.guild_id, THREAD, review_id=review.id)

    async def _thread_failed(self, review: Review, announcement: Announcement, error: str, exc: TransportError) -> None:
        """A refused thread or opening is a problem staff see; retried unless the announcement itself is gone."""
        if self._problems is not None:
            await self._problems.failed(
                announcement.guild_id, THREAD, review_id=review.id, channel_id=announcement.channel_id,
                error=error, status=exc.status, retry=exc.status != 404,
            )  # fmt: skip

    async def _thread_for(
        self, review: Review, announcement: Announcement, name: str, archive: int, *, adjust: bool
    ) -> ThreadInfo | None:
        """The review's thread: the existing one (a forum post), else one started from the announcement.

        An existing thread gets our name and auto-archive setting when ``adjust`` is
        set, i.e. the first time we open it.
        """
        if announcement.thread_id is not None:
            thread = await self._transport.get_thread(announcement.thread_id)
            if thread is None:
                log.warning("thread %s of review %s is gone", announcement.thread_id, review.id)
                return None
            if not adjust:
                return thread
            name_change = name if thread.name != name else None
            archive_change = archive if thread.auto_archive_minutes != archive else None
            if name_change is None and archive_change is None:
                return thread
            try:
                return await self._transport.edit_thread(
                    thread.id, name=name_change, auto_archive_minutes=archive_change
                )
            except TransportError as exc:
                log.warning("could not update thread %s: %s", thread.id, exc)
                return thread
        if announcement.message_id is None:
            log.warning("announcement of review %s has no thread and no message to start one from", review.id)
            return None
        try:
            thread = await self._transport.create_thread(
                announcement.channel_id, announcement.message_id, name=name, auto_archive_minutes=archive
            )
        except TransportError as exc:
            log.warning("could not create the thread for review %s: %s", review.id, exc)
            await self._thread_failed(review, announcement, f"couldn't create the thread: {exc}", exc)
            return None
        await self._announcements.set_thread(review.id, announcement.guild_id, thread.id)
        return thread

    async def _post_opening(self, thread_id: int, review: Review, guild_id: int, spoiler: bool) -> None:
        record = await self._threads.get(thread_id)
        posted = await self._sent_before(thread_id) if record is not None and record.opening_attempts else None
        if posted is None:
            prompts = await self._write_prompts(review) if self._write_prompts is not None else None
            notice = await self._blog_notice(guild_id) if self._blog_notice is not None else None
            opening = build_opening(
                review,
                prompts or template_prompts(review),
                spoiler=spoiler,
                from_model=bool(prompts),
                blog_notice=notice,
            )
            await self._threads.opening_attempted(thread_id)  # durable before it can reach Discord
            posted = await self._transport.post_opening(
                thread_id, opening.content, opening.poll, nonce=opening_nonce(thread_id)
            )
        await self._threads.set_opening(thread_id, posted.message_id)
        await self._polls.record_poll(posted.message_id, review.id, guild_id, thread_id, posted.poll_expires_at)
        self._poll_service.remember(PollInfo(posted.message_id, review.id, guild_id, thread_id, False))

    async def _sent_before(self, thread_id: int) -> PostedOpening | None:
        """An earlier attempt may have posted the opening without our knowing: look for it in the thread."""
        try:
            found = await self._transport.find_opening(thread_id)
        except TransportError as exc:
            # Without Read Message History we cannot look; the nonce still guards a resend for a while.
            log.warning("could not look for the opening of thread %s: %s", thread_id, exc)
            return None
        if found is not None:
            log.info("thread %s: adopted the opening message %s an earlier attempt posted", thread_id, found.message_id)
        return found

    # -- discussions the process stopped before opening -----------------------------------------

    def start_resume(self) -> None:
        """Run :meth:`resume` in the background (once at a time)."""
        if self._resume_task is None or self._resume_task.done():
            self._resume_task = asyncio.create_task(self.resume(), name="matinee-open-owed-discussions")

    async def resume(self) -> int:
        """Open the discussions of recent announcements that never got their thread or opening; how many opened.

        Announced, then the process stopped (or Discord failed) before the thread or
        its opening was made and recorded: nothing else would open it.
        """
        since = utc_iso(dt.datetime.now(dt.UTC) - RESUME_WITHIN)
        opened = 0
        for review_id, guild_id in await self._threads.unopened(since):
            announcement = await self._announcements.get(review_id, guild_id)
            review = await self._reviews.get(review_id)
            if announcement is None or review is None:
                continue
            try:
                thread = await self.open(review, announcement)
            except TransportError as exc:
                log.warning("could not open the discussion of review %s in guild %s: %s", review_id, guild_id, exc)
                continue
            except Exception:
                log.exception("could not open the discussion of review %s in guild %s", review_id, guild_id)
                continue
            record = await self._threads.get(thread.id) if thread is not None else None
            if record is not None and record.opening_message_id:
                opened += 1
        if opened:
            log.info("opened %d discussions left unopened when Matinee last stopped", opened)
        self.resumed += opened
        return opened

    async def close(self) -> None:
        if self._resume_task is not None:
            self._resume_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._resume_task

    # -- /discussion open ----------------------------------------------------------------------

    async def open_by_hand(self, review: Review, guild_id: int, channel_id: int) -> ThreadInfo:
        """Open (or re-open, unarchiving) a review's discussion for staff, in the channel they are in.

        A review already discussed in this server gets its thread back; one whose
        announcement never got a thread gets one from it; otherwise a review card is
        posted here (a forum post in a forum) and the discussion opens from it.
        """
        existing = await self._announcements.get(review.id, guild_id)
        if existing is not None and existing.thread_id is not None:
            thread = await self._transport.get_thread(existing.thread_id)
            if thread is not None:
                if thread.archived or thread.locked:
                    thread = await self._transport.edit_thread(thread.id, archived=False, locked=False)
                self._index.add(existing)
                return await self.open(review, existing) or thread
        if existing is not None and existing.thread_id is None and existing.message_id is not None:
            # Announced, but the thread was never made (a failure at the time): try again from it.
            retried = await self.open(review, existing)
            if retried is not None:
                return retried
        announcement = await self._post_review_card(review, guild_id, channel_id)
        thread = await self.open(review, announcement)
        if thread is None:
            raise UserFacingError("I couldn't create the thread here; check my permissions in this channel.")
        return thread

    async def _post_review_card(self, review: Review, guild_id: int, channel_id: int) -> Announcement:
        kind = await self._transport.channel_kind(channel_id)
        if kind not in ("text", "forum"):
            raise UserFacingError("Run this in a text or forum channel, not inside a thread.")
        spoiler = review.spoilers
        try:
            if kind == "forum":
                name = review_thread_name(review, spoilers=spoiler)
                archive = await self._archive_minutes(guild_id)
                message_id, thread = await self._transport.create_forum_post(
                    channel_id, review, name=name, auto_archive_minutes=archive
                )
                thread_id: int | None = thread.id
            else:
                message_id, thread_id = await self._transport.send_review_card(channel_id, review), None
        except TransportError as exc:
            log.warning("could not post review %s in channel %s: %s", review.id, channel_id, exc)
            raise UserFacingError("I couldn't post the review here; check my permissions in this channel.") from None
        return await self._announcements.record_sent(
            review.id, guild_id, channel_id, message_id, thread_id=thread_id, spoiler=spoiler
        )

    # -- spoilers ----------------------------------------------------------------------------

    async def set_spoiler(self, thread_id: int, review: Review, spoiler: bool) -> None:
        """Mark or unmark a spoiler thread: the stored flag, the thread's name and the opening's notice.

        Raises TransportError when the thread cannot be renamed; a failure to edit the
        opening message is only logged (the thread's name already tells members).
        """
        await self._announcements.set_spoiler(thread_id, spoiler)
        self._index.set_spoiler(thread_id, spoiler)
        name = review_thread_name(review, spoilers=spoiler)
        thread = await self._transport.get_thread(thread_id)
        if thread is not None and thread.name != name:
            await self._transport.edit_thread(thread_id, name=name)
        record = await self._threads.get(thread_id)
        if record is None or not record.opening_message_id:
            return
        try:
            content = await self._transport.message_content(thread_id, record.opening_message_id)
            marked = with_spoiler_notice(content, spoiler)
            if marked != content:
                await self._transport.edit_message(thread_id, record.opening_message_id, marked)
        except TransportError as exc:
            log.warning("could not update the opening message of thread %s: %s", thread_id, exc)

    async def review_updated(self, review: Review) -> None:
        """A review's front matter now says "spoilers": its threads become spoiler threads."""
        if not review.spoilers:
            return  # turning spoilers off stays a staff decision (/discussion spoilers off)
        for announcement in await self._announcements.for_review(review.id):
            if announcement.thread_id is None or announcement.spoiler:
                continue
            if await self._transport.get_thread(announcement.thread_id) is None:
                continue
            try:
                await self.set_spoiler(announcement.thread_id, review, True)
            except TransportError as exc:
                log.warning("could not mark thread %s as a spoiler thread: %s", announcement.thread_id, exc)
