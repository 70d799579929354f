"""Scores the language understanding on the held-out corpus (tests/language/).

Each sentence is parsed by the trained model (any `parse` function returning Rasa's parse
shape) and read by `needlecheck.nlu.reading.read_message`, the function the dialogue
uses, with the question it answers open. Three figures come out:

- fact accuracy per question: the answer gives exactly the labelled facts;
- safety recall: every labelled red flag, exclusion, deferral or review condition is found
  (the engine's rules over the labels must all fire over what was read);
- routing: openings and mid-question interjections go where their label says.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from needlecheck.nlu.reading import (
    ANSWER,
    CHECK_MEDICINE,
    CONSENT,
    CONSENT_DECLINED,
    CONSENT_GIVEN,
    CORRECTION,
    NO,
    UNCLEAR,
    WHICH_ONES,
    YES,
    Message,
    Reading,
    read_message,
    read_reply,
)
from needlecheck.screening import FactError, assess, validate_facts
from needlecheck.screening.facts import COURSE_FACTS, DATE_FOLLOW_UPS, FACT_NAMES, PROCEDURE_FACT

CORPUS = Path(__file__).resolve().parents[2] / "tests" / "language"
# The date the corpus's labels were written on: relative dates are read against it.
CORPUS_TODAY = date(2026, 12, 1)
# Severities whose rules must never be missed.
SAFETY_SEVERITIES = ("urgent", "exclude", "defer", "review")
# A date read from "last week" may differ from the label's reading by a few days; waiting
# periods are 14 days at the shortest.
DATE_TOLERANCE_DAYS = 7

FLOORS = {"safety_recall": 1.0, "fact_accuracy": 0.97, "routing": 0.95}

# The corpus's route names, as the dialogue's intents and routes.
ROUTE_INTENTS = {
    "why": "ask_why",
    "thanks": "thank",
    "handoff": "request_handoff",
    "contact": "request_contact",
    "stop": "goodbye",
    "red_flag": "report_red_flag",
}
ROUTE_NAMES = {v: k for k, v in ROUTE_INTENTS.items()}
# What the assistant does with a first message, by intent (data/rules/ says the same).
OPENING_ROUTES = {
    "start_screening": "screening",
    "inform": "screening",
    "correct": "screening",
    "report_red_flag": "red_flag",
    # A greeting is answered with the introduction and the consent question.
    "greet": "screening",
    "thank": "thanks",
    "goodbye": "goodbye",
    "ask_why": "why",
    "request_handoff": "handoff",
    "request_contact": "contact",
    "start_over": "start_over",
    "out_of_scope": "out_of_scope",
}

Parse = Callable[[str], Mapping[str, Any]]


@dataclass(frozen=True)
class Example:
    kind: str  # "answer", "opening" or "interjection"
    question: str | None
    text: str
    route: str
    facts: dict[str, Any]
    asks: str | None = None
    procedure: str | None = None
    source: str = ""


@dataclass
class Result:
    example: Example
    correct: bool
    reason: str = ""
    routed: str = ""
    safety_expected: set[str] = field(default_factory=set)
    safety_found: set[str] = field(default_factory=set)


def load_corpus(root: Path = CORPUS) -> list[Example]:
    examples: list[Example] = []
    for path in sorted((root / "answers").glob("*.yml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        for i, item in enumerate(data["examples"]):
            examples.append(_example("answer", path.stem, item, f"{path.name}[{i}]"))
    for name, kind in CORPUS_FILES:
        path = root / name
        if not path.exists():
            continue
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        for i, item in enumerate(data["examples"]):
            asked = item.get("asked", data.get("asked"))
            examples.append(_example(kind, asked, item, f"{name}[{i}]"))
    return examples


# The corpus's files beside answers/, and the kind of message each holds. "reply" is a
# reply to the consent question or to the offer of the questions (`asked`: consent or
# offer), routed yes, no or neither (`consent_yes`, `offer_no`, `unclear`, ...).
CORPUS_FILES = (
    ("openings.yml", "opening"),
    ("openings_informal.yml", "opening"),
    ("interjections.yml", "interjection"),
    ("faq_openings.yml", "opening"),
    ("faq_interjections.yml", "interjection"),
    ("consent.yml", "reply"),
    ("offers.yml", "reply"),
)
# What the dialogue does with a reply to the offer of the questions (data/rules,
# action_answer_faq, action_handle_unclear): these intents start the questions or
# decline; a message the classifier cannot place, or a question, is read by `read_reply`.
OFFER_STARTS = frozenset({"affirm", "start_screening", "inform", "correct"})
OFFER_ENDS = frozenset({"deny", "goodbye", "request_handoff", "request_contact"})


def _example(kind: str, question: str | None, item: Mapping[str, Any], source: str) -> Example:
    return Example(
        kind=kind,
        question=question,
        text=str(item["text"]),
        route=str(item.get("route") or ("answer" if kind == "answer" else "")),
        facts=_plain(item.get("facts") or {}),
        asks=item.get("asks"),
        procedure=item.get("procedure"),
        source=source,
    )


def _plain(value: Any) -> Any:
    """YAML dates as ISO strings, the shape the dialogue's slots hold."""
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def before_state(example: Example) -> dict[str, Any]:
    """The slots as they stand when the example's question is asked."""
    question = example.question
    if question in DATE_FOLLOW_UPS:
        fact = DATE_FOLLOW_UPS[question]
        if fact == PROCEDURE_FACT:
            return {
                fact: [{"type": example.procedure or "chemical_peel"}],
                "answered_facts": [fact],
            }
        return {fact: {"status": "past"}}
    return {}


