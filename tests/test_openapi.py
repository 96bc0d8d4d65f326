"""The OpenAPI document is generated from the route table, valid 3.1, and covers every route."""

from __future__ import annotations

import asyncio

from openapi_spec_validator import validate

from chatsvc.openapi import iter_endpoints
from tests.helpers import assert_error, call, create_project, make_admin, register, register_and_login


async def test_openapi_is_valid_and_complete(client):
    r = await call(client, "GET", "/api/v1/openapi.json")
    assert r.status == 200
    spec = r.body
    assert spec["openapi"].startswith("3.1")
    await asyncio.to_thread(validate, spec)  # heavy: keep it off the loop the guard watches
    documented = {(m.upper(), p) for p, ops in spec["paths"].items() for m in ops}
    registered = {(m, p) for m, p, _v, _e in iter_endpoints(client.app)}
    assert registered == documented
    login = spec["paths"]["/api/v1/users/login"]["post"]
    assert "application/x-www-form-urlencoded" in login["requestBody"]["content"]
    assert login["security"] == []
    assert spec["paths"]["/api/v1/users/me"]["get"]["security"]
    assert "401" in spec["paths"]["/api/v1/users/me"]["get"]["responses"]


async def test_every_route_is_declared_with_endpoint(client):
    """A handler added without @endpoint would escape validation, auth and the docs: forbid it."""
    for route in client.app.router.routes():
        view = route.handler
        if not isinstance(view, type):
            continue  # static files and the index page
        for method in ("get", "post", "put", "patch", "delete"):
            fn = getattr(view, method, None)
            if fn is not None:
                assert hasattr(fn, "__endpoint__"), f"{view.__name__}.{method} lacks @endpoint"


async def test_docs_page_is_local_and_csp_strict(client):
    async with client.get("/api/docs") as r:
        assert r.status == 200
        html = await r.text()
        csp = r.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "<script type=\"module\" src=\"/static/apidocs.js\">" in html
    assert "http://" not in html and "https://" not in html  # nothing fetched from elsewhere
    async with client.get("/static/apidocs.js") as r:
        assert r.status == 200
        assert "innerHTML" not in await r.text()


# What schemathesis `--checks all` found (issue 12, item 11), one test per class; tests/test_schemathesis.py
# runs the fuzzer itself.


async def spec_of(client) -> dict:
    return (await call(client, "GET", "/api/v1/openapi.json")).body


async def test_every_body_documents_the_statuses_parsing_answers(client):
    """Malformed JSON is a 400, too large a 413, another media type a 415, a refused body a 422: documented."""
    spec = await spec_of(client)
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            if "requestBody" in op:
                assert {"400", "413", "415", "422"} <= set(op["responses"]), (method, path)
    alice = await register_and_login(client)
    async with client.patch("/api/v1/users/me", data=b"\xff{", headers={**alice.headers,
                                                                        "Content-Type": "application/json"}) as r:
        assert r.status == 400


async def test_a_missing_body_is_a_422_not_an_empty_change(client):
    alice = await register_and_login(client)
    project = await create_project(alice)
    for method, path in (("PATCH", f"/projects/{project['id']}"), ("PATCH", "/users/me"),
                         ("POST", "/chat/sessions")):
        r = await alice.call(method, path)
        assert_error(r, 422, "validation_error")
        assert r.body["error"]["details"][0]["loc"] == ["body"]
    assert (await alice.patch(f"/projects/{project['id']}", {})).status == 200  # {} still changes nothing


async def test_an_empty_filter_is_a_422_as_the_schema_says(client, settings):
    alice = await register_and_login(client)
    project = await create_project(alice)
    chat = (await alice.post("/chat/sessions", {})).body
    for path in ("/artifacts?type=", f"/projects/{project['id']}/artifacts?type=",
                 f"/projects/{project['id']}/artifacts?document_version_id=", "/chat/sessions?project_id=",
                 f"/chat/sessions/{chat['id']}/messages?before="):
        assert_error(await alice.get(path), 422, "validation_error")
    admin = await make_admin(client, settings)
    assert_error(await admin.get("/admin/tasks?status="), 422, "validation_error")
    assert (await alice.get("/artifacts")).status == 200  # left out: everything


async def test_booleans_are_strict(client):
    """`regenerate: 0` or `make_current: 1` used to pass as false/true while the schema says boolean."""
    alice = await register_and_login(client)
    project = await create_project(alice)
    r = await alice.patch("/chat/messages/nope", {"content": "hi", "regenerate": 0})
    assert_error(r, 422, "validation_error")
    r = await alice.post(f"/projects/{project['id']}/document-versions",
                         {"title": "T", "content": "The system shall work.", "make_current": 1})
    assert_error(r, 422, "validation_error")
    schema = (await spec_of(client))["components"]["schemas"]["MessageUpdate"]
    assert schema["properties"]["regenerate"]["type"] == "boolean"


async def test_exactly_one_of_bodies_say_so_in_the_schema(client):
    schemas = (await spec_of(client))["components"]["schemas"]
    assert [alt["required"] for alt in schemas["MemberAdd"]["oneOf"]] == [["user_id"], ["username"]]
    assert [alt["required"] for alt in schemas["ArtifactImport"]["oneOf"]] == [["content"], ["file_id"]]
    assert [alt["required"] for alt in schemas["DocumentVersionCreate"]["oneOf"]] == [["content", "title"],
                                                                                     ["file_id"]]
    content = schemas["ArtifactCreate"]["properties"]["content"]
    assert content["$ref"] == "#/components/schemas/StorableJsonValue"  # any JSON but null, no NUL in it
    assert schemas["ArtifactUpdate"]["properties"]["content"]["$ref"] == "#/components/schemas/StorableJson"


async def test_nul_and_blank_text_are_refused_and_documented(client):
    schemas = (await spec_of(client))["components"]["schemas"]
    name = schemas["ProjectCreate"]["properties"]["name"]
    assert name["pattern"] == "^[^\\u0000]*$" and name["not"] == {"pattern": "^\\s*$"}
    assert schemas["UserRegister"]["properties"]["full_name"]["pattern"] == "^[^\\u0000]*$"
    assert schemas["ProjectUpdate"]["properties"]["name"]["type"] == "string"  # may be left out, never null
    r = await register(client, "nulname", full_name="a\u0000b")
    assert_error(r, 422, "validation_error")
    alice = await register_and_login(client)
    assert_error(await alice.post("/projects", {"name": "   "}), 422, "validation_error")
    assert_error(await alice.get("/users?q=a%00b"), 422, "validation_error")


async def test_password_rules_are_in_the_schema(client):
    """8 to 72 bytes: ASCII by length, other text by its bytes (the server counts them); no common password."""
    schemas = (await spec_of(client))["components"]["schemas"]
    password = schemas["UserRegister"]["properties"]["password"]
    ascii_rule, other_rule = password["anyOf"]
    assert (ascii_rule["minLength"], ascii_rule["maxLength"]) == (8, 72)
    assert (other_rule["minLength"], other_rule["maxLength"]) == (2, 72)
    assert "00000000" in password["not"]["enum"]
    assert schemas["PasswordChange"]["properties"]["new_password"]["anyOf"] == password["anyOf"]
    assert (await register(client, "twochars", password="\U0001f600\U0001f600")).status == 201  # 8 bytes
    assert_error(await register(client, "sevenbyte", password="\U0001f600abc"), 422, "validation_error")
    assert_error(await register(client, "common1", password="00000000"), 422, "validation_error")


async def test_special_use_email_domains_are_refused_as_documented(client):
    """EmailStr refuses .test, .localhost, ... (RFC 6761) which the `email` format allows: the schema says so."""
    schemas = (await spec_of(client))["components"]["schemas"]
    for schema in (schemas["UserRegister"]["properties"]["email"], schemas["MeUpdate"]["properties"]["email"]):
        assert "[tT][eE][sS][tT]" in schema["not"]["pattern"]
    assert_error(await call(client, "POST", "/users/register", json={
        "email": "someone@example.TEST", "username": "specialuse", "password": "a long password"}), 422)
    alice = await register_and_login(client)
    assert_error(await alice.patch("/users/me", {"email": "alice@mail.localhost"}), 422, "validation_error")


async def test_grant_type_is_password_when_sent(client):
    login = (await spec_of(client))["paths"]["/api/v1/users/login"]["post"]
    form = login["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"]
    assert form["$ref"].endswith("/LoginRequest")
    alice = await register_and_login(client)
    body = {"username": alice.username, "password": alice.password}
    assert (await call(client, "POST", "/users/login", json={**body, "grant_type": "password"})).status == 200
    for grant in (None, "null", "client_credentials"):
        r = await call(client, "POST", "/users/login", json={**body, "grant_type": grant})
        assert_error(r, 422, "validation_error")
    async with client.post("/api/v1/users/login", data={**body, "grant_type": "null"}) as r:
        assert r.status == 422
    schema = (await spec_of(client))["components"]["schemas"]["LoginRequest"]["properties"]["grant_type"]
    assert schema == {"const": "password", "title": "Grant Type", "type": "string"}


async def test_permissions_are_an_enum(client):
    role = (await spec_of(client))["components"]["schemas"]["RoleCreate"]["properties"]["permissions"]
    assert "chat.use" in role["items"]["enum"]


async def test_downloads_document_their_real_content_types(client):
    paths = (await spec_of(client))["paths"]
    content = paths["/api/v1/files/{id}/content"]["get"]["responses"]["200"]["content"]
    assert {"application/octet-stream", "text/plain", "image/png", "application/pdf"} <= set(content)
    export = paths["/api/v1/artifacts/{id}/export"]["get"]["responses"]["200"]["content"]
    assert set(export) == {"text/csv", "text/plain", "text/markdown", "text/html"}


async def test_other_real_statuses_are_documented(client):
    paths = (await spec_of(client))["paths"]
    assert "200" in paths["/api/v1/rbac/users/{id}/roles/{role_id}"]["put"]["responses"]  # already had it
    assert "404" in paths["/api/v1/tasks"]["get"]["responses"]  # ?project_id= of no project of mine
    for method in ("post", "patch"):  # a user with the most replies going (the run quota)
        path = "/api/v1/chat/sessions/{id}/messages" if method == "post" else "/api/v1/chat/messages/{id}"
        assert "429" in paths[path][method]["responses"]
    param = paths["/api/v1/projects/{id}"]["get"]["parameters"][0]
    assert param["schema"]["pattern"] == "^[A-Za-z0-9_-]{1,64}$"


async def test_a_malformed_part_after_the_file_is_a_400_and_stores_nothing(client):
    alice = await register_and_login(client)
    project = await create_project(alice)
    boundary = "b0undary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\n\r\nhello\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"x\x00y\"\r\n\r\n1\r\n--{boundary}--\r\n")
    async with client.post(f"/api/v1/projects/{project['id']}/files", data=body.encode(), headers={
            **alice.headers, "Content-Type": f"multipart/form-data; boundary={boundary}"}) as r:
        assert r.status == 400, await r.text()
    assert (await alice.get(f"/projects/{project['id']}/files")).body["total"] == 0
