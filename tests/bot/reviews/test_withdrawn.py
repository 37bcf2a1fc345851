"""A deleted Markdown file withdraws its review; a moved one keeps it; a returning one brings it back (issue 16)."""

from __future__ import annotations

import random
from pathlib import Path

from bot.problems import ANNOUNCEMENT
from bot.reviews.delivery import DeliveryService
from bot.reviews.service import ReviewService
from bot.storage import Database, FilmRepository
from bot.storage.retrieval import RetrievalRepository
from tests.bot.reviews.feeds_support import GUILD_A, GUILD_B, Clock, FakeTransport


def write(folder: Path, name: str, title: str, *, url: str | None = None, slug: str | None = None,
          body: str = "Two men, one table.", date: str = "2025-03-01") -> None:  # fmt: skip
    meta = [f"title: {title}", "film: Heat", "year: 1995", f"date: {date}"]
    meta += [f"url: {url}"] if url else []
    meta += [f"slug: {slug}"] if slug else []
    (folder / name).write_text("---\n" + "\n".join(meta) + f"\n---\n{body}\n", encoding="utf-8")


async def started(service: ReviewService, tmp_path: Path) -> Path:
    """The folder after the first (silent) scan: files written now are news."""
    folder = tmp_path / "reviews"
    folder.mkdir()
    write(folder, "keep.md", "Kept all along", url="https://blog.example/kept/")
    await service.scan_markdown()
    return folder


async def listed_titles(service: ReviewService) -> list[str]:
    return sorted(r.title for r in await service.reviews.recent(50))


async def test_a_deleted_file_withdraws_its_review_from_every_listing(service, tmp_path, db: Database) -> None:
    folder = await started(service, tmp_path)
    film = await FilmRepository(db).add("Heat", year=1995)
    write(folder, "heat.md", "Heat reconsidered", url="https://blog.example/heat/")
    [review] = (await service.scan_markdown()).announced
    assert review.film_id == film.id
    assert [r.id for r in await service.reviews.search("reconsidered")] == [review.id]
    assert review.id in [h.id for h in await RetrievalRepository(db).search_reviews("Heat reconsidered table")]

    (folder / "heat.md").unlink()
    result = await service.scan_markdown()
    assert [r.id for r in result.withdrawn] == [review.id] and result.withdrawn[0].withdrawn
    assert await listed_titles(service) == ["Kept all along"]
    assert await service.reviews.search("reconsidered") == []
    assert (await service.reviews.search_page("reconsidered"))[1] == 0
    assert (await service.reviews.search_page("", film_id=film.id))[1] == 0
    assert await service.reviews.for_film(film.id) == []
    assert review.id not in [h.id for h in await RetrievalRepository(db).search_reviews("Heat reconsidered table")]
    # Looked up by id, slug or address it is still there (its thread and comments are), marked withdrawn.
    assert (await service.reviews.get(review.id)).withdrawn
    assert (await service.reviews.find_by_url("https://blog.example/heat/")).id == review.id
    assert (await service.scan_markdown()).withdrawn == []  # said once


async def test_an_unsent_announcement_of_a_withdrawn_review_waits_and_goes_out_if_the_file_returns(
    service, tmp_path, db: Database
) -> None:
    folder = await started(service, tmp_path)
    write(folder, "heat.md", "Heat reconsidered", url="https://blog.example/heat/")
    [review] = (await service.scan_markdown()).announced
    await service.problems.failed(GUILD_A, ANNOUNCEMENT, review_id=review.id, channel_id=11, error="403", retry=True)
    (folder / "heat.md").unlink()
    await service.scan_markdown()
    assert await service.outbox.pending() == []  # not announced while withdrawn
    assert await service.problems.open_for_guild(GUILD_A) == []  # nor shown to staff as a problem
    transport = FakeTransport()
    delivery = DeliveryService(service.outbox, service.reviews, transport, problems=service.problems)
    assert (await delivery.deliver_pending()).sent == 0

    write(folder, "heat.md", "Heat reconsidered", url="https://blog.example/heat/")
    result = await service.scan_markdown()
    assert [r.id for r in result.restored] == [review.id] and not result.restored[0].withdrawn
    assert (await delivery.deliver_pending()).sent == 2
    assert sorted(g for _, g in transport.sent) == [GUILD_A, GUILD_B]


