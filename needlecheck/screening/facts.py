"""The screening record: fact names, their types and allowed values.

docs/screening-policy.md, "Facts", has them as a table generated from FACTS below.

Validation turns untrusted input (a JSON line, a Rasa slot) into facts the engine can
rely on, or raises `FactError` naming the field. It never guesses: an unknown fact, a
value outside the table or a malformed date is an error, not an outcome.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from needlecheck.screening.dates import parse_iso_date


class FactError(ValueError):
    """A fact that is unknown, of the wrong type, outside its value table or malformed."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"field '{field_name}': {message}")
        self.field = field_name
        self.message = message


@dataclass(frozen=True)
class IntegerFact:
    minimum: int
    maximum: int


@dataclass(frozen=True)
class BooleanFact:
    pass


@dataclass(frozen=True)
class ListFact:
    values: tuple[str, ...]
    min_items: int = 0


@dataclass(frozen=True)
class ObjectFact:
    """An object with a required `status` and an optional date that only some statuses take."""

    statuses: tuple[str, ...]
    date_field: str
    date_statuses: tuple[str, ...]
    # Statuses whose waiting period runs from the date, so a missing date is reported.
    date_needed_for: tuple[str, ...]


@dataclass(frozen=True)
class ProcedureListFact:
    types: tuple[str, ...]


FactType = IntegerFact | BooleanFact | ListFact | ObjectFact | ProcedureListFact

# Order matters: it is the order in which `missing` lists facts, and red flags come
# first because a dialogue asks the most urgent questions before anything else.
FACTS: dict[str, FactType] = {
    "red_flags": ListFact(("infection_signs", "allergic_reaction")),
    "age": IntegerFact(minimum=0, maximum=120),
    "treatment_area": ListFact(("face", "neck", "chest", "hands", "body", "scalp"), min_items=1),
    "skin_concerns": ListFact(
        (
            "acne_scars",
            "surgical_scars",
            "fine_lines",
            "wrinkles",
            "hyperpigmentation",
            "sun_damage",
            "enlarged_pores",
            "texture",
            "stretch_marks",
            "other",
        ),
        min_items=1,
    ),
    "topical_products": ListFact(
        ("retinoid", "exfoliating_acid", "benzoyl_peroxide", "vitamin_c", "other")
    ),
    "isotretinoin": ObjectFact(
        statuses=("never", "current", "past"),
        date_field="last_dose",
        date_statuses=("current", "past"),
        date_needed_for=("past",),
    ),
    "pregnant_or_breastfeeding": BooleanFact(),
    "active_skin_issues": ListFact(
        (
            "inflammatory_acne",
            "cold_sore",
            "infection",
            "open_wound",
            "warts",
            "dermatitis_flare",
            "sunburn",
        )
    ),
    "conditions": ListFact(
        (
            "keloid_history",
            "bleeding_disorder",
            "skin_cancer_in_area",
            "collagen_vascular_disease",
            "cold_sore_history",
            "immunosuppression",
            "autoimmune_disease",
            "diabetes",
            "chronic_skin_condition",
            "cardiac_condition",
            "pigmentation_history",
        )
    ),
    "medications": ListFact(("anticoagulant", "immunosuppressant")),
    "cancer_treatment": ObjectFact(
        statuses=("none", "current", "past"),
        date_field="ended",
        date_statuses=("past",),
        date_needed_for=("past",),
    ),
    "allergies": ListFact(("topical_anesthetic", "metal")),
    "recent_procedures": ProcedureListFact(
        ("chemical_peel", "laser", "dermabrasion", "filler", "neurotoxin", "surgery")
    ),
}

FACT_NAMES: tuple[str, ...] = tuple(FACTS)

# The table's shapes, derived once so that the NLU, the dialogue and the domain agree.
# Facts answered with a list (a procedure list included): items add up across messages.
LIST_FACTS: tuple[str, ...] = tuple(
    name for name, kind in FACTS.items() if isinstance(kind, ListFact | ProcedureListFact)
)
# Facts with a status and a date field ("isotretinoin" -> "last_dose").
COURSE_FACTS: dict[str, str] = {
    name: kind.date_field for name, kind in FACTS.items() if isinstance(kind, ObjectFact)
}
PROCEDURE_TYPES: tuple[str, ...] = next(
    kind.types for kind in FACTS.values() if isinstance(kind, ProcedureListFact)
)
PROCEDURE_FACT: str = next(
    name for name, kind in FACTS.items() if isinstance(kind, ProcedureListFact)
)
# The follow-up question that asks for each date a fact may lack, in asking order.
DATE_FOLLOW_UPS: dict[str, str] = {
    **{f"{name}_{field}": name for name, field in COURSE_FACTS.items()},
    f"{PROCEDURE_FACT}_date": PROCEDURE_FACT,
}


def list_values(name: str) -> tuple[str, ...]:
    """The values a list fact takes (procedure types for the procedure list)."""
    kind = FACTS[name]
    if isinstance(kind, ProcedureListFact):
        return kind.types
    if isinstance(kind, ListFact):
        return kind.values
    raise KeyError(f"{name} is not a list fact")


@dataclass(frozen=True)
class Procedure:
    type: str
    date: date | None


