"""Screening facts in free text, with clinical context: medspaCy target rules and ConText.

The lexicon (lexicon.yml) maps what people say to the facts' values
(docs/screening-policy.md, "Facts"); the ConText rules (context.yml) decide whether a
mention is denied, in the past, hypothetical or about a family member. The result is a
list of `Mention`s: a fact, the value it contributes, and whether the person denied it.
Nothing here knows about Rasa.
"""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml
from rapidfuzz import process
from rapidfuzz.distance import OSA

from needlecheck.nlu.timeexpr import NUMBER, TimeExpression, find_time_expressions, parse_number

HERE = Path(__file__).parent
DEFAULT_LEXICON = HERE / "lexicon.yml"
DEFAULT_CONTEXT_RULES = HERE / "context.yml"

# Facts whose mentions in the past still describe the person now.
KEEPS_HISTORY = {
    "conditions",
    "isotretinoin",
    "cancer_treatment",
    "recent_procedures",
    "skin_concerns",
    "treatment_area",
    "allergies",
}
# Typos: a word no list knows and that is not an English word (pyspellchecker's frequency
# list; at least this common) is read as the lexicon word that is one edit away ("fcae",
# "eczma"; two edits for words of 8 letters or more) and starts with the same letter.
# Four-letter words are corrected only for swapped letters.
FUZZY_MIN_LENGTH = 4
REAL_WORD_FREQUENCY = 100
AGE_RANGE = range(1, 121)
# A skin problem dated this recently is taken as still there.
RECENT_DAYS = 14
_AGE_PATTERNS = [
    re.compile(
        rf"\b(?:(?:i'?m|i am|im)(?:\s+only|\s+just)?|age|aged|age is|turning|turned)\s+(?P<n>{NUMBER})\b(?!\s*(?:days?|weeks?|months?|%|percent))"
    ),
    re.compile(rf"\b(?P<n>{NUMBER})\s*(?:years? old|yrs? old|y/?o|year-old)\b"),
    # "male, 41", "F 29", "23 and single"
    re.compile(
        r"(?<!['\u2019])\b(?:male|female|man|woman|guy|girl|bloke|lady|m|f)\s*[,/-]?\s*"
        r"(?P<n>\d{2})\b(?!\s*(?:days?|weeks?|wks?|months?|mths?|%))"
    ),
    re.compile(r"\b(?P<n>\d{2})\s*(?:and single|and married|,\s*(?:male|female|m|f)\b|[mf]\b)"),
]


_NEGATION = re.compile(
    r"\b(?:never|not|no|nope|nah|didn'?t|haven'?t|hasn'?t|don'?t|wasn'?t|none)\b"
)


class LexiconError(ValueError):
    """A lexicon or ConText rules file that cannot be used, with the place it went wrong."""


NOT_A_FACT = 'not a fact (docs/screening-policy.md, "Facts")'


@dataclass(frozen=True)
class Mention:
    """One piece of a fact found in a message.

    `value` is what the mention contributes: a list item ("retinoid"), an age (34), a
    boolean, or an object ({"status": "past", "last_dose": "2016-11-27"}). `denied` is
    True when the person said they do not have it ("no acne").
    """

    fact: str
    value: Any
    start: int
    end: int
    text: str
    denied: bool = False
    # Said without the words that make it count ("earrings make my ears itch" is an
    # allergy only in answer to the allergy question).
    possible: bool = False
    # A mention only in the past of a fact about now ("had a cold sore last month"): it
    # answers that fact's question ("not now") and adds nothing.
    past: bool = False


@dataclass(frozen=True)
class Term:
    fact: str
    value: Any
    phrase: str
    also: dict[str, str] = field(default_factory=dict)
    when: str | None = None
    # A token pattern (lexicon.yml's compact form, see `token_pattern`) instead of the
    # phrase's words: "lip|lips|tongue ? ? swollen|puffy" finds "my lips are swollen".
    pattern: tuple[dict[str, Any], ...] | None = None
    # A pattern whose words mean nothing more on their own ("my scars go thick and
    # raised" is a keloid history, not also scars to improve).
    alone: bool = False
    # Words that, just before the phrase, make it something else ("hay fever").
    not_after: tuple[str, ...] = ()


def token_pattern(spec: str) -> tuple[dict[str, Any], ...]:
    """A spaCy token pattern from the lexicon's compact form, one token a word:
    `a|b|c` is any of those words, `?` any one word or none, anything else that word."""
    tokens: list[dict[str, Any]] = []
    for part in spec.lower().split():
        if part == "?":
            tokens.append({"OP": "?"})
        elif "|" in part:
            tokens.append({"LOWER": {"IN": part.split("|")}})
        else:
            tokens.append({"LOWER": part})
    if not tokens or "OP" in tokens[0] or "OP" in tokens[-1]:
        raise ValueError(f"pattern {spec!r} must start and end with a word")
    return tuple(tokens)


