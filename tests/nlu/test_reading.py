"""read_message: how one message answers the open question, and what else it says.

The sentences here are written for these tests (the held-out corpus in tests/language is
scored separately, by `make nlu-eval`); entities come from the real extractor, in the
shape Rasa hands them on (needlecheck/nlu/component.py).
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from needlecheck.nlu.component import _entities
from needlecheck.nlu.extractor import Extractor
from needlecheck.nlu.parts import mark_answered
from needlecheck.nlu.reading import (
    ANSWER,
    CHECK_MEDICINE,
    CORRECTION,
    UNCLEAR,
    WHICH_ONES,
    Message,
    Reading,
    age_in,
    read_message,
)

TODAY = date(2026, 12, 1)


@pytest.fixture(scope="module")
def extractor() -> Extractor:
    return Extractor()


@pytest.fixture
def read(extractor):
    def read(
        text: str,
        asked: str | None,
        before: dict[str, Any] | None = None,
        intent: str = "inform",
        confidence: float = 0.9,
    ) -> Reading:
        entities = tuple(_entities(extractor.extract(text, TODAY)))
        message = Message(text, intent, confidence, entities)
        return read_message(message, asked, before or {}, TODAY, extractor.lexicon)

    return read


# --- the conditions question, asked in two parts (needlecheck/nlu/parts.py) -------------


def test_a_no_to_the_skin_part_answers_that_part_only(read) -> None:
    reading = read("nope, my skin's never had any of that", "conditions", intent="deny")
    assert reading.route == ANSWER
    assert reading.slots == {"conditions": [], "answered_facts": ["conditions_skin"]}


def test_the_health_part_adds_to_what_the_skin_part_told(read) -> None:
    before = {"conditions": ["cold_sore_history"], "answered_facts": ["conditions_skin"]}
    reading = read("type 2 diabetic", "conditions", before)
    assert reading.slots["conditions"] == ["cold_sore_history", "diabetes"]
    assert reading.slots["answered_facts"] == [
        "conditions_skin",
        "conditions_health",
        "conditions",
    ]


def test_a_no_to_the_health_part_keeps_what_the_skin_part_told(read) -> None:
    # Told at the skin part, not volunteered before the question: nothing to check.
    before = {"conditions": ["diabetes"], "answered_facts": ["conditions_skin"]}
    reading = read("no that's it", "conditions", before, intent="deny")
    assert reading.slots.get("conditions", before["conditions"]) == ["diabetes"]
    assert "pending_check" not in reading.slots
    assert "conditions" in reading.slots["answered_facts"]


def test_a_health_condition_named_at_the_skin_part_is_kept(read) -> None:
    reading = read("no skin problems but I am diabetic", "conditions", intent="deny")
    assert reading.slots["conditions"] == ["diabetes"]
    assert reading.slots["answered_facts"] == ["conditions_skin"]


def test_a_condition_told_before_the_question_is_checked_at_its_first_no(read) -> None:
    before = {"conditions": ["bleeding_disorder"], "answered_facts": ["age"]}
    reading = read("no", "conditions", before, intent="deny")
    assert reading.slots["pending_check"]["value"] == "bleeding_disorder"
    assert reading.slots.get("conditions", before["conditions"]) == ["bleeding_disorder"]


# --- list questions ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "asked", "intent"),
    [
        ("nah, nothing I am aware of", "medications", "deny"),
        ("don't think so, no", "conditions", "deny"),
        ("not as far as I know", "allergies", "inform"),
    ],
)
def test_a_hedged_no_answers_a_list_question(read, text, asked, intent) -> None:
    reading = read(text, asked, intent=intent)
    assert reading.route == ANSWER
    assert reading.answered
    assert reading.slots == {asked: [], "answered_facts": mark_answered(asked, [])}


def test_a_hedged_no_keeps_what_was_answered_before(read) -> None:
    before = {"red_flags": [], "answered_facts": ["red_flags"]}
    reading = read("nah, nothing I am aware of", "medications", before, "deny")
    assert reading.slots["answered_facts"] == ["red_flags", "medications"]
    assert "red_flags" not in reading.slots


@pytest.mark.parametrize(
    ("text", "named"),
    [("just some iron tablets", "iron tablets"), ("only vitamin d", "vitamin d")],
)
def test_just_something_off_the_list_is_none_of_it_with_a_note(read, text, named) -> None:
    reading = read(text, "medications")
    assert reading.route == ANSWER
    assert reading.slots["medications"] == []
    assert reading.notes == {"medications": [named]}
    assert reading.slots["fact_notes"] == {"medications": [named]}


@pytest.mark.parametrize("text", ["just my face", "only my cheeks and chin"])
def test_just_something_else_never_rules_out_a_red_flag(read, text) -> None:
    """An answer to the products question, but not to the safety question: "just my
    face" (the area, given early) is not a "no" to fever, pus or swelling."""
    reading = read(text, "red_flags")
    assert "red_flags" not in reading.slots
    assert "red_flags" not in (reading.slots.get("answered_facts") or [])


