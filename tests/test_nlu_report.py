"""bench/nlu_report.py rewrites only the NLU section of its page (docs/language.md)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[1]


def report(weighted: float) -> dict:
    label = {"precision": 1.0, "recall": 1.0, "f1-score": weighted, "support": 4}
    return {"greet": label, "weighted avg": label, "macro avg": label, "accuracy": 0.9}


def test_the_table_replaces_the_marked_section(tmp_path: Path) -> None:
    (tmp_path / "intent_report.json").write_text(json.dumps(report(0.8)))
    (tmp_path / "ScreeningFactExtractor_report.json").write_text(json.dumps(report(0.95)))
    page = tmp_path / "language.md"
    page.write_text("# x\n<!-- nlu-eval:start -->\nSTALE TABLE\n<!-- nlu-eval:end -->\nkept\n")
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "nlu_report.py"), str(tmp_path), str(page), "3"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    text = page.read_text()
    assert "STALE TABLE" not in text and text.endswith("kept\n")
    assert "3-fold cross-validation" in text
    assert "| intents (LogisticRegressionClassifier) | 0.900 | 0.800 | 0.800 | 4 |" in text
    assert "greet 0.80" in text
