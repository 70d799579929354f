"""Settings read from the environment, in one place, with the zero-setup defaults."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Settings:
    var_dir: Path
    database_url: str
    policy_file: str | None
    api_token: str | None
    rasa_port: int
    host: str

    @classmethod
    def from_environment(cls, environ: dict[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        var_dir = Path(env.get("NEEDLECHECK_VAR_DIR") or "var").resolve()
        return cls(
            var_dir=var_dir,
            database_url=env.get("DATABASE_URL") or f"sqlite:///{var_dir / 'needlecheck.db'}",
            policy_file=env.get("NEEDLECHECK_POLICY") or None,
            api_token=env.get("NEEDLECHECK_API_TOKEN") or None,
            rasa_port=_port(env, "NEEDLECHECK_RASA_PORT", 5005),
            host=env.get("NEEDLECHECK_HOST") or "127.0.0.1",
        )


def _port(env: os._Environ[str] | dict[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if not raw:
        return default
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise ValueError(f"{name}={raw!r} is not a TCP port number")
    return int(raw)
