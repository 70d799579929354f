"""The `needlecheck` command, run as a real process."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

BIN = Path(sys.executable).with_name("needlecheck")


def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN), *args], input=stdin, capture_output=True, text=True, timeout=30, check=False
    )


def test_the_readme_example_prints_an_assessment_with_its_missing_facts() -> None:
    done = run("assess", "--today", "2026-11-24", stdin='{"age": 30}\n')
    assert done.returncode == 0, done.stderr
    (line,) = done.stdout.splitlines()
    out = json.loads(line)
    assert out["outcome"] is None
    assert "red_flags" in out["missing"] and "age" not in out["missing"]
    assert set(out) == {"outcome", "findings", "earliest_date", "missing", "policy"}


def test_lines_are_answered_in_order() -> None:
    lines = [
        {"red_flags": ["infection_signs"]},
        {"conditions": ["bleeding_disorder"]},
        {"isotretinoin": {"status": "past", "last_dose": "2026-06-20"}},
    ]
    done = run(
        "assess", "--today", "2026-11-24", stdin="".join(json.dumps(x) + "\n" for x in lines)
    )
    outcomes = [json.loads(line)["outcome"] for line in done.stdout.splitlines()]
    assert outcomes == ["urgent_care", "not_suitable", "defer"]
    assert json.loads(done.stdout.splitlines()[2])["findings"][0]["until"] == "2026-12-20"


def test_invalid_lines_are_reported_with_line_and_field_and_get_no_outcome() -> None:
    stdin = (
        '{"age": 30}\nnot json\n{"age": "thirty"}\n\n{"treatment_area": ["knee"]}\n{"age": 40}\n'
    )
    done = run("assess", "--today", "2026-11-24", stdin=stdin)
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        "line 2: not valid JSON (Expecting value at column 1)",
        "line 3: field 'age': expected a whole number, got a string",
        "line 5: field 'treatment_area[0]': 'knee' is not one of face, neck, chest, hands, body, scalp",
    ]
    # The valid lines are still assessed; invalid ones never yield an outcome.
    assert len(done.stdout.splitlines()) == 2


def test_a_malformed_today_is_a_usage_error() -> None:
    done = run("assess", "--today", "24/11/2026")
    assert done.returncode == 2
    assert "YYYY-MM-DD" in done.stderr


def test_a_bad_policy_file_stops_before_reading_input(tmp_path) -> None:
    policy = tmp_path / "p.yml"
    policy.write_text("name: x\nversion: 1\nrules:\n  EX-NOPE: {severity: note}\n")
    done = run("assess", "--policy", str(policy), stdin='{"age": 30}\n')
    assert done.returncode == 3
    assert "unknown rule ID 'EX-NOPE'" in done.stderr
    assert done.stdout == ""


def test_the_policy_file_applies_and_is_named_in_every_assessment() -> None:
    example = Path(__file__).parents[1] / "examples" / "clinic-policy.yml"
    done = run(
        "assess",
        "--today",
        "2026-11-24",
        "--policy",
        str(example),
        stdin='{"conditions": ["keloid_history"]}\n',
    )
    out = json.loads(done.stdout)
    assert out["outcome"] == "clinician_review"
    assert out["policy"] == {"name": "Riverside Skin Clinic", "version": "2026-11"}


def test_policy_command_lists_effective_rules() -> None:
    example = Path(__file__).parents[1] / "examples" / "clinic-policy.yml"
    done = run("policy", str(example))
    assert done.returncode == 0
    assert "Riverside Skin Clinic (version 2026-11): 29 rules" in done.stdout
    assert "EX-KELOID              review" in done.stdout
    assert "months=12" in done.stdout


def test_assess_answers_in_under_half_a_second_without_rasa_or_tensorflow() -> None:
    best = min(_timed_assess() for _ in range(3))
    assert best < 0.5, f"needlecheck assess took {best:.2f} s"
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            "import io, sys\n"
            "from datetime import date\n"
            "from needlecheck.cli import assess_stream\n"
            "from needlecheck.screening import default_policy\n"
            "assess_stream(io.StringIO('{\"age\": 30}'), io.StringIO(), sys.stderr,"
            " today=date(2026, 11, 24), policy=default_policy())\n"
            "heavy = [m for m in ('rasa', 'rasa_sdk', 'tensorflow', 'spacy', 'sqlalchemy')"
            " if m in sys.modules]\n"
            "print(','.join(heavy))\n",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert probe.stdout.strip() == ""


def _timed_assess() -> float:
    start = time.perf_counter()
    done = run("assess", "--today", "2026-11-24", stdin='{"age": 30}\n')
    assert done.returncode == 0
    return time.perf_counter() - start


@pytest.mark.parametrize("argv", [[], ["frobnicate"]])
def test_unknown_commands_are_usage_errors(argv) -> None:
    assert run(*argv).returncode == 2


def test_a_database_that_is_down_or_unknown_is_said_plainly(tmp_path, monkeypatch) -> None:
    import sqlite3

    from needlecheck import cli

    monkeypatch.setenv("NEEDLECHECK_VAR_DIR", str(tmp_path))
    # Nothing listens on port 1: the server is down.
    monkeypatch.setenv("DATABASE_URL", "postgresql://clinic:secret@127.0.0.1:1/needlecheck")
    assert cli.main(["db", "upgrade"]) == cli.EXIT_CONFIGURATION
    # A database at a revision this code does not know (written by a newer version).
    path = tmp_path / "newer.db"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE alembic_version (version_num VARCHAR(32))")
        connection.execute("INSERT INTO alembic_version VALUES ('9999')")
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{path}")
    assert cli.main(["db", "upgrade"]) == cli.EXIT_CONFIGURATION


def test_a_bug_in_the_database_command_keeps_its_traceback(monkeypatch) -> None:
    from needlecheck import cli
    from needlecheck.store import migrate

    def broken(url: str, revision: str = "head") -> None:
        raise KeyError("a bug, not a database problem")

    monkeypatch.setattr(migrate, "upgrade", broken)
    with pytest.raises(KeyError):
        cli.main(["db", "upgrade"])
