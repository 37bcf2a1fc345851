"""Reviews cog: the /matinee setup, feed and review commands, and the poll/delivery loop.

A thin adapter: every decision lives in :mod:`bot.reviews` (what to announce,
where, exactly once) and :mod:`bot.problems` (what staff must see); this module
turns interactions and gateway events into service calls and service results
into Discord messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import discord
from discord import app_commands
from discord.ext import commands

from bot.admin import AdminSubgroup, admin_command
from bot.bot import MatineeBot
from bot.bridge import BlogCommentBridge, CommentFeedStatus
from bot.errors import UserFacingError
from bot.models import Announcement, Review
from bot.outbound import Purpose
from bot.permissions import ANNOUNCEMENTS, missing_permissions
from bot.problems import ANNOUNCEMENT, THREAD, Problem, describe_problem
from bot.reviews import DeliveryService, FeedFetcher, PollResult, ReviewService
from bot.reviews.service import MAX_BACKFILL, MAX_CATEGORY_CHARS, loggable_url
from bot.storage import Feed
from bot.text import AUTOCOMPLETE_CHOICES, CHOICE_NAME, FIELD_VALUE, clean_text, fit_embed, truncate
from bot.timestamps import parse_utc_iso
from cogs._loop import PollingLoop, feed_tick
from cogs._ui import EMBED_COLOUR, inert

from .transport import DiscordTransport

__all__ = ["Reviews"]

log = logging.getLogger(__name__)

FEED = AdminSubgroup("feed", "Review feeds this server follows")
REVIEW = AdminSubgroup("review", "Reviews written here")
PROBLEM_LINES = 10  # problems listed by /matinee feed list (the rest are counted)
COMMENT_FEED_LINES = 12  # comment feeds listed by /matinee feed list, failing first (the rest are counted)
WITHDRAWN_LINES = 5  # withdrawn or restored reviews named in one log note (the rest are counted)


def _timestamp(value: str | None, style: str = "R") -> str:
    if not value:
        return "never"
    when = parse_utc_iso(value)
    if when is None:
        return "?"
    return f"<t:{int(when.timestamp())}:{style}>"


class ReviewModal(discord.ui.Modal, title="Post a review"):
    film = discord.ui.TextInput(
        label="Film (and year)", placeholder="Chungking Express (1994)", max_length=200, custom_id="review:film"
    )
    review_title = discord.ui.TextInput(
        label="Title", placeholder="A love letter to loneliness", max_length=200, required=False,
        custom_id="review:title",
    )  # fmt: skip
    rating = discord.ui.TextInput(
        label="Rating (0–5)", placeholder="4.5 or ★★★★½", max_length=20, required=False, custom_id="review:rating"
    )
    body = discord.ui.TextInput(
        label="Review", style=discord.TextStyle.paragraph, max_length=4000, custom_id="review:body"
    )

    def __init__(self, cog: Reviews) -> None:
        super().__init__(timeout=900, custom_id="matinee:review-post")
        self.cog = cog

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        assert interaction.guild_id is not None
        try:
            review = await self.cog.service.post_discord_review(
                interaction.guild_id,
                author=getattr(interaction.user, "display_name", interaction.user.name),
                film=self.film.value,
                title=self.review_title.value,
                rating=self.rating.value,
                body=self.body.value,
            )
        except UserFacingError as exc:
            await interaction.followup.send(
                exc.message, ephemeral=True, allowed_mentions=discord.AllowedMentions.none()
            )
            return
        self.cog.wake()
        await interaction.followup.send(
            f"Saved **{discord.utils.escape_markdown(review.title)}**; announcing it now.",
            ephemeral=True,
            allowed_mentions=discord.AllowedMentions.none(),
        )

    async def on_error(self, interaction: discord.Interaction, error: Exception) -> None:
        log.exception("review modal failed", exc_info=error)
        message = "Something went wrong saving the review; nothing was posted."
        with contextlib.suppress(discord.HTTPException):
            if interaction.response.is_done():
                await interaction.followup.send(message, ephemeral=True)
            else:
                await interaction.response.send_message(message, ephemeral=True)


class Reviews(commands.Cog):
    def __init__(self, bot: MatineeBot) -> None:
        self.bot = bot
        settings = bot.settings
        self.service = ReviewService(
            bot.db,
            FeedFetcher(bot.outbound.session(Purpose.FEEDS)),
            poll_seconds=settings.feed_poll_seconds,
            reviews_dir=settings.reviews_dir,
        )
        self.transport = DiscordTransport(bot, self.service.guilds)
        self.problems = self.service.problems
        self.announcements = self.service.announcements
        # The blog-comment bridge, for its feeds' statuses in /matinee feed list (the bridge cog polls them).
        self.comment_bridge = BlogCommentBridge(bot.db, None)
        self.delivery = DeliveryService(
            self.service.outbox,
            self.service.reviews,
            self.transport,
            problems=self.problems,
            on_sent=self._on_sent,
            reroute=self.service.channel_gone,
        )
        self._turn_lock = asyncio.Lock()
        self.loop = PollingLoop(bot, "reviews-loop", self.run_once, tick=feed_tick(settings.feed_poll_seconds),
                                before_first=self._register_builtin_feeds)  # fmt: skip

    # -- lifecycle ---------------------------------------------------------------------

    async def cog_load(self) -> None:
        self.loop.start()

    async def cog_unload(self) -> None:
        await self.loop.stop()

    def wake(self) -> None:
        """Run the loop now (a new feed, a review posted from Discord)."""
        self.loop.wake()

    async def _register_builtin_feeds(self) -> None:
        try:
            await self.service.sync_builtin_feeds(self.bot.settings.review_feeds)
            await self.problems.prune()
        except Exception:
            log.exception("could not register REVIEW_FEEDS; continuing with the feeds already known")

    async def run_once(self) -> None:
        """One turn: deliver what is due (reconciling), read sources, deliver and edit, retry, report problems."""
        async with self._turn_lock:
            await self.delivery.deliver_pending()
            results = [await self.service.scan_markdown(), *await self.service.poll_due()]
            for result in results:
                await self._handle(result)
            await self.delivery.deliver_pending()
            await self._retry_threads()
            await self._report_problems()

    async def _handle(self, result: PollResult) -> None:
        for review in result.updated:
            edited = await self.delivery.propagate_edit(review)
            log.info("review %s changed; edited %d announcement(s)", review.id, edited)
            self.bot.dispatch("review_updated", review)
        if result.disabled and result.feed is not None:
            await self._tell_disabled(result.feed, result.log_channels)
        if result.withdrawn or result.restored:
            await self._tell_withdrawn(result.withdrawn, result.restored)

    async def _tell_withdrawn(self, withdrawn: list[Review], restored: list[Review]) -> None:
        """One note per log channel: reviews whose file was deleted (their posts stay) and those back again."""
        notes: dict[int, list[str]] = {}
        for reviews, line in (
            (withdrawn, "🗑 **{}** was withdrawn: its Markdown file was deleted. Its announcement and discussion stay "
                        "here; it no longer shows in `/reviews`, the chat's answers or the blog widget."),
            (restored, "↩ **{}** is back: its Markdown file returned, and it shows everywhere again."),
        ):  # fmt: skip
            for review in reviews:
                title = inert(review.title, 120)
                for channel_id in await self.service.withdrawal_log_channels(review):
                    notes.setdefault(channel_id, []).append(line.format(title))
        for channel_id, lines in notes.items():
            shown = lines[:WITHDRAWN_LINES]
            if len(lines) > len(shown):
                shown.append(f"… and {len(lines) - len(shown)} more.")
            await self._log(channel_id, "\n".join(shown))

    # -- callbacks from the delivery service -------------------------------------------------

    def _on_sent(self, review: Review, announcement: Announcement) -> None:
        self.bot.dispatch("review_announced", review, announcement)

    async def _retry_threads(self) -> None:
        """Hand each due thread problem back to the discussions feature, which opens the thread or records why not."""
        for problem in await self.problems.claim_due(THREAD):
            review = await self.service.reviews.get(problem.review_id) if problem.review_id else None
            announcement = await self.announcements.get(problem.review_id, problem.guild_id) if review else None
            if review is None or announcement is None or announcement.message_id is None:
                await self.problems.resolve(problem.guild_id, THREAD, review_id=problem.review_id,
                                            resolution="obsolete")  # fmt: skip
                continue
            self.bot.dispatch("review_thread_retry", review, announcement)

    async def _report_problems(self) -> None:
        """Tell each server's log channel what changed since the last turn (durably: nothing is told twice)."""
        for problem in await self.problems.unreported():
            settings = await self.service.guilds.get(problem.guild_id)
            if settings.log_channel_id:
                text = describe_problem(problem, escape=discord.utils.escape_markdown)
                await self._log(settings.log_channel_id, text)
            await self.problems.mark_reported(problem)

    @commands.Cog.listener()
    async def on_guild_channel_delete(self, channel: discord.abc.GuildChannel) -> None:
        """A channel reviews go to was deleted: its feeds fall back to the announcement channel now."""
        try:
            await self.service.channel_gone(channel.guild.id, channel.id)
        except Exception:
            log.exception("could not handle the deletion of channel %s", channel.id)
        self.wake()

    async def _tell_disabled(self, feed: Feed, channels: list[int]) -> None:
        label = inert(feed.label, 200)
        text = (
            f"I stopped reading the feed **{label}** (<{loggable_url(feed.url)}>) after {feed.failure_count} failed "
            "attempts "
            f"since {_timestamp(feed.first_failure_at, 'f')}. Last error: {truncate(feed.last_error or '?', 300)}.\n"
            "Fix the feed, then add it again with `/matinee feed add` to resume."
        )
        for channel_id in channels:
            await self._log(channel_id, text)

    async def _log(self, channel_id: int, text: str) -> None:
        try:
            await self.bot.get_partial_messageable(channel_id).send(
                truncate(text, 2000), allowed_mentions=discord.AllowedMentions.none()
            )
        except discord.HTTPException as exc:
            log.warning("could not post to log channel %s: %s", channel_id, exc.status)

    # -- /matinee setup ------------------------------------------------------------------------

    @admin_command(name="setup", description="Choose where reviews are announced")
    @app_commands.describe(
        channel="Text or forum channel for review announcements",
        ping_role="Role to ping with each announcement (optional)",
        log_channel="Channel for feed problems (optional)",
    )
    @app_commands.checks.has_permissions(manage_guild=True)
    async def setup_channel(
        self,
        interaction: discord.Interaction,
        channel: discord.TextChannel | discord.ForumChannel,
        ping_role: discord.Role | None = None,
        log_channel: discord.TextChannel | None = None,
    ) -> None:
        assert interaction.guild is not None
        guild = interaction.guild
        missing: list[str] = []
        me = guild.me
        if me is not None:
            perms = channel.permissions_for(me)
            missing = missing_permissions(perms, ANNOUNCEMENTS)
            if ping_role is not None and not ping_role.mentionable and not perms.mention_everyone:
                missing.append(f"Mention Everyone (to ping the non-mentionable {ping_role.mention})")
        if ping_role is not None and (ping_role.is_default() or ping_role.managed):
            raise UserFacingError("Pick a regular role to ping (not @everyone or a bot's role).")
        await self.service.set_up_guild(
            guild.id,
            announce_channel_id=channel.id,
            ping_role_id=ping_role.id if ping_role else None,
            log_channel_id=log_channel.id if log_channel else None,
        )
        self.wake()  # announcements that waited for a channel go out now
        lines = [f"Reviews will be announced in {channel.mention}."]
        lines.append(f"Each announcement pings {ping_role.mention}." if ping_role else "No role is pinged.")
        lines.append(
            f"Feed problems are reported in {log_channel.mention}." if log_channel else "No log channel is set."
        )
        if missing:
            lines.append(f"⚠ I seem to lack {', '.join(missing)} there; announcements will fail until that's fixed.")
        await interaction.response.send_message(
            "\n".join(lines), ephemeral=True, allowed_mentions=discord.AllowedMentions.none()
        )

    # -- /matinee feed ... -----------------------------------------------------------------------

    @admin_command(name="add", description="Follow a blog's RSS or Atom feed", group=FEED)
    @app_commands.describe(
        url="The feed's address (RSS or Atom), e.g. https://blog.example.com/feed/",
        channel="Where this feed's reviews go (default: the channel from /matinee setup)",
        backfill=f"Also announce this many of the newest existing reviews (0–{MAX_BACKFILL}, default 0)",
        category="Only entries in this category or tag are reviews, e.g. reviews (default: every entry)",
    )
    @app_commands.checks.has_permissions(manage_guild=True)
    async def feed_add(
        self,
        interaction: discord.Interaction,
        url: str,
        channel: discord.TextChannel | discord.ForumChannel | None = None,
        backfill: app_commands.Range[int, 0, MAX_BACKFILL] = 0,
        category: app_commands.Range[str, 1, MAX_CATEGORY_CHARS] | None = None,
    ) -> None:
        assert interaction.guild_id is not None
        await interaction.response.defer(ephemeral=True, thinking=True)
        feed, first, new = await self.service.add_feed(
            interaction.guild_id, url, channel_id=channel.id if channel else None, backfill=backfill,
            user_id=interaction.user.id, category=category,
        )  # fmt: skip
        self.wake()
        count = await self.service.feeds.entry_count(feed.id)
        where = channel.mention if channel else "the announcement channel"
        name = inert(feed.label, 200)
        sub = await self.service.feeds.subscription(interaction.guild_id, feed.id)
        which = _which_entries(sub.category if sub else None)
        if not new:
            text = f"Already following **{name}**; its reviews now go to {where}, {which}."
        else:
            text = f"Following **{name}** in {where}, {which}. {count} existing review(s) recorded"
            text += f"; the newest {backfill} will be announced." if backfill else " without announcing them."
            text += " New reviews will be announced as they are published."
        if first is not None and first.error:
            text += f"\nThe first read failed: {first.error}"
        await interaction.followup.send(text, ephemeral=True, allowed_mentions=discord.AllowedMentions.none())
        if first is not None:
            await self._handle(first)  # a feed read afresh may carry edits of posts already announced

    async def _feed_choices(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        if interaction.guild_id is None:
            return []
        needle = current.strip().lower()
        choices = []
        for feed, _sub in await self.service.feeds.feeds_of_guild(interaction.guild_id):
            label = clean_text(f"{feed.title} — {feed.url}" if feed.title else feed.url)
            if needle and needle not in label.lower():
                continue
            choices.append(app_commands.Choice(name=truncate(label, CHOICE_NAME), value=str(feed.id)))
            if len(choices) >= AUTOCOMPLETE_CHOICES:
                break
        return choices

    @admin_command(name="remove", description="Stop following a feed", group=FEED)
    @app_commands.autocomplete(feed=_feed_choices)
    @app_commands.describe(feed="The feed to stop following")
    @app_commands.checks.has_permissions(manage_guild=True)
    async def feed_remove(self, interaction: discord.Interaction, feed: str) -> None:
        assert interaction.guild_id is not None
        if not feed.strip().isdigit():
            raise UserFacingError("Pick a feed from the list.")
        removed = await self.service.remove_feed(interaction.guild_id, int(feed))
        name = inert(removed.label, 200)
        await interaction.response.send_message(
            f"Stopped following **{name}**. Reviews already announced stay where they are.",
            ephemeral=True,
            allowed_mentions=discord.AllowedMentions.none(),
        )

    @admin_command(name="list", description="Feeds, their status and problems", group=FEED)
    @app_commands.checks.has_permissions(manage_guild=True)
    async def feed_list(self, interaction: discord.Interaction) -> None:
        assert interaction.guild_id is not None
        statuses = await self.service.feed_statuses(interaction.guild_id)
        problems = await self.service.problems_for(interaction.guild_id)
        comment_feeds = await self.comment_bridge.statuses(interaction.guild_id)
        if not statuses and not problems and not comment_feeds:
            await interaction.response.send_message(
                "This server follows no feeds yet. Add one with `/matinee feed add`.", ephemeral=True
            )
            return
        # Problems first: they are what staff must act on, and fit_embed trims from the end.
        fields = problem_fields(problems)
        for status in statuses:
            feed = status.feed
            if feed.disabled:
                state = f"⛔ disabled {_timestamp(feed.disabled_at)}"
            elif feed.failure_count:
                state = f"⚠ failing ({feed.failure_count} in a row)"
            else:
                state = "✅ ok"
            if status.subscription and status.subscription.channel_id:
                where = f"<#{status.subscription.channel_id}>"
            elif feed.builtin and not status.subscription:
                where = "the announcement channel (REVIEW_FEEDS)"
            else:
                where = "the announcement channel"
            next_poll = "—" if feed.disabled else (_timestamp(feed.next_poll_at) if feed.next_poll_at else "soon")
            if status.subscription and status.subscription.category:
                where += f" · {_which_entries(status.subscription.category)}"
            value = (
                f"<{feed.url}>\n{state} · {status.entry_count} entries · posts to {where}\n"
                f"Last fetch {_timestamp(feed.last_fetch_at)} · next poll {next_poll}"
            )
            if feed.last_error:
                value += f"\nLast error: {feed.last_error}"
            fields.append((clean_text(feed.title or f"Feed #{feed.id}"), value))
        fields.extend(comment_feed_fields(comment_feeds))
        description = "" if statuses else "This server follows no feeds yet. Add one with `/matinee feed add`."
        title, description, fitted, footer, _ = fit_embed(
            "Review feeds", description, fields, "Feeds are polled every few minutes.", ""
        )
        embed = discord.Embed(title=title, description=description or None, colour=EMBED_COLOUR)
        for name, value in fitted:
            embed.add_field(name=name, value=value, inline=False)
        embed.set_footer(text=footer)
        await interaction.response.send_message(
            embed=embed, ephemeral=True, allowed_mentions=discord.AllowedMentions.none()
        )

    @admin_command(name="retry", description="Retry announcements and threads that failed, now", group=FEED)
    @app_commands.checks.has_permissions(manage_guild=True)
    async def feed_retry(self, interaction: discord.Interaction) -> None:
        assert interaction.guild_id is not None
        count = await self.service.retry_problems(interaction.guild_id)
        self.wake()
        text = (
            f"Retrying {count} failed announcement(s) or thread(s) now; `/matinee feed list` shows how it went."
            if count
            else "Nothing to retry: no announcement or thread is waiting."
        )
        await interaction.response.send_message(text, ephemeral=True, allowed_mentions=discord.AllowedMentions.none())

    @admin_command(name="dismiss", description="Dismiss the problems /matinee feed list shows", group=FEED)
    @app_commands.checks.has_permissions(manage_guild=True)
    async def feed_dismiss(self, interaction: discord.Interaction) -> None:
        assert interaction.guild_id is not None
        dismissed = await self.service.dismiss_problems(interaction.guild_id)
        if not dismissed:
            text = "Nothing to dismiss: `/matinee feed list` shows no open problem."
        else:
            text = f"Dismissed {len(dismissed)} problem(s)."
            unsent = sum(1 for p in dismissed if p.kind == ANNOUNCEMENT)
            if unsent:
                text += f" {unsent} review(s) that could not be posted will not be announced."
        await interaction.response.send_message(text, ephemeral=True, allowed_mentions=discord.AllowedMentions.none())

    # -- /matinee review post ----------------------------------------------------------------------

    @admin_command(name="post", description="Write a review and announce it", group=REVIEW)
    @app_commands.checks.has_permissions(manage_messages=True)
    async def review_post(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_modal(ReviewModal(self))


def comment_feed_fields(statuses: list[CommentFeedStatus]) -> list[tuple[str, str]]:
    """The blog-comment bridge's feeds in a few lines: a summary, then failing feeds first, one line each."""
    if not statuses:
        return []
    failing = sum(1 for s in statuses if s.feed.failure_count)
    stored = sum(s.comments for s in statuses)
    summary = f"{len(statuses)} comment feed(s) · {stored} blog comment(s) stored"
    summary += f" · ⚠ {failing} failing" if failing else " · ✅ all read fine"
    lines = [summary]
    for status in statuses[:COMMENT_FEED_LINES]:
        feed = status.feed
        title = inert(feed.review_title or f"Review #{feed.review_id}", 60)
        read = f"read {_timestamp(feed.last_fetch_at)}" if feed.last_fetch_at else "not read yet"
        if feed.failure_count:
            error = truncate(clean_text(feed.last_error or "?"), 120)
            line = f"⚠ **{title}**: {error} ({feed.failure_count} in a row) · {read}"
            line += f" · next {_timestamp(feed.next_poll_at)}"
        else:
            line = f"✅ **{title}**: {status.comments} comment(s) · {read}"
        if status.failed_posts or status.post_error:
            line += f" · ⚠ {status.failed_posts} not posted here: {truncate(clean_text(status.post_error or '?'), 100)}"
        lines.append(line)
    if len(statuses) > COMMENT_FEED_LINES:
        lines.append(f"…and {len(statuses) - COMMENT_FEED_LINES} more.")
    return _pack("Blog comments", lines)


def _pack(name: str, lines: list[str]) -> list[tuple[str, str]]:
    """Lines packed into as few embed fields as fit (each value ≤1024 characters)."""
    fields: list[tuple[str, str]] = []
    chunk = ""
    for line in lines:
        line = truncate(line, FIELD_VALUE)
        if chunk and len(chunk) + 1 + len(line) > FIELD_VALUE:
            fields.append((name, chunk))
            name, chunk = f"{name} (continued)", ""
        chunk = f"{chunk}\n{line}" if chunk else line
    fields.append((name, chunk))
    return fields


def _which_entries(category: str | None) -> str:
    """What a subscription takes, in words (the category as staff typed it, escaped)."""
    if not category:
        return "every entry"
    return f"only entries in category **{inert(category, 100)}**"


def problem_fields(problems: list[Problem]) -> list[tuple[str, str]]:
    """Embed fields listing open problems, then recently resolved ones (each section packed into ≤1024 chars)."""
    fields: list[tuple[str, str]] = []
    sections = (("⚠ Needs attention", [p for p in problems if p.open]),
                ("Resolved recently", [p for p in problems if not p.open]))  # fmt: skip
    for name, section in sections:
        if not section:
            continue
        lines = [describe_problem(p, escape=discord.utils.escape_markdown) for p in section[:PROBLEM_LINES]]
        if len(section) > PROBLEM_LINES:
            lines.append(f"…and {len(section) - PROBLEM_LINES} more.")
        fields.extend(_pack(name, lines))
    return fields
