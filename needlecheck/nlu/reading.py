"""How one message answers the open question, and what it says about the person.

Plain Python with no Rasa import: the fact reader and the screening form's validation (in
actions/) and `make nlu-eval` all call `read_message`, so what is measured is what the
dialogue does.

The rules that keep people from being stranded or misread:
- An open question owns the message: it is first read as that question's answer. Only a
  clear other purpose (an intent in `OTHER_PURPOSES`) takes it elsewhere, and an answer
  that also asks something is both recorded and handed over.
- Hedges ("not that I know of", "nah") are answers; "not sure" never is (except that a
  possible pregnancy counts as one, and an unknown date is recorded as unknown).
- Things named that are not on the question's list mean "none of the listed"; their names
  are kept as notes for the staff. An unknown medicine name is checked with the person.
- Every fact a message states is recorded, whatever was asked; one that contradicts an
  earlier "no" is recorded and checked with the person.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from typing import Any

from needlecheck.nlu.answers import (
    Said,
    merge_course,
    merge_list,
    said_by_fact,
    undated_procedures,
)
from needlecheck.nlu.extractor import Lexicon, contains_phrase, purpose_said_outright
from needlecheck.nlu.parts import in_open_part, mark_answered, started
from needlecheck.nlu.timeexpr import find_time_expressions
from needlecheck.screening.dates import add_months
from needlecheck.screening.facts import (
    COURSE_FACTS,
    DATE_FOLLOW_UPS,
    FACT_NAMES,
    FACTS,
    LIST_FACTS,
    PROCEDURE_FACT,
    ListFact,
)

ANSWER = "answer"
UNCLEAR = "unclear"
CHECK_MEDICINE = "check_medicine"
WHICH_ONES = "which_ones"
CORRECTION = "correction"

INTENT_AFFIRM = "affirm"
INTENT_DENY = "deny"
INTENT_CORRECT = "correct"
INTENT_RED_FLAG = "report_red_flag"
FAQ_PREFIX = "faq_"
CLINIC_PREFIX = "clinic_"

# Intents that mean something other than an answer. Each has a rule that deals with it
# and then brings the open question back (or ends the questions, for goodbye).
OTHER_PURPOSES = frozenset(
    {
        "ask_why",
        "start_over",
        "request_handoff",
        "request_contact",
        "goodbye",
        "thank",
        "greet",
        "out_of_scope",
    }
)
# Purposes that win over what looks like an answer ("no more questions please"), when the
# classifier is this sure of them.
STRONG_PURPOSES = frozenset({"goodbye", "start_over", "request_handoff", "request_contact"})
STRONG_CONFIDENCE = 0.7
# A correction that takes back an earlier item, from the classifier alone.
CORRECTION_CONFIDENCE = 0.8
# "Yes" from the classifier alone ("huh" can look like one).
YES_CONFIDENCE = 0.6
# How sure the classifier must be before a message that answers nothing is handed over;
# below it, the message counts as an unclear answer and the question is asked again.
HANDOVER_CONFIDENCE = 0.5
# "Out of scope", a greeting or thanks are what the classifier says of much that it has not
# seen: they take a message from its question only when the classifier is sure.
SMALL_TALK = frozenset({"out_of_scope", "greet", "thank"})
SMALL_TALK_CONFIDENCE = 0.75

MEDICINES = "medications"
# The first question: may the assistant ask about health and keep the answers?
CONSENT = "health_data_consent"
CONSENT_GIVEN = "given"
CONSENT_DECLINED = "declined"
# Purposes a "no thanks" to the consent question still goes on to ("no, can I talk to a
# person?"); leaving or small talk after it is just the "no".
_AFTER_DECLINING = frozenset({"request_handoff", "request_contact", "ask_why"})
# A statement about the person or their experience after a "no" ("no never had it done
# before") answers some other question, not the consent one.
_ABOUT_ONESELF = re.compile(r"\b(?:i|i'm|im|i've|ive|never|had|have|take|taking|use|using)\b")
_LEADING_YES = re.compile(r"\W*(?:yes+|yeah|yeh|yep|yup|ya|yea|yh|sure|ok+|okay|k|alright|aye)\b")
PREGNANCY = "pregnant_or_breastfeeding"
AGE = "age"
NEVER = {"isotretinoin": "never", "cancer_treatment": "none"}

# A question without its question mark: a wh-word, or a verb first with its subject after
# it ("does it hurt", "can i", not "did a course at 16").
_QUESTION_START = re.compile(
    r"(?:^|[.!?;,]\s*|\b(?:but|and|so|also|btw|oh)\s+)"
    r"(?:(?:how|what|whats|what's|wat|wats|wot|wut|where|why|who|which)\b"
    # "when i was a teenager" tells a time; "when can i" asks one.
    r"|when\b(?!\s+(?:i|we|he|she|they|im|i'm)\s+(?:was|were|had|got|turned|started|stopped"
    r"|finished|left|took|did|went|came|moved|lived|used)\b)(?!\s+(?:im|i'm)\b)"
    r"|(?:can|could|do|does|did|is|are|will|would|should|shud|shld|shall|may|am|has|have)\s+"
    r"(?:i|you|u|ya|it|they|we|he|she|this|that|there|microneedling|the|my|your|people|one)\b)"
)
# Asking in other words, anywhere in the message: "I was just wondering what the side
# effects are", "platelet rich plasma, is that something you offer", "im nigerian will it
# leave marks", "if its still swollen days later what do i do" (not "is it", which
# statements hold: "that is it").
_QUESTION_CUE = re.compile(
    r"\b(?:wondering|i wonder|is (?:that|this|it) something|do you (?:do|offer)"
    r"|what (?:do|should|can|would) (?:i|you))\b"
    r"|\b(?:will|would|does|can|could) it\s+(?!be\b)\w+"
)
# A message that starts as a question about anything ("is SPF really that important
# after"), not a hedge ("could be 2019", "would have been May").
_LEADING_AUXILIARY = re.compile(
    r"\s*(?:is|are|does|do|can|will|should)\s+(?!be\b|have\b|been\b|not\b)\w+\s+\w+"
)
_WORD = re.compile(r"[a-zà-ÿ][a-zà-ÿ'\-]*")


def is_other_purpose(intent: str | None) -> bool:
    return bool(intent) and (
        intent in OTHER_PURPOSES
        or intent.startswith(FAQ_PREFIX)
        or intent.startswith(CLINIC_PREFIX)
    )


@dataclass(frozen=True)
class Message:
    """A parsed message: its text, the classifier's intent and the extracted entities."""

    text: str
    intent: str | None = None
    confidence: float = 1.0
    entities: tuple[Mapping[str, Any], ...] = ()

    @classmethod
    def from_parse(cls, parse: Mapping[str, Any]) -> Message:
        intent = parse.get("intent") or {}
        return cls(
            text=str(parse.get("text") or ""),
            intent=intent.get("name"),
            confidence=float(intent.get("confidence") or 0.0),
            entities=tuple(parse.get("entities") or ()),
        )

    @property
    def is_button(self) -> bool:
        return self.text.startswith("/")


