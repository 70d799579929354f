"""The conversation simulator (bench/converse.py) without servers: the person's story stays
consistent, loops and strandings are caught, and against a fake assistant that reads the
corpus's labels perfectly every conversation comes out right (and a wrong one wrong)."""

from __future__ import annotations

import itertools
import json
import random
from collections.abc import Mapping
from typing import Any

import pytest

from bench.converse import (
    ASSESS_ACTION,
    CONFIRM_WORDS,
    CONSENT_QUESTION,
    CONSENT_WORDS,
    DENY_WORDS,
    MAX_TURNS,
    NEITHER_WORDS,
    SCREENING_FORM,
    TODAY,
    Conversation,
    Corpus,
    Person,
    Summary,
    conflict,
    expected_result,
    fact_differences,
    has_loop,
    merge,
    own_answer,
    simulate,
    undated_procedures,
)
from needlecheck.nlu.heldout import Example
from needlecheck.screening import assess
from needlecheck.screening.facts import (
    COURSE_FACTS,
    DATE_FOLLOW_UPS,
    FACT_NAMES,
    LIST_FACTS,
    PROCEDURE_FACT,
)

TODAY_FACTS = {
    "red_flags": [],
    "age": 34,
    "treatment_area": ["face"],
    "skin_concerns": ["acne_scars"],
    "topical_products": [],
    "isotretinoin": {"status": "never"},
    "pregnant_or_breastfeeding": False,
    "active_skin_issues": [],
    "conditions": [],
    "medications": [],
    "cancer_treatment": {"status": "none"},
    "allergies": [],
    "recent_procedures": [],
}


# --- the story ------------------------------------------------------------------------------


def test_list_facts_add_up_and_a_plain_no_keeps_what_was_said() -> None:
    story = merge({}, {"conditions": ["cold_sore_history"], "treatment_area": ["face"]})
    story = merge(story, {"conditions": ["diabetes"]})
    assert story["conditions"] == ["cold_sore_history", "diabetes"]
    assert not conflict(story, {"conditions": []}, "conditions")
    assert merge(story, {"conditions": []})["conditions"] == ["cold_sore_history", "diabetes"]
    # The same item twice is one item.
    assert merge(story, {"treatment_area": ["face", "neck"]})["treatment_area"] == ["face", "neck"]


def test_an_explicit_none_for_another_question_conflicts() -> None:
    story = {"medications": ["anticoagulant"]}
    assert conflict(story, {"medications": []}, "conditions")
    assert not conflict(story, {"medications": []}, "medications")


def test_a_different_age_status_or_pregnancy_conflicts() -> None:
    story = {
        "age": 34,
        "pregnant_or_breastfeeding": False,
        "isotretinoin": {"status": "never"},
        "cancer_treatment": {"status": "past", "ended": "2025-05-31"},
    }
    assert conflict(story, {"age": 35}, "age")
    assert not conflict(story, {"age": 34, "conditions": ["diabetes"]}, "conditions")
    assert conflict(story, {"pregnant_or_breastfeeding": True}, "medications")
    assert conflict(story, {"isotretinoin": {"status": "past"}}, "isotretinoin")
    assert conflict(story, {"cancer_treatment": {"status": "none"}}, "allergies")
    # Another date for the same course is another story; no date repeats it.
    assert conflict(story, {"cancer_treatment": {"status": "past", "ended": "2024-01-31"}}, None)
    assert not conflict(story, {"cancer_treatment": {"status": "past"}}, None)
    assert merge(story, {"cancer_treatment": {"status": "past"}})["cancer_treatment"] == {
        "status": "past",
        "ended": "2025-05-31",
    }