@dataclass(frozen=True)
class Lexicon:
    terms: tuple[Term, ...]
    allergy_cues: tuple[str, ...]
    past_cues: tuple[str, ...]
    current_cues: tuple[str, ...]
    still_going: tuple[str, ...]
    date_unknown: tuple[str, ...]
    # Said of a course that was never begun ("too scared to start").
    course_never: tuple[str, ...] = ()
    # How people answer without naming anything on a list (see lexicon.yml).
    answers: dict[str, tuple[str, ...]] = field(default_factory=dict)
    outside_lists: dict[str, tuple[str, ...]] = field(default_factory=dict)
    question_answers: dict[str, dict[str, tuple[str, ...]]] = field(default_factory=dict)
    purpose_cues: dict[str, tuple[str, ...]] = field(default_factory=dict)
    purpose_phrases: dict[str, tuple[str, ...]] = field(default_factory=dict)
    filler_words: frozenset[str] = frozenset()
    short_answer_words: int = 8

    @classmethod
    def load(cls, path: Path = DEFAULT_LEXICON) -> Lexicon:
        from needlecheck.screening.facts import FACTS, validate_fact

        data = _read_yaml(path)
        terms: list[Term] = []
        for fact, values in (data.get("terms") or {}).items():
            if fact not in FACTS:
                raise LexiconError(f"{path}: terms.{fact}: {NOT_A_FACT}")
            for raw_value, phrases in values.items():
                value = _term_value(fact, raw_value)
                if fact not in {"isotretinoin", "cancer_treatment"}:
                    try:
                        validate_fact(fact, _as_fact(fact, value))
                    except ValueError as error:
                        raise LexiconError(f"{path}: terms.{fact}.{raw_value}: {error}") from None
                for entry in phrases:
                    terms.append(_term(path, fact, value, entry))
        outside = data.get("outside_lists") or {}
        for fact in outside:
            if fact not in FACTS:
                raise LexiconError(f"{path}: outside_lists.{fact}: {NOT_A_FACT}")
        return cls(
            terms=tuple(terms),
            answers=_phrase_lists(data.get("answers") or {}, "answers."),
            outside_lists=_phrase_lists(outside, "outside_lists."),
            purpose_cues=_phrase_lists(data.get("purpose_cues") or {}, "purpose_cues."),
            purpose_phrases=_phrase_lists(data.get("purpose_phrases") or {}, "purpose_phrases."),
            question_answers={
                str(question): _phrase_lists(kinds or {}, f"question_answers.{question}.")
                for question, kinds in (data.get("question_answers") or {}).items()
            },
            filler_words=frozenset(
                str(w).lower()
                for w in _phrase_lists(
                    {"words": data.get("answer_filler_words") or []}, "answer_filler_"
                )["words"]
            ),
            short_answer_words=int(data.get("short_answer_words") or 8),
            **{
                key: tuple(str(item).lower() for item in data.get(key) or ())
                for key in (
                    "allergy_cues",
                    "past_cues",
                    "current_cues",
                    "still_going",
                    "date_unknown",
                    "course_never",
                )
            },
        )


def _phrase_lists(data: dict[str, Any], where: str = "") -> dict[str, tuple[str, ...]]:
    # Longest first, so that "not that i know of" is matched before "not".
    lists = {}
    for key, phrases in data.items():
        _check_text(key, f"{where}{key}")
        for phrase in phrases or ():
            _check_text(phrase, f"{where}{key}")
        lists[str(key)] = tuple(
            sorted({str(p).lower() for p in phrases or ()}, key=len, reverse=True)
        )
    return lists


def _check_text(value: Any, where: str) -> None:
    if not isinstance(value, str | int) or isinstance(value, bool):
        # YAML reads a bare yes, no, on or off as true or false.
        raise LexiconError(f"{where}: {value!r} is not text; put quotes around it")


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise LexiconError(f"{path}: {error}") from None
    if not isinstance(data, dict):
        raise LexiconError(f"{path}: expected a mapping at the top level")
    return data


def _term_value(fact: str, raw: str) -> Any:
    if fact == "pregnant_or_breastfeeding":
        return raw == "true"
    return raw


def _as_fact(fact: str, value: Any) -> Any:
    if fact == "recent_procedures":
        return [{"type": value}]
    if fact == "pregnant_or_breastfeeding":
        return value
    return [value]


def _term(path: Path, fact: str, value: Any, entry: Any) -> Term:
    if isinstance(entry, str):
        return Term(fact, value, entry.lower())
    if isinstance(entry, dict) and isinstance(entry.get("pattern"), str):
        try:
            pattern = token_pattern(entry["pattern"])
        except ValueError as error:
            raise LexiconError(f"{path}: terms.{fact}.{value}: {error}") from None
        return Term(
            fact,
            value,
            entry["pattern"].lower(),
            dict(entry.get("also") or {}),
            _when(path, fact, value, entry),
            pattern,
            bool(entry.get("alone")),
        )
    if isinstance(entry, dict) and isinstance(entry.get("phrase"), str):
        return Term(
            fact,
            value,
            entry["phrase"].lower(),
            dict(entry.get("also") or {}),
            _when(path, fact, value, entry),
            not_after=tuple(str(w).lower() for w in entry.get("not_after") or ()),
        )
    raise LexiconError(
        f"{path}: terms.{fact}.{value}: {entry!r} is neither a phrase nor {{phrase: ...}}"
    )


