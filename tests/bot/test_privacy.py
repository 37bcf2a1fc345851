"""The privacy contract: every table that holds a member's id has an eraser, and forgetting leaves nothing.

The schema is read from the migrated database, so a feature that adds a table of
member data without an eraser (or without a reason to be exempt) fails here.
"""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest

from bot.models import Comment
from bot.privacy import (
    Erased,
    ForgetReport,
    PrivacyRegistry,
    cli_summary,
    done_message,
    member_data_registry,
    question_message,
)
from bot.storage import (
    BatchedWriter,
    CommentRepository,
    Database,
    FilmRepository,
    PollRepository,
    RatingRepository,
    ReviewRepository,
)
from bot.storage.conversations import ChatRequestRepository, ConversationRepository
from bot.storage.privacy import NO_SERVER, MemberDataEraser
from bot.storage.watchlist import WatchlistRepository
from bot.storage.web import WebRepository

# A column that names a person: user_id, author_id, voter_id, member_id, owner_id, author_name, author...
MEMBER_COLUMN = re.compile(r"^(?:\w+_)?(?:user|author|voter|member|owner|requester|reporter)(?:_id|_name)?$")

# Tables that match MEMBER_COLUMN but hold no member data, each with its reason.
# Rows that record a member's refusal, kept by design when they are forgotten (a hidden-from-the-blog choice:
# erasing it would publish what they write next in a server that publishes unless members opt out).
KEPT_REFUSALS = {"web_member_prefs": "show = 0"}

NOT_MEMBER_DATA = {
    "reviews": "`author` is the blog post's byline from the feed or front matter, not a Discord member",
    "forgotten_members": "the member's own request to be forgotten (ids and a time, nothing they wrote): "
    "erasing it would let a re-read of Discord bring back the votes and messages it erased",
}

ALICE, BOB = 7, 8  # Alice asks to be forgotten; Bob's rows must all stay
HERE, THERE = 1, 2  # two servers


async def member_columns(db: Database) -> dict[str, list[str]]:
    """Every table of the migrated schema (FTS shadow tables aside) with its columns that name a person."""
    tables = [
        r[0]
        for r in await db.fetchall(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
        )
    ]
    found: dict[str, list[str]] = {}
    for table in tables:
        if re.search(r"_(?:data|idx|content|docsize|config)$", table) or table.endswith("_fts"):
            continue  # FTS5 indexes and their shadow tables: content lives (and is erased) in the base table
        columns = [r[1] for r in await db.fetchall(f"PRAGMA table_info({table})")]
        named = [c for c in columns if MEMBER_COLUMN.match(c)]
        if named:
            found[table] = named
    return found


async def test_every_table_that_holds_a_member_has_exactly_one_eraser(db: Database, writer: BatchedWriter) -> None:
    registry = member_data_registry(db, writer)
    holding = await member_columns(db)
    assert holding, "the schema introspection found nothing: the test itself is broken"
    missing = sorted(set(holding) - registry.tables - set(NOT_MEMBER_DATA))
    assert missing == [], (
        f"tables {missing} hold a member's id but no eraser covers them: implement MemberDataEraser "
        "(bot/storage/privacy.py) in their repository and list it in bot.privacy.member_data_registry, "
        "or add the table to NOT_MEMBER_DATA with the reason it is not member data"
    )
    assert registry.tables <= set(holding), "an eraser names a table that holds no member id (a typo?)"
    assert not set(NOT_MEMBER_DATA) & registry.tables
    for eraser in registry.erasers:
        assert isinstance(eraser, MemberDataEraser)


async def test_a_second_eraser_for_the_same_data_is_refused(db: Database, writer: BatchedWriter) -> None:
    registry = member_data_registry(db, writer)
    with pytest.raises(ValueError, match="one eraser"):
        registry.register(CommentRepository(db, writer))


