"""A synthetic film catalog and realistic autocomplete queries, seeded from real titles.

``../shared/data/vega-movies.json`` holds 3,201 real films. The catalog keeps
their shape at any size: title lengths follow the real word-count distribution,
words are drawn from the real title vocabulary (first words from the real
first-word distribution, so "The" leads as often as it does in real titles),
years, vote counts and directors are drawn from the real values, and a few
percent of films carry an accented original title, as foreign films do.
Everything is driven by one seeded ``random.Random``, so a run is reproducible.
"""

from __future__ import annotations

import itertools
import json
import random
import unicodedata
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = ["CatalogModel", "SyntheticFilm", "default_source", "load_model"]

REPO_ROOT = Path(__file__).resolve().parent.parent
SOURCE_CANDIDATES = (
    REPO_ROOT.parent / "shared" / "data" / "vega-movies.json",
    Path("/work/shared/data/vega-movies.json"),
)

# Accent swaps used to make "foreign" original titles and the non-ASCII queries members type.
_ACCENTS = {"e": "é", "a": "à", "o": "ö", "u": "ü", "i": "î", "c": "ç", "n": "ñ"}
# Non-Latin titles and scripts members actually type (Japanese, Cyrillic, Greek, Arabic, Korean, emoji).
_FOREIGN_TITLES = (
    "千と千尋の神隠し",
    "七人の侍",
    "Иди и смотри",
    "Сталкер",
    "Ζορμπάς",
    "الرسالة",
    "기생충",
    "Amélie",
    "La Haine",
    "Crouching Tiger, Hidden Dragon 臥虎藏龍",
)
_GENRES = ("Drama", "Comedy", "Action", "Adventure", "Thriller", "Horror", "Romance", "Musical", "Documentary")


def default_source() -> Path:
    for candidate in SOURCE_CANDIDATES:
        if candidate.exists():
            return candidate
    raise FileNotFoundError("vega-movies.json not found in ../shared/data/")


def _repair(text: str) -> str:
    """Undo the file's Mac Roman mojibake ("AmÈlie" → "Amélie") when it is that."""
    try:
        fixed = text.encode("mac_roman").decode("latin-1")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return text
    return fixed if not text.isascii() else text


@dataclass(frozen=True, slots=True)
class SyntheticFilm:
    id: int
    title: str
    original_title: str | None
    year: int
    directors: tuple[str, ...]
    genres: tuple[str, ...]
    vote_count: int
    popularity: float
    runtime_minutes: int