def test_an_undated_past_course_may_turn_out_current_only_at_its_date_question() -> None:
    story = {"isotretinoin": {"status": "past"}}
    current = {"isotretinoin": {"status": "current"}}
    assert not conflict(story, current, "isotretinoin_last_dose")
    assert conflict(story, current, "pregnant_or_breastfeeding")
    assert conflict(story, {"isotretinoin": {"status": "never"}}, "isotretinoin_last_dose")
    dated = {"isotretinoin": {"status": "past", "last_dose": "2026-10-01"}}
    assert conflict(dated, current, "isotretinoin_last_dose")
    assert merge(story, current)["isotretinoin"] == {"status": "current"}
    assert merge(story, dated)["isotretinoin"] == dated["isotretinoin"]


def test_procedures_add_up_by_type_and_a_date_fills_the_undated_one() -> None:
    story = merge({}, {"recent_procedures": [{"type": "laser"}, {"type": "neurotoxin"}]})
    assert undated_procedures(story["recent_procedures"]) == ["laser", "neurotoxin"]
    story = merge(story, {"recent_procedures": [{"type": "laser", "date": "2026-11-10"}]})
    assert story["recent_procedures"] == [
        {"type": "laser", "date": "2026-11-10"},
        {"type": "neurotoxin"},
    ]
    assert undated_procedures(story["recent_procedures"]) == ["neurotoxin"]
    assert undated_procedures(story["recent_procedures"], ["recent_procedures.neurotoxin"]) == []
    # Undated again keeps the date; a different date for the same procedure conflicts.
    assert merge(story, {"recent_procedures": [{"type": "laser"}]})["recent_procedures"][0] == {
        "type": "laser",
        "date": "2026-11-10",
    }
    assert conflict(story, {"recent_procedures": [{"type": "laser", "date": "2026-01-01"}]}, None)
    assert not conflict(story, {"recent_procedures": [{"type": "filler"}]}, None)


def test_merge_does_not_change_the_story_it_is_given() -> None:
    story = {"conditions": ["diabetes"], "isotretinoin": {"status": "past"}}
    merge(story, {"conditions": ["keloid_history"], "isotretinoin": {"status": "current"}})
    assert story == {"conditions": ["diabetes"], "isotretinoin": {"status": "past"}}


def test_the_expected_result_is_the_engines_over_the_labels_with_every_rule() -> None:
    facts = {
        **TODAY_FACTS,
        "age": 20,
        "topical_products": ["retinoid"],
        "conditions": ["diabetes", "pigmentation_history"],
    }
    result = expected_result(facts)
    assert result.outcome == "clinician_review"
    assert result.rules == {"RV-DIABETES", "PR-RETINOID", "NT-PIGMENTATION", "NT-AGE-UNDER-22"}
    assert expected_result({"red_flags": ["allergic_reaction"]}).outcome == "urgent_care"
    # Facts missing and nothing triggered: no outcome, which the slot shows as None.
    assert expected_result({"age": 30}).outcome == "incomplete"


def test_fact_differences_name_the_fact_and_the_item() -> None:
    got = {**TODAY_FACTS, "conditions": ["keloid_history"], "age": 43}
    got["recent_procedures"] = [{"type": "laser", "date": None}]
    lines = fact_differences(
        {**TODAY_FACTS, "recent_procedures": [{"type": "laser", "date": "2026-11-10"}]}, got
    )
    assert "age: expected 34, recorded 43" in lines
    assert "conditions: extra keloid_history" in lines
    assert "recent_procedures: laser dated None, expected 2026-11-10" in lines
    assert fact_differences(TODAY_FACTS, TODAY_FACTS) == []


# --- loops and the table ----------------------------------------------------------------------


def test_a_sentence_in_three_consecutive_replies_is_a_loop() -> None:
    assert has_loop([["a", "q1"], ["b", "q1"], ["q1"]]) == "q1"
    assert has_loop([["q1"], ["q1"], ["other"], ["q1"]]) == ""
    assert has_loop([["q1", "q1"], ["x"], ["q1"]]) == ""
    assert has_loop([[""], [""], [""]]) == ""
    assert has_loop([]) == ""


def conversation(right: bool, turns: int, **flags: Any) -> Conversation:
    return Conversation(sender="s", right=right, turns=turns, **flags)


