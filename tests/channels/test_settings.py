from __future__ import annotations

import pytest
import yaml

from needlecheck.channels.settings import (
    ChannelConfigError,
    channel_settings,
    credentials,
    enabled_channels,
    write_credentials,
)
from tests.e2e.providers import channel_environment


def test_no_variables_no_channels() -> None:
    assert enabled_channels({}) == []


def test_every_channel_is_on_when_its_variables_are_set() -> None:
    env = channel_environment("http://127.0.0.1:1", "http://127.0.0.1:5005")
    assert enabled_channels(env) == ["twilio", "whatsapp", "facebook", "telegram"]


def test_a_half_configured_channel_is_an_error_naming_what_is_missing() -> None:
    with pytest.raises(ChannelConfigError, match=r"twilio .* TWILIO_AUTH_TOKEN, TWILIO_NUMBER"):
        enabled_channels({"TWILIO_ACCOUNT_SID": "AC1"})


def test_api_base_and_public_url_default_to_the_providers_and_localhost() -> None:
    settings = channel_settings(
        "telegram", {"TELEGRAM_BOT_TOKEN": "1:a", "TELEGRAM_SECRET_TOKEN": "s"}
    )
    assert settings.api_base == "https://api.telegram.org"
    assert settings.public_url == "http://localhost:5005"
    moved = channel_settings(
        "telegram",
        {
            "TELEGRAM_BOT_TOKEN": "1:a",
            "TELEGRAM_SECRET_TOKEN": "s",
            "TELEGRAM_API_BASE": "http://x/",
        },
    )
    assert moved.api_base == "http://x"


def test_credentials_name_the_connectors_and_hold_no_secret(tmp_path) -> None:
    env = channel_environment("http://127.0.0.1:1", "http://127.0.0.1:5005")
    merged = credentials({"rest": None}, env)
    assert list(merged) == [
        "rest",
        "needlecheck.channels.twilio.TwilioInput",
        "needlecheck.channels.whatsapp.WhatsAppCloudInput",
        "needlecheck.channels.meta.MessengerInput",
        "needlecheck.channels.telegram.TelegramInput",
    ]
    source = tmp_path / "credentials.yml"
    source.write_text("rest:\n")
    written = write_credentials(source, tmp_path / "var" / "credentials.yml", env).read_text()
    assert yaml.safe_load(written)["needlecheck.channels.twilio.TwilioInput"] is None
    for secret in ("twilio-auth-token", "meta-app-secret", "telegram-secret-token"):
        assert secret not in written


def test_production_serves_the_rest_channel_only_behind_its_token() -> None:
    base = {
        "needlecheck.channels.rest.RestInput": None,
        "needlecheck.channels.web.WebChatInput": {},
    }
    assert list(credentials(base, {})) == list(base)
    assert list(credentials(base, {}, production=True)) == ["needlecheck.channels.web.WebChatInput"]
    with_token = credentials(base, {"NEEDLECHECK_REST_TOKEN": "t"}, production=True)
    assert list(with_token) == list(base)


def test_the_project_credentials_use_needlechecks_rest_channel() -> None:
    from pathlib import Path

    shipped = yaml.safe_load((Path(__file__).parents[2] / "credentials.yml").read_text())
    assert "rest" not in shipped and "needlecheck.channels.rest.RestInput" in shipped
