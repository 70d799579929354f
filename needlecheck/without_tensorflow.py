"""The Rasa server's process without TensorFlow.

No component of needlecheck's pipeline or policy uses TensorFlow (config.yml), yet
starting Rasa's server imported it: 11 s and 570 MB of the server's start and memory
(docs/performance.md, "Without TensorFlow"). Three routes led to it, each closed here or
by a patch:

- thinc, which spaCy imports, imports TensorFlow when it is installed, to offer it as a
  backend; it catches the ImportError and works without it.
- `rasa.nlu.extractors.extractor` (imported by the form action, the policies and the
  featurizers) imports `rasa.utils.train_utils`, which imports two training helpers at
  its top: `rasa.utils.tensorflow.callback` (Keras callbacks) and
  `rasa.utils.tensorflow.data_generator` (Keras data generators). Only training uses
  them. In the server they are placeholders whose names fail when used (`TRAINING_ONLY`).
- the trained model's metadata names every component of its training graph, and
  reading it imported them all (DIET, TED, the response selector): the patch
  `unread_train_schema` (needlecheck.speedups) reads that graph only when it is asked for,
  which serving never does.

`install()` puts a finder first on `sys.meta_path` that refuses every `tensorflow`
package with ModuleNotFoundError, and gives the placeholders for `TRAINING_ONLY`. A
model whose pipeline needs TensorFlow (DIET, TED) then fails to load with an error that
names this module; `NEEDLECHECK_TENSORFLOW=on` starts the server with TensorFlow instead.

When Rasa is upgraded, `tests/test_without_tensorflow.py` imports what the server needs
with the finder installed, and the end-to-end suite reads the modules the running
server had imported when it stopped (tests/e2e/test_assistant.py): a new route to
TensorFlow fails them, naming the module that asked for it (docs/patches.md, "Upgrading
Rasa").
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import os
import sys
import types
from collections.abc import Mapping, Sequence
from typing import Any

# Imported only by training code; Rasa's server imports them without using them.
TRAINING_ONLY = ("rasa.utils.tensorflow.callback", "rasa.utils.tensorflow.data_generator")

SWITCH = "NEEDLECHECK_TENSORFLOW"


def wanted(environ: Mapping[str, str] | None = None) -> bool:
    """Whether the operator asked for TensorFlow in the server (`NEEDLECHECK_TENSORFLOW`);
    anything but on/off is refused, so that a typo does not silently keep it out."""
    env = os.environ if environ is None else environ
    value = env.get(SWITCH, "").strip().lower()
    if value in ("", "off", "0", "false", "no"):
        return False
    if value in ("on", "1", "true", "yes"):
        return True
    raise ValueError(f"{SWITCH} must be on or off, not {value!r}")


def refused(name: str) -> bool:
    top = name.partition(".")[0]
    return top == "tensorflow" or top.startswith("tensorflow_")


class _TrainingOnly(types.ModuleType):
    """A training helper's module in the server: any name in it is a class that fails
    when used, with the reason."""

    def __getattr__(self, attribute: str) -> Any:
        if attribute.startswith("__"):
            raise AttributeError(attribute)
        module = self.__name__

        def refuse(*_: Any, **__: Any) -> None:
            raise RuntimeError(
                f"{module}.{attribute} is for training with TensorFlow, which needlecheck's "
                f"Rasa server does not load (needlecheck/without_tensorflow.py)"
            )

        placeholder = type(attribute, (), {"__init__": refuse, "__module__": module})
        setattr(self, attribute, placeholder)
        return placeholder


class _Finder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(
        self, fullname: str, path: Sequence[str] | None = None, target: Any = None
    ) -> importlib.machinery.ModuleSpec | None:
        if refused(fullname):
            raise ModuleNotFoundError(
                f"{fullname} is kept out of needlecheck's Rasa server "
                f"(needlecheck/without_tensorflow.py); a pipeline that needs TensorFlow "
                f"runs with {SWITCH}=on",
                name=fullname,
            )
        if fullname in TRAINING_ONLY:
            return importlib.machinery.ModuleSpec(fullname, self)
        return None

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        return _TrainingOnly(spec.name)

    def exec_module(self, module: types.ModuleType) -> None:
        pass


def installed() -> bool:
    return any(isinstance(finder, _Finder) for finder in sys.meta_path)


def install() -> None:
    """Keep TensorFlow out of this process from now on. Must run before Rasa or spaCy is
    imported; refuses to run after TensorFlow was, because then it is too late."""
    if installed():
        return
    loaded = sorted(name for name in sys.modules if refused(name) or name in TRAINING_ONLY)
    if loaded:
        raise RuntimeError(f"already imported, too late to keep out: {', '.join(loaded[:3])}")
    sys.meta_path.insert(0, _Finder())
