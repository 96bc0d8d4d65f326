"""The service layer: each command of the product, owned end to end by one service method.

A service method authorizes fully, runs one transaction through repositories that never commit, then
publishes after commit; REST views, websocket ops, SSE and the agent's tools all call the same method.
`Services` gathers them under one application key (built in chatsvc/app.py's agents_ctx).
"""

from __future__ import annotations

from dataclasses import dataclass

from chatsvc.services.admin import AdminService
from chatsvc.services.artifacts import ArtifactService
from chatsvc.services.bot import BotService
from chatsvc.services.chat import ChatService
from chatsvc.services.documents import DocumentService
from chatsvc.services.files import FileService
from chatsvc.services.links import LinkReviewService
from chatsvc.services.projects import ProjectService
from chatsvc.services.rbac import RbacService
from chatsvc.services.test_cases import TestCaseService
from chatsvc.services.testruns import TestRunService
from chatsvc.services.users import UserService


@dataclass(frozen=True)
class Services:
    chat: ChatService
    bot: BotService
    projects: ProjectService
    documents: DocumentService
    artifacts: ArtifactService
    rbac: RbacService
    files: FileService
    users: UserService
    admin: AdminService
    test_runs: TestRunService
    links: LinkReviewService
    test_cases: TestCaseService
