"""The optional TMDB provider: search and details through the bot's shared aiohttp session.

Why the care: TMDB is a nice-to-have, so it must never make a command slow or
fail. Every call is bounded by a short timeout and a token-bucket rate limit; a
429 pauses calls for the Retry-After period and a 401 pauses them for longer, so
a bad key or an angry API is not hammered. Callers catch :class:`TmdbUnavailable`
and answer from the local catalog. The API key is sent, never logged: errors
carry a short reason, not the request URL (which would contain ``api_key=``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import aiohttp

from ..ratelimit import TokenBucket
from ..settings import Secret
from ..storage.films import FilmRecord
from ..timestamps import utc_iso

__all__ = ["POSTER_BASE", "TmdbClient", "TmdbUnavailable"]

log = logging.getLogger(__name__)

POSTER_BASE = "https://image.tmdb.org/t/p/w500"
DEFAULT_TIMEOUT = 4.0
AUTH_PAUSE_SECONDS = 600.0
MAX_RATE_LIMIT_PAUSE = 60.0
TOP_CAST = 8


class TmdbUnavailable(Exception):
    """TMDB could not answer; ``reason`` is one of timeout, rate_limited, auth, server, network, bad_response."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"TMDB unavailable ({reason})")
        self.reason = reason


def _year(date: Any) -> int | None:
    text = str(date or "")
    return int(text[:4]) if len(text) >= 4 and text[:4].isdigit() else None


def _poster(path: Any) -> str | None:
    return f"{POSTER_BASE}{path}" if isinstance(path, str) and path.startswith("/") else None


def _record(data: dict[str, Any], *, details: bool) -> FilmRecord | None:
    title = data.get("title") or data.get("original_title")
    tmdb_id = data.get("id")
    if not isinstance(title, str) or not title.strip() or not isinstance(tmdb_id, int):
        return None
    credits = data.get("credits") if isinstance(data.get("credits"), dict) else {}
    crew = credits.get("crew") if isinstance(credits.get("crew"), list) else []
    cast = credits.get("cast") if isinstance(credits.get("cast"), list) else []
    genres = data.get("genres") if isinstance(data.get("genres"), list) else []
    alt_block = data.get("alternative_titles") if isinstance(data.get("alternative_titles"), dict) else {}
    alt = alt_block.get("titles") if isinstance(alt_block.get("titles"), list) else []
    imdb_id = data.get("imdb_id")
    return FilmRecord(
        title=title.strip(),
        original_title=data.get("original_title") if isinstance(data.get("original_title"), str) else None,
        year=_year(data.get("release_date")),
        directors=[c["name"] for c in crew if isinstance(c, dict) and c.get("job") == "Director" and c.get("name")],
        cast=[c["name"] for c in cast if isinstance(c, dict) and c.get("name")][:TOP_CAST],
        runtime_minutes=data.get("runtime") if isinstance(data.get("runtime"), int) and data["runtime"] > 0 else None,
        genres=[g["name"] for g in genres if isinstance(g, dict) and g.get("name")],
        overview=data.get("overview") or None,
        poster_url=_poster(data.get("poster_path")),
        imdb_id=imdb_id if isinstance(imdb_id, str) and imdb_id.startswith("tt") else None,
        tmdb_id=tmdb_id,
        popularity=float(data["popularity"]) if isinstance(data.get("popularity"), int | float) else None,
        vote_count=data.get("vote_count") if isinstance(data.get("vote_count"), int) else None,
        alt_titles=[a["title"] for a in alt if isinstance(a, dict) and isinstance(a.get("title"), str)][:20],
        source="tmdb",
        fetched_at=utc_iso(datetime.now(UTC)) if details else None,
    )


