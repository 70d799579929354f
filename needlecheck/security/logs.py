"""Logs without personal data, at every level, in every needlecheck process.

What a person types, their slots and their contact details must never reach a log.
needlecheck's own code logs none of them; Rasa and rasa-sdk do at DEBUG ("Received user
message ...", slot values, whole trackers), and a messaging channel's sender ID is the
person's phone number, which Rasa names in many lines. So every log record is rewritten
as it is made (a record factory sees every logger, whatever handlers Rasa sets up later):

- Rasa's structured log lines lose the values of the keys Rasa itself marks as
  conversation content (`text`, `slot_values`, `parse_data_entities`, ...), in the Rasa
  server, where `needlecheck.patches` replaces Rasa's anonymiser;
- DEBUG lines of Rasa, rasa-sdk and their web servers are withheld, except the few
  kinds that name only actions and intents (kept for debugging dialogue);
- in every line, email addresses, phone numbers and dates are replaced by a marker,
  and so are tracebacks.
"""

from __future__ import annotations

import logging
import re
import traceback
from typing import Any

WITHHELD = "[withheld: conversation content]"
# Loggers whose DEBUG lines echo conversations.
CONTENT_LOGGERS = ("rasa", "rasa_sdk", "sanic", "socketio", "engineio", "aiogram", "pika")
# DEBUG lines of those loggers that name only actions, intents and policies; not the
# conversation ID, which for the widget is the key to its conversation.
SAFE_DEBUG = re.compile(
    r"^(Predicted next action '[\w.-]+' with confidence|Policy prediction ended with events \[\]"
    r"|Action '[\w.-]+' ended with events|Made prediction using user intent"
    r"|Loading|Loaded|Finished|Registered function)"
)
# Bounded repeats: an unbounded local part backtracks quadratically over a long message
# with no "@" in it (100 kB froze the server for minutes).
_EMAIL = re.compile(r"[\w.+-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63}){0,8}")
# A log line longer than this is cut: no line needs a whole pasted document.
LONGEST_LINE = 4000
# Seven or more digits, with the spaces, dots, dashes and brackets people write them with.
_PHONE = re.compile(r"(?<![\w.(])[+(]?\d(?:[\s().-]{0,2}\d){6,}(?![\w])")
_DATE = re.compile(
    r"\b(?:\d{4}-\d{1,2}-\d{1,2}|\d{1,2}[/.-]\d{1,2}[/.-]\d{4}|\d{1,2}/\d{1,2}/\d{2})\b"
)
# Rasa's HTTP API takes its token in the query string, which Sanic's access log writes.
_SECRET_PARAMETER = re.compile(r"\b(token|secret|password|key)=[^&\s\"']+", re.IGNORECASE)
_IPV4 = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}")


def _number(match: re.Match[str]) -> str:
    # An IPv4 address is seven digits and dots too; it names a machine, not a person.
    return match.group(0) if _IPV4.fullmatch(match.group(0)) else "[number]"


def redact(text: str) -> str:
    """Secrets in query strings, email addresses, phone numbers and dates replaced by
    markers."""
    if len(text) > LONGEST_LINE:
        text = text[:LONGEST_LINE] + f" [... {len(text) - LONGEST_LINE} characters cut]"
    text = _SECRET_PARAMETER.sub(r"\1=[withheld]", text)
    text = _EMAIL.sub("[email]", text)
    text = _DATE.sub("[date]", text)
    return _PHONE.sub(_number, text)


def _withheld(name: str, level: int, message: str) -> bool:
    if level > logging.DEBUG:
        return False
    if not any(name == prefix or name.startswith(prefix + ".") for prefix in CONTENT_LOGGERS):
        return False
    return not SAFE_DEBUG.match(message)


def scrub(record: logging.LogRecord) -> logging.LogRecord:
    """The record as it may be written: content withheld, personal data redacted."""
    try:
        message = record.getMessage()
    except Exception:  # a malformed call must not take the data in its arguments along
        message = str(record.msg)
    if _withheld(record.name, record.levelno, message):
        message = WITHHELD
    record.msg, record.args = redact(message), ()
    if record.exc_info and not record.exc_text:
        record.exc_text = redact("".join(traceback.format_exception(*record.exc_info)).rstrip())
    elif record.exc_text:
        record.exc_text = redact(record.exc_text)
    if record.stack_info:
        record.stack_info = redact(record.stack_info)
    return record


def withhold_structured_content(_: Any, __: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """In place of Rasa's structlog anonymiser (`rasa.utils.log_utils._anonymizer`, a patch
    listed in `needlecheck.patches`): every key Rasa marks as conversation content loses
    its value."""
    for key in RASA_CONTENT_KEYS:
        if key in event_dict:
            event_dict[key] = WITHHELD
    return event_dict


# The keys Rasa 3.6's own anonymiser (rasa.utils.log_utils._anonymizer) would rewrite.
RASA_CONTENT_KEYS = (
    "text",
    "response_text",
    "user_text",
    "slot_values",
    "parse_data_text",
    "parse_data_entities",
    "prediction_events",
    "tracker_latest_message",
    "prefilled_slots",
    "message",
    "response",
    "slot_candidates",
    "rasa_event",
    "rasa_events",
    "tracker_states",
    "current_states",
    "old_states",
    "successes",
    "current_entity",
    "next_entity",
    "states",
    "entity",
    "token_text",
    "user_message",
    "json_message",
)


class ScrubExtras(logging.Filter):
    """Sanic's access log passes the request line as an extra field, which is set on the
    record after the record factory ran: scrubbed here, on the logger."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name in ("request", "host"):
            value = getattr(record, name, None)
            if isinstance(value, str):
                setattr(record, name, redact(value))
        return True


_installed = False


def install() -> None:
    """Scrub every log record this process makes (the Rasa server, the action server and
    the front desk each call this); idempotent. Rasa's structured lines are the Rasa
    server's patch (`withhold_structured_content`)."""
    global _installed
    if _installed:
        return
    make = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        return scrub(make(*args, **kwargs))

    logging.setLogRecordFactory(factory)
    for name in ("sanic.access", "uvicorn.access"):
        logging.getLogger(name).addFilter(ScrubExtras())
    _installed = True
