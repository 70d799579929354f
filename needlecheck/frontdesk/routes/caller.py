"""Caller mode: a receptionist runs the screening for someone on the phone, in the staff
page, and the screening is stored with channel `frontdesk` and the staff member's user
name.

The page posts what the caller says here; the front desk relays it to the Rasa server's
caller channel (/webhooks/frontdesk/webhook) with the secret the two servers share, so
that no visitor can pose as staff.
"""

from __future__ import annotations

import logging
from typing import Any

import aiohttp
from fastapi import APIRouter, Form, Header, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, Field, validator

from needlecheck.channels.limits import CALLER_ID, new_caller_id
from needlecheck.config import shared_secret
from needlecheck.frontdesk.deps import DatabaseDep, SettingsDep, Staff, check_csrf, render
from needlecheck.frontdesk.schemas import CallerReply, problems
from needlecheck.text import max_message_length

logger = logging.getLogger(__name__)

RELAY_TIMEOUT = aiohttp.ClientTimeout(total=30)

router = APIRouter()


class CallerMessage(BaseModel):
    message: str = Field(..., min_length=1)

    @validator("message")
    def readable(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("the message is empty")
        # The same limit as every channel's (NEEDLECHECK_MAX_MESSAGE_LENGTH).
        if len(value) > max_message_length():
            raise ValueError(f"the message is longer than {max_message_length()} characters")
        return value


@router.post("/caller", include_in_schema=False)
def new_caller_screening(db: DatabaseDep, who: Staff, csrf_token: str = Form("")) -> Response:
    check_csrf(who, csrf_token)
    conversation = new_caller_id()
    db.audit(who, "caller_screening", detail="started")
    return RedirectResponse(f"/caller/{conversation}", status_code=303)


@router.get("/caller/{conversation}", response_class=HTMLResponse, include_in_schema=False)
def caller_page(request: Request, conversation: str, who: Staff) -> Response:
    if not CALLER_ID.match(conversation):
        raise HTTPException(404, "no such caller screening")
    return render(request, "caller.html", who=who, conversation=conversation)


@router.post(
    "/api/caller/{conversation}/messages",
    summary="Say something in a caller screening, on the caller's behalf",
    response_model=list[CallerReply],
    responses=problems(401, 403, 404, 422, 502, 503),
)
async def caller_message(
    conversation: str,
    body: CallerMessage,
    settings: SettingsDep,
    who: Staff,
    x_csrf_token: str = Header(""),
) -> list[dict[str, Any]]:
    check_csrf(who, x_csrf_token)
    if not CALLER_ID.match(conversation):
        raise HTTPException(404, "no such caller screening")
    secret = shared_secret(settings.var_dir)
    try:
        async with (
            aiohttp.ClientSession(timeout=RELAY_TIMEOUT) as session,
            session.post(
                f"{settings.assistant_url}/webhooks/frontdesk/webhook",
                json={"sender": conversation, "message": body.message, "staff": who.username},
                headers={"Authorization": f"Bearer {secret}"},
            ) as response,
        ):
            if response.status in (400, 413):
                raise HTTPException(422, "the assistant cannot read that message")
            if response.status != 200:
                logger.error("caller relay refused: status %s", response.status)
                raise HTTPException(502, "the assistant refused the message; try again")
            replies = await response.json()
    except (aiohttp.ClientError, TimeoutError) as error:
        logger.error("caller relay failed: %s", error.__class__.__name__)
        raise HTTPException(
            503, "the assistant is not reachable; the caller's answers so far are kept"
        ) from None
    return [
        {
            "text": reply.get("text") or "",
            "buttons": [
                {"title": str(b.get("title")), "payload": str(b.get("payload"))}
                for b in reply.get("buttons") or []
            ],
            "card": reply.get("custom") if isinstance(reply.get("custom"), dict) else None,
        }
        for reply in replies
        if isinstance(reply, dict)
    ]
