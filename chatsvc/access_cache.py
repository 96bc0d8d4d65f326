"""Who a token belongs to, which role a user has in a project, and the project itself, remembered between
requests.

Resolving a bearer token or cookie session and a project role were two database round trips on every
authenticated request (most of its CPU). This cache answers both from memory and forgets an entry the
moment an event says it changed:

- `session.revoked` (logout, password change, admin disable or delete) drops those sessions' principals;
- `user.updated` / `user.deleted` drop the user's principals and roles (superuser flag, disabled account);
- `member.*` drops that user's roles; `project.deleted` drops every role in the project;
- `project.updated` / `project.deleted` drop the project's JSON (nothing else changes a project as clients
  see it: storage/documents.next_number keeps its version and updated_at); `user.deleted` drops every
  project's JSON (`created_by` becomes null).

Events reach it twice: synchronously inside `publish()` in the process that committed the change (so the
next request here, even one already waiting, sees it), and through the bus's tap from every other process
(Redis). A lookup that missed reads the database and stores its answer only if no invalidation happened
since its transaction opened (`Database.opened_at`: the snapshot is taken after that), so a read racing a
revocation never puts the old rights back. Entries
also expire after `ttl_s` as a backstop for changes made behind the server's back (SQL by hand).

Session expiry stays exact: a cached principal is used only while its session is inside both its absolute
and idle limits as last seen here; otherwise the database decides (another process may have seen it later).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from chatsvc.events import Event
from chatsvc.security import Principal

MAX_ENTRIES = 50_000  # per map; past it the map starts over (a burst of new tokens, not a steady state)


@dataclass(slots=True)
class CachedSession:
    principal: Principal
    expires_at: float  # absolute expiry of the auth session (epoch seconds)
    last_seen: float  # when the session was last recorded as used (epoch seconds)
    cached_at: float  # monotonic


class AccessCache:
    """Principals by (kind, token hash) and project roles by (project, user), with event invalidation."""

    def __init__(self, ttl_s: float = 30.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s = ttl_s
        self._clock = clock
        self.invalidated_at = -1.0  # monotonic time of the last invalidation
        self._sessions: dict[tuple[str, str], CachedSession] = {}
        self._keys_of_user: dict[str, set[tuple[str, str]]] = {}
        self._key_of_auth_session: dict[str, tuple[str, str]] = {}
        self._roles: dict[str, dict[str, tuple[str, float]]] = {}  # project -> user -> (role, cached_at)
        self._role_count = 0
        self._projects: dict[str, tuple[dict[str, Any], float]] = {}  # id -> (JSON without my_role, cached_at)

    # --- principals -------------------------------------------------------------------------------
    def session(self, kind: str, token_hash: str) -> CachedSession | None:
        entry = self._sessions.get((kind, token_hash))
        if entry is None or self._clock() - entry.cached_at > self.ttl_s:
            return None
        return entry

    def remember_session(self, read_opened_at: float, kind: str, token_hash: str, principal: Principal,
                         expires_at: float, last_seen: float) -> None:
        """Store a principal read by a transaction opened at `read_opened_at` (not if anything changed since)."""
        if read_opened_at <= self.invalidated_at:
            return
        if len(self._sessions) >= MAX_ENTRIES:
            self._sessions.clear()
            self._keys_of_user.clear()
            self._key_of_auth_session.clear()
        key = (kind, token_hash)
        self._sessions[key] = CachedSession(principal, expires_at, last_seen, self._clock())
        self._keys_of_user.setdefault(principal.user_id, set()).add(key)
        self._key_of_auth_session[principal.auth_session_id] = key

    # --- roles ------------------------------------------------------------------------------------
    def role(self, user_id: str, project_id: str) -> str | None:
        entry = self._roles.get(project_id, {}).get(user_id)
        if entry is None or self._clock() - entry[1] > self.ttl_s:
            return None
        return entry[0]

    def remember_role(self, read_opened_at: float, user_id: str, project_id: str, role: str) -> None:
        """Store a member's role read by a transaction opened at `read_opened_at` (not if anything changed since)."""
        if read_opened_at <= self.invalidated_at:
            return
        if self._role_count >= MAX_ENTRIES:
            self._roles.clear()
            self._role_count = 0
        users = self._roles.setdefault(project_id, {})
        self._role_count += user_id not in users
        users[user_id] = (role, self._clock())

    # --- projects ---------------------------------------------------------------------------------
    def project(self, project_id: str) -> dict[str, Any] | None:
        entry = self._projects.get(project_id)
        if entry is None or self._clock() - entry[1] > self.ttl_s:
            return None
        return entry[0]

    def remember_project(self, read_opened_at: float, project: dict[str, Any]) -> None:
        """Store a project's JSON read by a transaction opened at `read_opened_at` (not if anything changed)."""
        if read_opened_at <= self.invalidated_at:
            return
        if len(self._projects) >= MAX_ENTRIES:
            self._projects.clear()
        self._projects[project["id"]] = (project, self._clock())

    # --- invalidation -----------------------------------------------------------------------------
    def on_event(self, event: Event) -> None:
        """Bus tap: changes committed by any process, one call per topic of an event."""
        self.apply(event.topic, event.name, event.data)

    def on_publish(self, topics: Iterable[str], name: str, data: dict[str, Any]) -> None:
        """Publish hook: the committing process forgets before anyone can ask again."""
        for topic in topics:
            self.apply(topic, name, data)

    def apply(self, topic: str, name: str, data: dict[str, Any]) -> None:
        """Forget what an event on a topic says changed."""
        scope, _, ident = topic.partition(":")
        if scope == "user":
            if name == "session.revoked":
                self.invalidated_at = time.monotonic()
                for auth_session_id in data.get("auth_session_ids", ()):
                    self._drop_session(self._key_of_auth_session.get(auth_session_id))
            elif name in ("user.updated", "user.deleted"):
                self.invalidated_at = time.monotonic()
                for key in list(self._keys_of_user.get(ident, ())):
                    self._drop_session(key)
                for users in self._roles.values():
                    self._role_count -= users.pop(ident, None) is not None
                if name == "user.deleted":
                    self._projects.clear()
        elif scope == "project":
            if name.startswith("member.") or name == "project.deleted":
                # A member event names its membership, not always the user: forget the whole project.
                self.invalidated_at = time.monotonic()
                self._role_count -= len(self._roles.pop(ident, {}))
            if name in ("project.updated", "project.deleted"):
                self.invalidated_at = time.monotonic()
                self._projects.pop(ident, None)

    def _drop_session(self, key: tuple[str, str] | None) -> None:
        entry = self._sessions.pop(key, None) if key else None
        if entry is not None:
            principal = entry.principal
            self._key_of_auth_session.pop(principal.auth_session_id, None)
            keys = self._keys_of_user.get(principal.user_id)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._keys_of_user[principal.user_id]
