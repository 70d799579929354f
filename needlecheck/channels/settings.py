"""Which messaging channels are on, from the environment; secrets never go to disk.

A channel is on when all of its variables are set and off when none are; some but not
all is a start-up error naming the missing ones. Each provider's API base URL can be
changed (tests point it at a local fake), so start-up never needs the network.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml

from needlecheck.config import Settings

# The connector classes, by the name of their Rasa webhook (/webhooks/<name>/webhook).
CONNECTORS = {
    "twilio": "needlecheck.channels.twilio.TwilioInput",
    "whatsapp": "needlecheck.channels.whatsapp.WhatsAppCloudInput",
    "facebook": "needlecheck.channels.meta.MessengerInput",
    "telegram": "needlecheck.channels.telegram.TelegramInput",
}

REQUIRED = {
    "twilio": ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_NUMBER"),
    "whatsapp": (
        "WHATSAPP_ACCESS_TOKEN",
        "WHATSAPP_PHONE_NUMBER_ID",
        "WHATSAPP_APP_SECRET",
        "WHATSAPP_VERIFY_TOKEN",
    ),
    "facebook": ("META_PAGE_ACCESS_TOKEN", "META_APP_SECRET", "META_VERIFY_TOKEN"),
    "telegram": ("TELEGRAM_BOT_TOKEN", "TELEGRAM_SECRET_TOKEN"),
}

API_BASES = {
    "twilio": ("TWILIO_API_BASE", "https://api.twilio.com"),
    "whatsapp": ("WHATSAPP_API_BASE", "https://graph.facebook.com"),
    "facebook": ("META_GRAPH_API_BASE", "https://graph.facebook.com"),
    "telegram": ("TELEGRAM_API_BASE", "https://api.telegram.org"),
}

GRAPH_API_VERSION = "v21.0"


class ChannelConfigError(ValueError):
    """A channel is half configured; the message names what is missing."""


@dataclass(frozen=True)
class ChannelSettings:
    name: str
    values: Mapping[str, str]
    api_base: str
    public_url: str
    clinic: str

    def __getitem__(self, key: str) -> str:
        return self.values[key]


def enabled_channels(environ: Mapping[str, str] | None = None) -> list[str]:
    """The names of the channels whose variables are all set, in a fixed order."""
    env = os.environ if environ is None else environ
    names = []
    for name, variables in REQUIRED.items():
        present = [v for v in variables if env.get(v)]
        if len(present) == len(variables):
            names.append(name)
        elif present:
            missing = ", ".join(v for v in variables if not env.get(v))
            raise ChannelConfigError(f"the {name} channel is half configured: set {missing}")
    return names


def channel_settings(name: str, environ: Mapping[str, str] | None = None) -> ChannelSettings:
    env = os.environ if environ is None else environ
    missing = [v for v in REQUIRED[name] if not env.get(v)]
    if missing:
        raise ChannelConfigError(f"the {name} channel needs {', '.join(missing)}")
    base_variable, default = API_BASES[name]
    return ChannelSettings(
        name=name,
        values={v: env[v] for v in REQUIRED[name]},
        api_base=(env.get(base_variable) or default).rstrip("/"),
        public_url=Settings.from_environment(env).chat_server_url,
        clinic=env.get("NEEDLECHECK_CLINIC_NAME") or "the clinic",
    )


REST_CONNECTOR = "needlecheck.channels.rest.RestInput"


def credentials(
    base: Mapping[str, object],
    environ: Mapping[str, str] | None = None,
    *,
    production: bool = False,
) -> dict:
    """Rasa's credentials: the file's channels plus one entry per channel that is on. In
    production the REST channel, which trusts the sender ID in its body, is on only
    behind NEEDLECHECK_REST_TOKEN."""
    env = os.environ if environ is None else environ
    merged = dict(base)
    if production and not env.get("NEEDLECHECK_REST_TOKEN"):
        merged.pop(REST_CONNECTOR, None)
    for name in enabled_channels(environ):
        # The connectors read their secrets from the environment, not from this file.
        merged[CONNECTORS[name]] = None
    return merged


def write_credentials(
    source: Path,
    target: Path,
    environ: Mapping[str, str] | None = None,
    *,
    production: bool = False,
) -> Path:
    base = yaml.safe_load(source.read_text()) or {}
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(
        "# Written by needlecheck at start-up from credentials.yml and the environment.\n"
        + yaml.safe_dump(credentials(base, environ, production=production), sort_keys=False)
    )
    return target
