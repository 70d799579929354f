from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from functools import cache
from typing import Any

import pytest
import yaml
from rasa_sdk import Tracker

from needlecheck import runtime

ROOT = __import__("pathlib").Path(__file__).parents[2]
# "Today" for the actions' dates (NEEDLECHECK_TODAY), as the conversation tests fix it.
TODAY = date(2026, 11, 27)


@pytest.fixture(scope="session")
def domain() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "domain.yml").read_text("utf-8"))


def make_tracker(
    slots: dict[str, Any], requested_slot: str | None = None, active: bool = True
) -> Tracker:
    return Tracker(
        sender_id="test-conversation",
        slots={"requested_slot": requested_slot, **slots},
        latest_message={"intent": {"name": "inform"}, "entities": [], "text": "…"},
        events=[],
        paused=False,
        followup_action=None,
        active_loop={"name": "screening_form"} if active else {},
        latest_action_name="action_listen",
    )


@cache
def _extractor():
    from needlecheck.nlu.extractor import Extractor

    return Extractor()


def parse(text: str, intent: str = "inform", confidence: float = 0.9) -> dict[str, Any]:
    """A message as Rasa's NLU pipeline hands it on: the intent and, for typed text, the
    screening facts found by the real extractor as entities (needlecheck/nlu/component.py);
    a button's payload carries its own entities."""
    from needlecheck.nlu.component import _entities

    if text.startswith("/"):
        name, _, rest = text[1:].partition("{")
        values = json.loads("{" + rest) if rest else {}
        # As Rasa unpacks a payload: one entity per item of a list.
        entities = [
            {"entity": key, "value": item}
            for key, value in values.items()
            for item in (value if isinstance(value, list) else [value])
        ]
        return {"text": text, "intent": {"name": name, "confidence": 1.0}, "entities": entities}
    entities = _entities(_extractor().extract(text, TODAY))
    return {
        "text": text,
        "intent": {"name": intent, "confidence": confidence},
        "entities": entities,
    }


@pytest.fixture(autouse=True)
def no_database_in_the_repository(monkeypatch, tmp_path) -> Iterator[None]:
    """The questions record the overview's funnel steps (actions/funnel.py): a test that
    asks for no database writes them to a scratch one (or fails to, quietly), never to
    the repository's var/."""
    monkeypatch.setenv("NEEDLECHECK_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    runtime.services.cache_clear()
    yield
    runtime.services.cache_clear()


@pytest.fixture
def fresh_services(monkeypatch, tmp_path) -> Iterator[None]:
    """Runtime services rebuilt from this test's environment (a temporary SQLite file)."""
    monkeypatch.setenv("NEEDLECHECK_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("NEEDLECHECK_POLICY", raising=False)
    monkeypatch.setenv("NEEDLECHECK_TODAY", TODAY.isoformat())
    runtime.services.cache_clear()
    yield
    runtime.services.cache_clear()


def received(
    messages: list[dict[str, Any]],
    domain: dict[str, Any],
    slots: dict[str, Any] | None = None,
    clinic: Any = None,
) -> list[str]:
    """What the person reads: each message as the Rasa server renders it, with Rasa's own
    TemplatedNLG over domain.yml and the clinic's values (needlecheck/responses.py)."""
    from rasa.core.nlg.response import TemplatedNaturalLanguageGenerator as TemplatedNLG

    from needlecheck.config import Settings
    from needlecheck.responses import response_values

    nlg = TemplatedNLG(domain["responses"])
    values = response_values(clinic, Settings.from_environment({}))
    texts = []
    for message in messages:
        name = message.get("response")
        if not name:
            texts.append(str(message.get("text") or json.dumps(message.get("custom"))))
            continue
        kwargs = {k: v for k, v in message.items() if k != "response" and v not in (None, [], {})}
        kwargs.pop("text", None)
        rendered = nlg.generate_from_slots(name, {**values, **(slots or {})}, "rest", **kwargs)
        texts.append(str((rendered or {}).get("text") or ""))
    return texts
