"""`make audit` (run by `make test`): what pip-audit found in the locked dependencies.

pip-audit does not resolve beside Rasa's pins, so the Makefile runs it in a throwaway
environment of its own (`uv tool run`) over the requirements exported from uv.lock, and
this reads its JSON report. Its vulnerability
service (PyPI's JSON API) may be out of reach, as it is on machines that reach only the
package index: then the audit is skipped with a notice, never passed in silence.

Every vulnerability found must be listed in SECURITY.md ("Known vulnerabilities"), with
why it does or does not reach needlecheck; one that is not fails the run.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).parents[1]
# A vulnerability ID as SECURITY.md's table writes it: GHSA-..., PYSEC-..., CVE-...
_ID = re.compile(r"\b(GHSA(?:-[23456789cfghjmpqrvwx]{4}){3}|PYSEC-\d{4}-\d+|CVE-\d{4}-\d{4,})\b")


@dataclass(frozen=True)
class Finding:
    package: str
    version: str
    ids: tuple[str, ...]
    fixed_in: tuple[str, ...]


@dataclass(frozen=True)
class Report:
    audited: int
    unreachable: int
    findings: tuple[Finding, ...]

    @property
    def service_reachable(self) -> bool:
        return self.audited > 0


def parse(report: dict) -> Report:
    audited = unreachable = 0
    findings = []
    for dependency in report.get("dependencies", []):
        if "skip_reason" in dependency:
            unreachable += 1
            continue
        audited += 1
        for vuln in dependency.get("vulns", []):
            findings.append(
                Finding(
                    dependency["name"],
                    dependency.get("version", "?"),
                    tuple([vuln["id"], *vuln.get("aliases", [])]),
                    tuple(vuln.get("fix_versions", [])),
                )
            )
    return Report(audited, unreachable, tuple(findings))


def listed_ids(security_md: str) -> set[str]:
    """The IDs in SECURITY.md's "Known vulnerabilities" section."""
    _, _, section = security_md.partition("## Known vulnerabilities")
    section = section.split("\n## ", 1)[0]
    return set(_ID.findall(section))


def unlisted(report: Report, listed: set[str]) -> list[Finding]:
    return [finding for finding in report.findings if not set(finding.ids) & listed]


def main(argv: list[str]) -> int:
    """argv: the JSON report pip-audit wrote (absent when it could not run) and its log."""
    output, log = Path(argv[0]), Path(argv[1])
    if not output.exists():
        lines = log.read_text().strip().splitlines() if log.exists() else []
        print(
            f"audit: NOTICE: skipped, pip-audit could not run here ({(lines or ['no output'])[-1]})"
        )
        return 0
    report = parse(json.loads(output.read_text()))
    if not report.service_reachable:
        print(
            f"audit: NOTICE: skipped, the vulnerability service answered for none of the "
            f"{report.unreachable} locked packages (it is out of reach from this machine); "
            "SECURITY.md lists the known vulnerabilities by hand"
        )
        return 0
    listed = listed_ids((ROOT / "SECURITY.md").read_text())
    missing = unlisted(report, listed)
    print(
        f"audit: {report.audited} packages audited, {report.unreachable} not answered, "
        f"{len(report.findings)} known vulnerabilities, {len(missing)} not in SECURITY.md"
    )
    for finding in missing:
        fixed = ", ".join(finding.fixed_in) or "no fix"
        print(f"  {finding.package} {finding.version}: {', '.join(finding.ids)} (fixed in {fixed})")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
