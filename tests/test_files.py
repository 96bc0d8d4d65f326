"""Project files: streamed upload, sanitised names, safe downloads, the size limit, dedup, delete, events."""

from __future__ import annotations

import hashlib
import io
from urllib.parse import quote

from aiohttp import FormData

from chatsvc import keys
from tests.conftest import build_app, make_settings
from tests.helpers import add_member, assert_error, call, create_project, register_and_login
from tests.recorder import publications


def form(content: bytes, filename: str = "notes.txt", content_type: str = "text/plain", field: str = "file"):
    data = FormData()  # BytesIO: aiohttp refuses to send large raw bytes in one go
    data.add_field(field, io.BytesIO(content), filename=filename, content_type=content_type)
    return data


def raw_multipart(disposition: str, content: bytes, content_type: str = "text/plain") -> tuple[bytes, dict]:
    """A hand-made multipart body, for headers aiohttp's FormData would encode differently."""
    b = "B0undary7d1"
    body = (f"--{b}\r\nContent-Disposition: {disposition}\r\nContent-Type: {content_type}\r\n\r\n").encode()
    body += content + f"\r\n--{b}--\r\n".encode()
    return body, {"Content-Type": f"multipart/form-data; boundary={b}"}


async def upload(user, project_id: str, content: bytes = b"hello", **kw):
    return await user.call("POST", f"/projects/{project_id}/files", data=form(content, **kw))


def blob_files(client) -> list:
    root = client.app[keys.BLOBS].root
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def published(client, name: str) -> list[tuple[tuple[str, ...], dict]]:
    return [(topics, data) for topics, n, data in publications(client) if n == name]


async def setup(client):
    owner = await register_and_login(client)
    editor = await register_and_login(client)
    viewer = await register_and_login(client)
    stranger = await register_and_login(client)
    p = await create_project(owner)
    await add_member(owner, p["id"], editor, "editor")
    await add_member(owner, p["id"], viewer, "viewer")
    return owner, editor, viewer, stranger, p["id"]


async def test_upload_list_read_download(client):
    owner, editor, viewer, _s, pid = await setup(client)
    content = b"REQ-1: The system shall log in users.\n" * 1000
    r = await upload(editor, pid, content, filename="reqs.md", content_type="text/markdown")
    assert r.status == 201, r.body
    f = r.body
    assert set(f) == {"id", "project_id", "filename", "content_type", "size", "sha256", "uploaded_by",
                      "created_at", "version"}
    assert f["project_id"] == pid and f["filename"] == "reqs.md" and f["content_type"] == "text/markdown"
    assert f["size"] == len(content) and f["sha256"] == hashlib.sha256(content).hexdigest()
    assert f["uploaded_by"] == editor.id and f["created_at"].endswith("Z") and f["version"] == 1
    assert (await viewer.get(f"/files/{f['id']}")).body == f
    second = await upload(owner, pid, b"", filename="empty.txt")
    assert second.status == 201 and second.body["size"] == 0
    listing = await viewer.get(f"/projects/{pid}/files")
    assert listing.status == 200 and listing.body["total"] == 2
    assert [x["id"] for x in listing.body["items"]] == [second.body["id"], f["id"]]  # newest first
    page = await viewer.get(f"/projects/{pid}/files?limit=1&offset=1")
    assert [x["id"] for x in page.body["items"]] == [f["id"]]
    got = await viewer.get(f"/files/{f['id']}/content")
    assert got.status == 200 and got.body == content
    assert got.headers["Content-Type"] == "text/markdown"
    assert got.headers["Content-Disposition"] == "attachment; filename=\"reqs.md\"; filename*=UTF-8''reqs.md"
    assert got.headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in got.headers["Content-Security-Policy"]
    assert list(client.app[keys.BLOBS].tmp_dir.iterdir()) == []  # no temp file left behind


