"""Start-up checks: a bad configuration stops the assistant before anyone talks to it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

BIN = Path(sys.executable).with_name("needlecheck")


def run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, **env},
    )


def test_check_reports_policy_and_database(tmp_path) -> None:
    env = {"NEEDLECHECK_VAR_DIR": str(tmp_path), "DATABASE_URL": ""}
    assert run("db", "upgrade", env=env).returncode == 0
    done = run("check", env=env)
    assert done.returncode == 0, done.stderr
    assert "policy: needlecheck default policy (version 2026.11), 29 rules" in done.stdout
    from needlecheck.store.migrate import head_revision

    assert f"sqlite:///{tmp_path}/needlecheck.db at schema {head_revision()}" in done.stdout
    assert "messaging channels: none configured" in done.stdout
    assert "staff alerts: front desk\n" in done.stdout


def test_check_names_the_alerts_channels_and_refuses_a_webhook_without_its_secret(
    tmp_path,
) -> None:
    env = {"NEEDLECHECK_VAR_DIR": str(tmp_path), "DATABASE_URL": ""}
    assert run("db", "upgrade", env=env).returncode == 0
    hook = {"NEEDLECHECK_ALERT_WEBHOOK_URL": "https://tools.riverside.example/hook"}
    done = run("check", env={**env, **hook, "NEEDLECHECK_ALERT_WEBHOOK_SECRET": "x" * 32})
    assert done.returncode == 0, done.stderr
    assert "staff alerts: front desk, webhook" in done.stdout
    done = run("check", env={**env, **hook})
    assert done.returncode != 0
    assert "NEEDLECHECK_ALERT_WEBHOOK_SECRET" in done.stderr


def test_an_unmigrated_database_stops_start_up(tmp_path) -> None:
    done = run("check", env={"NEEDLECHECK_VAR_DIR": str(tmp_path), "DATABASE_URL": ""})
    assert done.returncode == 3
    assert "run 'needlecheck db upgrade'" in done.stderr


def test_a_bad_policy_stops_run_and_leaves_no_server_running(tmp_path) -> None:
    policy = tmp_path / "policy.yml"
    policy.write_text("name: x\nversion: 1\nrules:\n  DF-SURGERY: {params: {months: -6}}\n")
    env = {
        "NEEDLECHECK_VAR_DIR": str(tmp_path),
        "NEEDLECHECK_POLICY": str(policy),
        "NEEDLECHECK_RASA_PORT": "5191",
    }
    done = run("run", env=env)
    assert done.returncode == 3
    assert "parameter 'months' must be a whole number" in done.stderr
    assert "needlecheck is ready" not in done.stdout
    # The Rasa server starts during the checks; it must be gone with them.
    left = subprocess.run(["pgrep", "-f", "rasa_server run.*--port 5191"], check=False)
    assert left.returncode == 1


def test_an_unreachable_database_stops_start_up(tmp_path) -> None:
    env = {"DATABASE_URL": "postgresql://postgres@127.0.0.1:1/none?connect_timeout=2"}
    done = run("check", env=env)
    assert done.returncode == 3
    assert "database is not reachable" in done.stderr


def test_a_bad_port_setting_is_named(tmp_path) -> None:
    done = run("check", env={"NEEDLECHECK_RASA_PORT": "http"})
    assert done.returncode == 3
    assert "NEEDLECHECK_RASA_PORT='http' is not a TCP port number" in done.stderr


def test_a_bad_time_zone_stops_start_up_and_the_command_line(tmp_path) -> None:
    env = {"NEEDLECHECK_VAR_DIR": str(tmp_path), "NEEDLECHECK_TIMEZONE": "Europe/Atlantis"}
    done = run("check", env=env)
    assert done.returncode == 3
    assert "NEEDLECHECK_TIMEZONE='Europe/Atlantis' is not a time zone name" in done.stderr
    assessed = subprocess.run(
        [str(BIN), "assess"],
        input='{"age": 30}\n',
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        check=False,
    )
    assert assessed.returncode == 3 and assessed.stdout == ""


def test_the_action_server_alone_refuses_a_bad_setting(tmp_path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "needlecheck.action_server"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "NEEDLECHECK_VAR_DIR": str(tmp_path), "NEEDLECHECK_RASA_PORT": "x"},
    )
    assert done.returncode == 3
    assert "NEEDLECHECK_RASA_PORT='x' is not a TCP port number" in done.stderr


def test_a_half_configured_channel_stops_run_naming_what_is_missing(tmp_path) -> None:
    env = {
        "NEEDLECHECK_VAR_DIR": str(tmp_path),
        "DATABASE_URL": "",
        "NEEDLECHECK_RASA_PORT": "5192",
        "TWILIO_ACCOUNT_SID": "AC1",
    }
    assert run("db", "upgrade", env=env).returncode == 0
    done = run("run", env=env)
    assert done.returncode == 3
    assert "the twilio channel is half configured: set TWILIO_AUTH_TOKEN, TWILIO_NUMBER" in (
        done.stderr
    )
    assert "needlecheck is ready" not in done.stdout


def test_check_names_the_channels_that_are_on(tmp_path) -> None:
    env = {
        "NEEDLECHECK_VAR_DIR": str(tmp_path),
        "DATABASE_URL": "",
        "TELEGRAM_BOT_TOKEN": "1:a",
        "TELEGRAM_SECRET_TOKEN": "s",
    }
    assert run("db", "upgrade", env=env).returncode == 0
    done = run("check", env=env)
    assert "messaging channels: telegram" in done.stdout


def test_the_rasa_server_is_not_exposed_beyond_loopback_without_a_token(tmp_path) -> None:
    import pytest

    from needlecheck.config import Settings
    from needlecheck.startup import StartupError, rasa_server_command

    exposed = Settings.from_environment(
        {"NEEDLECHECK_VAR_DIR": str(tmp_path), "NEEDLECHECK_HOST": "0.0.0.0"}
    )
    with pytest.raises(StartupError, match="NEEDLECHECK_API_TOKEN"):
        rasa_server_command(exposed, "models")
    local = Settings.from_environment({"NEEDLECHECK_VAR_DIR": str(tmp_path)})
    assert "--interface" in rasa_server_command(local, "models")
    token = Settings.from_environment(
        {
            "NEEDLECHECK_VAR_DIR": str(tmp_path),
            "NEEDLECHECK_HOST": "0.0.0.0",
            "NEEDLECHECK_API_TOKEN": "t",
        }
    )
    command = rasa_server_command(token, "models")
    # The token reaches Rasa through the environment, never the command line.
    assert "t" not in command and "--auth-token" not in command


def test_make_run_gives_its_servers_an_api_token_even_on_loopback(tmp_path, monkeypatch) -> None:
    from needlecheck.config import Settings
    from needlecheck.startup import child_environment, ready_message

    monkeypatch.delenv("NEEDLECHECK_API_TOKEN", raising=False)
    settings = Settings.from_environment({"NEEDLECHECK_VAR_DIR": str(tmp_path)})
    assert settings.host == "127.0.0.1"
    env = child_environment(settings)
    assert env["NEEDLECHECK_API_TOKEN"] == (tmp_path / "api.token").read_text()
    assert child_environment(settings)["NEEDLECHECK_API_TOKEN"] == env["NEEDLECHECK_API_TOKEN"]
    assert f"?token=$(cat {tmp_path / 'api.token'})" in ready_message(settings)
    monkeypatch.setenv("NEEDLECHECK_API_TOKEN", "the-clinics-own")
    assert child_environment(settings)["NEEDLECHECK_API_TOKEN"] == "the-clinics-own"
    assert "?token=$NEEDLECHECK_API_TOKEN" in ready_message(settings)
