"""Rasa's command line as needlecheck runs it: `python -m needlecheck.rasa_server run ...`.

Before Rasa's command line runs, every patch of Rasa is installed, in one order
(`needlecheck.patches`, docs/patches.md): the speed fixes (`needlecheck.speedups`), what
the server does when a store or an action server fails (`needlecheck.production.resilience`),
its guards (`needlecheck.security.rasa_guard`) and the clinic's values in every response
(`needlecheck.responses`); and logs lose personal data (`needlecheck.security.logs`).

One start-up cost is an accident of import order: when the model loads, importing
`skops.io` (for the logistic-regression classifier) scans every module already imported
for every type it trusts, and by then spaCy and medspaCy are loaded (and TensorFlow, when
it is let in: 15 s). Imported first, before Rasa, the same import takes 2-5 s.

TensorFlow is kept out of the process (`needlecheck.without_tensorflow`) unless
`NEEDLECHECK_TENSORFLOW=on`: no component of the pipeline uses it.
"""

from __future__ import annotations

import sys

from needlecheck import patches, without_tensorflow
from needlecheck.security import logs


def install() -> None:
    """What the Rasa server's process needs before Rasa's command line runs: every patch
    of Rasa (`needlecheck.patches`, in its order) and logs without personal data."""
    import skops.io  # noqa: F401 - see the module docstring: first, while few modules are loaded

    patches.install()
    logs.install()


def main(argv: list[str] | None = None) -> None:
    import os

    # Before Rasa is imported: a health product sends nothing to third parties, however
    # the server is started.
    os.environ["RASA_TELEMETRY_ENABLED"] = "false"
    try:
        if not without_tensorflow.wanted():
            without_tensorflow.install()
    except ValueError as error:
        sys.exit(f"needlecheck rasa server: {error}")
    from rasa.__main__ import main as rasa_main

    try:
        install()
    except patches.UnsupportedRasa as error:
        sys.exit(f"needlecheck rasa server: {error}")
    sys.argv = ["rasa", *(sys.argv[1:] if argv is None else argv)]
    rasa_main()


if __name__ == "__main__":
    main()