async def test_large_upload_streams_intact(client):
    owner, *_rest, pid = await setup(client)
    content = bytes(range(256)) * (5 * 4096 + 7)  # ~5 MiB, not a multiple of the chunk size
    r = await upload(owner, pid, content, filename="big.bin", content_type="application/x-whatever")
    assert r.status == 201, r.body
    assert r.body["size"] == len(content) and r.body["sha256"] == hashlib.sha256(content).hexdigest()
    assert r.body["content_type"] == "application/octet-stream"
    got = await owner.get(f"/files/{r.body['id']}/content")
    assert got.body == content and got.headers["Content-Type"] == "application/octet-stream"


async def test_html_and_svg_are_never_served_as_themselves(client):
    owner, *_rest, pid = await setup(client)
    page = b"<html><script>alert(document.cookie)</script></html>"
    for name, ctype in (("evil.html", "text/html"), ("evil.svg", "image/svg+xml"), ("evil.txt", "text/html"),
                        ("x.js", "application/javascript"), ("x.xml", "text/xml; charset=utf-8")):
        r = await upload(owner, pid, page, filename=name, content_type=ctype)
        assert r.status == 201
        expected = "text/plain" if name.endswith(".txt") else "application/octet-stream"
        assert r.body["content_type"] == expected, name
        got = await owner.get(f"/files/{r.body['id']}/content")
        assert got.headers["Content-Type"] == expected
        assert got.headers["Content-Disposition"].startswith("attachment;")
        assert got.headers["X-Content-Type-Options"] == "nosniff"
        assert "sandbox" in got.headers["Content-Security-Policy"]
        assert got.body == page


async def test_path_like_and_hostile_filenames_are_sanitised(client):
    owner, *_rest, pid = await setup(client)
    cases = {
        "../../etc/passwd": "passwd",
        "C:\\x\\y.txt": "y.txt",
        "..\\..\\windows\\win.ini": "win.ini",
        "/etc/shadow": "shadow",
        "..": "file",
        "dir/": "file",
        "invoice\u202efdp.exe": "invoicefdp.exe",
        "Отчёт 📄 v2.md": "Отчёт 📄 v2.md",
        "e\u0301t\u00e9.txt": "\u00e9t\u00e9.txt",  # NFC
    }
    for raw, want in cases.items():
        r = await upload(owner, pid, b"x", filename=raw)
        assert r.status == 201, (raw, r.body)
        assert r.body["filename"] == want, raw
    long = await upload(owner, pid, b"x", filename="é" * 300 + ".txt")
    name = long.body["filename"]
    assert len(name.encode()) <= 255 and name.endswith(".txt") and set(name[:-4]) == {"é"}
    # What browsers send: a plain quoted filename, and RFC 5987 filename*.
    for disposition, want in (('form-data; name="file"; filename="..%2F..%2Fetc%2Fpasswd"', "passwd"),
                              ('form-data; name="file"; filename="a%00b%07c%0D%0A.txt"', "abc.txt"),
                              ('form-data; name="file"; filename="x%2F%00"', "file"),
                              ("form-data; name=\"file\"; filename*=UTF-8''..%2Fr%C3%A9sum%C3%A9.txt", "résumé.txt"),
                              ('form-data; name="file"', "file")):
        body, headers = raw_multipart(disposition, b"x")
        r = await owner.call("POST", f"/projects/{pid}/files", data=body, headers=headers)
        assert r.status == 201 and r.body["filename"] == want, (disposition, r.body)
    for path in blob_files(client):  # blobs are named by hash only
        assert len(path.name) == 64 and path.parent.name == path.name[:2]


async def test_unicode_filename_download_header(client):
    owner, *_rest, pid = await setup(client)
    name = 'Отчёт "final"; 100%.md'
    r = await upload(owner, pid, b"# hi", filename=name, content_type="text/markdown")
    assert r.body["filename"] == name
    got = await owner.get(f"/files/{r.body['id']}/content")
    disposition = got.headers["Content-Disposition"]
    assert disposition == f"attachment; filename=\"_____ _final__ 100_.md\"; filename*=UTF-8''{quote(name, safe='')}"


