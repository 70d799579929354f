"""Time expressions become dates relative to the conversation's date."""

from __future__ import annotations

from datetime import date

import pytest

from needlecheck.nlu.timeexpr import find_time_expressions, parse_number

TODAY = date(2026, 11, 27)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("two months ago", date(2026, 9, 27)),
        ("10 days ago", date(2026, 11, 17)),
        ("ten years ago", date(2016, 11, 27)),
        ("a couple of weeks ago", date(2026, 11, 13)),
        ("a few months back", date(2026, 9, 27)),
        ("last week", date(2026, 11, 22)),
        ("last month", date(2026, 10, 31)),
        ("last year", date(2025, 12, 31)),
        ("yesterday", date(2026, 11, 26)),
        ("in March", date(2026, 3, 31)),
        # A month still to come this year means last year's.
        ("in December", date(2025, 12, 31)),
        ("since 2019", date(2019, 12, 31)),
        ("in May 2025", date(2025, 5, 31)),
        ("on 3 October", date(2026, 10, 3)),
        ("November 2", date(2026, 11, 2)),
        ("2026-10-01", date(2026, 10, 1)),
        # Six months before 31 May is clamped like the engine's arithmetic.
        ("six months ago", date(2026, 5, 27)),
    ],
)
def test_expressions_become_the_latest_date_they_can_mean(text, expected) -> None:
    (found,) = find_time_expressions(text, TODAY)
    assert found.when == expected


def test_six_months_before_the_end_of_a_long_month_is_clamped() -> None:
    (found,) = find_time_expressions("six months ago", date(2026, 8, 31))
    assert found.when == date(2026, 2, 28)


@pytest.mark.parametrize(
    ("text", "age_then", "age_now", "expected"),
    [
        ("as a teenager", 19, 34, date(2012, 11, 27)),
        ("when I was sixteen", 16, 30, date(2013, 11, 27)),
        ("in my teens", 19, 19, date(2026, 11, 27)),
    ],
)
def test_stages_of_life_need_the_age(text, age_then, age_now, expected) -> None:
    (found,) = find_time_expressions(text, TODAY)
    assert found.at_age == age_then
    assert found.resolve(age_now, TODAY) == expected
    assert found.resolve(None, TODAY) is None


@pytest.mark.parametrize(
    "text", ["next month", "in 2030", "I may start", "my face", "march to the clinic"]
)
def test_no_past_date_no_expression(text) -> None:
    assert find_time_expressions(text, TODAY) == []


@pytest.mark.parametrize(
    ("text", "number"), [("34", 34), ("thirty-four", 34), ("thirty four", 34), ("hello", None)]
)
def test_numbers_in_words(text, number) -> None:
    assert parse_number(text) == number


def test_the_day_before_yesterday_and_last_month_by_name() -> None:
    from needlecheck.nlu.timeexpr import find_time_expressions

    today = date(2026, 12, 1)
    (before,) = find_time_expressions("the day before yesterday", today)
    assert before.when == date(2026, 11, 29)
    # "last November" said in December is a year back; "last October" the one just gone.
    (november,) = find_time_expressions("last november", today)
    assert november.when == date(2025, 11, 30)
    (october,) = find_time_expressions("last october", today)
    assert october.when == date(2026, 10, 31)
