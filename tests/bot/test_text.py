"""Tests for bot.text — Discord text limits."""

from __future__ import annotations

import re

import pytest

from bot import text as t
from bot.text import (
    clean_text,
    embed_fits,
    embed_length,
    excerpt,
    fit_embed,
    neutralize_mentions,
    split_message,
    truncate,
)

LIMITS = [100, 256, 2000, 4096, 6000]
ZW = "\u200b"


def words(n: int) -> str:
    return " ".join(f"w{i % 10}" for i in range(n))


# ----------------------------------------------------------------------------- constants
def test_constants() -> None:
    assert (t.MESSAGE_LIMIT, t.EMBED_TITLE, t.EMBED_DESCRIPTION, t.EMBED_TOTAL) == (2000, 256, 4096, 6000)
    assert (t.EMBED_FIELDS, t.FIELD_NAME, t.FIELD_VALUE, t.FOOTER, t.AUTHOR_NAME) == (
        25,
        256,
        1024,
        2048,
        256,
    )
    assert (t.THREAD_NAME, t.CHOICE_NAME, t.CHOICE_VALUE) == (100, 100, 100)


# ----------------------------------------------------------------------------- truncate
@pytest.mark.parametrize("limit", LIMITS)
def test_truncate_exactly_at_limit_is_unchanged(limit: int) -> None:
    s = "x" * limit
    assert truncate(s, limit) is s


@pytest.mark.parametrize("limit", LIMITS)
def test_truncate_one_over_limit(limit: int) -> None:
    s = "x" * (limit + 1)
    out = truncate(s, limit)
    assert len(out) == limit
    assert out.endswith("…")


@pytest.mark.parametrize("limit", LIMITS)
def test_truncate_prose_one_over_limit_cuts_at_word(limit: int) -> None:
    s = words(limit)[: limit + 1]
    out = truncate(s, limit)
    assert len(out) <= limit
    assert out.endswith("…")
    assert out[:-1] == out[:-1].rstrip()
    assert s.startswith(out[:-1])
    # cut at a word boundary: the kept text is followed by whitespace in the source
    assert s[len(out) - 1].isspace()


def test_truncate_hard_cut_when_no_word_boundary_nearby() -> None:
    s = "a" * 50 + " " + "b" * 100
    out = truncate(s, 100)
    assert len(out) == 100
    assert out == s[:99] + "…"


def test_truncate_custom_and_tiny_limits() -> None:
    assert truncate("abcdef", 4, ellipsis="...") == "a..."
    assert truncate("abcdef", 1) == "a"
    assert truncate("abcdef", 0) == ""
    with pytest.raises(ValueError):
        truncate("abc", -1)


def test_truncate_never_splits_combining_mark() -> None:
    s = "a" * 8 + "e\u0301" + "zzz"  # the cut at 9 would fall between e and U+0301
    out = truncate(s, 10)
    assert len(out) <= 10
    assert not out.rstrip("…").endswith("e")
    assert "\u0301" not in out or "e\u0301" in out


@pytest.mark.parametrize(
    "emoji",
    [
        "👨\u200d👩\u200d👧",  # ZWJ family
        "🏳\ufe0f\u200d🌈",  # rainbow flag
        "👍🏽",  # skin tone
        "🇫🇷",  # regional indicators
        "🎬",
    ],
)
def test_truncate_keeps_emoji_sequences_whole(emoji: str) -> None:
    prefix = "x" * 9
    s = prefix + emoji + " tail text that is long"
    for limit in range(len(prefix) + 1, len(prefix) + len(emoji) + 1):
        out = truncate(s, limit).rstrip("…")
        assert out in (prefix, prefix + emoji), (limit, out)


def test_truncate_does_not_leave_lone_surrogate() -> None:
    bad = "x" * 9 + "\ud83c\udfac" + "yyyyyy"  # a surrogate pair from bad decoding
    out = truncate(bad, 11)
    assert not re.search("[\ud800-\udbff](?![\udc00-\udfff])", out)


def test_truncate_drops_markdown_link_whole() -> None:
    s = "Watch [the trailer](https://example.com/trailer) tonight"
    for limit in range(8, 47):
        out = truncate(s, limit)
        assert len(out) <= limit
        assert "](" not in out or "[the trailer](https://example.com/trailer)" in out
    assert truncate(s, 30) == "Watch…"


def test_truncate_drops_bare_url_whole() -> None:
    url = "https://example.com/films/the-general-1926"
    s = f"Info: {url} more"
    for limit in range(7, len(s)):
        out = truncate(s, limit)
        assert "https" not in out or url in out, out


@pytest.mark.parametrize(
    "token", ["<@123456789>", "<:popcorn:112233445566>", "<t:1700000000:R>", "<#998877>"]
)
def test_truncate_does_not_cut_discord_tokens(token: str) -> None:
    s = "Hey " + token + " and then some"
    for limit in range(5, 4 + len(token) + 1):
        out = truncate(s, limit)
        assert "<" not in out or token in out, out