def asked_fact(question: str | None) -> str | None:
    return DATE_FOLLOW_UPS.get(question or "", question)


def score(example: Example, parse: Parse, today: date = CORPUS_TODAY) -> Result:
    parsed = parse(example.text)
    before = before_state(example)
    # The consent question is the form's first question, read like the others.
    asked = CONSENT if example.question == "consent" else example.question
    reading = read_message(Message.from_parse(parsed), asked, before, today)
    produced = {
        name: value for name, value in {**before, **reading.facts()}.items() if name in FACT_NAMES
    }
    result = Result(example, correct=False, routed=_route_name(example, parsed, reading))
    result.safety_expected = safety_rules(example.facts, today)
    result.safety_found = safety_rules(produced, today)
    if example.kind == "answer":
        result.correct, result.reason = _answer_correct(example, reading, produced, before)
    elif example.kind == "reply":
        # The consent question's answer is read by the form (given, declined or neither);
        # the offer of the questions goes by the dialogue's rules: an affirm starts the
        # questions, a deny declines, anything else neither.
        intent = (parsed.get("intent") or {}).get("name") or ""
        if asked == CONSENT:
            consent = reading.slots.get(CONSENT)
            result.routed = {CONSENT_GIVEN: "yes", CONSENT_DECLINED: "no"}.get(consent, "neither")
        else:
            result.routed = offer_route(intent, Message.from_parse(parsed))
        expected = example.route.rsplit("_", 1)[-1] if "_" in example.route else "neither"
        result.correct = result.routed == expected
        if not result.correct:
            result.reason = f"read as {result.routed} ({intent}), expected {expected}"
    else:
        expected = example.route
        # A greeting and an opening about the person both get the consent question.
        if example.kind == "opening" and expected == "greet":
            expected = "screening"
        # A question about microneedling that says something about the person is answered
        # and then starts the questions (action_answer_faq): right for either label.
        answered_then_screening = (
            example.kind == "opening"
            and expected == "screening"
            and (result.routed.startswith("faq_") or result.routed == "why")
            and bool(reading.facts())
        )
        result.correct = result.routed == expected or answered_then_screening
        if not result.correct:
            result.reason = f"routed to {result.routed}, expected {expected}"
    return result


