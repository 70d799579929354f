"""What every messaging connector shares: check the provider's signature, parse its
payload into messages, skip provider retries, run the conversation, send the replies.

Each connector (Twilio, WhatsApp Cloud, Messenger/Instagram, Telegram) says only how its
provider signs, shapes and sends messages. Replies are collected first and sent after
the turn, in order, with retries (`delivery`).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from abc import abstractmethod
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from needlecheck.channels import delivery, ledger, numbered
from needlecheck.channels.settings import ChannelSettings, channel_settings
from needlecheck.text import texts

logger = logging.getLogger(__name__)


class Rejected(Exception):
    """The request is not the provider's (403) or not a payload it sends (400)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass
class Inbound:
    """One message from a person, as the provider delivered it."""

    sender: str
    channel: str  # stored with the screening: sms, whatsapp, messenger, instagram, ...
    message_id: str | None
    text: str | None = None  # None for media and other content the assistant cannot read
    payload: str | None = None  # a tapped button's payload, used as is
    option: int | None = None  # a tapped button's position, resolved like a typed "2"
    reply: dict[str, Any] = field(default_factory=dict)  # what the sender needs to answer


class MessagingInput(InputChannel):
    """Base of the messaging connectors; subclasses keep Rasa's webhook names."""

    def __init__(self, settings: ChannelSettings) -> None:
        self.settings = settings
        self._http: aiohttp.ClientSession | None = None

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> InputChannel:
        # Secrets come from the environment, so that none is written into a file.
        return cls(channel_settings(cls.name()))

    # --- what each provider defines -------------------------------------------------

    @abstractmethod
    def verify(self, request: Request) -> None:
        """Raise Rejected(403) unless the request carries the provider's valid signature."""

    @abstractmethod
    def parse(self, request: Request) -> list[Inbound]:
        """The messages in the request; status callbacks and echoes give none."""

    @abstractmethod
    def outgoing(self, inbound: Inbound, message: dict[str, Any]) -> list[delivery.Outgoing]:
        """The provider requests that deliver one of the assistant's messages."""

    def webhook_answer(self) -> HTTPResponse:
        return response.json({"status": "ok"})

    def verification(self, request: Request) -> HTTPResponse:
        """The answer to a GET on the webhook (Meta's subscription handshake)."""
        return response.json({"status": "ok"})

    async def before_turn(self, inbound: Inbound) -> list[dict[str, Any]] | None:
        """Channel keywords (SMS STOP/HELP): messages to send instead of a turn, or None."""
        return None

    async def after_parse(self, request: Request, inbound: Inbound) -> None:
        """Provider bookkeeping for an accepted message (Telegram's callback answer)."""

    # --- shared -------------------------------------------------------------------------

    async def erase(self, inbound: Inbound, request: Request) -> list[dict[str, Any]]:
        """DELETE: this conversation's screenings, requests and events are deleted, as the
        website widget's button does (needlecheck.store.privacy), and the deletion is in
        the audit log; a store that fails deletes nothing and says so."""
        from rasa.core.tracker_store import InMemoryTrackerStore
        from rasa.shared.core.trackers import DialogueStateTracker
        from sqlalchemy.exc import SQLAlchemyError

        from needlecheck.runtime import services
        from needlecheck.store import audit, privacy, tracker_events

        database_url = services().settings.database_url
        agent = getattr(request.app.ctx, "agent", None)
        store = getattr(agent, "tracker_store", None)
        # This server's own memory is forgotten here, not through its HTTP API; a store
        # outside the process (SQL, Redis) is erased where it lives.
        in_memory = isinstance(getattr(store, "_tracker_store", store), InMemoryTrackerStore)

        def erase() -> None:
            with self.sessions.begin() as session:
                deleted = privacy.erase(
                    session,
                    conversation_id=inbound.sender,
                    tracker_events=None
                    if in_memory
                    else lambda conversations: tracker_events.erase_events(
                        conversations, screening_database_url=database_url
                    ),
                )
                audit.audit(
                    session,
                    staff_id=None,
                    staff_username="visitor",
                    action="erase",
                    detail=f"{self.name()} keyword: {audit.counted(deleted)}",
                )

        try:
            await asyncio.to_thread(erase)
            if in_memory and store is not None:
                await store.save(DialogueStateTracker(inbound.sender, agent.domain.slots))
        except (SQLAlchemyError, tracker_events.TrackerStoreNotErased) as error:
            logger.error("%s: erase failed: %s", self.name(), error.__class__.__name__)
            return [{"text": self.text("erase_failed")}]
        return [{"text": self.text("erased")}]

    @functools.cached_property
    def sessions(self):
        from needlecheck.runtime import services

        return services().sessions

    def http(self) -> aiohttp.ClientSession:
        """The client for this provider's API, made in the server's event loop and kept:
        a new one per turn would open a new TLS connection to the provider every time."""
        if self._http is None or self._http.closed:
            self._http = delivery.client()
        return self._http

    async def send(self, requests: list[delivery.Outgoing], **options: Any) -> int:
        return await delivery.send_all(self.name(), requests, session=self.http(), **options)

    def text(self, key: str) -> str:
        return texts()[key].format(clinic=self.settings.clinic).strip()

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        hook = Blueprint(f"needlecheck_{self.name()}_webhook", __name__)

        @hook.route("/", methods=["GET"])
        async def health(request: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @hook.listener("after_server_stop")
        async def close_client(*_: Any) -> None:
            if self._http is not None:
                await self._http.close()

        @hook.route("/webhook", methods=["GET"])
        async def verify_subscription(request: Request) -> HTTPResponse:
            return self.verification(request)

        @hook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            try:
                self.verify(request)
                messages = self.parse(request)
            except Rejected as error:
                logger.warning("%s webhook rejected: %s", self.name(), error.reason)
                return response.json({"error": error.reason}, status=error.status)
            for inbound in messages:
                await self.after_parse(request, inbound)
                if not await ledger.first_time(self.sessions, self.name(), inbound.message_id):
                    logger.info("%s: a retried message was skipped", self.name())
                    continue
                await self.process(inbound, on_new_message, request)
            return self.webhook_answer()

        return hook

    async def process(
        self,
        inbound: Inbound,
        on_new_message: Callable[[UserMessage], Awaitable[Any]],
        request: Request,
    ) -> None:
        if asks_to_erase(inbound.text):
            # Before the channel's own keywords: a person who opted out can still delete.
            replies = await self.erase(inbound, request)
        else:
            replies = await self.before_turn(inbound)
        if replies is None:
            replies = await self.turn(inbound, on_new_message, request)
        outgoing = [r for message in replies for r in self.outgoing(inbound, message)]
        if outgoing:
            await self.send(outgoing)

    async def turn(
        self,
        inbound: Inbound,
        on_new_message: Callable[[UserMessage], Awaitable[Any]],
        request: Request,
    ) -> list[dict[str, Any]]:
        if inbound.text is None and inbound.payload is None and inbound.option is None:
            return [{"text": self.text("media_not_read")}]
        if inbound.payload is not None:
            text = inbound.payload
        else:
            buttons = await previous_buttons(request, inbound.sender)
            typed = str(inbound.option) if inbound.option is not None else inbound.text or ""
            text = numbered.resolve(typed, buttons)
        if not text.strip():
            return []
        collector = CollectingOutputChannel()
        await on_new_message(
            UserMessage(
                text,
                collector,
                inbound.sender,
                input_channel=inbound.channel,
            )
        )
        return collector.messages


# Whole messages that ask to delete the conversation, on every messaging channel (the
# consent question tells people to send DELETE).
ERASE_WORDS = frozenset(
    {
        "delete",
        "delete my data",
        "delete my answers",
        "delete my conversation",
        "delete this conversation",
        "delete this chat",
        "erase",
        "erase my data",
    }
)


def asks_to_erase(text: str | None) -> bool:
    words = " ".join((text or "").casefold().replace(".", " ").replace("!", " ").split())
    return words in ERASE_WORDS


async def previous_buttons(request: Request, sender: str) -> list[dict[str, Any]]:
    """The buttons of the assistant's last message to this sender, from the tracker store
    (shared by every instance), so that "2" picks the option the person saw."""
    agent = getattr(request.app.ctx, "agent", None)
    if agent is None or agent.tracker_store is None:
        return []
    tracker = await agent.tracker_store.retrieve(sender)
    if tracker is None:
        return []
    return numbered.last_buttons(event.as_dict() for event in tracker.events)


def numbered_text(text: str, buttons: Sequence[dict[str, Any]]) -> str:
    return numbered.render(text or "", buttons)


def fits(buttons: Sequence[dict[str, Any]], count: int, title_length: int) -> bool:
    return 0 < len(buttons) <= count and all(
        len(str(b.get("title", ""))) <= title_length for b in buttons
    )
