"""The packages' import rules (docs/development.md, "The packages, and what may import what").

Every import of every module is read with `ast`, those inside functions included (a lazy
import is still an import), and held to the rules the page states. A new rule goes into
the page and into RULES together.
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]

RASA = ("rasa", "rasa_sdk")
SPACY = ("spacy", "medspacy")


@dataclass(frozen=True)
class Import:
    module: str  # the importing module, dotted ("needlecheck.store.privacy")
    name: str  # what it imports, dotted and absolute ("sqlalchemy.orm")
    line: int

    def __str__(self) -> str:
        return f"{self.module}:{self.line} imports {self.name}"


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_in(source: str, module: str, is_package: bool = False) -> list[Import]:
    """Every import in `source`, wherever it stands, with relative ones made absolute."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [Import(module, alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                # A package's own __init__ is its level-1 anchor; a module's is its parent.
                keep = len(base) - node.level + (1 if is_package else 0)
                prefix = ".".join(base[:keep])
                name = f"{prefix}.{node.module}" if node.module else prefix
            else:
                name = node.module or ""
            found.append(Import(module, name, node.lineno))
            # `from needlecheck import store` imports needlecheck.store.
            found += [
                Import(module, f"{name}.{alias.name}", node.lineno)
                for alias in node.names
                if alias.name != "*"
            ]
    return found


def source_files(*where: str) -> list[Path]:
    files = []
    for place in where:
        path = ROOT / place
        if path.suffix == ".py":
            files.append(path)
        else:
            files += sorted(path.rglob("*.py"))
    return files


def imports_of(*where: str) -> list[Import]:
    found = []
    for path in source_files(*where):
        found += imports_in(
            path.read_text(encoding="utf-8"), module_name(path), path.name == "__init__.py"
        )
    return found


def under(name: str, *prefixes: str) -> bool:
    """Whether `name` is one of `prefixes` or inside one of them."""
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def top(name: str) -> str:
    return name.split(".")[0]


def violations(found: list[Import], forbidden: tuple[str, ...]) -> list[str]:
    return [str(i) for i in found if under(i.name, *forbidden)]


# --- the rules -------------------------------------------------------------------------


def test_screening_imports_the_standard_library_pyyaml_and_itself_only() -> None:
    allowed = set(sys.stdlib_module_names) | {"yaml", "__future__"}
    found = imports_of("needlecheck/screening")
    assert not [
        str(i)
        for i in found
        if not (top(i.name) in allowed or under(i.name, "needlecheck.screening"))
    ]
    # What the page names, said outright (the allow-list above already excludes it).
    assert not violations(found, (*RASA, *SPACY, "sqlalchemy", "needlecheck.store"))


def test_store_imports_no_rasa_and_of_needlecheck_only_config_screening_and_itself() -> None:
    found = imports_of("needlecheck/store")
    assert not violations(found, (*RASA, *SPACY))
    assert not [
        str(i)
        for i in found
        if under(i.name, "needlecheck")
        and not under(i.name, "needlecheck.config", "needlecheck.screening", "needlecheck.store")
    ]


def test_nlu_imports_no_store_frontdesk_production_runtime_or_sqlalchemy() -> None:
    found = imports_of("needlecheck/nlu")
    assert not violations(
        found,
        (
            "needlecheck.store",
            "needlecheck.frontdesk",
            "needlecheck.production",
            "needlecheck.runtime",
            "sqlalchemy",
        ),
    )


def test_only_the_nlu_component_imports_rasa() -> None:
    found = imports_of("needlecheck/nlu")
    assert {i.module for i in found if under(i.name, *RASA)} == {"needlecheck.nlu.component"}


def test_the_front_desk_imports_no_rasa_nlu_or_production() -> None:
    found = imports_of("needlecheck/frontdesk")
    assert not violations(found, (*RASA, "needlecheck.nlu", "needlecheck.production"))