def test_the_table_counts_and_the_floors() -> None:
    summary = Summary(
        [
            conversation(True, 14),
            conversation(True, 16),
            conversation(False, 60, stranded=True),
            conversation(False, 20, loop=True, problems=["loop: 'x'"]),
        ]
    )
    table = summary.table()
    assert (
        "| conversations | right | wrong | stranded | loops | median turns | p95 turns |" in table
    )
    assert "| 4 | 2 | 2 | 1 | 1 | 18 | 60 |" in table
    assert summary.below_floors() == ["right 2/4", "stranded 1", "loops 1"]
    assert Summary([conversation(True, 10)]).below_floors() == []
    kinds = dict(summary.kinds())
    assert kinds["stranded"] == 1 and kinds["loop"] == 1


def test_failures_are_written_with_their_transcript(tmp_path) -> None:
    wrong = conversation(False, 3, problems=["unclear answer moved the question: age -> x"])
    path = tmp_path / "failures.jsonl"
    assert Summary([conversation(True, 10), wrong]).write_failures(path) == 1
    (record,) = [json.loads(line) for line in path.read_text().splitlines()]
    assert record["kinds"] == ["unclear answer moved the question"]
    assert {"sender", "expected_facts", "tracker_facts", "expected", "got", "transcript"} <= set(
        record
    )


# --- whole conversations against a fake assistant ------------------------------------------