class TmdbClient:
    """TMDB v3 search and details. One instance per bot; uses the bot's aiohttp session."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        base_url: str,
        api_key: Secret,
        requests_per_second: float = 20.0,
        timeout: float = DEFAULT_TIMEOUT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._session = session
        self._base = base_url.rstrip("/")
        self._key = api_key
        self._bucket = TokenBucket(requests_per_second, clock=clock)
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._clock = clock
        self._paused_until = 0.0
        self._pause_reason = ""
        self.requests_sent = 0

    def _auth(self) -> tuple[dict[str, str], dict[str, str]]:
        """v4 read-access tokens (JWTs) go in a header; v3 keys in the query string."""
        key = self._key.reveal()
        if key.startswith("eyJ"):
            return {"Authorization": f"Bearer {key}"}, {}
        return {}, {"api_key": key}

    @property
    def paused(self) -> bool:
        return self._clock() < self._paused_until

    def _pause(self, seconds: float, reason: str) -> None:
        self._paused_until = max(self._paused_until, self._clock() + seconds)
        self._pause_reason = reason

    async def _get(self, path: str, params: dict[str, str]) -> dict[str, Any]:
        if self.paused:
            raise TmdbUnavailable(self._pause_reason or "paused")
        await self._bucket.acquire()
        headers, auth_params = self._auth()
        self.requests_sent += 1
        try:
            async with self._session.get(
                f"{self._base}{path}",
                params={**params, **auth_params},
                headers={"Accept": "application/json", **headers},
                timeout=self._timeout,
            ) as response:
                status = response.status
                if status == 429:
                    retry = _retry_after(response.headers.get("Retry-After"))
                    self._pause(retry, "rate_limited")
                    log.warning("TMDB rate limit hit; pausing TMDB calls for %.0f s", retry)
                    raise TmdbUnavailable("rate_limited")
                if status in (401, 403):
                    self._pause(AUTH_PAUSE_SECONDS, "auth")
                    log.warning("TMDB rejected the API key (HTTP %d); check TMDB_API_KEY", status)
                    raise TmdbUnavailable("auth")
                if status == 404:
                    return {}
                if status >= 500:
                    raise TmdbUnavailable("server")
                if status != 200:
                    raise TmdbUnavailable("bad_response")
                data = await response.json(content_type=None)
        except TimeoutError:
            raise TmdbUnavailable("timeout") from None
        except aiohttp.ClientError:
            raise TmdbUnavailable("network") from None
        except ValueError:
            raise TmdbUnavailable("bad_response") from None
        if not isinstance(data, dict):
            raise TmdbUnavailable("bad_response")
        return data

    async def check(self) -> None:
        """One cheap authenticated call (``/configuration``), for ``matinee doctor``; raises :class:`TmdbUnavailable`.

        ``bad_response`` here means the base URL answered, but not as TMDB's API does.
        """
        data = await self._get("/configuration", {})
        if not isinstance(data.get("images"), dict):
            raise TmdbUnavailable("bad_response")

    async def search(self, query: str, *, year: int | None = None, limit: int = 10) -> list[FilmRecord]:
        """Films matching ``query`` (summary fields only: no cast or directors)."""
        params = {"query": query[:200], "include_adult": "false"}
        if year:
            params["year"] = str(year)
        data = await self._get("/search/movie", params)
        results = data.get("results") if isinstance(data.get("results"), list) else []
        records = [_record(item, details=False) for item in results if isinstance(item, dict)]
        return [r for r in records if r is not None][:limit]

    async def details(self, tmdb_id: int) -> FilmRecord | None:
        """Full details (cast, directors, runtime, genres, IMDb id, alternative titles)."""
        data = await self._get(
            f"/movie/{int(tmdb_id)}", {"append_to_response": "credits,alternative_titles", "language": "en-US"}
        )
        return _record(data, details=True) if data else None


def _retry_after(value: str | None) -> float:
    try:
        seconds = float(value) if value else 10.0
    except ValueError:
        seconds = 10.0
    return min(max(seconds, 1.0), MAX_RATE_LIMIT_PAUSE)
