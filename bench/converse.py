"""`make converse` (`python -m bench.converse`): whole conversations composed from the
held-out corpus (tests/language/), held with the running assistant and checked against the
screening engine's result over the corpus's labels.

Each conversation is a simulated person with a consistent story:

- an opening: a `screening` opening (its labelled facts count as given) or a greeting;
  then the consent question, the form's first, answered from `consent.yml`: "yes" in
  varied words (some with a question or a fact in them), sometimes after an unclear reply;
- each turn the tracker says which question is open (`requested_slot`) and whether an
  answer is being checked (`pending_check`); the person answers it with an example from
  `answers/<question>.yml`, sometimes first asking something else (a `why`, `faq_*` or
  `clinic_*` interjection, after which the same question must still be open) or giving an
  answer labelled `unclear` (after which, too, the same question must still be open);
- an answer is never picked when its labels contradict what the person already said (a
  different age, a different status of a course or pregnancy, another date for the same
  course or procedure, "none" for a list already holding items); list facts add up;
  red flags are named only in a few conversations, so that most reach the end;
- a question asked again after an answer the assistant did not take gets the same
  answer in other words (the same labelled value), or the same sentence again when the
  corpus has no other; a date asked for a course or procedure the person never named
  is answered, but its labels do not join the story (the assistant misread earlier);
- the offer of the questions is answered "yes" in varied words; when no
  question is open and none is offered (another form took over, say), the person asks
  for the questions again, in different words each time;
- a check is answered truthfully: "yes" to "Earlier you said none, but you mentioned X"
  when X is in the person's story ("no" when it is not: the assistant misread), and
  "neither" to "is that a blood thinner...?" (the corpus's unknown medicines are neither).

The expected result is `assess(labelled facts, 2026-12-01)`, never what the assistant
read. A conversation is right when the assistant's stored outcome and its set of rule IDs
(every rule, `prepare` and `note` ones included: actions/assessment.py stores all of
them in `screening_rules`) equal the expected ones, and every interjection and unclear
answer left the question open. It is stranded when there is no result after
`MAX_TURNS` person turns (or after the questions could not be got back), and loops when one assistant sentence comes in the replies to
`LOOP_REPEATS` consecutive person turns. "wrong" counts every conversation that is not
right, stranded and looping ones included.

Without --url it starts its own Rasa server and action server on free ports (a fresh
SQLite database in a temporary NEEDLECHECK_VAR_DIR, NEEDLECHECK_TODAY=2026-12-01, generous
rate limits) and stops them afterwards. Failures go to var/converse/failures.jsonl with
the whole transcript. Exit status 1 when a floor is missed (100 % right, none stranded,
no loops).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Protocol

from needlecheck.nlu.heldout import CORPUS_TODAY, Example, load_corpus
from needlecheck.nlu.parts import asked_as
from needlecheck.screening import FactError, assess, load_policy, validate_facts
from needlecheck.screening.facts import COURSE_FACTS, DATE_FOLLOW_UPS, FACT_NAMES, PROCEDURE_FACT

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "models" / "needlecheck.tar.gz"
FAILURES = ROOT / "var" / "converse" / "failures.jsonl"
TODAY: date = CORPUS_TODAY

MAX_TURNS = 60
LOOP_REPEATS = 3
# Chances, per question asked, of an interjection first and of an unclear answer.
P_INTERJECTION = 0.15
P_UNCLEAR = 0.07
# Chance that a conversation's answer to the red-flag question names one.
P_RED_FLAG = 0.03
# Chance of a greeting (no facts) rather than a `screening` opening.
P_GREETING = 0.3
# At most this many interjections and unclear answers while one question is open, so the
# assistant's "three unclear answers: a person" step is not what is being measured.
INTERJECTIONS_PER_QUESTION = 1
UNCLEAR_PER_QUESTION = 1
# Turns in a row with no question open (consent, or asking for the questions again)
# before the conversation counts as stranded.
IDLE_TURNS = 6

CONSENT_WORDS = (
    "yes",
    "ok go ahead",
    "sure",
    "yes that's fine",
    "yep",
    "ok",
    "yes please",
    "go ahead",
)
CONFIRM_WORDS = ("yes", "yes that's right", "yep")
DENY_WORDS = ("no", "no I don't")
NEITHER_WORDS = ("neither",)
# Sent when the questions stopped with no result and the corpus has no fact-free opening.
RESUME_WORDS = "am I a candidate for microneedling?"

SCREENING_FORM = "screening_form"
# The form's first question; its replies come from tests/language/consent.yml.
CONSENT_QUESTION = "health_data_consent"
# Unclear replies to it that end the questions: not sent.
CONSENT_ENDS = ("handoff",)
# The offer of the questions after an answer: taken with a "yes".
OFFERS = ("utter_offer_screening",)
ASSESS_ACTION = "action_assess_screening"
INTERJECTION_ROUTES = ("why",)
INTERJECTION_PREFIXES = ("faq_", "clinic_")
INCOMPLETE = "incomplete"
FLOORS = {"right": 1.0, "stranded": 0, "loops": 0}


# --- the corpus, as a person draws on it --------------------------------------------------


def _is_interjection(example: Example) -> bool:
    return example.route in INTERJECTION_ROUTES or example.route.startswith(INTERJECTION_PREFIXES)


@dataclass
class Corpus:
    """The held-out examples sorted into what a simulated person can send."""

    answers: dict[str, list[Example]]
    unclear: dict[str, list[Example]]
    openings: list[Example]
    greetings: list[Example]
    interjections: list[Example]
    # `screening` openings that state no fact: what a person says to get the questions back.
    resumes: list[Example] = field(default_factory=list)

    @classmethod
    def load(cls, examples: Iterable[Example] | None = None) -> Corpus:
        examples = list(load_corpus() if examples is None else examples)
        answers: dict[str, list[Example]] = {}
        unclear: dict[str, list[Example]] = {}
        for e in examples:
            if e.kind == "reply" and e.question == "consent":
                # The form's first question: "yes" in varied words, or an unclear reply
                # that keeps it open (not one that asks for a person instead).
                if e.route == "consent_yes":
                    answers.setdefault(CONSENT_QUESTION, []).append(e)
                elif e.route == "unclear" and e.asks not in CONSENT_ENDS:
                    unclear.setdefault(CONSENT_QUESTION, []).append(e)
                continue
            if e.kind != "answer":
                continue
            target = unclear if e.route == "unclear" else answers
            target.setdefault(e.question or "", []).append(e)
        return cls(
            answers=answers,
            unclear=unclear,
            openings=[e for e in examples if e.kind == "opening" and e.route == "screening"],
            greetings=[e for e in examples if e.kind == "opening" and e.route == "greet"],
            # Mid-question interjections, and openings that ask the same kinds of thing.
            interjections=[
                e for e in examples if e.kind in ("interjection", "opening") and _is_interjection(e)
            ],
            resumes=[
                e
                for e in examples
                if e.kind == "opening" and e.route == "screening" and not e.facts
            ],
        )


def names_red_flag(example: Example) -> bool:
    return bool(example.facts.get("red_flags"))


# --- the person's story: expected facts ---------------------------------------------------


def _item_key(fact: str, item: Any) -> Any:
    if fact == PROCEDURE_FACT:
        return item.get("type") if isinstance(item, Mapping) else item
    return json.dumps(item, sort_keys=True) if isinstance(item, (dict, list)) else item


def conflict(expected: Mapping[str, Any], facts: Mapping[str, Any], asked: str | None) -> str:
    """Why `facts` (an example's labels) cannot join the person's story; "" when they can.

    A course's status may only go from an undated `past` to `current`, and only at its own
    date question ("when was your last dose?" "still on it"): that is what it offers.
    """
    for name, value in facts.items():
        if name not in expected:
            continue
        before = expected[name]
        if name in COURSE_FACTS:
            field_name = COURSE_FACTS[name]
            status, was = value.get("status"), before.get("status")
            if status != was:
                follow_up = DATE_FOLLOW_UPS.get(asked or "") == name
                undated = not before.get(field_name)
                if not (follow_up and undated and was == "past" and status == "current"):
                    return f"{name}: {was} then {status}"
            elif (
                before.get(field_name)
                and value.get(field_name, before[field_name]) != before[field_name]
            ):
                return f"{name}: {before[field_name]} then {value[field_name]}"
        elif name == PROCEDURE_FACT:
            dated = {p["type"]: p.get("date") for p in before}
            for item in value:
                was = dated.get(item["type"])
                if was and item.get("date") and was != item["date"]:
                    return f"{name}: {item['type']} on {was} then {item['date']}"
        elif isinstance(before, list):
            # The labels never remove an item; an empty list for another question's fact
            # would be a "no" to something already named.
            if value == [] and before and name != asked:
                return f"{name}: {before} then none"
        elif value != before:
            return f"{name}: {before} then {value}"
    return ""


_ONLY = re.compile(r"\b(?:only|just)\b")


def narrows_area(story: Mapping[str, Any], example: Example, asked: str | None) -> bool:
    """ "melanoma on my leg years ago but I only want my face done" is labelled for a person
    who wants only the face treated: it does not fit a story with other areas (the leg
    may be in the area then, and the assistant rightly asks about it)."""
    areas = example.facts.get("treatment_area")
    if not areas or asked == "treatment_area" or not _ONLY.search(example.text.lower()):
        return False
    return bool(set(story.get("treatment_area") or []) - set(areas))


def merge(expected: Mapping[str, Any], facts: Mapping[str, Any]) -> dict[str, Any]:
    """The person's story with an example's labels added (they must not conflict)."""
    story = {name: _copy(value) for name, value in expected.items()}
    for name, value in facts.items():
        before = story.get(name)
        if name in COURSE_FACTS:
            field_name = COURSE_FACTS[name]
            if before and before.get("status") == value.get("status") == "past":
                story[name] = {**before, **{k: v for k, v in value.items() if v is not None}}
            else:
                story[name] = dict(value)
            if story[name].get(field_name) is None:
                story[name].pop(field_name, None)
        elif name == PROCEDURE_FACT:
            items = list(before or [])
            for item in value:
                item = {k: v for k, v in item.items() if v is not None}
                same = [i for i, p in enumerate(items) if p["type"] == item["type"]]
                if not same:
                    items.append(item)
                elif item.get("date"):
                    items[same[0]] = item
            story[name] = items
        elif isinstance(value, list):
            items = list(before or [])
            keys = {_item_key(name, i) for i in items}
            items.extend(v for v in value if _item_key(name, v) not in keys)
            story[name] = items
        else:
            story[name] = value
    return story


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def undated_procedures(procedures: Any, unknown: Iterable[str] = ()) -> list[str]:
    """Procedure types with no date that the person has not said they don't know."""
    skipped = set(unknown or ())
    return [
        p["type"]
        for p in procedures or []
        if isinstance(p, Mapping)
        and p.get("type")
        and not p.get("date")
        and f"{PROCEDURE_FACT}.{p['type']}" not in skipped
    ]


def own_answer(example: Example, asked: str) -> str | None:
    """What an answer says to its own question, comparable across answers (None when its
    labels do not say)."""
    fact = DATE_FOLLOW_UPS.get(asked, asked)
    if example.route == "check_medicine":
        return "[]"
    if fact not in example.facts:
        return None
    value = example.facts[fact]
    if isinstance(value, list):
        return json.dumps(sorted(json.dumps(v, sort_keys=True) for v in value))
    return json.dumps(value, sort_keys=True)


def normalised(facts: Mapping[str, Any]) -> dict[str, Any]:
    """Facts as the engine's validator returns them (dates as ISO strings)."""
    return validate_facts(dict(facts)).to_json()


@dataclass(frozen=True)
class Result:
    outcome: str
    rules: frozenset[str]


def expected_result(facts: Mapping[str, Any], policy: Any = None) -> Result:
    assessment = assess(dict(facts), TODAY, policy)
    return Result(assessment.outcome or INCOMPLETE, frozenset(assessment.rules))


def fact_differences(expected: Mapping[str, Any], got: Mapping[str, Any]) -> list[str]:
    """What the assistant recorded differently, one line per fact ("conditions: missing
    diabetes"), for the failure report."""
    try:
        want = normalised(expected)
    except FactError as error:
        return [f"(the expected facts are invalid: {error})"]
    have = {k: v for k, v in got.items() if k in FACT_NAMES and v is not None}
    lines = []
    for name in FACT_NAMES:
        a, b = want.get(name), have.get(name)
        if a == b:
            continue
        if a is None:
            lines.append(f"{name}: not given, recorded {b}")
        elif b is None:
            lines.append(f"{name}: {a} not recorded")
        elif isinstance(a, list) and isinstance(b, list):
            if name == PROCEDURE_FACT:
                wa = {p["type"]: p.get("date") for p in a}
                hb = {p.get("type"): p.get("date") for p in b if isinstance(p, Mapping)}
                for t in wa.keys() - hb.keys():
                    lines.append(f"{name}: missing {t}")
                for t in hb.keys() - wa.keys():
                    lines.append(f"{name}: extra {t}")
                for t in wa.keys() & hb.keys():
                    if wa[t] != hb[t]:
                        lines.append(f"{name}: {t} dated {hb[t]}, expected {wa[t]}")
            else:
                sa, sb = set(map(str, a)), set(map(str, b))
                for item in sorted(sa - sb):
                    lines.append(f"{name}: missing {item}")
                for item in sorted(sb - sa):
                    lines.append(f"{name}: extra {item}")
        else:
            lines.append(f"{name}: expected {a}, recorded {b}")
    return lines


def difference_kind(line: str) -> str:
    """A difference without its values: "conditions: missing diabetes" -> "conditions: missing"."""
    name, _, rest = line.partition(": ")
    for word in ("missing", "extra", "not given", "not recorded", "dated", "expected"):
        if rest.startswith(word) or f" {word}" in rest:
            return f"{name}: {word}"
    return line


# --- talking to the assistant ---------------------------------------------------------------


class Assistant(Protocol):
    def say(self, sender: str, text: str) -> list[dict[str, Any]]: ...

    def tracker(self, sender: str) -> dict[str, Any]: ...


class RestAssistant:
    """The REST channel and Rasa's HTTP API. With `addresses`, each sender's requests carry
    an X-Forwarded-For address of its own (as if each person were on their own network),
    so that one machine's conversations do not share one address's rate budget; the
    server believes it only from a trusted proxy (loopback by default)."""

    def __init__(self, url: str, token: str | None, *, addresses: bool = False) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self.addresses = addresses
        self._too_fast: str | None = None

    def _headers(self, sender: str) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        if self.addresses:
            n = zlib.crc32(sender.encode())
            headers["X-Forwarded-For"] = f"198.18.{(n >> 8) % 256}.{n % 254 + 1}"
        return headers

    def _open(self, request: urllib.request.Request) -> Any:
        for attempt in range(8):
            try:
                with urllib.request.urlopen(request, timeout=120) as response:
                    return json.load(response)
            except urllib.error.HTTPError as error:
                if error.code != 429 or attempt == 7:
                    raise
                time.sleep(min(10.0, float(error.headers.get("Retry-After") or 1)))
        raise AssertionError("unreachable")

    def say(self, sender: str, text: str) -> list[dict[str, Any]]:
        body = json.dumps({"sender": sender, "message": text}).encode()
        for _ in range(5):
            request = urllib.request.Request(
                f"{self.url}/webhooks/rest/webhook", data=body, headers=self._headers(sender)
            )
            replies = self._open(request)
            if not (len(replies) == 1 and replies[0].get("text") == self.too_fast()):
                return replies
            time.sleep(2)
        return replies

    def tracker(self, sender: str) -> dict[str, Any]:
        query = f"?token={urllib.parse.quote(self.token)}" if self.token else ""
        request = urllib.request.Request(
            f"{self.url}/conversations/{urllib.parse.quote(sender, safe='')}/tracker{query}",
            headers=self._headers(sender),
        )
        return self._open(request)

    def too_fast(self) -> str:
        if self._too_fast is None:
            try:
                from needlecheck.text import polite

                self._too_fast = polite("too_fast")
            except Exception:  # only a refinement of the retry
                self._too_fast = "\0"
        return self._too_fast


# --- one conversation ---------------------------------------------------------------------


@dataclass
class Turn:
    person: str
    kind: str  # opening, consent, answer, unclear, interjection, check, resume
    asked: str | None
    assistant: list[str]
    source: str = ""
    route: str = ""
    facts: dict[str, Any] = field(default_factory=dict)


@dataclass
class Conversation:
    sender: str
    right: bool = False
    stranded: bool = False
    loop: bool = False
    turns: int = 0
    expected_facts: dict[str, Any] = field(default_factory=dict)
    tracker_facts: dict[str, Any] = field(default_factory=dict)
    expected: dict[str, Any] = field(default_factory=dict)
    got: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    differences: list[str] = field(default_factory=list)
    transcript: list[Turn] = field(default_factory=list)
    error: str = ""

    def kinds(self) -> list[str]:
        """Short names of what went wrong, for counting across conversations."""
        kinds = [p.split(":")[0] for p in self.problems]
        if self.stranded:
            kinds.append("stranded")
        if self.loop:
            kinds.append("loop")
        if self.error:
            kinds.append("error")
        kinds += [difference_kind(d) for d in self.differences]
        if not kinds and not self.right:
            kinds.append("result differs with the same facts")
        return list(dict.fromkeys(kinds))

    def record(self) -> dict[str, Any]:
        data = asdict(self)
        data["kinds"] = self.kinds()
        return data


def _slots(tracker: Mapping[str, Any]) -> dict[str, Any]:
    return dict(tracker.get("slots") or {})


def _form_active(tracker: Mapping[str, Any]) -> bool:
    return (tracker.get("active_loop") or {}).get("name") == SCREENING_FORM


def _assessments(tracker: Mapping[str, Any]) -> int:
    return sum(
        1
        for e in tracker.get("events") or ()
        if e.get("event") == "action" and e.get("name") == ASSESS_ACTION
    )


def _offers_questions(tracker: Mapping[str, Any]) -> bool:
    """Whether the assistant's latest reply asks for consent or offers the questions."""
    for event in reversed(tracker.get("events") or ()):
        kind = event.get("event")
        if kind == "user":
            return False
        if kind == "action" and event.get("name") in OFFERS:
            return True
        if kind == "bot" and (event.get("metadata") or {}).get("utter_action") in OFFERS:
            return True
    return False


def _asked(tracker: Mapping[str, Any]) -> str | None:
    return _slots(tracker).get("requested_slot") if _form_active(tracker) else None


def has_loop(replies: Sequence[Sequence[str]], repeats: int = LOOP_REPEATS) -> str:
    """A sentence that comes in the replies to `repeats` consecutive person turns ("" if none)."""
    for i in range(len(replies) - repeats + 1):
        common = set(replies[i]) - {""}
        for reply in replies[i + 1 : i + repeats]:
            common &= set(reply)
        if common:
            return sorted(common)[0]
    return ""


class Person:
    """One simulated person holding one conversation."""

    def __init__(
        self,
        corpus: Corpus,
        assistant: Assistant,
        sender: str,
        rng: random.Random,
        policy: Any = None,
    ) -> None:
        self.corpus = corpus
        self.assistant = assistant
        self.rng = rng
        self.policy = policy
        self.story: dict[str, Any] = {}
        self.names_red_flag = rng.random() < P_RED_FLAG
        self.result = Conversation(sender)
        self.tracker: dict[str, Any] = {}
        self.interjections: Counter[str] = Counter()
        self.unclear: Counter[str] = Counter()
        # The last answer given to each question (and procedure, for its date).
        self.said: dict[tuple[str, str], Example] = {}

    # -- sending

    def send(self, text: str, kind: str, asked: str | None, example: Example | None = None) -> None:
        replies = self.assistant.say(self.result.sender, text)
        self.result.turns += 1
        self.result.transcript.append(
            Turn(
                person=text,
                kind=kind,
                asked=asked,
                assistant=[str(r.get("text") or "") for r in replies if r.get("text")],
                source=example.source if example else "",
                route=example.route if example else "",
                facts=dict(example.facts) if example else {},
            )
        )
        self.tracker = self.assistant.tracker(self.result.sender)

    def tell(
        self, example: Example, kind: str, asked: str | None, *, believed: bool = True
    ) -> None:
        """Send an example; its labels join the story unless the question was off-script."""
        facts = dict(example.facts)
        if example.route == "check_medicine":
            # The corpus's unknown medicines are neither kind: "no listed medicine".
            facts.setdefault("medications", [])
        if believed:
            self.story = merge(self.story, facts)
        self.send(example.text, kind, asked, example)

    # -- choosing

    def pick(self, candidates: Iterable[Example], asked: str | None) -> Example | None:
        usable = [
            e
            for e in candidates
            if not conflict(self.story, e.facts, asked) and not narrows_area(self.story, e, asked)
        ]
        return self.rng.choice(usable) if usable else None

    def answer_for(self, asked: str) -> tuple[Example | None, bool, tuple[str, str]]:
        """An answer to `asked`; whether it belongs to the story (False when the assistant
        asks for the date of something the person never said); and what it answers (the
        question, and the procedure whose date is asked)."""
        pool = self.corpus.answers.get(asked, [])
        if asked == "red_flags":
            pool = [e for e in pool if names_red_flag(e) == self.names_red_flag]
        else:
            pool = [e for e in pool if not names_red_flag(e)]
        believed = True
        procedure = ""
        fact = DATE_FOLLOW_UPS.get(asked)
        if fact == PROCEDURE_FACT:
            slots = _slots(self.tracker)
            pending = undated_procedures(slots.get(PROCEDURE_FACT), slots.get("dates_unknown"))
            procedure = pending[0] if pending else ""
            pool = [e for e in pool if e.procedure == procedure]
            believed = procedure in {p["type"] for p in self.story.get(PROCEDURE_FACT, [])}
        elif fact is not None:
            believed = fact in self.story
        # A question asked in parts (the conditions) is answered part by part: each part
        # is its own question to the person.
        key = (asked_as(asked, _slots(self.tracker).get("answered_facts")), procedure)
        if not believed:
            return (self.rng.choice(pool) if pool else None), False, key
        before = self.said.get(key)
        if before is not None and own_answer(before, asked) is not None:
            # Asked again: the same answer in other words, never a different one.
            pool = [e for e in pool if own_answer(e, asked) == own_answer(before, asked)]
        return self.pick(pool, asked), True, key

    def interjection_for(self, asked: str) -> Example | None:
        # A "why" is about its own question; questions about microneedling fit anywhere.
        pool = [
            e for e in self.corpus.interjections if e.route != "why" or e.question in (asked, None)
        ]
        pool = [e for e in pool if not names_red_flag(e)]
        return self.pick(pool, asked)

    # -- the conversation

    def run(self) -> Conversation:
        result = self.result
        try:
            self._converse()
        except Exception as error:  # one broken conversation is reported
            result.error = f"{error.__class__.__name__}: {error}"
        self._judge()
        return result

    def _converse(self) -> None:
        rng = self.rng
        if rng.random() < P_GREETING or not self.corpus.openings:
            opening = rng.choice(self.corpus.greetings)
        else:
            opening = self.pick(self.corpus.openings, None) or rng.choice(self.corpus.greetings)
        self.tell(opening, "opening", None)
        idle = 0
        started = False
        while self.result.turns < MAX_TURNS and not _assessments(self.tracker):
            asked = _asked(self.tracker)
            if asked:
                started, idle = True, 0
                self._turn(asked)
                continue
            idle += 1
            if idle > IDLE_TURNS:
                break
            if _offers_questions(self.tracker):
                # "May I ask you some health questions...?" / "Shall I check whether...?"
                self.send(rng.choice(CONSENT_WORDS), "consent", None)
                continue
            # No question open, none offered, no result: ask for the questions (again),
            # in different words each time, as a person would.
            if not any(p.startswith("questions") for p in self.result.problems):
                self.result.problems.append(
                    "questions stopped: no question open, no result"
                    if started
                    else "questions not started: neither asked nor offered"
                )
            sent = {turn.person for turn in self.result.transcript}
            fresh = [e for e in self.corpus.resumes if e.text not in sent]
            resume = self.pick(fresh or self.corpus.resumes, None)
            self.send(resume.text if resume else RESUME_WORDS, "resume", None, resume)
        if not _assessments(self.tracker):
            self.result.stranded = True

    def _turn(self, asked: str) -> None:
        rng = self.rng
        check = _slots(self.tracker).get("pending_check")
        if isinstance(check, Mapping) and check.get("fact") == asked:
            self._answer_check(asked, check)
            return
        part = asked_as(asked, _slots(self.tracker).get("answered_facts"))
        draw = rng.random()
        interject = draw < P_INTERJECTION
        unclear = P_INTERJECTION <= draw < P_INTERJECTION + P_UNCLEAR
        if interject and self.interjections[part] < INTERJECTIONS_PER_QUESTION:
            self.interjections[part] += 1
            example = self.interjection_for(asked)
            if example is not None:
                self.tell(example, "interjection", asked)
                # One that also states the asked fact ("I'm 38, how long is the
                # downtime?") may answer the question as well.
                if DATE_FOLLOW_UPS.get(asked, asked) not in example.facts:
                    self._still_open(asked, f"interjection ({example.route})")
                return
        if unclear and self.unclear[part] < UNCLEAR_PER_QUESTION and self.corpus.unclear.get(asked):
            self.unclear[part] += 1
            example = rng.choice(self.corpus.unclear[asked])
            self.tell(example, "unclear", asked)
            self._still_open(asked, "unclear answer")
            return
        example, believed, key = self.answer_for(asked)
        if example is None:
            # Asked again after an answer it did not take, with no other answer in the
            # corpus that says the same: the person repeats it.
            example = self.said.get(key)
            if example is None:
                raise RuntimeError(f"no answer in the corpus fits the story at {asked}")
        self.said[key] = example
        if not believed:
            about = f" ({example.procedure})" if example.procedure else ""
            self.result.problems.append(f"asked about something never said: {asked}{about}")
        self.tell(example, "answer", asked, believed=believed)

    def _answer_check(self, asked: str, check: Mapping[str, Any]) -> None:
        if check.get("kind") == "medicine":
            self.story = merge(self.story, {"medications": []})
            self.send(self.rng.choice(NEITHER_WORDS), "check", asked)
            return
        value = check.get("value")
        told = {_item_key(asked, item) for item in self.story.get(asked) or []}
        if value in told:
            self.send(self.rng.choice(CONFIRM_WORDS), "check", asked)
        else:
            self.result.problems.append(f"checked something never said: {asked} {value}")
            self.send(self.rng.choice(DENY_WORDS), "check", asked)

    def _still_open(self, asked: str, what: str) -> None:
        now = _asked(self.tracker)
        check = _slots(self.tracker).get("pending_check")
        if _assessments(self.tracker):
            self.result.problems.append(f"{what} ended the questions: at {asked}")
        elif isinstance(check, Mapping) and check.get("fact") == now:
            # The interjection named something that contradicts an earlier answer ("I use
            # retinol every night, when can I go back on it?"): the assistant checks it
            # first, then comes back to the question.
            return
        elif now != asked:
            self.result.problems.append(f"{what} moved the question: {asked} -> {now}")

    def _judge(self) -> None:
        result = self.result
        slots = _slots(self.tracker)
        result.expected_facts = self.story
        result.tracker_facts = {k: v for k, v in slots.items() if k in FACT_NAMES and v is not None}
        try:
            want = expected_result(self.story, self.policy)
        except FactError as error:
            result.error = result.error or f"the story's facts are invalid: {error}"
            want = Result("(invalid)", frozenset())
        result.expected = {"outcome": want.outcome, "rules": sorted(want.rules)}
        if _assessments(self.tracker):
            got = Result(
                slots.get("screening_outcome") or INCOMPLETE,
                frozenset(slots.get("screening_rules") or ()),
            )
            result.got = {"outcome": got.outcome, "rules": sorted(got.rules)}
        else:
            got = None
            result.got = {"outcome": None, "rules": []}
        replies = [turn.assistant for turn in result.transcript]
        repeated = has_loop(replies)
        if repeated:
            result.loop = True
            result.problems.append(f"loop: {repeated[:80]!r}")
        result.differences = fact_differences(self.story, result.tracker_facts)
        result.right = (
            got is not None
            and got == want
            and not result.problems
            and not result.error
            and not result.stranded
        )


# --- many conversations ---------------------------------------------------------------------


@dataclass
class Summary:
    conversations: list[Conversation]

    @property
    def right(self) -> int:
        return sum(c.right for c in self.conversations)

    @property
    def wrong(self) -> int:
        return len(self.conversations) - self.right

    @property
    def stranded(self) -> int:
        return sum(c.stranded for c in self.conversations)

    @property
    def loops(self) -> int:
        return sum(c.loop for c in self.conversations)

    def turns(self) -> tuple[float, int]:
        counts = sorted(c.turns for c in self.conversations) or [0]
        p95 = counts[min(len(counts) - 1, max(0, -(-95 * len(counts) // 100) - 1))]
        return statistics.median(counts), p95

    def table(self) -> str:
        median, p95 = self.turns()
        return "\n".join(
            [
                "| conversations | right | wrong | stranded | loops | median turns | p95 turns |",
                "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
                f"| {len(self.conversations)} | {self.right} | {self.wrong} | {self.stranded} "
                f"| {self.loops} | {median:g} | {p95} |",
            ]
        )

    def kinds(self, top: int = 10) -> list[tuple[str, int]]:
        counts: Counter[str] = Counter()
        for c in self.conversations:
            if not c.right:
                counts.update(c.kinds())
        return counts.most_common(top)

    def below_floors(self) -> list[str]:
        n = len(self.conversations)
        problems = []
        if n and self.right / n < FLOORS["right"]:
            problems.append(f"right {self.right}/{n}")
        if self.stranded > FLOORS["stranded"]:
            problems.append(f"stranded {self.stranded}")
        if self.loops > FLOORS["loops"]:
            problems.append(f"loops {self.loops}")
        return problems

    def write_failures(self, path: Path) -> int:
        path.parent.mkdir(parents=True, exist_ok=True)
        failed = [c for c in self.conversations if not c.right]
        with path.open("w", encoding="utf-8") as out:
            for c in failed:
                out.write(json.dumps(c.record(), ensure_ascii=False, default=str) + "\n")
        return len(failed)

    def report(self) -> str:
        lines = [self.table()]
        kinds = self.kinds()
        if kinds:
            lines += ["", "Most common in the wrong conversations:"]
            lines += [f"  {n:5d}  {kind}" for kind, n in kinds]
        return "\n".join(lines)


def simulate(
    assistant: Assistant,
    conversations: int,
    seed: int,
    *,
    workers: int = 6,
    corpus: Corpus | None = None,
    policy: Any = None,
    prefix: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Summary:
    """Hold `conversations` conversations, `workers` at a time. Each one's choices come
    from its own generator seeded with (seed, index), so a seed gives the same people."""
    corpus = corpus or Corpus.load()
    prefix = prefix or f"converse-{seed}-{secrets.token_hex(3)}"
    done = 0
    lock = threading.Lock()

    def one(index: int) -> Conversation:
        nonlocal done
        rng = random.Random(f"{seed}:{index}")
        # The "." keeps a long sender unlike a widget session's ID, which the REST channel
        # refuses (needlecheck.channels.rest).
        conversation = Person(corpus, assistant, f"{prefix}.{index:05d}", rng, policy).run()
        if progress:
            with lock:
                done += 1
                progress(done, conversations)
        return conversation

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        return Summary(list(pool.map(one, range(conversations))))


# --- servers of our own -----------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Servers:
    url: str
    token: str
    var: Path
    processes: list[subprocess.Popen]

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        shutil.rmtree(self.var, ignore_errors=True)


def start_servers(model: Path = MODEL, timeout: float = 600.0) -> Servers:
    """A Rasa server and an action server as `needlecheck run` starts them, on free ports
    (the action server's port is fixed in endpoints.yml, so a copy points at ours), with a
    fresh SQLite database; the front desk is not needed."""
    from needlecheck.channels.settings import write_credentials
    from needlecheck.config import Settings, log_level
    from needlecheck.security.tokens import health_request
    from needlecheck.startup import rasa_server_command

    if not model.exists():
        raise SystemExit(f"{model} is missing: run `make model` first")
    var = Path(tempfile.mkdtemp(prefix="needlecheck-converse-"))
    rasa_port, action_port = free_port(), free_port()
    token = secrets.token_urlsafe(24)
    secret = secrets.token_hex(24)
    env = {
        **os.environ,
        "NEEDLECHECK_VAR_DIR": str(var),
        "NEEDLECHECK_RASA_PORT": str(rasa_port),
        "NEEDLECHECK_ACTION_PORT": str(action_port),
        "NEEDLECHECK_API_TOKEN": token,
        "NEEDLECHECK_ACTION_SECRET": secret,
        "DATABASE_URL": "",
        "NEEDLECHECK_TODAY": TODAY.isoformat(),
        "NEEDLECHECK_SENDER_RATE": "600/60",
        "NEEDLECHECK_ADDRESS_RATE": "100000/60",
        "RASA_TELEMETRY_ENABLED": "false",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
    }
    needlecheck = Path(sys.executable).with_name("needlecheck")
    subprocess.run(
        [str(needlecheck), "db", "upgrade"], env=env, cwd=ROOT, check=True, capture_output=True
    )
    env["LOG_LEVEL"] = log_level(env)
    settings = Settings.from_environment(env)
    write_credentials(ROOT / "credentials.yml", var / "credentials.yml", env)
    endpoints = var / "endpoints.yml"
    endpoints.write_text(
        (ROOT / "endpoints.yml")
        .read_text(encoding="utf-8")
        .replace("http://127.0.0.1:5055/webhook", f"http://127.0.0.1:{action_port}/webhook"),
        encoding="utf-8",
    )
    log = (var / "servers.log").open("w")
    processes = []

    def start(command: list[str]) -> None:
        processes.append(
            subprocess.Popen(
                command,
                env=env,
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )

    servers = Servers(f"http://127.0.0.1:{rasa_port}", token, var, processes)
    try:
        start([sys.executable, "-m", "needlecheck.action_server", "--port", str(action_port)])
        start(
            rasa_server_command(
                settings,
                str(model),
                port=rasa_port,
                interface="127.0.0.1",
                endpoints=str(endpoints),
            )
        )
        checks: list[Any] = [
            health_request(f"http://127.0.0.1:{action_port}/health", secret),
            f"{servers.url}/status?token={token}",
        ]
        deadline = time.monotonic() + timeout
        while checks:
            if any(p.poll() is not None for p in processes) or time.monotonic() > deadline:
                tail = (var / "servers.log").read_text(errors="replace")[-3000:]
                raise RuntimeError(f"the assistant did not start:\n{tail}")
            try:
                with urllib.request.urlopen(checks[0], timeout=2):
                    checks.pop(0)
            except OSError:
                time.sleep(1)
    except BaseException:
        servers.stop()
        raise
    return servers


# --- command line ---------------------------------------------------------------------------


def show(path: Path, limit: int | None = None) -> str:
    """The failures file as readable transcripts."""
    out: list[str] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    for line in lines[:limit]:
        c = json.loads(line)
        out += [
            "=" * 78,
            f"{c['sender']}: {c['turns']} turns; {', '.join(c['kinds'])}",
            f"  expected {c['expected'].get('outcome')} {c['expected'].get('rules')}",
            f"  got      {c['got'].get('outcome')} {c['got'].get('rules')}",
        ]
        out += [f"  ! {p}" for p in c["problems"]]
        out += [f"  ~ {d}" for d in c["differences"]]
        if c.get("error"):
            out.append(f"  error: {c['error']}")
        for t in c["transcript"]:
            label = f" {t['facts']}" if t["facts"] else ""
            where = f"@{t['asked']}" if t["asked"] else ""
            route = f", {t['route']}" if t.get("route") not in (None, "", "answer") else ""
            out.append(f"  [{t['kind']}{where}] {t['person']!r}  ({t['source']}{route}){label}")
            out += ["      > " + a.replace("\n", " / ") for a in t["assistant"]]
    return "\n".join(out)


BEGIN = "<!-- converse: begin -->"
END = "<!-- converse: end -->"


def write_page(page: Path, table: str) -> None:
    """The table between a page's converse markers (docs/language.md; left alone without
    them)."""
    text = page.read_text(encoding="utf-8")
    if BEGIN not in text or END not in text:
        return
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    page.write_text(f"{head}{BEGIN}\n{table}\n{END}{tail}", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.converse", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--conversations", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=6)
    parser.add_argument("--url", help="a running assistant (default: start one)")
    parser.add_argument("--token", default=os.environ.get("NEEDLECHECK_API_TOKEN"))
    parser.add_argument("--model", type=Path, default=MODEL)
    parser.add_argument("--failures", type=Path, default=FAILURES)
    parser.add_argument("--page", type=Path, help="write the table into this file's markers")
    parser.add_argument(
        "--addresses",
        action="store_true",
        help="give each conversation its own X-Forwarded-For address (rate budgets)",
    )
    parser.add_argument(
        "--show",
        nargs="?",
        const=FAILURES,
        type=Path,
        metavar="FAILURES",
        help="print a failures file as transcripts and exit",
    )
    args = parser.parse_args(argv)
    if args.show:
        print(show(args.show))
        return 0
    policy = load_policy(os.environ.get("NEEDLECHECK_POLICY") or None)
    servers = None
    if args.url:
        from needlecheck.config import Settings, kept_api_token

        # `make run`'s own token (var/api.token) when none is given.
        url, token = args.url, args.token or kept_api_token(Settings.from_environment())
    else:
        print("starting the assistant...", file=sys.stderr, flush=True)
        servers = start_servers(args.model)
        url, token = servers.url, servers.token
    step = max(1, args.conversations // 20)

    def progress(done: int, total: int) -> None:
        if done % step == 0 or done == total:
            print(f"  {done}/{total} conversations", file=sys.stderr, flush=True)

    begin = time.monotonic()
    try:
        summary = simulate(
            RestAssistant(url, token, addresses=args.addresses),
            args.conversations,
            args.seed,
            workers=args.workers,
            policy=policy,
            progress=progress,
        )
    finally:
        if servers is not None:
            servers.stop()
    failed = summary.write_failures(args.failures)
    print(summary.report())
    if args.page:
        write_page(args.page, summary.table())
    print(f"\n{failed} failures written to {args.failures} ({time.monotonic() - begin:.0f} s)")
    missed = summary.below_floors()
    if missed:
        print("below the floors: " + ", ".join(missed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
