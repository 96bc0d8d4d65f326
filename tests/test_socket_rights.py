"""Rights follow changes on sockets that are already open: a demoted superuser, an expired session, a role that
lost `chat.use` — each with a real websocket, through the same authz code REST uses."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, update

from chatsvc import keys
from storage.models import AuthSession, UserRole
from tests.chatutil import new_chat
from tests.helpers import assert_error, create_project, make_admin, register_and_login
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