@pytest.fixture
async def seeded(db: Database, writer: BatchedWriter):
    """Alice and Bob in two servers and in direct messages, in every table of member data."""
    films = FilmRepository(db)
    heat, ronin = await films.add(title="Heat"), await films.add(title="Ronin")
    review, _ = await ReviewRepository(db).upsert(
        source="s", source_key="k", slug="heat", title="Heat", film_id=heat.id, content_hash="1"
    )
    comments, polls = CommentRepository(db, writer), PollRepository(db, writer)
    ratings, watchlist, chat = RatingRepository(db), WatchlistRepository(db), ConversationRepository(db)
    web = WebRepository(db)
    requests = ChatRequestRepository(db)  # the chat rate limit's record of when each member asked

    async def asked(guild: int | None, user: int) -> None:
        assert await requests.record_unless_full(guild, user, at=1000.0, since=940.0, limit=5)

    message_ids = iter(range(100, 1000))
    for guild in (HERE, THERE):
        thread = 10 * guild
        await polls.record_poll(thread + 1, review.id, guild, thread, None)
        for user in (ALICE, BOB):
            for _ in range(2):
                await comments.store(
                    Comment(next(message_ids), review.id, guild, thread, user, f"m{user}", "hi", "2026-01-01T00:00Z")
                )
            await polls.add_vote(thread + 1, review.id, guild, user, 4)
            await ratings.set_rating(guild, user, heat.id, 4.0, source="poll")
            await ratings.set_rating(guild, user, ronin.id, 2.5, source="rate")
            await chat.add(thread, role="user", content="hello", tokens=1, guild_id=guild, author_id=user)
            await chat.add(thread, role="assistant", content="hi there", tokens=2, guild_id=guild)
            await asked(guild, user)
    for user in (ALICE, BOB):
        await chat.add(500 + user, role="user", content="in a DM", tokens=1, guild_id=None, author_id=user)
        await asked(None, user)
        await watchlist.add(user, heat.id)
        await watchlist.add(user, ronin.id)
        await web.set_preference(HERE, user, True)
        await web.set_preference(THERE, user, True)
    await web.set_preference(THERE + 1, ALICE, False)  # a refusal: kept when she is forgotten
    # A tombstone: deleted on Discord, kept so replies keep their parent; erased too, but not counted.
    await comments.store(Comment(next(message_ids), review.id, HERE, 10, ALICE, "m", "gone", "2026-01-01T00:00Z"))
    await comments.mark_deleted([message_ids.__next__() - 1])
    return SimpleNamespace(db=db, registry=member_data_registry(db, writer))


async def rows_of(db: Database, user_id: int) -> dict[str, int]:
    counts = {}
    for table, columns in (await member_columns(db)).items():
        if table in NOT_MEMBER_DATA:
            continue
        ids = [c for c in columns if c.endswith("_id")]
        where = " OR ".join(f"{c} = ?" for c in ids)
        if table in KEPT_REFUSALS:
            where = f"({where}) AND NOT ({KEPT_REFUSALS[table]})"
        counts[table] = await db.fetchval(f"SELECT count(*) FROM {table} WHERE {where}", (user_id,) * len(ids))
    return counts


async def test_forgetting_everywhere_leaves_no_row_of_the_member_and_every_row_of_others(seeded) -> None:
    before_alice, before_bob = await rows_of(seeded.db, ALICE), await rows_of(seeded.db, BOB)
    assert all(before_alice.values()), f"seed a row of the member in every member table: {before_alice}"

    preview = await seeded.registry.preview(ALICE, None)
    report = await seeded.registry.forget(ALICE, None)

    assert report == preview
    assert [(e.name, e.count) for e in report.here] == [
        ("comments", 4),  # live ones: the tombstone is erased without being counted
        ("poll votes", 2),
        ("film ratings", 4),  # poll-made and /rate alike
        ("watchlist films", 2),
        ("chat messages", 3),  # both servers and the DM; the bot's replies are not hers (request times go uncounted)
        ("blog opt-ins", 2),  # her refusal in a third server stays: see KEPT_REFUSALS
    ]
    assert report.no_server == ()
    assert set((await rows_of(seeded.db, ALICE)).values()) == {0}
    assert await rows_of(seeded.db, BOB) == before_bob
    assert await seeded.db.fetchval("SELECT count(*) FROM chat_messages WHERE role = 'assistant'") == 4
    assert cli_summary(report) == (
        "erased 4 comments, 2 poll votes, 4 film ratings, 2 watchlist films, 3 chat messages and 2 blog opt-ins "
        "of user 7 in every server and in direct messages"
    )


