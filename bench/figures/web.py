"""Figure 7: the web side. The read API under load, live fan-out to 1,000 readers, and the scale-out path.

7a/7b load ``/v1/comments`` of a review with 2,000 comments (the widget's request:
newest 50 threads) with ``wrk`` from a second process, 200 connections, against
the same server returning a static file of exactly the same bytes; 7g loads a bare
aiohttp handler the same way, to show the framework's own floor on this machine. 7c/7d run the
real bot against the Discord double with 1,000 SSE readers in another process and
time MESSAGE_CREATE → the event at every reader. 7e/7f put nginx (Debian's package)
in front as a caching reverse proxy and load the same URL through it.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import os
import random
import re
import shutil
import signal
import socket
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

from bench.harness import Row, Stat, percentile, ratio_of, verdict
from bench.world import FeatureMissing, connect, migrated_database, require, running_bot
from bot.discord_double import DiscordDouble
from bot.urls import normalize_post_url

NUMBER = "7"
TITLE = "The web side: read API, live fan-out, scale-out through a cache"
NOTES = [
    "Set-up: one review with 2,000 public comments (a quarter of them replies, some with reactions) in a server "
    "that publishes; the server is Matinee's WebServer (aiohttp) in the bench process.",
    "Load: `wrk -t2 -c200 --latency -H 'Accept-Encoding: identity'` from a second process on loopback, for a fixed "
    "duration per run; runs alternate between the API and the baseline.",
    "Baseline for 7a/7b: the same server (same middleware and headers) returning a static file of exactly the bytes "
    "of the API's answer, with aiohttp's FileResponse (sendfile).",
    "7c/7d: the real MatineeBot (discussions and web cogs) against the Discord double; 1,000 SSE readers in a "
    "second process, each with its own X-Forwarded-For (the bot trusts 127.0.0.1 as a proxy, as behind nginx). "
    "Latency = the double's MESSAGE_CREATE → the `comment` event's arrival at the last of the 1,000 readers. "
    "Memory = the growth of the bench process's RSS (bot, double and server) from 0 to 1,000 open streams ÷ 1,000.",
    "7e/7f: nginx as a caching reverse proxy (proxy_cache honouring the API's Cache-Control, stale-while-revalidate "
    "via proxy_cache_background_update, proxy_cache_lock) in front of the same server; same wrk load.",
    "7g: the floor of the framework on this machine: a bare aiohttp application (no middleware, no Matinee code) "
    "in the same process answering the same bytes from memory, under the same wrk load. It shows what any "
    "single aiohttp process can reach here, which bounds 7a/7b.",
    "7h: the real `matinee web --workers 2` process against one `matinee web` process, both as deployed behind "
    "a proxy (WEB_TRUSTED_PROXIES=127.0.0.1, every request from its own client address through X-Forwarded-For, "
    "so the default per-address rate limits apply and never refuse); the same wrk load and URL as 7a.",
]
SIZES = {
    "full": {"comments": 2000, "clients": 200, "seconds": 8, "runs": 3, "readers": 1000, "messages": 30,
             "gap": 0.3, "budget_seconds": 300},
    "smoke": {"comments": 200, "clients": 20, "seconds": 1, "runs": 1, "readers": 20, "messages": 3,
              "gap": 0.2, "budget_seconds": 90},
}  # fmt: skip
PLANNED = [
    ("7a", "/v1/comments (2,000-comment review, newest 50), 200 clients: requests/s", "≥ 0.8× static"),
    ("7b", "/v1/comments p99 latency", "≤ 20 ms"),
    ("7c", "Live fan-out to 1,000 SSE readers: MESSAGE_CREATE → every reader, p99", "≤ 500 ms"),
    ("7d", "Memory per open SSE connection", "≤ 50 KB"),
    ("7e", "/v1/comments through nginx's cache: requests/s", "report (ratio to direct)"),
    ("7f", "/v1/comments through nginx's cache: p99 latency", "report (ratio to direct)"),
    ("7g", "aiohttp's floor here (bare handler, same bytes from memory, same load): p99 latency", "report"),
    ("7h", "`matinee web --workers 2`: requests/s", "report (ratio to one process)"),
    ("7i", "`matinee web --workers 2`: p99 latency", "report (ratio to one process)"),
]
REVIEW_URL = "https://blog.example/2026/11/24/chungking-express/"
GUILD, THREAD, CHANNEL = 900, 5000, 4000


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _rss() -> int:
    with open("/proc/self/status", encoding="utf-8") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def _seed(database: Path, comments: int, *, thread_id: int = THREAD, guild_id: int = GUILD) -> None:
    rng = random.Random(7)
    conn = connect(database)
    with conn:
        conn.execute(
            "INSERT INTO reviews (id, source, source_key, slug, title, url, url_key, film_title, film_year) "
            "VALUES (1, 'markdown', 'c.md', 'chungking-express', 'Chungking Express', ?, ?, 'Chungking Express', 1994)",
            (REVIEW_URL, normalize_post_url(REVIEW_URL)),
        )
        conn.execute(
            "INSERT INTO announcements (review_id, guild_id, channel_id, message_id, thread_id, nonce, state) "
            "VALUES (1, ?, ?, ?, ?, 'bench', 'sent')",
            (guild_id, CHANNEL, thread_id, thread_id),
        )
        conn.execute("INSERT INTO web_guilds (guild_id, publish, guild_name) VALUES (?, 1, 'Film Club')", (guild_id,))
        rows = []
        for i in range(comments):
            message_id = 10**15 + i
            reply_to = 10**15 + rng.randrange(i) if i > 10 and rng.random() < 0.25 else None
            reactions = json.dumps({"🍍": rng.randint(1, 9)}) if rng.random() < 0.1 else "{}"
            words = " ".join(rng.choice(("the", "film", "light", "scene", "**rain**", "night", "||twist||", "city"))
                             for _ in range(rng.randint(5, 40)))  # fmt: skip
            created = f"2026-11-24T{10 + i // 3600 % 10:02d}:{i // 60 % 60:02d}:{i % 60:02d}.000Z"
            rows.append((message_id, 1, guild_id, thread_id, 10_000 + i % 500, f"member {i % 500}", words, created,
                         reply_to, reactions))  # fmt: skip
        conn.executemany(
            "INSERT INTO comments (message_id, review_id, guild_id, thread_id, author_id, author_name, content, "
            "created_at, reply_to_id, reactions) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
    conn.close()


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}


def _parse_wrk(output: str) -> tuple[float, float]:
    """(requests/s, p99 latency in ms) from wrk's --latency report; raises if any response was not 2xx/3xx."""
    if "Non-2xx or 3xx responses" in output or ("Socket errors" in output and "timeout" in output):
        raise RuntimeError("wrk saw failed requests: " + " / ".join(output.splitlines()[-6:]))
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", output)
    return rps, float(p99.group(1)) * _UNITS[p99.group(2)]


