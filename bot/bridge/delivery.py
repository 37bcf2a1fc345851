"""Mirrors of blog comments in review threads, each exactly once: the same outbox discipline as announcements.

Per (blog comment, thread), from :class:`bot.storage.blog_comments.CommentFeedRepository`:

1. the intent (a pending ``blog_comment_posts`` row) was written with the comment,
   before anything is sent;
2. if a send was attempted before (``attempts > 0``), it may have reached Discord
   before a crash, so the thread's recent messages are searched first for Matinee's
   own message (its webhook's, or the bot's) carrying the comment's anchor
   (:func:`bot.bridge.render.carries`): a webhook message takes no nonce, so the
   anchor is the key. A found message is adopted, not sent again;
3. ``attempts`` is bumped durably, then the message is sent (a bot message also
   carries a ``nonce`` with ``enforce_nonce``);
4. the message id is stored, and replies to it already stored become replies to the
   blog comment.

Edits and deletions are owed the same way (a version the message does not show
yet, a comment deleted on the blog) and retried until done. A thread or message
deleted in Discord ends the mirror (``gone``); Discord refusing it for good, or
:data:`MAX_FAILURES` times in a row, ends it as ``failed`` with the error staff see
in ``/matinee feed list``. Threads are served concurrently, each thread's mirrors in
order. The Discord side is :class:`MirrorTransport` (the bridge cog implements it
with a thread webhook where Matinee may manage webhooks, else a bot message).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Protocol

from ..backoff import capped
from ..reviews.delivery import DeliveryError, Failure
from ..storage.blog_comments import CommentFeedRepository, MirrorJob

__all__ = ["MAX_FAILURES", "MirrorDelivery", "MirrorReport", "MirrorTransport", "Posted"]

log = logging.getLogger(__name__)

MAX_FAILURES = 10
RETRY_FIRST = dt.timedelta(seconds=30)
RETRY_MAX = dt.timedelta(hours=1)
CONCURRENCY = 4


@dataclass(frozen=True, slots=True)
class Posted:
    """A mirror Discord has: its message id, and the webhook that posted it (None: the bot did)."""

    message_id: int
    webhook_id: int | None = None


class MirrorTransport(Protocol):
    async def send(self, job: MirrorJob) -> Posted: ...

    async def find_existing(self, job: MirrorJob) -> Posted | None: ...

    async def edit(self, job: MirrorJob) -> None: ...

    async def delete(self, job: MirrorJob) -> None: ...


@dataclass
class MirrorReport:
    sent: int = 0
    adopted: int = 0  # found already posted (a send before a crash)
    edited: int = 0
    deleted: int = 0
    gone: int = 0  # the thread or message was deleted in Discord
    failed: int = 0  # a try failed; retried later, or given up (then it shows in /matinee feed list)


class MirrorDelivery:
    def __init__(
        self,
        feeds: CommentFeedRepository,
        transport: MirrorTransport,
        *,
        clock: Callable[[], dt.datetime] | None = None,
        concurrency: int = CONCURRENCY,
    ) -> None:
        self.feeds = feeds
        self.transport = transport
        self._clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self._semaphore = asyncio.Semaphore(concurrency)
        self._run_lock = asyncio.Lock()  # one pass at a time: two would double-send

    async def deliver(self) -> MirrorReport:
        """Send, edit and delete every mirror that is owed something now."""
        async with self._run_lock:
            report = MirrorReport()
            by_thread: dict[int, list[MirrorJob]] = {}
            for job in await self.feeds.jobs(self._clock()):
                by_thread.setdefault(job.thread_id, []).append(job)
            # Every thread's turn ends before the lock is released (a failure in one must not free the
            # lock while others still send, or the next pass could send their comments again).
            results = await asyncio.gather(*(self._thread(jobs, report) for jobs in by_thread.values()),
                                           return_exceptions=True)  # fmt: skip
            for result in results:
                if isinstance(result, BaseException):
                    raise result
            return report

    async def _thread(self, jobs: list[MirrorJob], report: MirrorReport) -> None:
        async with self._semaphore:
            for job in jobs:
                try:
                    ok = await self._one(job, report)
                except DeliveryError as exc:
                    ok = await self._failed(job, exc, report)
                except Exception:
                    log.exception("mirroring blog comment %s into thread %s failed unexpectedly",
                                  job.comment_id, job.thread_id)  # fmt: skip
                    ok = await self._failed(job, DeliveryError("internal error"), report)
                if not ok:
                    break  # keep the thread's order: later comments wait for this one

    async def _one(self, job: MirrorJob, report: MirrorReport) -> bool:
        if job.deleted:
            await self._delete(job, report)
        elif job.state == "pending":
            await self._send(job, report)
        elif job.state == "sent" and job.shown_version < job.version:
            await self._edit(job, report)
        else:
            await self.feeds.mark_shown(job)  # nothing owed after all (an edit undone): clear the flag
        return True

    async def _send(self, job: MirrorJob, report: MirrorReport) -> None:
        found = await self.transport.find_existing(job) if job.attempts > 0 else None
        if found is not None:
            log.info("blog comment %s was already posted in thread %s; adopting it", job.comment_id, job.thread_id)
            await self.feeds.mark_sent(job, message_id=found.message_id, webhook_id=found.webhook_id)
            report.adopted += 1
            return
        await self.feeds.begin_attempt(job)
        posted = await self.transport.send(job)
        await self.feeds.mark_sent(job, message_id=posted.message_id, webhook_id=posted.webhook_id)
        report.sent += 1

    async def _edit(self, job: MirrorJob, report: MirrorReport) -> None:
        await self.transport.edit(job)
        await self.feeds.mark_shown(job)
        report.edited += 1

    async def _delete(self, job: MirrorJob, report: MirrorReport) -> None:
        if job.state == "pending":
            found = await self.transport.find_existing(job) if job.attempts > 0 else None
            if found is None:  # never reached Discord
                await self.feeds.settle(job, "deleted")
                return
            job = replace(job, message_id=found.message_id, webhook_id=found.webhook_id)
        await self.transport.delete(job)  # a message already gone counts as deleted
        await self.feeds.settle(job, "deleted")
        report.deleted += 1

    async def _failed(self, job: MirrorJob, exc: DeliveryError, report: MirrorReport) -> bool:
        """Record the failure; False stops this thread's turn (to keep its order)."""
        if exc.failure is Failure.GONE:
            log.info("thread %s or its mirror of blog comment %s is gone: %s", job.thread_id, job.comment_id, exc)
            await self.feeds.settle(job, "gone", error=str(exc))
            report.gone += 1
            return True
        report.failed += 1
        if exc.failure is Failure.REFUSED or job.failures + 1 >= MAX_FAILURES:
            log.warning("giving up mirroring blog comment %s into thread %s: %s", job.comment_id, job.thread_id, exc)
            await self.feeds.settle(job, "failed", error=str(exc))
            return True
        delay = capped(RETRY_FIRST, job.failures, RETRY_MAX)
        await self.feeds.record_post_failure(job, error=str(exc), next_try=self._clock() + delay)
        log.warning("mirroring blog comment %s into thread %s failed (will retry): %s", job.comment_id,
                    job.thread_id, exc)  # fmt: skip
        return False
