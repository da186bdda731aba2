"""An app service that trusts Latchkey: the seed tutorial's app_service, on Latchkey's JWKS and webhooks.

Run it with Debian's Python and packages (python3-fastapi, python3-uvicorn, python3-jwt):
    LATCHKEY_URL=http://localhost:5001 LATCHKEY_WEBHOOK_SECRET=whsec_… python3 main.py
or with those settings as lines of a .env beside this file (the environment wins).
"""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, Header, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

import webhooks
from store import BadEvent, Store
from tokens import AccessTokenVerifier, Claims, TokenError

log = logging.getLogger("app_service")


@dataclass(frozen=True)
class Settings:
    latchkey_url: str
    issuer: str
    audience: str
    webhook_key: bytes
    database: str
    token_lifetime: int
    host: str
    port: int

    @staticmethod
    def from_env(env: dict[str, str]) -> Settings:
        problems = []
        url = env.get("LATCHKEY_URL", "").rstrip("/")
        if not url.startswith(("http://", "https://")):
            problems.append("LATCHKEY_URL: Latchkey's address, e.g. http://localhost:5001 (its PUBLIC_URL)")
        key = b""
        try:
            key = webhooks.secret_key(env.get("LATCHKEY_WEBHOOK_SECRET", ""))
        except ValueError as err:
            problems.append(f"LATCHKEY_WEBHOOK_SECRET: {err} (what `latchkey webhooks add … --json` printed)")
        numbers: dict[str, int] = {}
        for name, default in (("PORT", "8001"), ("LATCHKEY_ACCESS_TOKEN_TTL", "900")):
            try:
                numbers[name] = int(env.get(name, default))
            except ValueError:
                problems.append(f"{name}: a whole number")
        if problems:
            raise ValueError("; ".join(problems))
        return Settings(
            latchkey_url=url,
            # Latchkey's JWT_ISSUER, which defaults to its PUBLIC_URL.
            issuer=env.get("LATCHKEY_ISSUER", url),
            audience=env.get("LATCHKEY_AUDIENCE", "latchkey"),
            webhook_key=key,
            database=env.get("APP_DATABASE") or str(Path(__file__).with_name("app.db")),
            token_lifetime=numbers["LATCHKEY_ACCESS_TOKEN_TTL"],
            host=env.get("HOST", "127.0.0.1"),
            port=numbers["PORT"],
        )


class ServiceError(Exception):
    """An answer in Latchkey's error shape: {"error": code, "message": …}."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}


# Latchkey's own messages for its codes, so that a client sees the same answer here as there.
TOKEN_MESSAGES = {
    "missing_token": 'An access token is required: send "Authorization: Bearer <token>".',
    "invalid_token": "The access token is invalid.",
    "token_expired": "The access token has expired.",
    "session_revoked": "This session has ended; sign in again.",
    "jwks_unavailable": "Latchkey's signing keys cannot be fetched; try again later.",
}


def token_error(code: str) -> ServiceError:
    message = TOKEN_MESSAGES[code]
    if code == "jwks_unavailable":
        return ServiceError(503, code, message)
    # RFC 6750: a bare challenge without a token, error="invalid_token" for any refused one.
    challenge = 'Bearer realm="latchkey"' if code == "missing_token" else f'Bearer realm="latchkey", error="invalid_token", error_description="{message}"'
    return ServiceError(401, code, message, {"WWW-Authenticate": challenge})


class NewItem(BaseModel):
    title: str = Field(min_length=1, max_length=200)


def create_app(settings: Settings) -> FastAPI:
    store = Store(settings.database, settings.token_lifetime)
    verifier = AccessTokenVerifier(settings.issuer, settings.audience, settings.token_lifetime, f"{settings.latchkey_url}/.well-known/jwks.json")
    app = FastAPI(title="App service (Latchkey example)")

    @app.exception_handler(ServiceError)
    async def service_error(_request: Request, err: ServiceError) -> JSONResponse:
        return JSONResponse({"error": err.code, "message": err.message}, status_code=err.status, headers=err.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, err: RequestValidationError) -> JSONResponse:
        details = [{"field": ".".join(str(p) for p in e["loc"][1:]), "message": e["msg"]} for e in err.errors()]
        return JSONResponse({"error": "invalid_request", "message": "The request is invalid.", "details": details}, status_code=400)

    # A plain function: FastAPI runs it on its thread pool, where the JWKS fetch and SQLite may block.
    def claims(authorization: str | None = Header(default=None)) -> Claims:
        if authorization is None:
            raise token_error("missing_token")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise token_error("invalid_token")
        try:
            verified = verifier.verify(token.strip())
        except TokenError as err:
            raise token_error(err.code) from None
        # Logouts, password changes and disabled accounts reach us as webhooks (not the SSE feed).
        if store.refused(verified.sub, verified.sid, verified.auth_time):
            raise token_error("session_revoked")
        return verified

    def synced_user(c: Claims = Depends(claims)) -> dict[str, Any]:
        user = store.user(c.sub)
        if user is None:
            # A valid token of a user whose user.created has not reached us (or who was there before the webhook).
            raise ServiceError(404, "user_not_found", "This user is not known here yet.")
        return user

    @app.post("/sync_user")
    async def sync_user(request: Request) -> dict[str, str]:
        body = await request.body()  # the raw bytes: the signature covers them, not a re-serialised JSON
        try:
            event = webhooks.verify(settings.webhook_key, request.headers, body)
            status = await run_in_threadpool(store.apply, event)
        except webhooks.WebhookError as err:
            raise ServiceError(400, err.code, err.message) from None
        except BadEvent as err:
            raise ServiceError(400, "webhook_invalid_payload", str(err)) from None
        # Any other failure is a 500: Latchkey retries, and the event applies later, once.
        log.info("webhook %s %s: %s", event.id, event.type, status)
        return {"status": status}

    @app.get("/me")
    def me(user: dict[str, Any] = Depends(synced_user)) -> dict[str, Any]:
        return {"user": user}

    @app.get("/items")
    def list_items(c: Claims = Depends(claims)) -> dict[str, Any]:
        return {"items": store.items(c.sub)}

    @app.post("/items", status_code=201)
    def add_item(item: NewItem, c: Claims = Depends(claims)) -> dict[str, Any]:
        created = store.add_item(c.sub, item.title)
        if created is None:
            raise ServiceError(404, "user_not_found", "This user is not known here yet.")
        return created

    @app.delete("/items/{item_id}", status_code=204)
    def delete_item(item_id: int, c: Claims = Depends(claims)) -> Response:
        if not store.delete_item(c.sub, item_id):
            raise ServiceError(404, "not_found", "No such item.")
        return Response(status_code=204)

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


def env_file_settings(path: Path) -> dict[str, str]:
    """The KEY=VALUE lines of the app's .env (blank lines and # comments skipped), if there is one."""
    if not path.is_file():
        return {}
    settings = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            settings[key.strip()] = value.strip()
    return settings


def main() -> None:
    import uvicorn  # only to serve; importing this module (tests, another server) does not need it

    # The .env beside this file, as its README's walk-through writes it; the environment wins.
    env = {**env_file_settings(Path(__file__).with_name(".env")), **os.environ}
    try:
        settings = Settings.from_env(env)
    except ValueError as err:
        sys.exit(f"app service cannot start: {err}")
    level = env.get("LOG_LEVEL", "info")
    # One logging setup for uvicorn's lines and ours (log_config=None: uvicorn adds no handlers of its own).
    logging.basicConfig(level=level.upper(), format="%(levelname)s %(name)s: %(message)s")
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level=level, log_config=None)


if __name__ == "__main__":
    main()