class FakeAssistant:
    """Reads each corpus sentence exactly as labelled and asks the questions in order, as
    the screening form does; `misread` names a list fact whose answers it reads as
    "anticoagulant" (a blood thinner for `medications`)."""

    def __init__(self, corpus: Corpus, *, misread: str | None = None, stuck: bool = False):
        self.answers: dict[tuple[str, str], Example] = {}
        for question, examples in corpus.answers.items():
            for e in examples:
                self.answers[(question, e.text)] = e
        for question, examples in corpus.unclear.items():
            for e in examples:
                self.answers[(question, e.text)] = e
        self.said = {
            e.text: e
            for e in [*corpus.openings, *corpus.greetings, *corpus.interjections, *corpus.resumes]
        }
        self.misread = misread
        self.stuck = stuck
        self.conversations: dict[str, dict[str, Any]] = {}

    def tracker(self, sender: str) -> dict[str, Any]:
        state = self.conversations[sender]
        return json.loads(
            json.dumps(
                {
                    "slots": state["slots"],
                    "active_loop": {"name": SCREENING_FORM} if state["active"] else {},
                    "events": state["events"],
                }
            )
        )

    def say(self, sender: str, text: str) -> list[dict[str, Any]]:
        state = self.conversations.setdefault(
            sender, {"slots": {"answered_facts": []}, "active": False, "events": []}
        )
        slots = state["slots"]
        state["events"].append({"event": "user", "text": text})
        if not state["active"]:
            # An opening, or "yes" to the offer: the form starts, consent first.
            example = self.said.get(text)
            if example is not None and text not in CONSENT_WORDS:
                self.apply(slots, example.facts)
            state["active"] = True
            return self.next_question(state)
        asked = slots["requested_slot"]
        check = slots.get("pending_check")
        if check:
            slots["pending_check"] = None
            if check["kind"] == "medicine" and text in NEITHER_WORDS:
                self.apply(slots, {"medications": []})
                slots["answered_facts"].append("medications")
            elif text in DENY_WORDS:
                slots[check["fact"]] = [v for v in slots[check["fact"]] if v != check["value"]]
            else:
                assert text in CONFIRM_WORDS
            return self.next_question(state)
        example = self.answers.get((asked, text))
        if asked == CONSENT_QUESTION and example is not None and example.route == "consent_yes":
            slots[CONSENT_QUESTION] = "given"
            self.apply(slots, example.facts)
            return self.next_question(state)
        if example is None:
            # An interjection: answered, and the same question put again.
            interjection = self.said[text]
            self.apply(slots, interjection.facts)
            return [{"text": f"About {interjection.route}."}, *self.next_question(state)]
        if self.stuck or example.route == "unclear":
            return [{"text": "Sorry?"}, *self.next_question(state)]
        if example.route == "check_medicine":
            slots["pending_check"] = {"fact": asked, "kind": "medicine", "value": example.text}
            return [{"text": f"I don't know {example.text}."}]
        facts = dict(example.facts)
        if self.misread and self.misread in facts:
            facts[self.misread] = ["anticoagulant"]
        self.apply(slots, facts)
        fact = DATE_FOLLOW_UPS.get(asked, asked)
        if fact in LIST_FACTS and fact not in slots["answered_facts"]:
            slots["answered_facts"].append(fact)
        if fact != asked:
            self.date_unknown(slots, asked, example)
        return self.next_question(state)

    @staticmethod
    def apply(slots: dict[str, Any], facts: Mapping[str, Any]) -> None:
        story = merge({k: v for k, v in slots.items() if k in FACT_NAMES}, facts)
        slots.update(story)

    @staticmethod
    def date_unknown(slots: dict[str, Any], asked: str, example: Example) -> None:
        unknown = slots.setdefault("dates_unknown", [])
        if DATE_FOLLOW_UPS[asked] == PROCEDURE_FACT:
            item = next(p for p in slots[PROCEDURE_FACT] if p["type"] == example.procedure)
            if not item.get("date"):
                unknown.append(f"{PROCEDURE_FACT}.{example.procedure}")
            return
        fact = DATE_FOLLOW_UPS[asked]
        course = slots[fact]
        if course["status"] == "past" and not course.get(COURSE_FACTS[fact]):
            unknown.append(f"{fact}.{COURSE_FACTS[fact]}")

    def next_question(self, state: dict[str, Any]) -> list[dict[str, Any]]:
        slots = state["slots"]
        unknown = slots.get("dates_unknown") or []
        if slots.get("red_flags"):
            return self.assess(state)
        if slots.get(CONSENT_QUESTION) != "given":
            return self.ask(slots, CONSENT_QUESTION)
        for fact in FACT_NAMES:
            value = slots.get(fact)
            if value is None or (
                fact in LIST_FACTS and fact != "red_flags" and fact not in slots["answered_facts"]
            ):
                return self.ask(slots, fact)
            if fact in COURSE_FACTS:
                field = COURSE_FACTS[fact]
                if (
                    value["status"] == "past"
                    and not value.get(field)
                    and f"{fact}.{field}" not in unknown
                ):
                    return self.ask(slots, f"{fact}_{field}")
        if undated_procedures(slots.get(PROCEDURE_FACT), unknown):
            return self.ask(slots, "recent_procedures_date")
        return self.assess(state)

    @staticmethod
    def ask(slots: dict[str, Any], question: str) -> list[dict[str, Any]]:
        # Put another way each time in a row, as the assistant does.
        times = slots.get("times", 0) + 1 if slots.get("requested_slot") == question else 0
        slots["requested_slot"], slots["times"] = question, times
        return [{"text": f"Question {question}, version {times}?"}]

    @staticmethod
    def assess(state: dict[str, Any]) -> list[dict[str, Any]]:
        slots = state["slots"]
        facts = {k: v for k, v in slots.items() if k in FACT_NAMES and v is not None}
        assessment = assess(facts, TODAY)
        slots["screening_outcome"] = assessment.outcome
        slots["screening_rules"] = assessment.rules
        slots["requested_slot"] = None
        state["active"] = False
        state["events"].append({"event": "action", "name": ASSESS_ACTION})
        return [{"text": f"Result: {assessment.outcome}."}, {"text": "Contact you?"}]


@pytest.fixture(scope="module")
def corpus() -> Corpus:
    return Corpus.load()


