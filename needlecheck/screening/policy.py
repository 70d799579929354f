"""A screening policy: the default rules, optionally with a clinic's overrides applied.

A clinic's policy file may change any rule's severity, parameters or wording and names
the policy, so that every assessment records which policy produced it. The file is
checked completely when loaded, so a mistake stops start-up instead of reaching a patient.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from needlecheck.screening.rules import (
    SEVERITIES,
    Rule,
    RulesError,
    build_rule,
    check_param_value,
)

POLICY_ENV = "NEEDLECHECK_POLICY"


class PolicyError(RulesError):
    """A policy file that cannot be applied; the message names the file and the problem."""


@dataclass(frozen=True)
class Policy:
    name: str
    version: str
    rules: tuple[Rule, ...]

    def rule(self, rule_id: str) -> Rule:
        for rule in self.rules:
            if rule.id == rule_id:
                return rule
        raise KeyError(rule_id)

    def info(self) -> dict[str, str]:
        return {"name": self.name, "version": self.version}


def parse_rules_document(document: object) -> Policy:
    """Build the default policy from the parsed rules file."""
    if not isinstance(document, Mapping) or not isinstance(document.get("rules"), list):
        raise RulesError("the rules file must be a mapping with a 'rules' list")
    rules = tuple(build_rule(entry) for entry in document["rules"])
    seen: set[str] = set()
    for rule in rules:
        if rule.id in seen:
            raise RulesError(f"rule {rule.id} is defined twice")
        seen.add(rule.id)
    return Policy(name=str(document["name"]), version=str(document["version"]), rules=rules)


@functools.cache
def rules_document() -> dict[str, Any]:
    """The packaged rules file, parsed once per process on first use."""
    text = resources.files("needlecheck.screening").joinpath("rules.yml").read_text("utf-8")
    return yaml.safe_load(text)


@functools.cache
def default_policy() -> Policy:
    return parse_rules_document(rules_document())


def apply_overrides(base: Policy, document: object, origin: str = "policy") -> Policy:
    """Return `base` with a clinic's overrides applied; raise PolicyError on any bad entry."""

    def fail(message: str) -> PolicyError:
        return PolicyError(f"{origin}: {message}")

    if not isinstance(document, Mapping):
        raise fail("expected a mapping with 'name', 'version' and 'rules'")
    unknown = set(document) - {"name", "version", "rules"}
    if unknown:
        raise fail(f"unknown key(s) {', '.join(sorted(map(str, unknown)))}")
    name, version = document.get("name"), document.get("version")
    if not isinstance(name, str) or not name.strip():
        raise fail("'name' must be a non-empty text naming the clinic's policy")
    if not isinstance(version, str | int | float) or isinstance(version, bool) or not str(version):
        raise fail("'version' must be given, for example \"2026-11\"")
    overrides = document.get("rules") or {}
    if not isinstance(overrides, Mapping):
        raise fail("'rules' must map rule IDs to their changes")
    known = {rule.id for rule in base.rules}
    for rule_id in overrides:
        if rule_id not in known:
            raise fail(f"unknown rule ID {rule_id!r}; known IDs are {', '.join(sorted(known))}")

    rules = []
    for rule in base.rules:
        change = overrides.get(rule.id)
        rules.append(rule if change is None else _override(rule, change, fail))
    return Policy(name=name.strip(), version=str(version), rules=tuple(rules))


def _override(rule: Rule, change: object, fail) -> Rule:
    if not isinstance(change, Mapping) or not change:
        raise fail(f"{rule.id}: expected a mapping with severity, params or reason")
    unknown = set(change) - {"severity", "params", "reason"}
    if unknown:
        raise fail(f"{rule.id}: cannot change {', '.join(sorted(map(str, unknown)))}")
    severity = change.get("severity", rule.severity)
    if severity not in SEVERITIES:
        raise fail(f"{rule.id}: severity {severity!r} is not one of {', '.join(SEVERITIES)}")
    params = dict(rule.params)
    new_params = change.get("params") or {}
    if not isinstance(new_params, Mapping):
        raise fail(f"{rule.id}: 'params' must be a mapping")
    for key, value in new_params.items():
        if key not in rule.params:
            have = ", ".join(rule.params) or "none"
            raise fail(f"{rule.id}: unknown parameter {key!r} (this rule's parameters: {have})")
        try:
            check_param_value(rule.id, key, value)
        except RulesError as error:
            raise fail(str(error)) from None
        params[key] = value
    reason = change.get("reason", rule.reason_template)
    if not isinstance(reason, str) or not reason.strip():
        raise fail(f"{rule.id}: 'reason' must be a non-empty text")
    entry = {
        "id": rule.id,
        "severity": severity,
        "when": rule.when,
        "params": params,
        "reason": reason,
        "source": rule.source,
        "examples": rule.examples,
    }
    try:
        return build_rule(entry)
    except RulesError as error:
        raise fail(str(error)) from None


def load_policy(path: str | os.PathLike[str] | None) -> Policy:
    """The default policy, or the default with the overrides in the file at `path`."""
    if path is None or str(path) == "":
        return default_policy()
    file = Path(path)
    try:
        text = file.read_text("utf-8")
    except OSError as error:
        raise PolicyError(f"{file}: cannot read the policy file ({error.strerror})") from None
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise PolicyError(f"{file}: not valid YAML ({error})") from None
    return apply_overrides(default_policy(), document, origin=str(file))


def policy_from_environment() -> Policy:
    """The policy the running assistant uses: NEEDLECHECK_POLICY names the file, if set."""
    return load_policy(os.environ.get(POLICY_ENV) or None)
