"""Pure helpers for catalog search: normalising titles and building safe FTS5 queries.

Member input never reaches FTS5 as syntax. Every token is reduced to letters and
digits (the same characters the ``unicode61`` tokenizer keeps), accents and case
are folded the way ``remove_diacritics 2`` folds them, and each token is quoted.
So quotes, ``*``, ``NEAR``, ``AND``, parentheses or a lone ``-`` are just words
(or nothing), never an ``fts5: syntax error``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Set

__all__ = [
    "MAX_QUERY_TOKENS",
    "any_position_match",
    "correction_groups",
    "deletions",
    "edit_variants",
    "fold",
    "match_with_alternatives",
    "normalize_title",
    "one_edit_apart",
    "search_tokens",
    "title_prefix_match",
    "typo_variants",
    "typo_words",
]

MAX_QUERY_TOKENS = 8
# unicode61 keeps letters, numbers and private-use characters; "_" is a separator.
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
_MIN_FUZZY_LENGTH = 3
_MAX_FUZZY_LENGTH = 24  # longer "words" are not typos worth ~2,000 look-ups
_MAX_FUZZY_WORDS = 4
_ALTERNATIVES_PER_WORD = 3


def fold(text: str) -> str:
    """Case-fold and strip accents ("Amélie" -> "amelie"), like the FTS tokenizer does."""
    decomposed = unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", text).casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def search_tokens(text: str, *, limit: int = MAX_QUERY_TOKENS) -> list[str]:
    """The searchable words of ``text``: folded, punctuation and emoji dropped, at most ``limit``."""
    return _WORD.findall(fold(text))[:limit]


def normalize_title(text: str) -> str:
    """A comparison key for titles: "Chungking Express!" and "chungking  express" are equal."""
    if text.isascii():  # the common case: NFKC/NFKD change nothing and casefold() is lower()
        return " ".join(_WORD.findall(text.lower()))
    return " ".join(_WORD.findall(fold(text)))


def _quote(token: str) -> str:
    return '"' + token.replace('"', '""') + '"'


def any_position_match(tokens: list[str], *, prefix_last: bool = True) -> str | None:
    """Every token anywhere in the titles; the last one as a prefix (typing as you go)."""
    if not tokens:
        return None
    parts = [_quote(t) for t in tokens]
    if prefix_last:
        parts[-1] += "*"
    return " ".join(parts)


def title_prefix_match(tokens: list[str]) -> str | None:
    """The tokens as a phrase at the very start of a title column ("chung ex" -> Chungking Express)."""
    if not tokens:
        return None
    phrase = " + ".join(_quote(t) for t in tokens) + "*"
    return "{title original_title alt_titles} : ^" + phrase


def match_with_alternatives(groups: list[list[str]], *, prefix_last: bool = True) -> str | None:
    """Like :func:`any_position_match`, but each position may be one of several spellings."""
    parts: list[str] = []
    for index, group in enumerate(groups):
        if not group:
            continue
        star = "*" if prefix_last and index == len(groups) - 1 else ""
        alternatives = [_quote(t) + star for t in group]
        parts.append(alternatives[0] if len(alternatives) == 1 else "(" + " OR ".join(alternatives) + ")")
    # Implicit AND is not allowed next to a parenthesised group; spell it out.
    return " AND ".join(parts) or None


def edit_variants(word: str) -> set[str]:
    """Every string one edit away (delete, transpose, replace, insert) from ``word``.

    For an 8-letter word that is ~600 strings, looked up in one indexed query
    against the ``film_terms`` vocabulary; far cheaper than comparing against
    the whole vocabulary.
    """
    alphabet = set(_ALPHABET) | set(word)
    splits = [(word[:i], word[i:]) for i in range(len(word) + 1)]
    variants = {a + b[1:] for a, b in splits if b}
    variants |= {a + b[1] + b[0] + b[2:] for a, b in splits if len(b) > 1}
    variants |= {a + c + b[1:] for a, b in splits if b for c in alphabet}
    variants |= {a + c + b for a, b in splits for c in alphabet}
    variants.discard(word)
    variants.discard("")
    return variants


def typo_words(tokens: list[str], skip: Set[str] = frozenset()) -> list[str]:
    """The words worth correcting (long enough, at most a few words), in order.

    Words in ``skip`` still count towards that limit but are left out: callers
    pass words already known not to need correcting (a known word that is not the last).
    """
    chosen: set[str] = set()
    for token in tokens:
        if _MIN_FUZZY_LENGTH <= len(token) <= _MAX_FUZZY_LENGTH and len(chosen) < _MAX_FUZZY_WORDS:
            chosen.add(token)
    return [token for token in dict.fromkeys(tokens) if token in chosen and token not in skip]


def typo_variants(tokens: list[str], skip: Set[str] = frozenset()) -> dict[str, set[str]]:
    """The one-edit variants (:func:`edit_variants`) of each of :func:`typo_words`."""
    return {token: edit_variants(token) for token in typo_words(tokens, skip)}


def deletions(word: str) -> set[str]:
    """``word`` and every spelling of it with one letter deleted: its keys in the deletion neighbourhood.

    Two words are at most one edit apart only if their key sets meet (migration
    0015 stores every vocabulary word under its keys), so a typed word needs
    ``len(word) + 1`` look-ups instead of :func:`edit_variants`' hundreds.
    """
    return {word} | {word[:i] + word[i + 1 :] for i in range(len(word))}


def one_edit_apart(word: str, other: str) -> bool:
    """True exactly when ``other`` is in :func:`edit_variants` of ``word``, without building that set.

    One letter deleted, two neighbours swapped, or one letter replaced or inserted;
    a replaced or inserted letter must be a-z, 0-9 or one of ``word``'s own letters.
    """
    if not other or other == word:
        return False
    size, other_size = len(word), len(other)
    if abs(size - other_size) > 1:
        return False
    start = 0  # the first position where they differ
    limit = min(size, other_size)
    while start < limit and word[start] == other[start]:
        start += 1
    if size == other_size:
        if word[start + 1 :] == other[start + 1 :]:  # replaced
            return other[start] in _ALPHABET or other[start] in word
        return (  # swapped neighbours
            start + 1 < size
            and word[start] == other[start + 1]
            and word[start + 1] == other[start]
            and word[start + 2 :] == other[start + 2 :]
        )
    if other_size < size:  # deleted
        return word[start + 1 :] == other[start:]
    return word[start:] == other[start + 1 :] and (other[start] in _ALPHABET or other[start] in word)  # inserted


def correction_groups(
    tokens: list[str], variants: dict[str, set[str]], known: dict[str, int], last_is_prefix: bool
) -> list[list[str]] | None:
    """Per word, the spellings to search: itself if known, else its most-used known variants.

    ``known`` maps vocabulary words to how many films use them; ``last_is_prefix``
    says whether the last word starts some known word (it may still be being typed).
    """
    groups: list[list[str]] = []
    for index, token in enumerate(tokens):
        is_last = index == len(tokens) - 1
        if token in known and not is_last:
            groups.append([token])
            continue
        candidates = sorted((v for v in variants.get(token, ()) if v in known), key=lambda v: (-known[v], v))
        # The last word may be a correct prefix ("wors" of "worst") or a typo ("wors" for "wars").
        own = [token] if token in known or (is_last and last_is_prefix) else []
        group = own + candidates[:_ALTERNATIVES_PER_WORD]
        if group:
            groups.append(group)
    # Words no title knows, even with one edit ("near" in 'NEAR("chungking" express)'),
    # are dropped so the rest can still match; if nothing is left, no fix can help.
    return groups or None