async def test_a_file_moved_with_its_url_or_slug_keeps_its_review(service, tmp_path, db: Database) -> None:
    folder = await started(service, tmp_path)
    write(folder, "heat.md", "Heat reconsidered", url="https://blog.example/heat/")
    write(folder, "alien.md", "Alien at 45", slug="alien-at-45")
    announced = {r.title: r for r in (await service.scan_markdown()).announced}
    heat, alien = announced["Heat reconsidered"], announced["Alien at 45"]
    assert alien.slug == "alien-at-45"  # the front matter's slug is the review's address
    pending = len(await service.outbox.pending())

    (folder / "heat.md").rename(folder / "2025-03-01-heat.md")
    (folder / "alien.md").unlink()
    write(folder, "alien-45.md", "Alien at 45 (revised)", slug="alien-at-45", body="Edited on the way.")
    result = await service.scan_markdown()
    assert result.withdrawn == [] and result.announced == []
    assert [r.id for r in result.updated] == [alien.id] and result.updated[0].title == "Alien at 45 (revised)"
    assert (await service.reviews.get_by_source_key("markdown", "2025-03-01-heat.md")).id == heat.id
    assert (await service.reviews.get_by_source_key("markdown", "alien-45.md")).id == alien.id
    assert await service.reviews.get_by_source_key("markdown", "heat.md") is None
    assert len(await service.outbox.pending()) == pending  # nothing announced twice
    assert await listed_titles(service) == ["Alien at 45 (revised)", "Heat reconsidered", "Kept all along"]


async def test_a_file_moved_without_url_or_slug_is_another_post(service, tmp_path) -> None:
    """Without `url` or `slug` the file's name is its address (Hugo and Jekyll derive it): a new post."""
    folder = await started(service, tmp_path)
    write(folder, "heat.md", "Heat reconsidered")
    [old] = (await service.scan_markdown()).announced
    (folder / "heat.md").rename(folder / "heat-1995.md")
    result = await service.scan_markdown()
    assert [r.id for r in result.withdrawn] == [old.id]
    assert [r.title for r in result.announced] == ["Heat reconsidered"] and result.announced[0].id != old.id


async def test_a_file_that_comes_back_under_another_name_restores_its_review(service, tmp_path) -> None:
    folder = await started(service, tmp_path)
    write(folder, "heat.md", "Heat reconsidered", url="https://blog.example/heat/")
    [review] = (await service.scan_markdown()).announced
    (folder / "heat.md").unlink()
    assert [r.id for r in (await service.scan_markdown()).withdrawn] == [review.id]
    write(folder, "heat-again.md", "Heat reconsidered", url="https://blog.example/heat")  # another spelling
    result = await service.scan_markdown()
    assert [r.id for r in result.restored] == [review.id] and result.announced == []
    assert "Heat reconsidered" in await listed_titles(service)


async def test_a_deletion_while_the_bot_was_down_is_seen_at_the_next_start(db: Database, tmp_path) -> None:
    def new_service() -> ReviewService:
        return ReviewService(db, None, reviews_dir=tmp_path / "reviews", clock=Clock(), rng=random.Random(1))

    first = new_service()
    await first.guilds.update(GUILD_A, announce_channel_id=11)
    folder = await started(first, tmp_path)
    write(folder, "heat.md", "Heat reconsidered", url="https://blog.example/heat/")
    write(folder, "alien.md", "Alien at 45", slug="alien-at-45")
    await first.scan_markdown()
    (folder / "heat.md").unlink()  # while no Matinee runs
    (folder / "alien.md").rename(folder / "alien-1979.md")
    result = await new_service().scan_markdown()
    assert [r.title for r in result.withdrawn] == ["Heat reconsidered"]
    assert result.announced == []  # the moved file is the same review, not news
    assert await listed_titles(first) == ["Alien at 45", "Kept all along"]


async def test_an_empty_or_missing_folder_withdraws_nothing(service, tmp_path) -> None:
    """An unmounted volume looks like an empty or missing folder: reviews stay until files are seen gone."""
    folder = await started(service, tmp_path)
    write(folder, "heat.md", "Heat reconsidered")
    await service.scan_markdown()
    moved = tmp_path / "elsewhere"
    folder.rename(moved)
    assert (await service.scan_markdown()).withdrawn == []  # missing
    folder.mkdir()
    assert (await service.scan_markdown()).withdrawn == []  # empty
    assert await listed_titles(service) == ["Heat reconsidered", "Kept all along"]
    folder.rmdir()
    moved.rename(folder)
    (folder / "heat.md").unlink()
    assert [r.title for r in (await service.scan_markdown()).withdrawn] == ["Heat reconsidered"]


async def test_a_file_that_cannot_be_parsed_is_still_there(service, tmp_path) -> None:
    """A file being edited (broken YAML for a moment) is not a deleted one."""
    folder = await started(service, tmp_path)
    write(folder, "heat.md", "Heat reconsidered")
    await service.scan_markdown()
    (folder / "heat.md").write_text("---\ntitle: [unclosed\n---\nHalf-saved.", encoding="utf-8")
    assert (await service.scan_markdown()).withdrawn == []
    assert "Heat reconsidered" in await listed_titles(service)


async def test_log_channels_are_those_of_the_servers_that_announced_it(service, tmp_path) -> None:
    folder = await started(service, tmp_path)
    write(folder, "heat.md", "Heat reconsidered")
    [review] = (await service.scan_markdown()).announced
    assert await service.withdrawal_log_channels(review) == [111]  # guild A has a log channel, B has none