async def test_upload_errors(client):
    owner, editor, viewer, stranger, pid = await setup(client)
    url = f"/projects/{pid}/files"
    assert_error(await owner.post(url, {"file": "x"}), 415, "unsupported_media_type")
    assert_error(await owner.call("POST", url, data=b"x", headers={"Content-Type": "text/plain"}), 415)
    assert_error(await owner.call("POST", url), 415, "unsupported_media_type")
    missing = await owner.call("POST", url, data=form(b"x", field="other"))
    assert_error(missing, 422, "validation_error")
    assert missing.body["error"]["details"][0]["loc"] == ["body", "file"]
    no_boundary = await owner.call("POST", url, data=b"x", headers={"Content-Type": "multipart/form-data"})
    assert_error(no_boundary, 400, "bad_request")
    junk = await owner.call("POST", url, data=b"garbage",
                            headers={"Content-Type": "multipart/form-data; boundary=zzz"})
    assert junk.status in (400, 422) and junk.error_code in ("bad_request", "validation_error")
    assert_error(await upload(viewer, pid), 403, "forbidden")
    assert_error(await upload(stranger, pid), 404, "not_found")
    assert_error(await call(client, "POST", f"/api/v1{url}", data=form(b"x")), 401, "unauthorized")
    assert_error(await upload(owner, "no-such-project"), 404, "not_found")
    assert_error(await upload(owner, "x" * 65), 404, "not_found")
    assert (await owner.get(url)).body["total"] == 0
    assert blob_files(client) == []


async def test_oversized_upload_is_413_and_leaves_nothing(aiohttp_client, tmp_path):
    client = await aiohttp_client(await build_app(make_settings(tmp_path, max_upload_bytes=1000)))
    owner = await register_and_login(client)
    pid = (await create_project(owner))["id"]
    exact = await upload(owner, pid, b"a" * 1000)
    assert exact.status == 201
    too_big = await upload(owner, pid, b"b" * 300_000)  # past the limit while streaming
    assert_error(too_big, 413, "payload_too_large")
    slightly = await upload(owner, pid, b"c" * 1001)
    assert_error(slightly, 413, "payload_too_large")
    declared = await owner.call("POST", f"/projects/{pid}/files", data=b"d" * 200_000,
                                headers={"Content-Type": "multipart/form-data; boundary=x"})
    assert_error(declared, 413, "payload_too_large")  # refused from Content-Length alone
    listing = await owner.get(f"/projects/{pid}/files")
    assert listing.body["total"] == 1
    assert [p.name for p in blob_files(client)] == [exact.body["sha256"]]


async def test_identical_content_shares_one_blob_until_the_last_delete(client):
    owner, editor, viewer, stranger, pid = await setup(client)
    a = (await upload(owner, pid, b"same bytes", filename="a.txt")).body
    b = (await upload(editor, pid, b"same bytes", filename="b.txt")).body
    assert a["sha256"] == b["sha256"] and a["id"] != b["id"]
    path = client.app[keys.BLOBS].path_for(a["sha256"])
    assert len(blob_files(client)) == 1
    assert_error(await viewer.delete(f"/files/{a['id']}"), 403, "forbidden")
    assert_error(await stranger.delete(f"/files/{a['id']}"), 404, "not_found")
    assert (await editor.delete(f"/files/{a['id']}")).status == 204
    assert path.is_file()
    assert_error(await owner.get(f"/files/{a['id']}"), 404, "not_found")
    assert_error(await owner.delete(f"/files/{a['id']}"), 404, "not_found")
    assert (await owner.get(f"/files/{b['id']}/content")).body == b"same bytes"
    assert (await owner.delete(f"/files/{b['id']}")).status == 204
    assert not path.exists() and blob_files(client) == []