def test_the_corpus_has_what_a_person_needs(corpus) -> None:
    assert corpus.openings and corpus.greetings and corpus.resumes
    assert all(e.route == "screening" for e in corpus.openings)
    assert {e.route for e in corpus.interjections} >= {"why", "faq_pain", "clinic_price"}
    assert not {e.route for e in corpus.interjections} & {"stop", "handoff", "red_flag"}
    for question in FACT_NAMES:
        assert corpus.answers[question], question


def test_against_a_perfect_assistant_every_conversation_is_right(corpus) -> None:
    summary = simulate(FakeAssistant(corpus), 150, seed=7, workers=4, corpus=corpus)
    wrong = [c for c in summary.conversations if not c.right]
    assert not wrong, wrong[0].record()
    assert summary.below_floors() == []
    kinds = {turn.kind for c in summary.conversations for turn in c.transcript}
    assert kinds >= {"opening", "answer", "interjection", "unclear"}
    # Consent is the form's first question, answered from the consent corpus.
    assert all(c.transcript[1].asked == CONSENT_QUESTION for c in summary.conversations)
    # Every story is a valid set of facts, and most reach past the red-flag question.
    reached = sum(c.got["outcome"] != "urgent_care" for c in summary.conversations)
    assert reached >= 0.9 * len(summary.conversations)
    for c in summary.conversations:
        assert fact_differences(c.expected_facts, c.tracker_facts) == []


def test_the_same_seed_gives_the_same_people(corpus) -> None:
    def transcripts(seed: int) -> list[list[str]]:
        summary = simulate(FakeAssistant(corpus), 20, seed=seed, workers=4, corpus=corpus)
        return [[t.person for t in c.transcript] for c in summary.conversations]

    assert transcripts(3) == transcripts(3)
    assert transcripts(3) != transcripts(4)


def test_a_misread_answer_makes_the_conversation_wrong(corpus) -> None:
    summary = simulate(
        FakeAssistant(corpus, misread="medications"), 40, seed=1, workers=4, corpus=corpus
    )
    misread = [
        c
        for c in summary.conversations
        if "anticoagulant" not in c.expected_facts.get("medications", ["anticoagulant"])
        and any(t.asked == "medications" and "medications" in t.facts for t in c.transcript)
    ]
    assert misread
    for c in misread:
        assert not c.right
        assert "medications: extra anticoagulant" in c.differences
        assert "RV-ANTICOAGULANT" in c.got["rules"]
        assert "RV-ANTICOAGULANT" not in c.expected["rules"]


def test_an_assistant_that_never_moves_on_strands_the_person(corpus) -> None:
    person = Person(corpus, FakeAssistant(corpus, stuck=True), "stuck", random.Random(5))
    result = person.run()
    assert result.stranded and not result.right
    assert result.turns == MAX_TURNS
    assert result.got == {"outcome": None, "rules": []}


def test_a_repeated_sentence_is_a_loop(corpus) -> None:
    class Parrot(FakeAssistant):
        def say(self, sender: str, text: str) -> list[dict[str, Any]]:
            return [*super().say(sender, text), {"text": "I'm listening."}]

    result = Person(corpus, Parrot(corpus), "parrot", random.Random(2)).run()
    assert result.loop and not result.right
    assert any(p.startswith("loop:") for p in result.problems)


def test_an_unclear_answer_taken_as_an_answer_is_reported(corpus) -> None:
    class Credulous(FakeAssistant):
        def say(self, sender: str, text: str) -> list[dict[str, Any]]:
            state = self.conversations.get(sender)
            asked = state and state["slots"].get("requested_slot")
            example = self.answers.get((asked, text)) if asked else None
            if example is not None and example.route == "unclear":
                # Read as "none of these" / the first allowed value.
                self.answers[(asked, text)] = Example(
                    "answer", asked, text, "answer", {asked: []} if asked in LIST_FACTS else {}
                )
            return super().say(sender, text)

    summary = simulate(Credulous(corpus), 60, seed=11, workers=4, corpus=corpus)
    flagged = [
        c
        for c in summary.conversations
        if any(p.startswith("unclear answer moved the question") for p in c.problems)
    ]
    assert flagged and all(not c.right for c in flagged)