@dataclass(frozen=True)
class Reading:
    """What a message changes, and what the dialogue should do next.

    `slots` holds only values that change: facts, `answered_facts`, `dates_unknown`,
    `fact_notes` and `pending_check`. `route` is `answer`, `unclear`, `check_medicine`,
    `which_ones`, `correction`, or the intent of another purpose to hand the message to.
    """

    route: str
    answered: bool = False
    slots: dict[str, Any] = field(default_factory=dict)
    notes: dict[str, list[str]] = field(default_factory=dict)

    def facts(self) -> dict[str, Any]:
        return {name: value for name, value in self.slots.items() if name in FACT_NAMES}


@dataclass
class _Turn:
    """Working state while one message is read."""

    message: Message
    asked: str | None
    before: Mapping[str, Any]
    today: date
    words: Lexicon
    slots: dict[str, Any] = field(default_factory=dict)
    notes: dict[str, list[str]] = field(default_factory=dict)
    answered: bool = False
    route: str | None = None
    said: Mapping[str, Said] = field(default_factory=dict)

    def get(self, name: str) -> Any:
        return self.slots[name] if name in self.slots else self.before.get(name)

    def set(self, name: str, value: Any) -> None:
        if value != self.before.get(name) or name in self.slots:
            self.slots[name] = value

    def note(self, fact: str, names: Iterable[str]) -> None:
        for name in names:
            kept = self.notes.setdefault(fact, [])
            if name not in kept:
                kept.append(name)


def read_message(
    message: Message,
    asked: str | None,
    before: Mapping[str, Any],
    today: date,
    words: Lexicon | None = None,
) -> Reading:
    """Read `message`, sent while `asked` (a fact or a date follow-up, or None) was open.

    `before` holds the slots as they were before the message: the facts and the form's
    bookkeeping (`answered_facts`, `dates_unknown`, `fact_notes`, `pending_check`).
    """
    turn = _Turn(message, asked, before, today, words or default_lexicon())
    entities = _placed(turn, _flattened(message.entities))
    said = said_by_fact(entities, (*FACT_NAMES, "course"), asked)
    turn.said = said
    _record_mentions(turn, said)
    if asked is not None and (
        _WHAT_IT_MEANS.search(message.text.lower())
        or (
            _asks_what_it_means(message.text)
            and not said.get(DATE_FOLLOW_UPS.get(asked, asked), Said()).affirmed
        )
    ):
        # "what's isotretinoin?" names it but answers nothing ("coeliac, does that
        # count?" answers and asks).
        pass
    elif asked in DATE_FOLLOW_UPS:
        _read_date(turn)
    elif asked in LIST_FACTS:
        _read_list_answer(turn, said.get(asked, Said()))
    elif asked in COURSE_FACTS:
        _read_course(turn, said)
    elif asked == PREGNANCY:
        _read_pregnancy(turn, said)
    elif asked == AGE:
        _read_age(turn, said)
    elif asked == CONSENT:
        _read_consent(turn, said)
    _decide_route(turn, said)
    if asked == CONSENT and turn.route == CORRECTION:
        # "I had botox in October" is kept, but it is no answer to the consent question.
        turn.route = UNCLEAR
    if turn.notes:
        notes = {k: list(v) for k, v in (before.get("fact_notes") or {}).items()}
        for fact, names in turn.notes.items():
            notes[fact] = list(dict.fromkeys([*notes.get(fact, []), *names]))
        turn.set("fact_notes", notes)
    return Reading(turn.route or UNCLEAR, turn.answered, turn.slots, turn.notes)


@cache
def default_lexicon() -> Lexicon:
    return Lexicon.load()


# --- every fact the message states ---------------------------------------------------


# "more than my face does": a comparison, not an area to treat.
_COMPARED = re.compile(r"\b(?:than|not|except|apart from|other than)\s+(?:my|the|on my)?\s*$")
# "melanoma on my leg": where a skin cancer was.
_PLACE_OF = re.compile(r"^\s*(?:\w+\s+){0,2}?(?:on|from|off|of)\s+(?:my|the|her|his)?\s*$")
_SKIN_CANCER = "skin_cancer_in_area"
# Words of a wish for treatment in a question ("can you do my face?").
# "can you do my face" wishes; "do I need to come in with a clean face?" asks ("do" opening
# a question is no wish).
_WISH_VERB = re.compile(
    r"\b(?:do(?!\s+(?:i|you|u|we|they|people|it)\b)|done|doing|treat\w*|want\w*|like|help"
    r"|improve|fix|sort\w*)\b"
)
_TREATMENTS = frozenset({"medications", "topical_products", "isotretinoin"})
_FOR_CAUSE = re.compile(r"\b(?:for|treats?|treating|against)\s+(?:my|the|her|his)?\s*(?:\w+\s+)?$")


