"""needlecheck.patches: every patch of Rasa listed once, applied in one order, for the Rasa
it was written for, and taken back whole."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from needlecheck import patches, rasa_server
from needlecheck.patches import PATCHES, Patch, UnsupportedRasa

DOCS = Path(__file__).parents[1] / "docs" / "patches.md"


def held(patch: Patch) -> object:
    """The attribute as its owner holds it (a static method as its staticmethod object)."""
    return vars(patch.owner()).get(patch.attribute)


def as_read(patch: Patch) -> object:
    """The attribute as code reads it (a class method as its function: each read binds anew)."""
    value = getattr(patch.owner(), patch.attribute)
    return getattr(value, "__func__", value) if inspect.ismethod(value) else value


def test_every_target_exists_in_the_installed_rasa() -> None:
    assert patches.check_rasa_version().startswith(f"{patches.RASA_SERIES}.")
    for patch in PATCHES:
        assert patch.module.split(".")[0] == "rasa", patch.name
        # Held by the class or module itself: a patch of an inherited name would shadow it.
        assert patch.attribute in vars(patch.owner()), patch.target


def test_names_are_unique_and_targets_shared_only_by_design() -> None:
    names = [patch.name for patch in PATCHES]
    assert len(names) == len(set(names))
    targets = [patch.target for patch in PATCHES]
    shared = {target for target in targets if targets.count(target) > 1}
    # unavailable_reply, then message_limits around it (docs/patches.md).
    assert shared == {"rasa.core.agent:Agent.handle_message"}


def test_install_then_undo_leaves_every_attribute_as_it_was() -> None:
    before = {patch.name: (held(patch), as_read(patch)) for patch in PATCHES}
    patches.install()
    assert patches.installed()
    for patch in PATCHES:
        original, replacement = before[patch.name][1], as_read(patch)
        assert held(patch) is not before[patch.name][0], patch.name
        # A replacement is what it replaces: static stays static, a coroutine one.
        assert type(held(patch)) is type(before[patch.name][0]) or not callable(original)
        assert inspect.iscoroutinefunction(replacement) == inspect.iscoroutinefunction(original), (
            patch.name
        )
    patches.undo()
    assert not patches.installed()
    for patch in PATCHES:
        assert held(patch) is before[patch.name][0], patch.name
        assert as_read(patch) is before[patch.name][1], patch.name


def test_installing_twice_wraps_nothing_twice() -> None:
    patches.install()
    once = {patch.name: held(patch) for patch in PATCHES}
    patches.install()
    assert all(held(patch) is once[patch.name] for patch in PATCHES)


def test_the_layers_of_handle_message() -> None:
    from rasa.core.agent import Agent

    stock = Agent.handle_message
    patches.install()
    # message_limits (the outer one) was given unavailable_reply's, which was given Rasa's.
    outer = Agent.handle_message
    assert outer.__qualname__.startswith("message_limits.")
    inner = inspect.getclosurevars(outer).nonlocals["handle"]
    assert inner.__qualname__.startswith("unavailable_reply.")
    assert inspect.getclosurevars(inner).nonlocals["handle"] is stock


def test_another_rasa_stops_start_up_naming_its_version(monkeypatch) -> None:
    before = {patch.name: held(patch) for patch in PATCHES}
    monkeypatch.setattr(patches, "installed_rasa_version", lambda: "3.7.2")
    with pytest.raises(UnsupportedRasa, match=r"Rasa 3\.7\.2 is installed.*Rasa 3\.6\.x"):
        patches.install()
    assert not patches.installed()
    assert all(held(patch) is before[patch.name] for patch in PATCHES)
    # The Rasa server's start-up says it, without a traceback.
    monkeypatch.setenv("RASA_TELEMETRY_ENABLED", "false")
    # This process has imported TensorFlow already: too late to keep it out.
    monkeypatch.setenv("NEEDLECHECK_TENSORFLOW", "on")
    with pytest.raises(SystemExit) as stopped:
        rasa_server.main(["--version"])
    assert "Rasa 3.7.2 is installed" in str(stopped.value.code)
    assert not patches.installed()


@pytest.mark.parametrize("version", ["3.6.0", "3.6.21", "3.6.22rc1"])
def test_every_3_6_release_is_accepted(version: str) -> None:
    assert patches.check_rasa_version(version) == version


@pytest.mark.parametrize("version", ["3.5.17", "3.7.0", "3.60.1", "4.0.0"])
def test_other_releases_are_refused(version: str) -> None:
    with pytest.raises(UnsupportedRasa, match=re.escape(f"Rasa {version} is installed")):
        patches.check_rasa_version(version)


def test_a_patch_that_fails_leaves_none_installed(monkeypatch) -> None:
    before = {patch.name: held(patch) for patch in PATCHES}

    def broken(_: object) -> object:
        raise RuntimeError("this factory fails")

    failing = Patch("broken", "rasa.core.run:serve_application", broken, "a test")
    monkeypatch.setattr(patches, "PATCHES", (*PATCHES, failing))
    with pytest.raises(RuntimeError, match="this factory fails"):
        patches.install()
    assert not patches.installed()
    assert all(held(patch) is before[patch.name] for patch in PATCHES)


def test_structured_logs_lose_their_content_in_the_rasa_server() -> None:
    import rasa.utils.log_utils as log_utils

    from needlecheck.security.logs import withhold_structured_content

    patches.install()
    assert log_utils._anonymizer is withhold_structured_content


def test_docs_list_every_patch_in_the_order_it_is_installed() -> None:
    table = [
        line.split("|")
        for line in DOCS.read_text(encoding="utf-8").splitlines()
        if re.match(r"\|\s*\d+\s*\|", line)
    ]
    assert [int(row[1]) for row in table] == list(range(1, len(PATCHES) + 1))
    assert [row[2].strip().strip("`") for row in table] == [p.name for p in PATCHES]
    assert [row[3].strip().strip("`") for row in table] == [p.target for p in PATCHES]