async def test_reads_need_membership(client):
    owner, _editor, viewer, stranger, pid = await setup(client)
    f = (await upload(owner, pid)).body
    for path in (f"/files/{f['id']}", f"/files/{f['id']}/content", f"/projects/{pid}/files"):
        assert (await viewer.get(path)).status == 200
        hidden = await stranger.get(path)
        assert_error(hidden, 404, "not_found")
        assert_error(await call(client, "GET", path), 401, "unauthorized")
    unknown = await stranger.get("/files/00000000-0000-7000-8000-000000000000")
    assert unknown.body == (await stranger.get(f"/files/{f['id']}")).body  # existence is not revealed
    for junk in ("x" * 65, "%00", "..%2F..%2Fetc", "a b", "%F0%9F%98%80"):
        assert_error(await owner.get(f"/files/{junk}"), 404, "not_found")
        assert_error(await owner.get(f"/files/{junk}/content"), 404, "not_found")
        assert_error(await owner.delete(f"/files/{junk}"), 404, "not_found")
    for q in ("limit=0", "limit=500", "offset=-2"):
        assert_error(await owner.get(f"/projects/{pid}/files?{q}"), 422, "validation_error")


async def test_file_events(client):
    owner, editor, *_rest, pid = await setup(client)
    f = (await upload(editor, pid, filename="e.txt")).body
    [(topics, data)] = published(client, "file.created")
    assert topics == (f"project:{pid}",)
    assert data["id"] == f["id"] and data["version"] == 1 and data["actor"] == editor.id
    assert data["resource"] == f
    await upload(editor, pid, content_type="text/plain", field="nope")  # 422: no event
    assert len(published(client, "file.created")) == 1
    assert (await owner.delete(f"/files/{f['id']}")).status == 204
    [(topics, data)] = published(client, "file.deleted")
    assert topics == (f"project:{pid}",) and data == {"id": f["id"], "version": 1, "actor": owner.id}


async def test_crud_on_sqlite_and_postgres(any_db_client):
    """Projects, members and files through HTTP on both databases."""
    client = any_db_client
    owner = await register_and_login(client)
    member = await register_and_login(client)
    p = await create_project(owner, "Both DBs")
    pid = p["id"]
    assert (await owner.patch(f"/projects/{pid}", {"description": "d"})).body["version"] == 2
    await add_member(owner, pid, member, "viewer")
    assert (await owner.patch(f"/projects/{pid}/members/{member.id}", {"role": "editor"})).body["role"] == "editor"
    assert_error(await owner.patch(f"/projects/{pid}/members/{owner.id}", {"role": "viewer"}), 409)
    assert (await member.get("/projects")).body["items"][0]["my_role"] == "editor"
    f = (await upload(member, pid, "ünïcode ✓".encode(), filename="../ü.txt")).body
    assert f["filename"] == "ü.txt"
    assert (await owner.get(f"/files/{f['id']}/content")).body == "ünïcode ✓".encode()
    assert (await owner.get(f"/projects/{pid}/files")).body["total"] == 1
    assert_error(await owner.get("/projects/%00"), 404)
    assert_error(await owner.post("/projects", {"name": "a\x00"}), 422)
    assert (await member.delete(f"/projects/{pid}/members/{member.id}")).status == 204
    assert (await owner.delete(f"/files/{f['id']}")).status == 204
    assert (await owner.delete(f"/projects/{pid}")).status == 204
    assert (await owner.get("/projects")).body["total"] == 0


async def test_downloads_and_pages_are_read_on_a_thread_not_with_sendfile_on_the_loop(client, monkeypatch):
    # sendfile(2) on the loop thread waits for the disk when the file is not in the page cache; the server's
    # FileResponse reads files in the executor instead. With the loop's sendfile broken, everything still serves.
    import asyncio

    async def sendfile_on_the_loop(*_args, **_kwargs):
        raise AssertionError("a file was sent with sendfile on the event loop")

    monkeypatch.setattr(asyncio.get_running_loop(), "sendfile", sendfile_on_the_loop)
    _owner, editor, viewer, _s, pid = await setup(client)
    content = bytes(range(256)) * 4096  # 1 MiB: several chunks
    f = (await upload(editor, pid, content, filename="big.bin", content_type="application/octet-stream")).body
    got = await viewer.get(f"/files/{f['id']}/content")
    assert got.status == 200 and got.body == content
    page = await client.get("/")
    assert page.status == 200 and "<html" in (await page.text()).lower()
