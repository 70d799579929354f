"""Live takeover: a member of staff talks to a person in the assistant's place.

The front desk calls these routes on the Rasa server, with the secret the two servers
share (as caller mode does), because only this process holds the channels' connections:
the widget's socket.io rooms and the messaging providers' clients.

- `POST /webhooks/takeover/messages {"sender"}`: whether it is paused, its channel, and
  its transcript (the person's, the assistant's and staff's messages, numbered).
- `POST /webhooks/takeover/pause {"sender"}`: appends `ConversationPaused` to the
  conversation. Rasa then logs the person's messages and predicts nothing
  (`MessageProcessor._should_handle_message`), so the assistant stays silent.
- `POST /webhooks/takeover/say {"sender", "staff", "text"}`: sends the staff member's
  words to the person on the channel of their latest message (socket.io: `bot_uttered`
  to the session's room; SMS, WhatsApp, Messenger, Instagram, Telegram: the connector's
  own requests, with its retries), and appends them to the conversation as a
  `BotUttered` whose metadata names the staff member, so the transcript has them.
- `POST /webhooks/takeover/resume {"sender", "staff", "mode"}`: appends
  `ConversationResumed`; with `mode` "continue" the open question is asked again
  (`next_step`: an unfinished screening goes on through the intent `start_screening`,
  as when the person asks to), else `utter_takeover_resumed`; with "end",
  `utter_takeover_ended`. The messages go to the person's channel as above, and the
  assistant then listens again. A conversation not paused (a retried hand-back) is
  left as it is: `{"resumed": true, "asked": null}`.

Each answers `{"delivered": n, "channel": ...}` or 4xx with the reason; 404 for a
conversation the server does not know.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.core.lock_store import LockError
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from needlecheck.channels.frontdesk_channel import STAFF, FrontDeskChannel
from needlecheck.text import max_message_length

logger = logging.getLogger(__name__)

CHANNEL = "takeover"
SENDER = re.compile(r"^[A-Za-z0-9_.:@+=-]{1,255}$")
RESUMED = "utter_takeover_resumed"
ENDED = "utter_takeover_ended"
MODES = ("continue", "end")
START_SCREENING = "start_screening"
EXTERNAL = "EXTERNAL: "


class TakeoverError(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def latest_channel(tracker: Any) -> str | None:
    """The input channel of the person's latest message."""
    for event in reversed(tracker.events):
        channel = getattr(event, "input_channel", None)
        if getattr(event, "type_name", "") == "user" and channel and channel != "takeover":
            return channel
    return None


def transcript(tracker: Any) -> list[dict[str, Any]]:
    """What the person and the assistant (or staff) said, in order, numbered by event."""
    lines = []
    for index, event in enumerate(tracker.events):
        kind = getattr(event, "type_name", "")
        if kind not in ("user", "bot") or not getattr(event, "text", None):
            continue
        if kind == "user" and event.text.startswith(EXTERNAL):
            continue  # the hand-back's own start_screening
        staff = (getattr(event, "metadata", None) or {}).get("takeover_staff")
        lines.append(
            {
                "index": index,
                "speaker": "person" if kind == "user" else ("staff" if staff else "assistant"),
                "staff": staff,
                "text": event.text,
                "at": event.timestamp,
            }
        )
    return lines


def findings_so_far(tracker: Any) -> dict[str, Any]:
    """The screening's outcome and findings from the answers given so far (the stored
    screening exists only once it is finished)."""
    from needlecheck.runtime import services
    from needlecheck.screening import FACT_NAMES, assess

    facts = {name: tracker.get_slot(name) for name in FACT_NAMES}
    facts = {name: value for name, value in facts.items() if value is not None}
    try:
        runtime = services()
        assessment = assess(facts, runtime.settings.today(), runtime.policy)
    except (ValueError, TypeError, KeyError):
        return {"outcome": None, "findings": [], "answered": len(facts)}
    return {
        "outcome": assessment.outcome,
        "findings": [
            {"rule": f.rule, "severity": f.severity, "reason": f.reason}
            for f in assessment.findings
        ],
        "answered": len(facts),
    }