def test_truncate_closes_unbalanced_bold() -> None:
    s = "Verdict: **an absolute masterpiece of silent cinema** indeed"
    out = truncate(s, 30)
    assert len(out) <= 30
    assert out.count("**") % 2 == 0
    assert out.endswith("**")


def test_truncate_cuts_before_empty_marker() -> None:
    s = "Short intro **" + "b" * 50 + "**"
    out = truncate(s, 15)
    assert "**" not in out
    assert out == "Short intro…"


def test_truncate_closes_spoiler() -> None:
    s = "The twist: ||Bruce Willis was dead the whole time and nobody noticed|| ok"
    out = truncate(s, 40)
    assert len(out) <= 40
    assert out.count("||") == 2
    assert out.endswith("||")


def test_truncate_closes_code_fence_and_inline_code() -> None:
    fence = "```python\n" + "\n".join(f"print({i})" for i in range(50)) + "\n```"
    out = truncate(fence, 100)
    assert len(out) <= 100
    assert out.startswith("```python\n") and out.endswith("\n```")
    assert out.count("```") == 2
    inline = "Use `" + "x" * 100 + "` here"
    out2 = truncate(inline, 50)
    assert out2.count("`") == 2


def test_truncate_ignores_markers_inside_code_and_snake_case() -> None:
    s = "`a ** b` and my_var_name " + "z" * 100
    out = truncate(s, 40)
    assert "`a ** b`" in out
    assert not out.endswith("*") and not out.endswith("_")


# ----------------------------------------------------------------------------- excerpt
def test_excerpt_short_text_unchanged() -> None:
    assert excerpt("A short plot.", 300) == "A short plot."


def test_excerpt_prefers_sentence_boundary() -> None:
    s = "A train robbery goes wrong. " * 5 + "Then everything " * 30
    out = excerpt(s, 200)
    assert len(out) <= 200
    assert out.endswith("wrong.")


def test_excerpt_falls_back_to_word_boundary() -> None:
    s = "word " * 200
    out = excerpt(s, 100)
    assert len(out) <= 100
    assert out.endswith("word…")


# ----------------------------------------------------------------------------- split_message
def test_split_short_text_is_single_chunk() -> None:
    assert split_message("hello") == ["hello"]
    assert split_message("   \n  ") == []


@pytest.mark.parametrize("limit", [100, 256, 2000])
def test_split_respects_limit_and_keeps_all_words(limit: int) -> None:
    s = "\n\n".join(words(i * 37 % 300 + 5) + "." for i in range(40))
    chunks = split_message(s, limit)
    assert all(0 < len(c) <= limit and c.strip() for c in chunks)
    assert " ".join(" ".join(chunks).split()) == " ".join(s.split())


def test_split_prefers_paragraphs() -> None:
    p1, p2, p3 = "a" * 900, "b" * 900, "c" * 900
    chunks = split_message(f"{p1}\n\n{p2}\n\n{p3}", 2000)
    assert chunks == [f"{p1}\n\n{p2}", p3]


def test_split_prefers_lines_then_sentences_then_words() -> None:
    lines = "\n".join(["x" * 60] * 3)
    assert split_message(lines, 130) == ["x" * 60 + "\n" + "x" * 60, "x" * 60]
    sentences = "Alpha beta gamma. " * 10
    chunks = split_message(sentences.strip(), 100)
    assert all(c.endswith(".") for c in chunks)


def test_split_hard_cut_without_boundaries() -> None:
    s = "y" * 4500
    chunks = split_message(s, 2000)
    assert [len(c) for c in chunks] == [2000, 2000, 500]


def test_split_code_fence_is_closed_and_reopened() -> None:
    code = "\n".join(f"frame_{i} = load({i})" for i in range(200))
    s = "Here is the script:\n\n```python\n" + code + "\n```\nDone."
    chunks = split_message(s, 500)
    assert len(chunks) > 3
    for i, c in enumerate(chunks):
        assert len(c) <= 500
        assert c.count("```") % 2 == 0, c
        if i > 0:
            assert c.startswith("```python\n")
        if i < len(chunks) - 1:
            assert c.endswith("```")
    # Reassembling the code (dropping added fences) gives back every line in order.
    body = "\n".join(chunks)
    found = re.findall(r"frame_(\d+) = load", body)
    assert found == [str(i) for i in range(200)]
    assert chunks[-1].endswith("Done.")


def test_split_spoiler_is_closed_and_reopened() -> None:
    s = "Ending: ||" + " ".join(f"secret{i}" for i in range(100)) + "|| end"
    chunks = split_message(s, 200)
    assert len(chunks) > 1
    for c in chunks:
        assert len(c) <= 200
        assert c.count("||") % 2 == 0, c
    assert chunks[1].startswith("||")


