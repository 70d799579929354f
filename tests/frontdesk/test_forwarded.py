"""The front desk as `make run` starts it, with no proxy configured: a local client
cannot choose the address that sign-in throttling and the request budget count."""

from __future__ import annotations

from tests.frontdesk.conftest import sign_in
from tests.frontdesk.support import PASSWORDS

# `make run`'s default: no trusted proxy.
FRONTDESK_ENV = {"NEEDLECHECK_TRUSTED_PROXIES": None}


def test_without_a_configured_proxy_forwarded_headers_are_not_believed(frontdesk) -> None:
    with frontdesk.client() as client:
        page = client.get("/login", headers={"X-Forwarded-Proto": "https"})
    # A scheme named by the client is not believed either: no HSTS over plain HTTP.
    assert page.status_code == 200
    assert "strict-transport-security" not in page.headers


def test_a_forged_forwarded_address_does_not_escape_the_sign_in_lockout(frontdesk) -> None:
    with frontdesk.client() as client:
        for attempt in range(5):
            forged = {"X-Forwarded-For": f"203.0.113.{attempt + 1}"}
            assert sign_in(client, "nobody", "a wrong password!!", **forged).status_code == 401
        # This address is locked now, whatever it says it is: even a right password for
        # another user name waits.
        fresh = {"X-Forwarded-For": "198.51.100.200"}
        response = sign_in(client, "bob", PASSWORDS["bob"], **fresh)
    assert response.status_code == 429
    assert "Too many failed sign-ins" in response.text