# Each request from its own client address, as a proxy in front would say (10.x.y.z, 16 million of them).
WRK_FORWARDED = """
request = function()
  local ip = "10." .. math.random(0, 255) .. "." .. math.random(0, 255) .. "." .. math.random(1, 254)
  return wrk.format("GET", nil, {["X-Forwarded-For"] = ip, ["Accept-Encoding"] = "identity"})
end
"""


async def _wrk(url: str, clients: int, seconds: int, script: Path | None = None) -> tuple[float, float]:
    options = ["-s", str(script)] if script is not None else ["-H", "Accept-Encoding: identity"]
    process = await asyncio.create_subprocess_exec(
        "wrk", "-t2", f"-c{clients}", f"-d{seconds}s", "--latency", *options, url,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"wrk failed: {err.decode()[-300:]}")
    return _parse_wrk(out.decode())


NGINX_CONF = """
{user}
daemon off;
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    proxy_cache_path {tmp}/cache levels=1:2 keys_zone=matinee:10m max_size=100m inactive=10m use_temp_path=off;
    upstream matinee {{ server 127.0.0.1:{upstream}; keepalive 64; }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://matinee;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_cache matinee;
            proxy_cache_lock on;
            proxy_cache_background_update on;
            proxy_cache_use_stale updating error timeout;
            proxy_cache_revalidate on;
        }}
        location /v1/events {{
            proxy_pass http://matinee;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
            proxy_read_timeout 1h;
        }}
    }}
}}
"""


