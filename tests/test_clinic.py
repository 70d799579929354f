"""The clinic's file (clinic.yml): its answers, filled from its details or falling back to
defaults that promise nothing, and a clear error naming the place of a mistake."""

from __future__ import annotations

from pathlib import Path

import pytest

from needlecheck.clinic import DEFAULT_FILE, Clinic, ClinicFileError

ANSWERS = """
answers:
  clinic_booking:
    text: "Call {name} on {phone} to book."
    default: >-
      The clinic books consultations
      itself.
  clinic_location:
    text: "We are at {address}."
    default: The clinic will give you its address.
  clinic_price:
    text: null
    default: The clinic will tell you the price at your consultation.
  clinic_payment:
    text: We take card and cash.
    default: Ask the clinic how to pay.
"""


def clinic_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "clinic.yml"
    path.write_text(text, encoding="utf-8")
    return path


def test_answers_fall_back_to_their_defaults_without_the_details(tmp_path) -> None:
    clinic = Clinic.load(clinic_file(tmp_path, "name: Riverside Skin\nphone: null\n" + ANSWERS))
    # The phone is missing, so the booking answer cannot be given with it.
    assert clinic.answer("clinic_booking") == "The clinic books consultations itself."
    assert clinic.answer("clinic_location") == "The clinic will give you its address."
    assert clinic.answer("clinic_price") == (
        "The clinic will tell you the price at your consultation."
    )
    # Text of its own without placeholders needs no details.
    assert clinic.answer("clinic_payment") == "We take card and cash."
    # A topic the file does not cover.
    assert clinic.answer("clinic_vouchers") is None


def test_placeholders_are_filled_from_the_details(tmp_path) -> None:
    clinic = Clinic.load(
        clinic_file(
            tmp_path,
            "name: Riverside Skin\nphone: '020 7946 0000'\naddress: 12 River Street\n" + ANSWERS,
        )
    )
    assert clinic.answer("clinic_booking") == "Call Riverside Skin on 020 7946 0000 to book."
    assert clinic.answer("clinic_location") == "We are at 12 River Street."
    assert clinic.details == {
        "name": "Riverside Skin",
        "phone": "020 7946 0000",
        "address": "12 River Street",
    }


def test_an_unknown_placeholder_is_refused_with_the_file_and_place(tmp_path) -> None:
    path = clinic_file(
        tmp_path,
        "answers:\n  clinic_hours:\n    text: 'Open {hours}'\n    default: Ask the clinic.\n",
    )
    with pytest.raises(ClinicFileError) as error:
        Clinic.load(path)
    message = str(error.value)
    assert message.startswith(f"{path}: answers.clinic_hours.text: unknown placeholder {{hours}}")
    assert "{opening_hours}" in message


def test_an_answer_without_a_default_is_refused_with_the_file_and_place(tmp_path) -> None:
    path = clinic_file(tmp_path, "answers:\n  clinic_price:\n    text: Two hundred pounds.\n")
    with pytest.raises(ClinicFileError, match=r"answers\.clinic_price: needs a 'default'") as error:
        Clinic.load(path)
    assert str(error.value).startswith(str(path))


@pytest.mark.parametrize(
    ("text", "place"),
    [
        ("- just\n- a list\n", "expected a mapping at the top level"),
        ("answers: {clinic_price: {text: 5, default: x}}\n", "answers.clinic_price.text"),
        ("answers: [unclosed\n", "clinic.yml"),
    ],
)
def test_other_mistakes_name_the_file(tmp_path, text, place) -> None:
    path = clinic_file(tmp_path, text)
    with pytest.raises(ClinicFileError) as error:
        Clinic.load(path)
    assert str(error.value).startswith(str(path))
    assert place in str(error.value)


def test_the_file_comes_from_the_environment_or_the_project(tmp_path, monkeypatch) -> None:
    path = clinic_file(tmp_path, "name: Elsewhere\n" + ANSWERS)
    monkeypatch.setenv("NEEDLECHECK_CLINIC", str(path))
    assert Clinic.load().details == {"name": "Elsewhere"}
    monkeypatch.delenv("NEEDLECHECK_CLINIC")
    assert Clinic.load() == Clinic.load(DEFAULT_FILE)