def _when(path: Path, fact: str, value: Any, entry: dict[str, Any]) -> str | None:
    """`current`: not when the sentence is about the past; `now`: only with a word of now
    ("still", "right now") or a time within the last day ("swelled up an hour ago")."""
    when = entry.get("when")
    if when not in (None, "current", "now"):
        raise LexiconError(f"{path}: terms.{fact}.{value}: 'when' must be 'current' or 'now'")
    return when


def purpose_said_outright(lexicon: Lexicon, text: str) -> str | None:
    """The purpose a message states in so many words (lexicon.yml's purpose_phrases);
    of several, the longest phrase ("spread the cost" over "cost")."""
    lowered = text.lower()
    best: tuple[int, str] | None = None
    for purpose, phrases in lexicon.purpose_phrases.items():
        for phrase in phrases:
            if (best is None or len(phrase) > best[0]) and _contains_cue(lowered, (phrase,)):
                best = (len(phrase), purpose)
    return best[1] if best else None


def contains_phrase(text: str, phrases: Iterable[str]) -> bool:
    """Whether `text` has one of `phrases` as whole words, ignoring case."""
    return _contains_cue(text.lower(), phrases)


def _contains_cue(text: str, cues: Iterable[str]) -> bool:
    return any(_cue_pattern(cue).search(text) for cue in cues)


@functools.cache
def _cue_pattern(cue: str) -> re.Pattern[str]:
    # One compiled pattern per phrase, kept: the lexicon has thousands of phrases, more
    # than the re module's own cache holds, and compiling them per message was most of a
    # message's reading time.
    return re.compile(rf"(?<![\w']){re.escape(cue)}(?![\w'])")


