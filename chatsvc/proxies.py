"""The real client behind a reverse proxy: X-Forwarded-For/-Proto/-Host, believed only from proxies we trust.

aiohttp-remotes parses the headers (XForwardedFiltered: walks X-Forwarded-For from the right past trusted hops).
It does not look at the connection's own peer, so alone it would let any client that reaches the server
directly claim any address; here the headers count only when the peer itself is one of CHATSVC_TRUSTED_PROXIES.
Everything after this middleware — login limits, logs, Secure cookies, HSTS, Origin checks — then sees the
client's address, scheme and host.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from ipaddress import ip_address, ip_network

from aiohttp import web
from aiohttp_remotes import XForwardedFiltered

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class TrustedProxies:
    """Middleware factory for a list of proxy addresses or networks (`10.0.0.0/8`, `127.0.0.1`, `::1`)."""

    def __init__(self, trusted: Iterable[str]) -> None:
        self.networks = [ip_network(entry.strip(), strict=False) for entry in trusted if entry.strip()]
        self._forwarded = XForwardedFiltered(set(self.networks))

    def trusts(self, address: str | None) -> bool:
        try:
            peer = ip_address(address or "")
        except ValueError:
            return False
        return any(peer in network for network in self.networks)

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if self.trusts(request.remote):
            return await self._forwarded.middleware(request, handler)
        return await handler(request)
