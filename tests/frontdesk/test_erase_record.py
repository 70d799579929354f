"""A clinician erases a person's conversation from its record's page: a confirmation
page with the conversation, a typed confirmation and the form's token, then the same
erasure as `needlecheck erase --conversation` (privacy.erase with the tracker store's
erase_events), all or nothing, audited. The front desk role sees no button and gets 403."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from needlecheck.store import tracker_events
from needlecheck.store.models import AuditEntry, ContactRequest, HandoffRequest, Screening
from tests.frontdesk.conftest import csrf_from
from tests.frontdesk.in_process import desk_in_process
from tests.frontdesk.support import add_contact, add_handoff, add_screening, words


@pytest.fixture
def desk(tmp_path, monkeypatch):
    with desk_in_process(tmp_path, monkeypatch) as running:
        yield running


def person(desk, conversation: str) -> dict[str, int]:
    said = words()
    ids = {
        "screening": add_screening(
            desk.sessions, conversation, "clinician_review", transcript=said["transcript"]
        ),
        "contact": add_contact(desk.sessions, conversation, "Rosa Quint", "+44 20 7946 0555"),
        "handoff": add_handoff(desk.sessions, conversation),
    }
    desk.add_tracker_events(conversation)
    return ids


def kept(desk, conversation: str) -> int:
    with desk.sessions.begin() as session:
        return sum(
            len(session.execute(select(m.id).where(m.conversation_id == conversation)).all())
            for m in (Screening, ContactRequest, HandoffRequest)
        )


def erasures(desk) -> list[AuditEntry]:
    with desk.sessions.begin() as session:
        return list(
            session.execute(select(AuditEntry).where(AuditEntry.action == "erase")).scalars()
        )


def test_a_clinician_confirms_and_everything_goes(desk) -> None:
    ids = person(desk, "erase-me")
    other = person(desk, "keep-me")
    with desk.client("alice") as client:
        record = client.get(f"/screenings/{ids['screening']}").text
        assert f'href="/records/screening/{ids["screening"]}/erase"' in record
        contact_page = client.get(f"/contacts/{ids['contact']}").text
        assert f'href="/records/contact/{ids["contact"]}/erase"' in contact_page
        confirm = client.get(f"/records/contact/{ids['contact']}/erase")
        assert confirm.status_code == 200
        # The conversation and everything that goes with it, before anything goes.
        assert "I have diabetes, type 2" in confirm.text
        assert "Rosa Quint" in confirm.text and "erase-me" in confirm.text
        assert f"Screening #{ids['screening']}" in confirm.text
        assert f"Handoff request #{ids['handoff']}" in confirm.text
        token = csrf_from(confirm.text)
        erased = client.post(
            f"/records/contact/{ids['contact']}/erase",
            data={"confirm": "erase", "csrf_token": token},
        )
    assert erased.status_code == 200, erased.text
    assert "Erased" in erased.text and "1 screening" in erased.text
    assert kept(desk, "erase-me") == 0 and desk.tracker_events("erase-me") == 0
    assert kept(desk, "keep-me") == 3 and desk.tracker_events("keep-me") == 2
    assert other
    (entry,) = erasures(desk)
    assert (entry.staff_username, entry.record_type, entry.record_id) == (
        "alice",
        "contact",
        ids["contact"],
    )
    assert entry.detail.startswith("front desk: ") and "Rosa" not in entry.detail


def test_nothing_goes_without_the_typed_confirmation_or_the_forms_token(desk) -> None:
    ids = person(desk, "not-yet")
    path = f"/records/screening/{ids['screening']}/erase"
    with desk.client("alice") as client:
        token = csrf_from(client.get(path).text)
        unconfirmed = client.post(path, data={"confirm": "", "csrf_token": token})
        wrong_word = client.post(path, data={"confirm": "yes", "csrf_token": token})
        forged = client.post(path, data={"confirm": "ERASE", "csrf_token": "forged"})
        missing = client.post(
            "/records/screening/999999/erase", data={"confirm": "ERASE", "csrf_token": token}
        )
    assert unconfirmed.status_code == 422 and "Nothing was erased" in unconfirmed.text
    assert wrong_word.status_code == 422
    assert forged.status_code == 403
    assert missing.status_code == 404
    assert kept(desk, "not-yet") == 3 and desk.tracker_events("not-yet") == 2
    assert erasures(desk) == []


def test_the_front_desk_role_neither_sees_nor_uses_it(desk) -> None:
    ids = person(desk, "reception")
    path = f"/records/screening/{ids['screening']}/erase"
    with desk.client("bob") as client:
        record = client.get(f"/screenings/{ids['screening']}").text
        contact = client.get(f"/contacts/{ids['contact']}").text
        handoff = client.get(f"/handoffs/{ids['handoff']}").text
        token = csrf_from(record)
        shown = client.get(path)
        posted = client.post(path, data={"confirm": "ERASE", "csrf_token": token})
    assert "/erase" not in record + contact + handoff
    assert shown.status_code == 403 and posted.status_code == 403
    assert kept(desk, "reception") == 3 and desk.tracker_events("reception") == 2


@pytest.mark.parametrize(
    ("reason", "said"), [("timeout", "did not answer in time"), ("failed", "could not delete")]
)
def test_a_tracker_store_that_fails_leaves_everything_and_the_page_says_so(
    desk, monkeypatch, reason: str, said: str
) -> None:
    ids = person(desk, "stuck")

    def failing(conversations, **_):
        raise tracker_events.TrackerStoreNotErased("the store failed", reason=reason)

    monkeypatch.setattr(tracker_events, "erase_events", failing)
    path = f"/records/handoff/{ids['handoff']}/erase"
    with desk.client("alice") as client:
        token = csrf_from(client.get(path).text)
        answer = client.post(path, data={"confirm": "ERASE", "csrf_token": token})
    assert answer.status_code == 503
    assert "Nothing was erased" in answer.text and said in answer.text
    assert kept(desk, "stuck") == 3 and desk.tracker_events("stuck") == 2
    (entry,) = erasures(desk)
    assert entry.detail == f"not done: assistant {reason}; nothing erased"