@pytest.mark.parametrize("text", ["nah, just a bit of dry skin", "no just my face x"])
def test_a_no_with_just_something_else_still_answers_the_red_flags(read, text) -> None:
    reading = read(text, "red_flags", intent="deny")
    assert reading.slots["red_flags"] == []
    assert reading.slots["answered_facts"] == ["red_flags"]


def test_notes_add_up_across_questions(read) -> None:
    before = {"fact_notes": {"allergies": ["hay fever"]}}
    reading = read("only vitamin d", "medications", before)
    assert reading.slots["fact_notes"] == {"allergies": ["hay fever"], "medications": ["vitamin d"]}


def test_an_unknown_medicine_is_checked_not_guessed(read) -> None:
    reading = read("I take zolmitriptan for migraines", "medications")
    assert reading.route == CHECK_MEDICINE
    assert not reading.answered
    # Neither "none" nor a blood thinner until the person says which.
    assert "medications" not in reading.slots
    assert reading.slots["pending_check"] == {
        "fact": "medications",
        "kind": "medicine",
        "value": "zolmitriptan",
    }
    assert reading.notes == {"medications": ["zolmitriptan"]}


@pytest.mark.parametrize(
    ("text", "intent", "medications"),
    [
        ("I take methotrexate", "inform", ["immunosuppressant"]),
        ("neither of those", "deny", []),
    ],
)
def test_the_medicine_check_is_answered_and_closed(read, text, intent, medications) -> None:
    before = {
        "pending_check": {"fact": "medications", "kind": "medicine", "value": "zolmitriptan"},
        "fact_notes": {"medications": ["zolmitriptan"]},
    }
    reading = read(text, "medications", before, intent)
    assert reading.route == ANSWER
    assert reading.slots["medications"] == medications
    assert reading.slots["pending_check"] is None
    assert "medications" in reading.slots["answered_facts"]


ANSWERED_NO_MEDICINES = {"medications": [], "answered_facts": ["medications"]}


def test_an_item_against_an_earlier_no_is_kept_and_checked(read) -> None:
    reading = read("oh I forgot to say, I am on xarelto", "allergies", ANSWERED_NO_MEDICINES)
    # Kept: a gap must never turn into "eligible".
    assert reading.slots["medications"] == ["anticoagulant"]
    assert reading.slots["pending_check"] == {
        "fact": "medications",
        "kind": "contradiction",
        "value": "anticoagulant",
    }
    assert reading.route == CORRECTION
    # The allergy question is not answered by it.
    assert "allergies" not in reading.slots


def test_said_as_a_correction_it_is_not_checked(read) -> None:
    reading = read("actually I am on xarelto", "allergies", ANSWERED_NO_MEDICINES, "correct")
    assert reading.slots["medications"] == ["anticoagulant"]
    assert "pending_check" not in reading.slots


@pytest.mark.parametrize(
    ("text", "intent", "medications"),
    [("yes that's right", "affirm", ["anticoagulant"]), ("no, my mistake", "deny", [])],
)
def test_the_contradiction_check_keeps_or_removes_the_item(read, text, intent, medications) -> None:
    before = {
        "medications": ["anticoagulant"],
        "answered_facts": ["medications"],
        "pending_check": {"fact": "medications", "kind": "contradiction", "value": "anticoagulant"},
    }
    reading = read(text, "medications", before, intent)
    assert reading.answered
    assert reading.slots.get("medications", before["medications"]) == medications
    assert reading.slots["pending_check"] is None


