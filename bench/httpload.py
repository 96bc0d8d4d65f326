"""Closed-loop HTTP/1.1 load over keep-alive connections, with two interchangeable clients.

- `aiohttp_load`: aiohttp's client, as a real Python client would call the API.
- `raw_load`: a minimal client on asyncio protocols (pre-built request bytes, a status line and
  Content-Length parser). On this class of machine aiohttp's client tops out near the bare "hello"
  server's own rate, so it cannot show the server's ceiling; the raw client costs a fraction of that,
  so the figure it gives is the server's and not the client's. Both run in this (load) process, never
  in the server's.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any
from urllib.parse import urlsplit

import aiohttp


def _finish(count: int, errors: int, latencies: list[float], seconds: float, cpu: float) -> dict[str, Any]:
    return {"requests": count, "errors": errors, "seconds": seconds, "rps": count / seconds if seconds else 0.0,
            "latencies": latencies, "client_cpu": cpu / seconds if seconds else 0.0}


async def aiohttp_load(url: str, method: str, headers: dict[str, str], body: Any, concurrency: int,
                       seconds: float) -> dict[str, Any]:
    """`concurrency` workers send requests back to back for `seconds`."""
    data = json.dumps(body).encode() if body is not None else None
    hdrs = dict(headers)
    if data is not None:
        hdrs["Content-Type"] = "application/json"
    latencies: list[float] = []
    errors = 0
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=30)) as session:
        stop = time.perf_counter() + seconds

        async def worker() -> None:
            nonlocal errors
            while True:
                t0 = time.perf_counter()
                if t0 >= stop:
                    return
                async with session.request(method, url, data=data, headers=hdrs) as resp:
                    await resp.read()
                    if resp.status >= 300:
                        errors += 1
                latencies.append(time.perf_counter() - t0)

        cpu0, t0 = time.process_time(), time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - t0
        cpu = time.process_time() - cpu0
    return _finish(len(latencies), errors, latencies, elapsed, cpu)


class _Conn(asyncio.Protocol):
    """One keep-alive connection sending `request` again as soon as the previous answer is complete."""

    def __init__(self, request: bytes, stop: float, latencies: list[float], done: asyncio.Future[None]) -> None:
        self.request = request
        self.stop = stop
        self.latencies = latencies
        self.done = done
        self.buffer = b""
        self.errors = 0
        self.sent_at = 0.0
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self._send()

    def _send(self) -> None:
        self.sent_at = time.perf_counter()
        assert self.transport is not None
        self.transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buffer[:end]
            lower = head.lower()
            at = lower.find(b"\r\ncontent-length:")
            if at < 0:
                self._fail(RuntimeError(f"response without Content-Length: {head[:200]!r}"))
                return
            length = int(lower[at + 17:].split(b"\r\n", 1)[0])
            if len(self.buffer) < end + 4 + length:
                return
            status = int(head[9:12])
            self.buffer = self.buffer[end + 4 + length:]
            now = time.perf_counter()
            self.latencies.append(now - self.sent_at)
            if status >= 300:
                self.errors += 1
            if now < self.stop:
                self._send()
            else:
                if not self.done.done():
                    self.done.set_result(None)
                assert self.transport is not None
                self.transport.close()
                return

    def _fail(self, exc: BaseException) -> None:
        if not self.done.done():
            self.done.set_exception(exc)
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: BaseException | None) -> None:
        if not self.done.done():
            self.done.set_exception(exc or ConnectionError("the server closed the connection"))


def build_request(url: str, method: str, headers: dict[str, str], body: Any) -> bytes:
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    lines = [f"{method} {path} HTTP/1.1", f"Host: {parts.netloc}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    payload = b""
    if body is not None:
        payload = json.dumps(body).encode()
        lines += ["Content-Type: application/json", f"Content-Length: {len(payload)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + payload


async def raw_load(url: str, method: str, headers: dict[str, str], body: Any, concurrency: int,
                   seconds: float) -> dict[str, Any]:
    """Like aiohttp_load, with the minimal client."""
    loop = asyncio.get_running_loop()
    parts = urlsplit(url)
    request = build_request(url, method, headers, body)
    latencies: list[float] = []
    cpu0, t0 = time.process_time(), time.perf_counter()
    stop = t0 + seconds
    conns: list[_Conn] = []
    for _ in range(concurrency):
        done: asyncio.Future[None] = loop.create_future()
        _, conn = await loop.create_connection(lambda d=done: _Conn(request, stop, latencies, d),
                                               parts.hostname, parts.port)
        conns.append(conn)
    await asyncio.gather(*(c.done for c in conns))
    elapsed = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    return _finish(len(latencies), sum(c.errors for c in conns), latencies, elapsed, cpu)


CLIENTS = {"raw": raw_load, "aiohttp": aiohttp_load}
