"""Forgetting a member: every feature's eraser, called through one registry.

``/forget-me`` (in a server) and ``matinee forget`` (everywhere) both call
:meth:`PrivacyRegistry.forget`; the confirmation question comes from
:meth:`PrivacyRegistry.preview`. Each feature that stores something about a
member implements :class:`~bot.storage.privacy.MemberDataEraser` and is listed
in :func:`member_data_registry`; ``tests/bot/test_privacy.py`` fails when a table
holding a member's id has no eraser.

What a server-scoped forget does with data that belongs to no server (the
watchlist, which follows the member everywhere, and chat in direct messages):
it erases that too, because a member has nowhere else to ask, and the
confirmation says so.

Forgotten means forgotten: :meth:`PrivacyRegistry.forget` also records a durable
mark per member and scope (``bot/storage/forgotten.py``), so re-reading Discord
(poll voters after a new session, a thread's history) never stores the member's
earlier votes and messages again, while what they do afterwards is stored.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .storage import BatchedWriter, CommentRepository, Database, PollRepository, RatingRepository
from .storage.conversations import ConversationRepository
from .storage.forgotten import ForgottenRepository
from .storage.privacy import NO_SERVER, MemberDataEraser
from .storage.watchlist import WatchlistRepository
from .storage.web import WebRepository

__all__ = [
    "Erased",
    "ForgetReport",
    "PrivacyRegistry",
    "cli_summary",
    "done_message",
    "member_data_registry",
    "question_message",
]


@dataclass(frozen=True, slots=True)
class Erased:
    """One eraser's count: ``count`` items of ``name`` ("2 comments")."""

    name: str
    count: int

    def __str__(self) -> str:
        return f"{self.count} {self.name}"


@dataclass(frozen=True, slots=True)
class ForgetReport:
    """What was (or, for a preview, would be) erased, eraser by eraser.

    ``here`` is the scope asked for: one server, or everywhere when ``guild_id``
    is None. ``no_server`` is what belongs to no server, taken along with a
    server-scoped forget; ``no_server_what`` says what that is, for the member.
    """

    user_id: int
    guild_id: int | None
    here: tuple[Erased, ...]
    no_server: tuple[Erased, ...] = ()
    no_server_what: tuple[str, ...] = ()

    def count(self, name: str) -> int:
        return sum(e.count for e in (*self.here, *self.no_server) if e.name == name)

    @property
    def total(self) -> int:
        return sum(e.count for e in (*self.here, *self.no_server))


