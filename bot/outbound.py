"""Outbound HTTP: every session that fetches a URL is made here, with its network policy built in.

Why: a server admin can give the bot any feed URL, and a feed or a blog can
redirect it anywhere. Without care that is server-side request forgery: the bot
would probe the network it runs in (the cloud metadata service, a router's admin
page, a database on loopback). Checking a URL's host *before* a request is not
enough, because aiohttp resolves the name again when it connects, and a DNS
server that answers a public address to the check and a private one to the
connection (rebinding) gets through.

So the policy lives in the session itself:

* its connector resolves names through :class:`GuardedResolver`, which refuses
  an answer that contains any private address, and hands the checked addresses
  (as numeric hosts) straight to the connection: there is exactly one lookup per
  connection and it is the one that was checked. The URL's host name stays the
  ``Host`` header, the TLS SNI and the name the certificate is verified against;
* a client middleware refuses private IP literals and private names
  (``localhost``, ``*.internal``, …) in every request, redirects included,
  because aiohttp connects to an IP literal without asking the resolver.

Each use names its :class:`Purpose`, and the purpose decides the policy once
(:func:`policy_for`): URLs that server admins, feeds or blogs supply are held to
the private-network rule (lifted by ``FEED_ALLOW_PRIVATE_NETWORKS``); endpoints
only the operator configures (``TMDB_API_BASE``, ``OPENAI_BASE_URL``, ``DISCORD_API_BASE``) are trusted
as configured, so a TMDB proxy or a local model on loopback keeps working.

:class:`OutboundHttp` owns the bot's long-lived sessions, one per purpose,
closed together on shutdown. :func:`create_session` is the one way to build
a session anywhere else (``doctor``, tests, benches).
"""

from __future__ import annotations

import enum
import ipaddress
import socket
from dataclasses import dataclass

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

from . import __version__
from .settings import Settings

__all__ = [
    "USER_AGENT",
    "GuardedConnector",
    "GuardedResolver",
    "NetworkPolicy",
    "OutboundHttp",
    "PrivateAddressError",
    "Purpose",
    "create_session",
    "policy_for",
    "private_address_refusal",
    "session_policy",
]

USER_AGENT = f"Matinee/{__version__} (+https://github.com/matinee-bot)"
SESSION_TIMEOUT = aiohttp.ClientTimeout(total=30)

# Names that point into private networks by convention (RFC 6761, RFC 6762, RFC 8375, cloud metadata names).
_PRIVATE_SUFFIXES = (".localhost", ".local", ".internal", ".home.arpa")


class PrivateAddressError(aiohttp.ClientConnectionError, OSError):
    """A request was refused because its host is, or resolves to, a private address.

    An ``OSError`` so that aiohttp's connector reports it from the resolver as a
    ``ClientConnectorDNSError`` (whose ``os_error`` is this), and a ``ClientError``
    so that, raised by the middleware, it reaches the caller unwrapped and is not
    retried. ``host`` is the name or literal from the URL; ``resolved`` is True
    when the name itself looked public and DNS answered a private address.
    """

    def __init__(self, host: str, *, resolved: bool) -> None:
        self.host = host
        self.resolved = resolved
        what = "resolves to a private address" if resolved else "is on a private network"
        super().__init__(f"{host} {what}")