def next_step(tracker: Any, domain: Any) -> str:
    """What the assistant does on being handed back: ask the open question again.

    A request for a person ends the screening form (data/rules/screening.yml), so an
    unfinished screening (a question asked, no outcome yet) goes on as when the person
    asks to: the intent `start_screening`, whose rule runs the form, which asks the first
    question not yet answered. A form still active (the contact form) asks its requested
    slot again. Anything else: `utter_takeover_resumed`."""
    slot = tracker.get_slot("requested_slot")
    if tracker.active_loop_name and slot:
        names = set(domain.action_names_or_texts)
        for name in (f"action_ask_{slot}", f"utter_ask_{slot}"):
            if name in names:
                return name
    if tracker.get_slot("question_state") and tracker.get_slot("screening_outcome") is None:
        return START_SCREENING
    return RESUMED


class ChannelCollector(CollectingOutputChannel):
    """Collects the assistant's messages for `deliver`, under the person's channel's name
    (Rasa records an external intent as coming from the output channel)."""

    def __init__(self, channel: str | None) -> None:
        super().__init__()
        self.channel = channel or "takeover"

    def name(self) -> str:  # type: ignore[override]
        return self.channel


async def deliver(app: Any, sender: str, channel: str | None, messages: list[dict]) -> int:
    """Sends `messages` to `sender` on `channel` through this server's own connectors;
    returns how many provider requests (or socket.io messages) went out."""
    from needlecheck.channels.messaging import Inbound, MessagingInput
    from needlecheck.channels.rooms import RoomsUnavailable
    from needlecheck.channels.web import WebChatInput, WebChatOutput

    # A collector's messages name their recipient; the output channels take it apart.
    messages = [{k: v for k, v in m.items() if k != "recipient_id"} for m in messages]
    if not messages:
        return 0
    for connector in getattr(app.ctx, "input_channels", None) or []:
        if channel == "socketio" and isinstance(connector, WebChatInput):
            if connector.sio is None:
                break
            # In production the room may be held by another instance: the emit goes
            # through Redis (rooms.py), which says when it could not hand it over.
            output = WebChatOutput(connector.sio, connector.bot_message_evt, strict=True)
            sent = 0
            for message in messages:
                try:
                    await output.send_response(sender, dict(message))
                except RoomsUnavailable:
                    return sent  # logged by rooms.py; the rest would arrive out of order
                sent += 1
            return sent
        if isinstance(connector, MessagingInput) and serves(connector, channel, sender):
            inbound = Inbound(sender=sender, channel=channel or "", message_id=None)
            if connector.name() == "twilio":
                inbound.reply = {"from": connector.settings["TWILIO_NUMBER"]}
                from needlecheck.channels import ledger

                if await ledger.is_opted_out(connector.sessions, connector.name(), sender):
                    raise TakeoverError(409, "this number has opted out (STOP)")
            outgoing = [r for m in messages for r in connector.outgoing(inbound, m)]
            return await connector.send(outgoing)
    raise TakeoverError(409, f"no connector can send to the channel {channel or 'unknown'}")


def serves(connector: Any, channel: str | None, sender: str) -> bool:
    name = connector.name()
    if name == "twilio":
        return channel == "sms" or (channel == "whatsapp" and sender.startswith("whatsapp:"))
    if name == "whatsapp":
        return channel == "whatsapp" and not sender.startswith("whatsapp:")
    if name == "facebook":
        return channel in ("messenger", "instagram")
    return channel == name


