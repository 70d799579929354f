"""Start rasa-sdk's action server after the start-up checks (`python -m needlecheck.action_server`)."""

from __future__ import annotations

import os
import sys

ACTION_PORT = 5055


def main() -> int:
    from needlecheck.config import Settings
    from needlecheck.startup import StartupError, check_startup

    try:
        settings = Settings.from_environment()
        check_startup(settings)
    except (StartupError, ValueError) as error:
        print(f"needlecheck action server: {error}", file=sys.stderr)
        return 3
    # rasa-sdk binds to SANIC_HOST and would otherwise listen on every interface.
    os.environ["SANIC_HOST"] = settings.host
    from rasa_sdk.endpoint import run

    run("actions", port=ACTION_PORT)
    return 0


if __name__ == "__main__":
    sys.exit(main())
