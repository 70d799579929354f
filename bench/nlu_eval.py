"""`make nlu-eval`: the trained model on the held-out corpus (tests/language/).

Prints the tables, writes them into docs/language.md between its markers, lists every failure
to var/nlu-eval/failures.txt, and exits 1 when a figure is below its floor
(needlecheck.nlu.heldout.FLOORS).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sys
from pathlib import Path
from typing import Any

from needlecheck.nlu.heldout import CORPUS_TODAY, FLOORS, Report, evaluate

BEGIN = "<!-- held-out evaluation: begin -->"
END = "<!-- held-out evaluation: end -->"


def parser_for(model: str):
    """A synchronous parse function over the Rasa model (NLU only, no action server)."""
    from rasa.core.agent import Agent

    loop = asyncio.new_event_loop()
    agent = Agent.load(model)

    def parse(text: str) -> dict[str, Any]:
        return loop.run_until_complete(agent.parse_message(text))

    return parse


def write_page(page: Path, report: Report) -> None:
    text = page.read_text(encoding="utf-8")
    if BEGIN not in text or END not in text:
        return
    table = f"{BEGIN}\n{report.markdown()}\n{END}"
    page.write_text(
        re.sub(re.escape(BEGIN) + ".*?" + re.escape(END), lambda _: table, text, flags=re.S),
        encoding="utf-8",
    )


def main(argv: list[str] | None = None) -> int:
    args = argparse.ArgumentParser(description=__doc__)
    args.add_argument("--model", default="models/needlecheck.tar.gz")
    args.add_argument("--page", default=None, help="write the tables into this file")
    args.add_argument("--out", default="var/nlu-eval")
    options = args.parse_args(argv)
    # Relative dates ("two months ago") are read against the labels' date.
    os.environ["NEEDLECHECK_TODAY"] = CORPUS_TODAY.isoformat()
    report = evaluate(parser_for(options.model))
    out = Path(options.out)
    out.mkdir(parents=True, exist_ok=True)
    with (out / "failures.txt").open("w", encoding="utf-8") as failures:
        for result in report.failures():
            failures.write(f"{result.example.source}\t{result.example.text!r}\t{result.reason}\n")
        _, _, missed = report.safety()
        for result in missed:
            failures.write(
                f"SAFETY {result.example.source}\t{result.example.text!r}\t"
                f"missed {sorted(result.safety_expected - result.safety_found)}\n"
            )
    print(report.markdown())
    print(f"\nfailures: {out / 'failures.txt'}")
    if options.page:
        write_page(Path(options.page), report)
    problems = report.below_floors()
    if problems:
        print(f"\nBelow the floors {FLOORS}:", *problems, sep="\n  ", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
