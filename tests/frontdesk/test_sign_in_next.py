"""After signing in, staff land on the page they asked for, and only ever on a page of
this front desk: no open redirect, however the address is dressed up."""

from __future__ import annotations

import pytest

from needlecheck.frontdesk.redirects import safe_next
from tests.frontdesk.conftest import csrf_from
from tests.frontdesk.in_process import desk_in_process
from tests.frontdesk.support import PASSWORDS

LOCAL = [
    "/",
    "/screenings/12",
    "/?status=all&outcome=defer&page=3",
    "/?q=M%C3%BCller",
    "/audit?record_type=screening&record_id=4",
]
ELSEWHERE = [
    "//evil.example",
    "//evil.example/path",
    "https://evil.example",
    "http://evil.example/",
    "https:evil.example",
    "javascript:alert(1)",
    "/\\evil.example",
    "\\\\evil.example",
    "/\\/evil.example",
    "/%2F%2Fevil.example",
    "/%2fevil.example",
    "%2F%2Fevil.example",
    "/%5Cevil.example",
    "/%5cevil.example",
    "/%252F%252Fevil.example",  # encoded twice
    "/%25252F%25252Fevil.example",  # three times
    "/\t/evil.example",
    "/%09/evil.example",
    "/\n/evil.example",
    "/%0d%0a/evil.example",
    " //evil.example",
    "evil.example",
    "",
    "/login",
    "/logout",
    "/" + "a" * 3000,
    "/\u2215\u2215evil.example",  # division slashes
]


@pytest.mark.parametrize("target", LOCAL)
def test_a_local_page_is_kept(target: str) -> None:
    assert safe_next(target) == target


@pytest.mark.parametrize("target", ELSEWHERE)
def test_anything_that_could_leave_the_front_desk_goes_to_the_queue(target: str) -> None:
    assert safe_next(target) == "/"


@pytest.fixture
def desk(tmp_path, monkeypatch):
    with desk_in_process(tmp_path, monkeypatch) as running:
        yield running


def test_signing_in_from_a_page_lands_on_it(desk) -> None:
    with desk.client() as client:
        asked = client.get("/?status=all&outcome=defer", headers={"Accept": "text/html"})
        assert asked.status_code == 401
        assert 'name="next" value="/?status=all&amp;outcome=defer"' in asked.text
        signed_in = client.post(
            "/login",
            data={
                "username": "bob",
                "password": PASSWORDS["bob"],
                "csrf_token": csrf_from(asked.text),
                "next": "/?status=all&outcome=defer",
            },
            follow_redirects=False,
        )
    assert signed_in.status_code == 303
    assert signed_in.headers["location"] == "/?status=all&outcome=defer"


def test_a_wrong_password_keeps_the_page_asked_for(desk) -> None:
    with desk.client() as client:
        form = client.get("/login", params={"next": "/audit"})
        assert 'name="next" value="/audit"' in form.text
        wrong = client.post(
            "/login",
            data={
                "username": "bob",
                "password": "no",
                "csrf_token": csrf_from(form.text),
                "next": "/audit",
            },
        )
    assert wrong.status_code == 401 and 'name="next" value="/audit"' in wrong.text


def test_a_foreign_next_sends_the_member_to_the_queue(desk) -> None:
    landed = {}
    with desk.client() as client:
        for target in ELSEWHERE:
            form = client.get("/login", params={"next": target})
            assert 'name="next"' not in form.text, target
            signed_in = client.post(
                "/login",
                data={
                    "username": "bob",
                    "password": PASSWORDS["bob"],
                    "csrf_token": csrf_from(form.text),
                    "next": target,
                },
                follow_redirects=False,
            )
            assert signed_in.status_code == 303, target
            landed[target] = signed_in.headers["location"]
    assert set(landed.values()) == {"/"}, landed
