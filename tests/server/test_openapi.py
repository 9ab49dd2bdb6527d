"""Schemathesis over the real server: every operation of /openapi.json, fed generated input
(valid and not), never answers 5xx, and every answer matches the documented status codes,
content types and schemas.

EVENTREG_OPENAPI_EXAMPLES sets the examples per operation (default 8, so the whole suite stays
quick; CI runs this file once more with 100). Each operation runs
against its own server and database, as the admin (so generated input reaches the rules, not
only the 401 gate).
"""

from __future__ import annotations

import os

import pytest

schemathesis = pytest.importorskip("schemathesis")  # not in the declared-floors CI run

from hypothesis import HealthCheck, settings  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from eventreg.config import load_settings  # noqa: E402
from eventreg.server.app import create_app  # noqa: E402

EXAMPLES = int(os.environ.get("EVENTREG_OPENAPI_EXAMPLES", "8"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]

# The document itself: building the app opens nothing (the pool opens at start-up).
schema = schemathesis.openapi.from_dict(create_app(load_settings(), "dbname=unused").openapi())


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_generated_requests_get_documented_answers_and_never_a_5xx(case, server, template):
    case.call_and_validate(base_url=server, headers={"Authorization": f"Bearer {template.tokens['admin']}"},
                           checks=CHECKS)  # fmt: skip