def test_split_never_emits_empty_code_block() -> None:
    s = "p" * 95 + "\n```js\n" + "const a = 1;\n" * 30 + "```"
    chunks = split_message(s, 100)
    for c in chunks:
        assert not re.fullmatch(r"```\w*\n?\s*```", c.strip())
        assert c.strip()


def test_split_keeps_links_whole() -> None:
    link = "[trailer](https://example.com/" + "t" * 40 + ")"
    s = ("word " * 30) + link + (" word" * 30)
    for c in split_message(s, 120):
        assert "](" not in c or link in c


# ----------------------------------------------------------------------------- mentions
@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("@everyone", f"@{ZW}everyone"),
        ("@here now", f"@{ZW}here now"),
        ("hi <@123>", f"hi <@{ZW}123>"),
        ("<@!456>", f"<@{ZW}!456>"),
        ("<@&789>", f"<@{ZW}&789>"),
        ("@EveryOne", f"@{ZW}EveryOne"),
        # zero-width variants are canonicalised to the same defused form
        ("@ever\u200byone", f"@{ZW}everyone"),
        ("@\u2060here", f"@{ZW}here"),
        ("@\u200beveryone", f"@{ZW}everyone"),
        ("<\u200b@123>", f"<@{ZW}123>"),
        ("<@1\u200d>", f"<@{ZW}1>"),
        # not mentions
        ("<#123> channel", "<#123> channel"),
        ("mail me at someone@example.com", "mail me at someone@example.com"),
        ("@everybody", "@everybody"),
    ],
)
def test_neutralize_mentions(raw: str, expected: str) -> None:
    assert neutralize_mentions(raw) == expected


def test_neutralize_mentions_is_idempotent() -> None:
    s = "@everyone <@1> <@!2> <@&3> @here"
    once = neutralize_mentions(s)
    assert neutralize_mentions(once) == once
    assert not re.search(r"@(everyone|here)|<@[!&]?\d", once)


def test_clean_text() -> None:
    assert clean_text("a\x00b") == "ab"
    assert clean_text("x\u202ey\u2066z\u2069\u202a") == "xyz"
    assert clean_text("tab\tnew\nline\r\n") == "tab\tnew\nline\r\n"
    assert clean_text("\x1b[31mred") == "[31mred"
    assert clean_text("👨\u200d👩\u200d👧") == "👨\u200d👩\u200d👧"
    assert clean_text("bad\ud800x") == "bad\ufffdx"


# ----------------------------------------------------------------------------- embeds
def test_embed_fits_limits() -> None:
    assert embed_fits("t", "d", [("n", "v")], "f", "a")
    assert not embed_fits("t" * 257, "", [])
    assert not embed_fits("", "d" * 4097, [])
    assert not embed_fits("", "", [("n", "v")] * 26)
    assert not embed_fits("", "", [("n" * 257, "v")])
    assert not embed_fits("", "", [("n", "v" * 1025)])
    assert not embed_fits("", "", [], footer="f" * 2049)
    assert not embed_fits("", "", [], author="a" * 257)
    exact = ("t" * 256, "d" * 4096, [("n" * 100, "v" * 1000)], "f" * 292, "a" * 256)
    assert embed_length(*exact) == 6000 and embed_fits(*exact)
    over = (*exact[:3], "f" * 293, exact[4])
    assert embed_length(*over) == 6001 and not embed_fits(*over)


def test_fit_embed_applies_part_limits() -> None:
    title, desc, fields, footer, author = fit_embed(
        "T" * 300, "D" * 5000, [("", "")] + [("n", "v")] * 30, "F" * 3000
    )
    assert len(title) == 256 and len(footer) == 2048
    assert len(fields) <= 25 and fields[0] == (ZW, ZW)
    assert embed_fits(title, desc, fields, footer, author)


def test_fit_embed_exact_total_untouched() -> None:
    parts = ("t" * 256, "d" * 4096, [("n" * 100, "v" * 1000)], "f" * 292, "a" * 256)
    assert fit_embed(*parts) == parts


def test_fit_embed_shrinks_description_first() -> None:
    fields = [("name", "v" * 1000)] * 3
    title, desc, out_fields, footer, author = fit_embed("t" * 256, words(2000), fields, "f" * 2000)
    assert out_fields == fields
    assert embed_length(title, desc, out_fields, footer, author) <= 6000
    assert desc.endswith("…")


def test_fit_embed_then_trims_fields() -> None:
    fields = [(f"n{i}", "v" * 1024) for i in range(25)]
    title, desc, out, footer, author = fit_embed("title", "desc", fields, "foot", "auth")
    assert desc == ""
    assert embed_length(title, desc, out, footer, author) <= 6000
    assert embed_fits(title, desc, out, footer, author)
    assert out[:4] == fields[:4]


def test_one_line_cleans_then_folds_all_whitespace() -> None:
    assert t.one_line("  Chungking\n\tExpress\u202e \x00 ") == "Chungking Express"
    assert t.one_line("\n \n") == ""
