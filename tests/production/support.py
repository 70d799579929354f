"""Talking to a running assistant the way a channel does, for the production tests and
the load test: personas from tests/personas.yml, the REST channel, the tracker API."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import yaml

PERSONAS_FILE = Path(__file__).parents[1] / "personas.yml"
# The production profile's REST channel is on only behind a token.
REST_TOKEN = "production-test-rest-token"


@dataclass(frozen=True)
class Persona:
    name: str
    outcome: str
    stored: int
    messages: tuple[str, ...]


def personas() -> list[Persona]:
    data = yaml.safe_load(PERSONAS_FILE.read_text())
    return [
        Persona(p["name"], p["outcome"], int(p["stored"]), tuple(str(m) for m in p["messages"]))
        for p in data["personas"]
    ]


def persona(name: str) -> Persona:
    return next(p for p in personas() if p.name == name)


def say(port: int, sender: str, message: str, timeout: float = 60) -> list[str]:
    """One message through the REST channel; the replies' texts."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/webhooks/rest/webhook",
        data=json.dumps({"sender": sender, "message": message}).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {REST_TOKEN}"},
    )
    with urllib.request.urlopen(request, timeout=timeout) as reply:
        return [item.get("text", "") for item in json.load(reply)]


def get_json(url: str, timeout: float = 10) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as reply:
            return reply.status, json.load(reply)
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def tracker_events(port: int, token: str, sender: str) -> list[dict]:
    status, body = get_json(f"http://127.0.0.1:{port}/conversations/{sender}/tracker?token={token}")
    assert status == 200, body
    return body["events"]