@contextlib.asynccontextmanager
async def _nginx(tmp: Path, upstream: int):
    binary = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if binary is None:
        raise FeatureMissing("nginx is not installed (apt-get install nginx)")
    port = _free_port()
    tmp.mkdir(parents=True, exist_ok=True)
    conf = tmp / "nginx.conf"
    # As root, nginx's workers would run as "nobody", who cannot enter the bench's private temporary directory.
    user = "user root;" if os.geteuid() == 0 else ""
    conf.write_text(NGINX_CONF.format(user=user, tmp=tmp, upstream=upstream, port=port), encoding="utf-8")
    process = await asyncio.create_subprocess_exec(
        binary, "-c", str(conf), "-p", str(tmp), stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.close()
                break
            except OSError:
                if process.returncode is not None or time.monotonic() > deadline:
                    err = (await process.stderr.read()).decode() if process.stderr else ""
                    raise RuntimeError(f"nginx did not start: {err[-300:]}") from None
                await asyncio.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGQUIT)
            try:
                await asyncio.wait_for(process.wait(), 10)
            except TimeoutError:
                process.kill()
                await process.wait()


async def _bare_aiohttp(body: bytes):
    """A plain aiohttp application answering ``body`` from memory: the framework's floor on this machine."""
    from aiohttp import web

    async def floor(_: web.Request) -> web.Response:
        return web.Response(body=body, headers={"Content-Type": "application/json", "ETag": 'W/"floor"'})

    app = web.Application()
    app.router.add_get("/floor.json", floor)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0, backlog=1024).start()
    return runner