class Extractor:
    """Finds screening facts in a message. Build once per process: loading takes ~0.5 s."""

    def __init__(
        self, lexicon_path: Path = DEFAULT_LEXICON, context_path: Path = DEFAULT_CONTEXT_RULES
    ) -> None:
        self.lexicon = Lexicon.load(lexicon_path)
        self.context_path = context_path
        self._by_phrase = {(t.fact, t.phrase): t for t in self.lexicon.terms}
        self._vocabulary = frozenset(
            word
            for t in self.lexicon.terms
            for chunk in t.phrase.split()
            for word in chunk.split("|")
            if len(word) >= FUZZY_MIN_LENGTH and word.isalpha()
        )
        self._by_initial: dict[str, list[str]] = {}
        for word in sorted(self._vocabulary):
            self._by_initial.setdefault(word[0], []).append(word)
        self._context_rules = _context_rules(context_path)

    @cached_property
    def _word_frequency(self):
        from spellchecker import SpellChecker

        return SpellChecker().word_frequency

    def spelling(self, word: str) -> str | None:
        """The lexicon word a typo stands for, or None when `word` is not a typo of one."""
        word = word.lower()
        if (
            len(word) < FUZZY_MIN_LENGTH
            or not word.isalpha()
            or word in self._vocabulary
            or word in self.lexicon.filler_words
            or self._word_frequency[word] >= REAL_WORD_FREQUENCY
        ):
            return None
        candidates = self._by_initial.get(word[0], [])
        limit = 2 if len(word) >= 8 else 1
        best = process.extractOne(word, candidates, scorer=OSA.distance, score_cutoff=limit)
        if best is None:
            return None
        match = best[0]
        if len(word) == 4 and sorted(match) != sorted(word):
            return None
        return match

    @cached_property
    def nlp(self):
        import spacy
        from medspacy.context import ConText, ConTextRule  # noqa: F401 - registers the factory
        from medspacy.target_matcher import TargetMatcher, TargetRule  # noqa: F401

        nlp = spacy.blank("en")
        nlp.add_pipe("sentencizer")
        # Unpruned: overlapping mentions of different facts are all read (extract()).
        matcher = nlp.add_pipe(
            "medspacy_target_matcher", config={"result_type": None, "prune": False}
        )
        matcher.add(
            [
                TargetRule(
                    t.phrase,
                    t.fact,
                    pattern=[dict(token) for token in t.pattern] if t.pattern else None,
                    metadata={"phrase": t.phrase},
                )
                for t in self.lexicon.terms
            ]
        )
        context = nlp.add_pipe("medspacy_context", config={"rules": None, "max_scope": 8})
        context.add([ConTextRule(**rule) for rule in self._context_rules])
        return nlp

    def extract(self, text: str, today: date) -> list[Mention]:
        from spacy.tokens import Doc, Span
        from spacy.util import filter_spans

        nlp = self.nlp
        original = nlp.make_doc(text)
        corrected = [self.spelling(token.text) for token in original]
        if any(corrected):
            doc = Doc(
                nlp.vocab,
                words=[c or t.text for c, t in zip(corrected, original, strict=True)],
                spaces=[bool(t.whitespace_) for t in original],
            )
        else:
            doc = original
        for name, pipe in nlp.pipeline:
            if name == "medspacy_context":
                break
            result = pipe(doc)
            if name == "medspacy_target_matcher":
                spans = list(result)
            else:
                doc = result
        kept = filter_spans(spans)
        doc.ents = kept
        doc = nlp.get_pipe("medspacy_context")(doc)
        docs = [doc]
        # A mention of another fact inside a longer one ("scar revision op" in "a scar
        # revision op": surgery, and surgical scars) is read in a second pass.
        # (A plain phrase that contains another, "acne scars" over "acne", wins alone.)
        overlapped = []
        for span in spans:
            if span in kept:
                continue
            over = [k for k in kept if k.start < span.end and span.start < k.end]
            if over and all(k.label_ != span.label_ and self._is_pattern(k) for k in over):
                overlapped.append(span)
        if overlapped:
            second = Doc(
                doc.vocab, words=[t.text for t in doc], spaces=[bool(t.whitespace_) for t in doc]
            )
            for name, pipe in nlp.pipeline:
                if name == "sentencizer":
                    second = pipe(second)
            second.ents = filter_spans(
                [Span(second, s.start, s.end, label=s.label_) for s in overlapped]
            )
            for ent, source in zip(second.ents, filter_spans(overlapped), strict=True):
                ent._.target_rule = source._.target_rule
            docs.append(nlp.get_pipe("medspacy_context")(second))

        times = find_time_expressions(text, today)
        mentions = self._ages(text)
        age_spans = [(m.start, m.end) for m in mentions]
        times = [t for t in times if not any(t.start < e and t.end > s for s, e in age_spans)]
        age_now = mentions[0].value if mentions else None
        short_answer = len(doc) <= 4
        for span in (ent for each in docs for ent in each.ents):
            mentions.extend(self._interpret(span, original, times, age_now, today, short_answer))
        course = self._course_reading(text, times, age_now, today)
        if course is not None:
            mentions.append(Mention("course", course, 0, len(text), text))
        # Time expressions of their own answer the date follow-up questions.
        for expression in times:
            value = (
                {"date": expression.when.isoformat()}
                if expression.when
                else {"at_age": expression.at_age}
            )
            mentions.append(
                Mention("time", value, expression.start, expression.end, expression.text)
            )
        return mentions

    def purpose_said_outright(self, text: str) -> str | None:
        """The purpose a message states in so many words (lexicon.yml's purpose_phrases);
        of several, the longest phrase ("spread the cost" over "cost")."""
        return purpose_said_outright(self.lexicon, text)

    def _is_pattern(self, span) -> bool:
        term = self._by_phrase.get((span.label_, span._.target_rule.metadata["phrase"]))
        return term is not None and term.pattern is not None and not term.alone

    def _course_reading(
        self, text: str, times: list[TimeExpression], age_now: int | None, today: date
    ) -> dict[str, Any] | None:
        """The message read as a statement about a course of treatment called "it".

        An answer to "have you taken isotretinoin?" often does not name it: "I never took
        it", "was on it for 6 months in 2019", "still on it". The dialogue uses this only
        for the course question being asked, and only when the message names no course.
        """
        clauses = _text_clauses(text)
        if clauses and _BARE_NO.fullmatch(
            text[clauses[0][0] : clauses[0][1]].strip(" ,.!").lower()
        ):
            # "no, I've only ever had antibiotics for my acne": the answer comes first;
            # what follows is about something else unless it says "it".
            rest = text[clauses[0][1] :].lower()
            if not re.search(r"\b(?:it|them)\b", rest):
                return {"status": "never"}
        readings = []
        for clause_start, clause_end in clauses:
            clause_times = [t for t in times if t.start >= clause_start and t.end <= clause_end]
            clause = text[clause_start:clause_end].lower()
            reading = self._clause_course(clause, clause_times, age_now, today)
            if reading is not None:
                if (
                    reading["status"] == "past"
                    and "date" not in reading
                    and re.search(
                        r"\b(?:again|recent|recently|lately|another|second|this year)\b", clause
                    )
                ):
                    reading["again"] = True
                readings.append(reading)
        if not readings:
            return None
        # The clause that asks most caution: "I said I'd never had it, but I'm still on it".
        # An undated past course outranks a dated one only when it is another, later one
        # ("in 2015 and again recently"); otherwise it tells more of the same course
        # ("last year, but stopped after a month").
        rank = {"never": 0, "past": 1, "current": 3}
        best = max(
            readings,
            key=lambda r: (rank[r["status"]] + (1 if r.get("again") else 0), r.get("date", "")),
        )
        return {k: v for k, v in best.items() if k != "again"}

    def _clause_course(
        self, lowered: str, times: list[TimeExpression], age_now: int | None, today: date
    ) -> dict[str, Any] | None:
        when = max(
            (t for t in times if t.resolve(age_now, today) is not None),
            key=lambda t: t.resolve(age_now, today),
            default=None,
        )
        if _contains_cue(lowered, self.lexicon.course_never):
            return {"status": "never"}
        if _FAMILY_CLAUSE.search(lowered) or (
            _PRESCRIBED.search(lowered) and not _TAKEN.search(lowered)
        ):
            # "my brother was on it"; "my doctor suggested it".
            return None
        negated = bool(_NEGATION.search(lowered))
        if negated and when is None:
            return {"status": "never"}
        if re.search(r"\b(?:started|began|begun|starting)\b", lowered) and not re.search(
            r"\b(?:stopped|finished|ended|came off|quit)\b", lowered
        ):
            return {"status": "current"}
        # Words of taking it now ("still", "on it"), not any word of now ("I'm 34 now").
        current = bool(_ON_IT_NOW.search(lowered)) and not re.search(
            r"\b(?:not|no longer)\s+(?:currently|on it|taking)", lowered
        )
        ongoing = when is not None and when.text.lower().startswith("since")
        if (
            current
            and (ongoing or when is None)
            and not _contains_cue(lowered, self.lexicon.past_cues)
        ):
            return {"status": "current"}
        if negated and when is None:
            return {"status": "never"}
        if when is not None or _contains_cue(lowered, self.lexicon.past_cues):
            course: dict[str, Any] = {"status": "past"}
            resolved = when.resolve(age_now, today) if when else None
            if resolved is not None:
                course["date"] = resolved.isoformat()
            return course
        return None

    def _ages(self, text: str) -> list[Mention]:
        lowered = text.lower()
        bare = lowered.strip(" .!")
        whole = parse_number(bare) if re.fullmatch(NUMBER, bare) else None
        if whole is not None and whole in AGE_RANGE:
            return [Mention("age", whole, 0, len(text), text)]
        for pattern in _AGE_PATTERNS:
            match = pattern.search(lowered)
            if match:
                number = parse_number(match.group("n"))
                if number is not None and re.search(r"\bturning\s*$", lowered[: match.start("n")]):
                    # "turning 40 in May": 39 until then.
                    number -= 1
                if number is not None and number in AGE_RANGE:
                    start, end = match.span("n")
                    return [Mention("age", number, start, end, text[start:end])]
        return []

    def _interpret(
        self,
        span,
        original,
        times: list[TimeExpression],
        age_now: int | None,
        today: date,
        short_answer: bool,
    ) -> list[Mention]:
        term = self._by_phrase.get((span.label_, span._.target_rule.metadata["phrase"]))
        if term is None or _modified(span, "FAMILY") or _modified(span, "SIDE_EFFECT"):
            return []
        hypothetical = _modified(span, "HYPOTHETICAL")
        if (
            hypothetical
            and not (
                # "I might be pregnant" is treated as pregnant until a test says otherwise.
                term.fact == "pregnant_or_breastfeeding" and _modified(span, "HYPOTHETICAL", _MAYBE)
            )
            # "can I get it for my acne scars?", "could you do my neck?": what the person
            # wants treated is a wish whatever the mood of the sentence.
            and term.fact not in _WISHES
        ):
            return []
        # Cues and dates count within the mention's own clause ("still having hormone
        # therapy, but chemo finished last year": one course now, one in the past).
        clause_start, clause_end = _clause(span)
        sentence = span.doc[clause_start:clause_end].text.lower()
        # Where the words stand in the message as written (spelling may have been mended).
        if (
            (span.sent.text.rstrip().endswith("?") or span.sent[0].lower_ in _QUESTION_WORDS)
            and any(t.lower_ in _QUESTION_WORDS for t in span.doc[span.sent.start : span.start])
            and not any(t.lower_ in _FIRST_PERSON for t in span.doc[clause_start:clause_end])
            and not _while_using(span, clause_start)
        ):
            # "is that the tablets for spots?" says nothing about the person.
            return []
        first, last = original[span.start], original[span.end - 1]
        start, end = first.idx, last.idx + len(last)
        words = original.text[start:end]
        # Character offsets of the clause in the message as written.
        clause_chars = (
            original[clause_start].idx,
            original[clause_end - 1].idx + len(original[clause_end - 1]),
        )
        when = _nearest(times, clause_chars[0], clause_chars[1], start, end)
        in_past = _modified(span, "HISTORICAL")
        historical = in_past or _contains_cue(sentence, self.lexicon.past_cues)
        current = _contains_cue(sentence, self.lexicon.current_cues)
        after = span.doc[span.end : span.sent.end].text.lower()
        if (when is not None and when.text.lower().startswith("since")) or re.match(
            r"\W*(?:\w+\W+){0,3}since\b", after
        ):
            # "Xarelto since my DVT last year": going on since then.
            in_past = historical = False
            current = True
        denied = _negated(span) or (
            # "retinol, but I stopped it last week" (medspaCy ends the scope at "but")
            term.fact in ("topical_products", "medications") and bool(_STOPPED_IT.search(after))
        )

        def mention(fact: str, value: Any, denied: bool = False) -> Mention:
            return Mention(fact, value, start, end, words, denied)

        fact = term.fact
        # What a mention implies ("a cold sore" now -> a history of cold sores).
        also = [] if denied else [mention(f, v) for f, v in term.also.items()]
        if fact in {"isotretinoin", "cancer_treatment"}:
            # The latest date said about a course counts ("in 2022 and again this year,
            # stopped in July"): a later last dose can only lengthen a wait.
            latest = _latest(times, clause_chars[0], clause_chars[1], age_now, today)
            return [
                mention(
                    fact,
                    self._course(fact, denied, historical, current, latest or when, age_now, today),
                )
            ]
        if fact == "pregnant_or_breastfeeding":
            # A due date ("expecting twins in March") is not the past, so only the words
            # say it: "stopped nursing in August", "finished breastfeeding".
            before = span.doc[max(span.start - 2, clause_start) : span.start].text.lower()
            stopped = re.search(r"\b(?:stopped|finished|gave up|quit|done)\b", before)
            if (in_past and not current) or stopped:
                return [Mention(fact, True, start, end, words, past=True)]
            return [mention(fact, not denied)]
        if fact == "allergies" and not (
            _contains_cue(sentence, self.lexicon.allergy_cues) or short_answer
        ):
            if denied:
                return []
            return [Mention(fact, term.value, start, end, words, possible=True)]
        if fact == "recent_procedures":
            if denied:
                return [mention(fact, term.value, denied=True)]
            if _LONG_AGO.search(sentence) and (
                when is None or when.resolve(age_now, today) is None
            ):
                # "fillers years ago": long before the six months asked about.
                return [Mention(fact, term.value, start, end, words, past=True)]
            value: dict[str, Any] = {"type": term.value}
            if re.match(r"\W*since\b", after):
                # "some botox since": after that date, but when is not known.
                when = None
            if when is not None and when.at_age is not None and age_now is None:
                # "fixed with surgery as a baby": long ago for anyone asked, not recent.
                return []
            resolved = when.resolve(age_now, today) if when else None
            if resolved is not None:
                value["date"] = resolved.isoformat()
            return [mention(fact, value), *also]
        if (
            fact == "active_skin_issues"
            and in_past
            and not denied
            and when is not None
            and re.search(
                r"\bago\b|yesterday|today|this (?:week|morning)|days?\b", when.text.lower()
            )
        ):
            # "sunburn from the beach 3 days ago" is still there.
            resolved = when.resolve(age_now, today)
            if resolved is not None and (today - resolved).days <= RECENT_DAYS:
                in_past = historical = False
                current = True
        if term.not_after and span.start > 0 and span.doc[span.start - 1].lower_ in term.not_after:
            return []
        if term.when == "now" and not denied and not current:
            resolved = when.resolve(age_now, today) if when else None
            if resolved is None or (today - resolved).days > 1:
                return [*also, Mention(fact, term.value, start, end, words, past=True)]
        if (
            (term.when == "current" or fact == "active_skin_issues")
            and not denied
            and _HABITUAL.search(sentence)
        ):
            # "I get the odd cold sore": a history, not one now.
            return [*also, Mention(fact, term.value, start, end, words, past=True)]
        if term.when == "current" and not denied and historical and not current:
            return [*also, Mention(fact, term.value, start, end, words, past=True)]
        if (
            not in_past
            and not current
            and not denied
            and fact not in KEEPS_HISTORY
            and when is not None
            and (resolved_when := when.resolve(age_now, today)) is not None
            and (today - resolved_when).days > RECENT_DAYS
        ):
            # "my eczema flared in the spring": dated well before now.
            in_past = True
        if fact == "red_flags" and current:
            # "swelled up an hour ago and still swollen": a warning sign is taken as now.
            in_past = False
        if in_past and fact not in KEEPS_HISTORY and not denied:
            return [*also, Mention(fact, term.value, start, end, words, past=True)]
        return [mention(fact, term.value, denied), *also]

    def _course(
        self,
        fact: str,
        denied: bool,
        historical: bool,
        current: bool,
        when: TimeExpression | None,
        age_now: int | None,
        today: date,
    ) -> dict[str, Any]:
        """isotretinoin / cancer_treatment: never or none, current, or past with a date."""
        if denied:
            return {"status": "never" if fact == "isotretinoin" else "none"}
        ongoing = when is not None and when.text.lower().startswith("since")
        if current and (ongoing or not (historical or when)):
            return {"status": "current"}
        course: dict[str, Any] = {"status": "past"}
        resolved = when.resolve(age_now, today) if when else None
        if resolved is not None:
            course["last_dose" if fact == "isotretinoin" else "ended"] = resolved.isoformat()
        return course


