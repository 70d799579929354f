"""needlecheck.without_tensorflow: the Rasa server's process imports no TensorFlow, and a
pipeline that needs it fails to load with the reason. That the running server, after
the end-to-end conversations, imported none is checked by
tests/e2e/test_assistant.py::test_ctrl_c_stops_all_three_servers."""

from __future__ import annotations

import subprocess
import sys
import types
from pathlib import Path

import pytest

from needlecheck import without_tensorflow

ROOT = Path(__file__).parents[1]


def in_fresh_python(code: str) -> subprocess.CompletedProcess[str]:
    """Run `code` in a new interpreter with the finder installed first (this one has
    imported TensorFlow through Rasa's test helpers)."""
    prelude = "from needlecheck import without_tensorflow\nwithout_tensorflow.install()\n"
    return subprocess.run(
        [sys.executable, "-c", prelude + code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={"RASA_TELEMETRY_ENABLED": "false", "PATH": "/usr/bin:/bin"},
    )


def test_tensorflow_is_refused_with_the_reason_and_the_switch() -> None:
    done = in_fresh_python(
        "try:\n"
        "    import tensorflow\n"
        "except ModuleNotFoundError as error:\n"
        "    print(error.name, '|', error)\n"
        "import tensorflow_hub\n"
    )
    assert done.returncode == 1
    name, _, message = done.stdout.partition(" | ")
    assert name == "tensorflow"
    assert "NEEDLECHECK_TENSORFLOW=on" in message
    assert "ModuleNotFoundError: tensorflow_hub is kept out" in done.stderr


def test_spacy_and_rasa_serving_load_without_it() -> None:
    done = in_fresh_python(
        "import sys, spacy, thinc.compat\n"
        "from needlecheck import patches\n"
        "patches.install()\n"
        "from rasa.core.agent import Agent\n"
        "from rasa.core.policies.rule_policy import RulePolicy\n"
        "from rasa.nlu.classifiers.logistic_regression_classifier import "
        "LogisticRegressionClassifier\n"
        "import rasa.utils.train_utils\n"
        "print(thinc.compat.has_tensorflow)\n"
        "print(sorted(m for m in sys.modules if m.partition('.')[0].startswith('tensorflow')))\n"
        "print([type(sys.modules[m]).__name__ for m in without_tensorflow.TRAINING_ONLY])\n"
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.splitlines() == ["False", "[]", "['_TrainingOnly', '_TrainingOnly']"]


def test_training_helpers_are_placeholders_that_say_why() -> None:
    done = in_fresh_python(
        "from rasa.utils.tensorflow.callback import RasaTrainingLogger\n"
        "RasaTrainingLogger(10, None)\n"
    )
    assert done.returncode == 1
    assert (
        "RuntimeError: rasa.utils.tensorflow.callback.RasaTrainingLogger is for training "
        "with TensorFlow, which needlecheck's Rasa server does not load"
    ) in done.stderr


def test_a_model_that_needs_tensorflow_fails_to_load_naming_it(tmp_path: Path) -> None:
    """DIET in the graph the model serves: the component cannot be found, and why."""
    done = in_fresh_python(
        "from needlecheck import patches\n"
        "patches.install()\n"
        "from rasa.engine.graph import GraphSchema\n"
        "GraphSchema.from_dict({'nodes': {'diet': {\n"
        "    'needs': {}, 'uses': 'rasa.nlu.classifiers.diet_classifier.DIETClassifier',\n"
        "    'constructor_name': 'load', 'fn': 'process', 'config': {}, 'eager': True,\n"
        "    'is_target': False, 'is_input': False, 'resource': None}}})\n"
    )
    assert done.returncode == 1
    assert "Can't find class for graph component type" in done.stderr
    assert "tensorflow is kept out of needlecheck's Rasa server" in done.stderr


def test_the_served_model_never_reads_its_training_graph() -> None:
    """The model `make model` trains, loaded as the server loads it: its training graph
    names DIET's relatives (the recipe's validators), and is read only when asked."""
    model = ROOT / "models" / "needlecheck.tar.gz"
    if not model.exists():
        pytest.fail(f"{model} is missing: run `make model` first")
    done = in_fresh_python(
        "import asyncio, sys\n"
        "from needlecheck import patches\n"
        "patches.install()\n"
        "from rasa.core.agent import load_agent\n"
        f"agent = asyncio.run(load_agent(model_path={str(model)!r}))\n"
        "meta = agent.processor.model_metadata\n"
        "print(type(meta.train_schema).__name__, len(meta.predict_schema.nodes))\n"
        "print(sorted(m for m in sys.modules if m.partition('.')[0] == 'tensorflow'))\n"
        "try:\n"
        "    meta.train_schema.nodes\n"
        "except Exception as error:\n"
        "    print(type(error).__name__)\n"
    )
    assert done.returncode == 0, done.stderr[-2000:]
    kind, nodes = done.stdout.splitlines()[0].split()
    assert kind == "UnreadSchema" and int(nodes) > 5
    assert done.stdout.splitlines()[1:] == ["[]", "GraphSchemaException"]


@pytest.mark.parametrize(
    ("value", "wanted"),
    [("", False), ("off", False), ("0", False), ("on", True), ("ON", True), ("yes", True)],
)
def test_the_switch(value: str, wanted: bool) -> None:
    assert without_tensorflow.wanted({"NEEDLECHECK_TENSORFLOW": value}) is wanted
    assert without_tensorflow.wanted({}) is False


def test_a_typo_in_the_switch_is_refused() -> None:
    with pytest.raises(ValueError, match="NEEDLECHECK_TENSORFLOW must be on or off, not 'onn'"):
        without_tensorflow.wanted({"NEEDLECHECK_TENSORFLOW": "onn"})


def test_too_late_once_tensorflow_is_imported(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "tensorflow", types.ModuleType("tensorflow"))
    with pytest.raises(RuntimeError, match=r"too late to keep out: (.*, )?tensorflow(,|$)"):
        without_tensorflow.install()
    assert not without_tensorflow.installed()


def test_the_server_stops_at_a_typo_in_the_switch(monkeypatch) -> None:
    from needlecheck import rasa_server

    monkeypatch.setenv("NEEDLECHECK_TENSORFLOW", "of")
    with pytest.raises(SystemExit) as stopped:
        rasa_server.main(["--version"])
    assert stopped.value.code == (
        "needlecheck rasa server: NEEDLECHECK_TENSORFLOW must be on or off, not 'of'"
    )
    assert not without_tensorflow.installed()
