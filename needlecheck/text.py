"""A person's message as every part of needlecheck takes it in: text that is Unicode, no
longer than the configured length, in a request body no larger than the configured size;
and what needlecheck says on its own, outside the conversation (a message refused, the
messaging channels' help). No Rasa import: the channels, the front desk, the NLU
component and the Rasa server's guards all use it."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import yaml

from needlecheck.config import bounded_int

# The default longest message; NEEDLECHECK_MAX_MESSAGE_LENGTH changes it.
MAX_MESSAGE_LENGTH = 2000

# Next to the channels, whose help most of it is; clinics may reword any of it.
TEXTS_FILE = Path(__file__).parent / "channels" / "texts.yml"


def valid_text(text: str) -> str:
    """The text with what is not Unicode (lone surrogates, which JSON can carry) replaced
    by "?": spaCy, the encryption and every store need text that encodes as UTF-8."""
    return text.encode("utf-8", "replace").decode("utf-8")


def max_message_length(environ: Mapping[str, str] | None = None) -> int:
    """The longest message a person may send; a longer one gets a polite answer."""
    env = os.environ if environ is None else environ
    return bounded_int(
        env,
        "NEEDLECHECK_MAX_MESSAGE_LENGTH",
        MAX_MESSAGE_LENGTH,
        1,
        100_000,
        "a number of characters (1-100000)",
    )


DEFAULT_MAX_BODY_BYTES = 128 * 1024


def max_body_bytes(environ: Mapping[str, str] | None = None) -> int:
    """The largest request body the Rasa server and the front desk accept (413 above)."""
    env = os.environ if environ is None else environ
    return bounded_int(
        env,
        "NEEDLECHECK_MAX_BODY_BYTES",
        DEFAULT_MAX_BODY_BYTES,
        1024,
        100 * 1024 * 1024,
        "a number of bytes (1024 to 104857600)",
    )


def texts() -> dict[str, str]:
    """What needlecheck says on its own, by name (`needlecheck/channels/texts.yml`)."""
    return yaml.safe_load(TEXTS_FILE.read_text())


def polite(name: str) -> str:
    """The answer to a message that is refused: `too_long` or `too_fast`."""
    return texts()[name].strip()