def test_a_bare_yes_asks_which_ones(read) -> None:
    assert read("yes", "red_flags", intent="affirm").route == WHICH_ONES
    reading = read("yep", "topical_products", intent="affirm")
    assert reading.route == WHICH_ONES
    assert reading.slots == {}


def test_a_past_mention_answers_not_now(read) -> None:
    reading = read("I had a cold sore years ago", "active_skin_issues")
    assert reading.route == ANSWER
    assert reading.slots["active_skin_issues"] == []
    assert reading.slots["answered_facts"] == ["active_skin_issues"]
    # Still a history of cold sores, which matters for the face.
    assert reading.slots["conditions"] == ["cold_sore_history"]


def test_a_past_mention_elsewhere_adds_nothing_now(read) -> None:
    reading = read("I used to take warfarin years ago", "allergies")
    assert "medications" not in reading.slots


# --- other purposes ------------------------------------------------------------------


def test_an_answer_with_a_question_is_recorded_and_handed_to_the_question(read) -> None:
    reading = read("I'm 41 - is it painful?", "age", intent="faq_pain")
    assert reading.route == "faq_pain"
    assert reading.answered
    assert reading.slots == {"age": 41}
    reading = read("I am on warfarin, how much does it cost?", "medications", intent="clinic_price")
    assert reading.route == "clinic_price"
    assert reading.slots["medications"] == ["anticoagulant"]


@pytest.mark.parametrize(
    "text", ["nope, enough questions for today", "no - I have had enough of this now, bye"]
)
def test_a_strong_purpose_wins_over_the_no_in_it(read, text) -> None:
    reading = read(text, "medications", intent="goodbye", confidence=0.9)
    assert reading.route == "goodbye"
    assert not reading.answered
    assert "medications" not in reading.slots
    assert "answered_facts" not in reading.slots


def test_start_over_needs_its_own_words(read) -> None:
    before = {"medications": None, "age": 40}
    # The classifier's guess alone does not wipe the answers: a "no" is a "no".
    reading = read("no, none at all", "medications", before, "start_over", 0.85)
    assert reading.route == ANSWER
    assert reading.slots["medications"] == []
    reading = read("can we start over please", "medications", before, "start_over", 0.9)
    assert reading.route == "start_over"
    assert reading.slots == {}


def test_a_question_about_the_questions_words_is_the_question_asked_plainly(read) -> None:
    reading = read(
        "what is dermabrasion?", "recent_procedures", intent="faq_what_is", confidence=0.7
    )
    assert reading.route == UNCLEAR
    assert reading.slots == {}


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("what is a vampire facial??", "faq_related_treatments"),
        ("whats a derma stamp", "faq_home_devices"),
    ],
)
def test_a_question_about_a_treatment_like_microneedling_is_answered(read, text, intent) -> None:
    # No question names these, so they are not the question's own words to explain.
    reading = read(text, "conditions", intent=intent, confidence=0.8)
    assert reading.route == intent
    assert reading.slots == {}


@pytest.mark.parametrize(
    ("text", "asked", "intent"),
    [
        ("is it ok to come with no foundation on?", "active_skin_issues", "faq_session_day"),
        ("home rollers, worth it or no?", "conditions", "faq_home_devices"),
        ("what's collagen induction, never come across it", "recent_procedures", "faq_what_is"),
        ("just wondering how long the appointment is", "medications", "faq_session_day"),
        ("do I have to turn up with a bare face?", "skin_concerns", "faq_session_day"),
        (
            "if my cheeks are still puffy after a week what should i do",
            "cancer_treatment",
            "faq_warning_signs",
        ),
    ],
)
def test_a_question_about_something_else_answers_nothing_with_its_no(
    read, text, asked, intent
) -> None:
    reading = read(text, asked, intent=intent, confidence=0.95)
    assert reading.route == intent
    assert not reading.answered
    assert reading.facts() == {}


def test_a_time_told_with_when_is_no_question(read) -> None:
    # "when I was ..." tells the time it is asked for, whatever the classifier guesses.
    reading = read(
        "when i was a teen, im 30 now, ages back",
        "isotretinoin_last_dose",
        before={"isotretinoin": {"status": "past"}},
        intent="faq_results",
        confidence=0.8,
    )
    assert reading.route == "answer"
    assert reading.facts()["isotretinoin"]["last_dose"]


