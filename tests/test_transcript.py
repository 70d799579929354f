"""The transcript and the words behind each fact, from a conversation's events."""

from __future__ import annotations

from needlecheck.transcript import evidence, transcript


def user(text: str, intent: str, *entities: str, at: float = 1795780000.0) -> dict:
    return {
        "event": "user",
        "text": text,
        "timestamp": at,
        "parse_data": {"intent": {"name": intent}, "entities": [{"entity": e} for e in entities]},
    }


def asked(fact: str | None) -> dict:
    return {"event": "slot", "name": "requested_slot", "value": fact}


EVENTS = [
    {"event": "action", "name": "action_listen"},
    user("hi", "greet"),
    {"event": "bot", "text": "Hello! May I ask some health questions?", "timestamp": 1795780001.0},
    user("/affirm", "affirm"),
    asked("age"),
    user("I'm 34, on tretinoin", "inform", "age", "topical_products"),
    asked("medications"),
    user("what is the downtime?", "faq_downtime"),
    user("no", "deny"),
    asked("recent_procedures"),
    user("botox", "inform", "recent_procedures"),
    user("three weeks ago", "inform", "time"),
    asked(None),
]


def test_the_transcript_has_both_speakers_in_order() -> None:
    lines = transcript(EVENTS)
    assert [line["speaker"] for line in lines[:3]] == ["person", "assistant", "person"]
    assert lines[0] == {"at": "2026-11-27T11:46:40+00:00", "speaker": "person", "text": "hi"}
    assert lines[2]["text"] == "[button: affirm]"
    assert len(lines) == 8


def test_each_fact_keeps_the_words_that_gave_it() -> None:
    found = evidence(EVENTS, ["age", "topical_products", "medications", "recent_procedures"])
    assert found["age"] == ["I'm 34, on tretinoin"]
    assert found["topical_products"] == ["I'm 34, on tretinoin"]
    # A question about downtime is not an answer to the medications question.
    assert found["medications"] == ["no"]
    assert found["recent_procedures"] == ["botox", "three weeks ago"]


def test_facts_not_asked_for_are_left_out() -> None:
    assert evidence(EVENTS, ["age"]) == {"age": ["I'm 34, on tretinoin"]}