# Words that end a negation's reach: "no, but I'm pregnant". medspaCy's own TERMINATE
# rules (context.yml) do this, except when another modifier follows the mention.
_CLAUSE_BREAKS = frozenset(
    {
        "but",
        "though",
        "however",
        "although",
        "except",
        "apart",
        "maybe",
        "possibly",
        "while",
        "whilst",
        ";",
    }
)
_SUBJECTS = frozenset({"i", "i'm", "im", "my", "we", "we're"})
_QUESTION_WORDS = frozenset(
    {
        "is",
        "are",
        "does",
        "do",
        "can",
        "could",
        "will",
        "would",
        "should",
        "what",
        "whats",
        "what's",
        "how",
        "when",
        "why",
        "where",
        "which",
        "who",
    }
)
_FIRST_PERSON = frozenset(
    {"i", "i'm", "im", "my", "me", "i've", "ive", "i'd", "mine", "myself", "'m", "m"}
)
_CLAUSE_JOINS = frozenset({"and", ",", "-", "\u2013", "."})


# Hypotheticals that still count for a pregnancy.
_MAYBE = frozenset({"might", "may", "could"})


_FAMILY_CLAUSE = re.compile(
    r"\b(?:my|his|her|our)\s+(?:mom|mum|mother|dad|father|sister|brother|aunt|uncle|"
    r"grandmother|grandma|nan|grandfather|grandpa|cousin|son|daughter|husband|wife|partner|"
    r"friend|friends|boyfriend|girlfriend|niece|nephew|family)\b"
)
_PRESCRIBED = re.compile(r"\b(?:prescribed|suggested|recommended|offered|mentioned|wants? me)\b")
_LONG_AGO = re.compile(
    r"\b(?:years ago|ages ago|long time ago|long ago|years back|as a (?:kid|child|teen|teenager)"
    r"|when i was|in my (?:teens|twenties|20s|thirties|30s))\b"
)
_ON_IT_NOW = re.compile(
    r"\b(?:still|currently|on it|it'?s clearing|it'?s working|working well|clearing up my|on my \w+ course|course now|taking it|taking them|i'?m on|am on|im on|at the moment|"
    r"right now|been on|mid ?way|halfway|rounds? (?:left|to go)|sessions? left|ongoing|"
    r"having it|doing it)\b"
)
_HABITUAL = re.compile(
    r"\b(?:i get|get the odd|the odd|now and then|now and again|sometimes|occasionally|every so "
    r"often|from time to time|prone to|tend to get|often get|on and off|off and on)\b"
)
_STOPPED_IT = re.compile(
    r"\b(?:stopped|quit|dropped|paused|came off|come off|gave up)\s+(?:it|them|using it|taking it)\b"
)
_BARE_NO = re.compile(
    r"(?:no|nope|nah|never|no never|nope never|nah never|no i haven'?t|i haven'?t|no i have not)"
)
_TAKEN = re.compile(r"\b(?:took|taken|taking|was on|were on|finished|stopped|course|came off)\b")
_CLAUSE_SPLIT = re.compile(
    r"\b(?:but|though|however|although)\b|;|\.\s+|,\s*(?=(?:i|i'm|im|my|we)\b)|\s[-\u2013]\s",
    re.IGNORECASE,
)


