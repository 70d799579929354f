"""Buttons as numbered options on text-only channels."""

from __future__ import annotations

from needlecheck.channels.numbered import HINT, last_buttons, render, resolve

BUTTONS = [
    {"title": "Yes, I agree", "payload": "/affirm"},
    {"title": "No, thank you", "payload": "/deny"},
]


def test_options_are_listed_with_numbers() -> None:
    assert render("May I ask?", BUTTONS) == f"May I ask?\n1. Yes, I agree\n2. No, thank you\n{HINT}"
    assert render("How old are you?", []) == "How old are you?"


def test_a_number_or_a_title_picks_the_option() -> None:
    assert resolve("1", BUTTONS) == "/affirm"
    assert resolve(" 2. ", BUTTONS) == "/deny"
    assert resolve("option 2", BUTTONS) == "/deny"
    assert resolve("no, THANK you", BUTTONS) == "/deny"


def test_anything_else_is_free_text() -> None:
    assert resolve("3", BUTTONS) == "3"
    assert resolve("34", []) == "34"
    assert resolve("I use retinol", BUTTONS) == "I use retinol"


def test_only_the_latest_assistant_message_counts() -> None:
    events = [
        {"event": "bot", "data": {"buttons": BUTTONS}},
        {"event": "user", "text": "1"},
        {"event": "bot", "text": "How old are you?", "data": {}},
    ]
    assert last_buttons(events) == []
    assert last_buttons(events[:1]) == BUTTONS
    assert last_buttons(events[:2]) == []
