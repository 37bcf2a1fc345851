"""Read-only retrieval for the chat host: FTS over reviews and comments, thread history, stats.

Why a separate module: these queries sit on the chat hot path ("message event →
request at the model"), so each is a single statement with a bounded amount of
work however large the tables grow:

* Natural-language questions are turned into an OR of their meaningful words
  (stop words dropped), because an AND of every word in a sentence almost never
  matches anything.
* FTS candidates are capped to the newest ``CANDIDATE_LIMIT`` matches (FTS5 walks
  rowids in descending order cheaply) before ranking with bm25, so a common word
  matching 100,000 comments costs the same as a rare one.
* Results are joined to their review in the same statement: no N+1 queries.
  The join is to ``published_reviews``: a review withdrawn from the blog, and the
  discussion of it, no longer ground an answer.

Any member input is safe here: only word tokens reach MATCH, each one quoted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields

from ..models import Review
from .database import Database
from .fts import fts_tokens
from .reviews import review_columns

__all__ = [
    "CANDIDATE_LIMIT",
    "CommentHit",
    "DiscussionStats",
    "RetrievalRepository",
    "ReviewHit",
    "ThreadComment",
    "best_passage",
    "match_terms",
    "question_match",
]

CANDIDATE_LIMIT = 300
MAX_QUESTION_TERMS = 8

# Words that carry no retrieval signal in a question to a film host. Kept short on
# purpose: film words ("film", "movie") stay, bm25 already weighs them down.
_STOP_WORDS_TEXT = """
    a an and are as at be been but by can could did do does for from had has have
    he her hers him his how i if in into is it its just me my of on or our she so
    than that the their them then there these they this those to too us was we
    were what when where which who whom why will with would you your yours about
    any some tell think thought know want like really also get got matinee
    de la le les el los et y un une der die das und
"""
_STOP_WORDS = frozenset(_STOP_WORDS_TEXT.split())


def question_match(text: str) -> str | None:
    """An FTS5 MATCH string OR-ing the meaningful words of ``text`` (None if there are none)."""
    seen: list[str] = []
    for token in fts_tokens(text) + _tail_tokens(text):
        if token in _STOP_WORDS or (len(token) < 3 and not token.isdigit()) or token in seen:
            continue
        seen.append(token)
        if len(seen) >= MAX_QUESTION_TERMS:
            break
    if not seen:
        return None
    return " OR ".join(f'"{t}"' for t in seen)


def _tail_tokens(text: str) -> list[str]:
    """fts_tokens keeps only the first dozen words; a question's subject often comes last."""
    tokens = fts_tokens(text[-200:]) if len(text) > 200 else []
    return tokens


@dataclass(frozen=True, slots=True)
class ReviewHit:
    """A review that matched a question, with the passage that matched."""

    id: int
    slug: str
    title: str
    url: str | None
    author: str | None
    film_title: str | None
    film_year: int | None
    film_id: int | None
    rating: float | None
    spoilers: bool
    excerpt: str
    snippet: str

    @classmethod
    def from_review(cls, review: Review, snippet: str = "") -> ReviewHit:
        """The one way a review becomes a hit: retrieval's matches, and the thread's own review in chat.

        Every field but the snippet is the review's attribute of the same name.
        """
        return cls(**{f.name: getattr(review, f.name) for f in fields(cls) if f.name != "snippet"}, snippet=snippet)

    @property
    def film_label(self) -> str:
        name = self.film_title or self.title
        return f"{name} ({self.film_year})" if self.film_year else name


@dataclass(frozen=True, slots=True)
class CommentHit:
    """A member comment that matched a question, labelled with its review."""

    message_id: int
    review_id: int
    review_title: str
    film_title: str | None
    thread_id: int
    author_name: str
    content: str
    created_at: str


@dataclass(frozen=True, slots=True)
class ThreadComment:
    message_id: int
    author_id: int
    author_name: str
    content: str
    created_at: str


@dataclass(frozen=True, slots=True)
class DiscussionStats:
    review_id: int
    comments: int
    participants: int
    first_comment_at: str | None
    last_comment_at: str | None
    ratings: int
    average_stars: float | None


_BODY_SCAN_CHARS = 8000
_EXCERPT_CHARS = 400
_PASSAGE_CHARS = 700
_WORD = re.compile(r"\w+", re.UNICODE)


def match_terms(match: str) -> frozenset[str]:
    """The words of a :func:`question_match` string, for picking passages."""
    return frozenset(t.strip('"') for t in match.split(" OR "))


