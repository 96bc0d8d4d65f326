"""A minimal chatsvc live-channel client using the `websockets` library (not aiohttp).

It logs in with a bearer token, subscribes to a project and prints every event that arrives.

    pip install websockets
    python docs/ws_client_example.py --url http://127.0.0.1:8080 --username ada \
        --password 'correct horse battery' --project <project id> [--count 1]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import urllib.parse
import urllib.request

import websockets


def login(base: str, username: str, password: str) -> str:
    """Get a bearer token with the OAuth2 password grant."""
    form = urllib.parse.urlencode({"username": username, "password": password}).encode()
    with urllib.request.urlopen(f"{base}/api/v1/users/login", data=form, timeout=10) as resp:
        return json.load(resp)["access_token"]


async def watch(base: str, token: str, project_id: str, count: int | None) -> None:
    """Subscribe to a project and print events (stop after `count` of them, if given)."""
    ws_url = base.replace("http", "ws", 1) + "/api/v1/ws"
    async with websockets.connect(ws_url, additional_headers={"Authorization": f"Bearer {token}"}) as ws:
        welcome = json.loads(await ws.recv())
        print("connected as", welcome["user_id"], flush=True)
        await ws.send(json.dumps({"id": 1, "op": "subscribe", "topic": f"project:{project_id}"}))
        seen = 0
        async for raw in ws:
            frame = json.loads(raw)
            if frame["type"] == "result" and frame["id"] == 1:
                if not frame["ok"]:
                    raise SystemExit(f"subscribe failed: {frame['error']['message']}")
                print("subscribed at seq", frame["data"]["seq"], flush=True)
            elif frame["type"] == "event":
                shown = json.dumps(frame["data"].get("resource", frame["data"]))
                print(f"event {frame['seq']}: {frame['name']} {shown}", flush=True)
                seen += 1
                if count is not None and seen >= count:
                    return
            elif frame["type"] in ("unsubscribed", "goodbye"):
                print(frame, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8080")
    parser.add_argument("--username", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--project", required=True)
    parser.add_argument("--count", type=int, default=None, help="stop after this many events")
    args = parser.parse_args()
    token = login(args.url, args.username, args.password)
    asyncio.run(watch(args.url, token, args.project, args.count))


if __name__ == "__main__":
    main()
