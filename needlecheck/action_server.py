"""Start rasa-sdk's action server after the start-up checks (`python -m needlecheck.action_server`).

rasa-sdk has no authentication: anyone who reaches its port could run the actions with a
made-up conversation and write screenings. Here every request, `/health` included, must
carry `Authorization: Bearer $NEEDLECHECK_ACTION_SECRET`, which Rasa sends from
endpoints.yml and the load balancer and supervisor send with their health checks
(`needlecheck.security.tokens.health_request`); `make run` generates the secret when it is not set.
"""

from __future__ import annotations

import sys
from typing import Any

from needlecheck.config import DEFAULT_ACTION_PORT
from needlecheck.security.tokens import bearer_matches
from needlecheck.startup import StartupError, check_startup


def authorised(header: str | None, secret: str) -> bool:
    return bearer_matches(header, secret)


def build_app(secret: str) -> Any:
    from rasa_sdk.endpoint import create_app
    from sanic import response

    # No CORS: browsers have no business calling the action server.
    app = create_app("actions", cors_origins=None)

    @app.middleware("request")
    async def require_secret(request: Any) -> Any:
        header = request.headers.get("authorization")
        if header is None:
            return response.json({"error": "the action server secret is missing"}, status=401)
        # Any other value that is not the secret (undecodable bytes included) is a 403
        # that says nothing more.
        if not authorised(header, secret):
            return response.json({"error": "wrong action server secret"}, status=403)
        return None

    return app


def main(argv: list[str] | None = None) -> int:
    import argparse
    import logging

    from needlecheck.config import Settings, log_level
    from needlecheck.security import logs

    logs.install()

    parser = argparse.ArgumentParser(prog="python -m needlecheck.action_server")
    parser.add_argument("--port", type=int, default=DEFAULT_ACTION_PORT)
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_environment()
        level = log_level()
        check_startup(settings)
        if not settings.action_secret:
            raise StartupError(
                "NEEDLECHECK_ACTION_SECRET is not set: the action server would run actions "
                "for anyone who reaches its port"
            )
    except (StartupError, ValueError) as error:
        print(f"needlecheck action server: {error}", file=sys.stderr)
        return 3
    from rasa_sdk import utils

    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s %(message)s")

    app = build_app(settings.action_secret)
    # Bound to NEEDLECHECK_HOST; rasa-sdk's own default is every interface.
    app.run(
        settings.host,
        args.port,
        workers=utils.number_of_sanic_workers(),
        access_log=False,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