def offer_route(intent: str, message: Message) -> str:
    if intent in OFFER_STARTS:
        return "yes"
    if intent in OFFER_ENDS:
        return "no"
    reply = read_reply(message)
    if intent == "nlu_fallback":
        return {YES: "yes", NO: "no"}.get(reply or "", "neither")
    if intent.startswith(("faq_", "clinic_")) and reply == YES:
        # Answered, then what was offered starts.
        return "yes"
    return "neither"


def _route_name(example: Example, parsed: Mapping[str, Any], reading: Reading) -> str:
    intent = (parsed.get("intent") or {}).get("name") or ""
    if reading.facts().get("red_flags"):
        return "red_flag"
    if example.kind == "opening":
        # What the dialogue does with a first message (data/rules, action_answer_faq,
        # action_handle_unclear): a question about microneedling that says something
        # about the person is answered and starts the questions, as does anything else
        # about them; a greeting is answered with the consent question too.
        if intent.startswith("faq_") or intent == "ask_why":
            return ROUTE_NAMES.get(intent, intent)
        if intent.startswith("clinic_"):
            return intent
        if intent in OPENING_ROUTES:
            return OPENING_ROUTES[intent]
        return "screening" if reading.facts() else "unclear"
    route = reading.route
    if route == CORRECTION:
        return "correction"
    reverse = {v: k for k, v in ROUTE_INTENTS.items()}
    return reverse.get(route, route)


def _answer_correct(
    example: Example, reading: Reading, produced: Mapping[str, Any], before: Mapping[str, Any]
) -> tuple[bool, str]:
    if example.route == "unclear":
        ok = reading.route in (UNCLEAR, WHICH_ONES) and not reading.answered
        return ok, "" if ok else f"expected unclear, got {reading.route} {reading.facts()}"
    if example.route == "check_medicine":
        # The check exists to reach "none of the listed" safely: a medicine the lexicon
        # knows is neither, answered as such with its name kept, is as right.
        known = (
            reading.answered
            and produced.get("medications") == []
            and bool(reading.notes.get("medications"))
        )
        ok = reading.route == CHECK_MEDICINE or known
        return ok, "" if ok else f"expected the medicine check, got {reading.route}"
    own = asked_fact(example.question)
    if reading.route == CHECK_MEDICINE and example.facts.get("medications") == []:
        # The check ("is that a blood thinner...?") is a safe step to the same answer.
        return True, ""
    if not reading.answered:
        return False, f"not answered ({reading.route}); read {reading.facts()}"
    for name, expected in example.facts.items():
        got = produced.get(name)
        exact = name == own
        if not _same(name, expected, got, exact):
            return False, f"{name}: expected {expected}, got {got}"
    for name in reading.facts():
        if name not in example.facts and name != own and reading.facts()[name] not in ([], None):
            if name in before and before[name] == reading.facts()[name]:
                continue
            return False, f"{name}: not labelled, got {reading.facts()[name]}"
    return True, ""


def _same(name: str, expected: Any, got: Any, exact: bool) -> bool:
    if got is None:
        return expected in ([],) and not exact
    if name in COURSE_FACTS:
        return _same_course(name, expected, got)
    if name == PROCEDURE_FACT:
        return _same_procedures(expected, got, exact)
    if isinstance(expected, list):
        want, have = set(map(str, expected)), set(map(str, got))
        return want == have if exact else want <= have
    return expected == got


def _same_course(name: str, expected: Mapping[str, Any], got: Mapping[str, Any]) -> bool:
    if expected.get("status") != got.get("status"):
        return False
    field_name = COURSE_FACTS[name]
    return _close_dates(expected.get(field_name), got.get(field_name))


def _same_procedures(expected: list[Any], got: list[Any], exact: bool) -> bool:
    def by_type(items: Iterable[Any]) -> dict[str, Any]:
        return {i["type"]: i.get("date") for i in items if isinstance(i, Mapping)}

    want, have = by_type(expected), by_type(got)
    if (set(want) != set(have)) if exact else not set(want) <= set(have):
        return False
    return all(_close_dates(want[t], have.get(t)) for t in want)


