"""Latchkey's access tokens, verified with PyJWT against the keys Latchkey publishes (its JWKS).

The same checks as Latchkey makes on its own routes and as its Node SDK (@latchkey/verify) makes; the
revocation checks (logout, password change) are the store's, fed by webhooks.
"""

from __future__ import annotations

import json
import re
import threading
import time
import urllib.request
from dataclasses import dataclass
from typing import Any

import jwt
from jwt import PyJWK, PyJWKClient
from jwt.exceptions import PyJWKClientError, PyJWKSetError

# Latchkey signs with one of these; a JWK naming anything else (HS256 above all: its "key" would be
# public) is never used.
ASYMMETRIC = {"ES256", "ES384", "ES512", "EdDSA", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}
ACCESS_TOKEN_TYPE = "at+jwt"
CLOCK_TOLERANCE = 30  # seconds, Latchkey's own, for iat, nbf and auth_time in the future and for the lifetime
MAX_TOKEN_LENGTH = 4096  # Latchkey refuses longer tokens before parsing them; so do we
JWKS_MAX_AGE = 300  # Latchkey's Cache-Control max-age, and the lead with which it publishes a new key
JWKS_COOLDOWN = 30  # least seconds between two fetches caused by an unknown kid
JWKS_TIMEOUT = 5
COMPACT_JWS = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")


class TokenError(Exception):
    """A refused token; `code` is Latchkey's (invalid_token, token_expired, session_revoked) or jwks_unavailable."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@dataclass(frozen=True)
class Claims:
    sub: str
    sid: str
    jti: str
    iat: float
    exp: float
    auth_time: float


class LatchkeyJWKClient(PyJWKClient):
    """PyJWT's JWKS client with a timeout on the fetch, remembering the `alg` each key is published with.

    PyJWKClient caches the key set (`lifespan`) and fetches it again when a token names a kid it does
    not hold, which is how a key rotation reaches us. PyJWT 2.6's own fetch has no timeout and no
    public way to read a JWK's `alg`, hence this override.
    """

    def __init__(self, uri: str) -> None:
        super().__init__(uri, cache_jwk_set=True, lifespan=JWKS_MAX_AGE)
        self.algs: dict[str, str] = {}
        self._cooldown_lock = threading.Lock()
        self._last_forced = float("-inf")

    def fetch_data(self) -> Any:
        try:
            with urllib.request.urlopen(self.uri, timeout=JWKS_TIMEOUT) as response:
                data = json.load(response)
        except (OSError, ValueError) as err:  # URLError and timeouts are OSErrors; bad JSON a ValueError
            raise PyJWKClientError(f"cannot fetch {self.uri}: {err}") from err
        keys = data.get("keys") if isinstance(data, dict) else None
        if not isinstance(keys, list):
            raise PyJWKClientError(f"{self.uri} is not a JWKS")
        self.algs = {k["kid"]: k["alg"] for k in keys if isinstance(k, dict) and isinstance(k.get("kid"), str) and isinstance(k.get("alg"), str)}
        if self.jwk_set_cache is not None:
            self.jwk_set_cache.put(data)
        return data

    def key_for(self, kid: str) -> tuple[PyJWK, str] | None:
        """The key of this kid and its published alg; fetched again for an unknown kid, once per cooldown."""
        key = self.match_kid(self.get_signing_keys(), kid)
        if key is None:
            # Without the cooldown, tokens with made-up kids would make us fetch the JWKS at each request.
            with self._cooldown_lock:
                due = time.monotonic() - self._last_forced >= JWKS_COOLDOWN
                if due:
                    self._last_forced = time.monotonic()
            if due:
                key = self.match_kid(self.get_signing_keys(refresh=True), kid)
        alg = self.algs.get(kid)
        return (key, alg) if key is not None and alg is not None else None


class AccessTokenVerifier:
    def __init__(self, issuer: str, audience: str, max_lifetime: int, jwks_url: str | None = None) -> None:
        self.issuer = issuer
        self.audience = audience
        self.max_lifetime = max_lifetime
        self.keys = LatchkeyJWKClient(jwks_url or f"{issuer.rstrip('/')}/.well-known/jwks.json")

    def verify(self, token: str) -> Claims:
        """The token's claims, or a TokenError. Revocation is not checked here (see Store.refusal)."""
        invalid = TokenError("invalid_token")
        if len(token) > MAX_TOKEN_LENGTH or not COMPACT_JWS.fullmatch(token):
            raise invalid
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            raise invalid from None
        typ, kid, alg = header.get("typ"), header.get("kid"), header.get("alg")
        # typ as RFC 9068 names it (Latchkey compares it case aside, "application/" optional). No
        # extension is understood, so none may be critical; jku, jwk, x5u and x5c are never read.
        if not isinstance(typ, str) or typ.lower().removeprefix("application/") != ACCESS_TOKEN_TYPE:
            raise invalid
        if "crit" in header or not isinstance(kid, str) or not isinstance(alg, str):
            raise invalid
        try:
            found = self.keys.key_for(kid)
        except (PyJWKClientError, PyJWKSetError) as err:
            raise TokenError("jwks_unavailable") from err
        # The algorithm is the key's, never the token's choice: this refuses `none`, and HS256 "signed"
        # with a public key.
        if found is None or found[1] != alg or alg not in ASYMMETRIC:
            raise invalid
        try:
            payload = jwt.decode(
                token,
                found[0].key,
                algorithms=[alg],
                issuer=self.issuer,
                audience=self.audience,
                # exp with no leeway, like Latchkey; iat and nbf with its tolerance, below.
                options={"require": ["iss", "aud", "sub", "sid", "jti", "iat", "exp", "auth_time"], "verify_iat": False, "verify_nbf": False},
            )
        except jwt.ExpiredSignatureError:
            raise TokenError("token_expired") from None
        except jwt.InvalidTokenError:
            raise invalid from None
        return self._check_claims(payload)

    def _check_claims(self, payload: dict[str, Any]) -> Claims:
        invalid = TokenError("invalid_token")
        sub, sid, jti = payload["sub"], payload["sid"], payload["jti"]
        iat, exp, auth_time, nbf = payload["iat"], payload["exp"], payload["auth_time"], payload.get("nbf")
        if not all(isinstance(v, str) for v in (sub, sid, jti)):
            raise invalid
        if not all(_is_number(v) for v in (iat, exp, auth_time)) or (nbf is not None and not _is_number(nbf)):
            raise invalid
        now = time.time()
        # From the future, or living longer than Latchkey issues: not made by its rules (a stolen key, say),
        # so that a token minted with a leaked key dies with the key's rotation whatever its exp.
        if iat > now + CLOCK_TOLERANCE or (nbf is not None and nbf > now + CLOCK_TOLERANCE):
            raise invalid
        if exp - iat > self.max_lifetime + CLOCK_TOLERANCE or auth_time > iat + CLOCK_TOLERANCE:
            raise invalid
        return Claims(sub=sub, sid=sid, jti=jti, iat=iat, exp=exp, auth_time=auth_time)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
