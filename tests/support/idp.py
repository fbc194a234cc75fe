"""A stand-in OpenID Connect issuer for tests: its own RSA keys, a JWKS served on loopback,
and tokens signed as the test asks."""

from __future__ import annotations

import http.server
import json
import threading
import time
import uuid
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

ISSUER = "https://idp.test/realms/wpsd"
AUDIENCE = "wpsd-tests"


class _KeysHandler(http.server.BaseHTTPRequestHandler):
    idp: IdP

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self.idp.requests.append(self.path)
        body = json.dumps(self.idp.jwks()).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


class IdP:
    """Signs tokens with its key ``kid``; serves the public half at ``jwks_url``."""

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = "key-1"
        self.published: list[tuple[str, Any]] = [(self.kid, self.key.public_key())]
        self.requests: list[str] = []
        handler = type("Keys", (_KeysHandler,), {"idp": self})
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        self.jwks_url = f"http://127.0.0.1:{self._server.server_address[1]}/certs"

    def jwks(self) -> dict[str, Any]:
        keys = []
        for kid, public in self.published:
            jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(public))
            keys.append({**jwk, "kid": kid, "use": "sig", "alg": "RS256"})
        return {"keys": keys}

    def token(self, sub: str = "alice", *, key: Any = None, kid: str | None = None,
              algorithm: str = "RS256", headers: dict[str, Any] | None = None,
              expires_in: float = 300, **claims: Any) -> str:
        """A token for ``sub``; any claim can be overridden (``aud=...``, ``iss=...``)."""
        now = int(time.time())
        payload = {"iss": ISSUER, "aud": AUDIENCE, "sub": sub, "iat": now,
                   "exp": now + int(expires_in), "jti": uuid.uuid4().hex, **claims}
        return jwt.encode(payload, key if key is not None else self.key, algorithm=algorithm,
                          headers={"kid": kid or self.kid, **(headers or {})})

    def settings(self) -> dict[str, Any]:
        """The settings of a server that trusts this issuer."""
        return {"auth": "oidc", "oidc_issuer": ISSUER, "oidc_audience": AUDIENCE,
                "oidc_jwks_url": self.jwks_url, "oidc_roles_claim": "realm_access.roles",
                "admin_role": "wpsd-admin"}

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