def test_the_shipped_file_loads_and_answers_without_any_details_filled_in() -> None:
    clinic = Clinic.load(DEFAULT_FILE)
    for topic in ("clinic_price", "clinic_booking", "clinic_location", "clinic_hours"):
        answer = clinic.answer(topic)
        assert answer and "{" not in answer, topic


def test_the_emergency_number_is_a_number_to_dial(tmp_path) -> None:
    assert Clinic.load().response_variables()["emergency_number"] == "999"
    clinic = Clinic.load(clinic_file(tmp_path, 'emergency_number: "911"\n'))
    assert clinic.response_variables() == {
        "emergency_number": "911",
        "call_the_clinic": "contact the clinic",
        "adult_age": "18",
        "handoff_wait_minutes": "15",
        "opening_hours_sentence": "We answer during opening hours.",
    }
    path = clinic_file(tmp_path, "emergency_number: ring an ambulance\n")
    with pytest.raises(ClinicFileError, match="emergency_number: 'ring an ambulance' is not"):
        Clinic.load(path)
    # A file without one still never leaves a person without the words to act on.
    assert Clinic().response_variables()["emergency_number"] == "your local emergency number"


def test_the_adult_age_is_a_whole_number_of_years_in_range(tmp_path) -> None:
    assert Clinic.load().adult_age == 18
    assert Clinic.load(clinic_file(tmp_path, "adult_age: 16\n")).adult_age == 16
    for wrong in ("15", "22", "eighteen", "17.5", "true"):
        with pytest.raises(ClinicFileError, match=r"adult_age: .* from 16 to 21"):
            Clinic.load(clinic_file(tmp_path, f"adult_age: {wrong}\n"))


HOURS = """
opening_hours: Monday to Friday 9am to 6pm
handoff_wait_minutes: 20
hours:
  monday: {open: "09:00", close: "18:00"}
  friday: {open: "09:00", close: "13:30"}
  sunday: null
"""


def test_opening_hours_decide_whether_staff_can_answer_now(tmp_path) -> None:
    from datetime import datetime

    path = tmp_path / "clinic.yml"
    path.write_text(HOURS)
    clinic = Clinic.load(path)
    assert clinic.handoff_wait_minutes == 20
    assert clinic.is_open(datetime(2026, 12, 7, 9, 0))  # a Monday, at opening
    assert not clinic.is_open(datetime(2026, 12, 7, 18, 0))  # closing time
    assert not clinic.is_open(datetime(2026, 12, 8, 12, 0))  # Tuesday: not listed
    assert clinic.is_open(datetime(2026, 12, 11, 13, 29))
    assert not clinic.is_open(datetime(2026, 12, 13, 12, 0))  # Sunday: null
    values = clinic.response_variables()
    assert values["handoff_wait_minutes"] == "20"
    assert values["opening_hours_sentence"] == "Our opening hours are Monday to Friday 9am to 6pm."
    # Without structured hours the clinic counts as open: a request is never refused.
    bare = tmp_path / "bare.yml"
    bare.write_text("name: X\n")
    assert Clinic.load(bare).is_open(datetime(2026, 12, 13, 3, 0))
    assert Clinic.load(bare).response_variables()["opening_hours_sentence"].startswith("We answer")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("handoff_wait_minutes: 0", r"handoff_wait_minutes: 0 must be .* from 1 to 240"),
        ("handoff_wait_minutes: soon", r"handoff_wait_minutes: 'soon'"),
        ("hours: [monday]", r"hours: expected a mapping"),
        ("hours: {funday: {open: '09:00', close: '10:00'}}", r"hours\.funday: not a weekday"),
        ("hours: {monday: '9 to 5'}", r"hours\.monday: expected \{open"),
        ("hours: {monday: {open: '9am', close: '17:00'}}", r"hours\.monday\.open: '9am' is not"),
        ("hours: {monday: {open: '09:00', close: '24:00'}}", r"hours\.monday\.close: '24:00'"),
        (
            "hours: {monday: {open: '18:00', close: '09:00'}}",
            r"hours\.monday\.close: must be after",
        ),
    ],
)
def test_a_wrong_wait_or_opening_hours_names_the_field(tmp_path, text, message) -> None:
    path = tmp_path / "clinic.yml"
    path.write_text(text + "\n")
    with pytest.raises(ClinicFileError, match=message) as error:
        Clinic.load(path)
    assert str(path) in str(error.value)
