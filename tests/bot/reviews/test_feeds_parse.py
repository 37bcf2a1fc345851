"""Feed parsing: RSS/Atom shapes, content choice, dedupe keys and hostile documents."""

from __future__ import annotations

import datetime as dt

import pytest

from bot.reviews.feeds import FeedParseError, entry_keys, parse_feed
from tests.doubles.feed_server import atom_feed, rss_feed


def test_wordpress_rss_prefers_content_encoded_and_reads_everything() -> None:
    doc = rss_feed([{
        "title": "Heat: The Coffee Shop Scene", "link": "https://blog.example/heat/", "guid": "p=2",
        "date": "Tue, 07 Jan 2025 10:00:00 +0000", "categories": ["Reviews", "Heat"], "creator": "Wong Critic",
        "summary": "Short summary.", "html": "<p>The <strong>full</strong> text.</p><img src='/poster.jpg'>",
    }])  # fmt: skip
    parsed = parse_feed(doc.encode(), url="https://blog.example/feed/")
    assert parsed.title == "The Film Blog"
    [entry] = parsed.entries
    assert entry.source_key == "p=2"
    assert entry.body_md == "The **full** text."
    assert entry.url == "https://blog.example/heat/"
    assert entry.author == "Wong Critic"
    assert entry.categories == ["Reviews", "Heat"]
    assert entry.published_at == dt.datetime(2025, 1, 7, 10, tzinfo=dt.UTC)
    assert entry.image_url == "https://blog.example/poster.jpg"


def test_summary_is_used_when_there_is_no_full_content() -> None:
    doc = (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>'
        "<item><title>A</title><link>https://x.example/a</link><description>&lt;p&gt;Only the summary.&lt;/p&gt;"
        "</description></item></channel></rss>"
    )
    [entry] = parse_feed(doc.encode()).entries
    assert entry.body_md == "Only the summary."
    assert entry.source_key == "https://x.example/a"  # no guid: the link is the key


def test_atom_feed() -> None:
    doc = atom_feed([{"title": "Stalker", "link": "https://hugo.example/stalker/", "id": "urn:stalker",
                      "updated": "2025-01-01T00:00:00Z", "html": "<p>The Zone.</p>", "author": "Agnes"}])  # fmt: skip
    [entry] = parse_feed(doc.encode()).entries
    assert (entry.source_key, entry.title, entry.author, entry.body_md) == (
        "urn:stalker",
        "Stalker",
        "Agnes",
        "The Zone.",
    )


def test_letterboxd_film_fields_are_read() -> None:
    doc = (
        '<?xml version="1.0"?><rss version="2.0" xmlns:letterboxd="https://letterboxd.com"><channel><title>L</title>'
        "<item><title>Alien, 1979 - ★★★★½</title><link>https://letterboxd.com/x/film/alien/</link><guid>lb-1</guid>"
        "<letterboxd:filmTitle>Alien</letterboxd:filmTitle><letterboxd:filmYear>1979</letterboxd:filmYear>"
        "<letterboxd:memberRating>4.5</letterboxd:memberRating><description>Great.</description></item>"
        "</channel></rss>"
    )
    [entry] = parse_feed(doc.encode()).entries
    assert (entry.film_title, entry.film_year, entry.rating) == ("Alien", 1979, 4.5)


@pytest.mark.parametrize("body", [b"", b"   \n", b"<html><body>Not a feed</body></html>", b"\x00\x01\x02garbage",
                                  b"{\"json\": true}"])  # fmt: skip
def test_malformed_or_empty_documents_are_parse_errors(body: bytes) -> None:
    with pytest.raises(FeedParseError):
        parse_feed(body)


def test_valid_feed_with_no_entries_is_fine() -> None:
    parsed = parse_feed(rss_feed([]).encode())
    assert parsed.entries == [] and parsed.title == "The Film Blog"


def test_entity_expansion_is_refused() -> None:
    bomb = (
        '<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
        '<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]><rss version="2.0"><channel><title>&c;</title></channel></rss>'
    )
    with pytest.raises(FeedParseError, match="entities"):
        parse_feed(bomb.encode())


