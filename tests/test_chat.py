"""Chat sessions and messages over HTTP: visibility, listing, paging, edits, deletes, events (agent replies later)."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

from chatsvc import keys
from storage import chats, rbac
from tests.helpers import User, add_member, assert_error, create_project, register_and_login
from tests.recorder import publications


async def add_messages(client: Any, chat_id: str, author: str | None, n: int, start: int = 1) -> list[str]:
    """Write n alternating user/assistant messages through the repository (POST messages is 501 for now)."""
    ids = []
    async with client.app[keys.DB].write() as s:
        for i in range(start, start + n):
            role = "user" if i % 2 else "assistant"
            msg = await chats.add_message(s, chat_id, role, f"m{i}", author if role == "user" else None)
            ids.append(msg.id)
    return ids


def when(stamp: str) -> dt.datetime:
    """Parse an API timestamp (ISO 8601 with Z)."""
    return dt.datetime.fromisoformat(stamp)


def events(client: Any, name: str) -> list[tuple[tuple[str, ...], dict[str, Any]]]:
    """Published (topics, data) of one event name, oldest first."""
    return [(topics, data) for topics, n, data in publications(client) if n == name]


async def project_with(client: Any) -> tuple[dict[str, Any], dict[str, User]]:
    """A project with an owner, an editor, a viewer, and a non-member."""
    people = {r: await register_and_login(client) for r in ("owner", "editor", "viewer", "stranger")}
    project = await create_project(people["owner"])
    await add_member(people["owner"], project["id"], people["editor"], "editor")
    await add_member(people["owner"], project["id"], people["viewer"], "viewer")
    return project, people


async def test_personal_session_is_private(client):
    alice, bob = await register_and_login(client), await register_and_login(client)
    r = await alice.post("/chat/sessions", {})
    assert r.status == 201, r.body
    chat = r.body
    assert set(chat) == {"id", "title", "project_id", "owner_id", "last_activity_at", "created_at", "updated_at",
                         "version"}
    assert chat["title"] == "New chat" and chat["project_id"] is None and chat["owner_id"] == alice.id
    assert chat["version"] == 1 and chat["created_at"].endswith("Z")
    assert (await alice.get(f"/chat/sessions/{chat['id']}")).body == chat
    for resp in (await bob.get(f"/chat/sessions/{chat['id']}"),
                 await bob.patch(f"/chat/sessions/{chat['id']}", {"title": "mine now"}),
                 await bob.delete(f"/chat/sessions/{chat['id']}"),
                 await bob.get(f"/chat/sessions/{chat['id']}/messages")):
        assert_error(resp, 404, "not_found")
    assert (await bob.get("/chat/sessions")).body["total"] == 0
    renamed = await alice.patch(f"/chat/sessions/{chat['id']}", {"title": "  Plans  "})
    assert renamed.status == 200 and renamed.body["title"] == "Plans" and renamed.body["version"] == 2
    created = events(client, "chat_session.created")[-1]
    assert created[0] == (f"chat:{chat['id']}", f"user:{alice.id}")
    assert created[1]["actor"] == alice.id and created[1]["resource"] == chat
    assert events(client, "chat_session.updated")[-1][1]["version"] == 2


async def test_create_session_validation_and_permission(client):
    alice = await register_and_login(client)
    assert_error(await alice.post("/chat/sessions", {"title": ""}), 422, "validation_error")
    assert_error(await alice.post("/chat/sessions", {"title": "x" * 201}), 422, "validation_error")
    assert_error(await alice.post("/chat/sessions", {"title": "a\u0000b"}), 422, "validation_error")
    bad = await alice.post("/chat/sessions", {"owner_id": "someone"})
    assert_error(bad, 422, "validation_error")
    assert bad.body["error"]["details"][0]["loc"] == ["body", "owner_id"]
    assert_error(await alice.post("/chat/sessions", {"project_id": "no such"}), 422, "validation_error")
    assert_error(await alice.post("/chat/sessions", {"project_id": "nosuchproject"}), 404, "not_found")
    assert_error(await alice.post("/chat/sessions", [1, 2]), 422, "validation_error")
    async with client.app[keys.DB].write() as s:
        member = await rbac.by_name(s, "member")
        assert member is not None
        await rbac.unassign(s, alice.id, member.id)
    assert_error(await alice.post("/chat/sessions", {"title": "t"}), 403, "forbidden")


async def test_junk_ids_are_not_found(client):
    alice = await register_and_login(client)
    for path in ("/chat/sessions/%00", "/chat/sessions/a%20b/messages", "/chat/sessions/nope"):
        assert_error(await alice.get(path), 404, "not_found")
    assert_error(await alice.post("/chat/sessions/nope/cancel"), 404, "not_found")
    for path in ("/chat/messages/%00", "/chat/messages/" + "x" * 65):
        assert_error(await alice.patch(path, {"content": "x"}), 404, "not_found")
        assert_error(await alice.delete(path), 404, "not_found")
    assert_error(await alice.get("/chat/sessions?project_id=%00"), 422, "validation_error")


async def test_project_visibility_and_roles(client):
    project, p = await project_with(client)
    pid = project["id"]
    assert_error(await p["viewer"].post("/chat/sessions", {"project_id": pid}), 403, "forbidden")
    assert_error(await p["stranger"].post("/chat/sessions", {"project_id": pid}), 404, "not_found")
    r = await p["editor"].post("/chat/sessions", {"project_id": pid, "title": "Team"})
    assert r.status == 201 and r.body["project_id"] == pid and r.body["owner_id"] == p["editor"].id
    cid = r.body["id"]
    assert events(client, "chat_session.created")[-1][0] == (f"chat:{cid}", f"project:{pid}")
    assert (await p["viewer"].get(f"/chat/sessions/{cid}")).status == 200
    assert (await p["viewer"].get(f"/chat/sessions/{cid}/messages")).status == 200
    assert_error(await p["viewer"].patch(f"/chat/sessions/{cid}", {"title": "x"}), 403, "forbidden")
    assert_error(await p["viewer"].post(f"/chat/sessions/{cid}/messages", {"content": "hi"}), 403, "forbidden")
    assert_error(await p["viewer"].post(f"/chat/sessions/{cid}/cancel"), 403, "forbidden")
    assert_error(await p["viewer"].delete(f"/chat/sessions/{cid}"), 403, "forbidden")
    assert_error(await p["stranger"].get(f"/chat/sessions/{cid}"), 404, "not_found")
    assert_error(await p["stranger"].get(f"/chat/sessions?project_id={pid}"), 404, "not_found")
    assert (await p["owner"].patch(f"/chat/sessions/{cid}", {"title": "Renamed"})).body["title"] == "Renamed"
    # Deleting: another editor may not, the project owner may.
    other = await register_and_login(client)
    await add_member(p["owner"], pid, other, "editor")
    assert_error(await other.delete(f"/chat/sessions/{cid}"), 403, "forbidden")
    assert (await p["owner"].delete(f"/chat/sessions/{cid}")).status == 204
    assert_error(await p["editor"].get(f"/chat/sessions/{cid}"), 404, "not_found")
    topics, data = events(client, "chat_session.deleted")[-1]
    assert topics == (f"chat:{cid}", f"project:{pid}") and data["id"] == cid and "resource" not in data


async def test_listing_order_filter_and_paging(client):
    project, p = await project_with(client)
    owner, pid = p["owner"], project["id"]
    mine = (await owner.post("/chat/sessions", {"title": "mine"})).body
    team = (await p["editor"].post("/chat/sessions", {"project_id": pid, "title": "team"})).body
    others = (await p["editor"].post("/chat/sessions", {"title": "editor's own"})).body
    listed = await owner.get("/chat/sessions")
    assert [c["id"] for c in listed.body["items"]] == [team["id"], mine["id"]]
    assert listed.body["total"] == 2 and listed.body["limit"] == 50 and listed.body["offset"] == 0
    await add_messages(client, mine["id"], owner.id, 1)  # activity moves it to the top
    assert [c["id"] for c in (await owner.get("/chat/sessions")).body["items"]] == [mine["id"], team["id"]]
    page = await owner.get("/chat/sessions?limit=1&offset=1")
    assert [c["id"] for c in page.body["items"]] == [team["id"]] and page.body["total"] == 2
    only = await owner.get(f"/chat/sessions?project_id={pid}")
    assert [c["id"] for c in only.body["items"]] == [team["id"]] and only.body["total"] == 1
    assert {c["id"] for c in (await p["editor"].get("/chat/sessions")).body["items"]} == {team["id"], others["id"]}
    assert [c["id"] for c in (await p["stranger"].get("/chat/sessions")).body["items"]] == []
    # An empty filter is no id: a 422, as the schema says (it used to mean "no filter"; leave it out for that).
    assert_error(await p["stranger"].get("/chat/sessions?project_id="), 422, "validation_error")
    assert_error(await owner.get("/chat/sessions?limit=201"), 422, "validation_error")


async def test_message_paging(client):
    alice = await register_and_login(client)
    chat = (await alice.post("/chat/sessions", {})).body
    ids = await add_messages(client, chat["id"], alice.id, 7)
    base = f"/chat/sessions/{chat['id']}/messages"
    r = await alice.get(base + "?limit=3")
    assert r.status == 200 and set(r.body) == {"items", "has_more"}
    assert [m["id"] for m in r.body["items"]] == ids[4:] and r.body["has_more"] is True
    first = r.body["items"][0]
    assert set(first) == {"id", "session_id", "role", "content", "status", "author_id", "run_id", "client_msg_id",
                          "tool_calls", "error", "edited_at", "cancelled_by", "created_at", "updated_at", "version"}
    assert first["content"] == "m5" and first["role"] == "user" and first["status"] == "complete"
    r = await alice.get(base + f"?limit=3&before={ids[4]}")
    assert [m["id"] for m in r.body["items"]] == ids[1:4] and r.body["has_more"] is True
    r = await alice.get(base + f"?limit=3&before={ids[1]}")
    assert [m["id"] for m in r.body["items"]] == ids[:1] and r.body["has_more"] is False
    assert_error(await alice.get(base + "?before="), 422, "validation_error")  # empty: leave it out instead
    assert (await alice.get(base + f"?before={ids[0]}")).body == {"items": [], "has_more": False}
    other = (await alice.post("/chat/sessions", {})).body
    [foreign] = await add_messages(client, other["id"], alice.id, 1)
    for query in (f"?before={foreign}", "?before=nosuchmessage"):
        bad = await alice.get(base + query)
        assert_error(bad, 422, "validation_error")
        assert bad.body["error"]["details"][0]["loc"] == ["query", "before"]
    for query in ("?limit=201", "?limit=0", "?limit=abc"):
        assert_error(await alice.get(base + query), 422, "validation_error")
    assert len((await alice.get(base + "?limit=200")).body["items"]) == 7


async def test_post_message_validates_then_starts_a_reply(client):
    alice, bob = await register_and_login(client), await register_and_login(client)
    chat = (await alice.post("/chat/sessions", {})).body
    url = f"/chat/sessions/{chat['id']}/messages"
    for body, loc in (({"content": ""}, "content"), ({"content": "   \n"}, "content"),
                      ({"content": "x" * 32001}, "content"), ({}, "content"),
                      ({"content": "hi", "if_busy": "wait"}, "if_busy"),
                      ({"content": "hi", "client_msg_id": ""}, "client_msg_id"),
                      ({"content": "a\u0000"}, "content"), ({"content": "hi", "role": "assistant"}, "role")):
        r = await alice.post(url, body)
        assert_error(r, 422, "validation_error")
        assert r.body["error"]["details"][0]["loc"] == ["body", loc], (body, r.body)
    assert_error(await bob.post(url, {"content": "hi"}), 404, "not_found")
    assert (await alice.get(url)).body["items"] == []  # nothing was stored by the refused requests
    r = await alice.post(url, {"content": "x" * 32000, "client_msg_id": "c-1", "if_busy": "enqueue"})
    assert r.status == 202 and r.body["run_id"]
    assert r.body["user_message"]["content"] == "x" * 32000 and r.body["assistant_message"]["role"] == "assistant"
    stored = (await alice.get(url)).body["items"]
    assert [m["id"] for m in stored] == [r.body["user_message"]["id"], r.body["assistant_message"]["id"]]


async def test_cancel_without_active_run(client):
    alice = await register_and_login(client)
    chat = (await alice.post("/chat/sessions", {})).body
    r = await alice.post(f"/chat/sessions/{chat['id']}/cancel")
    assert r.status == 202 and r.body == {"cancelled": False, "run_id": None}


async def test_edit_message_and_regenerate(client):
    project, p = await project_with(client)
    editor = p["editor"]
    chat = (await editor.post("/chat/sessions", {"project_id": project["id"]})).body
    ids = await add_messages(client, chat["id"], editor.id, 5)  # user, assistant, user, assistant, user
    before = (await editor.get(f"/chat/sessions/{chat['id']}")).body
    r = await editor.patch(f"/chat/messages/{ids[2]}", {"content": "  edited\n"})
    assert r.status == 200 and r.body["content"] == "  edited\n" and r.body["version"] == 2
    assert r.body["edited_at"] and r.body["edited_at"].endswith("Z")
    after = (await editor.get(f"/chat/sessions/{chat['id']}")).body
    assert when(after["last_activity_at"]) > when(before["last_activity_at"])
    assert_error(await p["owner"].patch(f"/chat/messages/{ids[2]}", {"content": "mine"}), 403, "forbidden")
    assert_error(await editor.patch(f"/chat/messages/{ids[1]}", {"content": "bot"}), 403, "forbidden")
    assert_error(await p["viewer"].patch(f"/chat/messages/{ids[2]}", {"content": "v"}), 403, "forbidden")
    assert_error(await p["stranger"].patch(f"/chat/messages/{ids[2]}", {"content": "s"}), 404, "not_found")
    assert_error(await editor.patch(f"/chat/messages/{ids[2]}", {"content": ""}), 422, "validation_error")
    assert_error(await editor.patch("/chat/messages/nosuchmessage", {"content": "x"}), 404, "not_found")
    r = await editor.patch(f"/chat/messages/{ids[2]}", {"content": "again", "regenerate": True})
    assert r.status == 200 and r.body["version"] == 3
    left = (await editor.get(f"/chat/sessions/{chat['id']}/messages")).body["items"]
    assert [m["id"] for m in left[:3]] == ids[:3] and left[2]["content"] == "again"
    [reply] = left[3:]  # the regenerated answer, from a new run
    assert reply["role"] == "assistant" and reply["run_id"] and reply["id"] not in ids
    deleted = [d["id"] for t, d in events(client, "message.deleted") if t == (f"chat:{chat['id']}",)]
    assert deleted == ids[3:]
    updates = [d for t, d in events(client, "message.updated") if t == (f"chat:{chat['id']}",)]
    assert updates[-2]["resource"]["content"] == "again" and updates[-2]["version"] == 3
    assert updates[-1]["resource"]["run_id"] == reply["run_id"]  # the prompt now belongs to its new reply
    # New messages keep counting after the removed ones: order stays by seq.
    [newer] = await add_messages(client, chat["id"], editor.id, 1, start=9)
    assert [m["id"] for m in (await editor.get(f"/chat/sessions/{chat['id']}/messages")).body["items"]] == [
        *ids[:3], reply["id"], newer]


async def test_delete_message_rules(client):
    project, p = await project_with(client)
    chat = (await p["editor"].post("/chat/sessions", {"project_id": project["id"]})).body
    ids = await add_messages(client, chat["id"], p["editor"].id, 4)
    other = await register_and_login(client)
    await add_member(p["owner"], project["id"], other, "editor")
    assert_error(await other.delete(f"/chat/messages/{ids[0]}"), 403, "forbidden")
    assert_error(await p["editor"].delete(f"/chat/messages/{ids[1]}"), 403, "forbidden")  # the agent's
    assert_error(await p["viewer"].delete(f"/chat/messages/{ids[0]}"), 403, "forbidden")
    assert_error(await p["stranger"].delete(f"/chat/messages/{ids[0]}"), 404, "not_found")
    assert (await p["editor"].delete(f"/chat/messages/{ids[0]}")).status == 204
    assert (await p["owner"].delete(f"/chat/messages/{ids[1]}")).status == 204
    assert (await p["owner"].delete(f"/chat/messages/{ids[2]}")).status == 204
    assert_error(await p["owner"].delete(f"/chat/messages/{ids[2]}"), 404, "not_found")
    left = (await p["viewer"].get(f"/chat/sessions/{chat['id']}/messages")).body["items"]
    assert [m["id"] for m in left] == ids[3:]
    assert [d["id"] for _t, d in events(client, "message.deleted")] == ids[:3]
    # In a personal session the owner deletes any message, the agent's too.
    alice = await register_and_login(client)
    mine = (await alice.post("/chat/sessions", {})).body
    user_id, bot_id = await add_messages(client, mine["id"], alice.id, 2)
    assert (await alice.delete(f"/chat/messages/{bot_id}")).status == 204
    assert_error(await p["owner"].delete(f"/chat/messages/{user_id}"), 404, "not_found")


async def test_delete_session_cascades(client):
    from sqlalchemy import func, select

    from storage.models import ChatMessage

    alice = await register_and_login(client)
    chat = (await alice.post("/chat/sessions", {})).body
    ids = await add_messages(client, chat["id"], alice.id, 3)
    assert (await alice.delete(f"/chat/sessions/{chat['id']}")).status == 204
    assert_error(await alice.get(f"/chat/sessions/{chat['id']}/messages"), 404, "not_found")
    assert_error(await alice.delete(f"/chat/messages/{ids[0]}"), 404, "not_found")
    async with client.app[keys.DB].read() as s:
        count = await s.scalar(
            select(func.count()).select_from(ChatMessage).where(ChatMessage.session_id == chat["id"]))
    assert count == 0
    topics, data = events(client, "chat_session.deleted")[-1]
    assert topics == (f"chat:{chat['id']}", f"user:{alice.id}") and data["actor"] == alice.id


async def test_repository_on_both_databases(any_db_client):
    """Sequence numbers stay unique under concurrent writers; paging, edit and regenerate agree on both DBs."""
    client = any_db_client
    alice = await register_and_login(client)
    chat = (await alice.post("/chat/sessions", {"title": "both"})).body
    db = client.app[keys.DB]

    async def write_one(i: int) -> None:
        async with db.write() as s:
            await chats.add_message(s, chat["id"], "user", f"c{i}", alice.id, client_msg_id=f"k{i}")

    await asyncio.gather(*(write_one(i) for i in range(8)))
    async with db.read() as s:
        rows = await chats.history(s, chat["id"])
        assert [m.seq for m in rows] == list(range(1, 9))
        found = await chats.find_by_client_msg_id(s, chat["id"], "k3")
        assert found is not None and found.content == "c3"
        assert await chats.find_by_client_msg_id(s, chat["id"], "nope") is None
    page = (await alice.get(f"/chat/sessions/{chat['id']}/messages?limit=5")).body
    assert [m["id"] for m in page["items"]] == [m.id for m in rows[3:]] and page["has_more"]
    r = await alice.patch(f"/chat/messages/{rows[1].id}", {"content": "edited", "regenerate": True})
    assert r.status == 200 and r.body["version"] == 2
    left = (await alice.get(f"/chat/sessions/{chat['id']}/messages")).body
    assert [m["id"] for m in left["items"][:2]] == [rows[0].id, rows[1].id] and not left["has_more"]
    assert [m["role"] for m in left["items"][2:]] == ["assistant"]  # the regenerated reply
    listed = (await alice.get("/chat/sessions")).body
    assert [c["id"] for c in listed["items"]] == [chat["id"]]
    assert (await alice.delete(f"/chat/sessions/{chat['id']}")).status == 204
    async with db.write() as s:
        try:
            await chats.add_message(s, chat["id"], "user", "late", alice.id)
        except LookupError:
            pass
        else:
            raise AssertionError("add_message into a deleted session must fail")
