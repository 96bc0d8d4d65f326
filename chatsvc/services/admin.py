"""AdminService: commands on any account. Every one needs the global `admin.access` permission.

Rules a client should know:
- Nobody disables, demotes or deletes their own account here (409), and the last active superuser
  cannot be disabled, demoted or deleted by anyone (409): the system never loses its last admin.
- Only a superuser grants superuser status or changes or deletes a superuser's account; a holder of
  `admin.access` who is not a superuser gets 403 for that.
- Disabling an account revokes every session and token it holds and closes its websockets.
- Deleting an account deletes its personal chat sessions (nobody else could ever read them); what it
  wrote in projects stays, with the author set to null. A user who is the only owner of a project
  cannot be deleted (409, the projects in `details`): make someone else owner or delete the project first.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from chatsvc import authz
from chatsvc.errors import Conflict, Forbidden, NotFound
from chatsvc.events import (
    EventBus,
    chat_topic,
    publish_resource,
    publish_sessions_revoked,
    user_topic,
)
from chatsvc.schemas.common import is_id
from chatsvc.schemas.users import UserOut
from chatsvc.security import Principal
from storage import users
from storage.db import Database
from storage.models import User

if TYPE_CHECKING:
    from chatsvc.cluster import ProcessDirectory

ADMIN = "admin.access"


async def target_user(s: AsyncSession, principal: Principal, user_id: str) -> User:
    """Authorize (`admin.access`), then load the account (404 when unknown).

    `user_id` may be a raw path segment: access is checked first (a caller without `admin.access` gets
    403 whatever the id), then a malformed id is simply not found and never reaches the database.
    """
    await authz.require_permission(s, principal, ADMIN)
    if not is_id(user_id):
        raise NotFound()
    user = await users.get(s, user_id)
    if user is None:
        raise NotFound("No such user.")
    return user


class AdminService:
    """Change, delete and reconnect any account."""

    def __init__(self, *, db: Database, bus: EventBus, cluster: ProcessDirectory) -> None:
        self.db = db
        self.bus = bus
        self.cluster = cluster

    async def update_user(self, principal: Principal, user_id: str, *, is_active: bool | None,
                          is_superuser: bool | None, full_name: str | None) -> UserOut:
        """Enable or disable, grant or revoke superuser, rename; `None` leaves a field as it is.

        Disabling revokes every session of the account; `user.updated` goes out only when something changed.
        """
        wanted = {"is_active": is_active, "is_superuser": is_superuser, "full_name": full_name}
        changes = {field: value for field, value in wanted.items() if value is not None}
        revoked: list[str] = []
        async with self.db.write() as s:
            user = await target_user(s, principal, user_id)
            before = user.version
            disabling = is_active is False and user.is_active
            demoting = is_superuser is False and user.is_superuser
            promoting = is_superuser is True and not user.is_superuser
            if disabling or demoting:
                await _guard_loss(s, principal, user, "disable" if disabling else "demote")
            if any(value != getattr(user, field) for field, value in changes.items()):
                _guard_superuser(principal, user, promoting)
            for field, value in changes.items():
                setattr(user, field, value)
            if disabling:
                revoked = await users.revoke_user_sessions(s, user.id)
            await s.flush()
            out = UserOut.model_validate(user)
        publish_sessions_revoked(self.bus, out.id, revoked)
        if out.version != before:
            publish_resource(self.bus, [user_topic(out.id)], "user", "updated", out.model_dump(mode="json"),
                             actor=principal.user_id)
        return out

    async def delete_user(self, principal: Principal, user_id: str) -> None:
        """Delete an account, its sessions and personal chats; 409 while it is a project's only owner."""
        async with self.db.write() as s:
            user = await target_user(s, principal, user_id)
            await _guard_loss(s, principal, user, "delete")
            _guard_superuser(principal, user, promoting=False)
            sole = await users.sole_owned_project_ids(s, user.id)
            if sole:
                raise Conflict(
                    "This user is the only owner of some projects; give them another owner or delete them first.",
                    details=[{"loc": ["project_id"], "msg": project_id} for project_id in sole],
                )
            version = user.version
            revoked = await users.revoke_user_sessions(s, user_id)
            chat_ids = await users.delete_user(s, user)
        publish_sessions_revoked(self.bus, user_id, revoked)
        for chat_id in chat_ids:
            publish_resource(self.bus, [chat_topic(chat_id), user_topic(user_id)], "chat_session", "deleted",
                             {"id": chat_id}, actor=principal.user_id)
        publish_resource(self.bus, [user_topic(user_id)], "user", "deleted", {"id": user_id, "version": version},
                         actor=principal.user_id)

    async def reconnect_user(self, principal: Principal, user_id: str) -> int:
        """Ask every websocket of the account to reconnect, in every process (each closes its own); return
        how many were asked (a process that does not answer in time is not counted)."""
        async with self.db.read() as s:
            user = await target_user(s, principal, user_id)
        answers = await self.cluster.ask("sockets.reconnect", {"user_id": user.id})
        return sum(int(a.get("closed", 0)) for a in answers.by_process.values())


async def _guard_loss(s: AsyncSession, principal: Principal, user: User, action: str) -> None:
    """Refuse to disable, demote or delete oneself or the last active superuser (409)."""
    if user.id == principal.user_id:
        raise Conflict(f"You cannot {action} your own account; ask another admin.")
    if user.is_superuser and user.is_active:
        # Locked, so two admins demoting each other at once cannot both succeed.
        others = [i for i in await users.active_superuser_ids(s, lock=True) if i != user.id]
        if not others:
            raise Conflict(f"You cannot {action} the last active superuser.")


def _guard_superuser(principal: Principal, user: User, promoting: bool) -> None:
    """Only a superuser makes superusers or touches a superuser's account (403)."""
    if principal.is_superuser:
        return
    if promoting:
        raise Forbidden("Only a superuser can grant superuser status.")
    if user.is_superuser:
        raise Forbidden("Only a superuser can change or delete a superuser's account.")
