"""The clinic's details inside the assistant's texts: `{emergency_number}`, `{call_the_clinic}`,
`{retention_days}`.

Urgent advice names the emergency number where the clinic is, and every "call the
clinic" names its phone and opening hours when clinic.yml gives them. Rasa fills a
response's placeholders from slots and from the values an action sends with it; the
clinic's values are added to both, once, when the Rasa server starts (`clinic_values`, a
patch listed in `needlecheck.patches`), so a response uttered by a rule, by the form or
by an action reads the same. Texts that needlecheck renders itself (the widget's result
card, the server's own apology) use `render`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from needlecheck.clinic import Clinic
from needlecheck.config import Settings

# Rasa's placeholder syntax: `{name}`, with doubled braces left to Rasa's button payloads.
PLACEHOLDER = re.compile(r"(?<!\{)\{([a-z_]+)\}(?!\})")


def render(text: str, values: Mapping[str, Any]) -> str:
    """`text` with each `{name}` that `values` has replaced; other placeholders stay."""
    return PLACEHOLDER.sub(
        lambda m: str(values[m.group(1)]) if m.group(1) in values else m.group(0), text
    )


def response_values(
    clinic: Clinic | None = None, settings: Settings | None = None
) -> dict[str, str]:
    """The clinic's values (clinic.yml) and how long conversations are kept (the
    configured retention, NEEDLECHECK_RETENTION_DAYS, which the consent text promises)."""
    clinic = clinic or Clinic.load()
    settings = settings or Settings.from_environment()
    return {**clinic.response_variables(), "retention_days": str(settings.retention_days)}


def server_values() -> dict[str, Any]:
    """The values every response gets in this Rasa server (the clinic's, once installed)."""
    from rasa.core.nlg.response import TemplatedNaturalLanguageGenerator as TemplatedNLG

    return TemplatedNLG._response_variables({}, {})


def clinic_values(fill: Any, clinic: Clinic | None = None, settings: Settings | None = None) -> Any:
    """For TemplatedNaturalLanguageGenerator._response_variables (`fill`): every response
    the Rasa server fills also gets the clinic's values (slots and the action's own values
    win where they share a name)."""
    variables = response_values(clinic, settings)

    def _response_variables(
        filled_slots: dict[str, Any] | None, kwargs: dict[str, Any]
    ) -> dict[str, Any]:
        return {**variables, **fill(filled_slots, kwargs)}

    return _response_variables
