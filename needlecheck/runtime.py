"""Process-wide services the Rasa actions use, built on first use (never at import)."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from sqlalchemy.orm import sessionmaker

from needlecheck.clinic import Clinic
from needlecheck.config import Settings
from needlecheck.screening import Policy, load_policy
from needlecheck.store.database import create_db_engine, session_factory


@dataclass(frozen=True)
class Services:
    settings: Settings
    policy: Policy
    sessions: sessionmaker


@functools.cache
def services() -> Services:
    settings = Settings.from_environment()
    return Services(
        settings=settings,
        policy=load_policy(settings.policy_file),
        sessions=session_factory(create_db_engine(settings.database_url)),
    )


@functools.cache
def clinic() -> Clinic:
    """The clinic's details and answers (clinic.yml, or NEEDLECHECK_CLINIC)."""
    return Clinic.load()


def clinic_open_now() -> bool:
    """Whether staff can answer now: clinic.yml `hours`, in the clinic's time zone."""
    return clinic().is_open(services().settings.clinic_time())
