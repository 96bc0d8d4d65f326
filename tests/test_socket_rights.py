"""Rights follow changes on sockets that are already open: a demoted superuser, an expired session, a role that
lost `chat.use` — each with a real websocket, through the same authz code REST uses."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, update

from chatsvc import keys
from storage.models import AuthSession, UserRole
from tests.chatutil import new_chat, run_events, send
from tests.helpers import add_member, assert_error, create_project, make_admin, register_and_login
from tests.wsutil import WsClient


async def test_a_demoted_superuser_loses_what_only_superusers_could_see_at_once(client, settings):
    admin = await make_admin(client, settings)
    boss = await make_admin(client, settings)
    owner = await register_and_login(client)
    project = await create_project(owner)
    personal = await new_chat(owner)
    ws = await WsClient.connect(client, boss)
    sub = await ws.op("subscribe", topic=f"project:{project['id']}")
    assert sub["ok"], sub
    assert (await admin.patch(f"/admin/users/{boss.id}", {"is_superuser": False})).status == 200
    ended = await ws.recv_until(lambda f: f["type"] == "unsubscribed")
    assert ended == {"type": "unsubscribed", "topic": f"project:{project['id']}", "reason": "forbidden"}
    again = await ws.op("subscribe", topic=f"project:{project['id']}")
    assert not again["ok"] and again["error"]["code"] == "not_found"
    sent = await ws.op("chat.send", session_id=personal["id"], content="hello", client_msg_id="m1")
    assert not sent["ok"] and sent["error"]["code"] == "not_found"  # the owner's personal chat is theirs alone
    await ws.close()


async def test_a_socket_does_not_outlive_its_session(client):
    user = await register_and_login(client)
    ws = await WsClient.connect(client, user)
    async with client.app[keys.DB].write() as s:  # the session's absolute limit passes while the socket is open
        await s.execute(update(AuthSession).where(AuthSession.user_id == user.id)
                        .values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)))
    await client.app[keys.SOCKETS].revalidate()  # what the registry does every 30 s
    goodbye = await ws.closed_with(4401)
    assert goodbye is not None and "expired" in goodbye["reason"]


async def test_sending_in_a_personal_chat_needs_chat_use_still(client):
    user = await register_and_login(client)
    chat = await new_chat(user)
    ws = await WsClient.connect(client, user)
    await ws.op("subscribe", topic=f"chat:{chat['id']}")
    first = await send(ws, chat["id"], "help")  # the chat is known to this process from now on
    assert first["ok"], first
    await run_events(ws, first["data"]["run_id"])
    async with client.app[keys.DB].write() as s:  # the member role (and its chat.use) is taken away
        await s.execute(delete(UserRole).where(UserRole.user_id == user.id))
    sent = await ws.op("chat.send", session_id=chat["id"], content="hello", client_msg_id="m1")
    assert not sent["ok"] and sent["error"]["code"] == "forbidden"
    assert_error(await user.post(f"/chat/sessions/{chat['id']}/messages", {"content": "hi"}), 403, "forbidden")
    await ws.close()


async def test_a_member_added_later_is_not_replayed_what_happened_before(client):
    owner = await register_and_login(client)
    late = await register_and_login(client)
    project = await create_project(owner)
    pid = project["id"]
    ws_owner = await WsClient.connect(client, owner)
    first = await ws_owner.op("subscribe", topic=f"project:{pid}")
    epoch = first["data"]["epoch"]
    secret = await owner.post(f"/projects/{pid}/artifacts", {"type": "note", "name": "Before you came",
                                                             "content": {"text": "salaries"}})
    assert secret.status == 201
    assert (await owner.delete(f"/artifacts/{secret.body['id']}")).status == 204
    assert (await owner.post(f"/projects/{pid}/members", {"user_id": late.id, "role": "viewer"})).status == 201
    ws = await WsClient.connect(client, late)
    resumed = await ws.op("subscribe", topic=f"project:{pid}", since={"epoch": epoch, "seq": 0})
    assert resumed["ok"] and resumed["data"]["recovered"] is False and resumed["data"]["replayed"] == 0
    await ws.nothing_more()  # no event from before the membership, not even the deleted note's name
    # The owner, a member throughout, gets the same history replayed.
    again = await WsClient.connect(client, owner)
    full = await again.op("subscribe", topic=f"project:{pid}", since={"epoch": epoch, "seq": 0})
    assert full["data"]["recovered"] is True and full["data"]["replayed"] >= 3
    for socket in (ws, again, ws_owner):
        await socket.close()


async def test_a_send_is_decided_by_the_rights_in_its_own_transaction_not_a_cached_role(client):
    """The check before a send may answer from this process's cache (the role seen at the last message); the
    send's transaction reads the role again, so a demotion committed a moment ago — its event not applied
    here yet — refuses the very next message and stores nothing."""
    from sqlalchemy import select

    from storage.models import ChatMessage, ProjectMember

    owner = await register_and_login(client)
    editor = await register_and_login(client)
    project = await create_project(owner)
    await add_member(owner, project["id"], editor, "editor")
    chat = await new_chat(editor, project["id"])
    ws = await WsClient.connect(client, editor)
    await ws.op("subscribe", topic=f"chat:{chat['id']}")
    first = await send(ws, chat["id"], "help")
    assert first["ok"], first  # the chat and the editor's role are now known to this process
    await run_events(ws, first["data"]["run_id"])

    async def stored() -> int:
        async with client.app[keys.DB].read() as s:
            return len((await s.scalars(select(ChatMessage.id).where(ChatMessage.session_id == chat["id"]))).all())

    before = await stored()
    member = (ProjectMember.project_id == project["id"]) & (ProjectMember.user_id == editor.id)
    async with client.app[keys.DB].write() as s:  # written behind the service's back: no event, no cache drop
        await s.execute(update(ProjectMember).where(member).values(role="viewer"))
    refused = await send(ws, chat["id"], "one more")
    assert not refused["ok"] and refused["error"]["code"] == "forbidden", refused
    async with client.app[keys.DB].write() as s:
        await s.execute(delete(ProjectMember).where(member))
    gone = await send(ws, chat["id"], "and another")
    assert not gone["ok"] and gone["error"]["code"] == "not_found", gone
    assert await stored() == before
    await ws.close()


async def test_a_send_to_a_chat_deleted_underneath_is_not_found_and_stores_nothing(client):
    from storage.models import ChatSession

    user = await register_and_login(client)
    chat = await new_chat(user)
    ws = await WsClient.connect(client, user)
    await ws.op("subscribe", topic=f"chat:{chat['id']}")
    first = await send(ws, chat["id"], "help")
    assert first["ok"], first
    await run_events(ws, first["data"]["run_id"])
    async with client.app[keys.DB].write() as s:  # behind the service's back (as another process would)
        await s.execute(delete(ChatSession).where(ChatSession.id == chat["id"]))
    for if_busy in ("reject", "enqueue"):
        sent = await send(ws, chat["id"], "hello again", if_busy=if_busy)
        assert not sent["ok"] and sent["error"]["code"] == "not_found", sent
    assert_error(await user.get(f"/chat/sessions/{chat['id']}/messages"), 404, "not_found")
    await ws.close()
