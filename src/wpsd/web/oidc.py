"""``auth = "oidc"``: bearer JWTs of an OpenID Connect issuer, checked with PyJWT.

A token is accepted when its signature verifies with a key of the issuer's JSON Web Key Set
(an algorithm of ``oidc_algorithms``), its ``iss`` and ``aud`` are the configured ones and
it has not expired (``exp``, also ``nbf`` and ``iat`` when present, with 30 s for clocks
that differ). The user is the ``oidc_user_claim``, the roles the ``oidc_roles_claim``.

Keys come from ``oidc_jwks_url`` only (a token's ``jku`` or ``x5u`` header is never
followed, nor a redirect), are kept for five minutes, and are fetched again at once when a
token names a key that is not among them (the issuer rotated its keys), but at most every
30 s, so that tokens with made-up key ids cannot make the server fetch on every request.
"""

from __future__ import annotations

import json
import logging
import ssl
import threading
import time
import urllib.error
import urllib.request
from typing import Any

import certifi

try:
    import jwt
except ImportError as exc:  # pragma: no cover (the oidc extra is missing)
    raise ImportError("auth = 'oidc' needs PyJWT: pip install 'wpsd[oidc]'") from exc
from werkzeug.wrappers import Request

from ..config import Settings
from ..core.caller import Caller
from ..exceptions import NoApplicableCode, NotAuthenticated
from .auth import REALM, Admins

logger = logging.getLogger("wpsd")
#: seconds a token may be past its expiry (or before its nbf) for clocks that differ
LEEWAY = 30
#: seconds keys are kept; and the least time between two fetches
KEYS_LIFETIME = 300.0
MIN_REFETCH = 30.0
_MAX_JWKS_BYTES = 1 << 20


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # a redirect is an error: keys come from the configured URL only


class KeySet:
    """The signing keys of one JWKS URL, fetched when needed and kept for a while."""

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self.url = url
        self.timeout = timeout
        self._keys: dict[str | None, Any] = {}
        self._fetched = -float("inf")
        self._lock = threading.Lock()
        context = ssl.create_default_context(cafile=certifi.where())
        self._opener = urllib.request.build_opener(
            _NoRedirects(), urllib.request.HTTPSHandler(context=context))

    def key(self, kid: str | None) -> Any:
        """The key a token names (its ``kid``; without one, the set's only key)."""
        with self._lock:
            if time.monotonic() - self._fetched > KEYS_LIFETIME:
                self._refresh()
            found = self._find(kid)
            if found is None and time.monotonic() - self._fetched > MIN_REFETCH:
                self._refresh()  # new keys at the issuer?
                found = self._find(kid)
        if found is None:
            raise NotAuthenticated("The token is signed with an unknown key", invalid=True)
        return found

    def _find(self, kid: str | None) -> Any:
        if kid is None and len(self._keys) == 1:
            return next(iter(self._keys.values()))
        return self._keys.get(kid) if kid is not None else None

    def _refresh(self) -> None:
        try:
            with self._opener.open(self.url, timeout=self.timeout) as response:
                body = response.read(_MAX_JWKS_BYTES + 1)
            if len(body) > _MAX_JWKS_BYTES:
                raise ValueError("the key set is larger than 1 MiB")
            document = json.loads(body)
            if not isinstance(document, dict):
                raise ValueError("the key set is no JSON object")
            keys = jwt.PyJWKSet.from_dict(document).keys
        except (OSError, ValueError, jwt.PyJWTError) as exc:
            self._fetched = time.monotonic()  # not again at once: the issuer may be down
            logger.warning("oidc: cannot fetch the keys from %s: %s", self.url, exc)
            if not self._keys:
                raise NoApplicableCode("The identity provider's keys cannot be fetched; "
                                       "try again later", status=503) from None
            return
        self._keys = {k.key_id: k.key for k in keys if k.public_key_use in (None, "sig")}
        self._fetched = time.monotonic()


class OIDCAuthenticator:
    """Bearer JWTs of one issuer for one audience. Clients that can send only HTTP Basic
    may give the token as the password (any user name)."""

    challenges: tuple[str, ...] = (f'Bearer realm="{REALM}"',)

    def __init__(self, settings: Settings, admins: Admins) -> None:
        assert settings.oidc_jwks_url and settings.oidc_issuer and settings.oidc_audience
        self.keys = KeySet(settings.oidc_jwks_url)
        self.issuer = settings.oidc_issuer
        self.audience = settings.oidc_audience
        self.algorithms = list(settings.oidc_algorithms)
        self.user_claim = settings.oidc_user_claim
        self.roles_claim = settings.oidc_roles_claim
        self.admins = admins

    def identify(self, request: Request) -> Caller | None:
        credentials = request.authorization
        if credentials is None:
            return None
        if credentials.type == "bearer":
            token = credentials.token
        elif credentials.type == "basic":
            token = credentials.password
        else:
            return None
        if not token:
            return None
        claims = self.verify(token)
        name = claims.get(self.user_claim)
        if not isinstance(name, str) or not name.strip():
            raise NotAuthenticated(f"The token has no claim {self.user_claim}", invalid=True)
        roles = _roles(_claim(claims, self.roles_claim)) if self.roles_claim else []
        return self.admins.caller(name.strip(), roles)

    def verify(self, token: str) -> dict[str, Any]:
        """The claims of a token that passes every check; NotAuthenticated otherwise."""
        try:
            header = jwt.get_unverified_header(token)
            if header.get("alg") not in self.algorithms:
                raise jwt.InvalidAlgorithmError("algorithm not allowed")
            kid = header.get("kid")
            key = self.keys.key(kid if isinstance(kid, str) else None)
            claims: dict[str, Any] = jwt.decode(
                token, key, algorithms=self.algorithms, audience=self.audience,
                issuer=self.issuer, leeway=LEEWAY,
                options={"require": ["exp", "iss", "aud"]})
        except jwt.ExpiredSignatureError:
            raise NotAuthenticated("The token has expired", invalid=True) from None
        except jwt.InvalidAudienceError:
            raise NotAuthenticated("The token is not meant for this service",
                                   invalid=True) from None
        except jwt.InvalidIssuerError:
            raise NotAuthenticated("The token is not of the trusted issuer",
                                   invalid=True) from None
        except jwt.InvalidSignatureError:
            raise NotAuthenticated("The token's signature is not valid", invalid=True) from None
        except jwt.PyJWTError:
            raise NotAuthenticated("The token is not valid", invalid=True) from None
        return claims


def _claim(claims: dict[str, Any], path: str | None) -> Any:
    """A claim by a dotted path (``realm_access.roles``), or None."""
    value: Any = claims
    for part in (path or "").split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _roles(value: Any) -> list[str]:
    if isinstance(value, str):  # "scope"-like: names separated by spaces
        return value.split()
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []
