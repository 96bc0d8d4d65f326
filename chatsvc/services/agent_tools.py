"""The agent's tools on the server side: each runs with the chatting user's permissions in the chat's project."""

from __future__ import annotations

from typing import Any

from chatsvc import authz
from chatsvc.agent_pool import AgentPool
from chatsvc.errors import DomainError
from chatsvc.services.bot import BotService
from storage import agentdata
from storage.db import Database

NO_PROJECT = ("This chat is not attached to a project, so there are no requirements to work with. "
              "Start a chat inside a project.")
SEARCH_RESULTS = 10
SUMMARY_LIST_ITEMS = 100  # uncovered uids and orphan tests a coverage summary lists (it counts them all)


class AgentTools:
    """Execute the tools of agent/tools.py for a run (a ToolRunner for the RunManager)."""

    def __init__(self, *, db: Database, bot: BotService, agents: AgentPool) -> None:
        self.db = db
        self.bot = bot
        self.agents = agents

    async def run(self, run: Any, name: str, args: dict[str, Any]) -> dict[str, Any]:
        """Run one tool; a refusal or a missing thing becomes {"error": ...} for the model to relay."""
        if run.project_id is None:
            return {"error": NO_PROJECT}
        method = getattr(self, f"_{name}", None)
        if method is None:
            return {"error": f"There is no tool named {name}."}
        try:
            result: dict[str, Any] = await method(run.principal, run.project_id, args)
            return result
        except DomainError as exc:  # the same refusal REST would answer, in words the model can relay
            reasons = [str(d["msg"]) for d in exc.details if isinstance(d, dict) and d.get("msg")]
            return {"error": " ".join([exc.message, *reasons])}
        except _NoDocument as exc:
            return {"error": str(exc)}

    async def _requirements(self, principal: Any, project_id: str, args: dict[str, Any],
                            need: str = "viewer") -> tuple[Any, list[dict[str, Any]]]:
        """Authorize, then load the requested (default: current) document version and its requirements."""
        async with self.db.read() as s:
            await authz.require_project(s, principal, project_id, need)
            version = await agentdata.resolve_version(s, project_id, args.get("document_version_id"))
            if version is None:
                raise _NoDocument()
            return version, await agentdata.requirements_of(s, version.id)

    @staticmethod
    def _doc(version: Any) -> dict[str, Any]:
        return {"id": version.id, "title": version.title, "number": version.number}

    async def _list_requirements(self, principal: Any, project_id: str, args: dict[str, Any]) -> dict[str, Any]:
        version, reqs = await self._requirements(principal, project_id, args)
        limit = int(args.get("limit", 50))
        items = [{k: r[k] for k in ("uid", "title", "priority", "modality", "section")} for r in reqs[:limit]]
        return {"document": self._doc(version), "total": len(reqs), "items": items}

    async def _search_requirements(self, principal: Any, project_id: str, args: dict[str, Any]) -> dict[str, Any]:
        from agent.textmatch import Bm25Index, tokenize

        version, reqs = await self._requirements(principal, project_id, args)
        query = str(args.get("query", ""))
        index = Bm25Index([tokenize(f"{r['uid']} {r['title']} {r['statement']} {r['section']}") for r in reqs])
        scores = index.score(tokenize(query)) if reqs else {}
        ranked = sorted(((score, i) for i, score in scores.items() if score > 0), key=lambda x: (-x[0], x[1]))
        matches = [{**{k: reqs[i][k] for k in ("uid", "title", "statement", "priority")}, "score": round(score, 3)}
                   for score, i in ranked[: int(args.get("limit", SEARCH_RESULTS))]]
        return {"document": self._doc(version), "query": query, "matches": matches}

    async def _get_requirement(self, principal: Any, project_id: str, args: dict[str, Any]) -> dict[str, Any]:
        version, reqs = await self._requirements(principal, project_id, args)
        uid = str(args.get("uid", "")).upper()
        found = next((r for r in reqs if r["uid"].upper() == uid), None)
        if found is None:
            return {"error": f"There is no requirement {uid} in {version.title} (version {version.number})."}
        return {**found, "document": self._doc(version)}

    async def _start(self, kind: str, principal: Any, project_id: str, args: dict[str, Any]) -> dict[str, Any]:
        uids = args.get("requirement_uids")
        started = await self.bot.start(principal, kind, project_id,
                                       document_version_id=args.get("document_version_id"),
                                       requirement_uids=[str(u) for u in uids] if isinstance(uids, list) else None)
        return {"task_id": started.task["id"], "kind": kind, "document": started.document,
                "requirements": started.requirements}

    async def _generate_test_cases(self, principal: Any, project_id: str, args: dict[str, Any]) -> dict[str, Any]:
        return await self._start("test_generation", principal, project_id, args)

    async def _run_coverage_analysis(self, principal: Any, project_id: str, args: dict[str, Any]) -> dict[str, Any]:
        return await self._start("coverage", principal, project_id, args)

    async def _get_coverage_summary(self, principal: Any, project_id: str, args: dict[str, Any]) -> dict[str, Any]:
        async with self.db.read() as s:
            await authz.require_project(s, principal, project_id)
            version = await agentdata.resolve_version(s, project_id, args.get("document_version_id"))
            report_id = await agentdata.latest_artifact_id(s, project_id, "coverage_report",
                                                           version.id if version else None)
            if report_id is None:
                return {"error": "There is no coverage report yet. Ask me to run a coverage analysis."}
            pieces = await agentdata.content_pieces(s, report_id)
        # The report (tens of MB for a big document) is read by a worker, which answers its summary only.
        pool = self.agents
        path = pool.spool.path("coverage-report")
        try:
            await pool.spool.write(path, pieces)
            summary: dict[str, Any] = await pool.job("report_summary", {"content": path, "shown": SUMMARY_LIST_ITEMS})
        finally:
            await pool.spool.discard(path)
        return {"artifact_id": report_id, "document": self._doc(version) if version else None, **summary}

    async def _list_artifacts(self, principal: Any, project_id: str, args: dict[str, Any]) -> dict[str, Any]:
        async with self.db.read() as s:
            await authz.require_project(s, principal, project_id)
            rows = await agentdata.recent_artifacts(s, project_id, args.get("type"), int(args.get("limit", 20)))
        items = [{"id": a.id, "type": a.type, "name": a.name, "created_at": a.created_at.isoformat(),
                  "document_version_id": a.document_version_id} for a in rows]
        return {"total": len(items), "items": items}


class _NoDocument(Exception):
    def __init__(self) -> None:
        super().__init__("The project has no document version yet (or not that one). Add a requirements document "
                         "first.")



