"""`make run` retrains only when the configuration or training data changed, and migrates first.

Asked of make itself without running anything: -q (is it up to date?), -W (as if this file
had changed) and -n (print the commands).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]

pytestmark = pytest.mark.rasa


def make(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", "--no-print-directory", "-C", str(ROOT), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_trained_model_is_up_to_date_after_training() -> None:
    assert make("-q", "model").returncode == 0


@pytest.mark.parametrize(
    "changed", ["config.yml", "domain.yml", "data/nlu/conversation.yml", "data/rules/screening.yml"]
)
def test_a_change_to_config_or_training_data_retrains(changed) -> None:
    assert make("-q", "-W", changed, "model").returncode == 1


@pytest.mark.parametrize(
    "changed", ["actions/assessment.py", "README.md", "tests/test_stories.yml"]
)
def test_other_changes_do_not_retrain(changed) -> None:
    assert make("-q", "-W", changed, "model").returncode == 0


def test_make_run_migrates_then_starts_both_servers() -> None:
    commands = make("-n", "run").stdout.splitlines()
    upgrade = next(i for i, line in enumerate(commands) if "needlecheck db upgrade" in line)
    start = next(i for i, line in enumerate(commands) if "needlecheck run --model" in line)
    assert upgrade < start
    assert not any("rasa train" in line for line in commands)


def test_make_run_prod_creates_and_migrates_the_database_then_starts() -> None:
    commands = " ".join(make("-n", "run-prod").stdout.splitlines())
    create = commands.index("needlecheck db create")
    upgrade = commands.index("needlecheck db upgrade")
    start = commands.index("needlecheck run-prod --model")
    assert create < upgrade < start
    assert "postgresql://postgres@127.0.0.1:5432/needlecheck" in commands
