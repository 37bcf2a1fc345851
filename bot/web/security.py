"""The public surface's guards: who the client is, how much it may ask, and what browsers may read.

Everything here is about requests from the open internet: the client's address
(``X-Forwarded-For`` believed only from ``WEB_TRUSTED_PROXIES``), a token bucket per
address, caps on live streams per address and in total, and the CORS decision.
"""

from __future__ import annotations

import functools
import ipaddress
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from ..settings import Settings

__all__ = [
    "KeyedRateLimiter",
    "StreamLimiter",
    "WebConfig",
    "allowed_origin",
    "client_address",
    "parse_networks",
]

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class WebConfig:
    """How the HTTP server behaves; built from Settings, with limits a benchmark or test may raise."""

    host: str = "127.0.0.1"
    port: int = 8780
    public_url: str = "http://127.0.0.1:8780"
    allowed_origins: tuple[str, ...] = ()
    trusted_proxies: tuple[str, ...] = ()
    requests_per_second: float = 10.0  # per client address, sustained
    request_burst: float = 60.0  # per client address: a page with its counts, retries and a refresh
    streams_per_address: int = 16
    max_streams: int = 10_000
    heartbeat_seconds: float = 15.0
    tail_interval: float = 0.1
    header_timeout: float = 10.0  # a request's headers (and an idle keep-alive) must come within this
    max_line_size: int = 16_384  # the request line (100 post URLs for /v1/counts fit); longer is refused
    max_field_size: int = 8190
    max_headers: int = 64
    cache_max_age: int = 10
    cache_stale_while_revalidate: int = 60
    shutdown_timeout: float = 2.0
    networks: tuple[IPNetwork, ...] = field(init=False, default=(), compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "networks", parse_networks(self.trusted_proxies))

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> WebConfig:
        values: dict[str, Any] = {
            "host": settings.web_host,
            "port": settings.web_port,
            "public_url": settings.public_address,
            "allowed_origins": settings.web_allowed_origins,
            "trusted_proxies": settings.web_trusted_proxies,
        }
        return cls(**{**values, **overrides})


def parse_networks(values: Sequence[str]) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(v, strict=False) for v in values)


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address in a peer name or a forwarded hop, or None if it is not one.

    Every request asks this of the same few peers, and parsing is the costly part of
    naming the client, so short texts (every real address) are remembered; longer ones
    cannot be addresses and are not kept, so invented headers cannot grow the memory.
    """
    text = text.strip()
    return _parse_address(text) if len(text) <= _LONGEST_ADDRESS else None


_LONGEST_ADDRESS = 64  # "[v6%zone]:port" fits


@functools.lru_cache(maxsize=4096)
def _parse_address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    if text.startswith("[") and "]" in text:  # [v6]:port
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # v4:port
        text = text.split(":", 1)[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _trusted(address: ipaddress.IPv4Address | ipaddress.IPv6Address, networks: Sequence[IPNetwork]) -> bool:
    return any(address.version == n.version and address in n for n in networks)


def client_address(peer: str | None, forwarded_for: Sequence[str], networks: Sequence[IPNetwork]) -> str:
    """The address a request comes from, for rate limits and stream caps.

    ``X-Forwarded-For`` is read only when the connection comes from a trusted
    proxy; then the right-most address that is not itself a trusted proxy is the
    client (anything left of it was written by the client and proves nothing).
    """
    address = _address(peer or "")
    if address is None:
        return peer or "unknown"
    if not networks or not _trusted(address, networks):
        return str(address)
    hops = [h for header in forwarded_for for h in header.split(",")]
    for hop in reversed(hops):
        candidate = _address(hop)
        if candidate is None:
            break  # a malformed hop: trust nothing further left
        address = candidate
        if not _trusted(candidate, networks):
            break
    return str(address)


def allowed_origin(origin: str | None, allowed: Sequence[str]) -> str | None:
    """The ``Access-Control-Allow-Origin`` value for a request from ``origin``, or None for no CORS."""
    if not origin or not allowed:
        return None
    if "*" in allowed:
        return "*"
    return origin if origin.lower().rstrip("/") in allowed else None


class KeyedRateLimiter:
    """A token bucket per key (client address), forgetting the least recently seen keys beyond ``max_keys``."""

    def __init__(
        self, rate: float, burst: float, *, max_keys: int = 100_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.burst = burst
        self.max_keys = max_keys
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}

    def try_acquire(self, key: str) -> float:
        """0.0 if the request may go ahead, else the seconds until it could (Retry-After)."""
        now = self._clock()
        tokens, updated = self._buckets.pop(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - updated) * self.rate)
        if tokens >= 1.0:
            self._buckets[key] = (tokens - 1.0, now)
            wait = 0.0
        else:
            self._buckets[key] = (tokens, now)
            wait = (1.0 - tokens) / self.rate
        while len(self._buckets) > self.max_keys:  # dict order is least recently seen first
            del self._buckets[next(iter(self._buckets))]
        return wait


class StreamLimiter:
    """Counts open event streams per address and in total, and refuses those over either cap."""

    def __init__(self, per_address: int, total: int) -> None:
        self.per_address = per_address
        self.total = total
        self.open = 0
        self._by_address: dict[str, int] = {}

    def refusal(self, address: str) -> str | None:
        if self.open >= self.total:
            return "This server has as many live connections as it takes; the widget polls instead."
        if self._by_address.get(address, 0) >= self.per_address:
            return "Too many live connections from your address."
        return None

    @contextmanager
    def hold(self, address: str) -> Iterator[None]:
        self.open += 1
        self._by_address[address] = self._by_address.get(address, 0) + 1
        try:
            yield
        finally:
            self.open -= 1
            left = self._by_address[address] - 1
            if left:
                self._by_address[address] = left
            else:
                del self._by_address[address]