def test_dark_marks_whenever_a_spot_comes_is_a_history_not_a_question(read) -> None:
    # The classifier once took this for a question about the clinic's address.
    reading = read(
        "i always end up with brown marks whenever i get a pimple",
        "conditions",
        intent="clinic_location",
        confidence=0.73,
    )
    assert reading.route == "answer"
    assert reading.facts() == {"conditions": ["pigmentation_history"]}


def test_a_statement_that_answers_nothing_is_not_handed_to_a_guess(read) -> None:
    # It names something about the person, asks nothing: the question again, not the
    # classifier's guess of a clinic question.
    reading = read(
        "my big pores are the worst", "conditions", intent="clinic_location", confidence=0.7
    )
    assert reading.route == UNCLEAR
    assert not reading.answered


def test_a_no_before_the_question_still_answers(read) -> None:
    reading = read(
        "none of those. when will I see results?",
        "active_skin_issues",
        intent="faq_results",
        confidence=0.95,
    )
    assert reading.answered
    assert reading.facts() == {"active_skin_issues": []}
    assert reading.route == "faq_results"


@pytest.mark.parametrize(
    "text",
    [
        "will microneedling cause dark spots on olive skin",
        "is there a risk of scarring with it",
        "if I end up with pus afterwards should I phone you",
        "keloid risk with microneedling for asian skin?",
        "my friend said it can cause breakouts",
        "is a hydra facial the same thing",
    ],
)
def test_what_the_treatment_might_cause_is_not_the_persons(extractor, text) -> None:
    facts = {m.fact for m in extractor.extract(text, TODAY)}
    assert not facts & {
        "skin_concerns",
        "conditions",
        "red_flags",
        "active_skin_issues",
        "treatment_area",
    }


def test_a_red_flag_is_recorded_whatever_was_asked(read) -> None:
    reading = read("my lips are swelling up", "allergies", intent="report_red_flag", confidence=1.0)
    assert reading.route == ANSWER
    assert reading.slots["red_flags"] == ["allergic_reaction"]


def test_outside_the_questions_the_intent_routes_and_facts_are_kept(read) -> None:
    reading = read("I'm on warfarin, am I suitable?", None, intent="start_screening")
    assert reading.route == "start_screening"
    assert reading.facts() == {"medications": ["anticoagulant"]}


# --- dates ---------------------------------------------------------------------------

PAST_ISOTRETINOIN = {"isotretinoin": {"status": "past"}}
PAST_CANCER_TREATMENT = {"cancer_treatment": {"status": "past"}}


@pytest.mark.parametrize(
    ("text", "asked", "before", "changes"),
    [
        (
            "about seven weeks",
            "isotretinoin_last_dose",
            PAST_ISOTRETINOIN,
            {"isotretinoin": {"status": "past", "last_dose": "2026-10-13"}},
        ),
        (
            "around 2 months I think",
            "cancer_treatment_ended",
            PAST_CANCER_TREATMENT,
            {"cancer_treatment": {"status": "past", "ended": "2026-10-01"}},
        ),
        (
            "I really don't know",
            "isotretinoin_last_dose",
            PAST_ISOTRETINOIN,
            {"dates_unknown": ["isotretinoin.last_dose"]},
        ),
        (
            "I don't know",
            "cancer_treatment_ended",
            PAST_CANCER_TREATMENT,
            {"dates_unknown": ["cancer_treatment.ended"]},
        ),
        (
            "I'm still taking them",
            "isotretinoin_last_dose",
            PAST_ISOTRETINOIN,
            {"isotretinoin": {"status": "current"}},
        ),
        (
            "still having it",
            "cancer_treatment_ended",
            PAST_CANCER_TREATMENT,
            {"cancer_treatment": {"status": "current"}},
        ),
    ],
)
def test_a_date_follow_up_takes_periods_unknowns_and_still_going(
    read, text, asked, before, changes
) -> None:
    reading = read(text, asked, before)
    assert reading.route == ANSWER
    assert reading.answered
    assert reading.slots == changes