def test_actions_import_rasa_sdk_never_rasa() -> None:
    found = imports_of("actions")
    assert any(under(i.name, "rasa_sdk") for i in found)
    assert not violations(found, ("rasa",))
    assert not violations(
        found,
        (
            "needlecheck.frontdesk",
            "needlecheck.channels",
            "needlecheck.production",
            "needlecheck.security",
            "needlecheck.rasa_server",
        ),
    )


def test_nothing_in_needlecheck_imports_actions_bench_tools_or_tests() -> None:
    assert not violations(imports_of("needlecheck"), ("actions", "bench", "tools", "tests"))


def test_nlu_and_security_import_nothing_of_the_channels() -> None:
    assert not violations(
        imports_of("needlecheck/nlu", "needlecheck/security"), ("needlecheck.channels",)
    )


def test_text_imports_of_needlecheck_only_config() -> None:
    found = imports_of("needlecheck/text.py")
    assert not [
        str(i)
        for i in found
        if under(i.name, "needlecheck") and not under(i.name, "needlecheck.config")
    ]


def unit(name: str) -> str:
    """The package or top-level module of needlecheck a module belongs to."""
    return ".".join(name.split(".")[:2])


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """One cycle through each node that is on one, as the path that closes it."""
    found, done = [], set()

    def visit(node: str, path: list[str]) -> None:
        for after in sorted(edges.get(node, ())):
            if after in path:
                found.append([*path[path.index(after) :], after])
            elif after not in done:
                visit(after, [*path, after])
        done.add(node)

    for start in sorted(edges):
        if start not in done:
            visit(start, [start])
    return found


def test_no_package_or_module_of_needlecheck_imports_one_that_imports_it_back() -> None:
    edges: dict[str, set[str]] = {}
    for i in imports_of("needlecheck"):
        if under(i.name, "needlecheck") and unit(i.name) != unit(i.module) and "." in i.name:
            edges.setdefault(unit(i.module), set()).add(unit(i.name))
    assert not cycles(edges)


def test_a_cycle_is_found() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


@pytest.mark.parametrize(
    "leaf", ["needlecheck/config.py", "needlecheck/clinic.py", "needlecheck/transcript.py"]
)
def test_config_clinic_and_transcript_import_no_other_needlecheck_module(leaf: str) -> None:
    assert not violations(imports_of(leaf), ("needlecheck",))


# --- the reader itself ------------------------------------------------------------------


def test_the_reader_finds_every_kind_of_import() -> None:
    source = (
        "import os, rasa.core\n"
        "from sqlalchemy.orm import Session\n"
        "from needlecheck import store\n"
        "def later():\n"
        "    from rasa_sdk import Action\n"
        "    from . import facts\n"
        "    from .dates import add_months\n"
    )
    names = {i.name for i in imports_in(source, "needlecheck.screening.engine")}
    assert {
        "os",
        "rasa.core",
        "sqlalchemy.orm",
        "needlecheck.store",
        "rasa_sdk",
        "needlecheck.screening.facts",
        "needlecheck.screening.dates",
    } <= names
    # In a package's __init__, "." is the package itself.
    init = imports_in("from .engine import assess\n", "needlecheck.screening", is_package=True)
    assert "needlecheck.screening.engine" in {i.name for i in init}


def test_a_broken_rule_is_reported_with_its_place() -> None:
    found = imports_in("x = 1\n\ndef f():\n    import rasa\n", "needlecheck.screening.engine")
    assert violations(found, RASA) == ["needlecheck.screening.engine:4 imports rasa"]
    assert not violations(imports_in("import rasa_sdk_extra\n", "m"), ("rasa_sdk",))


def test_every_package_the_rules_name_is_read() -> None:
    for place in ("needlecheck/screening", "needlecheck/store", "needlecheck/nlu", "actions"):
        assert len(source_files(place)) >= 3, place
    # Alembic's scripts are the store's too.
    assert [p for p in source_files("needlecheck/store") if "versions" in p.parts]