def _placed(turn: _Turn, entities: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Areas that are not wishes: compared ("more than my face"), or the place of a skin
    cancer ("melanoma on my leg ... I only want my face done"). A skin cancer placed on
    an area the person does not want treated is not "in the area": kept as a note for
    the staff. Without a known wanted area it stays, the cautious reading."""
    text = turn.message.text.lower()
    kept: list[dict[str, Any]] = []
    places: list[tuple[dict[str, Any], dict[str, Any]]] = []
    cancers = [
        e for e in entities if e.get("entity") == "conditions" and e.get("value") == _SKIN_CANCER
    ]
    asked_in_passing = (
        turn.asked == "treatment_area"
        and _for_another_purpose(turn)
        and not _WISH_VERB.search(text)
    )
    question_start = _question_start(turn.message.text) if asked_in_passing else len(text)
    for entity in entities:
        start = entity.get("start")
        if entity.get("entity") != "treatment_area" or not isinstance(start, int):
            kept.append(entity)
            continue
        if _COMPARED.search(text[:start]):
            continue
        if start >= question_start:
            # "When can I wash my face after microneedling?" asks about aftercare: the face
            # in it answers nothing at the area question.
            continue
        cancer = next(
            (
                c
                for c in cancers
                if isinstance(c.get("end"), int)
                and 0 <= start - c["end"] <= 20
                and _PLACE_OF.match(text[c["end"] : start])
            ),
            None,
        )
        if cancer is not None:
            places.append((cancer, entity))
            if turn.asked != "treatment_area":
                # At the area question, "my cheek, where the BCC was" still names it.
                continue
        kept.append(entity)
    if turn.asked in _TREATMENTS or any(e.get("entity") in _TREATMENTS for e in kept):
        # "spironolactone for hormonal acne": what a medicine is for, not a breakout now
        # (the question about breakouts asks that itself).
        kept = [
            e
            for e in kept
            if not (
                e.get("entity") == "active_skin_issues"
                and e.get("value") == "inflammatory_acne"
                and isinstance(e.get("start"), int)
                and _FOR_CAUSE.search(text[: e["start"]])
            )
        ]
    wanted = {e.get("value") for e in kept if e.get("entity") == "treatment_area"}
    wanted |= set(turn.before.get("treatment_area") or [])
    for cancer, place in places:
        if wanted and place.get("value") not in wanted:
            kept = [e for e in kept if e is not cancer]
            turn.note("conditions", [turn.message.text[cancer["start"] : place["end"]]])
    return kept


# Facts whose mention comes with a place on the body that is where the problem is, not
# an area the person wants treated ("a wart on my hand").
_LOCATED = (
    "active_skin_issues",
    "conditions",
    "red_flags",
    "allergies",
    "recent_procedures",
    "medications",
    "topical_products",
)


def _record_mentions(turn: _Turn, said: Mapping[str, Said]) -> None:
    answered = list(turn.before.get("answered_facts") or [])
    check = None
    for fact in LIST_FACTS:
        told = said.get(fact)
        if told is None or fact == turn.asked:
            continue
        if fact == "treatment_area" and not _wants_area(turn, said):
            continue
        if fact == "active_skin_issues" and _causes_not_now(turn, said):
            told = Said(
                tuple(v for v in told.affirmed if v not in ("inflammatory_acne", "open_wound")),
                told.denied,
            )
        if (
            fact == "skin_concerns"
            and "other" in told.affirmed
            and _ACNE_SCARS.search(turn.message.text.lower())
        ):
            # "finished Roaccutane, now I just want the scars sorted": acne scars.
            told = Said(
                tuple(dict.fromkeys("acne_scars" if v == "other" else v for v in told.affirmed)),
                told.denied,
            )
        if (
            fact == "skin_concerns"
            and turn.asked == "conditions"
            and not _WANTS_DONE.search(turn.message.text.lower())
        ):
            # "thick raised scar from my c-section" describes a condition there.
            continue
        if fact == PROCEDURE_FACT and "surgical_scars" in _affirmed(said, "skin_concerns"):
            # "the scar from my c-section" is what they want treated, not a recent operation.
            told = Said(
                tuple(v for v in told.affirmed if _item_name(v) != "surgery" or v.get("date")),
                told.denied,
            )
        if fact == "conditions" and "dermatitis_flare" in _affirmed(said, "active_skin_issues"):
            # A flaring eczema or rosacea is the flare: a chronic skin condition is one "not
            # flaring now" (docs/screening-policy.md, "Facts").
            told = Said(
                tuple(v for v in told.affirmed if v != "chronic_skin_condition"), told.denied
            )
            if not told.affirmed and not told.denied:
                continue
        before = turn.before.get(fact)
        if (
            told.denied
            and not (
                turn.message.intent == INTENT_CORRECT
                and turn.message.confidence >= CORRECTION_CONFIDENCE
            )
            and not _TAKES_BACK.search(turn.message.text.lower())
        ):
            # "some dry bits, but it's not eczema" at another question does not take back
            # the rosacea named earlier (both are one value): only a correction does, one
            # the classifier is sure of or that says so.
            told = Said(told.affirmed, ())
        merged = merge_list(fact, before, told, asked=False)
        if merged is None or merged == before:
            continue
        turn.set(fact, merged)
        added = [v for v in told.affirmed if not _has_item(before, fact, v)]
        # An item added to a list the person said "no" to is kept (a gap must never turn
        # into "eligible"), and checked with them unless they said it was a correction.
        if (
            added
            and fact in answered
            and before == []
            and fact != "red_flags"  # never checked: a red flag ends the questions at once
            and turn.message.intent != INTENT_CORRECT
            and check is None
        ):
            check = {"fact": fact, "kind": "contradiction", "value": _item_name(added[0])}
    for fact in COURSE_FACTS:
        if fact in said and said[fact].affirmed:
            value = strongest_course([v for v in said[fact].affirmed if isinstance(v, Mapping)])
            course = _course_of_message(said, fact)
            # "I said I'd never had roaccutane but I'm actually still taking it"
            if (
                course is not None
                and value.get("status") != "current"
                and (
                    course.get("status") == "current"
                    or (value.get("status") == NEVER[fact] and course.get("status") == "past")
                )
            ):
                value = course
            if value:
                turn.set(fact, merge_course(turn.before.get(fact), value))
    if AGE in said and said[AGE].affirmed:
        turn.set(AGE, said[AGE].affirmed[-1])
    if PREGNANCY in said:
        told = said[PREGNANCY]
        value = told.affirmed[-1] if told.affirmed else None
        if told.denied and value is None:
            value = False
        if isinstance(value, bool):
            turn.set(PREGNANCY, value)
    if check is not None and turn.before.get("pending_check") is None:
        turn.set("pending_check", check)


# Words that take an earlier answer back ("actually I don't take warfarin, I got that
# wrong").
_TAKES_BACK = re.compile(
    r"\b(?:actually|i was wrong|got (?:that|it) wrong|i meant|my mistake|mistake|"
    r"i said|correction|scratch that|ignore (?:that|what i said))\b"
)


_WANTS = re.compile(
    r"\b(?:want|wanted|wanting|like|love|treat|treated|treating|treatment|done|do|doing|help|"
    r"improve|fix|get rid|microneedl\w*|for my|area|areas)\b"
)


_WANTS_DONE = re.compile(
    r"\bwant(?:ed|s)?\b[^.!?]*\b(?:done|treated|doing|sorted|microneedled)\b|\bi(?:'d| would) like\b"
)


_ASKS_FOR_IT = re.compile(r"\b(?:micro[\s-]?needl\w*|dermapen\w*|collagen induction|book\w*)\b")
_NEEDLING_ON = re.compile(r"\bmicro[\s-]?needl\w*\s+(?:on|for|to)\s+(?:my|the)\b")


def _wants_area(turn: _Turn, said: Mapping[str, Said]) -> bool:
    """A body part named outside the area question is an area to treat only with a skin
    concern or words of wanting ("I'd like my neck done"), not where a problem is ("a wart
    on my hand", "salicylic face wash")."""
    concern = _affirmed(said, "skin_concerns")
    if turn.asked is not None and not concern and _for_another_purpose(turn):
        # "do I need to come in with a clean face?" asks about the visit, at any question.
        return False
    if concern or turn.asked == "skin_concerns":
        # "a keloid scar on my chest" at "what would you like to improve?"
        return True
    lowered = turn.message.text.lower()
    if _WANTS_DONE.search(lowered):
        # "a BCC removed from my cheek, and it's my face I want done"
        return True
    if _NEEDLING_ON.search(lowered):
        # "cold sores a lot, can I still have micro needling on my face"
        return True
    if turn.asked in _TREATMENTS:
        # "prednisolone last month for my chest": what a medicine was for.
        return False
    if turn.asked is not None and _for_another_purpose(turn):
        # "When can I wash my face after microneedling?" in the middle of the questions.
        return False
    if turn.asked is None and _ASKS_FOR_IT.search(lowered):
        # "sunburnt my face on holiday, can I still get microneedled next week?": outside
        # the questions, the place of a problem named with a wish for the treatment is
        # where it would be. (The area question is still asked, and a place it leaves
        # out is checked with the person.)
        return True
    if any(_affirmed(said, other) for other in _LOCATED):
        return False
    return bool(_WANTS.search(lowered))


def _causes_not_now(turn: _Turn, said: Mapping[str, Said]) -> bool:
    """ "Scars from teenage acne", "every cut leaves a dark mark", "I bleed a lot when I
    cut myself": the spots and cuts are causes, not a breakout or a wound now."""
    concerns = set(_affirmed(said, "skin_concerns"))
    conditions = set(_affirmed(said, "conditions"))
    if not (
        concerns & {"acne_scars", "hyperpigmentation", "other"}
        or conditions & {"pigmentation_history", "keloid_history", "bleeding_disorder"}
    ):
        return False
    return not contains_phrase(turn.message.text, (*turn.words.current_cues, "active"))


def strongest_course(values: list[Mapping[str, Any]]) -> dict[str, Any]:
    """Several things said of one course: the one that asks most caution. Going on now
    beats past; past beats never; of past ones, an unknown date (counted as recent) beats
    a known one, and a later date an earlier one."""
    if not values:
        return {}

    def caution(value: Mapping[str, Any]) -> tuple[int, str]:
        status = value.get("status")
        dated = next((v for k, v in value.items() if k != "status" and v), None)
        if status == "current":
            return (3, "")
        if status == "past":
            return (2, "9999") if dated is None else (1, str(dated))
        return (0, "")

    return dict(max(values, key=caution))


def _course_of_message(said: Mapping[str, Said], fact: str) -> dict[str, Any] | None:
    """The whole message read as about "it", as this course fact's value; None when the
    message names another fact, which "it" would then be."""
    course = said.get("course")
    if course is None or not course.affirmed or _facts_told(said, exclude=fact):
        return None
    reading = course.affirmed[-1]
    if not isinstance(reading, Mapping):
        return None
    status = reading.get("status")
    if status == "never":
        return {"status": NEVER[fact]}
    if status == "current":
        return {"status": "current"}
    if status == "past":
        value = {"status": "past"}
        if reading.get("date"):
            value[COURSE_FACTS[fact]] = reading["date"]
        return value
    return None


def _affirmed(said: Mapping[str, Said], fact: str) -> tuple[Any, ...]:
    return said[fact].affirmed if fact in said else ()


def _has_item(items: Any, fact: str, value: Any) -> bool:
    if not items:
        return False
    key = _item_name(value)
    return any(_item_name(item) == key for item in items)


def _item_name(value: Any) -> Any:
    return value.get("type") if isinstance(value, Mapping) else value


# --- the open question ---------------------------------------------------------------


def _read_list_answer(turn: _Turn, own: Said) -> None:
    fact = turn.asked
    assert fact is not None
    text = turn.message.text
    before = turn.before.get(fact)
    answered = list(turn.before.get("answered_facts") or [])
    check = turn.before.get("pending_check")
    checking = isinstance(check, Mapping) and check.get("fact") == fact
    value: list[Any] | None = None
    if checking and check.get("kind") in ("contradiction", "volunteered") and not own.affirmed:
        # "Earlier you said no blood thinners. Do you take warfarin?"
        if _says_yes(turn):
            value, turn.answered = list(before or []), True
        elif _says_none(turn) or own.denied:
            value = [v for v in before or [] if _item_name(v) != check.get("value")]
            turn.answered = True
    kind = FACTS[fact]
    # "Which area?" and "what to improve?" need something named: "no" does not answer them.
    needs_one = isinstance(kind, ListFact) and kind.min_items > 0
    if fact == "conditions" and "dermatitis_flare" in _affirmed(turn.said, "active_skin_issues"):
        own = Said(tuple(v for v in own.affirmed if v != "chronic_skin_condition"), own.denied)
    if fact == "skin_concerns" and "pigmentation_history" in _affirmed(turn.said, "conditions"):
        own = Said(tuple(dict.fromkeys([*own.affirmed, "hyperpigmentation"])), own.denied)
        earlier = turn.before.get("conditions") or []
        if not _TENDENCY.search(text.lower()) and "pigmentation_history" not in earlier:
            # "dark spots left over from old pimples" is the concern; "every cut leaves a
            # dark mark" is also a history the staff should know.
            remaining = [c for c in turn.get("conditions") or [] if c != "pigmentation_history"]
            if remaining or turn.before.get("conditions") is not None:
                turn.set("conditions", remaining)
            else:
                turn.slots.pop("conditions", None)
    if fact == "active_skin_issues" and _causes_not_now(turn, turn.said):
        own = Said(
            tuple(v for v in own.affirmed if v not in ("inflammatory_acne", "open_wound")),
            own.denied,
        )
    everything = [
        v
        for v in turn.words.question_answers.get(fact, {}).get("all") or ()
        if in_open_part(fact, answered, v)
    ]
    if everything and _says(turn, "all") and not own.denied:
        own = Said(tuple(dict.fromkeys([*own.affirmed, *everything])), ())
    possible = [e.get("value") for e in turn.message.entities if e.get("role") == "possible"]
    if (
        own.affirmed
        and all(v in possible for v in own.affirmed)
        and (
            contains_phrase(turn.message.text, turn.words.answers.get("none_now", ()))
            or _LEADING_NO.match(text.lower())
        )
    ):
        # "had lidocaine at the dentist loads of times, no issues"
        own = Said((), own.denied)
    if not turn.answered:
        if own.affirmed or own.denied:
            value = merge_list(fact, before, own, asked=True)
            turn.answered = bool(value) or not needs_one
            dropped = [v for v in before or [] if not _has_item(value, fact, v)]
            if dropped and not checking and not started(fact, answered) and fact != "red_flags":
                # "I use Epiduo" earlier, "retinol, but I stopped it" now: kept, and
                # checked with the person, as a "no" after a volunteered fact is.
                value = [*value, *dropped]
                turn.set(
                    "pending_check",
                    {"fact": fact, "kind": "volunteered", "value": _item_name(dropped[0])},
                )
        elif (needs_one and fact != "skin_concerns") or (
            _about_other_facts(turn, fact) and not _LEADING_NO.match(text.lower())
        ):
            # "I'm not pregnant btw" at the skin question says nothing of the skin;
            # "no, but I have eczema" answers first, then tells more.
            pass
        elif _says_none(turn) and not needs_one:
            value = list(before or [])
            turn.answered = True
            if value and not checking and not started(fact, answered):
                # "I take warfarin" earlier, "no" now: kept, and checked with the person.
                turn.set(
                    "pending_check",
                    {"fact": fact, "kind": "volunteered", "value": _item_name(value[0])},
                )
                checking = False
                turn.answered = True
                turn.set(fact, value)
                turn.set("answered_facts", mark_answered(fact, answered))
                return
        else:
            # "do I need to stay out of the sun after?" names the sun but answers nothing.
            asking = _is_question(text) and not _LEADING_NO.match(text.lower())
            # "just my face" says "none of these" to a list of products, not to the
            # safety question: a red flag is ruled out only by a "no" (or a thing the
            # lexicon knows is not one), never by something else named after "just".
            outside = (
                []
                if _says_unsure(turn) or asking
                else _outside_list(turn, fact, cue=fact != "red_flags")
            )
            if outside:
                turn.note(fact, outside)
                value = list(before or [])
                turn.answered = True
                if fact == "skin_concerns":
                    value = merge_list(fact, before, Said(affirmed=("other",)), asked=True)
            elif (
                fact == "skin_concerns"
                and _describes_something(turn)
                and not _for_another_purpose(turn)
            ):
                # Something to improve that is not on the list ("saggy jowls").
                turn.note(fact, [text.strip()])
                value = merge_list(fact, before, Said(affirmed=("other",)), asked=True)
                turn.answered = True
            elif (
                fact == MEDICINES
                and not checking
                and not _is_question(text)
                and not (
                    is_other_purpose(turn.message.intent) and _confident(turn.message, turn.words)
                )
                and not _facts_told(turn.said, exclude=fact)
                and (unknown := _unknown_names(turn))
            ):
                turn.note(fact, unknown)
                turn.set("pending_check", {"fact": fact, "kind": "medicine", "value": unknown[0]})
                turn.route = CHECK_MEDICINE
                return
            elif _says_yes(turn) and not _is_question(text) and not _facts_told(turn.said, fact):
                turn.route = WHICH_ONES
                return
    if turn.answered:
        if value is not None:
            turn.set(fact, value or [])
        marked = mark_answered(fact, answered)
        if marked != answered:
            turn.set("answered_facts", marked)
        if checking:
            turn.set("pending_check", None)
        leftovers = _outside_list(turn, fact, cue=False)
        if leftovers and own.affirmed:
            turn.note(fact, leftovers)


def _read_course(turn: _Turn, said: Mapping[str, Said]) -> None:
    fact = turn.asked
    assert fact is not None
    own = said.get(fact)
    if own is not None and own.affirmed:
        turn.answered = True
        return
    if _says_unsure(turn) or (
        _is_question(turn.message.text) and not _LEADING_NO.match(turn.message.text.lower())
    ):
        # "not sure, I had some acne tablets years ago": which tablets is not known; "will
        # I need to avoid the sun? going to lanzarote in jan" is about something else.
        return
    # "got a voucher for xmas, how do I use it": its date is the voucher's, not the course's.
    value = None if _for_another_purpose(turn) else _course_of_message(said, fact)
    if value is None and _says_none(turn):
        value = {"status": NEVER[fact]}
    if value is None and _says_yes(turn) and not _is_question(turn.message.text):
        value = {"status": "past"}
    if value is not None:
        turn.set(fact, merge_course(turn.before.get(fact), value))
        turn.answered = True


def _read_pregnancy(turn: _Turn, said: Mapping[str, Said]) -> None:
    none = turn.words.question_answers.get(PREGNANCY, {}).get("none", ())
    if PREGNANCY in said:
        turn.answered = True
    elif contains_phrase(turn.message.text, none):
        turn.set(PREGNANCY, False)
        turn.answered = True
    elif (_says_unsure(turn) or _says_yes(turn)) and not (
        turn.message.intent == INTENT_CORRECT or _facts_told(said, exclude=PREGNANCY)
    ):
        # A possible pregnancy is treated as one until the consultation says otherwise
        # ("sorry, I do use retinol too" is a correction, not a yes).
        turn.set(PREGNANCY, True)
        turn.answered = True
    elif _says_none(turn):
        turn.set(PREGNANCY, False)
        turn.answered = True


_NUMBER_WORDS = {
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "thirteen": 13,
    "fourteen": 14,
    "fifteen": 15,
    "sixteen": 16,
    "seventeen": 17,
    "eighteen": 18,
    "nineteen": 19,
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fourty": 40,
    "fifty": 50,
    "sixty": 60,
    "seventy": 70,
    "eighty": 80,
    "ninety": 90,
}
_UNITS = {
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
}
_AGE_NUMBER = re.compile(
    r"(?<![\d/.-])(\d{1,3})(?![\d/:]|\.\d|\s*(?:days?|weeks?|wks?|months?|mg|%|x\b|am\b|pm\b|years? ago|yrs? ago))"
    r"|\b(" + "|".join(_NUMBER_WORDS) + r")(?:[\s-]+(" + "|".join(_UNITS) + r"))?\b"
    r"|\b(" + "|".join(_UNITS) + r")\b"
)
# "turning 40", "40 next month", "I'll be 25 on Friday": a birthday still to come.
_COMING = re.compile(r"\b(?:turning|turn|be|will be|i'll be|ill be)\s+$|^\s*(?:next|on|in|this)\b")
_BORN = re.compile(r"\b(?:born|dob|d\.o\.b|birthday is)\b")


YES = "yes"
NO = "no"


def read_reply(message: Message, words: Lexicon | None = None) -> str | None:
    """A yes/no question's reply (consent, or the offer of the questions): `yes`, `no`,
    or None for neither. Its `none` phrases come first ("not ok with that" is no "ok"),
    then its `yes` phrases, a leading "yes"/"ok"/"sure" or the classifier's affirm; a bare
    "no" counts only when it says nothing else about the person ("no I don't take any
    meds" answers a question that was not asked)."""
    turn = _Turn(message, CONSENT, {}, date.min, words or default_lexicon())
    entities = _flattened(message.entities)
    return _reply(turn, said_by_fact(entities, (*FACT_NAMES, "course"), None))


def _reply(turn: _Turn, said: Mapping[str, Said]) -> str | None:
    message = turn.message
    text = message.text.lower().strip()
    phrases = turn.words.question_answers.get(CONSENT, {})
    if message.is_button:
        return {INTENT_AFFIRM: YES, INTENT_DENY: NO}.get(message.intent or "")
    if contains_phrase(text, phrases.get("none", ())):
        return NO
    if _says_unsure(turn) or _is_just_a_noise(text):
        return None
    if (
        contains_phrase(text, phrases.get("yes", ()))
        or _LEADING_YES.match(text)
        or (
            message.intent == INTENT_AFFIRM
            and message.confidence >= YES_CONFIDENCE
            and not _says(turn, "none")
        )
    ):
        # Not the answers' "i have" or "i am": "I have eczema" is no yes.
        return YES
    if _LEADING_NO.match(text) or (
        _short(text, turn.words)
        and _says_none(turn)
        and not _mentions_facts(said)
        and not _ABOUT_ONESELF.search(text)
    ):
        # "nope", "nah mate", "no. can I talk to someone?"
        return NO
    return None


def _read_consent(turn: _Turn, said: Mapping[str, Said]) -> None:
    """ "yes fine, how much is it?" gives consent and asks the price; "no ta" or "I'd rather
    not" declines; "maybe", "who sees it?" or a health fact alone is neither."""
    message = turn.message
    text = message.text.lower().strip()
    reply = _reply(turn, said)
    value = {YES: CONSENT_GIVEN, NO: CONSENT_DECLINED}.get(reply or "")
    if value is None:
        return
    turn.set(CONSENT, value)
    turn.answered = True
    if value == CONSENT_DECLINED:
        purpose = _purpose_said_outright(turn) or (
            message.intent if _confident(message, turn.words) else None
        )
        turn.route = (
            purpose
            if purpose in _AFTER_DECLINING
            or (is_other_purpose(purpose) and purpose not in OTHER_PURPOSES and _is_question(text))
            else ANSWER
        )


def _mentions_facts(said: Mapping[str, Said]) -> bool:
    return any(
        s.affirmed or s.denied
        for name, s in said.items()
        if name not in _ASIDE and name != "course"
    )


def _read_age(turn: _Turn, said: Mapping[str, Said]) -> None:
    """How old: an age the extractor found, else the first number that reads as one."""
    if AGE in said and said[AGE].affirmed:
        turn.answered = True
        return
    if _is_question(turn.message.text) or _NOT_REALLY.search(turn.message.text.lower()):
        # "is one treatment enough?" has a number but no age; "29 again 😉" is a joke.
        return
    age = age_in(turn.message.text, turn.today)
    if age is not None:
        turn.set(AGE, age)
        turn.answered = True


_NOT_REALLY = re.compile(r"\b\d{1,3}\s+again\b|\bforever\s+\d{1,3}\b|\bold enough\b")


def age_in(text: str, today: date) -> int | None:
    lowered = re.sub(r"\b(\d)-0\b", r"\g<1>0", text.lower())  # "the big 6-0"
    if _BORN.search(lowered):
        born = _dateparser(
            _BORN.sub(" ", re.sub(r"\b(?:i was|i am|i'm|im|my|is)\b", " ", lowered)), today
        )
        if born is not None and born.year < today.year:
            years = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
            return years if 0 < years <= 120 else None
    for match in _AGE_NUMBER.finditer(lowered):
        digits, tens, unit, alone = match.groups()
        if digits:
            value = int(digits)
        elif tens:
            value = _NUMBER_WORDS[tens] + (_UNITS[unit] if unit else 0)
        else:
            value = _UNITS[alone]
        if not 1 <= value <= 120:
            continue
        before, after = lowered[: match.start()], lowered[match.end() :]
        if _COMING.search(before) or re.match(
            r"\s*(?:next|on (?:mon|tue|wed|thu|fri|sat|sun)|in (?:a|\d|jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec))",
            after,
        ):
            value -= 1
        return value if 1 <= value <= 120 else None
    return None


def _read_date(turn: _Turn) -> None:
    asked = turn.asked
    assert asked is not None
    fact = DATE_FOLLOW_UPS[asked]
    unknown = list(turn.before.get("dates_unknown") or [])
    if fact == PROCEDURE_FACT:
        procedures = turn.get(fact) or []
        pending = undated_procedures(procedures, unknown)
        if not pending:
            turn.answered = True
            return
        key = f"{fact}.{pending[0]}"
    else:
        key = f"{fact}.{COURSE_FACTS[fact]}"
    if fact != PROCEDURE_FACT:
        course = _course_of_message(turn.said, fact)
        if (
            course is not None
            and course.get("status") == NEVER[fact]
            and _NEVER_TAKEN.search(turn.message.text.lower())
        ):
            # "I never actually took it": the earlier answer was wrong.
            turn.set(fact, course)
            turn.answered = True
            return
    message = turn.message
    if _asks_something_else(turn):
        # "are you open between Christmas and New Year?", "what time do you close? I
        # finish at 6": a question for another purpose, whose dates answer nothing here;
        # "it ended in july, why does it matter?" answers before it asks.
        cut = _question_start(message.text)
        if not re.search(r"\w", message.text[:cut]) or cut >= len(message.text):
            # Nothing before the question, or no telling where it starts ("wat time u
            # shut today"): the whole message is for the other purpose.
            return
        message = Message(
            text=message.text[:cut],
            intent=message.intent,
            confidence=message.confidence,
            entities=tuple(
                e for e in message.entities if not isinstance(e.get("end"), int) or e["end"] <= cut
            ),
        )
    if fact != PROCEDURE_FACT and (turn.slots.get(fact) or {}).get("status") == "current":
        # "chemo ended in April but I'm still doing immunotherapy"
        turn.answered = True
        return
    # A life stage ("at uni", "as a teenager") is dated only by an age given with it: an
    # age told earlier is no reliable count of years (the corpus's convention too), and
    # an undated course counts as recent.
    own_age = turn.said[AGE].affirmed[-1] if AGE in turn.said and turn.said[AGE].affirmed else None
    answer = date_answer(message, own_age, turn.today, turn.words)
    if answer is None:
        # The message may have dated the procedure itself ("botox 3 weeks ago").
        turn.answered = fact == PROCEDURE_FACT and not undated_procedures(turn.get(fact), unknown)
        return
    turn.answered = True
    if answer == "unknown":
        turn.set("dates_unknown", [*unknown, key])
    elif fact == PROCEDURE_FACT:
        if answer == "ongoing":
            turn.answered = False
            return
        kind = key.split(".", 1)[1]
        done = False
        dated = []
        for item in turn.get(fact) or []:
            if not done and item.get("type") == kind and not item.get("date"):
                item = {**item, "date": answer}
                done = True
            dated.append(item)
        turn.set(fact, dated)
    elif answer == "ongoing":
        turn.set(fact, {"status": "current"})
    else:
        turn.set(fact, {"status": "past", COURSE_FACTS[fact]: answer})


def date_answer(
    message: Message, age: Any, today: date, words: Lexicon | None = None
) -> str | None:
    """An ISO date, "ongoing", "unknown", or None when the message gave none of them."""
    words = words or default_lexicon()
    for entity in message.entities:
        value = entity.get("value")
        if entity.get("entity") != "time" or not isinstance(value, Mapping):
            continue
        if value.get("date"):
            return str(value["date"])
        at_age = value.get("at_age")
        if at_age is not None:
            if isinstance(age, int) and age >= at_age:
                return add_months(today, -12 * max(age - at_age - 1, 0)).isoformat()
            # "when I was a teenager" with no age to count from: a date not known.
            return "unknown"
    text = message.text
    if contains_phrase(text, words.still_going):
        return "ongoing"
    # At a date question "about 6 weeks" means six weeks ago, and "maybe august" August.
    bare = re.sub(_BARE_PERIOD, r"\1 ago", text.lower())
    bare = re.sub(_BARE_MONTH, r"in \1", bare)
    if bare != text.lower():
        found = [e for e in find_time_expressions(bare, today) if e.when]
        if found:
            return found[0].when.isoformat()
    if contains_phrase(text, words.date_unknown) or _says_unsure_text(text, words):
        return "unknown"
    parsed = _dateparser(text, today)
    return parsed.isoformat() if parsed else None


_BARE_MONTH = re.compile(
    r"(?<!\bin )\b(january|february|march|april|june|july|august|september|october|november|"
    r"december|jan|feb|mar|apr|jun|jul|aug|sept|sep|oct|nov|dec)\b"
)
_BARE_PERIOD = re.compile(
    r"\b(days?|weeks?|wks?|fortnights?|months?|mths?|years?|yrs?)\b(?!\s+(?:ago|back))"
)


def _dateparser(text: str, today: date) -> date | None:
    """Dates the hand-written expressions miss ("3rd of feb", "Feb 2024", "14/06/2025")."""
    if not re.search(r"\d|jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec", text.lower()):
        return None
    import datetime as dt

    import dateparser

    settings = {
        "RELATIVE_BASE": dt.datetime.combine(today, dt.time()),
        "PREFER_DATES_FROM": "past",
        "PREFER_DAY_OF_MONTH": "last",
        "DATE_ORDER": "DMY",
        "RETURN_AS_TIMEZONE_AWARE": False,
    }
    cleaned = re.sub(r"\b(?:on|in|around|about|roughly|the|of|maybe|approx)\b", " ", text.lower())
    parsed = dateparser.parse(cleaned.strip(" .!?"), languages=["en"], settings=settings)
    if parsed is None:
        return None
    when = parsed.date()
    return when if when <= today else None


# --- what kind of answer the text is ---------------------------------------------------


def _decide_route(turn: _Turn, said: Mapping[str, Said]) -> None:
    message = turn.message
    if turn.route is not None:
        return
    if message.intent == INTENT_RED_FLAG or said.get("red_flags", Said()).affirmed:
        turn.route = ANSWER
        return
    # Words that say the purpose outright ("forget it", "can the nurse ring me") count
    # even when the classifier missed them.
    said_outright = _purpose_said_outright(turn)
    intent = said_outright or message.intent
    asks_other = bool(said_outright) or (
        is_other_purpose(message.intent) and _confident(message, turn.words)
    )
    strong = intent in STRONG_PURPOSES and (
        bool(said_outright) or message.confidence >= STRONG_CONFIDENCE or message.is_button
    )
    if turn.answered and asks_other and strong:
        # "no more questions please" is not a "no": the answer is not taken.
        for name in (turn.asked, DATE_FOLLOW_UPS.get(turn.asked or ""), "answered_facts"):
            turn.slots.pop(name or "", None)
        turn.answered = False
        turn.route = intent or UNCLEAR
        return
    if turn.answered:
        handover = asks_other and (_is_question(message.text) or message.is_button)
        turn.route = intent if handover and intent else ANSWER
    elif turn.asked is not None and _asks_what_it_means(message.text) and not strong:
        # "what's dermabrasion?", "does microblading count?": the question, put plainly.
        turn.route = UNCLEAR
    elif turn.asked is None or (
        asks_other
        and (strong or _is_question(message.text) or said_outright)
        and not (intent in SMALL_TALK and _says_unsure(turn))
    ):
        turn.route = intent or UNCLEAR
    elif message.intent == INTENT_CORRECT or _facts_changed(turn):
        turn.route = CORRECTION
    elif _asks_what_it_means(message.text) or (
        _says_unsure(turn) and intent not in (*STRONG_PURPOSES, "ask_why")
    ):
        # "what's a local anaesthetic?", "not sure yet": the question, put more plainly.
        turn.route = UNCLEAR
    elif asks_other and (_is_question(message.text) or not message.entities):
        turn.route = intent or UNCLEAR
    else:
        # A statement naming something about the person that answers nothing here is not
        # handed to the classifier's guess ("I get dark marks whenever I get a spot" was
        # once "clinic location"): the question is asked again.
        turn.route = UNCLEAR


def _purpose_said_outright(turn: _Turn) -> str | None:
    # The same reading as the NLU component's (ScreeningFactExtractor), which sets the
    # intent Rasa's rules follow; starting the screening is no purpose to hand over to.
    purpose = purpose_said_outright(turn.words, turn.message.text)
    return purpose if is_other_purpose(purpose) else None


def _facts_changed(turn: _Turn) -> bool:
    return any(name in FACT_NAMES for name in turn.slots)


def _question_start(text: str) -> int:
    """Where the first question of `text` begins: its question words, or else the start
    of the sentence that ends with the first question mark."""
    lowered = text.lower()
    match = _QUESTION_START.search(lowered)
    if match:
        lead = re.match(r"[.!?;,]?\s*(?:(?:but|and|so|also|btw|oh)\s+)?", lowered[match.start() :])
        return match.start() + (lead.end() if lead else 0)
    mark = lowered.find("?")
    if mark < 0:
        return len(text)
    return max(lowered.rfind(p, 0, mark) for p in ".!;\n") + 1


def _before_the_question(text: str) -> str:
    """What a message says before it starts asking: up to the sentence with the question
    mark, or without one up to the first words that ask."""
    if "?" in text:
        return text[: _question_start(text)]
    lowered = text.lower()
    starts = [
        m.start() for m in (_QUESTION_START.search(lowered), _QUESTION_CUE.search(lowered)) if m
    ]
    return text[: min(starts)] if starts else ""


def _for_another_purpose(turn: _Turn) -> bool:
    """A question about the clinic or microneedling: the classifier is sure, and the words
    say it ("got a voucher for xmas how do i use it", "wat time u shut today") or ask it.
    The classifier alone is not enough: "quit in may because of the nosebleeds" can look
    like a question about sessions."""
    message = turn.message
    return (
        bool(message.intent)
        and str(message.intent).startswith((FAQ_PREFIX, CLINIC_PREFIX))
        and not message.is_button
        and _confident(message, turn.words)
        and not _LEADING_NO.match(message.text.lower())
        and (_purpose_said_outright(turn) is not None or _is_question(message.text))
    )


def _asks_something_else(turn: _Turn) -> bool:
    message = turn.message
    if _for_another_purpose(turn):
        return True
    if not _is_question(message.text) or _LEADING_NO.match(message.text.lower()):
        return False
    if _purpose_said_outright(turn):
        return True
    return (
        is_other_purpose(message.intent)
        and message.intent not in SMALL_TALK
        and _confident(message, turn.words)
    )


def _confident(message: Message, words: Lexicon | None = None) -> bool:
    if message.is_button:
        return True
    cues = (words or default_lexicon()).purpose_cues.get(message.intent or "")
    if cues is not None and not contains_phrase(message.text, cues):
        return False
    floor = SMALL_TALK_CONFIDENCE if message.intent in SMALL_TALK else HANDOVER_CONFIDENCE
    return message.confidence >= floor


def _is_question(text: str) -> bool:
    lowered = text.lower().strip()
    return (
        "?" in lowered
        or bool(_QUESTION_START.search(lowered))
        or bool(_QUESTION_CUE.search(lowered))
        or bool(_LEADING_AUXILIARY.match(lowered))
    )


def _short(text: str, words: Lexicon) -> bool:
    return len(_WORD.findall(text.lower())) <= words.short_answer_words


def _says(turn: _Turn, kind: str) -> bool:
    text = turn.message.text.lower().strip()
    phrases = turn.words.answers.get(kind, ())
    if not phrases:
        return False
    if _short(text, turn.words):
        return contains_phrase(text, phrases)
    # A longer message counts when it starts with the answer ("nope, I only use ...").
    return any(re.match(rf"{re.escape(p)}(?![\w'])", text) for p in phrases)


def _says_none(turn: _Turn) -> bool:
    if _says_unsure(turn) or _is_just_a_noise(turn.message.text):
        return False
    if turn.asked is not None and _for_another_purpose(turn):
        # "should I come with no makeup on?", "diy microneedling - good idea or no?",
        # "what is microneedling, never heard of it": a question about something else,
        # whose "no" answers nothing here; a "no" said before the question still does
        # ("nothing like that. what should I put on after?").
        before = _before_the_question(turn.message.text).lower()
        phrases = (*turn.words.answers.get("none", ()), *turn.words.answers.get("none_now", ()))
        return bool(before.strip()) and contains_phrase(before, phrases)
    if turn.message.intent == INTENT_DENY:
        return True
    lowered = turn.message.text.lower()
    return _says(turn, "none") or contains_phrase(lowered, turn.words.answers.get("none_now", ()))


def _says_yes(turn: _Turn) -> bool:
    if _is_just_a_noise(turn.message.text):
        return False
    if (
        turn.message.intent == INTENT_AFFIRM
        and (turn.message.confidence >= YES_CONFIDENCE or turn.message.is_button)
        and not _says(turn, "none")
    ):
        return True
    return _says(turn, "yes") and not _says(turn, "none")


def _is_just_a_noise(text: str) -> bool:
    """ "huh", "what?", "hmm": no answer at all."""
    return bool(
        re.fullmatch(r"\W*(?:huh|eh|what|pardon|sorry|hmm+|hm+|um+|uh+|er+m*|\?+)\W*", text.lower())
    )


def _says_unsure(turn: _Turn) -> bool:
    return _says_unsure_text(turn.message.text, turn.words)


def _says_unsure_text(text: str, words: Lexicon) -> bool:
    return contains_phrase(text, words.answers.get("unsure", ()))


def _outside_list(turn: _Turn, fact: str, cue: bool = True) -> list[str]:
    """Names in the message that the lexicon lists as outside this question's list, and
    what follows "just" / "only" when it names nothing on the list."""
    text = turn.message.text
    lowered = text.lower()
    found: list[str] = []
    covered: list[tuple[int, int]] = []
    for phrase in turn.words.outside_lists.get(fact, ()):
        for match in re.finditer(rf"(?<![\w']){re.escape(phrase)}(?![\w'])", lowered):
            span = match.span()
            if any(s < span[1] and span[0] < e for s, e in covered):
                continue
            covered.append(span)
            found.append(text[span[0] : span[1]])
    if cue and not found and not _is_question(text) and not _facts_told(turn.said, fact):
        for cue in turn.words.answers.get("only", ()):
            match = re.search(rf"(?<![\w']){re.escape(cue)}\s+(.+)", lowered)
            if match:
                rest = match.group(1).strip(" .!,")
                named = [w for w in _WORD.findall(rest) if w not in turn.words.filler_words]
                if named:
                    found.append(text[match.start(1) : match.start(1) + len(rest)])
                break
    return found


_ACNE_SCARS = re.compile(
    r"\bscars?\b.*\b(?:acne|spots|pimples|breakouts)\b|\b(?:acne|spots|pimples|roaccutane|accutane|"
    r"isotretinoin|breakouts)\b.*\bscars?\b"
)
_TENDENCY = re.compile(r"\b(?:every|any|always|whenever|tend to|tends to|each time)\b")
_LEADING_NO = re.compile(
    r"\W*(?:no|nope|nah|none|nothing|not really|never|no thanks|neither)\b\W*"
    r"(?:but\b|just\b|only\b|$|[,.!;:-])"
)


def _about_other_facts(turn: _Turn, fact: str) -> bool:
    """Whether the message's "no" belongs to another fact ("I'm not pregnant btw", "it's
    not eczema") rather than to the question asked."""
    pregnancy = turn.said.get(PREGNANCY)
    if fact != PREGNANCY and pregnancy is not None and False in pregnancy.affirmed:
        return True
    return turn.message.intent == INTENT_CORRECT and _facts_told(turn.said, fact)


def _describes_something(turn: _Turn) -> bool:
    text = turn.message.text
    if (
        _is_question(text)
        or _says_unsure(turn)
        or _says_none(turn)
        or (is_other_purpose(turn.message.intent) and _confident(turn.message, turn.words))
    ):
        return False
    if any(
        said.affirmed for name, said in turn.said.items() if name not in ("skin_concerns", "course")
    ):
        # "I'm 52 not 25", "I want my neck done too": about other facts.
        return False
    content = [w for w in _WORD.findall(text.lower()) if w not in turn.words.filler_words]
    return len(content) >= 1 and len(text) >= 4


_WHAT_IT_MEANS = re.compile(
    r"\bwhat(?:'s| is| are| does| do|s)?\b.*\bmeans?\b|^\s*what(?:'s|s| is| are)\s+(?:an?\s+)?\w+\s*\??\s*$"
    r"|\bwhat(?:'s| is|s) an?\b"
)


_ABOUT_MICRONEEDLING = re.compile(
    r"\bmicro ?needl|\bthe treatment\b|\bthe procedure\b|\bprp\b|\bvampire\b"
    r"|\bradio ?frequency\b|\brf\b|\bmorpheus|\bderma ?(?:roller|pen|stamp)s?\b"
)


def _asks_what_it_means(text: str) -> bool:
    """A question about the question's own words (not about microneedling itself, or a
    treatment or device like it, which no question names: "what's PRP?")."""
    lowered = text.lower()
    if _ABOUT_MICRONEEDLING.search(lowered):
        return False
    return bool(
        _WHAT_IT_MEANS.search(lowered)
        or _DOES_IT_COUNT.search(lowered)
        or _DONT_KNOW_WHAT.search(lowered)
    )


# An earlier "yes" taken back at the date question: "I never actually took it".
_NEVER_TAKEN = re.compile(
    r"\bnever\b.*\b(?:took|taken|had|been on|was on|started|had it|take)\b|\bchickened out\b"
    r"|\btoo scared\b|\bdidn'?t (?:start|take)\b|\bnever (?:did|have)\b"
)
_DOES_IT_COUNT = re.compile(r"\b(?:does|do|would|will|is)\b.*\bcount\b|\bcounts as\b")
# "not sure what scleroderma is": a question about the words, and no "no" (ConText reads
# the "not" as denying the condition).
_DONT_KNOW_WHAT = re.compile(
    r"\b(?:not sure|unsure|don'?t know|do not know|dunno|no idea|no clue)\s+what\b"
)


# A word this common in English is not a medicine's name ("enough", "questions").
COMMON_WORD_FREQUENCY = 50


def _unknown_names(turn: _Turn) -> list[str]:
    """Words at the medicines question that no list knows: probably a medicine's name."""
    words = turn.words
    known = {w for t in words.terms for w in t.phrase.split()}
    known |= {w for phrases in words.outside_lists.values() for p in phrases for w in p.split()}
    for phrases in words.answers.values():
        known |= {w for p in phrases for w in p.split()}
    frequency = _english_frequency()
    return [
        w
        for w in _WORD.findall(turn.message.text.lower())
        if len(w) >= 4
        and w not in words.filler_words
        and w not in known
        and frequency[w] < COMMON_WORD_FREQUENCY
    ]


@cache
def _english_frequency():
    from spellchecker import SpellChecker

    return SpellChecker().word_frequency


# Facts that say what "it" is not: a place, a concern or an age says nothing of a course.
_ASIDE = frozenset({"course", "treatment_area", "skin_concerns", "age"})


def _facts_told(said: Mapping[str, Said], exclude: str | None = None) -> bool:
    return any(s.affirmed for name, s in said.items() if name != exclude and name not in _ASIDE)


def _flattened(entities: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    # A button payload gives a whole list as one entity's value.
    flat: list[dict[str, Any]] = []
    for entity in entities:
        value = entity.get("value")
        if isinstance(value, list):
            flat.extend({**entity, "value": item} for item in value)
        else:
            flat.append(dict(entity))
    return flat
