"""Server-side request forgery through DNS: a name that answers differently each time never reaches a private address.

The attack: a server admin adds ``http://blog.rebind.test/feed``, whose DNS
server answers a public address to one query and ``127.0.0.1`` to the next. A
fetcher that checks one lookup and lets aiohttp connect after another one is
steered onto loopback. Here DNS is played at the ``getaddrinfo`` layer (the
system resolver that production uses, so the bot's real resolution path runs):
a real DNS server on loopback could not be put in front of it without editing
``/etc/resolv.conf``.

``127.0.0.2`` plays the public web server, so nothing leaves the machine: the
tests count it as public (as the internet address it stands for would be) and
keep ``127.0.0.1`` private. Both listen on the same port, as two hosts of one
name would, and the one on ``127.0.0.1`` records every connection it gets.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
import socket
import ssl
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import aiohttp
import pytest

from bot import outbound
from bot.outbound import NetworkPolicy, PrivateAddressError, create_session
from bot.reviews.fetch import FeedFetcher, FeedFetchError
from tests.doubles.feed_server import FeedServer, rss_feed

NAME = "blog.rebind.test"
OTHER_NAME = "other.rebind.test"
STAND_IN = "127.0.0.2"  # plays a public address
PRIVATE = "127.0.0.1"
FEED = rss_feed([{"title": "Heat", "link": "https://blog.example/heat/", "guid": "h", "html": "<p>Two men.</p>"}])


class ScriptedDns:
    """Answers for a few names from a script, one answer per query (the last repeats), as a DNS server with TTL 0."""

    def __init__(self, real: Callable[..., Awaitable[list]], names: set[str], answers: list[tuple[str, ...]]) -> None:
        self._real = real
        self._names = names
        self._answers = answers
        self.answered: list[tuple[str, ...]] = []

    async def getaddrinfo(self, host, port, *, family=0, type=0, proto=0, flags=0) -> list:
        if not isinstance(host, str) or host.rstrip(".").lower() not in self._names:
            return await self._real(host, port, family=family, type=type, proto=proto, flags=flags)
        answer = self._answers[min(len(self.answered), len(self._answers) - 1)]
        self.answered.append(answer)
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, port)) for address in answer]


@contextlib.contextmanager
def scripted_dns(*answers: tuple[str, ...], names: tuple[str, ...] = (NAME,)) -> Iterator[ScriptedDns]:
    """Every ``getaddrinfo`` of the running loop (aiohttp's threaded resolver included) asks the script first."""
    loop = asyncio.get_running_loop()
    dns = ScriptedDns(loop.getaddrinfo, set(names), list(answers))
    loop.getaddrinfo = dns.getaddrinfo  # type: ignore[method-assign]
    try:
        yield dns
    finally:
        del loop.getaddrinfo


class ConnectionRecorder:
    """A listener on a private address that counts every connection made to it, and serves nothing."""

    def __init__(self) -> None:
        self.connections = 0
        self.port = 0
        self._server: asyncio.Server | None = None

    async def start(self, port: int = 0) -> ConnectionRecorder:
        self._server = await asyncio.start_server(self._accept, PRIVATE, port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


@pytest.fixture
def stand_in_is_public(monkeypatch: pytest.MonkeyPatch) -> None:
    real = outbound.is_public_address
    monkeypatch.setattr(outbound, "is_public_address", lambda address: address == STAND_IN or real(address))


@contextlib.asynccontextmanager
async def public_and_private_hosts(
    ssl_context: ssl.SSLContext | None = None,
) -> AsyncIterator[tuple[FeedServer, ConnectionRecorder]]:
    """The stand-in public server on 127.0.0.2 and the recorder on 127.0.0.1, on one port."""
    for _attempt in range(5):
        private = await ConnectionRecorder().start()
        public = FeedServer(host=STAND_IN, port=private.port, ssl_context=ssl_context)
        try:
            await public.start()
        except OSError:  # that port is taken on 127.0.0.2: try another
            await private.stop()
            continue
        break
    else:
        pytest.fail("no port was free on both 127.0.0.1 and 127.0.0.2")
    try:
        yield public, private
    finally:
        await public.stop()
        await private.stop()


async def test_a_rebinding_dns_answer_never_reaches_a_private_address(stand_in_is_public: None) -> None:
    """First query: public; second: 127.0.0.1. The fetch connects where the checked lookup said, then refuses."""
    async with (
        public_and_private_hosts() as (public, private),
        create_session(NetworkPolicy(allow_private=False)) as session,
    ):
        public.serve("/feed", FEED, headers={"Connection": "close"})  # no keep-alive: the next fetch connects anew
        url = f"http://{NAME}:{public.port}/feed"
        fetcher = FeedFetcher(session)
        with scripted_dns((STAND_IN,), (PRIVATE,)) as dns:
            first = await fetcher.fetch(url)
            assert first.status == 200 and b"Heat" in first.body
            assert dns.answered == [(STAND_IN,)]  # one lookup, and it is the one the connection used
            assert [r.headers["Host"] for r in public.requests] == [f"{NAME}:{public.port}"]
            assert private.connections == 0

            session.connector.clear_dns_cache()  # the record's TTL ran out: the next fetch asks again
            refusal = f"{NAME} resolves to a private address; feeds on private networks are not allowed"
            with pytest.raises(FeedFetchError, match=f"^{re.escape(refusal)}$"):
                await fetcher.fetch(url)
            assert dns.answered == [(STAND_IN,), (PRIVATE,)]
        assert private.connections == 0
        assert len(public.requests) == 1


async def test_an_answer_with_any_private_address_is_refused_whole(stand_in_is_public: None) -> None:
    """A public and a private address together: the connector would try the second if the first failed."""
    async with (
        public_and_private_hosts() as (public, private),
        create_session(NetworkPolicy(allow_private=False)) as session,
    ):
        public.serve("/feed", FEED)
        with scripted_dns((STAND_IN, PRIVATE)), pytest.raises(FeedFetchError, match="resolves to a private address"):
            await FeedFetcher(session).fetch(f"http://{NAME}:{public.port}/feed")
        assert private.connections == 0 and public.requests == []


@pytest.mark.parametrize("target", [PRIVATE, "localhost", "[::ffff:127.0.0.1]", "service.internal"])
async def test_the_session_itself_refuses_private_hosts_on_requests_and_on_redirects_it_follows(
    stand_in_is_public: None, target: str
) -> None:
    """Not only the feed fetcher: any request through a refusing session, redirects followed by aiohttp included."""
    async with (
        public_and_private_hosts() as (public, private),
        create_session(NetworkPolicy(allow_private=False)) as session,
    ):
        private_url = f"http://{target}:{private.port}/admin"
        public.serve("/go", redirect_to=private_url)
        with scripted_dns((STAND_IN,)):
            with pytest.raises(PrivateAddressError, match="is on a private network"):
                async with session.get(private_url):
                    pass
            with pytest.raises(PrivateAddressError, match="is on a private network"):
                async with session.get(f"http://{NAME}:{public.port}/go"):  # allow_redirects=True, as doctor's probe
                    pass
        assert [r.path for r in public.requests] == ["/go"]
        assert private.connections == 0


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for NAME only."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", f"/CN={NAME}",
         "-addext", f"subjectAltName=DNS:{NAME}"],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


async def test_tls_sni_host_header_and_certificate_check_use_the_name_not_the_checked_address(
    stand_in_is_public: None, certificate: tuple[Path, Path]
) -> None:
    """The guard hands aiohttp numeric addresses; the name must still be what TLS and HTTP see."""
    cert, key = certificate
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert, key)
    sni: list[str | None] = []
    server_context.sni_callback = lambda _sock, name, _context: sni.append(name)
    client_context = ssl.create_default_context(cafile=str(cert))

    async with (
        public_and_private_hosts(server_context) as (public, private),
        create_session(NetworkPolicy(allow_private=False)) as session,
    ):
        public.serve("/feed", FEED)
        with scripted_dns((STAND_IN,), names=(NAME, OTHER_NAME)) as dns:
            async with session.get(f"https://{NAME}:{public.port}/feed", ssl=client_context) as response:
                assert response.status == 200
                assert b"Heat" in await response.read()
            assert sni == [NAME]
            assert [r.headers["Host"] for r in public.requests] == [f"{NAME}:{public.port}"]

            # Same address, another name: the certificate is checked against the name, so this fails.
            with pytest.raises(aiohttp.ClientConnectorCertificateError):
                async with session.get(f"https://{OTHER_NAME}:{public.port}/feed", ssl=client_context):
                    pass
            assert sni == [NAME, OTHER_NAME]
            assert dns.answered == [(STAND_IN,), (STAND_IN,)]
        assert private.connections == 0
