"""The catalogue of global permissions and the built-in roles."""

from __future__ import annotations

PERMISSIONS: dict[str, str] = {
    "admin.access": "Use the admin endpoints: users, stats and tasks of the whole system.",
    "rbac.manage": "Create, change and assign global roles.",
    "projects.create": "Create new projects.",
    "chat.use": "Start personal chat sessions with the agent.",
    "users.read": "Search the user directory (to add project members).",
}

BUILTIN_ROLES: dict[str, tuple[str, tuple[str, ...]]] = {
    "admin": ("Full access to everything.", tuple(PERMISSIONS)),
    "member": ("What every registered user can do.", ("projects.create", "chat.use", "users.read")),
}

DEFAULT_ROLE = "member"