def is_public_address(address: str) -> bool:
    """Whether an IP address (text, optionally with an IPv6 zone) is globally routable unicast."""
    try:
        ip = ipaddress.ip_address(address.strip("[]").split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


@dataclass(frozen=True, slots=True)
class NetworkPolicy:
    """Whether a session may reach private networks (loopback, RFC 1918, link-local, …)."""

    allow_private: bool

    def is_public(self, address: str) -> bool:
        return is_public_address(address)

    def check_host(self, host: str) -> None:
        """Refuse a URL host that is a private IP literal or a private name; a public-looking name passes.

        Names are checked again, on every address they resolve to, by :class:`GuardedResolver`.
        """
        if self.allow_private:
            return
        lowered = host.lower().rstrip(".")
        if lowered == "localhost" or lowered.endswith(_PRIVATE_SUFFIXES):
            raise PrivateAddressError(host, resolved=False)
        literal = lowered.strip("[]")
        try:
            ipaddress.ip_address(literal.split("%", 1)[0])
        except ValueError:
            return  # a name: its addresses are checked when it is resolved
        if not self.is_public(literal):
            raise PrivateAddressError(host, resolved=False)

    def check_resolved(self, host: str, addresses: list[str]) -> None:
        """Refuse a name unless every address it resolved to is public: one private answer is enough to refuse."""
        if self.allow_private:
            return
        if not addresses or not all(self.is_public(address) for address in addresses):
            raise PrivateAddressError(host, resolved=True)


class Purpose(enum.StrEnum):
    """What a session is for; :func:`policy_for` maps each to its network policy."""

    FEEDS = "feeds"
    """URLs that server admins, feeds and blogs supply: review feeds, blog comment feeds, their redirects,
    ``doctor``'s feed checks, and any later URL that comes from content. Private networks refused."""
    TMDB = "tmdb"
    """The operator's ``TMDB_API_BASE``: trusted as configured (a cache or proxy on loopback works)."""
    LLM = "llm"
    """The operator's ``OPENAI_BASE_URL`` (``doctor``'s probe; chat itself goes through the openai SDK)."""
    DISCORD = "discord"
    """Discord's REST API or the operator's ``DISCORD_API_BASE``: ``doctor``'s token check and ``matinee run``'s
    wait for the network (:mod:`bot.discord_api`); the bot itself talks to Discord through discord.py."""


_OPERATOR_CONFIGURED = frozenset({Purpose.TMDB, Purpose.LLM, Purpose.DISCORD})


def policy_for(settings: Settings, purpose: Purpose) -> NetworkPolicy:
    """The one decision per purpose: untrusted URLs follow ``FEED_ALLOW_PRIVATE_NETWORKS``."""
    if purpose in _OPERATOR_CONFIGURED:
        return NetworkPolicy(allow_private=True)
    return NetworkPolicy(allow_private=settings.feed_allow_private_networks)


class GuardedResolver(AbstractResolver):
    """Resolves through ``inner`` (the system's resolver by default) and refuses private answers.

    The connector connects to exactly the addresses returned here (aiohttp marks
    them numeric, so nothing is looked up again), which closes the rebinding gap.
    """

    def __init__(self, policy: NetworkPolicy, inner: AbstractResolver | None = None) -> None:
        self.policy = policy
        self._inner = inner if inner is not None else aiohttp.ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        self.policy.check_resolved(host, [result["host"] for result in results])
        return results

    async def close(self) -> None:
        await self._inner.close()


class GuardedConnector(aiohttp.TCPConnector):
    """A ``TCPConnector`` that resolves through a :class:`GuardedResolver` and says which policy it enforces."""

    def __init__(self, policy: NetworkPolicy, *, resolver: AbstractResolver | None = None, **options) -> None:
        self.policy = policy
        self.guard = GuardedResolver(policy, resolver)
        # The connector does not close a resolver it was given: the system resolver holds nothing to close,
        # and a resolver injected through create_session belongs to whoever made it.
        super().__init__(resolver=self.guard, **options)


def _host_guard(policy: NetworkPolicy) -> aiohttp.ClientMiddlewareType:
    """A client middleware refusing private literals and names on every request, each redirect hop included."""

    async def guard(request: aiohttp.ClientRequest, handler: aiohttp.ClientHandlerType) -> aiohttp.ClientResponse:
        policy.check_host(request.url.host or "")
        return await handler(request)

    return guard


def create_session(
    policy: NetworkPolicy,
    *,
    timeout: aiohttp.ClientTimeout = SESSION_TIMEOUT,
    resolver: AbstractResolver | None = None,
) -> aiohttp.ClientSession:
    """A session that enforces ``policy`` on every connection it makes.

    ``resolver`` replaces the system resolver underneath the guard (tests use it
    to play a rebinding DNS server); the guard itself cannot be left out.
    ``trust_env`` stays off: an HTTP proxy taken from the environment would do
    its own DNS, out of the guard's sight.
    """
    return aiohttp.ClientSession(
        connector=GuardedConnector(policy, resolver=resolver),
        middlewares=(_host_guard(policy),),
        timeout=timeout,
        headers={"User-Agent": USER_AGENT},
        trust_env=False,
    )


def session_policy(session: aiohttp.ClientSession) -> NetworkPolicy | None:
    """The policy a session enforces, or None for a session not made by :func:`create_session`."""
    connector = session.connector
    return connector.policy if isinstance(connector, GuardedConnector) else None


def private_address_refusal(exc: BaseException) -> PrivateAddressError | None:
    """The :class:`PrivateAddressError` behind an aiohttp error, if the policy is why a request failed."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, PrivateAddressError):
            return current
        if isinstance(current, aiohttp.ClientConnectorError):
            current = current.os_error
            continue
        current = current.__cause__
    return None


class OutboundHttp:
    """The bot's outbound sessions: one long-lived session per :class:`Purpose`, made on first use, closed together.

    Features ask for the session of their purpose (``bot.outbound.session(Purpose.FEEDS)``)
    and never build their own, so no fetch can leave without its purpose's policy.
    """

    def __init__(self, settings: Settings, *, timeout: aiohttp.ClientTimeout = SESSION_TIMEOUT) -> None:
        self._settings = settings
        self._timeout = timeout
        self._sessions: dict[Purpose, aiohttp.ClientSession] = {}
        self._closed = False

    def policy(self, purpose: Purpose) -> NetworkPolicy:
        return policy_for(self._settings, purpose)

    def session(self, purpose: Purpose) -> aiohttp.ClientSession:
        """The purpose's session; created on the first call (inside the running event loop), then reused."""
        if self._closed:
            raise RuntimeError("outbound HTTP sessions are closed")
        session = self._sessions.get(purpose)
        if session is None:
            session = self._sessions[purpose] = create_session(self.policy(purpose), timeout=self._timeout)
        return session

    @property
    def closed(self) -> bool:
        return self._closed

    async def close(self) -> None:
        self._closed = True
        sessions, self._sessions = list(self._sessions.values()), {}
        for session in sessions:
            if not session.closed:
                await session.close()

    async def __aenter__(self) -> OutboundHttp:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
