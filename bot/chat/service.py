"""ChatService: from a member's message to a streamed, grounded, guarded reply.

The chat cog turns Discord events into a :class:`ChatRequest` and a
:class:`~bot.chat.streaming.ReplyTarget`; everything else happens here, with no
discord.py types:

guards (member rate limit, guild token budget, optional moderation) →
context (persona, the thread's review and film, retrieval, history) →
prompt packing → streaming with up to three read-only tool rounds →
friendly handling of provider failures → memory and usage in SQLite.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from ..errors import UserFacingError
from ..llm import LLM, MODERATION_MODEL, ModelError, ThinkStripper, ToolCall, log_failure, strip_think
from ..models import Film
from ..settings import Settings
from ..storage.conversations import ChatRequestRepository, ConversationRepository, UsageRepository
from ..storage.database import Database
from ..storage.films import FilmRepository
from ..storage.guilds import GuildSettingsRepository
from ..storage.retrieval import RetrievalRepository, ReviewHit
from ..storage.reviews import AnnouncementRepository, ReviewRepository
from ..text import clean_text, neutralize_mentions, truncate
from .guards import SlidingWindowLimiter, TokenBudget
from .prompt_packing import (
    HISTORY_CUT_NOTE,
    PERSONA_MAX_CHARS,
    ChatContext,
    PackedPrompt,
    describe_for_log,
    pack_prompt,
)
from .streaming import ReplyTarget, ThrottledEditor
from .tokens import TokenCounter, estimate_tokens
from .tools import TOOL_SPECS, ToolContext, ToolRunner

__all__ = [
    "MAX_TOOL_ROUNDS",
    "ChatReply",
    "ChatRequest",
    "ChatService",
    "FallbackAnswer",
    "Outcome",
    "display_text",
]

log = logging.getLogger(__name__)
# Provider failures of the whole chat feature are logged under one name.
failure_log = logging.getLogger("bot.chat")

MAX_TOOL_ROUNDS = 3
HISTORY_LIMIT = 40
THREAD_COMMENTS = 12
RETRIEVED_REVIEWS = 4
RETRIEVED_COMMENTS = 4
QUESTION_MAX_CHARS = 8000

STREAM_CUT_NOTE = "-# My connection to the model dropped mid-answer, so this reply may be incomplete."
EMPTY_ANSWER = "I'm lost for words on that one. Could you ask it another way?"
NOT_CONFIGURED_POINTER = (
    "Chat isn't set up on this Matinee, so I can't talk films just yet. Meanwhile, look a film up with "
    "`/film` and search the blog's reviews with `/reviews`."
)
FALLBACK_NOTE = (
    "Chat isn't set up on this Matinee (no language model is configured), so here is what I found in the "
    "reviews instead."
)


class Outcome(StrEnum):
    ANSWERED = "answered"
    RATE_LIMITED = "rate_limited"
    BUDGET_EXHAUSTED = "budget_exhausted"
    MODERATED = "moderated"
    FAILED = "failed"
    NOT_CONFIGURED = "not_configured"


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """One thing a member said to Matinee, stripped of Discord types.

    ``conversation_id`` is the channel, thread or DM channel: each is its own
    conversation. ``thread_id`` is set when that is a thread (a review thread
    grounds the reply in its review). ``remember=False`` (ephemeral /ask) reads
    the conversation but doesn't add to it.
    """

    conversation_id: int
    author_id: int
    author_name: str
    content: str
    guild_id: int | None = None
    thread_id: int | None = None
    place: str | None = None
    quoted_text: str | None = None
    quoted_author: str | None = None
    remember: bool = True
    check_rate_limit: bool = True
    message_id: int | None = None  # the member's own message, left out of the thread's comments


@dataclass(slots=True)
class ChatReply:
    outcome: Outcome
    text: str
    messages: list[Any] = field(default_factory=list)
    history_cut: bool = False
    tokens: int = 0
    tool_rounds: int = 0
    failure: str | None = None


@dataclass(frozen=True, slots=True)
class FallbackAnswer:
    """What /ask can offer without a model: matching reviews and a film card."""

    note: str
    reviews: list[ReviewHit]
    film: Film | None


@dataclass(slots=True)
class _Generation:
    """State of one generation, readable after a mid-stream failure."""

    raw: list[str] = field(default_factory=list)
    visible: str = ""
    tokens: int = 0
    tool_rounds: int = 0
    requests: int = 0


def display_text(text: str) -> str:
    """Model output made safe to show: no control characters, no live mentions."""
    return neutralize_mentions(clean_text(text))


def _retry_phrase(seconds: float) -> str:
    seconds = max(1, round(seconds + 0.5))
    return f"{seconds} second{'s' if seconds != 1 else ''}" if seconds < 90 else f"{round(seconds / 60)} minutes"


class ChatService:
    """The chat host. One instance per bot; safe to call concurrently."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        llm: LLM | None,
        *,
        counter: TokenCounter | None = None,
        limiter: SlidingWindowLimiter | None = None,
        budget: TokenBudget | None = None,
        edit_interval: float = 1.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.llm = llm
        self.counter = counter or TokenCounter()
        self.conversations = ConversationRepository(db)
        self.usage = UsageRepository(db)
        self.retrieval = RetrievalRepository(db)
        self.reviews = ReviewRepository(db)
        self.announcements = AnnouncementRepository(db)
        self.films = FilmRepository(db)
        self.guild_settings = GuildSettingsRepository(db)
        self.limiter = limiter or SlidingWindowLimiter(
            ChatRequestRepository(db), settings.chat_requests_per_minute, 60.0, clock=clock
        )
        self.budget = budget or TokenBudget(self.usage, settings.chat_daily_token_budget)
        self.edit_interval = edit_interval

    @property
    def configured(self) -> bool:
        return self.llm is not None

    # ------------------------------------------------------------------ guards
    async def check_rate_limit(self, guild_id: int | None, author_id: int) -> str | None:
        """Record a request; a polite refusal when the member is over the limit, else None."""
        retry = await self.limiter.hit(guild_id, author_id)
        if retry is None:
            return None
        return (
            f"You're asking faster than I can watch films! You can send {self.limiter.limit} requests a minute; "
            f"try again in {_retry_phrase(retry)}."
        )

    async def check_budget(self, guild_id: int | None) -> str | None:
        until = await self.budget.exhausted_until(guild_id)
        if until is None:
            return None
        ts = int(until.timestamp())
        where = "This server has" if guild_id else "Direct messages have"
        return f"{where} used up today's chat allowance. It resets <t:{ts}:R> (at <t:{ts}:t>); see you then!"

    async def moderate(self, text: str) -> str | None:
        """A refusal when moderation is on and flags ``text``; None when it may go to the model.

        Moderation fails closed: an admin switched it on, so an unreachable
        endpoint must not silently let everything through.
        """
        if not self.settings.openai_moderation or self.llm is None:
            return None
        try:
            flagged = await self.llm.moderate(text[:QUESTION_MAX_CHARS])
        except ModelError as error:
            self._log_failure(error, "moderation", model=MODERATION_MODEL)
            return "I couldn't run my safety check on that message just now, so I'll sit this one out. Try again soon."
        if flagged:
            log.info("moderation flagged a chat message; not answering")
            return "I'd rather not respond to that one. Let's keep the conversation friendly and about films."
        return None

    # ------------------------------------------------------------------ persona
    async def persona(self, guild_id: int) -> str | None:
        return (await self.guild_settings.get(guild_id)).persona

    async def set_persona(self, guild_id: int, text: str | None) -> str | None:
        """Store (or with None / blank, reset) the guild's persona; returns what is stored."""
        value = clean_text(text or "").strip()
        if len(value) > PERSONA_MAX_CHARS:
            raise UserFacingError(f"A persona can be at most {PERSONA_MAX_CHARS} characters; yours has {len(value)}.")
        settings = await self.guild_settings.update(guild_id, persona=value or None)
        return settings.persona

    # ------------------------------------------------------------------ context
    async def gather_context(self, request: ChatRequest) -> tuple[ChatContext, ToolContext]:
        """Everything the reply may draw on, in a handful of bounded queries."""
        question = clean_text(request.content)[:QUESTION_MAX_CHARS]
        search_text = f"{question}\n{request.quoted_text or ''}".strip()

        async def none() -> None:
            return None

        persona_f = self.guild_settings.get(request.guild_id) if request.guild_id else none()
        history_f = self.conversations.recent(request.conversation_id, limit=HISTORY_LIMIT + 1)
        announcement_f = self.announcements.by_thread(request.thread_id) if request.thread_id else none()
        review_hits_f = self.retrieval.search_reviews(search_text, limit=RETRIEVED_REVIEWS + 1)
        comment_hits_f = (
            self.retrieval.search_comments(
                search_text, guild_id=request.guild_id, limit=RETRIEVED_COMMENTS, exclude_thread_id=request.thread_id
            )
            if request.guild_id
            else none()
        )
        guild_settings, history, announcement, review_hits, comment_hits = await asyncio.gather(
            persona_f, history_f, announcement_f, review_hits_f, comment_hits_f
        )
        review = film = None
        thread_comments: list[Any] = []
        spoiler = False
        if announcement is not None and announcement.guild_id == request.guild_id:
            review, thread_comments = await asyncio.gather(
                self.reviews.get(announcement.review_id),
                self.retrieval.recent_comments(request.thread_id or 0, limit=THREAD_COMMENTS),
            )
            spoiler = announcement.spoiler
            thread_comments = [c for c in thread_comments if c.message_id != request.message_id]
            if review is not None and review.film_id is not None:
                film = await self.films.get(review.film_id)
        more_history = len(history) > HISTORY_LIMIT
        review_hits = [h for h in review_hits if review is None or h.id != review.id][:RETRIEVED_REVIEWS]
        context = ChatContext(
            question=question,
            author_name=request.author_name,
            persona=guild_settings.persona if guild_settings is not None else None,
            spoiler_thread=spoiler,
            review=review,
            film=film,
            thread_comments=thread_comments,
            review_hits=review_hits,
            comment_hits=comment_hits or [],
            history=history[:HISTORY_LIMIT],
            more_history=more_history,
            quoted_text=clean_text(request.quoted_text) if request.quoted_text else None,
            quoted_author=request.quoted_author,
            place=request.place,
        )
        return context, ToolContext(guild_id=request.guild_id, review_id=review.id if review else None)

    # ------------------------------------------------------------------ no model
    async def fallback_answer(self, request: ChatRequest) -> FallbackAnswer:
        """What /ask shows when no model is configured: matching reviews and a film card."""
        context, _ = await self.gather_context(request)
        hits = list(context.review_hits)
        if context.review is not None:  # in a review thread, its own review comes first
            hits.insert(0, ReviewHit.from_review(context.review))
        film = context.film
        if film is None:  # the film of the best-matching review, else a title match
            film_id = next((h.film_id for h in hits if h.film_id is not None), None)
            film = await self.films.get(film_id) if film_id is not None else None
        if film is None:
            matches = await self.films.search(clean_text(request.content).strip()[:200], limit=1)
            film = matches[0] if matches else None
        return FallbackAnswer(note=FALLBACK_NOTE, reviews=hits[:RETRIEVED_REVIEWS], film=film)

    # ------------------------------------------------------------------ respond
    async def respond(self, request: ChatRequest, target: ReplyTarget) -> ChatReply:
        """Answer ``request`` through ``target``: guards, context, streaming, memory.

        Never raises for provider failures or bad model output; the member always
        gets a reply saying what happened.
        """
        if request.check_rate_limit:
            refusal = await self.check_rate_limit(request.guild_id, request.author_id)
            if refusal is not None:
                return await self._say(target, Outcome.RATE_LIMITED, refusal)
        if self.llm is None:
            return await self._say(target, Outcome.NOT_CONFIGURED, NOT_CONFIGURED_POINTER)
        refusal = await self.check_budget(request.guild_id)
        if refusal is not None:
            return await self._say(target, Outcome.BUDGET_EXHAUSTED, refusal)
        refusal = await self.moderate(request.content)
        if refusal is not None:
            return await self._say(target, Outcome.MODERATED, refusal)

        async with contextlib.AsyncExitStack() as stack:
            typing_stopped = asyncio.Event()

            async def stop_typing() -> None:
                if not typing_stopped.is_set():
                    typing_stopped.set()
                    await stack.aclose()

            try:
                await stack.enter_async_context(target.typing())
            except Exception:  # a typing indicator is nice to have, never required
                log.debug("could not start the typing indicator", exc_info=True)
            editor = ThrottledEditor(target, interval=self.edit_interval, on_first_send=stop_typing)
            try:
                return await self._respond(request, editor)
            finally:
                await editor.aclose()

    async def _respond(self, request: ChatRequest, editor: ThrottledEditor) -> ChatReply:
        context, tool_context = await self.gather_context(request)
        runner = ToolRunner(self.films, self.reviews, self.retrieval, tool_context)
        budget = self.settings.chat_context_tokens
        packed = pack_prompt(context, budget, self.counter)
        log.debug("chat prompt packed: %s", describe_for_log(packed))
        state = _Generation()
        notes: list[str] = []
        failure: ModelError | None = None
        use_tools, shrunk = True, False
        while True:
            try:
                await self._generate(packed, runner, editor, state, use_tools=use_tools)
                break
            except ModelError as error:
                if editor.posted or state.visible:
                    failure = error  # the member already sees part of an answer: never start over
                elif error.kind == "context_length" and not shrunk:
                    self._log_failure(error, "shrinking the context")
                    shrunk = True
                    packed = pack_prompt(context, max(256, budget // 2), self.counter)
                elif use_tools and _tools_maybe_unsupported(error, state):
                    # Some local servers (Ollama models without tool support, vLLM without
                    # --enable-auto-tool-choice) answer 400 to any request with tools; such
                    # errors carry no code to recognise, so one retry without tools is the test.
                    self._log_failure(error, "retrying without tools")
                    use_tools = False
                else:
                    failure = error
                if failure is not None:
                    break
                state = _Generation(tokens=state.tokens)

        answer = strip_think("".join(state.raw))
        if failure is not None:
            self._log_failure(failure)
            # A stream cut by the connection (or the client's timeout) keeps what was said.
            if not answer.strip() or failure.kind not in {"connection", "timeout"}:
                return await self._finish_failure(editor, failure.failure.message, failure.kind, state)
            notes.append(STREAM_CUT_NOTE)
        if not answer.strip():
            answer = EMPTY_ANSWER
        if packed.history_cut:
            notes.append(HISTORY_CUT_NOTE)
        final = display_text(answer) + ("\n\n" + "\n".join(notes) if notes else "")
        messages = await editor.finish(final)
        tokens = state.tokens or (packed.prompt_tokens + estimate_tokens("".join(state.raw)))
        await self._record(request, answer, tokens)
        return ChatReply(
            Outcome.ANSWERED,
            final,
            messages,
            history_cut=packed.history_cut,
            tokens=tokens,
            tool_rounds=state.tool_rounds,
            failure=failure.kind if failure is not None else None,
        )

    def _log_failure(self, error: ModelError, attempt: str = "", *, model: str | None = None) -> None:
        model = model or (self.llm.model if self.llm is not None else "")
        log_failure(error.cause, error.failure, model=model, attempt=attempt, logger=failure_log)

    async def _finish_failure(self, editor: ThrottledEditor, message: str, kind: str, state: _Generation) -> ChatReply:
        messages = await editor.finish(message)
        return ChatReply(Outcome.FAILED, message, messages, tokens=state.tokens, failure=kind)

    async def _record(self, request: ChatRequest, answer: str, tokens: int) -> None:
        """Remember the exchange and count its tokens against the guild's budget."""
        try:
            if request.remember:
                await self.conversations.add_turns(
                    request.conversation_id,
                    guild_id=request.guild_id,
                    turns=[
                        (
                            "user",
                            truncate(clean_text(request.content), QUESTION_MAX_CHARS),
                            self.counter.count(request.content),
                            request.author_id,
                            request.author_name,
                        ),
                        ("assistant", answer, self.counter.count(answer), None, None),
                    ],
                )
            await self.budget.spend(request.guild_id, tokens)
        except Exception:
            # The member already has the answer; losing memory of it is logged, not raised.
            log.exception("could not store a chat exchange")

    async def _say(self, target: ReplyTarget, outcome: Outcome, text: str) -> ChatReply:
        try:
            message = await target.send(text)
        except Exception:
            log.warning("could not deliver a chat notice (%s)", outcome, exc_info=True)
            return ChatReply(outcome, text)
        return ChatReply(outcome, text, [message])

    # ------------------------------------------------------------------ model
    async def _generate(
        self,
        packed: PackedPrompt,
        runner: ToolRunner,
        editor: ThrottledEditor,
        state: _Generation,
        *,
        use_tools: bool = True,
    ) -> None:
        """Stream the answer, running tool calls for at most MAX_TOOL_ROUNDS rounds."""
        messages = list(packed.messages)
        stripper = ThinkStripper()
        while True:
            final_round = state.tool_rounds >= MAX_TOOL_ROUNDS or not use_tools
            state.requests += 1
            tools = TOOL_SPECS if use_tools else None
            round_text: list[str] = []
            async with self.llm.stream(messages, tools=tools, tool_choice="none" if final_round else "auto") as stream:
                try:
                    async for piece in stream:
                        round_text.append(piece)
                        state.raw.append(piece)
                        visible = stripper.feed(piece)
                        if visible:
                            state.visible += visible
                            await editor.update(display_text(state.visible))
                finally:
                    state.tokens += stream.total_tokens
            calls = stream.tool_calls
            if not calls or final_round:
                if calls:
                    log.info("model asked for tools after %d rounds; answering without them", state.tool_rounds)
                break
            state.tool_rounds += 1
            await self._run_tools(messages, calls, round_text, runner, state.tool_rounds)
        tail = stripper.finish()
        if tail:
            state.visible += tail
            await editor.update(display_text(state.visible))

    async def _run_tools(
        self,
        messages: list[dict[str, Any]],
        calls: list[ToolCall],
        round_text: list[str],
        runner: ToolRunner,
        round_number: int,
    ) -> None:
        for n, call in enumerate(calls):
            call.id = call.id or f"call_{round_number}_{n}"
        results: list[Awaitable[str]] = [runner.run(call.name, call.arguments) for call in calls]
        outputs = [await r for r in results]  # one SQLite connection: sequential anyway
        messages.append(
            {
                "role": "assistant",
                "content": "".join(round_text) or None,
                "tool_calls": [
                    {
                        "id": call.id,
                        "type": "function",
                        "function": {"name": call.name, "arguments": _echo_arguments(call.arguments)},
                    }
                    for call in calls
                ],
            }
        )
        for call, output in zip(calls, outputs, strict=True):
            messages.append({"role": "tool", "tool_call_id": call.id, "content": output})
        log.debug("chat tool round %d: %s", round_number, [c.name[:40] for c in calls])


def _tools_maybe_unsupported(error: ModelError, state: _Generation) -> bool:
    """A 400/422 on the very first request that isn't a known, coded error: maybe the tools."""
    if state.tool_rounds or state.requests > 1:
        return False
    return error.status in {400, 422} and error.kind == "other"


def _echo_arguments(raw: str) -> str:
    """Arguments to send back in the assistant turn: valid JSON, or ``{}`` when the model's weren't."""
    try:
        json.loads(raw or "{}")
    except (ValueError, RecursionError):
        return "{}"
    return raw or "{}"
