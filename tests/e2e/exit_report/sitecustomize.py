"""Test only: on PYTHONPATH of the end-to-end assistant (tests/e2e/conftest.py), so that
each of its processes writes, as it exits, its command line and the names of every
module it imported, into the folder NEEDLECHECK_TEST_EXIT_REPORT names. The test that
stops the assistant reads them: the Rasa server must have run without TensorFlow."""

import atexit
import json
import os
import sys

_FOLDER = os.environ.get("NEEDLECHECK_TEST_EXIT_REPORT")


def _report() -> None:
    path = os.path.join(_FOLDER, f"{os.getpid()}.json")
    with open(path, "w", encoding="utf-8") as report:
        json.dump({"argv": sys.argv, "modules": sorted(sys.modules)}, report)


if _FOLDER:
    atexit.register(_report)
