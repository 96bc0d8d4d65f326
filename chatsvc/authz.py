"""The one place that answers "may this principal do this to that".

Global permissions come from roles (a superuser has all of them). Inside a project the member role
decides: a non-member gets 404 (existence is not revealed), a member whose role is too low gets 403.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from chatsvc.errors import Forbidden, NotFound
from chatsvc.permissions import PERMISSIONS
from chatsvc.security import Principal
from storage import artifacts, chats, documents, rbac, tasks
from storage.db import is_writing, opened_at
from storage.models import Artifact, ChatSession, ProjectMember, Task

ROLE_RANK = {"viewer": 1, "editor": 2, "owner": 3}
PROJECT_ROLES = tuple(ROLE_RANK)


async def global_permissions(session: AsyncSession, principal: Principal) -> set[str]:
    """Return the caller's effective global permissions."""
    if principal.is_superuser:
        return set(PERMISSIONS)
    return await rbac.user_permissions(session, principal.user_id) & set(PERMISSIONS)


async def require_permission(session: AsyncSession, principal: Principal, permission: str) -> None:
    """Raise Forbidden unless the caller holds a global permission."""
    if permission not in await global_permissions(session, principal):
        raise Forbidden(f"This needs the '{permission}' permission.")


async def project_role(session: AsyncSession, principal: Principal, project_id: str) -> str | None:
    """Return the caller's role in a project (a superuser acts as owner), or None."""
    from storage.models import Project

    if principal.is_superuser:
        exists = await session.scalar(select(Project.id).where(Project.id == project_id))
        return "owner" if exists else None
    # Reads may answer from the cache; a write checks the database inside its own transaction, so a change of
    # rights committed a moment ago (its event not yet applied here) can never let a write through.
    cache = None if is_writing(session) else principal.access
    if cache is not None:
        cached = cache.role(principal.user_id, project_id)
        if cached is not None:
            return cached
    role: str | None = await session.scalar(
        select(ProjectMember.role).where(
            ProjectMember.project_id == project_id, ProjectMember.user_id == principal.user_id
        )
    )
    if cache is not None and role is not None:
        cache.remember_role(opened_at(session), principal.user_id, project_id, role)
    return role


def cached_role(principal: Principal, project_id: str) -> str | None:
    """The caller's project role when it is known without the database (a superuser's needs the project to
    exist, which the caller checks), else None."""
    if principal.is_superuser:
        return "owner"
    return principal.access.role(principal.user_id, project_id) if principal.access is not None else None


def cached_role_allows(principal: Principal, project_id: str, need: str) -> bool:
    """Whether the cached role already allows `need` (a pre-check only: commands re-check in their write)."""
    role = cached_role(principal, project_id)
    return role is not None and ROLE_RANK[role] >= ROLE_RANK[need]


async def require_project(
    session: AsyncSession, principal: Principal, project_id: str, need: str = "viewer"
) -> str:
    """Return the caller's project role; 404 for non-members, 403 when the role is below `need`."""
    role = await project_role(session, principal, project_id)
    if role is None:
        raise NotFound("No such project.")
    if ROLE_RANK[role] < ROLE_RANK[need]:
        raise Forbidden(f"This needs the {need} role in the project; you are {role}.")
    return role


async def _require_in_project(session: AsyncSession, principal: Principal, project_id: str | None, need: str,
                              not_found: str) -> None:
    """Authorize on the project a thing belongs to; a thing that is unknown or not visible is `not_found`."""
    if project_id is None:
        raise NotFound(not_found)
    try:
        await require_project(session, principal, project_id, need)
    except NotFound:
        raise NotFound(not_found) from None


async def require_document_version(session: AsyncSession, principal: Principal, version_id: str,
                                   need: str = "viewer") -> str:
    """Authorize on a document version's project and return the project id; 404 when unknown or not visible."""
    project_id = await documents.project_of(session, version_id)
    await _require_in_project(session, principal, project_id, need, "No such document version.")
    assert project_id is not None
    return project_id


async def require_artifact(session: AsyncSession, principal: Principal, artifact_id: str,
                           need: str = "viewer") -> Artifact:
    """An artifact the caller may see (need: the role its project requires); 404 when unknown or not visible."""
    artifact = await artifacts.get(session, artifact_id)
    await _require_in_project(session, principal, artifact.project_id if artifact else None, need,
                              "No such artifact.")
    assert artifact is not None
    return artifact


async def require_artifact_head(session: AsyncSession, principal: Principal, artifact_id: str,
                                need: str = "viewer") -> Artifact:
    """As require_artifact, without loading the content (tens of MB for a big suite: reading it raises). The
    identity map only holds objects weakly, so this returns the one object to use, loaded without it."""
    artifact = await artifacts.head(session, artifact_id)
    await _require_in_project(session, principal, artifact.project_id if artifact else None, need,
                              "No such artifact.")
    assert artifact is not None
    return artifact