@contextlib.asynccontextmanager
async def _matinee_web(database: Path, workers: int):
    """The real ``matinee web`` command on ``database``, behind-a-proxy settings; yields its URL."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(database.parent),
        "DATABASE_PATH": str(database),
        "WEB_TRUSTED_PROXIES": "127.0.0.1",
        "LOG_LEVEL": "WARNING",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "--env-file", os.devnull, "web", "--port", "0", "--workers", str(workers),
        env=env, cwd=database.parent, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert process.stderr is not None
        while True:
            line = (await asyncio.wait_for(process.stderr.readline(), 60)).decode()
            if not line:
                raise RuntimeError("matinee web exited before serving")
            found = re.search(r"serving (http://\S+)", line)
            if found:
                break
        url = found.group(1)
        # The address is announced before the workers serve; 16 answers on fresh connections, which the
        # kernel spreads across the workers' sockets, mean every worker is serving (2 workers: p ≈ 1 - 2⁻¹⁵).
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as session:
            for _ in range(16):
                async with session.get(url + "/healthz", timeout=aiohttp.ClientTimeout(total=60)) as response:
                    response.raise_for_status()
        yield url
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), 30)
            except TimeoutError:
                process.kill()
                await process.wait()


async def _workers(sizes: dict, database: Path, tmp: Path, query: str) -> list[Row]:
    """7h/7i: one `matinee web` process against `--workers 2`, each request from its own address."""
    script = tmp / "forwarded.lua"
    script.write_text(WRK_FORWARDED, encoding="utf-8")
    rps: dict[int, list[float]] = {1: [], 2: []}
    p99: dict[int, list[float]] = {1: [], 2: []}
    for _ in range(sizes["runs"]):
        for workers in (1, 2):
            async with _matinee_web(database, workers) as url:
                await _wrk(url + query, sizes["clients"], 1, script)
                got_rps, got_p99 = await _wrk(url + query, sizes["clients"], sizes["seconds"], script)
            rps[workers].append(got_rps)
            p99[workers].append(got_p99)
    one_rps, two_rps = Stat.of(rps[1], "req/s"), Stat.of(rps[2], "req/s")
    one_p99, two_p99 = Stat.of(p99[1], "ms"), Stat.of(p99[2], "ms")
    method = (f"each run starts the command afresh (it forks its workers); {os.cpu_count()} cores, shared with "
              "wrk's two threads, so the ratio shows the path rather than a many-core machine's gain.")  # fmt: skip
    return [
        Row("7h", PLANNED[7][1], two_rps, one_rps, "one `matinee web` process", ratio_of(two_rps, one_rps),
            PLANNED[7][2], "reported", method=method),
        Row("7i", PLANNED[8][1], two_p99, one_p99, "one `matinee web` process", ratio_of(two_p99, one_p99),
            PLANNED[8][2], "reported"),
    ]  # fmt: skip


async def _read_api(sizes: dict, tmp: Path) -> list[Row]:
    if shutil.which("wrk") is None:
        raise FeatureMissing("wrk is not installed (apt-get install wrk)")
    require("bot.web.app", "WebServer")
    from aiohttp import web

    from bot.storage import Database
    from bot.web.app import WebServer
    from bot.web.public import Page
    from bot.web.security import WebConfig

    database = tmp / "read.db"
    await migrated_database(database)
    _seed(database, sizes["comments"])
    db = await Database.open(database)
    config = WebConfig(port=_free_port(), requests_per_second=1e9, request_burst=1e9)
    server = WebServer(db, config)
    page = await server.service.render(1, "json", Page("newest", 0, 50))
    static = tmp / "static.json"
    static.write_bytes(page.body)
    server.app.router.add_get("/bench/static.json", lambda _: web.FileResponse(static))
    await server.start()
    floor_runner = await _bare_aiohttp(page.body)
    floor_url = f"http://127.0.0.1:{floor_runner.addresses[0][1]}/floor.json"
    api = f"{server.url}/v1/comments?review=chungking-express&sort=newest&limit=50"
    baseline_url = f"{server.url}/bench/static.json"
    rows: list[Row] = []
    try:
        api_rps, api_p99, static_rps, static_p99, cached_rps, cached_p99 = [], [], [], [], [], []
        floor_rps, floor_p99 = [], []
        for url in (api, baseline_url, floor_url):  # warm every path
            await _wrk(url, sizes["clients"], 1)
        for _ in range(sizes["runs"]):
            for url, rps_samples, p99_samples in (
                (api, api_rps, api_p99),
                (baseline_url, static_rps, static_p99),
                (floor_url, floor_rps, floor_p99),
            ):
                rps, p99 = await _wrk(url, sizes["clients"], sizes["seconds"])
                rps_samples.append(rps)
                p99_samples.append(p99)
        value, base = Stat.of(api_rps, "req/s"), Stat.of(static_rps, "req/s")
        ratio = ratio_of(value, base)
        rows.append(Row("7a", PLANNED[0][1], value, base, "static file, same bytes", ratio, PLANNED[0][2],
                        verdict(ratio is not None and ratio >= 0.8),
                        method=f"{len(page.body):,} bytes per answer; {sizes['comments']:,} comments in the review.",
                        ))  # fmt: skip
        p99 = Stat.of(api_p99, "ms")
        static_p99_stat = Stat.of(static_p99, "ms")
        rows.append(Row("7b", PLANNED[1][1], p99, static_p99_stat, "static file p99", ratio_of(p99, static_p99_stat),
                        PLANNED[1][2], verdict(p99.median <= 20.0),
                        method=f"{sizes['clients']} connections always busy (closed loop): by Little's law the mean "
                               f"latency is at least {sizes['clients']} ÷ requests/s, so a p99 ≤ 20 ms needs "
                               f"≥ {sizes['clients'] / 0.020:,.0f} req/s from this process."))  # fmt: skip
        floor = Stat.of(floor_p99, "ms")
        rows.append(Row("7g", PLANNED[6][1], floor, p99, "Matinee's /v1/comments p99 (7b)", ratio_of(floor, p99),
                        PLANNED[6][2], "reported",
                        details=[f"the bare handler's throughput: {Stat.of(floor_rps, 'req/s').fmt()}, "
                                 f"{ratio_of(value, Stat.of(floor_rps, 'req/s')):.2f}× of it reached by Matinee (7a)"],
                        ))  # fmt: skip
        try:
            async with _nginx(tmp / "nginx", server.port) as proxy:
                through = f"{proxy}/v1/comments?review=chungking-express&sort=newest&limit=50"
                await _wrk(through, sizes["clients"], 1)
                for _ in range(sizes["runs"]):
                    rps, through_p99 = await _wrk(through, sizes["clients"], sizes["seconds"])
                    cached_rps.append(rps)
                    cached_p99.append(through_p99)
            cached = Stat.of(cached_rps, "req/s")
            rows.append(Row("7e", PLANNED[4][1], cached, value, "direct to Matinee (7a)", ratio_of(cached, value),
                            PLANNED[4][2], "reported",
                            method="nginx 1 worker, proxy_cache keyed on the URL, honouring max-age/"
                                   "stale-while-revalidate; the same wrk load as 7a."))  # fmt: skip
            through_p99_stat = Stat.of(cached_p99, "ms")
            rows.append(Row("7f", PLANNED[5][1], through_p99_stat, p99, "direct to Matinee (7b)",
                            ratio_of(through_p99_stat, p99), PLANNED[5][2], "reported"))  # fmt: skip
        except FeatureMissing as exc:
            rows += [Row.not_measured(fid, n, t, str(exc)) for fid, n, t in PLANNED if fid in ("7e", "7f")]
    finally:
        await floor_runner.cleanup()
        await server.close()
        await db.close()
    if importlib.util.find_spec("bot.web.workers") is None:
        rows += [Row.not_measured(f, n, t, "matinee web has no --workers") for f, n, t in PLANNED if f in ("7h", "7i")]
    else:
        rows += await _workers(sizes, database, tmp, "/v1/comments?review=chungking-express&sort=newest&limit=50")
    return rows


async def _fan_out(sizes: dict, tmp: Path) -> list[Row]:
    require("bot.web.app", "WebServer")
    database = tmp / "fanout.db"
    await migrated_database(database)
    readers, messages = sizes["readers"], sizes["messages"]
    async with DiscordDouble() as double:
        guild = double.add_guild("Film Club")
        gid = int(guild["id"])
        channel = await double.add_text_channel(gid, "reviews")
        thread = await double.add_thread(int(channel["id"]), "What did you think of Chungking Express?")
        member = await double.add_member(gid, name="Mo Member")
        _seed(database, 20, thread_id=int(thread["id"]), guild_id=gid)
        port = _free_port()
        async with running_bot(
            double, database, extensions=["cogs.discussions", "cogs.web"], web_port=port,
            public_url=f"http://127.0.0.1:{port}", web_trusted_proxies=("127.0.0.1/32",),
        ) as bot:  # fmt: skip
            if bot.get_cog("Web") is None:
                raise FeatureMissing("the web cog did not load")
            await asyncio.sleep(0.5)
            rss_before = _rss()
            out = tmp / "arrivals.json"
            url = f"http://127.0.0.1:{port}/v1/events?review=chungking-express"
            clients = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bench.sse_clients", url, str(readers), str(out),
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            )  # fmt: skip
            try:
                line = await asyncio.wait_for(clients.stdout.readline(), 120)
                if b"READY" not in line:
                    err = (await clients.stderr.read()).decode()
                    raise RuntimeError(f"the SSE readers did not connect: {err[-400:]}")
                await asyncio.sleep(1.0)
                rss_after = _rss()
                sent: dict[str, float] = {}
                for n in range(messages):
                    started = time.time()
                    message = await double.post_message(int(thread["id"]), int(member["user"]["id"]), f"live {n}")
                    sent[message["id"]] = started
                    await asyncio.sleep(sizes["gap"])
                await asyncio.sleep(2.0)
            finally:
                clients.send_signal(signal.SIGTERM)
                await asyncio.wait_for(clients.wait(), 60)
            arrivals = json.loads(out.read_text())
    every, each = [], []
    for message_id, started in sent.items():
        times = arrivals.get(message_id, [])
        if len(times) < readers:
            raise RuntimeError(f"message {message_id} reached {len(times)} of {readers} readers")
        every.append((max(times) - started) * 1000)
        each.extend((t - started) * 1000 for t in times)
    p99_every = percentile(every, 99)
    per_connection = (rss_after - rss_before) / readers / 1024
    return [
        Row("7c", PLANNED[2][1], Stat.of([p99_every], "ms"), None, "", None, PLANNED[2][2],
            verdict(p99_every <= 500),
            method=f"{messages} messages {sizes['gap']} s apart to {readers:,} readers.",
            details=[f"p50 to every reader {percentile(every, 50):.0f} ms; p99 of single deliveries "
                     f"{percentile(each, 99):.0f} ms over {len(each):,} deliveries"]),
        Row("7d", PLANNED[3][1], Stat.of([round(per_connection, 1)], "KB"), None, "", None, PLANNED[3][2],
            verdict(per_connection <= 50),
            method=f"RSS {rss_before / 2**20:.1f} MB → {rss_after / 2**20:.1f} MB with {readers:,} open streams."),
    ]  # fmt: skip


async def run(sizes: dict) -> list[Row]:
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="bench-web-") as name:
        tmp = Path(name)
        try:
            rows += await _read_api(sizes, tmp)
        except FeatureMissing as exc:
            rows += [Row.not_measured(fid, n, t, str(exc)) for fid, n, t in PLANNED if fid not in ("7c", "7d")]
        rows += await _fan_out(sizes, tmp)
    order = [fid for fid, _, _ in PLANNED]
    return sorted(rows, key=lambda r: order.index(r.figure))
