"""What the channels only the front desk calls have in common: caller mode
(channels/caller.py) and live takeover (channels/takeover.py) are both authenticated with
the secret the two servers share (NEEDLECHECK_FRONTDESK_SECRET, or one generated into
var/: config.shared_secret), and both name the member of staff acting."""

from __future__ import annotations

import re
from typing import Any

from rasa.core.channels.channel import InputChannel
from sanic.request import Request

from needlecheck.security.tokens import bearer_matches

# A front desk user name, as `needlecheck staff add` accepts it.
STAFF = re.compile(r"^[a-z0-9._-]{1,64}$")


class FrontDeskChannel(InputChannel):
    def __init__(self, secret: str) -> None:
        self.secret = secret

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> InputChannel:
        from needlecheck.config import Settings, shared_secret

        return cls(shared_secret(Settings.from_environment().var_dir))

    def from_front_desk(self, request: Request) -> bool:
        # Compared as bytes in constant time: a header that is not ASCII is refused, never
        # an error.
        return bearer_matches(request.headers.get("Authorization"), self.secret)
