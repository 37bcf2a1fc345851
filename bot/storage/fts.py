"""Turning member input into safe FTS5 queries.

Anything a member types (quotes, ``*``, ``NEAR``, ``AND``, parentheses, a lone
``-``) must search, never raise a syntax error. We keep only word characters,
quote every token, and add a prefix star to the last one so typing-as-you-go works.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["fts_prefix_query", "fts_tokens"]

_TOKEN = re.compile(r"\w+", re.UNICODE)
MAX_TOKENS = 12


def fts_tokens(text: str) -> list[str]:
    """Lower-cased word tokens, accents kept (the tokenizer removes them itself)."""
    normalised = unicodedata.normalize("NFKC", text).casefold()
    return _TOKEN.findall(normalised)[:MAX_TOKENS]


def fts_prefix_query(text: str, *, prefix_last: bool = True) -> str | None:
    """An FTS5 MATCH expression for ``text``, or None when nothing searchable remains."""
    tokens = fts_tokens(text)
    if not tokens:
        return None
    parts = [f'"{t}"' for t in tokens]
    if prefix_last:
        parts[-1] += "*"
    return " ".join(parts)
