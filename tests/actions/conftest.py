from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from rasa_sdk import Tracker

from needlecheck import runtime

ROOT = __import__("pathlib").Path(__file__).parents[2]


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


@pytest.fixture
def fresh_services(monkeypatch, tmp_path) -> Iterator[None]:
    """Runtime services rebuilt from this test's environment (a temporary SQLite file)."""
    monkeypatch.setenv("NEEDLECHECK_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("NEEDLECHECK_POLICY", raising=False)
    runtime.services.cache_clear()
    yield
    runtime.services.cache_clear()