def test_procedures_are_dated_one_at_a_time(read) -> None:
    before = {"recent_procedures": [{"type": "laser"}, {"type": "filler"}]}
    reading = read("roughly 3 months", "recent_procedures_date", before)
    assert reading.slots["recent_procedures"] == [
        {"type": "laser", "date": "2026-09-01"},
        {"type": "filler"},
    ]
    reading = read("I honestly don't know", "recent_procedures_date", before)
    assert reading.slots == {"dates_unknown": ["recent_procedures.laser"]}


def test_no_date_in_the_answer_asks_again(read) -> None:
    reading = read("blue", "isotretinoin_last_dose", PAST_ISOTRETINOIN)
    assert reading.route == UNCLEAR
    assert reading.slots == {}


# --- ages ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "age"),
    [
        ("I'm 35", 35),
        ("turning 35 in june", 34),
        ("35 next week", 34),
        ("just turned 25", 25),
        ("forty-two", 42),
        ("born in march 1990", 36),
    ],
)
def test_an_age_is_read_as_people_give_it(read, text, age) -> None:
    reading = read(text, "age")
    assert reading.route == ANSWER
    assert reading.slots == {"age": age}


def test_numbers_that_are_not_ages_are_not_taken_for_one() -> None:
    assert age_in("I had botox 3 weeks ago", TODAY) is None
    assert age_in("10mg a day", TODAY) is None
    assert age_in("not telling you", TODAY) is None


# --- gaps the first version of these tests found in the reader, now closed ------------


def test_a_correction_at_the_pregnancy_question_is_not_a_yes(read) -> None:
    reading = read("sorry, I do use retinol too", "pregnant_or_breastfeeding", intent="correct")
    assert reading.slots["topical_products"] == ["retinoid"]
    assert "pregnant_or_breastfeeding" not in reading.slots


def test_a_bare_yes_to_the_medicines_question_asks_which(read) -> None:
    assert read("yes", "medications", intent="affirm").route == WHICH_ONES


# --- misreadings the simulated conversations found ---------------------------------------


def test_an_age_said_as_a_joke_is_asked_again(read) -> None:
    reading = read("forever 21 haha, 21 again!", "age", intent="start_over", confidence=0.6)
    assert reading.route == UNCLEAR
    assert "age" not in reading.slots


def test_a_skin_cancer_on_an_area_not_treated_is_a_note_not_an_exclusion(read) -> None:
    reading = read("a melanoma on my shin once, but I just want my neck done", "conditions")
    assert reading.slots["conditions"] == []
    assert any("melanoma on my shin" in note for note in reading.notes["conditions"])
    # Without a wanted area the cautious reading stays.
    alone = read("a melanoma on my shin once", "conditions")
    assert alone.slots["conditions"] == ["skin_cancer_in_area"]


def test_an_area_named_only_in_comparison_is_not_wanted(read) -> None:
    reading = read("my neck, it looks older than my face", "treatment_area")
    assert reading.slots["treatment_area"] == ["neck"]


def test_a_product_used_while_asking_is_recorded(read) -> None:
    reading = read("can I get it done while using tretinoin?", None, intent="start_screening")
    assert reading.slots["topical_products"] == ["retinoid"]


def test_a_denial_of_a_volunteered_item_is_checked_not_dropped(read) -> None:
    before = {"medications": ["anticoagulant"]}
    reading = read("warfarin, but I stopped it in the spring", "medications", before)
    # Unchanged (the reading lists only what changes), and checked with the person.
    assert reading.slots.get("medications", before["medications"]) == ["anticoagulant"]
    assert reading.slots["pending_check"] == {
        "fact": "medications",
        "kind": "volunteered",
        "value": "anticoagulant",
    }


def test_a_life_stage_is_dated_only_by_an_age_said_with_it(read) -> None:
    before = {"isotretinoin": {"status": "past"}, "age": 45}
    reading = read("when I was at uni", "isotretinoin_last_dose", before)
    assert reading.slots["dates_unknown"] == ["isotretinoin.last_dose"]
    assert "isotretinoin" not in reading.slots


def test_a_date_inside_a_question_for_the_clinic_answers_nothing(read) -> None:
    before = {"recent_procedures": [{"type": "laser"}], "answered_facts": ["recent_procedures"]}
    reading = read(
        "do you open over Easter?", "recent_procedures_date", before, "clinic_hours", 1.0
    )
    assert reading.route == "clinic_hours"
    assert "recent_procedures" not in reading.slots
    answered = read(
        "three weeks ago, is that too soon?", "recent_procedures_date", before, "faq_downtime", 1.0
    )
    assert answered.slots["recent_procedures"] == [{"type": "laser", "date": "2026-11-10"}]


