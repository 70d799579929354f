"""`make bench-channels` (`python -m bench.channels`): what each messaging channel adds to a turn.

Starts `needlecheck run` with every channel on and pointed at the local fake of the
providers' send APIs (tests/e2e/providers.py), then holds the same typed screening over
REST and over each channel's webhook (signed as the provider signs). A webhook's time
includes the signature check, the retry ledger, the turn and sending every reply to the
fake. A benchmark, not a test: the numbers depend on the machine.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

from bench.bench import ROOT, SCREENING, environment, start_needlecheck, stop, summary
from tests.e2e import providers as fake

PORT = 5099
FRONTDESK_PORT = 8099
CONVERSATIONS = 10


def timed_post(path: str, body: bytes, headers: dict[str, str]) -> float:
    request = urllib.request.Request(f"http://127.0.0.1:{PORT}{path}", data=body, headers=headers)
    begin = time.perf_counter()
    with urllib.request.urlopen(request, timeout=60) as response:
        response.read()
    return time.perf_counter() - begin


def rest(sender: str, text: str, _: int) -> float:
    # A number is another channel's ID shape, which the REST channel refuses.
    body = json.dumps({"sender": f"bench.{sender}", "message": text}).encode()
    return timed_post("/webhooks/rest/webhook", body, {"Content-Type": "application/json"})


def sms(sender: str, text: str, n: int) -> float:
    from urllib.parse import urlencode

    from twilio.request_validator import RequestValidator

    path = "/webhooks/twilio/webhook"
    form = {
        "MessageSid": f"SM{uuid.uuid4().hex}",
        "From": sender,
        "To": fake.TWILIO_NUMBER,
        "Body": text,
    }
    signature = RequestValidator(fake.TWILIO_TOKEN).compute_signature(
        f"http://127.0.0.1:{PORT}{path}", form
    )
    headers = {"X-Twilio-Signature": signature, "Content-Type": "application/x-www-form-urlencoded"}
    return timed_post(path, urlencode(form).encode(), headers)


def _meta(path: str, secret: str, payload: dict) -> float:
    raw = json.dumps(payload).encode()
    signature = "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
    return timed_post(
        path, raw, {"Content-Type": "application/json", "X-Hub-Signature-256": signature}
    )


def whatsapp(sender: str, text: str, n: int) -> float:
    message = {
        "from": sender,
        "id": f"wamid.{uuid.uuid4().hex}",
        "type": "text",
        "text": {"body": text},
    }
    payload = {
        "object": "whatsapp_business_account",
        "entry": [{"changes": [{"value": {"messages": [message]}}]}],
    }
    return _meta("/webhooks/whatsapp/webhook", fake.WHATSAPP_SECRET, payload)


def messenger(sender: str, text: str, n: int) -> float:
    event = {"sender": {"id": sender}, "message": {"mid": f"m_{uuid.uuid4().hex}", "text": text}}
    payload = {"object": "page", "entry": [{"messaging": [event]}]}
    return _meta("/webhooks/facebook/webhook", fake.META_SECRET, payload)


def telegram(sender: str, text: str, n: int) -> float:
    update = {
        "update_id": int(uuid.uuid4().int % 10**12),
        "message": {
            "message_id": n,
            "chat": {"id": int(sender), "type": "private"},
            "date": 0,
            "text": text,
        },
    }
    headers = {
        "Content-Type": "application/json",
        "X-Telegram-Bot-Api-Secret-Token": fake.TELEGRAM_SECRET,
    }
    return timed_post("/webhooks/telegram/webhook", json.dumps(update).encode(), headers)


CHANNELS = {
    "rest": rest,
    "sms": sms,
    "whatsapp": whatsapp,
    "messenger": messenger,
    "telegram": telegram,
}


def main() -> int:
    model = ROOT / "models" / "needlecheck.tar.gz"
    if not model.exists():
        raise SystemExit("models/needlecheck.tar.gz is missing: run `make model`")
    provider = fake.Provider()
    server = fake.serve(provider)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    with tempfile.TemporaryDirectory(prefix="needlecheck-bench-") as folder:
        env = {**environment(), **fake.channel_environment(base, f"http://127.0.0.1:{PORT}")}
        process, _ = start_needlecheck(Path(folder), model, env, PORT, FRONTDESK_PORT)
        try:
            results = {}
            for name, send in CHANNELS.items():
                send("900000001", "hi", 0)  # warm the path once
                latencies = []
                for c in range(CONVERSATIONS):
                    sender = f"9{c:02d}{uuid.uuid4().int % 10**6:06d}"
                    sender = ("+1" + sender) if name == "sms" else sender
                    latencies += [send(sender, text, i) for i, text in enumerate(SCREENING)]
                results[name] = summary(latencies)
        finally:
            stop(process)
            server.shutdown()
    print(f"{'channel':<10} {'messages':>8} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
    for name, row in results.items():
        print(
            f"{name:<10} {row['messages']:>8} {row['p50_ms']:>8} {row['p95_ms']:>8} {row['max_ms']:>8}"
        )
    print(
        f"replies sent to the fake providers: {len(provider.sent)}; refused: {len(provider.problems)}"
    )
    return 0 if not provider.problems else 1


if __name__ == "__main__":
    sys.exit(main())
