"""One page of a longer list, as the member-facing list commands (/top, /reviews, /watchlist) show it."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Generic, TypeVar

__all__ = ["Page", "page_count"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """``items`` of page ``page`` (0-based) out of ``pages``; ``total`` items in all."""

    items: list[T]
    page: int
    pages: int
    total: int


def page_count(total: int, size: int) -> int:
    """How many pages ``total`` items fill; an empty list still has one (empty) page."""
    return max(1, math.ceil(total / size))
