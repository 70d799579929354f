"""Locust: whole screening conversations from tests/personas.yml, over the REST channel.

Run by `make load` (bench/load/run.py), which starts the assistant, picks the numbers of
concurrent conversations and checks the stored screenings afterwards. Each simulated
person starts a new conversation as soon as the last one ended (no think time), so the
numbers are the assistant's capacity, not a model of real people's pace.
"""

from __future__ import annotations

import itertools
import json
import os
import uuid
from pathlib import Path
from urllib.parse import urlparse

import yaml
from locust import FastHttpUser, constant, events, task

PERSONAS = yaml.safe_load((Path(__file__).parents[2] / "tests" / "personas.yml").read_text())[
    "personas"
]
LEDGER = os.environ.get("NEEDLECHECK_LOAD_LEDGER")
REST_TOKEN = os.environ.get("NEEDLECHECK_REST_TOKEN")
HEADERS = {"Authorization": f"Bearer {REST_TOKEN}"} if REST_TOKEN else {}
_next_persona = itertools.cycle(range(len(PERSONAS)))


@events.test_start.add_listener
def only_localhost(environment, **_) -> None:
    host = urlparse(environment.host or "").hostname
    if host not in ("127.0.0.1", "localhost"):
        raise SystemExit(f"the load test only targets localhost, not {host!r}")


class Person(FastHttpUser):
    wait_time = constant(0)

    @task
    def screening(self) -> None:
        persona = PERSONAS[next(_next_persona)]
        # The "." keeps it unlike a widget session's ID, which REST refuses.
        sender = f"load.{uuid.uuid4().hex[:16]}"
        for message in persona["messages"]:
            with self.client.post(
                "/webhooks/rest/webhook",
                json={"sender": sender, "message": message},
                headers=HEADERS,
                name="message",
                catch_response=True,
            ) as reply:
                if reply.status_code != 200:
                    reply.failure(f"HTTP {reply.status_code}")
                    return
                if not reply.json():
                    reply.failure("no reply")
                    return
        if LEDGER:
            # Finished conversations only: one cut off by the time limit is not counted.
            with open(LEDGER, "a") as ledger:
                ledger.write(
                    json.dumps(
                        {
                            "sender": sender,
                            "outcome": persona["outcome"],
                            "stored": persona["stored"],
                        }
                    )
                    + "\n"
                )
