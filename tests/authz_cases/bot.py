"""Matrix cases for handlers/bot.py: editors and owners start work; viewers may only read."""

from tests.authz_cases import Case, same

START = {"project_id": "{project_id}"}

CASES = [
    Case("POST", "/api/v1/bot/coverage", "/api/v1/bot/coverage", body=START,
         expect=same(202, nonmember=404, viewer=403)),
    Case("POST", "/api/v1/bot/coverage/sync", "/api/v1/bot/coverage/sync", body=START,
         expect=same(200, nonmember=404, viewer=403)),
    Case("GET", "/api/v1/bot/coverage/{task_id}", "/api/v1/bot/coverage/{task_id}",
         expect=same(200, nonmember=404)),
    Case("POST", "/api/v1/bot/test-cases", "/api/v1/bot/test-cases", body=START,
         expect=same(202, nonmember=404, viewer=403)),
]
