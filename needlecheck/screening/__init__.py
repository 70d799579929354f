"""The screening engine: the policy's rules as data, applied to validated facts.

docs/screening-policy.md describes the policy.
"""

from needlecheck.screening.engine import OUTCOMES, Assessment, Finding, assess, outcome_rank
from needlecheck.screening.facts import FACT_NAMES, FactError, Facts, validate_fact, validate_facts
from needlecheck.screening.policy import (
    POLICY_ENV,
    Policy,
    PolicyError,
    default_policy,
    load_policy,
    policy_from_environment,
)
from needlecheck.screening.rules import SEVERITIES, RulesError

__all__ = [
    "FACT_NAMES",
    "OUTCOMES",
    "POLICY_ENV",
    "SEVERITIES",
    "Assessment",
    "FactError",
    "Facts",
    "Finding",
    "Policy",
    "PolicyError",
    "RulesError",
    "assess",
    "default_policy",
    "load_policy",
    "outcome_rank",
    "policy_from_environment",
    "validate_fact",
    "validate_facts",
]
