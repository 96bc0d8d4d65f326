"""The World of the authorization matrix: one project with an owner, editor and viewer, everything in it.

Built through the real HTTP API (and, for rows no endpoint creates yet, the real repositories).
"""

from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass
from typing import Any

from aiohttp import FormData
from aiohttp.test_utils import TestClient

from chatsvc import keys
from tests.helpers import User, add_member, login, register, register_and_login

_worlds = itertools.count(1)


@dataclass
class World:
    callers: dict[str, User | None]
    project_id: str
    file_id: str
    document_version_id: str
    artifact_id: str
    project_chat_id: str
    personal_chat_id: str
    user_message_id: str
    assistant_message_id: str
    role_id: str
    builtin_role_id: str
    owner_id: str
    editor_id: str
    viewer_id: str
    nonmember_id: str
    admin_id: str
    target_user_id: str
    task_id: str
    serial: str

    def fields(self) -> dict[str, str]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "callers"}


async def quick_admin(client: TestClient, username: str) -> User:
    """A superuser made with the app's own repositories (the CLI path is tested in test_cli.py)."""
    from chatsvc.permissions import DEFAULT_ROLE
    from storage import rbac, users

    reg = await register(client, username)
    assert reg.status == 201, reg.body
    async with client.app[keys.DB].write() as s:
        user = await users.get(s, reg.body["id"])
        assert user is not None
        user.is_superuser = True
        for name in (DEFAULT_ROLE, "admin"):
            role = await rbac.by_name(s, name)
            assert role is not None
            await rbac.assign(s, user.id, role.id)
    tok = await login(client, username)
    return User(client=client, id=reg.body["id"], username=username, email=reg.body["email"],
                token=tok.body["access_token"], data=reg.body)


async def build_world(client: TestClient, settings: Any) -> World:
    """Create users, a project and one of every resource inside it."""
    n = next(_worlds)
    owner = await register_and_login(client, f"w{n}owner")
    editor = await register_and_login(client, f"w{n}editor")
    viewer = await register_and_login(client, f"w{n}viewer")
    nonmember = await register_and_login(client, f"w{n}stranger")
    admin = await quick_admin(client, f"w{n}admin")
    target = await register(client, f"w{n}target")
    assert target.status == 201, target.body

    project = await owner.post("/projects", {"name": f"World {n}"})
    assert project.status == 201, project.body
    pid = project.body["id"]
    await add_member(owner, pid, editor, "editor")
    await add_member(owner, pid, viewer, "viewer")

    form = FormData()
    form.add_field("file", b"REQ-1: The system shall log in users.\n", filename="reqs.md",
                   content_type="text/markdown")
    up = await owner.call("POST", f"/projects/{pid}/files", data=form)
    assert up.status == 201, up.body

    doc = await owner.post(f"/projects/{pid}/document-versions",
                           {"title": "Spec", "content": "# Login\nREQ-1: The system shall log in users.\n"})
    assert doc.status == 201, doc.body
    art = await owner.post(f"/projects/{pid}/artifacts", {"type": "note", "name": "Note", "content": {"text": "hi"},
                                                         "document_version_id": doc.body["id"]})
    assert art.status == 201, art.body
    chat = await editor.post("/chat/sessions", {"title": "Project chat", "project_id": pid})
    assert chat.status == 201, chat.body
    personal = await owner.post("/chat/sessions", {"title": "Mine"})
    assert personal.status == 201, personal.body

    from storage import chats
    from storage.models import Task

    async with client.app[keys.DB].write() as s:
        user_msg = await chats.add_message(s, chat.body["id"], "user", "Hello", editor.id)
        bot_msg = await chats.add_message(s, chat.body["id"], "assistant", "Hi there", None)
        task = Task(kind="coverage", project_id=pid, created_by=owner.id, status="succeeded", params={})
        s.add(task)
        await s.flush()
        user_msg_id, bot_msg_id, task_id = user_msg.id, bot_msg.id, task.id

    role = await admin.post("/rbac/roles", {"name": f"auditor{n}", "description": "reads",
                                            "permissions": ["users.read"]})
    assert role.status == 201, role.body
    from storage import rbac

    async with client.app[keys.DB].read() as s:
        builtin = await rbac.by_name(s, "member")
        assert builtin is not None

    return World(
        callers={"anon": None, "nonmember": nonmember, "viewer": viewer, "editor": editor, "owner": owner,
                 "admin": admin},
        project_id=pid, file_id=up.body["id"], document_version_id=doc.body["id"], artifact_id=art.body["id"],
        project_chat_id=chat.body["id"], personal_chat_id=personal.body["id"], user_message_id=user_msg_id,
        assistant_message_id=bot_msg_id, role_id=role.body["id"], builtin_role_id=builtin.id,
        owner_id=owner.id, editor_id=editor.id, viewer_id=viewer.id, nonmember_id=nonmember.id, admin_id=admin.id,
        target_user_id=target.body["id"], task_id=task_id, serial=str(n),
    )
