"""bench/load/run.py's check after a load run: finished conversations against the stored
screenings (lost, doubled, wrong), and its bounds on a run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from bench.load import run


def database(tmp_path: Path, rows: list[tuple[str, str]]) -> str:
    url = f"sqlite:///{tmp_path / 'load.db'}"
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE screenings (conversation_id TEXT, outcome TEXT)"))
        for conversation, outcome in rows:
            connection.execute(
                text("INSERT INTO screenings VALUES (:c, :o)"), {"c": conversation, "o": outcome}
            )
    engine.dispose()
    return url


def ledger(tmp_path: Path, finished: list[tuple[str, str, int]]) -> Path:
    path = tmp_path / "run.ledger"
    path.write_text(
        "".join(json.dumps({"sender": s, "outcome": o, "stored": n}) + "\n" for s, o, n in finished)
    )
    return path


def test_lost_doubled_and_wrong_screenings_are_counted(tmp_path: Path) -> None:
    url = database(
        tmp_path,
        [
            ("load.ok", "eligible"),
            ("load.double", "defer"),
            ("load.double", "defer"),
            ("load.wrong", "eligible"),
            ("load.cut-off", "eligible"),  # not finished: not judged
        ],
    )
    finished = [
        ("load.ok", "eligible", 1),
        ("load.double", "defer", 1),
        ("load.wrong", "clinician_review", 1),
        ("load.lost", "eligible", 1),
        ("load.urgent", "urgent_care", 0),
    ]
    checked = run.check_screenings(url, ledger(tmp_path, finished))
    assert checked == {"conversations": 5, "doubled": 1, "wrong": 1, "lost": 1}


def test_nothing_finished_is_nothing_judged(tmp_path: Path) -> None:
    url = database(tmp_path, [])
    assert run.check_screenings(url, tmp_path / "missing.ledger") == {"conversations": 0}


@pytest.mark.parametrize(
    "args", [["--seconds", "4"], ["--seconds", "601"], ["--users", "0"], ["--users", "20,500"]]
)
def test_runs_are_bounded(args: list[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        run.main(args)
    assert stopped.value.code == 2


def test_a_run_with_errors_or_nothing_finished_fails() -> None:
    from bench.load.run import problems_in

    good = ("one", 20, {"failures": 0, "requests": 10}, {}, {"conversations": 3})
    assert problems_in([good]) == []
    refused = ("production", 20, {"failures": 10, "requests": 10}, {}, {"conversations": 0})
    assert problems_in([good, refused]) == [
        "production, 20 conversations: 10 of 10 messages failed",
        "production, 20 conversations: no conversation finished",
    ]
    lost = ("one", 50, {"failures": 0, "requests": 9}, {}, {"conversations": 2, "lost": 1})
    assert problems_in([lost]) == ["one, 50 conversations: 1 lost screening(s)"]
