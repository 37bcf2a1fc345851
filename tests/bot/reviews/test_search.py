"""Review search (/reviews): words and film filter, any input safe, thread links only in the asking guild."""

from __future__ import annotations

from bot.reviews.search import ReviewSearchService, thread_url
from bot.storage import AnnouncementRepository, Database, ReviewRepository
from bot.storage.films import FilmRecord, FilmRepository

GUILD = 42


async def test_review_search_with_film_filter_and_thread_links(db: Database) -> None:
    films = FilmRepository(db)
    await films.import_batch([FilmRecord(title="Chungking Express", year=1994), FilmRecord(title="Heat", year=1995)])
    chungking, heat = await films.find_by_title("Chungking Express"), await films.find_by_title("Heat")
    reviews = ReviewRepository(db)
    for slug, film_id, body in (("a", chungking.id, "canned pineapple"), ("b", heat.id, "pineapple heist")):
        await reviews.upsert(
            source="markdown", source_key=slug, slug=slug, title=f"Review {slug}", film_id=film_id, body_md=body
        )
    search = ReviewSearchService(db)
    page = await search.search("pineapple")
    assert page.total == 2
    page = await search.search("pineapple", film_id=heat.id)
    assert [link.review.slug for link in page.items] == ["b"]
    page = await search.search(None, film_id=chungking.id)
    assert [link.review.slug for link in page.items] == ["a"]
    assert (await search.search('"NEAR( -', film_id=chungking.id)).total == 0

    review = await reviews.get_by_slug("a")
    await AnnouncementRepository(db).record_sent(review.id, GUILD, 1, 2, thread_id=9)
    [link] = (await search.search(None, film_id=chungking.id, guild_id=GUILD)).items
    assert link.thread_url == thread_url(GUILD, 9) == f"https://discord.com/channels/{GUILD}/9"
    [link] = (await search.search(None, film_id=chungking.id, guild_id=GUILD + 1)).items
    assert link.thread_url is None


async def test_review_search_pages(db: Database) -> None:
    reviews = ReviewRepository(db)
    for n in range(12):
        await reviews.upsert(source="markdown", source_key=str(n), slug=f"r{n}", title=f"Review {n}", body_md="x")
    search = ReviewSearchService(db)
    first, last = await search.search(None), await search.search(None, page=2)
    assert (first.pages, first.total, len(first.items)) == (3, 12, 5)
    assert (last.page, len(last.items)) == (2, 2)
    assert not {link.review.slug for link in first.items} & {link.review.slug for link in last.items}
