"""Live takeover: a signed-in member of staff talks to a person in the assistant's place.

"Take over" (on a handoff request's or a screening's page) holds the conversation for
that member in the database (one member at a time: `needlecheck.store.takeover`), then
asks the Rasa server to pause the assistant for it. The takeover page shows the
transcript and the findings so far, polled every two seconds; what staff type goes to
the Rasa server's takeover channel, which sends it on the person's own channel, and is
stored encrypted. "Hand back" resumes the assistant at its open question, or ends the
conversation politely. Each step is in the audit log; the audit never holds the words.

The front desk reaches the Rasa server's `/webhooks/takeover/...` routes with the secret
the two servers share, as caller mode does (`needlecheck/channels/takeover.py`).
"""

from __future__ import annotations

import json
import logging
import re
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from fastapi import APIRouter, Form, Header, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, Field, validator

from needlecheck.config import Settings, shared_secret
from needlecheck.frontdesk.deps import (
    Database,
    DatabaseDep,
    SettingsDep,
    Staff,
    audited,
    check_csrf,
    render,
)
from needlecheck.frontdesk.schemas import TakeoverSent, TakeoverState, problems
from needlecheck.store import queue as queue_store
from needlecheck.store import staff as staff_store
from needlecheck.store import takeover as takeover_store
from needlecheck.store.models import TAKEOVER_ENDINGS, Takeover
from needlecheck.text import max_message_length

logger = logging.getLogger(__name__)

# The conversation IDs the Rasa server accepts (channels/takeover.py's SENDER).
CONVERSATION = re.compile(r"^[A-Za-z0-9_.:@+=-]{1,255}$")
RELAY_TIMEOUT = 15

router = APIRouter()


