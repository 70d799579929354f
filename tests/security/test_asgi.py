from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.testclient import TestClient

from needlecheck.security.asgi import RequestLimits


def app(**env: str) -> TestClient:
    inner = FastAPI()

    @inner.post("/echo")
    async def echo(request: Request) -> dict:
        return {"bytes": len(await request.body())}

    @inner.get("/whoami")
    def whoami(request: Request) -> dict:
        return {"client": request.client.host, "scheme": request.url.scheme}

    @inner.get("/healthz")
    def healthz() -> dict:
        return {"status": "ok"}

    return TestClient(
        RequestLimits(inner, {"NEEDLECHECK_MAX_BODY_BYTES": "2048", **env}),
        client=("127.0.0.1", 50000),
    )


def test_a_body_over_the_cap_is_refused_with_413() -> None:
    client = app()
    assert client.post("/echo", content=b"a" * 2048).json() == {"bytes": 2048}
    refused = client.post("/echo", content=b"a" * 2049)
    assert refused.status_code == 413
    assert refused.json() == {"detail": "the request body is over 2048 bytes"}


def test_a_streamed_body_over_the_cap_is_refused_too() -> None:
    def chunks():
        for _ in range(10):
            yield b"a" * 1000

    refused = app().post("/echo", content=chunks())
    assert refused.status_code == 413


def test_an_address_over_its_budget_gets_429_with_retry_after() -> None:
    client = app(NEEDLECHECK_ADDRESS_RATE="3/60")
    assert [client.post("/echo").status_code for _ in range(3)] == [200, 200, 200]
    refused = client.post("/echo")
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) == 20
    # The health check is never counted.
    assert client.get("/healthz").status_code == 200


def test_forwarded_headers_are_believed_only_from_a_configured_proxy() -> None:
    forged = [("X-Forwarded-For", "198.51.100.1"), ("X-Forwarded-Proto", "https")]
    assert app().get("/whoami", headers=forged).json() == {"client": "127.0.0.1", "scheme": "http"}
    # Behind a proxy: the rightmost address it did not add itself, across every line.
    behind = app(NEEDLECHECK_TRUSTED_PROXIES="127.0.0.1")
    lines = [*forged, ("X-Forwarded-For", "203.0.113.5")]
    assert behind.get("/whoami", headers=lines).json() == {
        "client": "203.0.113.5",
        "scheme": "https",
    }
