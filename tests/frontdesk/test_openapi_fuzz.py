"""Schemathesis against the front desk's own OpenAPI description: generated requests to
every described endpoint, signed in as a clinician and anonymous, never get a server
error, and every answer matches what the description says of its status (the front desk
runs in its own process, as in production)."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from tests.frontdesk.support import add_contact, add_screening


@pytest.fixture(scope="module")
def api_schema(frontdesk):
    # Records for the generated IDs to find, some of them at least.
    for number in range(3):
        add_screening(frontdesk.sessions, f"fuzz-{number}", "clinician_review")
        add_contact(frontdesk.sessions, f"fuzz-{number}", f"Fuzz {number}", "+44 20 7946 0100")
    return schemathesis.openapi.from_url(f"{frontdesk.url}/openapi.json")


@pytest.fixture(scope="module")
def cookies(frontdesk) -> dict[str, str]:
    with frontdesk.client("alice") as client:
        return dict(client.cookies)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_generated_request_gets_a_server_error(case, frontdesk, cookies) -> None:
    for signed_in in (cookies, {}):
        response = case.call(base_url=frontdesk.url, cookies=signed_in)
        case.validate_response(response, checks=[not_a_server_error, response_schema_conformance])