async def require_task(session: AsyncSession, principal: Principal, task_id: str, need: str = "viewer") -> Task:
    """A background task the caller may see (its project's role decides; 404 otherwise)."""
    task = await tasks.get(session, task_id)
    await _require_in_project(session, principal, task.project_id if task else None, need, "No such task.")
    assert task is not None
    return task


async def require_chat_session(
    session: AsyncSession, principal: Principal, chat_id: str, *, write: bool = False
) -> ChatSession:
    """Load a chat session the caller may see (write: may post/edit in); 404 when they may not see it."""
    chat = await session.get(ChatSession, chat_id)
    await _check_chat(session, principal, chat, write)
    assert chat is not None
    return chat


async def require_chat_head(
    session: AsyncSession, principal: Principal, chat_id: str, *, write: bool = False
) -> chats.ChatHead:
    """As require_chat_session, with the chat's id, project, owner and title only (no ORM object)."""
    chat = await chats.chat_head(session, chat_id)
    await _check_chat(session, principal, chat, write)
    assert chat is not None
    return chat


async def _check_chat(session: AsyncSession, principal: Principal, chat: ChatSession | chats.ChatHead | None,
                      write: bool) -> None:
    """Who may see (write: post in) a chat: its owner for a personal chat, members (editors to write) for a
    project's; a superuser any. NotFound where the caller may not see it, Forbidden for a viewer's write."""
    if chat is None:
        raise NotFound("No such chat session.")
    if chat.project_id is None:
        if chat.owner_id != principal.user_id and not principal.is_superuser:
            raise NotFound("No such chat session.")
        return
    role = await project_role(session, principal, chat.project_id)
    if role is None or (write and ROLE_RANK[role] < ROLE_RANK["editor"]):
        raise chat_write_refusal(role)


CHAT_WRITER_ROLES = tuple(role for role, rank in ROLE_RANK.items() if rank >= ROLE_RANK["editor"])


def chat_write_refusal(role: str | None) -> NotFound | Forbidden:
    """Why a member with this project role (None: no member) may not post in the project's chats."""
    if role is None:
        return NotFound("No such chat session.")
    return Forbidden("Viewers can read project chats but not write in them.")


def chat_writable_from_cache(principal: Principal, chat: chats.ChatHead) -> bool:
    """Whether what this process knows without the database already lets the caller post in the chat: their
    own personal chat (its `chat.use` is checked by the send's transaction), or a cached project role of
    editor or above. False means "ask the database" (require_chat_head), never "refused". A pre-check only:
    the send re-checks in its write transaction (chats.Recheck)."""
    if chat.project_id is None:
        return chat.owner_id == principal.user_id or principal.is_superuser
    return not principal.is_superuser and cached_role_allows(principal, chat.project_id, "editor")


async def visible_project_ids(session: AsyncSession, principal: Principal) -> list[str] | None:
    """Return the ids of projects the caller belongs to; None means all (superuser)."""
    if principal.is_superuser:
        return None
    return list(
        await session.scalars(select(ProjectMember.project_id).where(ProjectMember.user_id == principal.user_id))
    )


async def authorize_topic(session: AsyncSession, principal: Principal, topic: str) -> None:
    """Allow a websocket subscription, or raise NotFound/Forbidden exactly as REST would for that resource."""
    from storage.models import Task

    kind, _, ident = topic.partition(":")
    if kind == "user":
        if ident != principal.user_id:
            raise Forbidden("You can only subscribe to your own user topic.")
    elif kind == "project":
        await require_project(session, principal, ident)
    elif kind == "chat":
        await require_chat_head(session, principal, ident)
    elif kind == "task":
        project_id = await session.scalar(select(Task.project_id).where(Task.id == ident))
        if project_id is None:
            raise NotFound("No such task.")
        role = await project_role(session, principal, project_id)
        if role is None:
            raise NotFound("No such task.")
    else:
        raise NotFound("No such topic.")


async def access_since(session: AsyncSession, principal: Principal, topic: str) -> float | None:
    """When the caller's access to an (authorized) topic began, as epoch seconds; None when it did not begin
    (their own user topic or personal chat; a superuser sees everything). A resume must not replay events
    from before that moment: a member added today does not get yesterday's deleted messages."""
    from storage.models import Task

    kind, _, ident = topic.partition(":")
    if principal.is_superuser or kind == "user":
        return None
    project_id: str | None = None
    if kind == "project":
        project_id = ident
    elif kind == "chat":
        project_id = await session.scalar(select(ChatSession.project_id).where(ChatSession.id == ident))
    elif kind == "task":
        project_id = await session.scalar(select(Task.project_id).where(Task.id == ident))
    if project_id is None:
        return None
    joined = await session.scalar(select(ProjectMember.created_at).where(
        ProjectMember.project_id == project_id, ProjectMember.user_id == principal.user_id))
    return joined.timestamp() if joined is not None else None