def _text_clauses(text: str) -> list[tuple[int, int]]:
    """Character spans of a message's clauses."""
    bounds = [0]
    for match in _CLAUSE_SPLIT.finditer(text):
        bounds.extend([match.start(), match.end()])
    bounds.append(len(text))
    return [
        (bounds[i], bounds[i + 1]) for i in range(0, len(bounds), 2) if bounds[i + 1] > bounds[i]
    ]


def _clause(span) -> tuple[int, int]:
    """Token bounds of the span's clause within its sentence."""
    sent = span.sent
    start, end = sent.start, sent.end
    for token in span.doc[sent.start : span.start]:
        if _breaks_clause(token):
            start = token.i + 1
    for token in span.doc[span.end : sent.end]:
        if _breaks_clause(token):
            end = token.i
            break
    return start, max(end, span.end)


def _breaks_clause(token) -> bool:
    if token.lower_ in _CLAUSE_BREAKS - {"maybe", "possibly"}:
        return True
    following = token.nbor(1) if token.i + 1 < len(token.doc) else None
    return (
        token.lower_ in _CLAUSE_JOINS
        and token.lower_ != "and"
        and following is not None
        and following.lower_ in _SUBJECTS
    )


def _latest(
    times: list[TimeExpression], start: int, end: int, age_now: int | None, today: date
) -> TimeExpression | None:
    dated = [(t.resolve(age_now, today), t) for t in times if t.start >= start and t.end <= end]
    dated = [(d, t) for d, t in dated if d is not None]
    # "again this year, stopped in July": July says more than "this year".
    specific = [(d, t) for d, t in dated if not t.text.lower().startswith("this ")]
    dated = specific or dated
    return max(dated, key=lambda pair: pair[0])[1] if dated else None