class TakeoverInput(FrontDeskChannel):
    @classmethod
    def name(cls) -> str:
        return CHANNEL

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        hook = Blueprint("needlecheck_takeover_webhook", __name__)

        def read(request: Request, *fields: str) -> dict[str, str]:
            if not self.from_front_desk(request):
                raise TakeoverError(403, "not the front desk")
            body = request.json if isinstance(request.json, dict) else {}
            sender = body.get("sender")
            if not (isinstance(sender, str) and SENDER.match(sender)):
                raise TakeoverError(400, "sender must be a conversation id")
            if "staff" in fields and not (
                isinstance(body.get("staff"), str) and STAFF.match(body["staff"])
            ):
                raise TakeoverError(400, "staff must be a staff user name")
            return {"sender": sender, **{f: body.get(f) for f in fields}}

        async def known(request: Request, sender: str) -> Any:
            agent = request.app.ctx.agent
            tracker = await agent.processor.get_tracker(sender)
            if not tracker.events:
                raise TakeoverError(404, "no such conversation")
            return tracker

        def answer(work: Callable[[Request], Awaitable[dict]]) -> Callable:
            async def route(request: Request) -> HTTPResponse:
                try:
                    return response.json(await work(request))
                except TakeoverError as error:
                    return response.json({"error": error.reason}, status=error.status)
                except LockError as error:
                    # Nothing was changed or sent, and the front desk should say why
                    # rather than "refused". The error's text names the conversation (a
                    # phone number on SMS): it stays out of the log.
                    failed = error.__cause__ or error.__context__
                    if failed is not None:  # the lock store (Redis) did not answer
                        logger.error(
                            "takeover: %s: lock store error %s",
                            work.__name__,
                            type(failed).__name__,
                        )
                        reason = "the assistant's lock store is not answering; try again shortly"
                    else:  # the assistant was busy with this conversation for too long
                        logger.warning("takeover: %s: the conversation stayed busy", work.__name__)
                        reason = "the assistant is busy with this conversation; try again shortly"
                    return response.json({"error": reason}, status=503)

            route.__name__ = work.__name__
            return route

        async def pause(request: Request) -> dict:
            from rasa.shared.core.events import ConversationPaused

            body = read(request)
            agent = request.app.ctx.agent
            async with agent.lock_store.lock(body["sender"]):
                tracker = await known(request, body["sender"])
                if not tracker.is_paused():
                    tracker.update(ConversationPaused())
                    await agent.processor.save_tracker(tracker)
            return {"paused": True, "channel": latest_channel(tracker)}

        async def say(request: Request) -> dict:
            from rasa.shared.core.events import BotUttered

            body = read(request, "staff", "text")
            text = body["text"]
            if not isinstance(text, str) or not text.strip():
                raise TakeoverError(400, "text must be non-empty")
            if len(text) > max_message_length():
                raise TakeoverError(413, "text is too long")
            agent = request.app.ctx.agent
            async with agent.lock_store.lock(body["sender"]):
                tracker = await known(request, body["sender"])
                if not tracker.is_paused():
                    raise TakeoverError(409, "the conversation is not taken over")
                channel = latest_channel(tracker)
                tracker.update(BotUttered(text.strip(), metadata={"takeover_staff": body["staff"]}))
                await agent.processor.save_tracker(tracker)
            delivered = await deliver(request.app, body["sender"], channel, [{"text": text}])
            return {"delivered": delivered, "channel": channel}

        async def resume(request: Request) -> dict:
            from rasa.shared.core.constants import ACTION_LISTEN_NAME
            from rasa.shared.core.events import ActionExecuted, ConversationResumed

            body = read(request, "staff", "mode")
            mode = body["mode"] or "continue"
            if mode not in MODES:
                raise TakeoverError(400, f"mode must be one of {', '.join(MODES)}")
            agent = request.app.ctx.agent
            sender = body["sender"]
            async with agent.lock_store.lock(sender):
                tracker = await known(request, sender)
                channel = latest_channel(tracker)
                if not tracker.is_paused():
                    # Handed back already (the front desk retries a hand-back whose
                    # answer it did not get): nothing is asked twice.
                    return {"resumed": True, "asked": None, "delivered": 0, "channel": channel}
                collector = ChannelCollector(channel)
                tracker.update(ConversationResumed())
                await agent.processor.save_tracker(tracker)
                how = next_step(tracker, agent.domain) if mode == "continue" else ENDED
                if how == START_SCREENING:
                    # As if the person asked to go on: the form asks its open question.
                    await agent.processor.trigger_external_user_uttered(
                        START_SCREENING, {}, tracker, collector
                    )
                else:
                    await agent.execute_action(sender, how, collector, None, None)
                    tracker = await agent.processor.get_tracker(sender)
                    tracker.update(ActionExecuted(ACTION_LISTEN_NAME))
                    await agent.processor.save_tracker(tracker)
            try:
                delivered = await deliver(request.app, sender, channel, collector.messages)
            except Exception as error:  # resumed all the same: the next message is answered
                logger.error("takeover: the hand-back was not delivered: %s", type(error).__name__)
                delivered = 0
            return {"resumed": True, "asked": how, "delivered": delivered, "channel": channel}

        async def messages(request: Request) -> dict:
            body = read(request)
            tracker = await known(request, body["sender"])
            return {
                "paused": tracker.is_paused(),
                "channel": latest_channel(tracker),
                "messages": transcript(tracker),
                **findings_so_far(tracker),
            }

        hook.add_route(answer(messages), "/messages", methods=["POST"])
        hook.add_route(answer(pause), "/pause", methods=["POST"])
        hook.add_route(answer(say), "/say", methods=["POST"])
        hook.add_route(answer(resume), "/resume", methods=["POST"])
        return hook
