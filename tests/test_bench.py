"""bench/bench.py's floors (docs/performance.md): each judged on the run's own figures."""

from __future__ import annotations

from bench.bench import floors

OURS = {"ready_s": 6.1, "rss_mb": 587, "p50_ms": 7.7, "p95_ms": 27.8}
DEFAULT_BOT = {"ready_s": 32.5, "rss_mb": 1142, "p50_ms": 25.8, "p95_ms": 30.4}


def test_floors_met_at_their_limits(capsys) -> None:
    assert floors(OURS, DEFAULT_BOT) == {
        "start to ready": True,
        "resident memory of the three servers": True,
        "p50": True,
        "p95": True,
    }
    assert "MISSED" not in capsys.readouterr().out


def test_floors_missed_are_named(capsys) -> None:
    slower = {**OURS, "ready_s": 15.1, "p50_ms": 17.7, "p95_ms": 50.1, "rss_mb": 601}
    assert set(floors(slower, DEFAULT_BOT).values()) == {False}
    printed = capsys.readouterr().out
    assert "  p50 <= 0.3 x the default bot's: MISSED" in printed
    assert printed.count("MISSED") == 4
