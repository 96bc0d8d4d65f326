"""The headers every answer carries: content sniffing, framing and referrer rules, a CSP (strict for pages: no
inline script), no caching of API answers, HSTS over HTTPS. Added by the app's middleware to what handlers
return, and by a handler that streams its answer before it sends the headers (chatsvc.views)."""

from __future__ import annotations

from aiohttp import web

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}
PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'; "
    # Trusted Types: assigning a string to innerHTML and similar sinks throws, so no code path can turn
    # model or user text into markup (the client builds DOM nodes only).
    "require-trusted-types-for 'script'; trusted-types 'none'"
)

API_CSP = "default-src 'none'; frame-ancestors 'none'"


def add_security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """Set the headers an answer must carry (ones the handler set stay), before the response is prepared."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    response.headers["Server"] = "chatsvc"  # not aiohttp's exact versions: no free hint for an attacker
    if request.secure:  # served over HTTPS (directly or via a trusted proxy): browsers stay on it
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    is_page = response.content_type == "text/html" or (
        isinstance(response, web.FileResponse) and request.path.endswith((".html", "/", "/api/docs"))
    )
    response.headers.setdefault("Content-Security-Policy", PAGE_CSP if is_page else API_CSP)
    if request.path.startswith("/api/"):
        response.headers.setdefault("Cache-Control", "no-store")