def best_passage(body: str, terms: frozenset[str], *, size: int = _PASSAGE_CHARS) -> str:
    """The paragraph-ish window of ``body`` that mentions the most question words.

    Done in Python on a handful of rows instead of FTS5 ``snippet()``, which
    would need a second MATCH pass over the candidates.
    """
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", body) if p.strip()]
    if not paragraphs:
        return ""

    def score(paragraph: str) -> int:
        return sum(1 for w in _WORD.findall(paragraph.casefold()) if w in terms)

    best = max(range(len(paragraphs)), key=lambda i: (score(paragraphs[i]), -i))
    passage = paragraphs[best]
    if len(passage) > size:
        words = passage.casefold()
        hit = min((words.find(t) for t in terms if t in words), default=0)
        start = max(0, hit - size // 3)
        passage = ("… " if start else "") + passage[start : start + size].strip() + " …"
    return passage


_COMMENT_CHARS = 600
# A hit needs the excerpt's and the body's start only (the passage is picked from the body's head).
_HIT_COLUMNS = review_columns("r", bounded={"excerpt": _EXCERPT_CHARS, "body_md": _BODY_SCAN_CHARS})


class RetrievalRepository:
    """Bounded, single-statement reads for grounding the chat host's answers."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def search_reviews(self, question: str, *, limit: int = 4) -> list[ReviewHit]:
        """The reviews most relevant to ``question`` (bm25 over title, film and body)."""
        match = question_match(question)
        if match is None or limit <= 0:
            return []
        rows = await self._db.fetchall(
            f"SELECT {_HIT_COLUMNS} "  # noqa: S608 - constant column list
            "FROM ("
            "  SELECT rowid AS id, bm25(reviews_fts, 5.0, 3.0, 1.0) AS score FROM reviews_fts "
            "  WHERE reviews_fts MATCH ? ORDER BY rowid DESC LIMIT ?"
            ") AS hits JOIN published_reviews r ON r.id = hits.id "
            "ORDER BY hits.score LIMIT ?",
            (match, CANDIDATE_LIMIT, limit),
        )
        terms = match_terms(match)
        reviews = [Review.from_row(row) for row in rows]
        return [ReviewHit.from_review(review, best_passage(review.body_md, terms)) for review in reviews]

    async def search_comments(
        self,
        question: str,
        *,
        guild_id: int,
        limit: int = 4,
        exclude_thread_id: int | None = None,
    ) -> list[CommentHit]:
        """This guild's comments most relevant to ``question`` (never another guild's)."""
        match = question_match(question)
        if match is None or limit <= 0:
            return []
        rows = await self._db.fetchall(
            "SELECT c.message_id, c.review_id, r.title AS review_title, r.film_title, c.thread_id, "
            "c.author_name, substr(c.content, 1, ?) AS content, c.created_at "
            "FROM ("
            "  SELECT rowid AS id, bm25(comments_fts) AS score FROM comments_fts "
            "  WHERE comments_fts MATCH ? ORDER BY rowid DESC LIMIT ?"
            ") AS hits "
            "JOIN comments c ON c.message_id = hits.id "
            "JOIN published_reviews r ON r.id = c.review_id "
            "WHERE c.guild_id = ? AND c.deleted = 0 AND c.thread_id IS NOT ? "
            "ORDER BY hits.score LIMIT ?",
            (_COMMENT_CHARS, match, CANDIDATE_LIMIT, guild_id, exclude_thread_id, limit),
        )
        # The selected column names are the dataclass fields.
        return [CommentHit(**dict(row)) for row in rows]

    async def recent_comments(self, thread_id: int, *, limit: int = 20) -> list[ThreadComment]:
        """The thread's newest comments, newest first (deleted ones left out)."""
        rows = await self._db.fetchall(
            "SELECT message_id, author_id, author_name, "
            "substr(content, 1, ?) AS content, created_at "
            "FROM comments WHERE thread_id = ? AND deleted = 0 ORDER BY message_id DESC LIMIT ?",
            (_COMMENT_CHARS, thread_id, limit),
        )
        # The selected column names are the dataclass fields.
        return [ThreadComment(**dict(row)) for row in rows]

    async def discussion_stats(self, review_id: int, *, guild_id: int | None) -> DiscussionStats | None:
        """How much a review has been discussed (in one guild, or everywhere when guild_id is None)."""
        row = await self._db.fetchone(
            "SELECT r.id AS review_id, c.comments, c.participants, c.first_comment_at, c.last_comment_at, "
            "  fr.ratings, fr.average_stars "
            "FROM reviews r, "
            "  (SELECT count(*) AS comments, count(DISTINCT author_id) AS participants, "
            "     min(created_at) AS first_comment_at, max(created_at) AS last_comment_at "
            "   FROM comments WHERE review_id = ?2 AND deleted = 0 AND (?1 IS NULL OR guild_id = ?1)) AS c, "
            "  (SELECT count(*) AS ratings, avg(stars) AS average_stars FROM film_ratings "
            "   WHERE film_id = (SELECT film_id FROM reviews WHERE id = ?2) "
            "     AND (?1 IS NULL OR guild_id = ?1)) AS fr "
            "WHERE r.id = ?2",
            (guild_id, review_id),
        )
        if row is None:
            return None
        return DiscussionStats(
            review_id=row["review_id"],
            comments=int(row["comments"]),
            participants=int(row["participants"]),
            first_comment_at=row["first_comment_at"],
            last_comment_at=row["last_comment_at"],
            ratings=int(row["ratings"]),
            average_stars=round(float(row["average_stars"]), 2) if row["average_stars"] is not None else None,
        )