class PrivacyRegistry:
    """Every feature's eraser of member data, run in registration order, and the forgotten marks.

    ``forgotten`` records that a member asked to be forgotten (None only in tests
    of the erasers alone).
    """

    def __init__(self, erasers: Iterable[MemberDataEraser], *, forgotten: ForgottenRepository | None = None) -> None:
        self._erasers: list[MemberDataEraser] = []
        self._forgotten = forgotten
        for eraser in erasers:
            self.register(eraser)

    def register(self, eraser: MemberDataEraser) -> None:
        names = {e.member_data.name for e in self._erasers}
        tables = {t for e in self._erasers for t in e.member_data.tables}
        data = eraser.member_data
        if data.name in names or tables.intersection(data.tables):
            raise ValueError(f"{data.name!r}: each kind of member data, and each table, has one eraser")
        self._erasers.append(eraser)

    @property
    def erasers(self) -> Sequence[MemberDataEraser]:
        return tuple(self._erasers)

    @property
    def tables(self) -> set[str]:
        return {t for e in self._erasers for t in e.member_data.tables}

    async def preview(self, user_id: int, guild_id: int | None) -> ForgetReport:
        """What :meth:`forget` would erase now (for the confirmation question)."""
        return await self._run(user_id, guild_id, erase=False)

    async def forget(self, user_id: int, guild_id: int | None) -> ForgetReport:
        """Erase the member's data for good: in one server (and what belongs to none), or everywhere.

        The one path both /forget-me and ``matinee forget`` take. First the mark goes
        in, "in progress": from then on nothing of the member in that scope is stored,
        so a vote or message handled while the erasers run is refused or erased, never
        half left (a rating without its vote). When the erasers are done the mark
        gets its time: what the member did before it never comes back from a re-read
        of Discord; what they do after it is stored again.
        """
        if self._forgotten is not None:
            await self._forgotten.begin(user_id, guild_id)
        report = await self._run(user_id, guild_id, erase=True)
        if self._forgotten is not None:
            await self._forgotten.complete(user_id, guild_id)
        return report

    async def finish_interrupted(self) -> list[ForgetReport]:
        """Forgets that began and never completed (the process stopped in between): run them again.

        Until then their mark stays "in progress", which refuses the member's activity
        in that scope: the safe side. Called when the bot starts.
        """
        if self._forgotten is None:
            return []
        return [await self.forget(user_id, guild_id) for user_id, guild_id in await self._forgotten.interrupted()]

    async def _run(self, user_id: int, guild_id: int | None, *, erase: bool) -> ForgetReport:
        if guild_id is None:
            everywhere = [await self._one(e, user_id, None, erase) for e in self._erasers]
            return ForgetReport(user_id, None, tuple(everywhere))
        per_server = [e for e in self._erasers if e.member_data.per_server]
        outside = [e for e in self._erasers if e.member_data.outside_servers]
        here = [await self._one(e, user_id, guild_id, erase) for e in per_server]
        no_server = [await self._one(e, user_id, NO_SERVER, erase) for e in outside]
        return ForgetReport(
            user_id,
            guild_id,
            tuple(here),
            tuple(no_server),
            tuple(e.member_data.outside_servers or "" for e in outside),
        )

    @staticmethod
    async def _one(eraser: MemberDataEraser, user_id: int, guild_id: int | None, erase: bool) -> Erased:
        method = eraser.erase_member if erase else eraser.count_member
        return Erased(eraser.member_data.name, await method(user_id, guild_id))


def member_data_registry(db: Database, writer: BatchedWriter) -> PrivacyRegistry:
    """The one list of features that store member data; a new feature adds its eraser here."""
    return PrivacyRegistry(
        [
            CommentRepository(db, writer),
            PollRepository(db, writer),
            RatingRepository(db),
            WatchlistRepository(db),
            ConversationRepository(db),
            WebRepository(db),
        ],
        forgotten=ForgottenRepository(db),
    )


# -- what the member and the operator are told ----------------------------------------------


def _join(items: Sequence[object]) -> str:
    words = [str(i) for i in items]
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _counted(items: Sequence[Erased]) -> list[Erased]:
    """What is worth saying: the kinds with something in them, or the first kind when there is nothing at all."""
    return [e for e in items if e.count] or list(items[:1])


def _capitalised(text: str) -> str:
    return text[:1].upper() + text[1:]


def question_message(preview: ForgetReport) -> str:
    """The /forget-me question, before anything is erased."""
    text = f"This erases for good what I've stored from you in this server: {_join(_counted(preview.here))}."
    if preview.no_server:
        what = preview.no_server_what
        verb = "belong to no server, so they go" if len(what) > 1 else "belongs to no server, so it goes"
        text += f" {_capitalised(_join(what))} {verb} too: {_join(_counted(preview.no_server))}."
    return text + " Are you sure?"


def done_message(report: ForgetReport) -> str:
    """The /forget-me answer once confirmed."""
    text = f"Done. I erased {_join(_counted(report.here))} of yours in this server"
    if report.no_server:
        text += f", and {_join(_counted(report.no_server))} from {_join(report.no_server_what)}"
    return text + ". (New messages in review threads will be stored again.)"


def cli_summary(report: ForgetReport) -> str:
    """``matinee forget``'s one line."""
    return f"erased {_join(report.here)} of user {report.user_id} in every server and in direct messages"
