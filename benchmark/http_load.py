"""A minimal open-loop HTTP/1.1 load generator for loopback benchmarks (used by bench_serving.py).

Why not httpx/aiohttp: at a few milliseconds per request on a 2-core machine, a heavy client's own
parsing and bookkeeping would show up in the latencies we are trying to attribute to the server.
This client does only what uvicorn's responses need: keep-alive connections, Content-Length bodies.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from dataclasses import dataclass, field

import orjson


class HttpPool:
    """Keep-alive connections to one host: reuse an idle one, else open a new one.

    Never blocks a request waiting for a free connection (that would make the load closed-loop);
    ``max_connections`` only guards against a runaway when the server stops answering.
    """

    # uvicorn closes a keep-alive connection idle for 5 s; reusing one it is closing fails the request.
    MAX_IDLE_S = 3.0

    def __init__(self, host: str, port: int, max_connections: int = 4096) -> None:
        self.host, self.port = host, port
        self.max_connections = max_connections
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter, float]] = []  # + idle since
        self._open = 0

    async def warm(self, n: int) -> None:
        """Open ``n`` connections up front so the first requests of a run do not pay the TCP handshake."""
        for _ in range(n):
            self._idle.append((*await self._connect(), time.monotonic()))

    async def _connect(self):
        if self._open >= self.max_connections:
            raise ConnectionError(f"more than {self.max_connections} requests in flight")
        self._open += 1
        try:
            return await asyncio.open_connection(self.host, self.port)
        except BaseException:
            self._open -= 1
            raise

    async def request(self, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
        conn = await self._acquire()
        try:
            status, data, keep_alive = await self._exchange(conn, method, path, body)
        except BaseException:
            self._close(conn)
            raise
        if keep_alive:
            self._idle.append((*conn, time.monotonic()))
        else:
            self._close(conn)
        return status, data

    async def _acquire(self):
        now = time.monotonic()
        while self._idle:
            reader, writer, since = self._idle.pop()  # most recently used first
            if now - since < self.MAX_IDLE_S and not reader.at_eof():
                return reader, writer
            self._close((reader, writer))
        return await self._connect()

    async def _exchange(self, conn, method: str, path: str, body: bytes) -> tuple[int, bytes, bool]:
        reader, writer = conn
        head = (f"{method} {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n")
        writer.write(head.encode("latin-1") + body)
        header_block = await reader.readuntil(b"\r\n\r\n")
        lines = header_block.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:] if ln)}
        if "content-length" not in headers:
            raise ConnectionError(f"response without Content-Length (headers: {headers})")
        data = await reader.readexactly(int(headers["content-length"]))
        return status, data, headers.get("connection", "").lower() != "close"

    def _close(self, conn) -> None:
        self._open -= 1
        conn[1].close()

    async def get_json(self, path: str) -> dict:
        status, data = await self.request("GET", path)
        if status != 200:
            raise RuntimeError(f"GET {path} -> {status}: {data[:200]!r}")
        return orjson.loads(data)

    async def close(self) -> None:
        while self._idle:
            self._close(self._idle.pop()[:2])


@dataclass
class RunResult:
    """One open-loop run. Latency runs from the moment a request is written to its last body byte."""

    sent: int = 0
    latencies_s: list[float] = field(default_factory=list)  # successes only
    send_lag_s: list[float] = field(default_factory=list)  # actual - scheduled send time (client health)
    errors: list[str] = field(default_factory=list)
    items_ok: int = 0
    duration_s: float = 0.0  # first send -> last completion


def poisson_schedule(rate: float, num_requests: int, max_duration_s: float, rng: random.Random) -> list[float]:
    """Arrival offsets (s) of a Poisson process at ``rate`` req/s, cut at a count and a duration."""
    times, t = [], 0.0
    while len(times) < num_requests:
        t += rng.expovariate(rate)
        if t > max_duration_s:
            break
        times.append(t)
    return times


async def open_loop(pool: HttpPool, path: str, bodies: list[tuple[bytes, int]], arrivals: list[float],
                    timeout_s: float = 60.0) -> RunResult:
    """Send ``bodies[i]`` (JSON bytes, item count) at ``arrivals[i]`` without waiting for answers."""
    res = RunResult()
    loop = asyncio.get_running_loop()
    start = loop.time() + 0.005  # a little head room so the first arrival is not already late
    first_send, last_done = [math.inf], [0.0]

    async def one(body: bytes, n_items: int, due: float) -> None:
        await asyncio.sleep(max(0.0, due - loop.time()))
        res.send_lag_s.append(loop.time() - due)
        t0 = time.perf_counter()
        first_send[0] = min(first_send[0], t0)
        try:
            status, data = await asyncio.wait_for(pool.request("POST", path, body), timeout_s)
        except Exception as e:  # a failure is a data point, not a reason to stop the run
            res.errors.append(f"{type(e).__name__}: {e}")
            return
        t1 = time.perf_counter()
        last_done[0] = max(last_done[0], t1)
        if status == 200:
            res.latencies_s.append(t1 - t0)
            res.items_ok += n_items
        else:
            res.errors.append(f"HTTP {status}: {data[:200].decode(errors='replace')}")

    # One task per request, all created up front: each sleeps until its own arrival time.
    tasks = [one(body, n, start + t) for (body, n), t in zip(bodies, arrivals)]
    res.sent = len(tasks)
    await asyncio.gather(*tasks)
    res.duration_s = max(0.0, last_done[0] - first_send[0])
    return res


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]
