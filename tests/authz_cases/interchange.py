"""Matrix cases for the artifact import and export views (handlers/artifacts.py): editors import, members export.

The World's artifact is a `note`, which has no export format: members get 422 after the read check, so a
non-member still gets 404.
"""

from tests.authz_cases import Case, same

FEATURE = "Feature: Sign-in\n  Scenario: Valid password {serial}\n    When she signs in\n    Then the dashboard opens\n"

CASES = [
    Case("POST", "/api/v1/projects/{id}/artifacts/import", "/api/v1/projects/{project_id}/artifacts/import",
         body={"content": FEATURE, "filename": "signin.feature"}, expect=same(201, nonmember=404, viewer=403)),
    Case("GET", "/api/v1/artifacts/{id}/export", "/api/v1/artifacts/{artifact_id}/export?format=csv",
         expect=same(422, nonmember=404)),
]
