from __future__ import annotations

import logging

import pytest

from needlecheck.security import logs
from needlecheck.security.logs import WITHHELD, redact, scrub, withhold_structured_content


def record(name: str, level: int, msg: str, *args: object, exc_info=None) -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, msg, args, exc_info)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("write to ana.lima+clinic@example.co.uk", "write to [email]"),
        ("call +44 20 7946 0958 or (020) 7946-0958", "call [number] or [number]"),
        ("sms from +15557772001", "sms from [number]"),
        (
            "born 1987-03-14, 14/03/1987, 14.03.1987 or 3/14/87",
            "born [date], [date], [date] or [date]",
        ),
        (
            "Rasa 3.6.21 on http://127.0.0.1:5005 port 5432",
            "Rasa 3.6.21 on http://127.0.0.1:5005 port 5432",
        ),
    ],
)
def test_redact(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_rasa_debug_lines_are_withheld_but_the_dialogue_lines_stay() -> None:
    said = scrub(record("rasa.core.processor", logging.DEBUG, "Received user message 'Ana Lima'"))
    assert said.getMessage() == WITHHELD
    sdk = scrub(record("rasa_sdk.forms", logging.DEBUG, "Validating slots %s", {"name": "Ana"}))
    assert sdk.getMessage() == WITHHELD
    kept = scrub(
        record(
            "rasa.core.processor",
            logging.DEBUG,
            "Predicted next action 'utter_x' with confidence 1.00.",
        )
    )
    assert kept.getMessage().startswith("Predicted next action 'utter_x'")
    # Not a content logger, and not DEBUG: kept, with personal data redacted.
    ours = scrub(record("needlecheck.x", logging.DEBUG, "sent to %s", "ana@example.org"))
    assert ours.getMessage() == "sent to [email]"
    info = scrub(record("rasa.core.processor", logging.INFO, "conversation +15557772001"))
    assert info.getMessage() == "conversation [number]"


def test_tracebacks_are_redacted() -> None:
    try:
        raise ValueError("no such contact ana@example.org")
    except ValueError as error:
        line = scrub(
            record(
                "needlecheck.x",
                logging.ERROR,
                "failed",
                exc_info=(type(error), error, error.__traceback__),
            )
        )
    assert "ana@example.org" not in line.exc_text
    assert "[email]" in line.exc_text
    formatted = logging.Formatter().format(line)
    assert "ana@example.org" not in formatted


def test_rasa_structured_lines_lose_their_content_keys() -> None:
    event = {"event": "processor.message.parse", "parse_data_text": "I am Ana", "intent": "inform"}
    assert withhold_structured_content(None, "debug", event) == {
        "event": "processor.message.parse",
        "parse_data_text": WITHHELD,
        "intent": "inform",
    }


def test_installed_every_logger_is_scrubbed(caplog) -> None:
    before = logging.getLogRecordFactory()
    try:
        logs._installed = False
        logs.install()
        with caplog.at_level(logging.DEBUG):
            logging.getLogger("rasa.core.actions.forms").debug("slots: name=Ana Lima")
            logging.getLogger("anything").warning("phone %s", "+44 20 7946 0958")
        assert "Ana Lima" not in caplog.text and "7946" not in caplog.text
        assert WITHHELD in caplog.text and "phone [number]" in caplog.text
    finally:
        logging.setLogRecordFactory(before)
        logs._installed = False


def test_secrets_in_query_strings_and_access_log_extras_are_withheld() -> None:
    assert redact("GET /status?token=abc123&x=1 200") == "GET /status?token=[withheld]&x=1 200"
    line = record("sanic.access", logging.INFO, "")
    line.request = "GET http://h/conversations/+15557772001/tracker?token=s3cret"
    logs.ScrubExtras().filter(line)
    assert line.request == "GET http://h/conversations/[number]/tracker?token=[withheld]"


def test_redaction_is_fast_on_a_long_message_and_cuts_it() -> None:
    import time

    for text in ("a" * 100_000, "a." * 50_000, "1 " * 50_000, "@" * 100_000, "x@" * 50_000):
        started = time.perf_counter()
        redacted = redact(text)
        assert time.perf_counter() - started < 0.5
        assert len(redacted) < 10_000
