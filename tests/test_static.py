"""The browser client's files: served from the package with the page CSP, nothing else from that folder."""

from __future__ import annotations

from tests.helpers import call


async def test_index_and_modules_are_served_with_revalidation(client):
    page = await call(client, "GET", "/")
    assert page.status == 200 and page.headers["Content-Type"].startswith("text/html")
    csp = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "require-trusted-types-for 'script'" in csp
    module = await call(client, "GET", "/static/js/main.js")
    assert module.status == 200 and "javascript" in module.headers["Content-Type"]
    assert module.headers["Cache-Control"] == "no-cache"
    assert (await call(client, "GET", "/static/app.css")).status == 200


async def test_only_client_assets_inside_the_folder_are_served(client):
    for path in ("/static/__init__.py", "/static/../setup.cfg", "/static/%2e%2e/setup.cfg", "/static/js/",
                 "/static/nope.js", "/static/js/../../run.py"):
        assert (await call(client, "GET", path)).status == 404, path


async def test_metrics_name_the_process_so_several_can_be_summed(client):
    import os

    r = await client.get("/metrics")
    text = await r.text()
    series = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert series and all(f':{os.getpid()}"' in line.split("}")[0] for line in series), series
    assert any(line.startswith("chatsvc_websockets{process=") for line in series)
