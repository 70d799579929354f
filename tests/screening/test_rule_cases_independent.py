"""Every rule against cases written from the clinic's policy, not from rules.yml.

tests/screening/test_rule_cases.py takes each rule's cases from rules.yml itself, so a
wrong rule and a wrong example there agree. The cases here were written from the clinic's
screening policy document (docs/screening-policy.md describes it), each as a sentence a
person might say and the facts it gives, with the `until` date worked out by hand from
the policy's waiting periods. Each rule has at least one case that triggers it and one
that does not; a rule added to rules.yml without cases here fails
`test_every_rule_has_independent_cases`.

The assessment date is fixed, and is not rules.yml's `today_for_examples`: 1 March 2027,
the day after the end of a 28-day February, so that month-end clamping matters.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pytest

from needlecheck.screening import assess
from needlecheck.screening.policy import rules_document

TODAY = date(2027, 3, 1)

# A complete record with nothing to report: a 41-year-old who wants fine lines and sun
# damage on the neck and chest seen to, and uses a vitamin C serum. Each case changes it.
BASE: dict[str, Any] = {
    "red_flags": [],
    "age": 41,
    "treatment_area": ["neck", "chest"],
    "skin_concerns": ["fine_lines", "sun_damage"],
    "topical_products": ["vitamin_c"],
    "isotretinoin": {"status": "never"},
    "pregnant_or_breastfeeding": False,
    "active_skin_issues": [],
    "conditions": [],
    "medications": [],
    "cancer_treatment": {"status": "none"},
    "allergies": [],
    "recent_procedures": [],
}

UNDATED = None  # a triggering case's `until` when the rule ends on no known date


@dataclass(frozen=True)
class Case:
    rule: str
    said: str
    changes: dict[str, Any]
    # For a triggering case: the finding's `until` and the outcome of the whole record.
    until: date | None = UNDATED
    outcome: str | None = None
    # Facts to leave out of BASE, to check what an unknown answer does.
    unknown: tuple[str, ...] = field(default=())

    def facts(self) -> dict[str, Any]:
        record = {**BASE, **self.changes}
        for name in self.unknown:
            record.pop(name)
        return record


def peel(kind: str, on: str | None) -> dict[str, Any]:
    return {"type": kind, "date": on} if on else {"type": kind}


TRIGGERS: list[Case] = [
    # Red flags: any one sign is enough, and nothing outranks them.
    Case(
        "URG-INFECTION",
        "Since I used a derma-roller at home my jaw is hot, the redness keeps spreading "
        "and I have a temperature.",
        {"red_flags": ["infection_signs"]},
        outcome="urgent_care",
    ),
    Case(
        "URG-ALLERGY",
        "My tongue is swelling after I tried a numbing cream and I'm struggling to breathe.",
        {"red_flags": ["allergic_reaction"]},
        outcome="urgent_care",
    ),
    # Absolute contraindications.
    Case(
        "EX-SKIN-CANCER",
        "My GP thinks the scaly patch on my neck is a squamous cell carcinoma; it comes off "
        "next month.",
        {"conditions": ["skin_cancer_in_area"]},
        outcome="not_suitable",
    ),
    Case(
        "EX-BLEEDING",
        "I have von Willebrand disease.",
        {"conditions": ["bleeding_disorder"]},
        outcome="not_suitable",
    ),
    Case(
        "EX-COLLAGEN-VASCULAR",
        "I've had systemic lupus since my twenties.",
        {"conditions": ["collagen_vascular_disease"]},
        outcome="not_suitable",
    ),
    Case(
        "EX-KELOID",
        "The scar from my shoulder operation kept growing into a big raised lump.",
        {"conditions": ["keloid_history"]},
        outcome="not_suitable",
    ),
    Case(
        "EX-CANCER-TREATMENT",
        "I'm having radiotherapy every weekday at the moment.",
        {"cancer_treatment": {"status": "current"}},
        outcome="not_suitable",
    ),
    # Deferrals with a date: the boundary worked out by hand.
    Case(
        "DF-CANCER-TREATMENT",
        "My last round of chemotherapy was on 30 September 2026.",
        {"cancer_treatment": {"status": "past", "ended": "2026-09-30"}},
        until=date(2027, 3, 30),
        outcome="defer",
    ),
    Case(
        "DF-CANCER-TREATMENT",
        "I finished my cancer treatment a while back but I can't remember when.",
        {"cancer_treatment": {"status": "past"}},
        until=UNDATED,
        outcome="defer",
    ),
    Case(
        "DF-ISOTRETINOIN",
        "I'm on Absorica for my acne right now.",
        {"isotretinoin": {"status": "current"}},
        until=UNDATED,
        outcome="defer",
    ),
    Case(
        "DF-ISOTRETINOIN",
        "My last isotretinoin capsule was on 15 December 2026.",
        {"isotretinoin": {"status": "past", "last_dose": "2026-12-15"}},
        until=date(2027, 6, 15),
        outcome="defer",
    ),
    Case(
        "DF-ISOTRETINOIN",
        "I took Roaccutane at some point, no idea when I stopped.",
        {"isotretinoin": {"status": "past"}},
        until=UNDATED,
        outcome="defer",
    ),
    Case(
        "DF-PREGNANCY",
        "I'm 20 weeks pregnant.",
        {"pregnant_or_breastfeeding": True},
        outcome="defer",
    ),
    Case(
        "DF-MINOR",
        "I'm 17 and I'd like my acne scars looked at.",
        {"age": 17, "skin_concerns": ["acne_scars"]},
        outcome="defer",
    ),
    Case(
        "DF-ACTIVE-ACNE",
        "My chin is covered in sore, red, swollen spots at the moment.",
        {"active_skin_issues": ["inflammatory_acne"]},
        outcome="defer",
    ),
    Case(
        "DF-ACTIVE-INFECTION",
        "A cold sore has just come up on my lip.",
        {"active_skin_issues": ["cold_sore"]},
        outcome="defer",
    ),
    Case(
        "DF-ACTIVE-INFECTION",
        "There's an infected spot on my neck, no fever though.",
        {"active_skin_issues": ["infection"]},
        outcome="defer",
    ),
    Case(
        "DF-ACTIVE-INFECTION",
        "I grazed my chest falling off my bike and it's still an open scrape.",
        {"active_skin_issues": ["open_wound"]},
        outcome="defer",
    ),
    Case(
        "DF-ACTIVE-INFECTION",
        "There are a couple of warts on the back of my hand.",
        {"active_skin_issues": ["warts"], "treatment_area": ["hands"]},
        outcome="defer",
    ),
    Case(
        "DF-DERMATITIS-FLARE",
        "The dermatitis on my neck has flared up this week.",
        {"active_skin_issues": ["dermatitis_flare"]},
        outcome="defer",
    ),
    Case(
        "DF-SUNBURN",
        "My chest got burnt at the beach yesterday and it's peeling.",
        {"active_skin_issues": ["sunburn"]},
        outcome="defer",
    ),
    Case(
        "DF-PEEL-LASER",
        "I had dermabrasion on 5 February 2027.",
        {"recent_procedures": [peel("dermabrasion", "2027-02-05")]},
        until=date(2027, 3, 7),
        outcome="defer",
    ),
    Case(
        "DF-PEEL-LASER",
        "I had some laser work on my neck but I don't know the date.",
        {"recent_procedures": [peel("laser", None)]},
        until=UNDATED,
        outcome="defer",
    ),
    Case(
        "DF-PEEL-LASER",
        "A chemical peel on 10 February 2027 and a laser session on 20 February 2027.",
        {
            "recent_procedures": [
                peel("chemical_peel", "2027-02-10"),
                peel("laser", "2027-02-20"),
            ]
        },
        until=date(2027, 3, 22),
        outcome="defer",
    ),
    Case(
        "DF-INJECTABLES",
        "I had lip filler on 20 February 2027.",
        {"recent_procedures": [peel("filler", "2027-02-20")]},
        until=date(2027, 3, 6),
        outcome="defer",
    ),
    Case(
        "DF-INJECTABLES",
        "I had Botox between my eyebrows on 16 February 2027.",
        {"recent_procedures": [peel("neurotoxin", "2027-02-16")]},
        until=date(2027, 3, 2),
        outcome="defer",
    ),
    Case(
        "DF-SURGERY",
        "I had a skin graft on my neck on 31 October 2026.",
        {"recent_procedures": [peel("surgery", "2026-10-31")]},
        # 6 months after 31 October: 31 April does not exist, so 30 April.
        until=date(2027, 4, 30),
        outcome="defer",
    ),
    # Relative contraindications.
    Case(
        "RV-ANTICOAGULANT",
        "I'm on rivaroxaban for atrial fibrillation.",
        {"medications": ["anticoagulant"]},
        outcome="clinician_review",
    ),
    Case(
        "RV-IMMUNE",
        "My immune system is weak since my stem cell transplant.",
        {"conditions": ["immunosuppression"]},
        outcome="clinician_review",
    ),
    Case(
        "RV-IMMUNE",
        "I have Hashimoto's thyroiditis.",
        {"conditions": ["autoimmune_disease"]},
        outcome="clinician_review",
    ),
    Case(
        "RV-IMMUNE",
        "I take azathioprine every day.",
        {"medications": ["immunosuppressant"]},
        outcome="clinician_review",
    ),
    Case(
        "RV-DIABETES",
        "I have type 2 diabetes and take metformin.",
        {"conditions": ["diabetes"]},
        outcome="clinician_review",
    ),
    Case(
        "RV-COLD-SORES",
        "I get cold sores a couple of times a year and I'd like my face and neck done.",
        {"conditions": ["cold_sore_history"], "treatment_area": ["face", "neck"]},
        outcome="clinician_review",
    ),
    Case(
        "RV-CHRONIC-SKIN",
        "I have vitiligo; the patches haven't changed for years.",
        {"conditions": ["chronic_skin_condition"]},
        outcome="clinician_review",
    ),
    Case(
        "RV-ALLERGY",
        "Numbing creams like lidocaine bring me out in a rash.",
        {"allergies": ["topical_anesthetic"]},
        outcome="clinician_review",
    ),
    Case(
        "RV-ALLERGY",
        "Cheap earrings make my ears itch; it's the nickel.",
        {"allergies": ["metal"]},
        outcome="clinician_review",
    ),
    Case(
        "RV-CARDIAC",
        "I had a heart valve replaced two years ago.",
        {"conditions": ["cardiac_condition"]},
        outcome="clinician_review",
    ),
    # Preparation and staff notes: reported, but the outcome stays eligible.
    Case(
        "PR-RETINOID",
        "I use a prescription tretinoin cream.",
        {"topical_products": ["retinoid"]},
        outcome="eligible",
    ),
    Case(
        "PR-EXFOLIANT",
        "I dab benzoyl peroxide gel on my spots.",
        {"topical_products": ["benzoyl_peroxide"]},
        outcome="eligible",
    ),
    Case(
        "PR-EXFOLIANT",
        "I use a lactic acid serum a few nights a week.",
        {"topical_products": ["exfoliating_acid"]},
        outcome="eligible",
    ),
    Case(
        "NT-PIGMENTATION",
        "Every spot I've had leaves a brown mark for months.",
        {"conditions": ["pigmentation_history"]},
        outcome="eligible",
    ),
    Case("NT-AGE-UNDER-22", "I'm 18.", {"age": 18}, outcome="eligible"),
    Case("NT-AGE-UNDER-22", "I'm 21.", {"age": 21}, outcome="eligible"),
]

CLEARS: list[Case] = [
    Case(
        "URG-INFECTION",
        "My lips puffed up after a new serum and my throat feels tight.",
        {"red_flags": ["allergic_reaction"]},
    ),
    Case(
        "URG-ALLERGY",
        "I'm allergic to nickel, earrings make my ears itch.",
        {"allergies": ["metal"]},
    ),
    Case(
        "EX-SKIN-CANCER",
        "I had a melanoma cut out of my back in 2015; it's my neck I want treated.",
        {"cancer_treatment": {"status": "past", "ended": "2015-06-01"}},
    ),
    Case(
        "EX-BLEEDING",
        "I take apixaban since a blood clot last year.",
        {"medications": ["anticoagulant"]},
    ),
    Case(
        "EX-COLLAGEN-VASCULAR",
        "I have rheumatoid arthritis.",
        {"conditions": ["autoimmune_disease"]},
    ),
    Case(
        "EX-KELOID",
        "Spots leave dark marks on me, but my scars are all flat.",
        {"conditions": ["pigmentation_history"]},
    ),
    Case(
        "EX-CANCER-TREATMENT",
        "I finished chemotherapy in April 2019.",
        {"cancer_treatment": {"status": "past", "ended": "2019-04-30"}},
    ),
    Case(
        "DF-CANCER-TREATMENT",
        "My radiotherapy ended on 31 August 2026.",
        # 6 months after 31 August is 28 February 2027 (no 31 February): over by today.
        {"cancer_treatment": {"status": "past", "ended": "2026-08-31"}},
    ),
    Case(
        "DF-CANCER-TREATMENT",
        "I'm in the middle of chemotherapy.",
        # While it goes on it is an exclusion, not a deferral.
        {"cancer_treatment": {"status": "current"}},
    ),
    Case(
        "DF-ISOTRETINOIN",
        "I stopped isotretinoin on 1 September 2026.",
        # 6 months later is today: the boundary day no longer triggers.
        {"isotretinoin": {"status": "past", "last_dose": "2026-09-01"}},
    ),
    Case(
        "DF-ISOTRETINOIN",
        "I've never taken isotretinoin.",
        {"isotretinoin": {"status": "never"}},
    ),
    Case(
        "DF-PREGNANCY",
        "I stopped breastfeeding last year and I'm not pregnant.",
        {"pregnant_or_breastfeeding": False},
    ),
    Case("DF-MINOR", "I turned 18 last week.", {"age": 18}),
    Case(
        "DF-ACTIVE-ACNE",
        "Only the scars from my teenage acne are left, no spots now.",
        {"skin_concerns": ["acne_scars"], "active_skin_issues": []},
    ),
    Case(
        "DF-ACTIVE-INFECTION",
        "I get cold sores now and then, but there isn't one at the moment.",
        {"conditions": ["cold_sore_history"]},
    ),
    Case(
        "DF-ACTIVE-INFECTION",
        "My eczema is flaring on my neck.",
        {"active_skin_issues": ["dermatitis_flare"]},
    ),
    Case(
        "DF-DERMATITIS-FLARE",
        "I have eczema but it's been calm for months.",
        {"conditions": ["chronic_skin_condition"]},
    ),
    Case(
        "DF-SUNBURN",
        "Years outdoors gave me a lot of sun damage, but no burn right now.",
        {"skin_concerns": ["sun_damage"], "active_skin_issues": []},
    ),
    Case(
        "DF-PEEL-LASER",
        "I had a glycolic peel on 30 January 2027.",
        # 30 days later is today.
        {"recent_procedures": [peel("chemical_peel", "2027-01-30")]},
    ),
    Case(
        "DF-PEEL-LASER",
        "I had cheek filler on 25 February 2027.",
        {"recent_procedures": [peel("filler", "2027-02-25")]},
    ),
    Case(
        "DF-INJECTABLES",
        "I had Botox on 15 February 2027.",
        # 14 days later is today.
        {"recent_procedures": [peel("neurotoxin", "2027-02-15")]},
    ),
    Case(
        "DF-INJECTABLES",
        "I had a laser session on 25 February 2027.",
        {"recent_procedures": [peel("laser", "2027-02-25")]},
    ),
    Case(
        "DF-SURGERY",
        "I had a mole cut out of my neck on 31 August 2026.",
        # 6 months after 31 August is 28 February 2027: over by today.
        {"recent_procedures": [peel("surgery", "2026-08-31")]},
    ),
    Case(
        "RV-ANTICOAGULANT",
        "The only tablet I take is for hay fever.",
        {"medications": []},
    ),
    Case(
        "RV-IMMUNE",
        "I take warfarin for my heart rhythm.",
        {"medications": ["anticoagulant"]},
    ),
    Case(
        "RV-DIABETES",
        "My blood sugar was checked last month and it's normal.",
        {"conditions": []},
    ),
    Case(
        "RV-COLD-SORES",
        "I get cold sores, but it's only the backs of my hands I want done.",
        {"conditions": ["cold_sore_history"], "treatment_area": ["hands"]},
    ),
    Case(
        "RV-COLD-SORES",
        "I want my face done; I've never had a cold sore.",
        {"treatment_area": ["face"]},
    ),
    Case(
        "RV-CHRONIC-SKIN",
        "No eczema, psoriasis or rosacea, my skin is just ageing.",
        {"conditions": []},
    ),
    Case("RV-ALLERGY", "No allergies that I know of.", {"allergies": []}),
    Case(
        "RV-CARDIAC",
        "My heart's fine, I just have type 2 diabetes.",
        {"conditions": ["diabetes"]},
    ),
    Case(
        "PR-RETINOID",
        "I use a salicylic acid cleanser.",
        {"topical_products": ["exfoliating_acid"]},
    ),
    Case(
        "PR-EXFOLIANT",
        "I use adapalene gel at night.",
        {"topical_products": ["retinoid"]},
    ),
    Case(
        "NT-PIGMENTATION",
        "Spots heal on me without leaving any marks.",
        {"conditions": []},
    ),
    Case("NT-AGE-UNDER-22", "I'm 17.", {"age": 17}),
    Case("NT-AGE-UNDER-22", "I'm 22.", {"age": 22}),
]


def _id(case: Case) -> str:
    return f"{case.rule}: {case.said}"


def _finding(case: Case):
    result = assess(case.facts(), TODAY)
    found = [f for f in result.findings if f.rule == case.rule]
    return result, (found[0] if found else None)


def test_the_base_record_is_eligible_with_nothing_to_report() -> None:
    result = assess(BASE, TODAY)
    assert result.outcome == "eligible" and result.findings == () and result.missing == ()


@pytest.mark.parametrize("case", TRIGGERS, ids=_id)
def test_rule_triggers(case: Case) -> None:
    result, finding = _finding(case)
    assert finding is not None, f"{case.rule} should trigger on: {case.said}"
    assert finding.until == case.until, f"{case.rule}: {case.said}"
    assert result.outcome == case.outcome, f"{case.rule}: {case.said}"


@pytest.mark.parametrize("case", CLEARS, ids=_id)
def test_rule_does_not_trigger(case: Case) -> None:
    _, finding = _finding(case)
    assert finding is None, f"{case.rule} should not trigger on: {case.said}"


def test_every_rule_has_independent_cases() -> None:
    rule_ids = {entry["id"] for entry in rules_document()["rules"]}
    assert rule_ids - {c.rule for c in TRIGGERS} == set(), "rules without a triggering case"
    assert rule_ids - {c.rule for c in CLEARS} == set(), "rules without a non-triggering case"
    named = {c.rule for c in TRIGGERS + CLEARS}
    assert named - rule_ids == set(), "cases for rules that rules.yml does not have"


# What the policy says of the outcome as a whole, beyond any one rule.


def test_an_unknown_date_is_listed_as_missing_and_never_eligible() -> None:
    record = {**BASE, "recent_procedures": [peel("surgery", None)]}
    result = assess(record, TODAY)
    assert result.outcome == "defer" and result.earliest_date is None
    assert list(result.missing) == ["recent_procedures.date"]
    record = {**BASE, "isotretinoin": {"status": "past"}}
    assert list(assess(record, TODAY).missing) == ["isotretinoin.last_dose"]


def test_with_a_fact_missing_only_a_deciding_rule_gives_an_outcome() -> None:
    record = {**BASE, "topical_products": ["retinoid"], "conditions": ["pigmentation_history"]}
    del record["allergies"]
    result = assess(record, TODAY)
    assert result.outcome is None and result.missing == ("allergies",)
    assert {f.rule for f in result.findings} == {"PR-RETINOID", "NT-PIGMENTATION"}
    assert assess({"red_flags": ["infection_signs"]}, TODAY).outcome == "urgent_care"
    assert assess({"conditions": ["keloid_history"]}, TODAY).outcome == "not_suitable"


def test_the_earliest_date_is_the_latest_deferral_and_none_if_one_is_undated() -> None:
    dated = {
        **BASE,
        "isotretinoin": {"status": "past", "last_dose": "2026-12-15"},  # until 15 June
        "recent_procedures": [peel("filler", "2027-02-20")],  # until 6 March
    }
    result = assess(dated, TODAY)
    assert result.outcome == "defer" and result.earliest_date == date(2027, 6, 15)
    assert assess({**dated, "active_skin_issues": ["sunburn"]}, TODAY).earliest_date is None


def test_every_triggered_rule_is_reported_highest_severity_first() -> None:
    record = {
        **BASE,
        "topical_products": ["retinoid"],
        "medications": ["anticoagulant"],
        "pregnant_or_breastfeeding": True,
        "conditions": ["bleeding_disorder", "pigmentation_history"],
    }
    result = assess(record, TODAY)
    assert result.outcome == "not_suitable"
    assert [f.severity for f in result.findings] == [
        "exclude",
        "defer",
        "review",
        "prepare",
        "note",
    ]
