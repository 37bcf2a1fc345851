"""The web repository: the public view's consent rules, the change log's triggers and pruning, the eraser."""

from __future__ import annotations

from pathlib import Path

from bot.storage.web import WebRepository
from tests.web._seed import GUILD, MEMBER, OTHER, seed


async def _public(repo: WebRepository) -> list[str]:
    snapshot = await repo.snapshot(1)
    assert snapshot is not None
    return [c.content for c in snapshot.comments]


async def test_the_public_view_follows_publishing_consent_hides_and_deletions(tmp_path: Path) -> None:
    seeded = await seed(tmp_path / "m.db", publish=False)
    repo = WebRepository(seeded.db)
    mine = await seeded.comment("member")
    await seeded.comment("other", author=OTHER)
    assert await _public(repo) == []  # publishing is off until staff turn it on
    await repo.update_guild(GUILD, publish=True)
    assert await _public(repo) == ["member", "other"]
    await repo.set_preference(GUILD, MEMBER, False)
    assert await _public(repo) == ["other"]
    await repo.update_guild(GUILD, consent_mode="opt-in")
    assert await _public(repo) == []
    await repo.set_preference(GUILD, MEMBER, True)
    assert await _public(repo) == ["member"]
    assert await repo.set_hidden(mine, True) and not await repo.set_hidden(mine, True)
    assert await _public(repo) == []
    await repo.set_hidden(mine, False)
    await seeded.db.execute("UPDATE comments SET deleted = 1 WHERE message_id = ?", (mine,))
    assert await _public(repo) == []
    await seeded.db.close()


async def test_every_kind_of_change_reaches_the_log_and_idle_rewrites_do_not(tmp_path: Path) -> None:
    seeded = await seed(tmp_path / "m.db")
    repo = WebRepository(seeded.db)
    start = await repo.max_seq()
    message = await seeded.comment("hi")
    await seeded.db.execute("UPDATE comments SET content = content WHERE message_id = ?", (message,))  # no change
    await seeded.db.execute("UPDATE comments SET reactions = '{\"x\":1}' WHERE message_id = ?", (message,))
    await repo.set_hidden(message, True)
    await repo.set_preference(GUILD, MEMBER, False)
    await seeded.db.execute(
        "INSERT INTO poll_votes (message_id, review_id, guild_id, user_id, answer_id) VALUES (1, 1, ?, 5, 4)", (GUILD,)
    )
    await repo.update_guild(GUILD, invite_url="https://discord.gg/x")
    await repo.update_guild(GUILD, invite_url="https://discord.gg/x")  # unchanged: nothing logged
    changes = await repo.changes_after(start)
    assert [(c.kind, c.message_id) for c in changes] == [
        ("comment", message),
        ("comment", message),
        ("comment", message),
        ("consent", None),
        ("rating", None),
        ("consent", None),
    ]
    assert [c.seq for c in changes] == sorted(c.seq for c in changes)
    await seeded.db.close()


async def test_pruning_keeps_each_reviews_newest_change_and_records_the_horizon(tmp_path: Path) -> None:
    seeded = await seed(tmp_path / "m.db")
    repo = WebRepository(seeded.db)
    await seeded.db.execute("INSERT INTO reviews (id, source, source_key, slug, title) VALUES (2, 'm', 'b', 'b', 'B')")
    for n in range(30):
        await seeded.comment(f"c{n}")
    newest = await repo.max_seq()
    assert await repo.prune_changes(keep=10) > 0
    versions = {rid: version for rid, _, version in await repo.review_versions()}
    assert versions[1] == newest and versions[2] > 0  # each review's version survives
    changes, _, horizon = await repo.review_changes_after(1, 0, 100)
    assert horizon == newest - 10 and all(c.seq >= horizon for c in changes)
    assert await repo.max_seq() == newest
    await seeded.db.close()


async def test_erase_member_removes_consent_to_be_shown_but_keeps_a_refusal(tmp_path: Path) -> None:
    seeded = await seed(tmp_path / "m.db")
    repo = WebRepository(seeded.db)
    await repo.set_preference(GUILD, MEMBER, True)
    await repo.set_preference(GUILD + 1, MEMBER, False)
    await repo.set_preference(GUILD, OTHER, True)
    assert await repo.erase_member(MEMBER, None) == 1
    assert await repo.preference(GUILD, MEMBER) is None
    assert await repo.preference(GUILD + 1, MEMBER) is False  # forgetting never publishes someone
    assert await repo.preference(GUILD, OTHER) is True
    assert await repo.erase_member(OTHER, GUILD + 1) == 0
    assert await repo.erase_member(OTHER, GUILD) == 1
    await seeded.db.close()
