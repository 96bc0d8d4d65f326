"""Matrix cases for handlers/chat.py.

The World's project chat was created by the editor; its personal chat belongs to the project owner;
user_message_id was written by the editor in the project chat. A superuser (admin) acts as a project
owner and may open personal sessions, but edits only their own messages.
"""

from tests.authz_cases import Case, same

S = "/api/v1/chat/sessions"
PROJECT_CHAT = S + "/{project_chat_id}"
PERSONAL_CHAT = S + "/{personal_chat_id}"
HIDDEN = {"nonmember": 404, "viewer": 404, "editor": 404}  # a personal chat, seen by anyone but its owner


def write(status: int) -> dict[str, int]:
    """Project-chat writes: members below editor 403, non-members 404."""
    return same(status, nonmember=404, viewer=403)


CASES = [
    Case("POST", S, S, body={"title": "Mine"}, expect=same(201), note="personal: every member role has chat.use"),
    Case("POST", S, S, body={"project_id": "{project_id}"}, expect=write(201)),
    Case("GET", S, S, expect=same(200)),
    Case("GET", S, S + "?project_id={project_id}", expect=same(200, nonmember=404)),

    Case("GET", S + "/{id}", PROJECT_CHAT, expect=same(200, nonmember=404)),
    Case("GET", S + "/{id}", PERSONAL_CHAT, expect=same(200, **HIDDEN)),
    Case("PATCH", S + "/{id}", PROJECT_CHAT, body={"title": "Renamed"}, expect=write(200)),
    Case("PATCH", S + "/{id}", PERSONAL_CHAT, body={"title": "Renamed"}, expect=same(200, **HIDDEN)),
    Case("DELETE", S + "/{id}", PROJECT_CHAT, expect=write(204), note="editor is the creator"),
    Case("DELETE", S + "/{id}", PERSONAL_CHAT, expect=same(204, **HIDDEN)),

    Case("GET", S + "/{id}/messages", PROJECT_CHAT + "/messages", expect=same(200, nonmember=404)),
    Case("GET", S + "/{id}/messages", PERSONAL_CHAT + "/messages?limit=10", expect=same(200, **HIDDEN)),
    Case("POST", S + "/{id}/messages", PROJECT_CHAT + "/messages", body={"content": "hi"}, expect=write(202),
         note="202 until the agent ships"),
    Case("POST", S + "/{id}/messages", PERSONAL_CHAT + "/messages", body={"content": "hi"},
         expect=same(202, **HIDDEN)),
    Case("POST", S + "/{id}/cancel", PROJECT_CHAT + "/cancel", expect=write(202)),
    Case("POST", S + "/{id}/cancel", PERSONAL_CHAT + "/cancel", expect=same(202, **HIDDEN)),

    Case("PATCH", "/api/v1/chat/messages/{id}", "/api/v1/chat/messages/{user_message_id}",
         body={"content": "edited"}, expect=same(403, nonmember=404, editor=200), note="only the author edits"),
    Case("PATCH", "/api/v1/chat/messages/{id}", "/api/v1/chat/messages/{assistant_message_id}",
         body={"content": "edited"}, expect=same(403, nonmember=404)),
    Case("DELETE", "/api/v1/chat/messages/{id}", "/api/v1/chat/messages/{user_message_id}",
         expect=write(204), note="the author, a project owner, or a superuser"),
    Case("DELETE", "/api/v1/chat/messages/{id}", "/api/v1/chat/messages/{assistant_message_id}",
         expect=same(204, nonmember=404, viewer=403, editor=403)),
]
