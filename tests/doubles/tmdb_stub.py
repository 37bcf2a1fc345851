"""A loopback TMDB v3 stub serving TMDB-shaped JSON for /search/movie, /movie/{id} and /configuration.

Faults are queued per request: an HTTP status (429 with Retry-After, 401, 5xx) or a
hang (to trigger the client's timeout). Every request is recorded, so tests can
check what was sent (and that the key went only where it should).
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

__all__ = ["TmdbStub", "tmdb_movie"]


def tmdb_movie(
    tmdb_id: int,
    title: str,
    *,
    release_date: str = "",
    original_title: str | None = None,
    directors: tuple[str, ...] = (),
    cast: tuple[str, ...] = (),
    runtime: int | None = None,
    genres: tuple[str, ...] = (),
    overview: str = "",
    poster_path: str | None = None,
    imdb_id: str | None = None,
    popularity: float = 10.0,
    vote_count: int = 100,
    alternative_titles: tuple[str, ...] = (),
) -> dict[str, Any]:
    """A /movie/{id}?append_to_response=credits,alternative_titles body, as TMDB shapes it."""
    return {
        "id": tmdb_id,
        "title": title,
        "original_title": original_title or title,
        "release_date": release_date,
        "overview": overview,
        "poster_path": poster_path,
        "runtime": runtime,
        "genres": [{"id": i + 1, "name": g} for i, g in enumerate(genres)],
        "imdb_id": imdb_id,
        "popularity": popularity,
        "vote_count": vote_count,
        "vote_average": 7.5,
        "credits": {
            "cast": [{"id": 100 + i, "name": n, "character": "", "order": i} for i, n in enumerate(cast)],
            "crew": [
                {"id": 200 + i, "name": n, "job": "Director", "department": "Directing"}
                for i, n in enumerate(directors)
            ]
            + [{"id": 300, "name": "Some Writer", "job": "Screenplay", "department": "Writing"}],
        },
        "alternative_titles": {"titles": [{"iso_3166_1": "XX", "title": t, "type": ""} for t in alternative_titles]},
    }


@dataclass
class RecordedTmdbRequest:
    path: str
    query: dict[str, str]
    headers: dict[str, str]


@dataclass
class _Fault:
    status: int | None = None
    hang: float | None = None
    retry_after: str | None = None


@dataclass
class TmdbStub:
    api_key: str = "stub-key"
    movies: dict[int, dict[str, Any]] = field(default_factory=dict)
    requests: list[RecordedTmdbRequest] = field(default_factory=list)
    _faults: list[_Fault] = field(default_factory=list)
    _runner: web.AppRunner | None = None
    _port: int = 0

    def add_movie(self, movie: dict[str, Any]) -> None:
        self.movies[int(movie["id"])] = movie

    def queue_status(self, status: int, *, times: int = 1, retry_after: str | None = None) -> None:
        self._faults.extend(_Fault(status=status, retry_after=retry_after) for _ in range(times))

    def queue_hang(self, seconds: float = 30.0, *, times: int = 1) -> None:
        self._faults.extend(_Fault(hang=seconds) for _ in range(times))

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._port}/3"

    async def start(self) -> TmdbStub:
        app = web.Application()
        app.router.add_get("/3/search/movie", self._search)
        app.router.add_get("/3/movie/{id}", self._details)
        app.router.add_get("/3/configuration", self._configuration)
        self._runner = web.AppRunner(app, access_log=None)  # TMDB's own logs are not ours to check
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self._port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> TmdbStub:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _gate(self, request: web.Request) -> web.Response | None:
        self.requests.append(RecordedTmdbRequest(request.path, dict(request.query), dict(request.headers)))
        if self._faults:
            fault = self._faults.pop(0)
            if fault.hang is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.sleep(fault.hang)
                return web.json_response({"status_message": "late"}, status=504)
            headers = {"Retry-After": fault.retry_after} if fault.retry_after else None
            return web.json_response(
                {"success": False, "status_code": 25, "status_message": f"stub fault {fault.status}"},
                status=fault.status or 500,
                headers=headers,
            )
        bearer = request.headers.get("Authorization", "")
        if request.query.get("api_key") != self.api_key and bearer != f"Bearer {self.api_key}":
            return web.json_response(
                {"success": False, "status_code": 7, "status_message": "Invalid API key: You must be granted one."},
                status=401,
            )
        return None

    async def _search(self, request: web.Request) -> web.Response:
        if (failed := await self._gate(request)) is not None:
            return failed
        words = request.query.get("query", "").casefold().split()
        year = request.query.get("year")
        results = []
        for movie in self.movies.values():
            title = movie["title"].casefold()
            if words and all(w in title for w in words) and (not year or movie["release_date"].startswith(year)):
                summary = {k: v for k, v in movie.items() if k not in {"credits", "alternative_titles", "genres"}}
                summary["genre_ids"] = [g["id"] for g in movie["genres"]]
                results.append(summary)
        return web.json_response({"page": 1, "results": results, "total_pages": 1, "total_results": len(results)})

    async def _configuration(self, request: web.Request) -> web.Response:
        """What ``matinee doctor`` asks: the cheapest authenticated call TMDB has."""
        if (failed := await self._gate(request)) is not None:
            return failed
        images = {"base_url": "http://image.tmdb.org/t/p/", "secure_base_url": "https://image.tmdb.org/t/p/",
                  "poster_sizes": ["w92", "w500", "original"]}
        return web.json_response({"images": images, "change_keys": ["title"]})

    async def _details(self, request: web.Request) -> web.Response:
        if (failed := await self._gate(request)) is not None:
            return failed
        movie = self.movies.get(int(request.match_info["id"])) if request.match_info["id"].isdigit() else None
        if movie is None:
            return web.json_response(
                {"success": False, "status_code": 34, "status_message": "The resource could not be found."},
                status=404,
            )
        return web.json_response(movie)
