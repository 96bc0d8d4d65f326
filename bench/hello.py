"""The bare aiohttp app the REST benchmark compares against: `python -m bench.hello PORT`.

`GET /` answers "Hello, world"; `POST /echo` parses a JSON body and answers it back with 201, the
least a JSON create endpoint can do. No middlewares, no database, no auth.
"""

from __future__ import annotations

import sys

from aiohttp import web


async def hello(_request: web.Request) -> web.Response:
    return web.Response(text="Hello, world")


async def echo(request: web.Request) -> web.Response:
    return web.json_response(await request.json(), status=201)


def main() -> None:
    app = web.Application()
    app.router.add_get("/", hello)
    app.router.add_post("/echo", echo)
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)


if __name__ == "__main__":
    main()