def _negated(span) -> bool:
    return _modified(span, "NEGATED_EXISTENCE") or _answered_no_after(span)


def _answered_no_after(span) -> bool:
    """ "lidocaine no, nickel yes" / "numbing cream no": a "no" right after the words."""
    doc = span.doc
    if span.end >= len(doc) or doc[span.end].lower_ not in ("no", "nope", "nah", "never"):
        return False
    following = span.end + 1
    return following >= span.sent.end or doc[following].is_punct


_WISHES = frozenset({"treatment_area", "skin_concerns"})


def _modified(span, category: str, literals: frozenset[str] | None = None) -> bool:
    """Whether a ConText modifier of `category` reaches the mention, not across a clause
    break ("no, but I'm pregnant"; "tretinoin, and I took roaccutane years ago")."""
    doc = span.doc
    for modifier in span._.modifiers:
        if modifier.category != category:
            continue
        start, end = modifier.modifier_span
        if literals is not None and doc[start:end].text.lower() not in literals:
            continue
        if doc[start].sent.start != span.sent.start:
            # A scope in tokens may reach into the next sentence ("Nope, never. I'm ...").
            continue
        between = doc[end : span.start] if end <= span.start else doc[span.end : start]
        words = [token.lower_ for token in between]
        # "retinol, but I stopped it last week": the "it" points back past the break.
        anaphoric = start > span.start and any(
            t.lower_ in ("it", "them", "that") for t in doc[start : min(end + 2, len(doc))]
        )
        if anaphoric:
            return True
        if any(w in _CLAUSE_BREAKS for w in words):
            continue
        pairs = list(itertools.pairwise(words))
        # "..., and I took it" / "never, I'm pregnant": a new clause about the person.
        if any(a in _CLAUSE_JOINS and b in _SUBJECTS for a, b in pairs):
            continue
        if category == "HYPOTHETICAL" and (
            _says_while_using(words) or _if_it_happened(doc, start, end)
        ):
            # "can I have it while using Differin?": the question is hypothetical, the
            # Differin is not.
            continue
        return True
    return False


