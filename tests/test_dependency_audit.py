"""`make audit`'s reading of pip-audit's report (tools/dependency_audit.py)."""

from __future__ import annotations

import json
from pathlib import Path

from tools.dependency_audit import Finding, listed_ids, main, parse, unlisted

ROOT = Path(__file__).parents[1]


def report(*dependencies: dict) -> dict:
    return {"dependencies": list(dependencies), "fixes": []}


def test_an_unreachable_service_is_skipped_with_a_notice(tmp_path, capsys) -> None:
    path = tmp_path / "report.json"
    path.write_text(
        json.dumps(report({"name": "aiohttp", "skip_reason": "Dependency not found on PyPI"}))
    )
    assert main([str(path), str(tmp_path / "log")]) == 0
    assert "NOTICE: skipped" in capsys.readouterr().out
    assert main([str(tmp_path / "absent.json"), str(tmp_path / "absent.log")]) == 0
    assert "pip-audit could not run" in capsys.readouterr().out


def test_a_vulnerability_not_in_security_md_fails_the_run(tmp_path, capsys) -> None:
    listed = sorted(listed_ids((ROOT / "SECURITY.md").read_text()))
    path = tmp_path / "report.json"
    path.write_text(
        json.dumps(
            report(
                {"name": "ok", "version": "1", "vulns": []},
                {
                    "name": "known",
                    "version": "1",
                    "vulns": [
                        {"id": "PYSEC-0000-1", "aliases": [listed[0]], "fix_versions": ["2"]}
                    ],
                },
                {
                    "name": "new",
                    "version": "1",
                    "vulns": [{"id": "GHSA-2222-3333-4444", "aliases": [], "fix_versions": []}],
                },
            )
        )
    )
    assert main([str(path), str(tmp_path / "log")]) == 1
    out = capsys.readouterr().out
    assert "3 packages audited" in out and "1 not in SECURITY.md" in out
    assert "new 1: GHSA-2222-3333-4444 (fixed in no fix)" in out


def test_security_md_lists_ids_in_its_known_vulnerabilities_section() -> None:
    text = (ROOT / "SECURITY.md").read_text()
    ids = listed_ids(text)
    assert "CVE-2024-3772" in ids and len(ids) >= 5
    assert listed_ids(
        "CVE-2024-0001\n## Known vulnerabilities\nCVE-2024-0002\n## Next\nCVE-2024-0003"
    ) == {"CVE-2024-0002"}


def test_parse_and_unlisted() -> None:
    parsed = parse(report({"name": "a", "version": "1", "vulns": [{"id": "CVE-2024-0001"}]}))
    assert parsed.service_reachable and parsed.audited == 1
    assert unlisted(parsed, {"CVE-2024-0001"}) == []
    assert unlisted(parsed, set()) == [Finding("a", "1", ("CVE-2024-0001",), ())]