def test_a_question_asked_again_gets_the_same_answer_in_other_words(corpus) -> None:
    class HardOfHearing(FakeAssistant):
        """Takes no first answer to a question (but records its other facts): asks again."""

        heard: set[tuple[str, str]] = set()

        def say(self, sender: str, text: str) -> list[dict[str, Any]]:
            state = self.conversations.get(sender)
            asked = state and state["active"] and state["slots"].get("requested_slot")
            example = self.answers.get((asked, text)) if asked else None
            if (
                example is not None
                and example.route == "answer"
                and not state["slots"].get("pending_check")
            ):
                procedure = undated_procedures(state["slots"].get(PROCEDURE_FACT))[:1]
                key = (sender, f"{asked}{procedure}")
                if key not in self.heard:
                    # Every fact is recorded, as action_read_facts does; the question's
                    # own answer is not taken.
                    self.heard.add(key)
                    own = DATE_FOLLOW_UPS.get(asked, asked)
                    self.apply(state["slots"], {k: v for k, v in example.facts.items() if k != own})
                    return [{"text": "Sorry?"}, *self.next_question(state)]
            return super().say(sender, text)

    summary = simulate(HardOfHearing(corpus), 60, seed=5, workers=4, corpus=corpus)
    assert all(c.right for c in summary.conversations), summary.report()
    repeated = 0
    for c in summary.conversations:
        answers = [t for t in c.transcript if t.kind == "answer"]
        for first, second in itertools.pairwise(answers):
            if first.asked == second.asked and first.assistant[0] == "Sorry?":
                said = [
                    Example("answer", t.asked, t.person, t.route, t.facts) for t in (first, second)
                ]
                if own_answer(said[0], first.asked) is not None:
                    repeated += 1
                    assert own_answer(said[1], first.asked) == own_answer(said[0], first.asked)
    assert repeated > 100


def test_an_offer_of_the_questions_is_taken_and_consent_answered(corpus) -> None:
    class Roundabout(FakeAssistant):
        """Answers the first message with an offer of the questions, then asks consent."""

        def say(self, sender: str, text: str) -> list[dict[str, Any]]:
            state = self.conversations.get(sender)
            if state is None:
                super().say(sender, text)
                state = self.conversations[sender]
                state["active"] = False
                state["events"].append({"event": "action", "name": "action_answer_faq"})
                state["events"].append(
                    {"event": "bot", "metadata": {"utter_action": "utter_offer_screening"}}
                )
                return [{"text": "Shall I check whether it suits you?"}]
            return super().say(sender, text)

    result = Person(corpus, Roundabout(corpus), "roundabout", random.Random(3)).run()
    assert result.right, result.record()
    assert [t.kind for t in result.transcript[:3]] == ["opening", "consent", "answer"]
    assert result.transcript[2].asked == CONSENT_QUESTION


def test_questions_neither_asked_nor_offered_are_asked_for_and_reported(corpus) -> None:
    class Forgetful(FakeAssistant):
        """Says something unhelpful to the first message, offering nothing."""

        def say(self, sender: str, text: str) -> list[dict[str, Any]]:
            if sender not in self.conversations:
                super().say(sender, text)
                self.conversations[sender]["active"] = False
                return [{"text": "Sorry, I'm not sure I understood."}]
            return super().say(sender, text)

    result = Person(corpus, Forgetful(corpus), "forgetful", random.Random(3)).run()
    assert [t.kind for t in result.transcript[:3]] == ["opening", "resume", "answer"]
    assert result.transcript[2].asked == CONSENT_QUESTION
    assert result.transcript[1].person != result.transcript[0].person
    assert result.problems == ["questions not started: neither asked nor offered"]
    assert not result.right and not result.stranded