def _close_dates(expected: Any, got: Any) -> bool:
    if expected is None or got is None:
        return expected is None and got is None
    gap = abs((date.fromisoformat(str(expected)) - date.fromisoformat(str(got))).days)
    return gap <= DATE_TOLERANCE_DAYS


def safety_rules(facts: Mapping[str, Any], today: date) -> set[str]:
    """Rule IDs of urgent, exclude, defer and review severity that these facts trigger."""
    try:
        checked = validate_facts(dict(facts)).to_json()
    except FactError:
        return set()
    assessment = assess(checked, today)
    return {f.rule for f in assessment.findings if f.severity in SAFETY_SEVERITIES}


@dataclass
class Report:
    results: list[Result]

    def by_question(self) -> dict[str, tuple[int, int]]:
        table: dict[str, tuple[int, int]] = {}
        for r in self.results:
            if r.example.kind != "answer":
                continue
            right, total = table.get(r.example.question or "", (0, 0))
            table[r.example.question or ""] = (right + r.correct, total + 1)
        return table

    def routing(self, kind: str) -> tuple[int, int]:
        rows = [r for r in self.results if r.example.kind == kind]
        return sum(r.correct for r in rows), len(rows)

    def answers_that_ask(self) -> tuple[int, int]:
        rows = [r for r in self.results if r.example.kind == "answer" and r.example.asks]
        right = sum(
            r.routed == ROUTE_INTENTS.get(r.example.asks or "", r.example.asks)
            or r.routed == r.example.asks
            for r in rows
        )
        return right, len(rows)

    def safety(self) -> tuple[int, int, list[Result]]:
        expected = found = 0
        missed = []
        for r in self.results:
            expected += len(r.safety_expected)
            hit = r.safety_expected & r.safety_found
            found += len(hit)
            if hit != r.safety_expected:
                missed.append(r)
        return found, expected, missed

    def failures(self) -> list[Result]:
        return [r for r in self.results if not r.correct]

    def below_floors(self) -> list[str]:
        problems = []
        found, expected, _ = self.safety()
        if expected and found / expected < FLOORS["safety_recall"]:
            problems.append(f"safety recall {found}/{expected}")
        for question, (right, total) in sorted(self.by_question().items()):
            if total and right / total < FLOORS["fact_accuracy"]:
                problems.append(f"fact accuracy of {question}: {right}/{total}")
        for kind in ("opening", "interjection"):
            right, total = self.routing(kind)
            if total and right / total < FLOORS["routing"]:
                problems.append(f"{kind} routing {right}/{total}")
        return problems

    def markdown(self) -> str:
        lines = ["| question | examples | fact accuracy |", "| --- | ---: | ---: |"]
        for question, (right, total) in sorted(self.by_question().items()):
            lines.append(f"| {question} | {total} | {_pct(right, total)} |")
        found, expected, _ = self.safety()
        lines += [
            "",
            "| measure | right | of | rate |",
            "| --- | ---: | ---: | ---: |",
            f"| safety recall (urgent, exclude, defer, review rules) | {found} | {expected} | {_pct(found, expected)} |",
        ]
        for kind, label in (
            ("opening", "opening routing"),
            ("interjection", "interjection routing"),
        ):
            right, total = self.routing(kind)
            lines.append(f"| {label} | {right} | {total} | {_pct(right, total)} |")
        right, total = self.routing("reply")
        if total:
            lines.append(
                f"| replies to the consent question and the offer (no floor yet) | {right} | {total} | {_pct(right, total)} |"
            )
        right, total = self.answers_that_ask()
        lines.append(
            f"| answers that also ask: the question handed on | {right} | {total} | {_pct(right, total)} |"
        )
        return "\n".join(lines)


def evaluate(
    parse: Parse, examples: list[Example] | None = None, today: date = CORPUS_TODAY
) -> Report:
    return Report([score(e, parse, today) for e in examples or load_corpus()])


def _pct(right: int, total: int) -> str:
    return f"{100 * right / total:.1f}%" if total else "n/a"


__all__ = ["ANSWER", "Example", "Report", "evaluate", "load_corpus", "score"]