def test_a_path_looking_body_is_never_opened_as_a_file() -> None:
    with pytest.raises(FeedParseError):
        parse_feed(b"/etc/passwd")


def test_scripts_are_removed_and_links_sanitised() -> None:
    html = ("<script>alert(1)</script><p onclick='x()'>Hi <a href='javascript:alert(1)'>there</a></p>"
            "<style>p{}</style><iframe src='https://evil.example'></iframe>")  # fmt: skip
    [entry] = parse_feed(rss_feed([{"title": "T", "guid": "g", "html": html}]).encode()).entries
    assert entry.body_md == "Hi there"
    assert "alert" not in entry.body_md and "evil" not in entry.body_md


def test_a_one_megabyte_entry_is_parsed_and_bounded() -> None:
    html = "<p>" + ("All work and no play. " * 50_000) + "</p>"
    assert len(html) > 1_000_000
    [entry] = parse_feed(rss_feed([{"title": "Big", "guid": "big", "html": html}]).encode()).entries
    entry.normalise()
    assert len(entry.body_md) <= 60_000
    assert len(entry.excerpt_text) <= 300


def test_missing_title_and_date_still_give_a_stable_entry() -> None:
    doc = rss_feed([{"title": None, "guid": None, "link": None, "html": "<p>Untitled musings on Tarkovsky films.</p>"}])
    first = parse_feed(doc.encode()).entries[0]
    again = parse_feed(doc.encode()).entries[0]
    assert first.title.startswith("Untitled musings")
    assert first.published_at is None
    assert first.source_key.startswith("h:") and first.source_key == again.source_key


def test_future_dates_are_clamped_to_now() -> None:
    doc = rss_feed([{"title": "From the future", "guid": "f", "date": "Fri, 01 Jan 2100 00:00:00 +0000"}])
    [entry] = parse_feed(doc.encode()).entries
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    entry.normalise(now=now)
    assert entry.published_at == now


def test_non_utf8_bytes_are_decoded_or_replaced_not_fatal() -> None:
    latin = ('<?xml version="1.0" encoding="ISO-8859-1"?><rss version="2.0"><channel><title>Caf\xe9</title>'
             "<item><title>Am\xe9lie</title><guid>a</guid></item></channel></rss>").encode("latin-1")  # fmt: skip
    [entry] = parse_feed(latin).entries
    assert entry.title == "Amélie"
    lying = rss_feed([{"title": "Bad \udcff bytes", "guid": "b"}]).encode("utf-8", "surrogateescape")
    parsed = parse_feed(lying)
    assert parsed.entries and "bytes" in parsed.entries[0].title


def test_duplicate_guids_are_handled_like_monitorss() -> None:
    items = [
        {"title": "One", "guid": "same", "link": "https://b.example/1", "html": "<p>1</p>"},
        {"title": "Two", "guid": "same", "link": "https://b.example/2", "html": "<p>2</p>"},
        {"title": "One", "guid": "same", "link": "https://b.example/1", "html": "<p>1</p>"},  # exact repeat
        {"title": "Three", "guid": "unique", "link": "https://b.example/3"},
    ]
    entries = parse_feed(rss_feed(items).encode()).entries
    keys = [e.source_key for e in entries]
    assert [e.title for e in entries] == ["One", "Two", "Three"]
    assert len(set(keys)) == 3 and keys[2] == "unique"
    assert all(k.startswith("same#") for k in keys[:2])
    # Stable across polls, and independent of position.
    reordered = parse_feed(rss_feed([items[1], items[0], items[3]]).encode()).entries
    assert {e.title: e.source_key for e in reordered} == {e.title: e.source_key for e in entries}


def test_entry_keys_fall_back_from_guid_to_link_to_hash() -> None:
    keys = entry_keys([("g", "https://l", "h:1", "c1"), (None, "https://l2", "h:2", "c2"), (None, None, "h:3", "c3")])
    assert keys == ["g", "https://l2", "h:3"]