async def test_forgetting_in_one_server_keeps_the_others_and_takes_what_belongs_to_none(seeded) -> None:
    db = seeded.db
    preview = await seeded.registry.preview(ALICE, HERE)
    report = await seeded.registry.forget(ALICE, HERE)

    assert report == preview
    assert [str(e) for e in report.here] == [
        "2 comments",
        "1 poll votes",
        "2 film ratings",
        "1 chat messages",
        "1 blog opt-ins",
    ]
    assert [str(e) for e in report.no_server] == ["2 watchlist films", "1 chat messages"]
    assert report.no_server_what == ("your watchlist", "our direct messages")
    assert report.count("chat messages") == 2 and report.total == 10

    for table in ("comments", "poll_votes", "film_ratings"):
        left = await db.fetchall(
            f"SELECT DISTINCT guild_id FROM {table} WHERE {'author_id' if table == 'comments' else 'user_id'} = ?",
            (ALICE,),
        )
        assert [r[0] for r in left] == [THERE], table
    chat_left = await db.fetchall("SELECT guild_id FROM chat_messages WHERE author_id = ?", (ALICE,))
    assert [r[0] for r in chat_left] == [THERE]  # this server's and the DM's turns are gone
    requests_left = await db.fetchall("SELECT guild_id FROM chat_requests WHERE user_id = ?", (ALICE,))
    assert [r[0] for r in requests_left] == [THERE]  # and so are the rate limit's records of her asking
    assert await db.fetchval("SELECT count(*) FROM chat_requests WHERE user_id = ?", (BOB,)) == 3
    assert await db.fetchval("SELECT count(*) FROM watchlist WHERE user_id = ?", (ALICE,)) == 0
    assert await db.fetchval("SELECT count(*) FROM watchlist WHERE user_id = ?", (BOB,)) == 2

    again = await seeded.registry.forget(ALICE, HERE)
    assert again.total == 0


async def test_each_eraser_respects_its_scope(seeded) -> None:
    """The contract, eraser by eraser: a server, no server, everywhere."""
    for eraser in seeded.registry.erasers:
        data = eraser.member_data
        in_here = await eraser.count_member(ALICE, HERE)
        outside = await eraser.count_member(ALICE, NO_SERVER)
        everywhere = await eraser.count_member(ALICE, None)
        assert (in_here > 0) == data.per_server, data.name
        assert (outside > 0) == (data.outside_servers is not None), data.name
        assert everywhere >= in_here + outside, data.name
        assert await eraser.erase_member(ALICE, HERE) == in_here
        assert await eraser.count_member(ALICE, HERE) == 0
        assert await eraser.count_member(ALICE, None) == everywhere - in_here, data.name


def test_what_the_member_and_the_operator_are_told() -> None:
    report = ForgetReport(
        7,
        1,
        (Erased("comments", 2), Erased("poll votes", 0)),
        (Erased("watchlist films", 3),),
        ("your watchlist",),
    )
    assert question_message(report) == (
        "This erases for good what I've stored from you in this server: 2 comments. "
        "Your watchlist belongs to no server, so it goes too: 3 watchlist films. Are you sure?"
    )
    assert done_message(report) == (
        "Done. I erased 2 comments of yours in this server, and 3 watchlist films from "
        "your watchlist. (New messages in review threads will be stored again.)"
    )
    empty = PrivacyRegistry([])
    assert empty.tables == set() and empty.erasers == ()