def test_what_a_medicine_is_for_is_not_a_breakout(read) -> None:
    reading = read("doxycycline for my spots", "medications")
    assert "active_skin_issues" not in reading.slots


def test_a_fact_under_if_that_happened_and_an_area_for_the_needling_count(read) -> None:
    reading = read("could I do it if I stopped roaccutane in june?", None, intent="start_screening")
    assert reading.slots["isotretinoin"] == {"status": "past", "last_dose": "2026-06-30"}
    reading = read(
        "eczema here, can i still get micro needling on my neck", None, intent="start_screening"
    )
    assert reading.slots["treatment_area"] == ["neck"]


def test_a_teenager_says_their_age_with_only(read) -> None:
    assert read("im just 15", None, intent="inform").slots["age"] == 15


def test_the_place_of_a_skin_cancer_still_answers_the_area_question(read) -> None:
    reading = read("my neck please, where the bcc on my neck was", "treatment_area")
    assert reading.slots["treatment_area"] == ["neck"]


# --- the consent question --------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "intent", "consent", "route"),
    [
        ("yeah that's okay with me", "affirm", "given", ANSWER),
        ("okay, ask away", "inform", "given", ANSWER),
        ("no problem at all", "deny", "given", ANSWER),
        ("yes go ahead. do you do evening appointments?", "clinic_hours", "given", "clinic_hours"),
        ("nope", "deny", "declined", ANSWER),
        ("nah not for me thanks", "deny", "declined", ANSWER),
        ("I'd rather not, sorry", "deny", "declined", ANSWER),
        ("i do not consent to that", "inform", "declined", ANSWER),
        ("not ok with storing my info", "affirm", "declined", ANSWER),
        (
            "no, put me through to someone from the team",
            "request_handoff",
            "declined",
            "request_handoff",
        ),
    ],
)
def test_consent_is_read_from_what_people_write(read, text, intent, consent, route) -> None:
    reading = read(text, "health_data_consent", intent=intent)
    assert reading.slots.get("health_data_consent") == consent
    assert reading.route == route


@pytest.mark.parametrize(
    ("text", "intent", "fact"),
    [
        ("I have eczema on my hands", "inform", "conditions"),
        ("no i don't take any tablets", "deny", None),
        ("maybe, not sure yet", "affirm", None),
        ("erm", "affirm", None),
    ],
)
def test_a_fact_or_a_maybe_gives_no_consent(read, text, intent, fact) -> None:
    reading = read(text, "health_data_consent", intent=intent)
    assert "health_data_consent" not in reading.slots
    assert reading.route == UNCLEAR
    if fact:
        # Kept until the answer to consent: forgotten on a "no".
        assert fact in reading.slots


def test_the_consent_buttons_are_read_as_they_say(read) -> None:
    assert (
        read("/affirm", "health_data_consent", intent="affirm").slots["health_data_consent"]
        == "given"
    )
    assert (
        read("/deny", "health_data_consent", intent="deny").slots["health_data_consent"]
        == "declined"
    )


# --- what the simulated conversations taught (second round) ------------------------------


def test_a_clinic_question_at_a_course_question_dates_no_course(read) -> None:
    reading = read(
        "btw I got a gift voucher for my birthday, how do I redeem it",
        "isotretinoin",
        intent="clinic_vouchers",
    )
    assert "isotretinoin" not in reading.slots
    assert reading.route == "clinic_vouchers"


def test_the_classifier_alone_does_not_take_an_answer_away(read) -> None:
    # A confident but wrong intent, with no words of that purpose and no question.
    reading = read(
        "stopped it in june because of the dry lips",
        "isotretinoin_last_dose",
        {"isotretinoin": {"status": "past"}},
        intent="faq_downtime",
    )
    assert reading.answered
    assert reading.slots["isotretinoin"]["last_dose"] == "2026-06-30"