@dataclass(frozen=True)
class Facts:
    """Validated facts: only known names, only allowed values, dates parsed."""

    values: Mapping[str, Any] = field(default_factory=dict)

    def given(self, name: str) -> bool:
        return name in self.values

    def get(self, path: str) -> Any:
        """Look up `fact` or `fact.field`; None when the fact or field was not given."""
        name, _, sub = path.partition(".")
        value = self.values.get(name)
        if not sub or value is None:
            return value
        return value.get(sub)

    def missing(self) -> list[str]:
        """Facts not given, then dates that a given fact needs but lacks."""
        absent = [name for name in FACT_NAMES if name not in self.values]
        dates: list[str] = []
        for name, kind in FACTS.items():
            value = self.values.get(name)
            if value is None:
                continue
            if (
                isinstance(kind, ObjectFact)
                and value["status"] in kind.date_needed_for
                and value.get(kind.date_field) is None
            ):
                dates.append(f"{name}.{kind.date_field}")
            if isinstance(kind, ProcedureListFact) and any(p.date is None for p in value):
                dates.append(f"{name}.date")
        return absent + dates

    def to_json(self) -> dict[str, Any]:
        """The facts as plain JSON values (dates as ISO strings), for storage and output."""
        out: dict[str, Any] = {}
        for name, value in self.values.items():
            kind = FACTS[name]
            if isinstance(kind, ObjectFact):
                out[name] = {
                    k: v.isoformat() if isinstance(v, date) else v for k, v in value.items()
                }
            elif isinstance(kind, ProcedureListFact):
                out[name] = [
                    {"type": p.type, "date": p.date.isoformat() if p.date else None} for p in value
                ]
            elif isinstance(value, tuple):
                out[name] = list(value)
            else:
                out[name] = value
        return out


def validate_facts(raw: object) -> Facts:
    """Check every fact against FACTS (docs/screening-policy.md, "Facts"); raise FactError at
    the first problem."""
    if not isinstance(raw, Mapping):
        raise FactError("(facts)", f"expected a JSON object of facts, got {_type_name(raw)}")
    values: dict[str, Any] = {}
    for name, value in raw.items():
        if not isinstance(name, str) or name not in FACTS:
            raise FactError(str(name), f"unknown fact; known facts are {', '.join(FACT_NAMES)}")
        values[name] = validate_fact(name, value)
    return Facts(values)


def validate_fact(name: str, value: object) -> Any:
    """Validate one fact's value and return it normalised (tuples, parsed dates)."""
    kind = FACTS.get(name)
    if kind is None:
        raise FactError(name, "unknown fact")
    if value is None:
        raise FactError(name, "null is not a value; leave the fact out if it is not known yet")
    if isinstance(kind, IntegerFact):
        return _validate_integer(name, kind, value)
    if isinstance(kind, BooleanFact):
        if not isinstance(value, bool):
            raise FactError(name, f"expected true or false, got {_type_name(value)}")
        return value
    if isinstance(kind, ListFact):
        return _validate_list(name, kind, value)
    if isinstance(kind, ObjectFact):
        return _validate_object(name, kind, value)
    return _validate_procedures(name, kind, value)


def _validate_integer(name: str, kind: IntegerFact, value: object) -> int:
    # bool is a subclass of int in Python; `true` is not an age.
    if isinstance(value, bool) or not isinstance(value, int):
        raise FactError(name, f"expected a whole number, got {_type_name(value)}")
    if not kind.minimum <= value <= kind.maximum:
        raise FactError(name, f"{value} is outside {kind.minimum}..{kind.maximum}")
    return value


def _validate_list(name: str, kind: ListFact, value: object) -> tuple[str, ...]:
    if not isinstance(value, list | tuple):
        raise FactError(name, f"expected a list, got {_type_name(value)}")
    items: list[str] = []
    for index, item in enumerate(value):
        if not isinstance(item, str) or item not in kind.values:
            raise FactError(
                f"{name}[{index}]",
                f"{item!r} is not one of {', '.join(kind.values)}",
            )
        if item not in items:
            items.append(item)
    if len(items) < kind.min_items:
        raise FactError(name, f"needs at least {kind.min_items} value(s)")
    return tuple(items)


def _validate_object(name: str, kind: ObjectFact, value: object) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise FactError(name, f"expected an object with a 'status', got {_type_name(value)}")
    unknown = set(value) - {"status", kind.date_field}
    if unknown:
        raise FactError(f"{name}.{sorted(unknown)[0]}", "unknown field")
    status = value.get("status")
    if status not in kind.statuses:
        raise FactError(f"{name}.status", f"{status!r} is not one of {', '.join(kind.statuses)}")
    out: dict[str, Any] = {"status": status}
    raw_date = value.get(kind.date_field)
    if raw_date is not None:
        if status not in kind.date_statuses:
            raise FactError(
                f"{name}.{kind.date_field}",
                f"a date makes no sense with status {status!r}",
            )
        try:
            out[kind.date_field] = parse_iso_date(raw_date)
        except ValueError as error:
            raise FactError(f"{name}.{kind.date_field}", str(error)) from None
    return out


def _validate_procedures(
    name: str, kind: ProcedureListFact, value: object
) -> tuple[Procedure, ...]:
    if not isinstance(value, list | tuple):
        raise FactError(name, f"expected a list of procedures, got {_type_name(value)}")
    procedures: list[Procedure] = []
    for index, item in enumerate(value):
        where = f"{name}[{index}]"
        if not isinstance(item, Mapping):
            raise FactError(where, "expected an object with 'type' and 'date'")
        unknown = set(item) - {"type", "date"}
        if unknown:
            raise FactError(f"{where}.{sorted(unknown)[0]}", "unknown field")
        if item.get("type") not in kind.types:
            raise FactError(
                f"{where}.type", f"{item.get('type')!r} is not one of {', '.join(kind.types)}"
            )
        when = item.get("date")
        if when is not None:
            try:
                when = parse_iso_date(when)
            except ValueError as error:
                raise FactError(f"{where}.date", str(error)) from None
        procedures.append(Procedure(item["type"], when))
    return tuple(procedures)


def _type_name(value: object) -> str:
    return {
        bool: "a boolean",
        int: "a number",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "an object",
        type(None): "null",
    }.get(type(value), type(value).__name__)