@dataclass(slots=True)
class CatalogModel:
    """The distributions drawn from the real sample."""

    titles: list[str]
    length_weights: Counter[int]
    first_words: Counter[str]
    words: Counter[str]
    directors: list[str]
    years: list[int]
    votes: list[int]

    def films(self, count: int, *, seed: int = 7) -> Iterator[SyntheticFilm]:
        """``count`` films; 5% keep a real title verbatim (so real titles and same-titled films exist)."""
        rng = random.Random(seed)
        lengths, length_cw = _cumulative(self.length_weights)
        firsts, first_cw = _cumulative(self.first_words)
        words, word_cw = _cumulative(self.words)
        for film_id in range(1, count + 1):
            roll = rng.random()
            if roll < 0.05:
                title = rng.choice(self.titles)
            else:
                n = rng.choices(lengths, cum_weights=length_cw)[0]
                parts = rng.choices(firsts, cum_weights=first_cw)
                parts += rng.choices(words, cum_weights=word_cw, k=n - 1)
                title = " ".join(parts)
            original = None
            if roll > 0.97:
                original = rng.choice(_FOREIGN_TITLES) if roll > 0.995 else _accented(title, rng)
            votes = rng.choice(self.votes)
            yield SyntheticFilm(
                id=film_id,
                title=title[:200],
                original_title=original,
                year=rng.choice(self.years),
                directors=(rng.choice(self.directors),),
                genres=tuple(rng.sample(_GENRES, rng.randint(1, 2))),
                vote_count=votes,
                popularity=round(votes / 1000 + rng.random(), 3),
                runtime_minutes=rng.randint(70, 180),
            )

    def queries(self, count: int, catalog_size: int, *, seed: int = 11) -> list[str]:
        """Autocomplete input as members type it (see :meth:`labelled_queries`)."""
        return [text for _, text in self.labelled_queries(count, catalog_size, seed=seed)]

    def labelled_queries(self, count: int, catalog_size: int, *, seed: int = 11) -> list[tuple[str, str]]:
        """(kind, text) pairs: what members type, and which kind of input it is.

        60% prefixes of 1–12 characters of a catalog title (word by word, so
        "the da" occurs), 15% one-edit typos of a title word, 10% non-ASCII
        (accented prefixes, accent-free spellings of accented titles, CJK,
        Cyrillic, emoji), 10% lower/upper-case whole words, 5% FTS syntax and
        junk that must not raise.
        """
        rng = random.Random(seed)
        sample = list(self.films(min(catalog_size, 20_000), seed=7))
        out: list[tuple[str, str]] = []
        for _ in range(count):
            film = rng.choice(sample)
            words = film.title.split() or [film.title]
            roll = rng.random()
            if roll < 0.60:
                out.append(("prefix", film.title[: rng.randint(1, 12)]))
            elif roll < 0.75:
                out.append(("typo", _typo(rng.choice(words), rng)))
            elif roll < 0.85:
                choice = rng.random()
                if choice < 0.4:
                    text = _accented(film.title, rng)[: rng.randint(2, 12)]
                elif choice < 0.7:
                    foreign = rng.choice(_FOREIGN_TITLES)
                    text = foreign[: rng.randint(1, min(12, len(foreign)))]
                elif choice < 0.85:
                    text = _strip_accents(_accented(film.title, rng))[: rng.randint(3, 12)]
                else:
                    text = rng.choice(("🎬 ", "🍿", "ⓜ ", "‏")) + film.title[: rng.randint(1, 6)]
                out.append(("non-ASCII", text))
            elif roll < 0.95:
                word = rng.choice(words)
                out.append(("word", word.upper() if rng.random() < 0.3 else word.lower()))
            else:
                junk = rng.choice(('"', "*", "NEAR(", "a AND", "(", " - ", "title:", "'; DROP", "1917", "2046"))
                out.append(("syntax", junk + film.title[: rng.randint(0, 6)]))
        return out


def _cumulative(counter: Counter) -> tuple[list, list[int]]:
    """Items and cumulative weights, computed once: ``choices`` would redo it per call."""
    items = list(counter)
    return items, list(itertools.accumulate(counter[i] for i in items))


def _accented(title: str, rng: random.Random) -> str:
    chars = list(title)
    idx = [i for i, c in enumerate(chars) if c.lower() in _ACCENTS]
    for i in rng.sample(idx, min(len(idx), 2)):
        chars[i] = _ACCENTS[chars[i].lower()]
    return "".join(chars)


def _strip_accents(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def _typo(word: str, rng: random.Random) -> str:
    if len(word) < 3:
        return word + rng.choice("aeiou")
    i = rng.randrange(1, len(word) - 1)
    kind = rng.random()
    if kind < 0.33:  # deletion
        return word[:i] + word[i + 1 :]
    if kind < 0.66:  # transposition
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    return word[:i] + rng.choice("abcdefghijklmnopqrstuvwxyz") + word[i + 1 :]  # substitution


def load_model(path: Path | None = None) -> CatalogModel:
    """Read the real sample and build its distributions."""
    records = json.loads((path or default_source()).read_text(encoding="utf-8"))
    titles: list[str] = []
    lengths: Counter[int] = Counter()
    firsts: Counter[str] = Counter()
    words: Counter[str] = Counter()
    directors: list[str] = []
    years: list[int] = []
    votes: list[int] = []
    for record in records:
        raw = record.get("Title")
        if raw is None:
            continue
        title = _repair(str(raw))
        titles.append(title)
        parts = title.split()
        if not parts:
            continue
        lengths[len(parts)] += 1
        firsts[parts[0]] += 1
        words.update(parts[1:] or parts)
        if record.get("Director"):
            directors.append(_repair(str(record["Director"])))
        date = str(record.get("Release Date") or "")
        if date[-4:].isdigit():
            years.append(int(date[-4:]))
        votes.append(int(record.get("IMDB Votes") or 0))
    return CatalogModel(titles, lengths, firsts, words, directors or ["Unknown"], years or [2000], votes or [0])
