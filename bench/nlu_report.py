"""Turn `rasa test nlu --cross-validation` reports into docs/language.md's NLU table.

Usage: python bench/nlu_report.py <results dir> [page, default docs/language.md] [folds]
Rewrites the part of the page between the nlu-eval markers (`make nlu-cv`).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

START, END = "<!-- nlu-eval:start -->", "<!-- nlu-eval:end -->"
EXTRACTOR = "ScreeningFactExtractor"


def table(results: Path, folds: str) -> str:
    intents = json.loads((results / "intent_report.json").read_text())
    entities = json.loads((results / f"{EXTRACTOR}_report.json").read_text())
    lines = [
        f"{folds}-fold cross-validation over data/nlu (`make nlu-eval`), held-out folds only:",
        "",
        "| | accuracy | weighted F1 | macro F1 | support |",
        "| --- | --- | --- | --- | --- |",
        _row("intents (LogisticRegressionClassifier)", intents),
        _row(f"entities ({EXTRACTOR})", entities),
        "",
        "Support counts messages for intents and annotated tokens for entities; entity",
        "accuracy includes the tokens that are no entity. Weakest intents (F1): "
        + ", ".join(
            f"{name} {report['f1-score']:.2f}"
            for name, report in sorted(_labels(intents).items(), key=lambda kv: kv[1]["f1-score"])[
                :5
            ]
        )
        + ".",
    ]
    return "\n".join(lines)


def _labels(report: dict) -> dict:
    return {
        k: v
        for k, v in report.items()
        if isinstance(v, dict) and "support" in v and not k.endswith(" avg")
    }


def _row(name: str, report: dict) -> str:
    weighted, macro = report["weighted avg"], report["macro avg"]
    accuracy = report.get("accuracy", report.get("micro avg", {}).get("f1-score", 0.0))
    return f"| {name} | {accuracy:.3f} | {weighted['f1-score']:.3f} | {macro['f1-score']:.3f} | {weighted['support']} |"


def main() -> int:
    results = Path(sys.argv[1])
    page = Path(sys.argv[2]) if len(sys.argv) > 2 else Path("docs/language.md")
    folds = sys.argv[3] if len(sys.argv) > 3 else "5"
    text = page.read_text(encoding="utf-8")
    if START not in text or END not in text:
        print(f"{page}: no {START} ... {END} section", file=sys.stderr)
        return 1
    before, rest = text.split(START, 1)
    _, after = rest.split(END, 1)
    page.write_text(f"{before}{START}\n{table(results, folds)}\n{END}{after}", encoding="utf-8")
    print(table(results, folds))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