_WHILE_USING = frozenset({"using", "taking", "on", "i'm", "im"})
_HAPPENED = frozenset(
    {"finished", "had", "took", "stopped", "was", "used", "got", "did", "came", "quit", "ended"}
)


def _if_it_happened(doc, start: int, end: int) -> bool:
    """ "if I finished accutane 2 months ago": a condition that is a fact, not a maybe."""
    if doc[start:end].text.lower() != "if" or end + 1 >= len(doc):
        return False
    return doc[end].lower_ in ("i", "i've", "ive") and doc[end + 1].lower_ in _HAPPENED


def _while_using(span, clause_start: int) -> bool:
    """ "Can I have it while (I'm) on warfarin?": the question is the person's own."""
    doc = span.doc
    words = [t.lower_ for t in doc[max(clause_start - 1, span.sent.start) : span.start]]
    asker = any(t.lower_ in _FIRST_PERSON for t in doc[span.sent.start : clause_start])
    return asker and _says_while_using(words)


def _says_while_using(words: list[str]) -> bool:
    return any(a in ("while", "whilst") and b in _WHILE_USING for a, b in itertools.pairwise(words))


def _nearest(
    times: list[TimeExpression], sent_start: int, sent_end: int, start: int, end: int
) -> TimeExpression | None:
    in_sentence = [t for t in times if t.start >= sent_start and t.end <= sent_end]
    if not in_sentence:
        return None
    return min(
        in_sentence, key=lambda t: (t.start - end) if t.start >= end else (start - t.end) + 1000
    )


def _context_rules(path: Path) -> list[dict[str, Any]]:
    data = _read_yaml(path)
    rules = data.get("rules")
    if not isinstance(rules, list):
        raise LexiconError(f"{path}: 'rules' must be a list")
    allowed = {
        "literal",
        "category",
        "pattern",
        "direction",
        "allowed_types",
        "excluded_types",
        "max_scope",
        "max_targets",
        "terminated_by",
    }
    checked = []
    for index, rule in enumerate(rules):
        if not isinstance(rule, dict) or not {"literal", "category"} <= set(rule):
            raise LexiconError(f"{path}: rules[{index}]: needs 'literal' and 'category'")
        unknown = set(rule) - allowed
        if unknown:
            raise LexiconError(f"{path}: rules[{index}]: unknown field(s) {sorted(unknown)}")
        rule = dict(rule)
        for key in ("allowed_types", "excluded_types", "terminated_by"):
            if key in rule:
                rule[key] = set(rule[key])
        checked.append(rule)
    return checked