class RelayError(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def relay(settings: Settings, operation: str, body: dict[str, Any]) -> dict[str, Any]:
    """One call to the Rasa server's takeover channel (blocking: routes that call it are
    plain `def`s, run in the thread pool)."""
    request = urllib.request.Request(
        f"{settings.assistant_url}/webhooks/takeover/{operation}",
        data=json.dumps(body).encode(),
        method="POST",
        headers={
            "Content-Type": "application/json",
            "Authorization": f"Bearer {shared_secret(settings.var_dir)}",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=RELAY_TIMEOUT) as response:
            answer = json.loads(response.read())
    except urllib.error.HTTPError as error:
        try:
            reason = json.loads(error.read()).get("error") or f"HTTP {error.code}"
        except ValueError:
            reason = f"HTTP {error.code}"
        raise RelayError(error.code, reason) from None
    except (OSError, ValueError) as error:
        logger.error("takeover relay failed: %s", error.__class__.__name__)
        raise RelayError(503, "the assistant is not reachable; try again") from None
    if not isinstance(answer, dict):
        raise RelayError(502, "the assistant's answer is not what the takeover channel says")
    return answer


def refused(error: RelayError) -> HTTPException:
    if error.status == 404:
        return HTTPException(404, "the assistant does not know this conversation")
    if error.status in (409, 413, 400):
        return HTTPException(409 if error.status == 409 else 422, error.reason)
    if error.status == 503:
        return HTTPException(503, error.reason)
    logger.error("takeover relay refused: status %s", error.status)
    return HTTPException(502, "the assistant refused; try again")


def checked(conversation: str) -> str:
    if not CONVERSATION.match(conversation):
        raise HTTPException(404, "no such conversation")
    return conversation


def page_of(conversation: str) -> str:
    return f"/takeover/{urllib.parse.quote(conversation, safe='')}"


@router.post("/takeover/{conversation}", include_in_schema=False)
def take_over(
    conversation: str,
    db: DatabaseDep,
    settings: SettingsDep,
    who: Staff,
    csrf_token: str = Form(""),
    handoff_id: int | None = Form(None, ge=1, le=2**31 - 1),
) -> Response:
    """Holds the conversation for this member, then pauses the assistant; if the
    assistant cannot be paused, nobody holds it."""
    check_csrf(who, csrf_token)
    checked(conversation)
    with db.transaction():  # a database that fails is a 503
        try:
            held_id = takeover_store.take_over(
                db.sessions,
                conversation,
                staff_id=who.staff_id,
                staff_username=who.username,
                handoff_id=handoff_id,
            )
        except takeover_store.Taken as taken:
            raise HTTPException(409, str(taken)) from None
    try:
        paused = relay(settings, "pause", {"sender": conversation})
    except RelayError as error:
        with db.transaction():
            takeover_store.abandon(db.sessions, held_id)
        raise refused(error) from None
    with db.change() as session:
        held = session.get(Takeover, held_id)
        held.channel = paused.get("channel")
        if handoff_id is not None:
            handoff = queue_store.record(session, "handoff", handoff_id)
            if handoff.status == "open":
                handoff.status = "in_progress"
        audited(
            session,
            who,
            "takeover",
            record_type="takeover",
            record_id=held.id,
            detail=f"channel {held.channel or 'unknown'}",
        )
    return RedirectResponse(page_of(conversation), status_code=303)


@router.get("/takeover/{conversation}", response_class=HTMLResponse, include_in_schema=False)
def takeover_page(request: Request, conversation: str, db: DatabaseDep, who: Staff) -> Response:
    checked(conversation)
    return page(request, conversation, db, who)


def page(
    request: Request,
    conversation: str,
    db: Database,
    who: staff_store.SignedIn,
    status: int = 200,
    error: str | None = None,
) -> Response:
    with db.change() as session:
        held = takeover_store.active(session, conversation)
        related = queue_store.related(session, conversation)
        audited(
            session,
            who,
            "view",
            record_type="takeover",
            record_id=held.id if held else None,
            detail="takeover page",
        )
        context = {
            "holder": held.staff_username if held else None,
            "screenings": related["screenings"],
            "handoffs": related["handoffs"],
        }
    return render(
        request,
        "takeover.html",
        status,
        who=who,
        conversation=conversation,
        hand_back_error=error,
        **context,
    )


@router.get(
    "/api/takeover/{conversation}",
    summary="A conversation as the takeover page shows it",
    response_model=TakeoverState,
    responses=problems(401, 404, 502, 503),
)
def takeover_state(
    conversation: str, db: DatabaseDep, settings: SettingsDep, who: Staff
) -> dict[str, Any]:
    checked(conversation)
    with db.transaction() as session:
        if not takeover_store.history(session, conversation):
            # Only a conversation staff took over is shown here (and the assistant asked).
            raise HTTPException(404, "this conversation has not been taken over")
        held = takeover_store.active(session, conversation)
        holder = held.staff_username if held else None
    try:
        state = relay(settings, "messages", {"sender": conversation})
    except RelayError as error:
        raise refused(error) from None
    return {
        "conversation": conversation,
        "holder": holder,
        "paused": bool(state.get("paused")),
        "channel": state.get("channel"),
        "messages": state.get("messages") or [],
        "outcome": state.get("outcome"),
        "findings": state.get("findings") or [],
        "answered": int(state.get("answered") or 0),
    }


class StaffMessage(BaseModel):
    text: str = Field(..., min_length=1)

    @validator("text")
    def readable(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("the message is empty")
        if len(value) > max_message_length():
            raise ValueError(f"the message is longer than {max_message_length()} characters")
        return value.strip()


@router.post(
    "/api/takeover/{conversation}/messages",
    summary="Send the person a message, in a conversation this member has taken over",
    response_model=TakeoverSent,
    responses=problems(401, 403, 404, 409, 422, 502, 503),
)
def send_message(
    conversation: str,
    body: StaffMessage,
    db: DatabaseDep,
    settings: SettingsDep,
    who: Staff,
    x_csrf_token: str = Header(""),
) -> dict[str, Any]:
    check_csrf(who, x_csrf_token)
    checked(conversation)
    with db.change() as session:
        try:
            held = takeover_store.holding(session, conversation, who.username)
        except takeover_store.NotHeld as error:
            raise HTTPException(409, str(error)) from None
        try:
            sent = relay(
                settings,
                "say",
                {"sender": conversation, "staff": who.username, "text": body.text},
            )
        except RelayError as error:
            raise refused(error) from None
        delivered = int(sent.get("delivered") or 0)
        message = takeover_store.add_message(
            session, held, who.username, body.text, delivered=delivered > 0
        )
        audited(
            session,
            who,
            "takeover_message",
            record_type="takeover",
            record_id=held.id,
            detail=f"message {message.id}, {'delivered' if delivered else 'not delivered'}",
        )
    return {"delivered": delivered, "channel": sent.get("channel")}


@router.post("/takeover/{conversation}/hand-back", include_in_schema=False)
def hand_back(
    request: Request,
    conversation: str,
    db: DatabaseDep,
    settings: SettingsDep,
    who: Staff,
    ending: str = Form("continue"),
    csrf_token: str = Form(""),
) -> Response:
    """Resumes the assistant, then lets go of the conversation. If the assistant cannot
    be resumed, this member keeps it (the assistant is still paused, and a person must
    not be left with nobody answering) and is told so, with the button to try again; the
    channel's `resume` does nothing twice, so a retry after a lost answer is safe."""
    check_csrf(who, csrf_token)
    checked(conversation)
    if ending not in TAKEOVER_ENDINGS:
        raise HTTPException(422, f"ending must be one of {', '.join(TAKEOVER_ENDINGS)}")
    with db.transaction() as session:
        try:
            held_id = takeover_store.holding(session, conversation, who.username).id
        except takeover_store.NotHeld as error:
            raise HTTPException(409, str(error)) from None
    try:
        resumed = relay(
            settings, "resume", {"sender": conversation, "staff": who.username, "mode": ending}
        )
        asked = resumed.get("asked") or "nothing asked"
    except RelayError as error:
        if error.status != 404:
            return not_handed_back(request, conversation, db, who, refused(error))
        # The assistant has no such conversation (its store lost it): nothing is paused
        # there, so holding it would only keep staff from letting go.
        asked = "the assistant does not know the conversation"
    with db.change() as session:
        held = session.get(Takeover, held_id)
        if held is None:  # erased, or purged, while the assistant was being resumed
            raise HTTPException(409, "this takeover no longer exists (the conversation was erased)")
        try:
            takeover_store.hand_back(session, held, who.username, ending)
        except takeover_store.NotHeld as error:
            raise HTTPException(409, str(error)) from None
        audited(
            session,
            who,
            "hand_back",
            record_type="takeover",
            record_id=held.id,
            detail=f"{ending}: {asked}",
        )
    return RedirectResponse(page_of(conversation), status_code=303)


def not_handed_back(
    request: Request,
    conversation: str,
    db: Database,
    who: staff_store.SignedIn,
    problem: HTTPException,
) -> Response:
    message = (
        f"Not handed back: {problem.detail}. You still hold this conversation and the "
        "assistant stays paused; press Hand back again."
    )
    logger.warning("takeover: hand-back failed (status %s); still held", problem.status_code)
    if "text/html" not in request.headers.get("accept", ""):
        raise HTTPException(problem.status_code, message)
    return page(request, conversation, db, who, status=problem.status_code, error=message)
