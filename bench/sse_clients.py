"""A separate process holding many SSE connections, for the live fan-out figure.

``python -m bench.sse_clients URL COUNT OUT`` opens COUNT connections to URL (each
with its own X-Forwarded-For, as distinct readers behind a trusted proxy would),
prints ``READY`` once every one has its "ready" event, then records, for every
``comment`` event, the wall-clock time it arrived on each connection. On SIGTERM
it writes {comment id: [arrival times]} to OUT as JSON and exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
import time
from collections import defaultdict
from pathlib import Path

import aiohttp


async def reader(session: aiohttp.ClientSession, url: str, n: int, arrivals: dict, ready: asyncio.Event,
                 counter: list[int], total: int) -> None:  # fmt: skip
    headers = {"X-Forwarded-For": f"10.{n // 65536 % 256}.{n // 256 % 256}.{n % 256}"}
    async with session.get(url, headers=headers, timeout=aiohttp.ClientTimeout(total=None)) as response:
        if response.status != 200:
            raise RuntimeError(f"stream {n} refused: {response.status} {await response.text()}")
        event = None
        async for raw in response.content:
            line = raw.decode().rstrip("\n")
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: ") and event == "ready":
                counter[0] += 1
                if counter[0] == total:
                    ready.set()
            elif line.startswith("data: ") and event == "comment":
                arrived = time.time()
                arrivals[json.loads(line[6:])["comment"]["id"]].append(arrived)


async def main(url: str, count: int, out: str) -> None:
    arrivals: dict[str, list[float]] = defaultdict(list)
    ready = asyncio.Event()
    stop = asyncio.Event()
    counter = [0]
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        tasks = [asyncio.create_task(reader(session, url, n, arrivals, ready, counter, count)) for n in range(count)]
        waiter = asyncio.create_task(ready.wait())
        done, _ = await asyncio.wait([waiter, *tasks], return_when=asyncio.FIRST_COMPLETED)
        if waiter not in done:
            for task in done:
                task.result()  # a refused stream: raise its reason
        print("READY", flush=True)
        await stop.wait()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task
    Path(out).write_text(json.dumps(arrivals), encoding="utf-8")  # after every stream closed: nothing else to do


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), sys.argv[3]))