def test_a_side_remark_does_not_take_back_an_earlier_condition(read) -> None:
    before = {"conditions": ["chronic_skin_condition"]}
    remark = read(
        "a bit of redness but it isn't psoriasis", "active_skin_issues", before, "correct", 0.6
    )
    assert "conditions" not in remark.slots
    taken_back = read(
        "actually I got that wrong, no psoriasis", "active_skin_issues", before, "correct", 0.6
    )
    assert taken_back.slots["conditions"] == []


@pytest.mark.parametrize(
    ("text", "fact", "value"),
    [
        ("burnt my nose skiing, could I still book microneedling", "treatment_area", ["face"]),
        ("can I get microneedling for my stretch marks", "skin_concerns", ["stretch_marks"]),
        ("could it help my stretchies?", "skin_concerns", ["stretch_marks"]),
    ],
)
def test_an_opening_with_a_wish_for_the_treatment_keeps_its_area_and_concern(
    read, text, fact, value
) -> None:
    assert read(text, None, intent="start_screening").slots[fact] == value


def test_a_medicine_s_purpose_is_no_area_to_treat(read) -> None:
    reading = read("a short course of steroids for my back last month", "medications")
    assert "treatment_area" not in reading.slots


def test_an_area_inside_a_question_about_aftercare_answers_nothing(read) -> None:
    at_area = read(
        "how long till I can put makeup on my face after?", "treatment_area", intent="faq_aftercare"
    )
    assert not at_area.answered
    assert at_area.route == "faq_aftercare"
    elsewhere = read(
        "how long till I can put makeup on my face after?", "allergies", intent="faq_aftercare"
    )
    assert "treatment_area" not in elsewhere.slots
    # "can you do my face?" still names it.
    assert read(
        "can you do my face? how much is it", "treatment_area", intent="clinic_price"
    ).answered
    # "do" opening a question is no wish: the face here is about the visit.
    visit = read(
        "should I turn up with a clean face or is makeup ok?",
        "treatment_area",
        intent="faq_session_day",
    )
    assert not visit.answered
    asked = read(
        "do we have to arrive with a bare face?", "treatment_area", intent="faq_session_day"
    )
    assert not asked.answered and asked.route == "faq_session_day"


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("do u use numbing cream", "faq_pain"),
        ("wot does it actually help with", "faq_what_it_helps"),
    ],
)
def test_questions_in_text_speak_are_questions(read, text, intent) -> None:
    reading = read(text, "topical_products", intent=intent, confidence=0.45)
    assert not reading.answered
    assert "topical_products" not in reading.slots


def test_a_no_about_something_else_gives_no_answer_to_consent(read) -> None:
    reading = read("nope never tried it before", "health_data_consent", intent="deny")
    assert "health_data_consent" not in reading.slots
    assert reading.route == UNCLEAR


def test_a_question_that_starts_with_its_verb_is_a_question(read) -> None:
    reading = read("is sunscreen a must after it", "topical_products", intent="faq_sun_protection")
    assert "topical_products" not in reading.slots
    # A hedge is no question: "could be 2019" still dates the course.
    hedge = read("could be 2019", "isotretinoin_last_dose", {"isotretinoin": {"status": "past"}})
    assert hedge.slots["isotretinoin"]["last_dose"] == "2019-12-31"


def test_crows_feet_are_on_the_face(read) -> None:
    reading = read("wondering if it would help the crow's feet", None, intent="start_screening")
    assert reading.slots["treatment_area"] == ["face"]
    assert reading.slots["skin_concerns"] == ["wrinkles"]


def test_what_microneedling_is_asked_at_a_date_question_dates_nothing(read) -> None:
    reading = read(
        "what exactly is microneedling? no idea what I signed up for",
        "isotretinoin_last_dose",
        {"isotretinoin": {"status": "past"}},
        intent="correct",
    )
    assert not reading.answered
    assert reading.route == "faq_what_is"


@pytest.mark.parametrize(
    ("text", "asked"),
    [
        ("hmm not sure what scleroderma is", "conditions"),
        ("no idea what a keloid even is tbh", "conditions"),
    ],
)
def test_not_knowing_what_a_word_means_is_no_answer(read, text, asked) -> None:
    # ConText reads the "not" as denying the condition: that must not become a "no".
    reading = read(text, asked)
    assert not reading.answered
    assert reading.route == UNCLEAR
    assert asked not in reading.slots
